"""The NetworkPolicy reachability matrix view: pods × pods, grouped by namespace, for one port and protocol —
allowed, denied, or denied but not enforced by the network plugin (webapp.engine.policy_matrix,
webapp.figures.matrix). Clicking a cell traces that pair in the diagram. What-ifs: the page's network plugin and
policies switched off apply; NetworkPolicies uploaded here are added to the cluster (a new cluster in the cache,
which the diagram then traces), and the matrix frames the cells that changed against the cluster before them.
It opens over the diagram; its ids are declared here."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any, Mapping

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from webapp.app import state, view_settings
from webapp.app.cache import ClusterCache, cache_key
from webapp.app.catalog import text
from webapp.app.layout import Id as PageId
from webapp.engine.policy_matrix import CellState, PolicyMatrix, policy_matrix
from webapp.engine.specs import End, Spec, SpecKind, parse_spec
from webapp.figures.matrix import matrix_figure
from webapp.model import Cluster, NetworkPolicy, Protocol
from webapp.problems import Severity
from webapp.variants import ViewSettings, policy_keys


class Id(StrEnum):
    OPEN = "matrix-open"
    PANEL = "matrix-panel"
    CLOSE = "matrix-close"
    PORT = "matrix-port"
    PROTO = "matrix-proto"
    NAMESPACE = "matrix-namespace"
    SUMMARY = "matrix-summary"
    GRAPH = "matrix-graph"
    UPLOAD = "matrix-upload"
    UPLOAD_STATUS = "matrix-upload-status"
    CLEAR = "matrix-clear"
    ADDED = "matrix-added"
    """Store: `{"base": key, "derived": key, "policies": [...]}` after policies were added to cluster `base`."""


HIDDEN, SHOWN = "view-overlay", "view-overlay open"
MAX_PODS = 60
"""At most this many pods in one grid; beyond, the view asks for a namespace."""
POLICY_UPLOAD_BYTES = 1_000_000
GRAPH_CONFIG = {"displayModeBar": False, "displaylogo": False, "responsive": False}


def open_button() -> html.Button:
    return html.Button(text("matrix.open"), id=Id.OPEN, n_clicks=0, className="button view-open")


def panel() -> html.Div:
    """The overlay over the diagram (hidden until opened)."""
    protocols = [{"label": str(p), "value": str(p)} for p in Protocol]
    return html.Div(id=Id.PANEL, className=HIDDEN, role="dialog", **{"aria-label": text("matrix.title")}, children=[
        html.Div(className="view-bar", children=[
            html.H2(text("matrix.title")),
            html.Button(text("view.close"), id=Id.CLOSE, n_clicks=0, className="button"),
        ]),
        html.Div(className="matrix-body", children=[
            dcc.Loading(dcc.Graph(id=Id.GRAPH, config=GRAPH_CONFIG, className="matrix-graph",
                                  figure={"data": [], "layout": {"xaxis": {"visible": False},
                                                                 "yaxis": {"visible": False}, "height": 120}}),
                        type="circle", parent_className="matrix-graph-frame"),
            html.Div(className="matrix-side", children=[
                html.Div(className="matrix-controls", children=[
                    html.Label([html.Span(text("matrix.port"), className="label"),
                                dcc.Input(id=Id.PORT, type="number", min=1, max=65535, step=1, debounce=True,
                                          className="matrix-port")], className="field narrow"),
                    html.Div([html.Span(text("matrix.proto"), className="label"),
                              dcc.RadioItems(id=Id.PROTO, options=protocols, value=str(Protocol.TCP), inline=True)],
                             className="field narrow"),
                    html.Label([html.Span(text("matrix.namespace"), className="label"),
                                dcc.Dropdown(id=Id.NAMESPACE, placeholder=text("view.namespace.all"))],
                               className="field"),
                ]),
                html.Div(id=Id.SUMMARY, className="matrix-summary"),
                html.Div(className="matrix-add", children=[
                    dcc.Upload(id=Id.UPLOAD, multiple=True, max_size=POLICY_UPLOAD_BYTES,
                               accept=".yaml,.yml,.json", className="upload", children=html.Div(text("matrix.upload"))),
                    html.Button(text("matrix.clear"), id=Id.CLEAR, n_clicks=0, className="button"),
                ]),
                html.Div(id=Id.UPLOAD_STATUS, className="matrix-upload-status", role="status"),
            ]),
        ]),
        dcc.Store(id=Id.ADDED),
    ])


# --- what the view computes (plain functions: the callbacks only route) ---------------------------------------


def default_port(cluster: Cluster, dst: str | None) -> int:
    """The port the matrix opens on: the flow's destination port when it names one by number, else the first
    port a policy names by number, else the first port a pod declares, else 80."""
    try:
        spec = parse_spec(dst, End.DESTINATION) if dst else None
    except ValueError:
        spec = None
    if spec is not None and spec.kind in (SpecKind.POD, SpecKind.ADDRESS) and spec.port.isdigit():
        return int(spec.port)
    for policy in cluster.network_policies:
        for rule in (*policy.ingress, *policy.egress):
            for entry in rule.ports:
                if isinstance(entry.port, int):
                    return entry.port
    declared = [p.container_port for pod in cluster.pods for c in pod.containers for p in c.ports]
    return declared[0] if declared else 80


def active_base(added: Mapping[str, Any] | None, key: str | None) -> str | None:
    """The cluster key policies were added to, while the page shows the cluster with them."""
    if added and key and added.get("derived") == key and isinstance(added.get("base"), str):
        return added["base"]
    return None


def matrices(cache: ClusterCache, key: str, added: Mapping[str, Any] | None, settings: ViewSettings, port: int,
             proto: str, namespace: str | None) -> tuple[Cluster, PolicyMatrix, PolicyMatrix | None]:
    """The cluster on screen with its what-ifs, its matrix, and the matrix before the policy what-ifs (every
    policy on, none added) when there are some."""
    cluster = state.variant(key, cache.get(key), settings)
    matrix = policy_matrix(cluster, port, proto, namespace)
    base = active_base(added, key)
    before_key = base if base is not None and cache.get(base) is not None else key
    if before_key == key and not settings.policies_off:
        return cluster, matrix, None
    before_settings = dataclasses.replace(settings, policies_off=frozenset())
    before = state.variant(before_key, cache.get(before_key), before_settings)
    return cluster, matrix, policy_matrix(before, port, proto, namespace)


def summary(matrix: PolicyMatrix, changed: int | None) -> list[Any]:
    """The lines above the grid: port, enforcement and counts, the legend, what changed, what a click does."""
    counts = matrix.counts()
    enforcement = text("matrix.enforced" if matrix.enforced else "matrix.not_enforced", plugin=matrix.plugin)
    lines: list[Any] = [
        html.Div(text("matrix.summary", port=matrix.port, proto=matrix.protocol, pods=len(matrix.pods),
                      allowed=counts[CellState.ALLOWED], denied=counts[CellState.DENIED],
                      not_enforced=counts[CellState.NOT_ENFORCED]), className="matrix-counts"),
        html.Div(enforcement, className="matrix-enforcement " + ("enforced" if matrix.enforced else "not-enforced")),
        html.Div(className="matrix-legend", children=[
            html.Span(text(f"matrix.legend.{state_}"), className=f"legend {state_}") for state_ in CellState]
            + ([html.Span(text("matrix.legend.changed"), className="legend changed")] if changed is not None else [])),
    ]
    if changed is not None:
        lines.append(html.Div(text("matrix.changed", count=changed), className="matrix-changed"))
    lines.append(html.Div(text("matrix.click", port=matrix.port), className="note"))
    if matrix.protocol != Protocol.TCP:
        lines.append(html.Div(text("matrix.click.protocol", proto=matrix.protocol), className="note"))
    return lines


def view(cache: ClusterCache, key: str | None, added: Mapping[str, Any] | None, settings: ViewSettings,
         port: int, proto: str, namespace: str | None) -> tuple[dict[str, Any], list[Any] | str]:
    """(figure, summary) of the view."""
    empty = {"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False}, "height": 120}}
    if cache.get(key) is None:
        return empty, text("cache.expired")
    cluster, matrix, before = matrices(cache, key, added, settings, port, proto, namespace)
    if not matrix.pods:
        return empty, text("matrix.no_pods")
    if len(matrix.pods) > MAX_PODS:
        return empty, text("matrix.too_many", pods=len(matrix.pods), max=MAX_PODS)
    drawn = matrix_figure(cluster, matrix, before)
    return drawn.figure, summary(matrix, len(drawn.changed) if before is not None else None)


def cell_request(click: Mapping[str, Any] | None, port: int, cluster: Cluster | None) -> dict[str, str] | None:
    """The flow a click on a cell asks for: the source pod to the destination pod on the matrix's port (None for
    a pod to itself, or pods the cluster does not hold)."""
    points = (click or {}).get("points") or [{}]
    pair = points[0].get("customdata")
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)) or pair[0] == pair[1]:
        return None
    pods = cluster.pod_by_key if cluster is not None else {}
    if pair[0] not in pods or pair[1] not in pods:
        return None
    return {"src": str(Spec.of_pod(pods[pair[0]])), "dst": str(Spec.to_pod(pods[pair[1]], port))}


def merged(cluster: Cluster, extra: tuple[NetworkPolicy, ...]) -> Cluster:
    """`cluster` with `extra` applied (a policy of the same namespace/name replaces the one there), in
    namespace/name order."""
    kept = {p.key: p for p in cluster.network_policies}
    kept.update({p.key: p for p in extra})
    ordered = tuple(sorted(kept.values(), key=lambda p: (p.namespace, p.name)))
    return dataclasses.replace(cluster, network_policies=ordered)


def add_policies(cache: ClusterCache, key: str | None, added: Mapping[str, Any] | None,
                 contents: list[str] | None, filenames: list[str] | None) -> dict[str, Any]:
    """Uploaded NetworkPolicies added to the cluster on screen (or to the one policies were already added to):
    `{"key", "added", "status", "policies"}`; only `status` when nothing was added."""
    from webapp.loaders import load_sources

    cluster = cache.get(key)
    if cluster is None or key is None:
        return {"status": text("cache.expired")}
    base = active_base(added, key) or key
    sources, problems = [], []
    for content, filename in zip(contents or [], filenames or []):
        data, error = state.decode_upload(content, filename, POLICY_UPLOAD_BYTES)
        if error:
            problems.append(error)
        else:
            sources.append((filename, data))
    if problems or not sources:
        return {"status": problems or text("upload.empty")}
    result = load_sources(sources, max_bytes=POLICY_UPLOAD_BYTES)
    errors = [f"{p.file}:{p.line}:{p.col}: {p.message}" for p in result.problems if p.severity == Severity.ERROR]
    if errors or result.cluster is None:
        return {"status": errors}
    extra = result.cluster.network_policies
    if not extra:
        return {"status": text("matrix.added.none", files=", ".join(name for name, _ in sources))}
    earlier = set((added or {}).get("policies") or ()) if base != key else set()
    previous = tuple(p for p in cluster.network_policies if p.key in earlier)
    derived_key = cache_key([("netviz-added-policies", key.encode()), *sources])
    derived = merged(cache.get(base) or cluster, (*previous, *extra))
    cache.put(derived_key, derived)
    names = sorted({*(p.key for p in previous), *(p.key for p in extra)})
    return {"key": derived_key, "added": {"base": base, "derived": derived_key, "policies": names},
            "status": text("matrix.added", count=len(names), names=", ".join(names)),
            "policies": list(policy_keys(derived))}


def register(app: Dash, cache: ClusterCache) -> None:
    @app.callback(
        output=[Output(Id.PANEL, "className"), Output(Id.GRAPH, "figure"), Output(Id.SUMMARY, "children"),
                Output(Id.PORT, "value"), Output(Id.NAMESPACE, "options"), Output(Id.GRAPH, "clickData"),
                Output(PageId.FLOW_REQUEST, "data")],
        inputs={"_open": Input(Id.OPEN, "n_clicks"), "_close": Input(Id.CLOSE, "n_clicks"),
                "click": Input(Id.GRAPH, "clickData"), "port": Input(Id.PORT, "value"),
                "proto": Input(Id.PROTO, "value"), "namespace": Input(Id.NAMESPACE, "value"),
                "added": Input(Id.ADDED, "data"), "key": Input(PageId.CLUSTER_KEY, "data"),
                # the settings that change who may reach whom
                "settings": view_settings.inputs("plugin", "policies_off")},
        state={"shown": State(Id.PANEL, "className"), "dst": State(PageId.FLOW_DST, "value")},
        prevent_initial_call=True,
    )
    def show(_open, _close, click, port, proto, namespace, added, key, settings, shown, dst):
        """Open (computing the matrix), close, trace a clicked cell, or follow the settings while open."""
        keep = (no_update,) * 4
        if ctx.triggered_id == Id.CLOSE:
            return HIDDEN, *keep, None, no_update
        if ctx.triggered_id == Id.GRAPH:
            request = cell_request(click, port, cache.get(key)) if isinstance(port, int) else None
            if request is None:
                raise PreventUpdate
            return HIDDEN, *keep, None, request
        if ctx.triggered_id != Id.OPEN and shown != SHOWN:
            raise PreventUpdate
        cluster = cache.get(key)
        if cluster is None:
            return SHOWN, no_update, text("cache.expired"), no_update, no_update, None, no_update
        if not isinstance(port, int) or not 1 <= port <= 65535:
            port = default_port(cluster, dst)
        namespaces = [{"label": n, "value": n} for n in sorted({p.namespace for p in cluster.pods})]
        if namespace not in {o["value"] for o in namespaces}:
            namespace = None
        figure, lines = view(cache, key, added, view_settings.of(settings), port, proto or str(Protocol.TCP),
                             namespace)
        return SHOWN, figure, lines, port, namespaces, None, no_update

    @app.callback(
        Output(PageId.CLUSTER_KEY, "data", allow_duplicate=True),
        Output(Id.ADDED, "data"),
        Output(Id.UPLOAD_STATUS, "children"),
        Output(PageId.POLICIES_OFF, "options", allow_duplicate=True),
        Output(PageId.SAMPLE, "value", allow_duplicate=True),
        Input(Id.UPLOAD, "contents"),
        Input(Id.CLEAR, "n_clicks"),
        State(Id.UPLOAD, "filename"),
        State(PageId.CLUSTER_KEY, "data"),
        State(Id.ADDED, "data"),
        prevent_initial_call=True,
    )
    def add(contents, _clear, filenames, key, added):
        """Add uploaded policies (the page then shows the cluster with them), or go back to the cluster before."""
        if ctx.triggered_id == Id.CLEAR:
            base = active_base(added, key)
            if base is None or cache.get(base) is None:
                return no_update, None, "", no_update, no_update
            return base, None, "", [{"label": k, "value": k} for k in policy_keys(cache.get(base))], no_update
        done = add_policies(cache, key, added, contents, filenames)
        status = done["status"]
        if isinstance(status, list):
            status = html.Ul([html.Li(line, className="problem error") for line in status], className="problems")
        if "key" not in done:
            return no_update, no_update, status, no_update, no_update
        # the page now shows a cluster of its own (no sample's): the URL names it by its key
        return done["key"], done["added"], status, [{"label": k, "value": k} for k in done["policies"]], None


__all__ = ["Id", "add_policies", "cell_request", "default_port", "matrices", "open_button", "panel", "register",
           "view"]
