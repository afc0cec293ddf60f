"""Server callbacks (loading, flow picking, tracing + drawing, search) and the clientside ones
(player, speed, URL), registered on one app. The browser sends the cache key and its view state; nothing
else about a session is kept on the server."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from webapp.app import state
from webapp.app.cache import ClusterCache, is_key
from webapp.app.catalog import flow_type_label, text
from webapp.app.inspector import nat_badge, render_trace, verdict
from webapp.app.layout import Id
from webapp.figures import is_big
from webapp.model import Cluster, ServiceType
from webapp.problems import Severity
from webapp.variants import ViewSettings, backend_pods

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
    "namespace": Output(Id.NAMESPACE, "value"),
    "mode_placeholder": Output(Id.MODE, "placeholder"),
    "overlay_placeholder": Output(Id.OVERLAY, "placeholder"),
    "policy_placeholder": Output(Id.POLICY, "placeholder"),
    "view": Output(Id.VIEW, "data"),
    "initial_step": Output(Id.INITIAL_STEP, "data"),
}


def _problem_line(problem) -> html.Li:
    where = f"{problem.file}:{problem.line}"
    field = f" ({problem.path})" if problem.path else ""
    hint = f" — {problem.hint}" if problem.hint else ""
    return html.Li([html.Code(where), f" {problem.message}{field}{hint}"],
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


def _options(values: list[str]) -> list[dict[str, str]]:
    return [{"label": v, "value": v} for v in values]


def _with(values: list[str], value: str | None) -> list[str]:
    """The options with the chosen value among them (a dropdown clears a value its options lack)."""
    return values if value is None or value in values else [value, *values]


def _flow_outputs(out: dict, cluster: Cluster, choices: dict, flow_type: str | None, src: str | None,
                  dst: str | None, *, auto: bool = True) -> None:
    """Fill the picker outputs: keep each chosen value when it is still valid — in the initial lists or, checked
    on demand, anywhere in the cluster — else take the first valid one (`auto=False`: leave the source empty, so a
    big cluster first shows its overview, untraced)."""
    types = list(choices)
    known = flow_type in choices or (flow_type in state.ALL_FLOW_TYPES and state.source_fits(cluster, flow_type, src))
    if not known:
        flow_type = types[0] if types else None
    sources = state.sources_for(choices, flow_type)
    if src not in sources and not state.source_fits(cluster, flow_type, src):
        src = sources[0] if sources and auto else None
    targets = state.destinations_for(choices, flow_type, src)
    if dst not in targets and not state.pair_fits(cluster, flow_type, src, dst):
        if not targets and src:
            targets = [spec for spec, _ in state.search_destinations(cluster, flow_type, src, "")]
        dst = targets[0] if targets else None
    out.update(type_options=[{"label": flow_type_label(t), "value": t} for t in _with(types, flow_type)],
               type=flow_type, src_options=_options(_with(sources, src)), src=src,
               dst_options=_options(_with(targets, dst)), dst=dst)


def _requested_flow(out: dict, cluster: Cluster, choices: dict, flow_type: str | None, src: str | None,
                    dst: str | None, *, auto: bool) -> None:
    """The URL's flow: a valid pair anywhere in the cluster is kept (with the type the engine gives it); an invalid
    one is kept as asked, so the diagram callback says what is wrong with it instead of silently dropping it."""
    if src and dst:
        try:
            flow_type = state.flow_type_of(cluster, src, dst)
        except (ImportError, ValueError, KeyError):
            kind = flow_type if flow_type in state.ALL_FLOW_TYPES else (next(iter(choices), None))
            out.update(type_options=[{"label": flow_type_label(t), "value": t} for t in _with(list(choices), kind)],
                       type=kind, src_options=_options([src]), src=src, dst_options=_options([dst]), dst=dst)
            return
    _flow_outputs(out, cluster, choices, flow_type, src, dst, auto=auto)


def _cluster_outputs(out: dict, key: str, cluster: Cluster) -> None:
    policies = sorted({str(s.external_traffic_policy) for s in cluster.services
                       if s.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)}) or ["-"]
    out.update(mode_placeholder=text("settings.cluster_value", value=cluster.settings.kube_proxy_mode),
               overlay_placeholder=text("settings.cluster_value", value=cluster.settings.overlay),
               policy_placeholder=text("settings.cluster_value", value="/".join(policies)))
    out.update(key=key, name=cluster.name, down_options=_options(list(backend_pods(cluster))),
               namespace_options=_options(list(cluster.namespaces)), down=[], namespace=None,
               view={"expanded": [], "focus": None})


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def register_callbacks(app: Dash, cache: ClusterCache, default_sample: str, max_upload_bytes: int) -> None:

    @app.callback(
        output=CONTROLLER_OUTPUTS,
        inputs={
            "search": Input(Id.URL, "search"),
            "sample": Input(Id.SAMPLE, "value"),
            "contents": Input(Id.UPLOAD, "contents"),
            "paste_clicks": Input(Id.PASTE_LOAD, "n_clicks"),
            "flow_type": Input(Id.FLOW_TYPE, "value"),
            "src": Input(Id.FLOW_SRC, "value"),
            "click": Input(Id.DIAGRAM, "clickData"),
        },
        state={
            "filenames": State(Id.UPLOAD, "filename"),
            "paste": State(Id.PASTE, "value"),
            "key": State(Id.CLUSTER_KEY, "data"),
            "dst": State(Id.FLOW_DST, "value"),
            "view": State(Id.VIEW, "data"),
        },
    )
    def control(search, sample, contents, paste_clicks, flow_type, src, click, filenames, paste, key, dst, view):
        """Loading (URL, sample, upload, paste) and the flow picker, in one place so their order is explicit."""
        out: dict[str, Any] = {name: no_update for name in CONTROLLER_OUTPUTS}
        trigger = ctx.triggered_id
        if trigger == Id.URL or trigger is None:
            params = parse_qs((search or "").lstrip("?"))
            wanted_key = _first(params, "cluster")
            if wanted_key is None and is_key(default_sample) and not _first(params, "sample"):
                wanted_key = default_sample  # serve PATH...: the preloaded files
            cluster = cache.get(wanted_key) if is_key(wanted_key) else None
            if cluster is not None:
                out["sample"] = None
                new_key = wanted_key
            else:
                from webapp.loaders import DEFAULT_SAMPLE

                name = _first(params, "sample") or (DEFAULT_SAMPLE if is_key(default_sample) else default_sample)
                outcome = state.load_sample_into(cache, name)
                if outcome.key is None:
                    outcome = state.load_sample_into(cache, DEFAULT_SAMPLE)
                    name = DEFAULT_SAMPLE
                out["sample"] = name
                new_key, cluster = outcome.key, outcome.cluster
                if wanted_key and wanted_key != default_sample:
                    out["status"] = html.Div(text("cache.expired"), className="problem warning")
            _cluster_outputs(out, new_key, cluster)
            _requested_flow(out, cluster, state.flow_choices(new_key, cluster), _first(params, "type"),
                            _first(params, "src"), _first(params, "dst"), auto=not is_big(cluster))
            settings = ViewSettings.parse(_first(params, "mode"), _first(params, "overlay"), _first(params, "etp"),
                                          (_first(params, "down") or "").split(","))
            out.update(mode=settings.kube_proxy_mode and str(settings.kube_proxy_mode),
                       overlay=settings.overlay and str(settings.overlay),
                       policy=settings.external_traffic_policy and str(settings.external_traffic_policy),
                       down=sorted(settings.down_pods))
            namespace = _first(params, "ns")
            out["namespace"] = namespace if namespace in cluster.namespaces else None
            expanded = [n for n in (_first(params, "expand") or "").split(",") if n in cluster.node_by_name]
            out["view"] = {"expanded": expanded, "focus": None}
            step = _first(params, "step")
            out["initial_step"] = int(step) if step and step.isdigit() else None
            return out

        if trigger in (Id.SAMPLE, Id.UPLOAD, Id.PASTE_LOAD):
            if trigger == Id.SAMPLE:
                if not sample:
                    return out
                outcome = state.load_sample_into(cache, sample)
                if outcome.key == key:
                    return out
                file_count = 1
            else:
                sources, messages = [], []
                if trigger == Id.UPLOAD:
                    for content, filename in zip(contents or [], filenames or []):
                        data, error = state.decode_upload(content, filename, max_upload_bytes)
                        if error:
                            messages.append(error)
                        else:
                            sources.append((filename, data))
                else:
                    if not (paste or "").strip():
                        messages.append(text("upload.empty"))
                    sources = [(text("upload.paste.name"), (paste or "").encode())]
                if messages:
                    out["status"] = _status(state.LoadOutcome(None, messages=tuple(messages)), 0)
                    return out
                outcome = state.load_upload_into(cache, sources, max_upload_bytes)
                file_count = len(sources)
                if outcome.key is not None:
                    out["sample"] = None
            out["status"] = _status(outcome, file_count) if trigger != Id.SAMPLE else ""
            if outcome.key is None:
                return out
            _cluster_outputs(out, outcome.key, outcome.cluster)
            _flow_outputs(out, outcome.cluster, state.flow_choices(outcome.key, outcome.cluster), flow_type, None,
                          None, auto=not is_big(outcome.cluster))
            out["initial_step"] = None
            return out

        cluster = cache.get(key)
        if cluster is None:
            out["status"] = html.Div(text("cache.expired"), className="problem warning")
            return out
        choices = state.flow_choices(key, cluster)
        if trigger == Id.DIAGRAM:
            ref = ((click or {}).get("points") or [{}])[0].get("customdata")
            if not isinstance(ref, str):
                return out
            if ref.startswith("node:"):
                expanded = list((view or {}).get("expanded") or [])
                node = ref[5:]
                expanded = [n for n in expanded if n != node] if node in expanded else [*expanded, node]
                out["view"] = {"expanded": expanded, "focus": None}
                return out
            if ref.startswith("ns:"):
                out["namespace"] = ref[3:]
                return out
            picked = state.pick_anywhere(cluster, choices, flow_type, src, ref)
            if picked is None:
                return out
            _flow_outputs(out, cluster, choices, *picked)
            out["initial_step"] = None
            return out
        # The user changed the flow type or the source.
        _flow_outputs(out, cluster, choices, flow_type, src, dst if trigger != Id.FLOW_TYPE else None)
        out["initial_step"] = None
        return out

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
            "banner": Output(Id.ERROR_BANNER, "children"),
        },
        inputs={
            "key": Input(Id.CLUSTER_KEY, "data"),
            "flow_type": Input(Id.FLOW_TYPE, "value"),
            "src": Input(Id.FLOW_SRC, "value"),
            "dst": Input(Id.FLOW_DST, "value"),
            "mode": Input(Id.MODE, "value"),
            "overlay": Input(Id.OVERLAY, "value"),
            "policy": Input(Id.POLICY, "value"),
            "down": Input(Id.DOWN_PODS, "value"),
            "namespace": Input(Id.NAMESPACE, "value"),
            "view": Input(Id.VIEW, "data"),
        },
    )
    def draw(key, flow_type, src, dst, mode, overlay, policy, down, namespace, view):
        """Apply the live settings, trace the chosen flow, draw the diagram around it."""
        loaded = cache.get(key)
        if (loaded is not None and flow_type and src and dst
                and (src, dst) not in state.flow_choices(key, loaded).get(flow_type, [])):
            try:
                kind = state.flow_type_of(loaded, src, dst)
            except (ImportError, ValueError, KeyError):
                kind = flow_type  # an invalid pair: draw_view says what is wrong with it
            if kind != flow_type:
                raise PreventUpdate  # the picker is mid-change: `control` is about to send a valid (src, dst)
        return draw_view(cache, key, flow_type, src, dst, ViewSettings.parse(mode, overlay, policy, down),
                         namespace, view)

    @app.callback(
        Output(Id.VIEW, "data", allow_duplicate=True),
        Output(Id.SEARCH_RESULT, "children"),
        Input(Id.SEARCH, "value"),
        State(Id.CLUSTER_KEY, "data"),
        State(Id.VIEW, "data"),
        prevent_initial_call=True,
    )
    def search(query, key, view):
        cluster = cache.get(key)
        if cluster is None or not (query or "").strip():
            return no_update, ""
        found = state.find_pod(cluster, query)
        if found is None:
            return no_update, text("view.search.none", query=query)
        pod = cluster.pod_by_key[found]
        expanded = list(dict.fromkeys([*((view or {}).get("expanded") or []), pod.node]))
        return {"expanded": expanded, "focus": found}, text("view.search.found", pod=found, node=pod.node, ip=pod.pod_ip)

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
        return _searched(state.search_sources(cluster, flow_type, query), src)

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
        return _searched(state.search_destinations(cluster, flow_type, src, query), dst)

    app.clientside_callback(
        ClientsideFunction("netviz", "load"),
        Output(Id.PLAYER_SINK, "data"),
        Input(Id.PLAYBACK, "data"),
        State(Id.INITIAL_STEP, "data"),
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
        prevent_initial_call=True,
    )


def draw_view(cache: ClusterCache, key: str | None, flow_type: str | None, src: str | None, dst: str | None,
              settings: ViewSettings, namespace: str | None, view: dict | None) -> dict[str, Any]:
    """The outputs of the diagram-plus-trace callback (a plain function so the benchmark can time it)."""
    out: dict[str, Any] = {"figure": no_update, "playback": None, "hops": [], "inspector": text("inspector.none"),
                           "caption": "", "verdict": "", "verdict_class": "verdict", "verdict_title": "", "badge": "",
                           "badge_class": "badge", "badge_title": "", "note": "", "banner": ""}
    loaded = cache.get(key)
    if loaded is None:
        if key:
            out["banner"] = text("cache.expired")
        return out
    cluster = state.variant(loaded, settings)
    trace = None
    if flow_type and src and dst:
        try:
            trace = state.trace_dict(cluster, flow_type, src, dst)
        except (ImportError, ValueError, KeyError) as error:
            out["verdict"] = text("flow.error", src=src, dst=dst, error=error)
            out["verdict_class"] = "verdict error"
    else:
        out["verdict"] = text("flow.pick")
    diagram, data = state.diagram_and_playback(cluster, state.view_of(view, namespace), trace)
    out["figure"] = diagram.figure
    if diagram.overview:
        out["note"] = text("view.overview", nodes=len(cluster.nodes), pods=len(cluster.pods))
    if trace is not None:
        out["playback"] = data
        out["hops"], out["inspector"], out["caption"] = render_trace(trace)
        out["verdict"], out["verdict_class"] = verdict(trace)
        out["badge"], out["badge_class"], out["badge_title"] = nat_badge(trace)
    out["verdict_title"] = out["verdict"]  # the verdict line is clamped to two lines; the tooltip has it all
    return out


__all__ = ["draw_view", "register_callbacks"]
