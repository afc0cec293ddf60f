"""One flow under every kube-proxy mode, side by side: the trace, the hop that decided, the rules each node
holds, and how many rules (or lookups) the packet meets before its service is found — on the loaded cluster
and, for scale, on a big one (the seed article's point that iptables rules grow with the number of services,
and that nftables' verdict maps and IPVS' hash table do not).

How the service is found, per mode (computed from the node's own rules):
- iptables: nat KUBE-SERVICES is walked rule by rule (a nodePort: its rules up to the KUBE-NODEPORTS jump,
  then KUBE-NODEPORTS) — `LINEAR`, the rules compared before the one that matches;
- userspace: the same walk through the portal chain its REDIRECT rule is in (KUBE-PORTALS-CONTAINER / -HOST,
  KUBE-NODEPORT-*) — `LINEAR`;
- nftables: chain `services` looks the packet up in verdict map `service-ips`, then (a nodePort) in
  `service-nodeports` — `HASH`, the lookups made;
- ipvs: one lookup in the kernel's virtual-service hash table (ip_vs_service_find) — `HASH`.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import StrEnum

from webapp.engine import nft, rulesets
from webapp.engine.flows import trace_flow
from webapp.engine.kubeproxy.chains import service_ports
from webapp.engine.kubeproxy.ipvs import find_virtual_server
from webapp.engine.memo import cluster_cached
from webapp.engine.netfilter import Hook, PacketContext, first_match
from webapp.engine.trace import Action, Hop, HopKind, Packet, SocketAddress, Trace
from webapp.model import Cluster, KubeProxyMode

MODES = (KubeProxyMode.IPTABLES, KubeProxyMode.IPVS, KubeProxyMode.NFTABLES, KubeProxyMode.USERSPACE)
"""The order the comparison shows the modes in."""

_KUBE_PROXY_KINDS = frozenset({HopKind.NETFILTER, HopKind.IPVS, HopKind.PROXY})
_FINDS = frozenset({Action.LOOKUP, Action.DNAT, Action.REDIRECT, Action.PROXY, Action.DROP, Action.REJECT})
_REWRITES = frozenset({Action.DNAT, Action.REDIRECT, Action.PROXY})


class LookupKind(StrEnum):
    LINEAR = "linear"
    """Rules compared one after another."""
    HASH = "hash"
    """Hash-table lookups (verdict maps, IPVS' service table)."""


@dataclass(frozen=True)
class ServiceLookup:
    """How the packet's service is found: `count` rules compared before the matching one (LINEAR) or lookups
    made (HASH)."""

    kind: LookupKind
    count: int


@dataclass(frozen=True)
class ScaleLookup:
    """The same measure on a big cluster, from a pod of its first node to its cluster-IP service ports: how many
    there are, and over `sampled` of them (evenly spread, the last one included) the mean and the worst."""

    service_ports: int
    sampled: int
    kind: LookupKind
    mean: float
    worst: int


@dataclass(frozen=True)
class ModeComparison:
    """One mode's side of the comparison."""

    mode: KubeProxyMode
    trace: Trace
    decided: Hop | None
    """kube-proxy's first hop that acted on the service (found it, rewrote the destination, or refused it)."""
    rules_per_node: tuple[tuple[str, int], ...]
    """(node, the rules of its netfilter tables: kube-proxy's and the CNI's iptables rules, and in nftables mode
    the rules of table ip kube-proxy; verdict-map elements are not rules)."""
    lookup: ServiceLookup | None
    """None when no kube-proxy hop found a service (the flow does not go through one)."""
    scale: ScaleLookup | None = None


def compare_modes(cluster: Cluster, src: str, dst: str, scale: Cluster | None = None,
                  nodes: Collection[str] | None = None) -> tuple[ModeComparison, ...]:
    """`src` → `dst` traced under iptables, IPVS, nftables and userspace; with `scale` (a big cluster, e.g. one
    of 5,000 services from benchmarks/generate_cluster.py), each mode's lookup cost there too. `nodes`: count the
    rules of these nodes only (default: every node)."""
    out = []
    for mode in MODES:
        variant = in_mode(cluster, mode)
        trace = trace_flow(variant, src, dst)
        found = _deciding(trace)
        decided = trace.hops[found] if found is not None else None
        lookup = None
        if found is not None and decided is not None and decided.node is not None:
            before = trace.hops[found - 1] if decided.action in _REWRITES and found > 0 else decided
            lookup = service_lookup(variant, decided.node, before.packet)
        out.append(ModeComparison(mode, trace, decided, rule_counts(variant, nodes), lookup,
                                  scale_lookup(in_mode(scale, mode)) if scale is not None else None))
    return tuple(out)


def in_mode(cluster: Cluster, mode: KubeProxyMode) -> Cluster:
    """`cluster` with kube-proxy in `mode` (the same object when it already is)."""
    if cluster.settings.kube_proxy_mode == mode:
        return cluster
    return cluster_cached(cluster, f"in-mode/{mode}",
                          lambda: replace(cluster, settings=replace(cluster.settings, kube_proxy_mode=mode)))


def rule_counts(cluster: Cluster, nodes: Collection[str] | None = None) -> tuple[tuple[str, int], ...]:
    """Each node's rule count for the cluster's mode (of `nodes` only, when given), in the cluster's node order."""
    return tuple((node.name, _rule_count(cluster, node.name)) for node in cluster.nodes
                 if nodes is None or node.name in nodes)


def _rule_count(cluster: Cluster, node: str) -> int:
    ruleset = rulesets.node_ruleset(cluster, node)
    count = sum(len(chain.lines) for chains in ruleset.tables.values() for chain in chains.values())
    if cluster.settings.kube_proxy_mode == KubeProxyMode.NFTABLES:
        count += sum(len(chain.lines) for chain in rulesets.node_nft_table(cluster, node).chains.values())
    return count


def _deciding(trace: Trace) -> int | None:
    return next((i for i, hop in enumerate(trace.hops)
                 if hop.kind in _KUBE_PROXY_KINDS and hop.action in _FINDS and hop.node is not None), None)


def service_lookup(cluster: Cluster, node: str, packet: Packet) -> ServiceLookup | None:
    """How many rules (or lookups) `packet`, arriving at `node`, meets before kube-proxy finds its service."""
    mode = cluster.settings.kube_proxy_mode
    ruleset = rulesets.node_ruleset(cluster, node)
    hook = Hook.OUTPUT if packet.src.ip in ruleset.local_addresses else Hook.PREROUTING
    ctx = PacketContext(packet, node, None if hook == Hook.OUTPUT else "eth0", None)
    if mode == KubeProxyMode.IPVS:
        found = find_virtual_server(cluster, node, packet.proto, packet.dst.ip, packet.dst.port)
        return ServiceLookup(LookupKind.HASH, 1) if found is not None else None
    if mode == KubeProxyMode.NFTABLES:
        return _nft_lookups(rulesets.node_nft_table(cluster, node), packet)
    if mode == KubeProxyMode.USERSPACE:  # a portal (cluster, external IP) or, to the node's address, a nodePort
        start = "KUBE-NODEPORT" if packet.dst.ip in ruleset.local_addresses else "KUBE-PORTALS"
        chains = [f"{start}-{'HOST' if hook == Hook.OUTPUT else 'CONTAINER'}"]
    else:
        chains = ["KUBE-SERVICES", "KUBE-NODEPORTS"]
    compared = 0
    for name in chains:
        index = first_match(ruleset, "nat", name, hook, ctx)
        if index is None:
            return None
        compared += index
        rule = ruleset.chain("nat", name).rules[index]
        if rule.dport is not None:  # the service's own rule, not the jump to KUBE-NODEPORTS
            return ServiceLookup(LookupKind.LINEAR, compared)
    return None


def _nft_lookups(table: nft.NftRuleset, packet: Packet) -> ServiceLookup | None:
    """Chain `services`: one verdict-map lookup per rule until one finds the packet's key."""
    keys = {"service-ips": (str(packet.dst.ip), packet.proto, str(packet.dst.port)),
            "service-nodeports": (packet.proto, str(packet.dst.port))}
    lookups = 0
    for rule in table.chains["services"].rules:
        for expression in rule.expressions:
            if isinstance(expression, nft.MapLookup):
                lookups += 1
                if keys[expression.map_name] in table.sets[expression.map_name].elements:
                    return ServiceLookup(LookupKind.HASH, lookups)
    return None


SCALE_SAMPLES = 100
"""Service ports measured on a big cluster: a linear walk costs O(position), so measuring all 5,000 would
cost O(n²) rule matches."""


def scale_lookup(cluster: Cluster) -> ScaleLookup:
    """`service_lookup` on a big cluster (cached per cluster object, so per mode)."""
    return cluster_cached(cluster, "scale-lookup", lambda: _scale_lookup(cluster))


def _scale_lookup(cluster: Cluster) -> ScaleLookup:
    node = cluster.nodes[0]
    pod = next(p for p in cluster.pods_by_node.get(node.name, ()) if not p.host_network)
    ports = [info for info in service_ports(cluster, node.name) if info.endpoints]
    step = max(1, len(ports) // SCALE_SAMPLES)
    sampled = ports[step - 1::step][-SCALE_SAMPLES:]
    if sampled[-1] is not ports[-1]:
        sampled[-1] = ports[-1]
    counts, kind = [], LookupKind.LINEAR
    for info in sampled:
        packet = Packet(SocketAddress(pod.pod_ip, 40000), SocketAddress(info.service.cluster_ip, info.port.port),
                        info.protocol)
        found = service_lookup(cluster, node.name, packet)
        assert found is not None, (cluster.settings.kube_proxy_mode, info.name)
        counts.append(found.count)
        kind = found.kind
    return ScaleLookup(len(ports), len(sampled), kind, statistics.fmean(counts), max(counts))
