"""The page: header (cluster, samples, upload, paste), flow picker, diagram with the player, side panel
(settings, view, hop list, inspector). Every component id is declared once, here, in `Id`."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Sequence

from dash import dcc, html

from webapp.app.catalog import text
from webapp.app.language import language_switch
from webapp.app.limits import DEFAULT_MAX_UPLOAD_MB, megabytes
from webapp.app.upload import UPLOAD_PATH, request_limit as upload_request_limit
from webapp.model import KubeProxyMode, Overlay, TrafficPolicy
from webapp.narration import current_language

GRAPH_CONFIG = {
    "displaylogo": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "showLink": False,
    "scrollZoom": True,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "toImage"],
}
"""plotly config: no logo link, no 'send to cloud' / Chart Studio buttons (offline first)."""

SPEEDS = (0.5, 1.0, 2.0, 4.0)
UPLOAD_STAGES = ("send", "received", "parse", "read", "check", "store", "draw", "done")
"""The upload's stages as the progress line names them (assets/netviz.js reads each from `data-stage-…`)."""


class Id(StrEnum):
    URL = "url"
    CLUSTER_KEY = "cluster-key"
    VIEW = "view-state"
    PLAYBACK = "playback"
    STEP = "step"
    INITIAL_STEP = "initial-step"
    PLAYER_SINK = "player-sink"
    URL_SINK = "url-sink"
    SPEED_SINK = "speed-sink"
    ERROR_BANNER = "error-banner"
    CLUSTER_NAME = "cluster-name"
    SAMPLE = "sample-picker"
    UPLOAD = "upload"
    PASTE = "paste-box"
    PASTE_LOAD = "paste-load"
    UPLOAD_STATUS = "upload-status"
    UPLOAD_PROGRESS = "upload-progress"
    UPLOAD_RESULT = "upload-result"
    CLUSTER_LOADED = "cluster-loaded"
    """The controller's answer to a load (a sample, a paste, an upload, the URL): `{"key": …}`, the cluster now on
    screen (the same one when nothing new was loaded); assets/netviz.js greys the old diagram until that one is drawn."""
    LOADING_SINK = "loading-sink"
    DIAGRAM_FRAME = "diagram-frame"
    FLOW_TYPE = "flow-type"
    FLOW_SRC = "flow-src"
    FLOW_DST = "flow-dst"
    DIAGRAM = "diagram"
    PLAY = "player-play"
    BACK = "player-back"
    FORWARD = "player-forward"
    RESTART = "player-restart"
    SPEED = "player-speed"
    PRESENT = "present-toggle"
    CAPTION = "caption"
    VERDICT = "verdict"
    NAT_BADGE = "nat-badge"
    HOP_LIST = "hop-list"
    INSPECTOR = "inspector"
    MODE = "setting-mode"
    OVERLAY = "setting-overlay"
    POLICY = "setting-policy"
    DOWN_PODS = "setting-down"
    PLUGIN = "setting-plugin"
    POLICIES_OFF = "setting-policies-off"
    NAMESPACE = "view-namespace"
    SEARCH = "view-search"
    SEARCH_RESULT = "view-search-result"
    SEARCH_HIT = "view-search-hit"
    SEARCH_FROM = "view-search-from"
    SEARCH_TO = "view-search-to"
    OVERVIEW_NOTE = "view-overview-note"
    LEGEND = "view-legend"
    FLOW_REQUEST = "flow-request"
    """A flow a view asks for (`{"src": …, "dst": …}`): the controller picks it like a click in the diagram."""
    LESSON = "lesson-picker"
    LESSON_NAV = "lesson-nav"
    LESSON_DATA = "lesson-data"
    LESSON_SINK = "lesson-sink"
    LESSON_BAR = "lesson-bar"
    PRESENT_PANEL = "present-panel"
    WHY = "why"
    QUIZ = "quiz"


TEXT_KEYS = ("lesson.counter", "lesson.keys", "lesson.whatif_keys", "lesson.quiz_keys", "lesson.quiz_off",
             "lesson.off_script", "strip.where",
             "strip.inner", "strip.outer", "strip.nat", "strip.endpoint", "strip.rule", "strip.none", "why.title",
             "principles.title", "principles.holds", "principles.broken", "principles.none", "quiz.title",
             "quiz.keys", "quiz.right", "quiz.wrong", "quiz.score")
"""Catalogue sentences the browser side fills in itself (assets/netviz-lesson.js, from `data-netviz-text`)."""


def _labelled(label: str, control) -> html.Label:
    return html.Label([html.Span(label, className="label"), control], className="field")


def _setting(id_: Id, label: str, values: list[str], labels: str | None = None) -> html.Label:
    """A what-if dropdown; `labels` is the catalogue key prefix of the options' labels (else the values)."""
    options = [{"label": text(labels + v) if labels else v, "value": v} for v in values]
    return _labelled(label, dcc.Dropdown(id=id_, options=options, value=None, clearable=True,
                                         placeholder=text("settings.cluster_value", value="…")))


def build_layout(samples: list[tuple[str, str]],
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1_000_000, *,
                 tools: Sequence[Any] = (), overlays: Sequence[Any] = (),
                 lessons: Sequence[tuple[str, str]] = ()) -> html.Div:
    """The whole page. `samples` are (name, title) pairs, default first; `lessons` the built-in lessons' (name,
    title). `tools` (buttons that open a view) end the flow picker's row; `overlays` (the views) open over the
    diagram. The browser refuses a file over
    `max_upload_bytes` (dcc.Upload's max_size) and netviz.js says so, from the limit and messages in the
    `data-*` attributes here; the server checks again (`state.decode_upload`)."""
    request_bytes = upload_request_limit(max_upload_bytes)
    limits = {"data-max-bytes": str(max_upload_bytes), "data-limit-mb": megabytes(max_upload_bytes),
              "data-too-big": text("upload.too_big", file="{file}", size="{size}", limit="{limit}"),
              "data-kept": text("upload.kept"), "data-upload-url": UPLOAD_PATH,
              "data-request-bytes": str(request_bytes), "data-request-mb": megabytes(request_bytes),
              "data-request-too-big": text("upload.request_too_big", size="{size}", limit="{limit}"),
              "data-failed": text("upload.failed", error="{error}"), "data-stale": text("upload.stale"),
              **{f"data-stage-{stage}": text(f"upload.stage.{stage}", percent="{percent}", seconds="{seconds}")
                 for stage in UPLOAD_STAGES}}
    header = html.Header(className="header", children=[
        html.Div(className="brand", children=[
            html.H1(text("app.title")),
            html.Span(text("app.tagline"), className="tagline"),
        ]),
        html.Div(className="cluster", children=[
            html.Span(text("header.cluster"), className="label"),
            html.Strong(id=Id.CLUSTER_NAME, children="…"),
        ]),
        _labelled(text("header.sample"), dcc.Dropdown(
            id=Id.SAMPLE, options=[{"label": title, "value": name} for name, title in samples], value=None,
            clearable=False, placeholder=text("header.sample.placeholder"), className="sample-picker")),
        _labelled(text("lesson.picker"), dcc.Dropdown(
            id=Id.LESSON, options=[{"label": title, "value": name} for name, title in lessons or []], value=None,
            clearable=True, placeholder=text("lesson.none"), className="lesson-picker")),
        html.Div(className="loading", **limits, children=[
            dcc.Upload(id=Id.UPLOAD, multiple=True, max_size=max_upload_bytes, className="upload",
                       children=html.Div(text("upload.prompt")), accept=".yaml,.yml,.json,.gz"),
            # assets/netviz.js posts chosen files to UPLOAD_PATH and shows the stages here (webapp/app/upload.py).
            html.Div(id=Id.UPLOAD_PROGRESS, className="upload-progress", hidden=True, children=[
                html.Progress(max="100", value="0"), html.Span(className="stage")]),
            html.Details(className="paste", children=[
                html.Summary(text("upload.paste.summary")),
                dcc.Textarea(id=Id.PASTE, placeholder=text("upload.paste.placeholder"), className="paste-box"),
                html.Button(text("upload.paste.button"), id=Id.PASTE_LOAD, n_clicks=0, className="button"),
            ]),
            html.Div(id=Id.UPLOAD_STATUS, className="upload-status", role="status"),
        ]),
    ])
    picker = html.Div(className="picker", children=[
        _labelled(text("flow.type"), dcc.Dropdown(id=Id.FLOW_TYPE, clearable=False, className="flow-type")),
        _labelled(text("flow.src"), dcc.Dropdown(id=Id.FLOW_SRC, clearable=False, className="flow-end")),
        _labelled(text("flow.dst"), dcc.Dropdown(id=Id.FLOW_DST, clearable=False, className="flow-end")),
        html.Span(id=Id.NAT_BADGE, className="badge"),
        *([html.Div(list(tools), className="view-tools")] if tools else []),
    ])
    player = html.Div(className="player", children=[
        html.Button(text("player.restart"), id=Id.RESTART, className="button"),
        html.Button(text("player.back"), id=Id.BACK, className="button"),
        html.Button(text("player.play"), id=Id.PLAY, className="button primary",
                    **{"data-play": text("player.play"), "data-pause": text("player.pause")}),
        html.Button(text("player.forward"), id=Id.FORWARD, className="button"),
        html.Span(text("player.speed"), className="label"),
        dcc.RadioItems(id=Id.SPEED, options=[{"label": f"{s:g}×", "value": s} for s in SPEEDS], value=1.0,
                       inline=True, className="speed"),
        html.Button(text("player.present"), id=Id.PRESENT, className="button"),
        html.Span(text("player.keys"), className="keys"),
        language_switch(current_language()),
    ])
    stage = html.Main(className="stage", children=[
        html.Div(id=Id.LESSON_BAR, className="lesson-bar"),
        picker,
        html.Div(id=Id.ERROR_BANNER, className="error-banner", role="alert"),
        # The frame takes the height the page leaves (CSS flex); dcc.Graph's own inline height is 100% of it.
        html.Div(id=Id.DIAGRAM_FRAME, className="diagram-frame", children=[dcc.Graph(
            id=Id.DIAGRAM, config=GRAPH_CONFIG, className="diagram", clear_on_unhover=True, style={"height": "100%"},
            figure={"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False}}}),
            *overlays]),
        player,
        html.Div(className="caption-row", children=[
            html.Div(id=Id.VERDICT, className="verdict"),
            html.Div(id=Id.CAPTION, className="caption", **{"aria-live": "polite"}),
        ]),
        html.Div(id=Id.PRESENT_PANEL, className="present-panel"),
        html.Div(id=Id.QUIZ, className="quiz", role="dialog"),
    ])
    side = html.Aside(className="side", children=[
        html.Section(className="panel why-panel", children=[html.H2(text("why.title")), html.Div(id=Id.WHY)]),
        html.Section(className="panel", children=[html.H2(text("inspector.title")),
                                                  html.Div(id=Id.INSPECTOR, children=text("inspector.none"))]),
        html.Section(className="panel hops", children=[html.H2(text("hops.title")), html.Div(id=Id.HOP_LIST)]),
        html.Section(className="panel", children=[
            html.H2(text("settings.title")),
            _setting(Id.MODE, text("settings.mode"), [str(m) for m in KubeProxyMode], "settings.mode."),
            _setting(Id.OVERLAY, text("settings.overlay"), [str(o) for o in Overlay]),
            _setting(Id.POLICY, text("settings.policy"), [str(p) for p in TrafficPolicy]),
            _labelled(text("settings.down"), dcc.Dropdown(id=Id.DOWN_PODS, multi=True, value=[])),
            _labelled(text("settings.plugin"), dcc.Dropdown(id=Id.PLUGIN, value=None, clearable=True)),
            _labelled(text("settings.policies_off"), dcc.Dropdown(id=Id.POLICIES_OFF, multi=True, value=[],
                                                                  placeholder=text("settings.policies_off.none"))),
        ]),
        html.Section(className="panel", children=[
            html.H2(text("view.title")),
            html.Div(id=Id.OVERVIEW_NOTE, className="note"),
            html.Div(id=Id.LEGEND, className="legend"),
            _labelled(text("view.namespace"), dcc.Dropdown(id=Id.NAMESPACE, placeholder=text("view.namespace.all"))),
            dcc.Input(id=Id.SEARCH, type="search", debounce=True, placeholder=text("view.search"),
                      className="search"),
            html.Div(id=Id.SEARCH_RESULT, className="note"),
            html.Div(className="search-use", children=[
                html.Button(text("view.search.use_from"), id=Id.SEARCH_FROM, n_clicks=0, className="button",
                            hidden=True),
                html.Button(text("view.search.use_to"), id=Id.SEARCH_TO, n_clicks=0, className="button", hidden=True),
            ]),
        ]),
    ])
    stores = [
        dcc.Location(id=Id.URL, refresh=False),
        dcc.Store(id=Id.CLUSTER_KEY),
        dcc.Store(id=Id.UPLOAD_RESULT),
        dcc.Store(id=Id.CLUSTER_LOADED),
        dcc.Store(id=Id.LOADING_SINK),
        dcc.Store(id=Id.VIEW, data={"expanded": [], "focus": None, "groups": []}),
        dcc.Store(id=Id.SEARCH_HIT),
        dcc.Store(id=Id.PLAYBACK),
        dcc.Store(id=Id.STEP, data=0),
        dcc.Store(id=Id.INITIAL_STEP),
        dcc.Store(id=Id.PLAYER_SINK),
        dcc.Store(id=Id.URL_SINK),
        dcc.Store(id=Id.SPEED_SINK),
        dcc.Store(id=Id.LESSON_NAV),
        dcc.Store(id=Id.LESSON_DATA),
        dcc.Store(id=Id.LESSON_SINK),
        dcc.Store(id=Id.FLOW_REQUEST),
    ]
    return html.Div(id="page", className="page", **{"data-netviz-ids": client_ids(), "data-netviz-text": client_text()},
                    children=[*stores, header, html.Div(className="body", children=[stage, side])])


def client_text() -> str:
    """The sentences of TEXT_KEYS in the page's language, as JSON for the browser side (`data-netviz-text`)."""
    return json.dumps({key: text(key) for key in TEXT_KEYS}, ensure_ascii=False, sort_keys=True)


def client_ids() -> str:
    """The id table for assets/netviz.js, which reads it from the page (`data-netviz-ids`): `{"DIAGRAM":
    "diagram", …}`, so the browser side spells no component id itself."""
    return json.dumps({member.name: member.value for member in Id}, sort_keys=True)
