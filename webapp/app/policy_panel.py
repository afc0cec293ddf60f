"""The inspector's part for a policy hop: the NetworkPolicy that decided, written as its YAML, with the matching
peer and port highlighted — or, when the pod's policies denied the packet, each policy that selects the pod (its
podSelector highlighted) and its rules for that direction, none of which allows it.

`check` is the hop's `policy` (webapp.engine.trace.PolicyCheck): direction, pod, basis, the allowing policy, the
rule reference (`spec.ingress[0].from[1]`), the port reference (`spec.ingress[0].ports[0]`) and the selecting
policies."""

from __future__ import annotations

import re
from typing import Any

from dash import html

from webapp.app.catalog import text
from webapp.model import Cluster, IPBlock, LabelSelector, NetworkPolicy, PolicyPeer, PolicyPort, PolicyType

_RULE = re.compile(r"spec\.(ingress|egress)\[(\d+)\](?:\.(?:from|to)\[(\d+)\])?")
_PORT = re.compile(r"\.ports\[(\d+)\]")

Line = tuple[str, bool]
"""One line of the policy's YAML, and whether it is highlighted (the match)."""


def rule_reference(rule: str, port_rule: str = "") -> tuple[int, int | None, int | None] | None:
    """(rule index, peer index or None, port index or None) of `spec.ingress[0].from[1]` and
    `spec.ingress[0].ports[0]`; None for anything else."""
    found = _RULE.fullmatch(rule)
    if found is None:
        return None
    port = _PORT.search(port_rule)
    peer = found.group(3)
    return int(found.group(2)), int(peer) if peer is not None else None, int(port.group(1)) if port else None


def selector_yaml(selector: LabelSelector) -> str:
    """A label selector on one line, as kubectl would write it in flow style."""
    parts = []
    if selector.match_labels:
        parts.append("matchLabels: {" + ", ".join(f"{k}: {v}" for k, v in selector.match_labels) + "}")
    if selector.match_expressions:
        parts.append("matchExpressions: [" + ", ".join(
            "{key: %s, operator: %s%s}" % (r.key, r.operator, f", values: [{', '.join(r.values)}]" if r.values else "")
            for r in selector.match_expressions) + "]")
    return "{" + ", ".join(parts) + "}"


def _block(block: IPBlock) -> str:
    excepted = f", except: [{', '.join(str(e) for e in block.excepted)}]" if block.excepted else ""
    return f"ipBlock: {{cidr: {block.cidr}{excepted}}}"


def peer_lines(peer: PolicyPeer, indent: str) -> list[str]:
    """One `from`/`to` entry: its selectors (both in one entry: one peer) or its ipBlock."""
    fields = []
    if peer.ip_block is not None:
        fields.append(_block(peer.ip_block))
    if peer.namespace_selector is not None:
        fields.append(f"namespaceSelector: {selector_yaml(peer.namespace_selector)}")
    if peer.pod_selector is not None:
        fields.append(f"podSelector: {selector_yaml(peer.pod_selector)}")
    return [f"{indent}{'- ' if i == 0 else '  '}{field}" for i, field in enumerate(fields or ["{}"])]


def port_line(entry: PolicyPort, indent: str) -> str:
    fields = [] if entry.port is None else [f"port: {entry.port}"]
    if entry.end_port is not None:
        fields.append(f"endPort: {entry.end_port}")
    fields.append(f"protocol: {entry.protocol}")
    return f"{indent}- {{{', '.join(fields)}}}"


def policy_lines(policy: NetworkPolicy, direction: PolicyType, rule: int | None = None, peer: int | None = None,
                 port: int | None = None, selector_matched: bool = False) -> list[Line]:
    """The policy's YAML for one direction: its podSelector, then its rules of that direction (only rule `rule`
    when given, the others summed up), with peer `peer` and port `port` of it highlighted."""
    key, peers_key = ("ingress", "from") if direction == PolicyType.INGRESS else ("egress", "to")
    lines: list[Line] = [(f"# NetworkPolicy {policy.key}", False), ("spec:", False),
                         (f"  podSelector: {selector_yaml(policy.pod_selector)}", selector_matched),
                         (f"  policyTypes: [{', '.join(str(t) for t in policy.policy_types)}]", False)]
    rules = policy.rules(direction)
    if not rules:
        return [*lines, (f"  {key}: []", selector_matched)]
    lines.append((f"  {key}:", False))
    for i, entry in enumerate(rules):
        if rule is not None and i != rule:
            continue
        first = True
        if entry.peers:
            lines.append((f"  - {peers_key}:", False))
            first = False
            for j, found in enumerate(entry.peers):
                lines += [(line, rule is not None and j == peer) for line in peer_lines(found, "    ")]
        if entry.ports:
            lines.append((f"  {'- ' if first else '  '}ports:", False))
            first = False
            lines += [(port_line(found, "    "), rule is not None and k == port) for k, found in enumerate(entry.ports)]
        if first:
            lines.append(("  - {}", rule is not None))
    hidden = len(rules) - 1 if rule is not None else 0
    if hidden:
        lines.append((text("policy.panel.other_rules", count=hidden, direction=key), False))
    return lines


def _yaml(lines: list[Line]) -> html.Pre:
    return html.Pre(className="policy-yaml", children=[
        html.Span(line + "\n", className="match" if matched else None) for line, matched in lines])


def policy_panel(cluster: Cluster, check: Any) -> html.Div | None:
    """The inspector's policy part for a policy hop's `check`, or None when no policy rule is involved."""
    direction = PolicyType.INGRESS if str(check.direction) == "ingress" else PolicyType.EGRESS
    by_key = {p.key: p for p in cluster.network_policies}
    basis = str(check.basis)
    children: list[Any] = []
    if basis == "rule" and check.policy in by_key:
        reference = rule_reference(check.rule, check.port_rule)
        rule, peer, port = reference if reference is not None else (None, None, None)
        children.append(html.H3(text("policy.panel.allowed", policy=check.policy,
                                     reference=" ".join(r for r in (check.rule, check.port_rule) if r))))
        children.append(_yaml(policy_lines(by_key[check.policy], direction, rule, peer, port)))
    elif basis == "default-deny":
        children.append(html.H3(text("policy.panel.denied", pod=check.pod, direction=direction.value.lower())))
        for key in check.selecting:
            if key in by_key:
                children.append(_yaml(policy_lines(by_key[key], direction, selector_matched=True)))
    else:
        return None
    return html.Div(children, className="policy-panel")


__all__ = ["policy_lines", "policy_panel", "rule_reference", "selector_yaml"]
