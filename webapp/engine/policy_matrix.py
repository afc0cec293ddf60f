"""The reachability matrix: for one port and protocol, may each pod open a connection to each other pod?

Computed from the policies' selectors, not by tracing every pair: pods that no field of any policy can tell apart
share a group — same namespace, same labels, the same answer for every named port the policies use and for every
ipBlock — and each pair of groups is decided once with webapp.engine.policy. Every cell is what `evaluate` says
for that pair (tests compare them). hostNetwork pods are not pods on the pod network and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Hashable, Iterable

from webapp.engine.policy import (
    Basis,
    Decision,
    Direction,
    Party,
    PolicyVerdict,
    decide_rules,
    narrate,
    not_enforced_note,
    party,
    port_matches,
    selecting_policies,
)
from webapp.model import Cluster, NetworkPlugin, Pod, PolicyPort, Protocol


class CellState(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    NOT_ENFORCED = "not-enforced"
    """Policy would deny it, but the network plugin does not enforce NetworkPolicy: delivered."""


_SAME = (Decision(True, Basis.SAME_POD), Decision(True, Basis.SAME_POD))


@dataclass(frozen=True)
class PolicyMatrix:
    """Pods (namespace/name order) × pods for one port: each cell's egress and ingress decisions."""

    port: int
    protocol: Protocol
    plugin: NetworkPlugin
    enforced: bool
    pods: tuple[str, ...]
    group_of: dict[str, int]
    decisions: dict[tuple[int, int], tuple[Decision, Decision]]
    """(source group, destination group) → (egress, ingress) decisions."""

    def decision(self, src: str, dst: str) -> tuple[Decision, Decision]:
        if src == dst:
            return _SAME
        return self.decisions[self.group_of[src], self.group_of[dst]]

    def state(self, src: str, dst: str) -> CellState:
        egress, ingress = self.decision(src, dst)
        if egress.allowed and ingress.allowed:
            return CellState.ALLOWED
        return CellState.DENIED if self.enforced else CellState.NOT_ENFORCED

    def verdict(self, cluster: Cluster, src: str, dst: str) -> PolicyVerdict:
        """The cell as `evaluate` gives it, narrated for these two pods."""
        egress, ingress = self.decision(src, dst)
        a, b = party(cluster, src), party(cluster, dst)
        return PolicyVerdict(narrate(Direction.EGRESS, egress, a, b, self.port, self.protocol),
                             narrate(Direction.INGRESS, ingress, a, b, self.port, self.protocol), self.enforced)

    def reason(self, cluster: Cluster, src: str, dst: str) -> str:
        """Why the cell is what it is: the denying direction's reason (with the enforcement caveat), else both."""
        verdict = self.verdict(cluster, src, dst)
        denied = verdict.denied_by
        if denied is None:
            return "; ".join(dict.fromkeys((verdict.egress.reason, verdict.ingress.reason)))
        return denied.reason if self.enforced else not_enforced_note(denied, self.plugin)

    def counts(self) -> dict[CellState, int]:
        """How many cells of each state (the diagonal included: a pod may always reach itself)."""
        sizes: dict[int, int] = {}
        for g in self.group_of.values():
            sizes[g] = sizes.get(g, 0) + 1
        counts = {state: 0 for state in CellState}
        counts[CellState.ALLOWED] += len(self.pods)
        for (s, d), (egress, ingress) in self.decisions.items():
            pairs = sizes[s] * sizes[d] - (sizes[s] if s == d else 0)
            allowed = egress.allowed and ingress.allowed
            counts[CellState.ALLOWED if allowed else CellState.DENIED if self.enforced else CellState.NOT_ENFORCED] += (
                pairs)
        return counts

    def to_json(self, cluster: Cluster) -> dict[str, Any]:
        """Rows by source pod: each destination's state, the deciding policy and rule, and the reason."""
        return {
            "port": self.port, "protocol": str(self.protocol), "plugin": str(self.plugin), "enforced": self.enforced,
            "pods": list(self.pods),
            "cells": [[self._cell_json(cluster, s, d) for d in self.pods] for s in self.pods],
        }

    def _cell_json(self, cluster: Cluster, src: str, dst: str) -> dict[str, Any]:
        verdict = self.verdict(cluster, src, dst)
        decisive = verdict.denied_by or verdict.ingress
        return {"state": str(self.state(src, dst)), "direction": str(decisive.direction),
                "policy": decisive.policy, "rule": decisive.reference, "reason": self.reason(cluster, src, dst)}


def policy_matrix(cluster: Cluster, port: int, proto: Protocol | str = Protocol.TCP,
                  namespace: str | None = None) -> PolicyMatrix:
    """The matrix of every pod on the pod network (of `namespace`, when given) for PORT/PROTO."""
    protocol = Protocol(proto)
    pods = [p for p in cluster.pods if not p.host_network and (namespace is None or p.namespace == namespace)]
    port_names = sorted({entry.port for policy in cluster.network_policies
                         for rule in (*policy.ingress, *policy.egress) for entry in rule.ports
                         if isinstance(entry.port, str)})
    blocks = list(dict.fromkeys(peer.ip_block for policy in cluster.network_policies
                                for rule in (*policy.ingress, *policy.egress) for peer in rule.peers
                                if peer.ip_block is not None))

    def group_key(pod: Pod) -> tuple[Any, ...]:
        named = tuple(port_matches(PolicyPort(protocol, name), port, protocol, pod) for name in port_names)
        return pod.namespace, pod.labels, named, tuple(block.holds(pod.pod_ip) for block in blocks)

    keys: dict[tuple[Any, ...], int] = {}
    members: list[Pod] = []
    group_of: dict[str, int] = {}
    for pod in pods:
        key = group_key(pod)
        if key not in keys:
            keys[key] = len(members)
            members.append(pod)
        group_of[pod.key] = keys[key]
    parties = [Party(p.pod_ip, p) for p in members]
    ingress_of = [selecting_policies(cluster, p, Direction.INGRESS) for p in members]
    egress_of = [selecting_policies(cluster, p, Direction.EGRESS) for p in members]
    # egress depends on the source's policies and everything about the destination; ingress on the destination's
    # policies and named ports, and on the source's namespace, labels and address: decide each combination once
    egress_sig = _ids(tuple(p.key for p in policies) for policies in egress_of)
    ingress_sig = _ids((tuple(p.key for p in policies), key[2]) for policies, key in zip(ingress_of, keys))
    source_sig = _ids((key[0], key[1], key[3]) for key in keys)
    ingress_memo: dict[tuple[int, int], Decision] = {}
    egress_memo: dict[tuple[int, int], Decision] = {}
    decisions: dict[tuple[int, int], tuple[Decision, Decision]] = {}
    for s, source in enumerate(parties):
        for d, destination in enumerate(parties):
            egress = egress_memo.get((egress_sig[s], d))
            if egress is None:
                egress = egress_memo[egress_sig[s], d] = decide_rules(
                    cluster, Direction.EGRESS, egress_of[s], destination, port, protocol, destination.pod)
            ingress = ingress_memo.get((ingress_sig[d], source_sig[s]))
            if ingress is None:
                ingress = ingress_memo[ingress_sig[d], source_sig[s]] = decide_rules(
                    cluster, Direction.INGRESS, ingress_of[d], source, port, protocol, destination.pod)
            decisions[s, d] = (egress, ingress)
    return PolicyMatrix(port, protocol, cluster.settings.network_plugin, cluster.settings.enforces_policy,
                        tuple(p.key for p in pods), group_of, decisions)


def _ids(values: Iterable[Hashable]) -> list[int]:
    """A small integer per distinct value, in order: equal values, equal ids."""
    seen: dict[Hashable, int] = {}
    return [seen.setdefault(v, len(seen)) for v in values]
