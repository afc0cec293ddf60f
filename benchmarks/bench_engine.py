"""Benchmark: the path engine on a generated 1,000-node, 30,000-pod cluster.

Prints (asserts nothing; targets from issue 3):
- building the whole topology graph (every node's datapath tables and device graph): target < 5 s;
- one trace on the built cluster: target < 5 ms (median over pod pairs on different nodes, with the two
  nodes' kube-proxy rulesets already generated; the first trace touching a node also generates its rules,
  printed separately);
- memory: what the built topology holds (resident growth across the build) and the process peak.

Wall and CPU times are both printed: on a shared machine the wall clock includes waiting for a core.

The cluster comes from benchmarks/generate_cluster.py (kubectl-shaped JSON) through the real loader, so it
has 3,000 services and their endpoints too. `--model` builds a plain 1,000 × 30 cluster from model objects
instead (tests/factories.big_cluster), which is quicker to set up.

Run: python3 benchmarks/bench_engine.py [--nodes 1000] [--pods-per-node 30] [--model]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from webapp.engine import rulesets  # noqa: E402
from webapp.engine.flows import trace_flow  # noqa: E402
from webapp.engine.topology import Topology, topology  # noqa: E402
from webapp.model import Cluster, Pod  # noqa: E402

PAIRS = 25


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc), so a step's growth shows even below an earlier peak."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def traced_build_mb(cluster: Cluster) -> float:
    """Bytes the whole topology (graph + every node's tables) holds, measured by rebuilding it under tracemalloc."""
    from webapp.engine import memo

    memo.drop_cached(cluster)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rebuilt = topology(cluster).build_all()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del rebuilt
    return held / 2**20


def generated_cluster(nodes: int, pods_per_node: int) -> Cluster:
    from generate_cluster import dump_json, generate_dump

    from webapp.loaders import load_sources

    started = time.perf_counter()
    text = dump_json(generate_dump(nodes, pods_per_node)).encode()
    generated = time.perf_counter()
    result = load_sources([("generated.json", text)], max_bytes=len(text) + 1)
    if result.cluster is None:
        raise SystemExit("\n".join(str(p) for p in result.errors[:5]))
    print(f"setup: generated {len(text) / 1e6:.1f} MB of JSON in {generated - started:.1f} s, "
          f"loaded in {time.perf_counter() - generated:.1f} s")
    cluster = result.cluster
    if not all(node.pod_cidr.subnet_of(cluster.settings.pod_cidr) for node in cluster.nodes):
        # A dump does not say flannel's Network; 1,000 /24 leases need the generator's 10.244.0.0/14.
        from dataclasses import replace

        from generate_cluster import POD_NETWORK

        print(f"setup: pod network {cluster.settings.pod_cidr} does not hold every node's podCIDR; using "
              f"{POD_NETWORK} (benchmarks/generate_cluster.py)")
        cluster = replace(cluster, settings=replace(cluster.settings, pod_cidr=POD_NETWORK))
    return cluster


def model_cluster(nodes: int, pods_per_node: int) -> Cluster:
    sys.path.insert(0, str(ROOT / "tests"))
    from factories import big_cluster

    return big_cluster(nodes, pods_per_node)


def server_pods(cluster: Cluster) -> list[Pod]:
    """One pod per node that has its own netns and declares a TCP port."""
    out = []
    for node in cluster.nodes:
        for pod in cluster.pods_by_node.get(node.name, ()):
            if not pod.host_network and any(p.protocol == "TCP" for c in pod.containers for p in c.ports):
                out.append(pod)
                break
    return out


def first_port(pod: Pod) -> int:
    return next(p.container_port for c in pod.containers for p in c.ports if p.protocol == "TCP")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--model", action="store_true", help="build the cluster from model objects")
    args = parser.parse_args(argv)

    cluster = (model_cluster if args.model else generated_cluster)(args.nodes, args.pods_per_node)
    print(f"cluster: {len(cluster.nodes)} nodes, {len(cluster.pods)} pods, {len(cluster.services)} services, "
          f"overlay {cluster.settings.overlay}, kube-proxy {cluster.settings.kube_proxy_mode}")
    gc.collect()
    rss_before = current_rss_mb()

    started, cpu = time.perf_counter(), time.process_time()
    topo = topology(cluster).build_all()
    build, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"topology build (all nodes): {build:.2f} s wall, {build_cpu:.2f} s CPU  (target < 5 s)  — "
          f"{topo.graph.number_of_nodes()} vertices, {topo.graph.number_of_edges()} links")
    rss_after_build = current_rss_mb()

    servers = server_pods(cluster)
    step = max(1, len(servers) // 2)
    stride = max(1, len(servers) // PAIRS)
    pairs = [(servers[i], servers[(i + step) % len(servers)]) for i in range(0, len(servers), stride)][:PAIRS]
    src, dst = pairs[0]
    started = time.perf_counter()
    first = trace_flow(cluster, f"pod/{src.key}", f"pod/{dst.key}:{first_port(dst)}")
    cold = time.perf_counter() - started
    print(f"first trace (also generates 2 nodes' kube-proxy rules): {cold * 1000:.1f} ms, "
          f"{len(first.hops)} hops, {first.disposition}")

    timings, cpu_timings = [], []
    for src, dst in pairs:
        for node in {src.node, dst.node}:
            rulesets.node_ruleset(cluster, node)
        started, cpu = time.perf_counter(), time.process_time()
        trace = trace_flow(cluster, f"pod/{src.key}", f"pod/{dst.key}:{first_port(dst)}")
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu)
        assert trace.disposition == "delivered", trace.reason
    print(f"one trace on the built cluster (pod→pod across nodes, request + reply), median of {len(timings)}: "
          f"{statistics.median(timings) * 1000:.2f} ms wall, {statistics.median(cpu_timings) * 1000:.2f} ms CPU; "
          f"max {max(timings) * 1000:.2f} ms wall  (target < 5 ms)")

    if cluster.services:
        service = next(s for s in cluster.services if s.cluster_ip is not None and s.ports)
        src = pairs[1][0]
        rulesets.node_ruleset(cluster, src.node)
        svc_times = []
        for _ in range(5):
            started = time.perf_counter()
            trace = trace_flow(cluster, f"pod/{src.key}", f"svc/{service.key}:{service.ports[0].port}",
                               str(service.ports[0].protocol).lower())
            svc_times.append(time.perf_counter() - started)
        print(f"pod→service trace ({service.key}, {trace.disposition}): median "
              f"{statistics.median(svc_times) * 1000:.2f} ms")

    started = time.perf_counter()
    lazy = Topology(cluster)
    lazy.ensure_node(pairs[2][0].node)
    lazy.ensure_node(pairs[2][1].node)
    print(f"lazy: one node pair's part of the graph in {(time.perf_counter() - started) * 1000:.1f} ms "
          f"({lazy.graph.number_of_nodes()} vertices)")
    held = traced_build_mb(cluster)
    print(f"memory: the built topology holds {held:.0f} MB (tracemalloc, rebuilt from scratch); resident "
          f"{rss_before:.0f} → {rss_after_build:.0f} MB across the timed build; process peak {peak_rss_mb():.0f} MB "
          f"(includes generating and loading the input)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
