"""Limits of the web app that the command line needs too (kept free of dash so the CLI starts fast)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

DEFAULT_MAX_UPLOAD_MB = 50
"""Largest upload accepted by default: a 1,000-node kubectl dump is ~21-35 MB."""


def megabytes(size: float) -> str:
    """A size in MB for messages: at most two decimals, no trailing zeros (netviz.js `formatMb` writes the same)."""
    mb = size / 1e6
    return f"{mb:.3g}" if 0 < mb < 0.01 else f"{mb:.2f}".rstrip("0").rstrip(".")


MAX_HEAVY_LOADS = 2
"""Heavy loads one worker process runs at once (docs/deployment.md: peak memory per load and per worker)."""
HEAVY_LOAD_BYTES = 1_000_000
"""An upload of this many bytes or more is a heavy load (a 1,000-node dump is 21-35 MB; the samples are KB)."""
HEAVY_LOAD_WAIT_S = 60.0
"""How long a heavy load waits for a free slot before it is refused as busy."""
BUSY_MESSAGE = "the server is busy loading other large uploads; try again in a minute"


class ServerBusy(RuntimeError):
    """No heavy-load slot came free in time."""


class LoadGate:
    """At most `slots` heavy loads at once in this process; a heavy load waits up to `wait` seconds for a slot,
    then ServerBusy. Loads under HEAVY_LOAD_BYTES pass at once: they are cheap, and the samples must always load."""

    def __init__(self, slots: int = MAX_HEAVY_LOADS, wait: float = HEAVY_LOAD_WAIT_S):
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = wait

    @contextmanager
    def admit(self, size: int) -> Iterator[None]:
        if size < HEAVY_LOAD_BYTES:
            yield
            return
        if not self._slots.acquire(timeout=self._wait):
            raise ServerBusy(BUSY_MESSAGE)
        try:
            yield
        finally:
            self._slots.release()


HEAVY_LOADS = LoadGate()
"""The gate of this worker process."""
