"""Server callbacks (loading, flow picking, tracing + drawing, search) and the clientside ones
(player, speed, URL), registered on one app. The browser sends the cache key and its view state; nothing
else about a session is kept on the server."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from webapp.app import state, view_settings
from webapp.app.cache import ClusterCache
from webapp.app.catalog import text
from webapp.app.inspector import legend, nat_badge, render_trace, verdict
from webapp.app.layout import Id
from webapp.engine.flows import FlowType
from webapp.figures.overview import is_grouped, node_groups
from webapp.lessons.player import trace_notes
from webapp.model import KubeProxyMode, Overlay
from webapp.narration import current_language
from webapp.problems import Severity
from webapp.variants import ViewSettings

CONTROLLER_OUTPUTS = {
    "key": Output(Id.CLUSTER_KEY, "data"),
    "sample": Output(Id.SAMPLE, "value"),
    "status": Output(Id.UPLOAD_STATUS, "children"),
    "name": Output(Id.CLUSTER_NAME, "children"),
    "type_options": Output(Id.FLOW_TYPE, "options"),
    "type": Output(Id.FLOW_TYPE, "value"),
    "src_options": Output(Id.FLOW_SRC, "options"),
    "src": Output(Id.FLOW_SRC, "value"),
    "dst_options": Output(Id.FLOW_DST, "options"),
    "dst": Output(Id.FLOW_DST, "value"),
    "down_options": Output(Id.DOWN_PODS, "options"),
    "namespace_options": Output(Id.NAMESPACE, "options"),
    "mode": Output(Id.MODE, "value"),
    "overlay": Output(Id.OVERLAY, "value"),
    "policy": Output(Id.POLICY, "value"),
    "down": Output(Id.DOWN_PODS, "value"),
    "plugin": Output(Id.PLUGIN, "value"),
    "plugin_options": Output(Id.PLUGIN, "options"),
    "plugin_placeholder": Output(Id.PLUGIN, "placeholder"),
    "policies_off": Output(Id.POLICIES_OFF, "value"),
    "policies_off_options": Output(Id.POLICIES_OFF, "options"),
    "namespace": Output(Id.NAMESPACE, "value"),
    "mode_placeholder": Output(Id.MODE, "placeholder"),
    "overlay_placeholder": Output(Id.OVERLAY, "placeholder"),
    "policy_placeholder": Output(Id.POLICY, "placeholder"),
    "view": Output(Id.VIEW, "data"),
    "initial_step": Output(Id.INITIAL_STEP, "data"),
    "lesson": Output(Id.LESSON, "value"),
    "lesson_nav": Output(Id.LESSON_NAV, "data"),
    "loaded": Output(Id.CLUSTER_LOADED, "data"),
}


def _problem_line(problem) -> html.Li:
    where = f"{problem.file}:{problem.line}"
    field = f" ({problem.path})" if problem.path else ""
    hint = f" — {problem.hint}" if problem.hint else ""
    return html.Li([html.Code(where), f" {problem.text}{field}{hint}"],
                   className=f"problem {problem.severity}", **{"data-code": problem.code})


def _status(outcome: state.LoadOutcome, file_count: int) -> list:
    errors = [p for p in outcome.problems if p.severity == Severity.ERROR]
    if outcome.key is None:
        items = [_problem_line(p) for p in errors] or [html.Li(m, className="problem error") for m in outcome.messages]
        return [html.Ul(items, className="problems"), html.Div(text("upload.kept"), className="kept")]
    cluster = outcome.cluster
    lines: list[Any] = [html.Div(text("upload.loaded", file_count=file_count, pods=len(cluster.pods),
                                      nodes=len(cluster.nodes), services=len(cluster.services)), className="loaded")]
    warnings = [p for p in outcome.problems if p.severity == Severity.WARNING]
    if warnings:
        lines.append(html.Details([html.Summary(text("upload.warnings", count=len(warnings))),
                                   html.Ul([_problem_line(p) for p in warnings], className="problems")]))
    return lines


def _render_status(status: state.Status | str) -> Any:
    if isinstance(status, str):
        return status
    if status.outcome is not None:
        return _status(status.outcome, status.file_count)
    return html.Div(status.warning, className="problem warning")


def register_callbacks(app: Dash, cache: ClusterCache, default_sample: str, max_upload_bytes: int) -> None:

    @app.callback(
        output=CONTROLLER_OUTPUTS,
        inputs={
            "search": Input(Id.URL, "search"),
            "sample": Input(Id.SAMPLE, "value"),
            "contents": Input(Id.UPLOAD, "contents"),
            "uploaded": Input(Id.UPLOAD_RESULT, "data"),
            "paste_clicks": Input(Id.PASTE_LOAD, "n_clicks"),
            "flow_type": Input(Id.FLOW_TYPE, "value"),
            "src": Input(Id.FLOW_SRC, "value"),
            "click": Input(Id.DIAGRAM, "clickData"),
            "use_from": Input(Id.SEARCH_FROM, "n_clicks"),
            "use_to": Input(Id.SEARCH_TO, "n_clicks"),
            "lesson": Input(Id.LESSON, "value"),
            "nav": Input(Id.LESSON_NAV, "data"),
            "request": Input(Id.FLOW_REQUEST, "data"),
        },
        state={
            "filenames": State(Id.UPLOAD, "filename"),
            "paste": State(Id.PASTE, "value"),
            "key": State(Id.CLUSTER_KEY, "data"),
            "dst": State(Id.FLOW_DST, "value"),
            "view": State(Id.VIEW, "data"),
            "hit": State(Id.SEARCH_HIT, "data"),
        },
    )
    def control(search, sample, contents, uploaded, paste_clicks, flow_type, src, click, use_from, use_to, lesson, nav,
                request, filenames, paste, key, dst, view, hit):
        """Loading (URL, sample, upload, paste) and the flow picker, in one place so their order is explicit; each
        trigger is one function of webapp.app.state."""
        kind = state.flow_type_of_value(flow_type)
        handlers = {
            Id.SAMPLE: lambda: state.on_sample(cache, sample, key, kind),
            Id.UPLOAD: lambda: state.on_upload(cache, contents, filenames, kind, max_upload_bytes),
            Id.UPLOAD_RESULT: lambda: state.on_uploaded(cache, uploaded, kind),
            Id.PASTE_LOAD: lambda: state.on_paste(cache, paste, kind, max_upload_bytes),
            Id.DIAGRAM: lambda: state.on_click(cache, key, click, kind, src, view),
            Id.FLOW_TYPE: lambda: state.on_flow_type(cache, key, kind, src),
            Id.FLOW_SRC: lambda: state.on_source(cache, key, kind, src, dst),
            Id.SEARCH_FROM: lambda: state.on_search_pick(cache, key, hit, "from", kind, src),
            Id.SEARCH_TO: lambda: state.on_search_pick(cache, key, hit, "to", kind, src),
            Id.LESSON: lambda: state.on_lesson(cache, key, lesson, None),
            Id.LESSON_NAV: lambda: state.on_lesson(cache, key, (nav or {}).get("lesson"), nav),
            Id.FLOW_REQUEST: lambda: state.on_request(cache, key, request),
        }
        handler = handlers.get(ctx.triggered_id, lambda: state.on_url(cache, search, default_sample))
        changed = handler()
        if ctx.triggered_id in (Id.SAMPLE, Id.PASTE_LOAD, Id.UPLOAD) or "key" in changed or "sample" in changed:
            # assets/netviz.js: the old diagram stays greyed until this cluster's is drawn (the same key: at once)
            changed["loaded"] = {"key": changed.get("key", key), "at": time.time()}
        if "status" in changed:
            changed["status"] = _render_status(changed["status"])
        return {name: changed.get(name, no_update) for name in CONTROLLER_OUTPUTS}

    @app.callback(
        output={
            "figure": Output(Id.DIAGRAM, "figure"),
            "playback": Output(Id.PLAYBACK, "data"),
            "hops": Output(Id.HOP_LIST, "children"),
            "inspector": Output(Id.INSPECTOR, "children"),
            "caption": Output(Id.CAPTION, "children"),
            "verdict": Output(Id.VERDICT, "children"),
            "verdict_class": Output(Id.VERDICT, "className"),
            "verdict_title": Output(Id.VERDICT, "title"),
            "badge": Output(Id.NAT_BADGE, "children"),
            "badge_class": Output(Id.NAT_BADGE, "className"),
            "badge_title": Output(Id.NAT_BADGE, "title"),
            "note": Output(Id.OVERVIEW_NOTE, "children"),
            "legend": Output(Id.LEGEND, "children"),
            "banner": Output(Id.ERROR_BANNER, "children"),
        },
        inputs={
            "key": Input(Id.CLUSTER_KEY, "data"),
            "flow_type": Input(Id.FLOW_TYPE, "value"),
            "src": Input(Id.FLOW_SRC, "value"),
            "dst": Input(Id.FLOW_DST, "value"),
            "namespace": Input(Id.NAMESPACE, "value"),
            "view": Input(Id.VIEW, "data"),
            "settings": view_settings.inputs(),
        },
    )
    def draw(key, flow_type, src, dst, namespace, view, settings):
        """Apply the live settings, trace the chosen flow, draw the diagram around it."""
        loaded = cache.get(key)
        kind = state.flow_type_of_value(flow_type)
        if (loaded is not None and kind and src and dst
                and (src, dst) not in state.flow_choices(key, loaded).get(kind, [])):
            try:
                found = state.flow_type_of(loaded, src, dst)
            except ValueError:
                found = kind  # an invalid pair: draw_view says what is wrong with it
            if found != kind:
                raise PreventUpdate  # the picker is mid-change: `control` is about to send a valid (src, dst)
        return draw_view(cache, key, kind, src, dst, view_settings.of(settings), namespace, view)

    @app.callback(
        Output(Id.VIEW, "data", allow_duplicate=True),
        Output(Id.SEARCH_RESULT, "children"),
        Output(Id.SEARCH_HIT, "data"),
        Output(Id.SEARCH_FROM, "hidden"),
        Output(Id.SEARCH_TO, "hidden"),
        Input(Id.SEARCH, "value"),
        State(Id.CLUSTER_KEY, "data"),
        State(Id.VIEW, "data"),
        prevent_initial_call=True,
    )
    def search(query, key, view):
        """A pod, node or service: its group and node opened, the diagram zoomed on it, offered as FROM or TO."""
        cluster = cache.get(key)
        if cluster is None or not (query or "").strip():
            return no_update, "", None, True, True
        hit = state.find(cluster, query)
        if hit is None:
            return no_update, text("view.search.none", query=query), None, True, True
        return (state.view_for(cluster, hit, view), state.describe_hit(cluster, hit),
                {"kind": hit.kind, "key": hit.key}, hit.kind == "svc", False)

    def _searched(found: list[tuple[str, str]], value: str | None) -> list[dict[str, str]]:
        """Matches as options (the IP in `search`, so the dropdown's own filter keeps them), the chosen value kept."""
        options = [{"label": spec, "value": spec, "search": extra} for spec, extra in found]
        if value and all(o["value"] != value for o in options):
            options.insert(0, {"label": value, "value": value})
        return options

    @app.callback(
        Output(Id.FLOW_SRC, "options", allow_duplicate=True),
        Input(Id.FLOW_SRC, "search_value"),
        State(Id.CLUSTER_KEY, "data"),
        State(Id.FLOW_TYPE, "value"),
        State(Id.FLOW_SRC, "value"),
        prevent_initial_call=True,
    )
    def search_sources(query, key, flow_type, src):
        """FROM: every source of the flow type's kind in the cluster, searched by name or IP (at most 50)."""
        cluster = cache.get(key)
        if cluster is None or not (query or "").strip():
            raise PreventUpdate  # keep the options: the one just chosen is among them
        return _searched(state.search_sources(cluster, state.flow_type_of_value(flow_type), query), src)

    @app.callback(
        Output(Id.FLOW_DST, "options", allow_duplicate=True),
        Input(Id.FLOW_DST, "search_value"),
        State(Id.CLUSTER_KEY, "data"),
        State(Id.FLOW_TYPE, "value"),
        State(Id.FLOW_SRC, "value"),
        State(Id.FLOW_DST, "value"),
        prevent_initial_call=True,
    )
    def search_destinations(query, key, flow_type, src, dst):
        """TO: every destination that makes a valid flow from the source, searched by name or IP (at most 50)."""
        cluster = cache.get(key)
        if cluster is None or not (query or "").strip():
            raise PreventUpdate
        return _searched(state.search_destinations(cluster, state.flow_type_of_value(flow_type), src, query), dst)

    @app.callback(
        Output(Id.DOWN_PODS, "options", allow_duplicate=True),
        Input(Id.DOWN_PODS, "search_value"),
        State(Id.CLUSTER_KEY, "data"),
        State(Id.DOWN_PODS, "value"),
        prevent_initial_call=True,
    )
    def search_down(query, key, chosen):
        """Pods down: backend pods searched by name (a big cluster lists only the first ones at first)."""
        cluster = cache.get(key)
        if cluster is None or not (query or "").strip():
            raise PreventUpdate
        chosen = [c for c in chosen or [] if isinstance(c, str)]
        return [{"label": p, "value": p} for p in state.search_backend_pods(cluster, query, chosen)]

    @app.callback(
        Output(Id.LESSON_DATA, "data"),
        Input(Id.LESSON, "value"),
        State(Id.CLUSTER_KEY, "data"),
    )
    def lesson_data(name, key):
        """The lesson player's JSON (webapp.lessons.player), sent once per lesson."""
        return state.lesson_bundle_of(name, key, cache)

    app.clientside_callback(
        ClientsideFunction("netviz", "lessonSync"),
        Output(Id.LESSON_SINK, "data"),
        Input(Id.LESSON_NAV, "data"),
        Input(Id.LESSON_DATA, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("netviz", "load"),
        Output(Id.PLAYER_SINK, "data"),
        Input(Id.PLAYBACK, "data"),
        State(Id.INITIAL_STEP, "data"),
    )
    app.clientside_callback(  # the end of a load; its start is a click, watched in assets/netviz.js (Dash holds a
        ClientsideFunction("netviz", "loadingCluster"),  # callback on the sample or the paste button until the
        Output(Id.LOADING_SINK, "data"),  # controller has answered)
        Input(Id.CLUSTER_LOADED, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("netviz", "setSpeed"),
        Output(Id.SPEED_SINK, "data"),
        Input(Id.SPEED, "value"),
    )
    app.clientside_callback(
        ClientsideFunction("netviz", "syncUrl"),
        Output(Id.URL_SINK, "data"),
        Input(Id.CLUSTER_KEY, "data"),
        Input(Id.SAMPLE, "value"),
        Input(Id.FLOW_TYPE, "value"),
        Input(Id.FLOW_SRC, "value"),
        Input(Id.FLOW_DST, "value"),
        Input(Id.MODE, "value"),
        Input(Id.OVERLAY, "value"),
        Input(Id.POLICY, "value"),
        Input(Id.DOWN_PODS, "value"),
        Input(Id.NAMESPACE, "value"),
        Input(Id.VIEW, "data"),
        Input(Id.STEP, "data"),
        Input(Id.PLUGIN, "value"),
        Input(Id.POLICIES_OFF, "value"),
        Input(Id.LESSON_NAV, "data"),
        State(Id.LESSON_DATA, "data"),
        prevent_initial_call=True,
    )


def draw_view(cache: ClusterCache, key: str | None, flow_type: FlowType | None, src: str | None, dst: str | None,
              settings: ViewSettings, namespace: str | None, view: dict | None) -> dict[str, Any]:
    """The outputs of the diagram-plus-trace callback (a plain function so the benchmark can time it)."""
    out: dict[str, Any] = {"figure": no_update, "playback": None, "hops": [], "inspector": text("inspector.none"),
                           "caption": "", "verdict": "", "verdict_class": "verdict", "verdict_title": "", "badge": "",
                           "badge_class": "badge", "badge_title": "", "note": "", "legend": None, "banner": ""}
    loaded = cache.get(key)
    if loaded is None:
        if key:
            out["banner"] = text("cache.expired")
        return out
    cluster = state.variant(key, loaded, settings)
    trace = None
    if flow_type and src and dst:
        try:
            trace = state.trace(cluster, src, dst)
        except ValueError as error:
            out["verdict"] = text("flow.error", src=src, dst=dst, error=error)
            out["verdict_class"] = "verdict error"
    else:
        out["verdict"] = text("flow.pick")
    diagram, data = state.diagram_and_playback(cluster, state.view_of(view, namespace), trace)
    out["figure"] = diagram.figure
    diagram.figure["layout"]["meta"]["cluster"] = key  # assets/netviz.js: the new cluster's diagram is drawn
    # assets/netviz.js: the player shows a trace on the drawing it came with (never the last trace on a new drawing)
    drawing = hashlib.blake2b(repr((key, flow_type, src, dst, settings, namespace, view)).encode(),
                              digest_size=6).hexdigest()
    diagram.figure["layout"]["meta"]["draw"] = drawing
    diagram.figure["layout"]["meta"]["traced"] = trace is not None
    if diagram.overview:
        if is_grouped(cluster):
            out["note"] = text("view.overview.groups", nodes=len(cluster.nodes), groups=len(node_groups(cluster)),
                               pods=len(cluster.pods))
        else:
            out["note"] = text("view.overview", nodes=len(cluster.nodes), pods=len(cluster.pods))
        out["legend"] = legend()
    if trace is not None:
        data["notes"] = trace_notes(trace, current_language())
        data["chosen_pod"] = state.chosen_pod(cluster, trace)
        data["settings"] = {"mode": str(cluster.settings.kube_proxy_mode), "overlay": str(cluster.settings.overlay),
                            "down": sorted(settings.down_pods), "modes": [str(m) for m in KubeProxyMode],
                            "overlays": [str(o) for o in Overlay]}
        data["draw"] = drawing
        out["playback"] = data
        out["hops"], out["inspector"], out["caption"] = render_trace(trace, cluster)
        out["verdict"], out["verdict_class"] = verdict(trace)
        out["badge"], out["badge_class"], out["badge_title"] = nat_badge(trace)
    out["verdict_title"] = out["verdict"]  # the verdict line is clamped to two lines; the tooltip has it all
    return out


__all__ = ["draw_view", "register_callbacks"]
