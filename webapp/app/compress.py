"""gzip for the app's text responses (scripts, styles, JSON callbacks), so the first page load stays small.
GET responses (static files) are compressed once and kept in memory by path, ETag and size."""

from __future__ import annotations

import gzip
from collections import OrderedDict

from flask import Flask, Response, request

COMPRESSIBLE = {"application/javascript", "text/javascript", "text/css", "application/json", "text/html",
                "image/svg+xml"}
MIN_BYTES = 1024
_STATIC: OrderedDict[tuple[str, str], bytes] = OrderedDict()


def _compress(response: Response) -> Response:
    if (response.status_code != 200 or response.mimetype not in COMPRESSIBLE
            or "gzip" not in request.headers.get("Accept-Encoding", "")
            or "Content-Encoding" in response.headers):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < MIN_BYTES:
        return response
    static = request.method == "GET"
    cache_key = (request.path, response.headers.get("ETag", ""), len(data))
    body = _STATIC.get(cache_key) if static else None
    if body is None:
        body = gzip.compress(data, compresslevel=6)
        if static:
            _STATIC[cache_key] = body
            while len(_STATIC) > 64:
                _STATIC.popitem(last=False)
    response.direct_passthrough = False
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(body))
    response.vary.add("Accept-Encoding")
    return response


def enable_gzip(server: Flask) -> None:
    server.after_request(_compress)


ASYNC_CHUNKS = ("dcc/async-graph.js", "dcc/async-dropdown.js", "dcc/async-upload.js")
"""dcc's lazily loaded chunks this page needs (fetched by the browser after the first render)."""


def precompress(server: Flask) -> int:
    """Request the page and every script and stylesheet it loads once, so their gzip forms are ready before the
    first visitor arrives. Returns the number of files compressed."""
    import re

    client = server.test_client()
    headers = {"Accept-Encoding": "gzip"}
    page = client.get("/").get_data(as_text=True)
    paths = [p for p in re.findall(r'(?:src|href)="(/[^"]+)"', page)]
    paths += [f"/_dash-component-suites/dash/{chunk}" for chunk in ASYNC_CHUNKS]
    for path in paths:
        client.get(path, headers=headers)
    return len(paths)
