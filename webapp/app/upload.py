"""The fast upload path: files posted as multipart/form-data to UPLOAD_PATH (no base64, no Dash callback body),
gzip-compressed dumps unpacked, loaded into the cache; the answer streams one JSON line per stage (`parse`,
`read`, `check`, `store`) and ends with the result, which assets/netviz.js hands to the page's controller."""

from __future__ import annotations

import json
import queue
import threading
import zlib
from typing import Any, Iterator, Sequence

from flask import Flask, Response, request

from webapp.app.cache import ClusterCache
from webapp.app.catalog import text
from webapp.app.limits import megabytes
from webapp.narration import current_language, narration_language
from webapp.problems import Severity

UPLOAD_PATH = "/_netviz/upload"
GZIP_MAGIC = b"\x1f\x8b"
STREAM_MIMETYPE = "application/x-ndjson"
"""Not in compress.COMPRESSIBLE: the stage lines reach the browser as they are written."""
MULTIPART_SLACK = 1_000_000
"""Room for the multipart boundaries and headers around the files."""


def request_limit(max_bytes: int) -> int:
    """The largest upload request: two files at the limit (as the base64 callback allowed), plus the slack."""
    return 2 * max_bytes + MULTIPART_SLACK


def gunzip(name: str, data: bytes, max_bytes: int) -> tuple[bytes | None, str | None]:
    """`data` unpacked when it is gzip (by its magic bytes, whatever its name), else as it is; or an error
    message: corrupt, or more than `max_bytes` once unpacked (read in steps, so a small bomb never fills memory)."""
    if not data.startswith(GZIP_MAGIC):
        return data, None
    unpacker = zlib.decompressobj(wbits=31)
    parts, size, rest = [], 0, data
    try:
        while rest:
            chunk = unpacker.decompress(rest, 1 << 20)
            size += len(chunk)
            if size > max_bytes:
                return None, text("upload.gzip_too_big", file=name, limit=megabytes(max_bytes))
            parts.append(chunk)
            rest = unpacker.unconsumed_tail
            if unpacker.eof:
                break
        if not unpacker.eof:
            return None, text("upload.gzip_bad", file=name)
    except zlib.error:
        return None, text("upload.gzip_bad", file=name)
    return b"".join(parts), None


def _line(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload, ensure_ascii=False) + "\n").encode()


def _failure(messages: Sequence[str], file_count: int = 0) -> dict[str, Any]:
    return {"key": None, "files": file_count, "problems": [], "messages": list(messages)}


def load_result(cache: ClusterCache, sources: list[tuple[str, bytes]], max_bytes: int, tell) -> dict[str, Any]:
    """Load (name, bytes) into the cache: the result line (`key`, `files`, `problems` as Problem.to_dict,
    `messages`)."""
    from webapp.app import state

    unpacked, messages = [], []
    for name, data in sources:
        plain, error = gunzip(name, data, max_bytes)
        if error:
            messages.append(error)
        else:
            unpacked.append((name, plain))
    if messages:
        return _failure(messages, len(sources))
    outcome = state.load_upload_into(cache, unpacked, max_bytes, tell)
    shown = [p for p in outcome.problems if p.severity != Severity.NOTICE]
    return {"key": outcome.key, "files": len(sources), "problems": [p.to_dict() for p in shown],
            "messages": list(outcome.messages)}


def _stream(cache: ClusterCache, sources: list[tuple[str, bytes]], max_bytes: int,
            language: str) -> Iterator[bytes]:
    """Load in a thread; yield each stage as it starts, then the result."""
    events: queue.Queue[dict[str, Any]] = queue.Queue()

    def work() -> None:
        with narration_language(language):
            try:
                result = load_result(cache, sources, max_bytes, lambda stage: events.put({"stage": stage}))
            except Exception as error:  # noqa: BLE001 — the page must hear of it, not wait forever
                result = _failure([text("error.callback", error=f"{type(error).__name__}: {error}")])
            events.put({"result": result})

    threading.Thread(target=work, name="netviz-upload", daemon=True).start()
    yield _line({"stage": "received"})
    while True:
        event = events.get()
        yield _line(event)
        if "result" in event:
            return


def register_upload(server: Flask, cache: ClusterCache, max_bytes: int) -> None:
    """POST UPLOAD_PATH: one or more `file` parts."""

    @server.post(UPLOAD_PATH)
    def upload() -> Response:
        limit = request_limit(max_bytes)
        size = request.content_length
        if size is None or size > limit:
            message = text("upload.request_too_big", size=megabytes(size or 0), limit=megabytes(limit))
            return Response(_line({"result": _failure([message])}), mimetype=STREAM_MIMETYPE)
        files = request.files.getlist("file")
        if not files:
            return Response(_line({"result": _failure([text("upload.nothing")])}), mimetype=STREAM_MIMETYPE)
        sources, messages = [], []
        for part in files:
            name = (part.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"
            part.stream.seek(0, 2)
            part_size = part.stream.tell()
            part.stream.seek(0)
            if part_size > max_bytes:
                messages.append(text("upload.too_big", file=name, size=megabytes(part_size), limit=megabytes(max_bytes)))
                continue
            sources.append((name, part.stream.read()))
        if messages:
            return Response(_line({"result": _failure(messages, len(files))}), mimetype=STREAM_MIMETYPE)
        response = Response(_stream(cache, sources, max_bytes, current_language()), mimetype=STREAM_MIMETYPE)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"  # a proxy in front (nginx) passes each line on at once
        return response
