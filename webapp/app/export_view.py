"""The page's export buttons: the diagram at the current hop as PNG or SVG (the still of `k8s-netviz export image`,
with the presentation mode's labels while the page is in presentation mode, rendered on the server by plotly's
image export) and the current trace as JSON (`Trace.to_dict()`, the player's
own copy, saved by the browser without a server round trip). Their ids are declared here."""

from __future__ import annotations

import re
import threading
from enum import StrEnum
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from webapp.app import state, view_settings
from webapp.app.cache import ClusterCache
from webapp.app.catalog import text
from webapp.app.layout import Id as PageId
from webapp.variants import ViewSettings

IMAGE_SIZE = (1600, 900)
"""The pictures' size: a 16:9 slide."""
RENDER_WAIT_S = 30.0
"""How long a picture waits for the one renderer slot of this process before the page is told to retry."""

_renderer = threading.BoundedSemaphore(1)
"""One picture at a time per worker process: each starts a headless Chromium."""


class Id(StrEnum):
    PNG = "export-png"
    SVG = "export-svg"
    JSON = "export-json"
    LESSON = "export-lesson"
    LESSON_DOWNLOAD = "export-lesson-download"
    DOWNLOAD = "export-download"
    JSON_DOWNLOAD = "export-json-download"
    IMAGE_REQUEST = "export-image-request"
    """The picture asked for: `{"format": "png"|"svg", "present": bool, "png": clicks, "svg": clicks}`, written by
    the browser on a click (assets/netviz-export.js: imageRequest) with the page's presentation mode at that
    moment."""


def buttons() -> html.Div:
    """The three buttons and their downloads."""
    return html.Div(className="export-tools", children=[
        html.Button(text("export.png"), id=Id.PNG, n_clicks=0, className="button", title=text("export.image.title")),
        html.Button(text("export.svg"), id=Id.SVG, n_clicks=0, className="button", title=text("export.image.title")),
        html.Button(text("export.json"), id=Id.JSON, n_clicks=0, className="button", title=text("export.json.title")),
        html.Button(text("export.lesson"), id=Id.LESSON, n_clicks=0, className="button",
                    title=text("export.lesson.title")),
        dcc.Download(id=Id.DOWNLOAD),
        dcc.Download(id=Id.JSON_DOWNLOAD),
        dcc.Download(id=Id.LESSON_DOWNLOAD),
        dcc.Store(id=Id.IMAGE_REQUEST),
    ])


def file_stem(flow_type: str, hop: str) -> str:
    """`k8s-netviz-<flow type>-<hop>`, only letters, digits and dashes."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"k8s-netviz-{flow_type}-{hop}").strip("-")


def still(cache: ClusterCache, key: str | None, flow_type: str | None, src: str | None, dst: str | None,
          settings: ViewSettings, namespace: str | None, view: dict | None, step: int | None, *,
          present: bool = False) -> tuple[dict[str, Any], str] | str:
    """The figure of the flow on screen at player frame `step` — with the presentation mode's labels when the page
    is `present`ing — and its file name without the extension; or what went wrong."""
    from webapp.export.snapshot import NORMAL, PRESENT, frames, snapshot

    loaded = cache.get(key)
    if loaded is None or not (flow_type and src and dst):
        return text("export.no_flow")
    cluster = state.variant(key, loaded, settings)
    try:
        trace = state.trace(cluster, src, dst)
    except ValueError:
        return text("export.no_flow")
    diagram, _ = state.diagram_and_playback(cluster, state.view_of(view, namespace), trace)
    all_frames = frames(diagram, trace)
    index = max(0, min(step if isinstance(step, int) else 0, len(all_frames) - 1))
    figure = snapshot(diagram, trace, all_frames, index, width=IMAGE_SIZE[0], height=IMAGE_SIZE[1],
                      labels=PRESENT if present else NORMAL)
    frame = all_frames[index]
    hop = f"{'reply-' if frame.phase == 'reply' else ''}hop{frame.number}"
    return figure, file_stem(trace.flow.type, hop)


def picture(cache: ClusterCache, key: str | None, flow_type: str | None, src: str | None, dst: str | None,
            settings: ViewSettings, namespace: str | None, view: dict | None, step: int | None,
            fmt: str, *, present: bool = False) -> tuple[bytes, str] | str:
    """The still of the flow on screen (`still`) rendered as `fmt`, as (content, file name); or what went wrong."""
    from webapp.export.render import RenderError, render

    made = still(cache, key, flow_type, src, dst, settings, namespace, view, step, present=present)
    if isinstance(made, str):
        return made
    figure, stem = made
    if not _renderer.acquire(timeout=RENDER_WAIT_S):
        return text("export.busy")
    try:
        content = render([figure], fmt)[0]
    except RenderError as error:
        return text("export.failed", error=error)
    finally:
        _renderer.release()
    return content, f"{stem}.{fmt}"


def standalone_file(cache: ClusterCache, lesson: str | None, key: str | None, flow_type: str | None,
                    src: str | None, dst: str | None, settings: ViewSettings) -> tuple[bytes, str] | str:
    """The standalone player of the open lesson (its `loaded` steps on the cluster under `key`), or of the flow on
    screen when no lesson is open, as (content, file name); or what went wrong."""
    from webapp.app.standalone import flow_lesson, standalone_html
    from webapp.lessons import builtin_lesson
    from webapp.narration import current_language
    from webapp.problems import LoadError

    loaded = cache.get(key)
    if lesson:
        try:
            chosen = builtin_lesson(lesson)
        except (KeyError, LoadError):
            return text("export.no_flow")
        name = file_stem("lesson", lesson)
    elif loaded is not None and flow_type and src and dst and state.flow_type_of_value(flow_type):
        chosen = flow_lesson(flow_type, src, dst, settings)
        name = file_stem(flow_type, "flow")
    else:
        return text("export.no_flow")
    try:
        page = standalone_html(chosen, current_language(), loaded)
    except (LoadError, ValueError) as error:
        return text("export.lesson.failed", error=error)
    return page.encode("utf-8"), f"{name}.html"


_FLOW = {"key": State(PageId.CLUSTER_KEY, "data"), "flow_type": State(PageId.FLOW_TYPE, "value"),
         "src": State(PageId.FLOW_SRC, "value"), "dst": State(PageId.FLOW_DST, "value")}
"""The cluster and the flow on screen, read by both download callbacks."""


def _sent(made: tuple[bytes, str] | str) -> tuple[Any, str]:
    """A download and an empty error banner, or no download and what went wrong."""
    if isinstance(made, str):
        return no_update, made
    content, name = made
    return dcc.send_bytes(content, name), ""


def register(app: Dash, cache: ClusterCache) -> None:

    app.clientside_callback(
        ClientsideFunction("netvizExport", "imageRequest"),
        Output(Id.IMAGE_REQUEST, "data"),
        Input(Id.PNG, "n_clicks"),
        Input(Id.SVG, "n_clicks"),
        State(Id.IMAGE_REQUEST, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        output=[Output(Id.DOWNLOAD, "data"), Output(PageId.ERROR_BANNER, "children", allow_duplicate=True)],
        inputs={"request": Input(Id.IMAGE_REQUEST, "data")},
        state={**_FLOW, "namespace": State(PageId.NAMESPACE, "value"), "view": State(PageId.VIEW, "data"),
               "step": State(PageId.STEP, "data"), "settings": view_settings.STATES},
        prevent_initial_call=True,
    )
    def save_image(request, key, flow_type, src, dst, namespace, view, step, settings):
        if not isinstance(request, dict):
            raise PreventUpdate
        fmt = "svg" if request.get("format") == "svg" else "png"
        return _sent(picture(cache, key, flow_type, src, dst, view_settings.of(settings), namespace, view, step, fmt,
                             present=request.get("present") is True))

    @app.callback(
        output=[Output(Id.LESSON_DOWNLOAD, "data"), Output(PageId.ERROR_BANNER, "children", allow_duplicate=True)],
        inputs={"clicks": Input(Id.LESSON, "n_clicks")},
        state={"lesson": State(PageId.LESSON, "value"), **_FLOW, "settings": view_settings.STATES},
        prevent_initial_call=True,
    )
    def save_lesson(clicks, lesson, key, flow_type, src, dst, settings):
        if not clicks:
            raise PreventUpdate
        return _sent(standalone_file(cache, lesson, key, flow_type, src, dst, view_settings.of(settings)))

    app.clientside_callback(
        ClientsideFunction("netvizExport", "traceJson"),
        Output(Id.JSON_DOWNLOAD, "data"),
        Input(Id.JSON, "n_clicks"),
        State(PageId.PLAYBACK, "data"),
        prevent_initial_call=True,
    )
