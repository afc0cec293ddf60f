"""`create_app`: the Dash app with its layout, callbacks and error handler; everything served locally."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Callable, Sequence

from dash import Dash, set_props
from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler

from webapp.app import export_view, matrix_view, modes_view
from webapp.app.cache import ClusterCache, open_cache
from webapp.app.callbacks import register_callbacks
from webapp.app.catalog import sample_title, text
from webapp.app.compress import enable_gzip, precompress
from webapp.app.language import serve_in_language
from webapp.app.layout import Id, build_layout
from webapp.app.state import builtin_lessons
from webapp.app.limits import DEFAULT_MAX_UPLOAD_MB, megabytes
from webapp.app.upload import register_upload
from webapp.paths import ASSETS_DIR


_LOG = logging.getLogger("k8s-netviz")


def error_reference(error: BaseException) -> str:
    """A short reference for an internal error: the page shows it, the server log holds the traceback under it."""
    return hashlib.sha256(f"{time.time_ns()}{id(error)}".encode()).hexdigest()[:8]


def _show_callback_error(error: Exception) -> None:
    """Any uncaught callback error becomes a banner on the page (a reference, no Python internals); the traceback
    goes to the server log under that reference, and the other outputs keep their last state."""
    reference = error_reference(error)
    _LOG.error("internal error %s in a callback", reference, exc_info=error)
    set_props(Id.ERROR_BANNER, {"children": text("error.callback", reference=reference)})


def request_limit(max_upload_bytes: int) -> int:
    """Flask's MAX_CONTENT_LENGTH for an upload limit: two files at the limit, base64-encoded, plus 1 MB."""
    return int(max_upload_bytes * 4 / 3 * 2) + 1_000_000


def _request_too_large(error: RequestEntityTooLarge):
    """A callback body over MAX_CONTENT_LENGTH: answer the callback with a message beside the upload (Dash's
    `sideUpdate`, as set_props sends it) instead of an HTTP 413 the page would only log. Other requests: the 413."""
    if not request.path.endswith("/_dash-update-component"):
        return error
    from dash import html
    from plotly.io.json import to_json_plotly

    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = text("upload.request_too_big", size=megabytes(request.content_length or 0), limit=megabytes(limit))
    status = [html.Ul([html.Li(message, className="problem error")], className="problems too-big"),
              html.Div(text("upload.kept"), className="kept")]
    body = {"multi": True, "response": {}, "sideUpdate": {str(Id.UPLOAD_STATUS): {"children": status}}}
    return Response(to_json_plotly(body), status=200, mimetype="application/json")


SERVER_BANNER = "k8s-netviz"
"""The `Server` header: no product versions (Werkzeug's server would send `Werkzeug/3.x Python/3.x`)."""


def content_security_policy(script_hashes: Sequence[str]) -> str:
    """Scripts: only the app's own files, plus Dash's inline scripts by hash. Checked in Chromium against Dash 4.4
    and the vendored plotly-basic bundle: no 'unsafe-eval' is needed (plotly-basic has no eval or Function
    constructor; dcc's and dash_table's `Function("return this")` globalThis probes sit in try/catch and fall
    back); the inline `_dash-config` is JSON data (type application/json), not a script.
    Styles: 'unsafe-inline'. Dash's component bundles inject their CSS as 12 `<style>` elements at run time
    (whose hashes change with every Dash release), plotly adds an empty one, and plotly and React write
    `style="…"` attributes on what they draw (about 100 per page); CSS cannot run script."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


def security_headers(policy: str) -> Callable[[Response], Response]:
    """A Flask after_request hook that adds the security headers to every response."""
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }

    def add(response: Response) -> Response:
        response.headers.update(headers)
        return response

    return add


class BannerlessRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler with a `Server` header that names no versions."""

    def version_string(self) -> str:
        return SERVER_BANNER


def warm_up_encoder() -> None:
    """Encode one response holding a Dash component, in the thread that builds the app, before any request
    thread does.

    Dash encodes responses with plotly's encoder, which uses orjson when installed. The first time orjson
    meets an object it cannot encode (a component) it looks up numpy's types; with orjson 3.8, several threads
    doing that first look-up at once kill the process with SIGILL (8 threads encoding draw_view outputs in a
    fresh process: 3 crashes out of 3 runs; after this warm-up, none in 4). See docs/deployment.md.
    """
    from dash import html
    from plotly.io.json import to_json_plotly

    to_json_plotly({"children": html.Div("warm-up"), "x": [0.5]})


def create_app(paths: Sequence[str | Path] | None = None, cache: ClusterCache | str | None = None, *,
               max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, max_bytes: int | None = None,
               warm: bool = True) -> Dash:
    """The app. `paths`: files or folders to open instead of the default sample, each file at most `max_bytes`
    (default: the upload limit, at least the loaders' MAX_BYTES); `cache`: a ClusterCache, a folder, `redis://…`, or None for the on-disk
    default. `warm`: load the default cluster and trace its first flow now, so the first visitor does not wait."""
    from functools import partial

    from webapp.loaders import DEFAULT_SAMPLE, list_samples, load_paths
    from webapp.loaders.documents import MAX_BYTES

    cluster_cache = cache if isinstance(cache, ClusterCache) else open_cache(cache)
    upload_bytes = int(max_upload_mb * 1_000_000)
    default = DEFAULT_SAMPLE
    if paths:
        from webapp.app.state import preload_paths

        # `serve PATH`: each file up to --max-bytes (`max_bytes`), else as big as the page takes as an upload.
        default = preload_paths(cluster_cache, [Path(p) for p in paths],
                                partial(load_paths, max_bytes=max(upload_bytes, MAX_BYTES) if max_bytes is None
                                        else max_bytes))
    app = Dash(
        __name__,
        title="k8s-netviz",
        assets_folder=str(ASSETS_DIR),
        serve_locally=True,
        update_title=None,
        suppress_callback_exceptions=False,
        on_error=_show_callback_error,
    )
    app.scripts.config.serve_locally = True
    app.css.config.serve_locally = True
    # The browser refuses a file over the limit (dcc.Upload's max_size). Accepted files arrive base64-encoded (4/3)
    # in one JSON callback body: up to two files at the limit pass; a bigger body gets a message, not a bare 413.
    app.server.config["MAX_CONTENT_LENGTH"] = request_limit(upload_bytes)
    app.server.register_error_handler(RequestEntityTooLarge, _request_too_large)
    enable_gzip(app.server)
    samples = [(s.name, s.title) for s in list_samples()]
    serve_in_language(app.server)
    views = (matrix_view, modes_view)
    app.layout = lambda: build_layout(  # per page load, in the page's language
        [(name, sample_title(name, title)) for name, title in samples], upload_bytes,
        tools=[*(view.open_button() for view in views), export_view.buttons()],
        overlays=[view.panel() for view in views], lessons=builtin_lessons())
    register_callbacks(app, cluster_cache, default, upload_bytes)
    register_upload(app.server, cluster_cache, upload_bytes)
    for view in views:
        view.register(app, cluster_cache)
    export_view.register(app, cluster_cache)
    app.server.after_request(security_headers(content_security_policy(app.csp_hashes())))
    warm_up_encoder()
    if warm:
        _warm(cluster_cache, default)
        precompress(app.server)
    return app


def _warm(cache: ClusterCache, default: str) -> None:
    """Load the default cluster into this process, trace the first flow its page opens on (`state.on_url`'s, on a big
    cluster too) and encode that diagram once (fills the engine's caches and the encoder's lazy imports before the
    first visitor)."""
    import plotly.io.json

    from webapp.app import state
    from webapp.app.cache import is_key

    key = default if is_key(default) else state.load_sample_into(cache, default).key
    cluster = cache.get(key)
    if cluster is None:
        return
    picked = state.flow_outputs(cluster, state.flow_choices(key, cluster), None, None, None)
    trace = state.trace(cluster, picked["src"], picked["dst"]) if picked["src"] and picked["dst"] else None
    diagram, _ = state.diagram_and_playback(cluster, state.view_of(None, None), trace)
    plotly.io.json.to_json_plotly(diagram.figure)
