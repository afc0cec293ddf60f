"""The kube-proxy mode comparison view: the flow on screen traced under iptables, IPVS, nftables and userspace,
side by side — its hops, the rule that decided, each node's rule count, and how many rules the packet is
matched against before its service is found, on the loaded cluster and on it grown to 5,000 services
(webapp.engine.compare, webapp.engine.scale). It opens over the diagram; its ids are declared here."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from webapp.app import state, view_settings
from webapp.app.cache import ClusterCache
from webapp.app.catalog import text
from webapp.app.inspector import hop_label, verdict
from webapp.app.layout import Id as PageId
from webapp.engine.compare import LookupKind, ModeComparison, ScaleLookup, ServiceLookup, compare_modes
from webapp.engine.scale import SCALE_SERVICES, grown
from webapp.model import Cluster, KubeProxyMode
from webapp.variants import ViewSettings


class Id(StrEnum):
    OPEN = "modes-open"
    PANEL = "modes-panel"
    CLOSE = "modes-close"
    BODY = "modes-body"
    SHOW = "modes-show"
    """Pattern id type of the per-mode "show in the diagram" buttons: {"type": SHOW, "mode": "nftables"}."""


HIDDEN, SHOWN = "view-overlay", "view-overlay open"


def open_button() -> html.Button:
    return html.Button(text("modes.open"), id=Id.OPEN, n_clicks=0, className="button view-open")


def panel() -> html.Div:
    """The overlay over the diagram (hidden until opened)."""
    return html.Div(id=Id.PANEL, className=HIDDEN, role="dialog", **{"aria-label": text("modes.title")}, children=[
        html.Div(className="view-bar", children=[
            html.H2(text("modes.title")),
            html.Button(text("view.close"), id=Id.CLOSE, n_clicks=0, className="button"),
        ]),
        dcc.Loading(html.Div(id=Id.BODY, className="modes-body"), type="circle"),
    ])


def lookup_text(mode: KubeProxyMode, lookup: ServiceLookup | None) -> str:
    """How the packet's service is found, in words."""
    if lookup is None:
        return text("modes.lookup.none")
    if lookup.kind == LookupKind.LINEAR:
        return text("modes.lookup.linear", count=lookup.count)
    return text(f"modes.lookup.hash.{mode}", count=lookup.count)


def scale_text(mode: KubeProxyMode, scale: ScaleLookup | None) -> str:
    """The same on the grown cluster: mean and worst over the measured service ports."""
    if scale is None:
        return text("modes.lookup.none")
    if scale.kind == LookupKind.LINEAR:
        return text("modes.scale.linear", mean=f"{scale.mean:,.0f}", worst=f"{scale.worst:,}",
                    sampled=scale.sampled, ports=f"{scale.service_ports:,}")
    return text(f"modes.scale.hash.{mode}", worst=scale.worst, ports=f"{scale.service_ports:,}")


def _hops(row: ModeComparison) -> html.Ol:
    return html.Ol(className="mode-hops", start=0, children=[
        html.Li(hop_label(hop), className="decided" if hop is row.decided else hop.action)
        for hop in row.trace.hops])


ALL_NODES_UP_TO = 8
"""Rules are counted on every node of a cluster this small; on a bigger one, on the nodes the flow passes."""


def comparison(cluster: Cluster, src: str, dst: str) -> list[Any]:
    """The view's body for `src` → `dst` on `cluster` (the what-if settings applied, the mode aside)."""
    nodes = None
    if len(cluster.nodes) > ALL_NODES_UP_TO:
        nodes = state.path_nodes(state.trace(cluster, src, dst)) or {cluster.nodes[0].name}
    rows = compare_modes(cluster, src, dst, scale=grown(cluster), nodes=nodes)
    header = html.Tr([html.Th(""), *[html.Th([
        html.Div(text(f"settings.mode.{row.mode}")),
        html.Button(text("modes.show"), n_clicks=0, className="button", id={"type": Id.SHOW, "mode": str(row.mode)}),
    ], className=f"mode {row.mode}", **{"data-mode": str(row.mode)}) for row in rows]])

    def line(key: str, cells: list[Any], name: str) -> html.Tr:
        label = text(key, services=f"{SCALE_SERVICES:,}")
        return html.Tr([html.Th(label), *[html.Td(cell, className=name) for cell in cells]], **{"data-row": name})

    body = [
        line("modes.row.outcome", [verdict(row.trace)[0] for row in rows], "outcome"),
        line("modes.row.lookup", [lookup_text(row.mode, row.lookup) for row in rows], "lookup"),
        line("modes.row.scale", [scale_text(row.mode, row.scale) for row in rows], "scale"),
        line("modes.row.rules", [html.Ul([html.Li(text("modes.node_rules", node=node, count=count))
                                          for node, count in row.rules_per_node], className="node-rules")
                                 for row in rows], "rules"),
        line("modes.row.decided", [html.Code(row.decided.rule or hop_label(row.decided)) if row.decided is not None
                                   else text("modes.decided.none") for row in rows], "decided"),
        line("modes.row.hops", [[html.Div(text("modes.hops", count=len(row.trace.hops))), _hops(row)]
                                for row in rows], "hops"),
    ]
    return [
        html.P(text("modes.flow", src=src, dst=dst), className="view-flow"),
        html.P(text("modes.about", services=f"{SCALE_SERVICES:,}"), className="note"),
        html.Table(className="modes-table", children=[html.Thead(header), html.Tbody(body)]),
    ]


def body(cache: ClusterCache, key: str | None, src: str | None, dst: str | None,
         settings: ViewSettings) -> list[Any] | str:
    """The comparison for the page's cluster and flow, or what is missing."""
    loaded = cache.get(key)
    if loaded is None:
        return text("cache.expired")
    if not (src and dst):
        return text("flow.pick")
    cluster = state.variant(key, loaded, settings)
    try:
        return comparison(cluster, src, dst)
    except ValueError as error:
        return text("flow.error", src=src, dst=dst, error=error)


def register(app: Dash, cache: ClusterCache) -> None:
    @app.callback(
        output=[Output(Id.PANEL, "className"), Output(Id.BODY, "children")],
        inputs={"_open": Input(Id.OPEN, "n_clicks"), "_close": Input(Id.CLOSE, "n_clicks"),
                "key": Input(PageId.CLUSTER_KEY, "data"), "src": Input(PageId.FLOW_SRC, "value"),
                "dst": Input(PageId.FLOW_DST, "value"),
                # every setting but the mode: the view shows each mode
                "settings": view_settings.inputs("overlay", "policy", "down", "plugin", "policies_off")},
        state={"shown": State(Id.PANEL, "className")},
        prevent_initial_call=True,
    )
    def show(_open, _close, key, src, dst, settings, shown):
        """Open (computing the comparison), close, or follow the flow and settings while open."""
        if ctx.triggered_id == Id.CLOSE:
            return HIDDEN, no_update
        if ctx.triggered_id != Id.OPEN and shown != SHOWN:
            raise PreventUpdate
        return SHOWN, body(cache, key, src, dst, view_settings.of(settings))

    @app.callback(
        Output(PageId.MODE, "value", allow_duplicate=True),
        Output(Id.PANEL, "className", allow_duplicate=True),
        Input({"type": Id.SHOW, "mode": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def show_mode(clicks):
        """A mode's button: the diagram in that mode (the what-if picker takes it), the view closed."""
        if not ctx.triggered_id or not any(clicks):
            raise PreventUpdate
        return ctx.triggered_id["mode"], HIDDEN


__all__ = ["Id", "body", "comparison", "open_button", "panel", "register"]
