"""The policy hop: what the enforcing plugin's per-pod filter chains (webapp.engine.policy_rules) decided for a
packet, read from the rules netfilter's evaluator applied, as one hop per pod chain the packet passed.

The walk runs a node's whole ruleset — Felix's chains first in filter FORWARD and INPUT, then kube-proxy's and
flannel's — through webapp.engine.netfilter. This module turns the evaluator's record of the rules it applied
(`HookOutcome.trail`) into hops: for each `cali-fw-<veth>` (the source pod's egress, on the host side of its
veth) and `cali-tw-<veth>` (the destination pod's ingress) the packet entered, the rule that decided — an
accepting policy rule (its comment names the policy and the rule), the namespace profile (no policy selects the
pod), the final drop (selected, no rule allows it), or conntrack's ESTABLISHED accept on a reply.

On a plugin that enforces nothing (flannel) there are no such chains; `unenforced_notes` says what they would
have denied at the same places, for the trace's notes.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from webapp.engine.memo import cluster_cached
from webapp.engine.netfilter import Hook, HookOutcome, Matched, PacketContext, Ruleset, traverse
from webapp.engine.policy import (
    Basis, Decision, Direction, DirectionVerdict, Party, decide_rules, hop_explain, narrate, not_enforced_note,
    party, reply_explain, selecting_policies,
)
from webapp.engine.policy_rules import FORWARD_CHAIN, NodePolicyRules, render_policy_rules, rule_meta
from webapp.engine.trace import Action, Hop, HopKind, Netns, Packet, PolicyCheck
from webapp.model import Cluster, Pod, Protocol
from webapp.narration import say

POLICY_HOOKS = (Hook.FORWARD, Hook.INPUT)
"""The hooks where the plugin's chains sit (filter FORWARD for pod traffic, INPUT for a pod reaching its node)."""
ENDPOINT_PREFIXES = ("cali-fw-", "cali-tw-")
PROFILE_PREFIXES = ("cali-pri-", "cali-pro-")
_OWN_CHAINS = tuple(f"filter -A {p}" for p in (*ENDPOINT_PREFIXES, *PROFILE_PREFIXES, "cali-pi-", "cali-po-"))
"""Hop rules of the plugin's endpoint, profile and policy chains: replaced by the policy hop."""
ESTABLISHED = "established"


def node_policy_rules(cluster: Cluster, node: str) -> NodePolicyRules:
    """The plugin's chains on `node` (cached)."""
    return cluster_cached(cluster, f"policy-rules/{node}", lambda: render_policy_rules(cluster, node))


def policy_hops(cluster: Cluster, node: str, outcome: HookOutcome) -> tuple[tuple[Hop, ...], str | None]:
    """The hook's hops with the plugin's own replaced by one policy hop per pod chain the packet passed, and the
    reason to give when a pod chain dropped it (else the outcome's own)."""
    checks = [check for check in (_check(cluster, node, outcome.packet, chain, matched)
                                  for chain, matched in _by_endpoint(outcome.trail)) if check is not None]
    if not checks:
        return outcome.hops, outcome.reason
    kept: list[Hop] = []
    at = None
    for hop in outcome.hops:
        if hop.rule.startswith(_OWN_CHAINS):
            at = len(kept) if at is None else at
            continue
        kept.append(hop)
    at = len(kept) if at is None else at
    hops = tuple(kept[:at]) + tuple(hop for hop, _ in checks) + tuple(kept[at:])
    denied = next((verdict for hop, verdict in checks if not verdict.allowed), None)
    return hops, denied.reason if denied is not None else outcome.reason


def reply_hops(cluster: Cluster, node: str, ruleset: Ruleset, hook: Hook, packet: Packet, in_dev: str | None,
               out_dev: str | None) -> tuple[Hop, ...]:
    """A reply at `hook`: the pod chains it passes accept it as ESTABLISHED (conntrack), before any policy."""
    outcome = traverse(ruleset, hook, PacketContext(packet, node, in_dev, out_dev, ctstate="ESTABLISHED"))
    hops = []
    for chain, matched in _by_endpoint(outcome.trail):
        accepted = next((m.rule for m in matched if m.rule.chain == chain and m.rule.target == "ACCEPT"
                         and m.rule.ctstate is not None and "ESTABLISHED" in m.rule.ctstate[0]), None)
        pod = _endpoint_pod(cluster, node, chain)
        if accepted is None or pod is None:
            continue
        device = chain[len(ENDPOINT_PREFIXES[0]):]
        check = PolicyCheck(str(_direction(chain)), pod.key, True, ESTABLISHED, reason=say("policy.established"))
        hops.append(Hop(node, str(Netns.host(node)), device, HopKind.POLICY, Action.FORWARD, packet,
                        f"filter {accepted.text}", reply_explain(chain, device), policy=check))
    return tuple(hops)


def unenforced_notes(cluster: Cluster, node: str, hook: Hook, packet: Packet, in_dev: str | None,
                     out_dev: str | None) -> list[str]:
    """On a plugin that enforces nothing: what the pod chains would have denied here, as trace notes."""
    if hook not in POLICY_HOOKS or not cluster.network_policies:
        return []
    bridge = str(cluster.settings.bridge)
    source, target = _local_pod(cluster, node, packet.src.ip), _local_pod(cluster, node, packet.dst.ip)
    proto = Protocol(packet.proto.upper())
    notes = []
    checks = []
    if source is not None and in_dev == bridge:
        checks.append((Direction.EGRESS, source, party(cluster, packet.dst.ip)))
    if target is not None and out_dev == bridge and hook == Hook.FORWARD:
        checks.append((Direction.INGRESS, target, party(cluster, packet.src.ip)))
    for direction, pod, peer in checks:
        owner = target if direction == Direction.INGRESS else peer.pod
        decision = decide_rules(cluster, direction, selecting_policies(cluster, pod, direction), peer,
                                packet.dst.port, proto, owner)
        if not decision.allowed:
            verdict = _narrate(direction, decision, Party(pod.pod_ip, pod), peer, packet, proto)
            notes.append(not_enforced_note(verdict, str(cluster.settings.network_plugin)))
    return notes


def _by_endpoint(trail: tuple[Matched, ...]) -> list[tuple[str, list[Matched]]]:
    """The applied rules grouped by the pod chain they ran under, in the order the chains were entered."""
    groups: dict[str, list[Matched]] = {}
    for matched in trail:
        chain = next((c for c in matched.path if c.startswith(ENDPOINT_PREFIXES)), None)
        if chain is not None:
            groups.setdefault(chain, []).append(matched)
    return list(groups.items())


def _direction(chain: str) -> Direction:
    return Direction.EGRESS if chain.startswith("cali-fw-") else Direction.INGRESS


def _endpoint_pod(cluster: Cluster, node: str, chain: str) -> Pod | None:
    key = dict(node_policy_rules(cluster, node).endpoints).get(chain)
    return cluster.pod_by_key.get(key) if key else None


def _local_pod(cluster: Cluster, node: str, address: IPv4Address) -> Pod | None:
    pod = cluster.pod_by_ip.get(address)
    return pod if pod is not None and pod.node == node and not pod.host_network else None


def _check(cluster: Cluster, node: str, packet: Packet, chain: str, matched: list[Matched]
           ) -> tuple[Hop, DirectionVerdict] | None:
    """The policy hop of one pod chain, from the rules applied under it; None when they decided nothing."""
    pod = _endpoint_pod(cluster, node, chain)
    if pod is None:
        return None
    direction = _direction(chain)
    selecting = tuple(p.key for p in selecting_policies(cluster, pod, direction))
    accepted = next(((m.rule, meta) for m in matched if m.rule.target == "MARK"
                     for meta in (rule_meta(m.rule.text),) if meta is not None), None)
    dropped = next((m.rule for m in matched if m.rule.chain == chain and m.rule.target in ("DROP", "REJECT")), None)
    profile = next((m.rule for m in matched if m.rule.chain == chain and m.rule.target.startswith(PROFILE_PREFIXES)),
                   None)
    if accepted is not None:
        rule, meta = accepted
        decision = Decision(True, Basis.RULE, meta.policy, meta.rule, meta.port_rule, selecting)
    elif dropped is not None:
        rule, decision = dropped, Decision(False, Basis.DEFAULT_DENY, selecting=selecting)
    elif profile is not None:
        rule, decision = profile, Decision(True, Basis.NOT_SELECTED)
    else:
        return None
    proto = Protocol(packet.proto.upper())
    peer = party(cluster, packet.dst.ip if direction == Direction.EGRESS else packet.src.ip)
    verdict = _narrate(direction, decision, Party(pod.pod_ip, pod), peer, packet, proto)
    device = chain[len(ENDPOINT_PREFIXES[0]):]
    check = PolicyCheck(str(direction), pod.key, verdict.allowed, str(verdict.basis), verdict.policy, verdict.rule,
                        verdict.port_rule, verdict.selecting, verdict.reason)
    hop = Hop(node, str(Netns.host(node)), device, HopKind.POLICY,
              Action.FORWARD if verdict.allowed else Action.DROP, packet, f"filter {rule.text}",
              hop_explain(verdict, chain, device), policy=check)
    return hop, verdict


def _narrate(direction: Direction, decision: Decision, pod: Party, peer: Party, packet: Packet,
             proto: Protocol) -> DirectionVerdict:
    src, dst = (pod, peer) if direction == Direction.EGRESS else (peer, pod)
    return narrate(direction, decision, src, dst, packet.dst.port, proto)
