"""NetworkPolicy semantics (networking.k8s.io/v1): may a new connection from SRC to DST on PORT/PROTO pass the
source pod's egress and the destination pod's ingress, and which policy and rule decided.

Pure: no datapath, no rules. The verdict is for the first packet of a connection; conntrack lets the replies of
an allowed connection pass (every enforcing plugin accepts ESTABLISHED,RELATED first), so replies are never
evaluated. docs/network-policy.md gives the semantics and their sources.

- A pod is isolated for a direction once a policy of its namespace selects it with that direction in its
  (defaulted) policyTypes; then only what some rule of some such policy allows passes (policies are additive).
- Peers: podSelector alone (pods of the policy's namespace), namespaceSelector alone (every pod of the selected
  namespaces), both in one peer (those pods in those namespaces), ipBlock with except (on the address, for pods,
  nodes and outside hosts alike, as Calico matches it).
- Nodes, outside hosts and hostNetwork pods are not pods on the pod network: no policy governs what they send
  or receive; as a peer they match ipBlocks only. A pod never filters its own node (Kubernetes docs: pods cannot
  block access from their resident node; Felix leaves host-to-local-workload traffic alone).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv4Address

from webapp.model import Cluster, NetworkPlugin, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyType, Protocol, ip
from webapp.narration import say


class Direction(StrEnum):
    EGRESS = "egress"
    INGRESS = "ingress"

    @property
    def policy_type(self) -> PolicyType:
        return PolicyType.EGRESS if self == Direction.EGRESS else PolicyType.INGRESS


class Basis(StrEnum):
    """Why a direction's verdict is what it is."""

    NOT_A_POD = "not-a-pod"          # this side is a node, an outside host or a hostNetwork pod
    SAME_POD = "same-pod"            # a pod talking to its own address: over lo, never through its veth
    OWN_NODE = "own-node"            # ingress from the pod's own node: never filtered
    NOT_SELECTED = "not-selected"    # no policy isolates the pod for this direction
    RULE = "rule"                    # a rule of a policy selecting the pod allows it
    DEFAULT_DENY = "default-deny"    # selected, and no rule allows it


@dataclass(frozen=True)
class Party:
    """One end of a connection: its address, and the pod on the pod network or the node it is, if any."""

    ip: IPv4Address
    pod: Pod | None = None
    node: str | None = None
    """The node whose address this is (InternalIP, bridge or VTEP address), or a hostNetwork pod's node."""

    @property
    def label(self) -> str:
        if self.pod is not None:
            return self.pod.key
        return f"node/{self.node} ({self.ip})" if self.node else str(self.ip)


@dataclass(frozen=True)
class Decision:
    """One direction's outcome, without narration: what the matrix stores per group pair."""

    allowed: bool
    basis: Basis
    policy: str | None = None
    """The deciding policy (namespace/name) when a rule allowed it."""
    rule: str = ""
    """`spec.ingress[0].from[1]` (the peer that matched), or `spec.ingress[0]` for a rule without peers."""
    port_rule: str = ""
    """`spec.ingress[0].ports[0]` when the rule lists ports."""
    selecting: tuple[str, ...] = ()
    """The policies that isolate the pod for this direction (namespace/name)."""


@dataclass(frozen=True)
class DirectionVerdict:
    direction: Direction
    allowed: bool
    basis: Basis
    pod: str | None
    """The pod whose policies decided (the source for egress, the destination for ingress)."""
    policy: str | None
    rule: str
    port_rule: str
    selecting: tuple[str, ...]
    reason: str

    @property
    def reference(self) -> str:
        """The rule and port reference together: `spec.ingress[0].from[1] spec.ingress[0].ports[0]`."""
        return " ".join(r for r in (self.rule, self.port_rule) if r)


@dataclass(frozen=True)
class PolicyVerdict:
    """Both directions of one new connection, and whether the network plugin enforces the outcome."""

    egress: DirectionVerdict
    ingress: DirectionVerdict
    enforced: bool

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def denied_by(self) -> DirectionVerdict | None:
        """The first direction that denies (egress is checked first, leaving the source pod)."""
        return next((v for v in (self.egress, self.ingress) if not v.allowed), None)

    @property
    def delivered(self) -> bool:
        """The packet passes: allowed, or denied by a policy the network plugin does not enforce."""
        return self.allowed or not self.enforced


def hop_explain(verdict: DirectionVerdict, chain: str, device: str) -> str:
    """The explanation of a policy hop: the endpoint chain on the host side of the pod's veth, and its verdict."""
    key = "policy.hop.egress" if verdict.direction == Direction.EGRESS else "policy.hop.ingress"
    return say(key, chain=chain, device=device, pod=verdict.pod, reason=verdict.reason)


def reply_explain(chain: str, device: str) -> str:
    """The explanation of a reply passing an endpoint chain: conntrack accepts it before any policy."""
    return say("policy.hop.reply", chain=chain, device=device)


def not_enforced_note(verdict: DirectionVerdict, plugin: str) -> str:
    """A denial the network plugin does not enforce: what would have dropped it, and that it passes."""
    return say("policy.not_enforced", reason=verdict.reason, plugin=plugin)


def with_network_plugin(cluster: Cluster, plugin: NetworkPlugin | str) -> Cluster:
    """The same cluster with another network plugin (the what-if of `--network-plugin`)."""
    return replace(cluster, settings=replace(cluster.settings, network_plugin=NetworkPlugin(plugin)))


def party(cluster: Cluster, end: Pod | IPv4Address | str) -> Party:
    """A Party from a pod, a pod key (`namespace/name`) or an address; hostNetwork pods stand as their node."""
    if isinstance(end, str):
        pod = cluster.pod_by_key.get(end)
        end = pod if pod is not None else ip(end)
    if isinstance(end, Pod):
        return Party(end.pod_ip, None, end.node) if end.host_network else Party(end.pod_ip, end)
    pod = cluster.pod_by_ip.get(end)
    if pod is not None:
        return Party(end, pod)
    node = cluster.node_by_ip.get(end)
    if node is None:
        node = next((n for n in cluster.nodes if end in (n.bridge_ip, n.vtep_ip)), None)
    return Party(end, None, node.name if node is not None else None)


def evaluate(cluster: Cluster, src: Pod | IPv4Address | str, dst: Pod | IPv4Address | str, port: int,
             proto: Protocol | str = Protocol.TCP) -> PolicyVerdict:
    """The policy verdict for a new connection SRC → DST:PORT/PROTO (after any DNAT: DST is the backend)."""
    source, destination, protocol = party(cluster, src), party(cluster, dst), Protocol(proto)
    egress, ingress = decide(cluster, source, destination, port, protocol)
    return PolicyVerdict(
        narrate(Direction.EGRESS, egress, source, destination, port, protocol),
        narrate(Direction.INGRESS, ingress, source, destination, port, protocol),
        cluster.settings.enforces_policy,
    )


def decide(cluster: Cluster, src: Party, dst: Party, port: int, proto: Protocol) -> tuple[Decision, Decision]:
    """The egress and ingress decisions, unnarrated."""
    if src.pod is not None and src.pod == dst.pod:
        same = Decision(True, Basis.SAME_POD)
        return same, same
    egress = (decide_rules(cluster, Direction.EGRESS, selecting_policies(cluster, src.pod, Direction.EGRESS), dst,
                           port, proto, dst.pod)
              if src.pod is not None else Decision(True, Basis.NOT_A_POD))
    if dst.pod is None:
        ingress = Decision(True, Basis.NOT_A_POD)
    elif src.pod is None and src.node == dst.pod.node:
        ingress = Decision(True, Basis.OWN_NODE)
    else:
        ingress = decide_rules(cluster, Direction.INGRESS, selecting_policies(cluster, dst.pod, Direction.INGRESS),
                               src, port, proto, dst.pod)
    return egress, ingress


def selecting_policies(cluster: Cluster, pod: Pod, direction: Direction) -> tuple[NetworkPolicy, ...]:
    """The policies that isolate `pod` for `direction`, in namespace/name order."""
    kind = direction.policy_type
    return tuple(p for p in cluster.network_policies
                 if p.namespace == pod.namespace and kind in p.policy_types and p.pod_selector.matches(pod.labels))


def decide_rules(cluster: Cluster, direction: Direction, policies: tuple[NetworkPolicy, ...], peer: Party, port: int,
                 proto: Protocol, port_owner: Pod | None) -> Decision:
    """The rules of `policies` (those selecting a pod for `direction`) against `peer`; named ports resolve on
    `port_owner` (the destination pod)."""
    if not policies:
        return Decision(True, Basis.NOT_SELECTED)
    names = tuple(p.key for p in policies)
    key, peers_key = direction.value, "from" if direction == Direction.INGRESS else "to"
    for policy in policies:
        for i, rule in enumerate(policy.rules(direction.policy_type)):
            k = _port_match(rule.ports, port, proto, port_owner)
            if k is None:
                continue
            j = _peer_match(cluster, policy, rule.peers, peer)
            if j is None:
                continue
            where = f"spec.{key}[{i}]"
            return Decision(True, Basis.RULE, policy.key, where if j < 0 else f"{where}.{peers_key}[{j}]",
                            "" if k < 0 else f"{where}.ports[{k}]", names)
    return Decision(False, Basis.DEFAULT_DENY, selecting=names)


def _port_match(ports: tuple[PolicyPort, ...], port: int, proto: Protocol, owner: Pod | None) -> int | None:
    """Index of the first port entry that matches (-1: the rule lists none, so every port), or None."""
    if not ports:
        return -1
    for k, entry in enumerate(ports):
        if port_matches(entry, port, proto, owner):
            return k
    return None


def port_matches(entry: PolicyPort, port: int, proto: Protocol, owner: Pod | None) -> bool:
    """One `ports` entry against a destination port; a named port needs the destination pod to declare it."""
    if entry.protocol != proto:
        return False
    if entry.port is None:
        return True
    if isinstance(entry.port, str):
        found = owner.find_port(entry.port, proto) if owner is not None else None
        return found is not None and found[1].container_port == port
    return entry.port <= port <= (entry.end_port or entry.port)


def _peer_match(cluster: Cluster, policy: NetworkPolicy, peers: tuple[PolicyPeer, ...], peer: Party) -> int | None:
    """Index of the first peer that matches (-1: the rule lists none, so every peer), or None."""
    if not peers:
        return -1
    for j, entry in enumerate(peers):
        if peer_matches(cluster, policy.namespace, entry, peer):
            return j
    return None


def peer_matches(cluster: Cluster, namespace: str, entry: PolicyPeer, peer: Party) -> bool:
    """One `from`/`to` entry of a policy in `namespace` against the other end of the connection."""
    if entry.ip_block is not None:
        return entry.ip_block.holds(peer.ip)
    if peer.pod is None:
        return False
    if entry.namespace_selector is None:
        in_namespace = peer.pod.namespace == namespace
    else:
        in_namespace = entry.namespace_selector.matches(cluster.labels_of_namespace(peer.pod.namespace))
    return in_namespace and (entry.pod_selector is None or entry.pod_selector.matches(peer.pod.labels))


def narrate(direction: Direction, decision: Decision, src: Party, dst: Party, port: int,
            proto: Protocol) -> DirectionVerdict:
    """The decision with its reason, for these two ends."""
    egress = direction == Direction.EGRESS
    pod, peer = (src, dst) if egress else (dst, src)
    service = f"{port}/{proto}"
    if decision.basis == Basis.SAME_POD:
        reason = say("policy.same_pod", pod=pod.label)
    elif decision.basis == Basis.NOT_A_POD:
        reason = say("policy.egress.not_a_pod" if egress else "policy.ingress.not_a_pod", end=pod.label)
    elif decision.basis == Basis.OWN_NODE:
        reason = say("policy.ingress.own_node", pod=pod.label, peer=peer.label)
    elif decision.basis == Basis.NOT_SELECTED:
        reason = say("policy.egress.not_selected" if egress else "policy.ingress.not_selected", pod=pod.label)
    elif decision.basis == Basis.RULE:
        reference = " ".join(r for r in (decision.rule, decision.port_rule) if r)
        reason = say("policy.egress.allowed" if egress else "policy.ingress.allowed", policy=decision.policy,
                     reference=reference, port=service, peer=peer.label)
    else:
        reason = say("policy.egress.denied" if egress else "policy.ingress.denied",
                     policies=", ".join(decision.selecting), port=service, peer=peer.label)
    return DirectionVerdict(direction, decision.allowed, decision.basis, pod.pod.key if pod.pod else None,
                            decision.policy, decision.rule, decision.port_rule, decision.selecting, reason)
