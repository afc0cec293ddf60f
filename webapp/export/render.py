"""Figures → image bytes with plotly's own image export: kaleido, driving a headless Chromium (Debian's
`chromium`, found on PATH or at $BROWSER_PATH). One browser serves a whole batch (an animation's frames, a
handout's steps). Nothing is fetched: kaleido loads plotly.js from the plotly package and MathJax is off."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

FORMATS = ("svg", "png")
RENDER_TIMEOUT = 120.0
"""Seconds one picture may take before the export gives up."""


class RenderError(Exception):
    """The pictures could not be made (no browser, kaleido missing, a render failed): the message says why."""


def render(figures: Sequence[dict[str, Any]], fmt: str) -> list[bytes]:
    """Each figure as `fmt` (svg or png) of exactly its layout's width × height pixels, in one browser session."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown image format {fmt!r} (svg or png)")
    try:
        import kaleido
        from choreographer.errors import ChromeNotFoundError
    except ImportError as error:
        raise RenderError(f"kaleido is not installed ({error.name}): pip install kaleido") from None

    async def run() -> list[bytes]:
        async with kaleido.Kaleido(n=1, mathjax=False, timeout=RENDER_TIMEOUT) as browser:
            return [await browser.calc_fig(figure, opts={"format": fmt, "width": figure["layout"]["width"],
                                                         "height": figure["layout"]["height"], "scale": 1})
                    for figure in figures]

    try:
        # A thread of its own: the caller's thread may already run an event loop (Playwright's sync API in the
        # same process, an async server), where asyncio.run refuses to start.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kaleido") as pool:
            return pool.submit(asyncio.run, run()).result()
    except ChromeNotFoundError:
        raise RenderError("no Chromium found for the image export: install Debian's chromium "
                          "(scripts/install-test-deps.sh) or set BROWSER_PATH to a Chrome/Chromium") from None
    except (asyncio.TimeoutError, TimeoutError):
        raise RenderError(f"the browser took more than {RENDER_TIMEOUT:.0f} s for one picture") from None
