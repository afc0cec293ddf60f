"""The hop list, the per-hop packet inspector panels and captions, rendered once per trace from
`Trace.to_dict()`. The browser shows the current hop's panel (class `current`, set by assets/netviz.js)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dash import html

from webapp.app.catalog import text

Hop = Mapping[str, Any]
_TRACKED = ("src", "dst", "proto")


def hop_ref(phase: str, index: int) -> str:
    """The `data-hop` value of one hop: `q3` for request hop 3, `r0` for reply hop 0."""
    return f"{'q' if phase == 'request' else 'r'}{index}"


def _where(hop: Hop) -> str:
    netns = str(hop.get("netns") or "")
    node = hop.get("node")
    return f"{node} · {netns}" if node else netns or text("inspector.outside")


def _headers_table(fields: Sequence[tuple[str, str, bool]]) -> html.Table:
    return html.Table(className="headers", children=[html.Tbody([
        html.Tr([html.Th(name), html.Td(value, className="changed" if changed else None)])
        for name, value, changed in fields
    ])])


def hop_panel(hop: Hop, previous: Hop | None, ref: str) -> html.Div:
    """The inspector panel of one hop: where, inner and outer headers, NAT, rule, candidate endpoints."""
    packet = hop.get("packet") or {}
    before = (previous or {}).get("packet") or {}
    children: list[Any] = [html.Div(text("inspector.where", kind=hop.get("kind"), action=hop.get("action"),
                                         device=hop.get("device") or "-", where=_where(hop)), className="where")]
    children.append(html.H3(text("inspector.inner")))
    children.append(_headers_table([(name, str(packet.get(name)), bool(before) and before.get(name) != packet.get(name))
                                    for name in _TRACKED]))
    outer = packet.get("outer")
    if outer:
        was_outer = before.get("outer") or {}
        children.append(html.H3(text("inspector.outer")))
        children.append(_headers_table([(name, str(outer.get(name)), was_outer.get(name) != outer.get(name))
                                        for name in ("src", "dst", "proto", "vni")]))
    changes = [(name, str(before.get(name)), str(packet.get(name))) for name in ("src", "dst")
               if before and before.get(name) != packet.get(name)]
    if changes:
        children.append(html.H3(text("inspector.nat")))
        children.append(html.Ul(className="nat-changes", children=[
            html.Li([html.Span(name, className="field-name"), " ", html.Span(old, className="before"), " → ",
                     html.Span(new, className="after changed")]) for name, old, new in changes]))
    if hop.get("rule"):
        children.append(html.H3(text("inspector.rule")))
        children.append(html.Code(str(hop["rule"]), className="rule"))
    alternatives = hop.get("alternatives") or []
    if alternatives:
        # iptables names one KUBE-SEP chain per endpoint; IPVS and userspace name the one virtual server for all,
        # which is said once under the table instead of on every row.
        rules = {str(alt.get("rule") or "") for alt in alternatives}
        shared = rules.pop() if len(rules) == 1 else None
        children.append(html.H3(text("inspector.alternatives")))
        children.append(html.Table(className="alternatives", children=[html.Tbody([
            html.Tr(className="chosen" if alt.get("chosen") else None, children=[
                html.Td(str(alt.get("dst"))),
                html.Td(f"{float(alt.get('probability', 0)) * 100:.1f} %", className="probability"),
                html.Td(text("inspector.chosen") if alt.get("chosen") else ""),
                *([] if shared is not None else [html.Td(html.Code(str(alt.get("rule") or "")))]),
            ]) for alt in alternatives])]))
        if shared:
            children.append(html.Div([text("inspector.alternatives.shared"), " ", html.Code(shared)],
                                     className="note shared-rule"))
    return html.Div(children, className="hop-panel", **{"data-hop": ref})


def hop_label(hop: Hop) -> str:
    node = hop.get("node") or text("inspector.outside")
    return f"{node} {hop.get('device') or ''} · {hop.get('kind')}/{hop.get('action')}"


def render_trace(trace: Mapping[str, Any]) -> tuple[list, list, list]:
    """(hop list, inspector panels, captions) of a trace dict."""
    items: list[Any] = []
    panels: list[Any] = []
    captions: list[Any] = []
    for phase, hops in (("request", trace.get("hops") or []), ("reply", trace.get("reply") or [])):
        if not hops:
            continue
        rows = []
        for index, hop in enumerate(hops):
            ref = hop_ref(phase, index)
            rows.append(html.Li(html.Button(hop_label(hop), className="hop", **{"data-hop": ref}),
                                className=f"hop-item {hop.get('action')}"))
            panels.append(hop_panel(hop, hops[index - 1] if index else None, ref))
            captions.append(html.P(str(hop.get("explain") or hop_label(hop)), className="hop-caption",
                                   **{"data-hop": ref}))
        items.append(html.H3(text(f"hops.{phase}"), className=f"phase {phase}"))
        items.append(html.Ol(rows, className=f"hop-list {phase}", start=0))
    return items, panels, captions


def nat_badge(trace: Mapping[str, Any]) -> tuple[str, str, str]:
    """(badge text, css class, full list for the tooltip) for the seed's no-NAT principles: the request's own
    address changes; a port-only rewrite keeps the addresses and is only listed in the tooltip."""
    changes = [c for c in trace.get("nat") or [] if not c.get("reply")]
    ports = [c for c in trace.get("port_rewrites") or [] if not c.get("reply")]
    summary = "; ".join([f"{c['field']} {c['before']} → {c['after']}" for c in changes]
                        + [text("badge.port_only", change=f"{c['field']} {c['before']} → {c['after']}") for c in ports])
    if not changes:
        return text("badge.no_nat"), "badge ok", summary
    return text("badge.nat", count=len(changes)), "badge nat", summary


def verdict(trace: Mapping[str, Any]) -> tuple[str, str]:
    disposition = str(trace.get("disposition"))
    key = f"verdict.{disposition}"
    reason = trace.get("reason") or ""
    return text(key, reason=reason) if disposition != "delivered" else text(key), f"verdict {disposition}"
