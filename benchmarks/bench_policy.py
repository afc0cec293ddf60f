"""Benchmark: the NetworkPolicy reachability matrix of 1,000 pods × 1 port on a 50-namespace, 200-policy cluster.

Prints figures (target: matrix ≤ 2 s); asserts nothing. Run: python3 benchmarks/bench_policy.py
"""

from __future__ import annotations

import sys
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webapp.engine.policy_matrix import CellState, policy_matrix  # noqa: E402
from webapp.model import (  # noqa: E402
    NAMESPACE_NAME_LABEL, Cluster, Container, ContainerPort, IPBlock, LabelRequirement, LabelSelector, Namespace,
    NetworkPlugin, NetworkPolicy, NetworkSettings, Node, Pod, PolicyPeer, PolicyPort, PolicyRule, PolicyType,
    SelectorOperator, labels_of,
)

NAMESPACES, PODS_PER_NAMESPACE, APPS, NODES, PORT = 50, 20, 5, 10, 8080


def build_cluster(namespace_count: int = NAMESPACES) -> Cluster:
    """50 namespaces (teams a–e) of 20 pods (5 apps, 2 tracks), 4 policies each: a default deny, an app-to-app
    allow on a named port, a cross-namespace allow by team with matchExpressions, and an ipBlock with except."""
    nodes = [Node(f"node-{n}", IPv4Address(f"192.168.0.{11 + n}"), IPv4Network(f"10.244.{n}.0/24"))
             for n in range(NODES)]
    pods, policies, namespaces = [], [], []
    for ns in range(namespace_count):
        name = f"team-{ns:02d}"
        team = "abcde"[ns % 5]
        namespaces.append(Namespace(name, labels_of({NAMESPACE_NAME_LABEL: name, "team": team})))
        for i in range(PODS_PER_NAMESPACE):
            index = ns * PODS_PER_NAMESPACE + i
            node = nodes[index % NODES]
            app = f"app-{i % APPS}"
            pods.append(Pod(
                name, f"{app}-{i}", node.name, node.pod_cidr.network_address + 2 + index // NODES,
                (Container("main", ports=(ContainerPort(PORT, name="http"),)),),
                labels_of({"app": app, "track": "canary" if i % 10 == 0 else "stable"}),
            ))
        policies += [
            NetworkPolicy(name, "default-deny", policy_types=(PolicyType.INGRESS, PolicyType.EGRESS)),
            NetworkPolicy(name, "app-chain", LabelSelector(labels_of({"app": "app-1"})), ingress=(
                PolicyRule((PolicyPeer(pod_selector=LabelSelector(labels_of({"app": "app-0"}))),),
                           (PolicyPort(port="http"),)),)),
            NetworkPolicy(name, "same-team", LabelSelector((), (LabelRequirement("track", SelectorOperator.NOT_IN,
                                                                                  ("canary",)),)),
                          policy_types=(PolicyType.INGRESS, PolicyType.EGRESS),
                          ingress=(PolicyRule((PolicyPeer(namespace_selector=LabelSelector(labels_of({"team": team})),
                                                          pod_selector=LabelSelector()),)),),
                          egress=(PolicyRule((PolicyPeer(namespace_selector=LabelSelector(
                              (), (LabelRequirement("team", SelectorOperator.IN, (team, "a")),))),),
                              (PolicyPort(port=PORT - 10, end_port=PORT + 10),)),)),
            NetworkPolicy(name, "outside", LabelSelector(labels_of({"app": "app-4"})), ingress=(
                PolicyRule((PolicyPeer(ip_block=IPBlock(IPv4Network("10.244.0.0/16"),
                                                        (IPv4Network("10.244.1.0/24"),))),)),)),
        ]
    return Cluster("bench-policy", NetworkSettings(network_plugin=NetworkPlugin.CANAL), tuple(nodes),
                   tuple(sorted(pods, key=lambda p: (p.namespace, p.name))),
                   network_policies=tuple(sorted(policies, key=lambda p: (p.namespace, p.name))),
                   namespace_objects=tuple(namespaces))


def main() -> None:
    cluster = build_cluster()
    start, cpu = time.perf_counter(), time.process_time()
    matrix = policy_matrix(cluster, PORT)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    counts = matrix.counts()
    print(f"{len(cluster.pods)} pods, {len(cluster.namespace_objects)} namespaces, "
          f"{len(cluster.network_policies)} policies, port {PORT}/TCP")
    print(f"matrix: {elapsed:.2f} s wall, {cpu:.2f} s CPU (target ≤ 2 s), {len(set(matrix.group_of.values()))} groups, "
          f"{len(matrix.decisions)} group pairs, {len(matrix.pods) ** 2:,} cells: "
          + ", ".join(f"{counts[s]:,} {s}" for s in CellState))


if __name__ == "__main__":
    main()
