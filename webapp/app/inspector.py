"""The hop list, the per-hop packet inspector panels and captions, rendered once per `Trace`. The browser shows
the current hop's panel (class `current`, set by assets/netviz.js)."""

from __future__ import annotations

from typing import Any, Sequence

from dash import html

from webapp.app.catalog import text
from webapp.app.policy_panel import policy_panel
from webapp.engine.trace import Disposition, Hop, NatChange, Trace
from webapp.lessons.principles import hop_badges
from webapp.model import Cluster

_TRACKED = ("src", "dst", "proto")


def hop_ref(phase: str, index: int) -> str:
    """The `data-hop` value of one hop: `q3` for request hop 3, `r0` for reply hop 0."""
    return f"{'q' if phase == 'request' else 'r'}{index}"


def _where(hop: Hop) -> str:
    return f"{hop.node} · {hop.netns}" if hop.node else hop.netns or text("inspector.outside")


def _headers_table(fields: Sequence[tuple[str, str, bool]]) -> html.Table:
    return html.Table(className="headers", children=[html.Tbody([
        html.Tr([html.Th(name), html.Td(value, className="changed" if changed else None)])
        for name, value, changed in fields
    ])])


def hop_panel(hop: Hop, previous: Hop | None, ref: str, cluster: Cluster | None = None,
              rewrites: Sequence[NatChange] | None = None) -> html.Div:
    """The inspector panel of one hop: where, inner and outer headers, NAT (what this hop itself rewrote:
    `rewrites` from `hop_badges`, where a DNS answer or a new connection is a new packet, not a translation; without
    them, what differs from `previous`), rule, candidate endpoints; on a policy hop (with the `cluster`), the
    NetworkPolicy that decided with the matching peer and port highlighted."""
    packet = hop.packet
    before = previous.packet if previous is not None else None
    children: list[Any] = [html.Div(text("inspector.where", kind=hop.kind, action=hop.action,
                                         device=hop.device or "-", where=_where(hop)), className="where")]
    children.append(html.H3(text("inspector.inner")))
    children.append(_headers_table([(name, str(getattr(packet, name)),
                                     before is not None and getattr(before, name) != getattr(packet, name))
                                    for name in _TRACKED]))
    outer = packet.outer
    if outer:
        was_outer = before.outer if before is not None else None
        children.append(html.H3(text("inspector.outer")))
        children.append(_headers_table([(name, str(getattr(outer, name)),
                                         was_outer is None or getattr(was_outer, name) != getattr(outer, name))
                                        for name in ("src", "dst", "proto", "vni")]))
    if rewrites is None:
        changes = [(name, str(getattr(before, name)), str(getattr(packet, name))) for name in ("src", "dst")
                   if before is not None and getattr(before, name) != getattr(packet, name)]
    else:
        changes = [(change.field, change.before, change.after) for change in rewrites]
    if changes:
        children.append(html.H3(text("inspector.nat")))
        children.append(html.Ul(className="nat-changes", children=[
            html.Li([html.Span(name, className="field-name"), " ", html.Span(old, className="before"), " → ",
                     html.Span(new, className="after changed")]) for name, old, new in changes]))
    if hop.rule:
        children.append(html.H3(text("inspector.rule")))
        children.append(html.Code(hop.rule, className="rule"))
    check = getattr(hop, "policy", None)
    if check is not None and cluster is not None:
        children.append(policy_panel(cluster, check))
    if hop.alternatives:
        # iptables names one KUBE-SEP chain per endpoint; IPVS and userspace name the one virtual server for all,
        # which is said once under the table instead of on every row.
        rules = {alt.rule for alt in hop.alternatives}
        shared = rules.pop() if len(rules) == 1 else None
        children.append(html.H3(text("inspector.alternatives")))
        children.append(html.Table(className="alternatives", children=[html.Tbody([
            html.Tr(className="chosen" if alt.chosen else None, children=[
                html.Td(str(alt.dst)),
                html.Td(f"{round(alt.probability, 10) * 100:.1f} %", className="probability"),
                html.Td(text("inspector.chosen") if alt.chosen else ""),
                *([] if shared is not None else [html.Td(html.Code(alt.rule))]),
            ]) for alt in hop.alternatives])]))
        if shared:
            children.append(html.Div([text("inspector.alternatives.shared"), " ", html.Code(shared)],
                                     className="note shared-rule"))
    return html.Div(children, className="hop-panel", **{"data-hop": ref})


def hop_label(hop: Hop) -> str:
    """`eth0 · pod/default/api-1 · interface/send`: the device with whose namespace it is in (a pod's `eth0` and a
    host's look alike otherwise)."""
    return f"{hop.device or '-'} · {hop.netns or text('inspector.outside')} · {hop.kind}/{hop.action}"


def render_trace(trace: Trace, cluster: Cluster | None = None) -> tuple[list, list, list]:
    """(hop list, inspector panels, captions) of a trace (of `cluster`, for the policy hops' policies)."""
    items: list[Any] = []
    panels: list[Any] = []
    captions: list[Any] = []
    for phase, hops in (("request", trace.hops), ("reply", trace.reply)):
        if not hops:
            continue
        rows = []
        for index, hop in enumerate(hops):
            ref = hop_ref(phase, index)
            rows.append(html.Li(html.Button(hop_label(hop), className="hop", **{"data-hop": ref}),
                                className=f"hop-item {hop.action}"))
            badges = hop_badges(trace, index, reply=phase == "reply")
            panels.append(hop_panel(hop, hops[index - 1] if index else None, ref, cluster, badges.rewrites))
            said = hop.explain or hop_label(hop)
            if badges.verdict is not None and trace.reason and said == trace.reason:
                said = ""  # the verdict line above already says it, in full: never print it twice
            captions.append(html.P(said, className="hop-caption", **{"data-hop": ref}))
        items.append(html.H3(text(f"hops.{phase}"), className=f"phase {phase}"))
        items.append(html.Ol(rows, className=f"hop-list {phase}", start=0))
    return items, panels, captions


def nat_badge(trace: Trace) -> tuple[str, str, str]:
    """(badge text, css class, full list for the tooltip) for the seed's no-NAT principles: the request's own
    address changes; a port-only rewrite keeps the addresses and is only listed in the tooltip."""
    changes = trace.nat
    ports = [c for c in trace.port_rewrites if not c.reply]
    summary = "; ".join([f"{c.field} {c.before} → {c.after}" for c in changes]
                        + [text("badge.port_only", change=f"{c.field} {c.before} → {c.after}") for c in ports])
    if getattr(trace, "disposition", Disposition.DELIVERED) != Disposition.DELIVERED:  # never arrived: nothing holds
        return text("badge.not_delivered"), "badge dropped", summary
    if not changes:
        return text("badge.no_nat"), "badge ok", summary
    return text("badge.nat", count=len(changes)), "badge nat", summary


def verdict(trace: Trace) -> tuple[str, str]:
    key = f"verdict.{trace.disposition}"
    if trace.disposition == Disposition.DELIVERED:
        return text(key), f"verdict {trace.disposition}"
    return text(key, reason=trace.reason or ""), f"verdict {trace.disposition}"


def legend() -> html.Div:
    """What an overview's colours say (webapp/figures/overview.py): the share of pods not ready, NotReady nodes."""
    from webapp.figures.overview import legend_entries

    items = [html.Li([html.Span(className="swatch", style={"background": fill, "borderColor": border,
                                                            "borderWidth": "3px" if key.endswith("group_not_ready")
                                                            else "1px"}),
                      text(key)], **{"data-key": key}) for fill, border, key in legend_entries()]
    return html.Div([html.Div(text("legend.title"), className="legend-title"), html.Ul(items)])
