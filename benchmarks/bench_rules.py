"""Benchmark: kube-proxy rules for 5,000 services × 10 endpoints on one node, and a trace through them.

Prints figures (targets: iptables rules < 5 s, nftables rules ≤ 2 s, trace < 10 ms); asserts nothing.
Run: python3 benchmarks/bench_rules.py
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
import tracemalloc
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webapp.engine.kubeproxy.iptables import render_iptables_restore  # noqa: E402
from webapp.engine.kubeproxy.nftables import render_nft_transaction  # noqa: E402
from webapp.engine.rulesets import node_nft_table  # noqa: E402
from webapp.engine.netfilter import Hook, PacketContext, traverse  # noqa: E402
from webapp.engine.rulesets import node_ruleset  # noqa: E402
from webapp.engine.trace import Packet, SocketAddress  # noqa: E402
from webapp.model import (  # noqa: E402
    Cluster, Container, ContainerPort, Endpoint, NetworkSettings, Node, Pod, Protocol, Service, ServicePort,
    ServiceType, labels_of,
)

SERVICES, ENDPOINTS, NODES = 5000, 10, 100


def build_cluster() -> Cluster:
    nodes, pods, services, endpoints = [], [], [], []
    per_node = SERVICES * ENDPOINTS // NODES
    for n in range(NODES):
        base = IPv4Address("10.244.0.0") + n * 256 * 2
        nodes.append(Node(f"node-{n}", IPv4Address("10.0.0.10") + n, IPv4Network(f"{base}/23")))
    for s in range(SERVICES):
        name = f"svc-{s}"
        services.append(Service("bench", name, ServiceType.NODE_PORT if s % 10 == 0 else ServiceType.CLUSTER_IP,
                                 IPv4Address("10.96.0.0") + 10 + s,
                                 ports=(ServicePort(80, 8080, Protocol.TCP, "http",
                                                    30000 + s // 10 if s % 10 == 0 else None),),
                                 selector=labels_of({"app": name})))
        for e in range(ENDPOINTS):
            index = s * ENDPOINTS + e
            node = nodes[index // per_node]
            ip = node.pod_cidr.network_address + 2 + index % per_node
            pod = Pod("bench", f"{name}-{e}", node.name, ip,
                      (Container("app", "example/app", (ContainerPort(8080),)),), labels_of({"app": name}))
            pods.append(pod)
            endpoints.append(Endpoint(f"bench/{name}", "http", ip, 8080, node=node.name, pod=pod.key))
    settings = NetworkSettings(pod_cidr=IPv4Network("10.244.0.0/16"))
    return Cluster("bench-rules", settings, tuple(nodes), tuple(pods), tuple(services), tuple(endpoints))


def main() -> None:
    cluster = build_cluster()
    print(f"cluster: {SERVICES} services × {ENDPOINTS} endpoints, {len(cluster.pods)} pods, {NODES} nodes")

    start, cpu = time.perf_counter(), time.process_time()
    text = render_iptables_restore(cluster, "node-0")
    render_s = time.perf_counter() - start
    print(f"render_iptables_restore(node-0): {render_s:.2f} s (CPU {time.process_time() - cpu:.2f} s), "
          f"{len(text.splitlines()):,} lines, {len(text) / 1e6:.1f} MB   (target < 5 s)")

    # The same node in nftables mode, rendered from the same ServicePortInfo (the memoised service ports and
    # hashes are warm for both renderers after the first call; the second figure of each is comparable).
    start, cpu = time.perf_counter(), time.process_time()
    nft_text = render_nft_transaction(cluster, "node-0")
    nft_s = time.perf_counter() - start
    print(f"render_nft_transaction(node-0): {nft_s:.2f} s (CPU {time.process_time() - cpu:.2f} s), "
          f"{len(nft_text.splitlines()):,} lines, {len(nft_text) / 1e6:.1f} MB   (target ≤ 2 s)")
    for name, render in (("render_iptables_restore", render_iptables_restore),
                         ("render_nft_transaction", render_nft_transaction)):
        start = time.perf_counter()
        render(cluster, "node-2")
        print(f"  {name}(node-2), shared derivations warm: {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    nft_ruleset = node_nft_table(cluster, "node-0")
    print(f"node_nft_table(node-0) (render + parse into the typed model): {time.perf_counter() - start:.2f} s")
    from webapp.engine.nft import traverse as nft_traverse

    nft_times = []
    for s in (4999, 2500, 17, 4321, 1000):
        packet = Packet(SocketAddress(cluster.pods[0].pod_ip, 40000), SocketAddress(IPv4Address("10.96.0.0") + 10 + s, 80))
        start = time.perf_counter()
        out = nft_traverse(nft_ruleset, Hook.PREROUTING, PacketContext(packet, "node-0", "cni0", None))
        nft_times.append(time.perf_counter() - start)
        assert out.packet.dst.port == 8080, out
    print(f"nftables PREROUTING pod → cluster IP (one service-ips lookup): median "
          f"{statistics.median(nft_times) * 1e3:.3f} ms, max {max(nft_times) * 1e3:.3f} ms")

    start = time.perf_counter()
    ruleset = node_ruleset(cluster, "node-0")
    build_s = time.perf_counter() - start
    print(f"node_ruleset(node-0) (render + parse + CNI rules): {build_s:.2f} s")

    client = cluster.pods[0]
    times = []
    for s in (4999, 2500, 17, 4321, 1000):
        packet = Packet(SocketAddress(client.pod_ip, 40000), SocketAddress(IPv4Address("10.96.0.0") + 10 + s, 80))
        ctx = PacketContext(packet, "node-0", "cni0", None)
        start = time.perf_counter()
        out = traverse(ruleset, Hook.PREROUTING, ctx)
        times.append(time.perf_counter() - start)
        assert out.packet.dst.port == 8080, out
    print(f"trace PREROUTING pod → cluster IP (first lookup of a chain parses it): "
          f"first {times[0] * 1e3:.2f} ms, median {statistics.median(times) * 1e3:.2f} ms, "
          f"max {max(times) * 1e3:.2f} ms"
          "   (target < 10 ms)")
    warm = []
    for _ in range(20):
        start = time.perf_counter()
        traverse(ruleset, Hook.PREROUTING, ctx)
        warm.append(time.perf_counter() - start)
    print(f"trace again (chains parsed): median {statistics.median(warm) * 1e3:.3f} ms")

    # The whole walk (pod → service → pod on another node, and the reply), through node-0's and the backend
    # node's rules: the first call builds the rulesets, datapath and topology; the next ones are the trace.
    from webapp.engine.flows import trace_flow

    target = "svc/bench/svc-4999:80"
    start = time.perf_counter()
    trace = trace_flow(cluster, f"pod/{client.key}", target)
    first_s = time.perf_counter() - start
    walks = []
    for _ in range(10):
        start = time.perf_counter()
        trace = trace_flow(cluster, f"pod/{client.key}", target)
        walks.append(time.perf_counter() - start)
    print(f"trace_flow pod → service → pod (+ reply), {len(trace.hops)} + {len(trace.reply)} hops, "
          f"{trace.disposition}: "
          f"first {first_s:.2f} s (builds both nodes' rules and tables), then median "
          f"{statistics.median(walks) * 1e3:.2f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    tracemalloc.start()
    render_iptables_restore(cluster, "node-1")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak Python allocation while rendering one node's rules: {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
