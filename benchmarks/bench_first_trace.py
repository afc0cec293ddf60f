"""First trace on a big cluster (issue 17 item 11): the time of the first pod → service trace after a load, at
1,000 nodes / 30,000 pods / 3,000 services and at Kubernetes' own limit, 5,000 nodes / 150,000 pods / 15,000
services (dumps from benchmarks/generate_cluster.py, kube-proxy in iptables mode). Target: <= 200 ms at both.

Each size runs in a fresh subprocess, so nothing is warm: generate the dump (JSON), load it (the loader builds the
model's lookup tables and freezes the load's objects out of the cyclic GC's sight), then trace a cross-node flow
from the first application pod to the ClusterIP of a service whose endpoints are elsewhere, then the same flow
again. Wall and CPU time are printed (the machine is shared: wall time grows with its load, CPU time much less),
with how many service ports the walk rendered rules for on each node it crossed (iptables mode renders a
service port's rules when a packet to one of its addresses reaches the node: `rulesets.node_path_ruleset`).

Run: `python benchmarks/bench_first_trace.py [--sizes 1000 5000] [--repeat 3]`. Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SIZES = {1000: (30, 3), 5000: (30, 3)}
"""Nodes → (pods per node, services per node): 30,000 pods / 3,000 services; 150,000 / 15,000."""
TARGET_MS = 200.0
TIMEOUT_S = 3600


def measure(nodes: int) -> dict[str, object]:
    """One size, in this process: load, first trace, second trace."""
    from benchmarks.generate_cluster import dump_json, generate_dump
    from webapp.engine.flows import trace_flow
    from webapp.engine.rulesets import node_path_ruleset
    from webapp.loaders import load_sources

    pods_per_node, services_per_node = SIZES[nodes]
    data = dump_json(generate_dump(nodes, pods_per_node=pods_per_node, services_per_node=services_per_node)).encode()
    wall, cpu = time.perf_counter(), time.process_time()
    cluster = load_sources([("dump.json", data)], max_bytes=len(data) + 1).cluster
    load = (time.perf_counter() - wall, time.process_time() - cpu)
    assert cluster is not None
    pod = next(p for p in cluster.pods if not p.host_network and p.namespace.startswith("team-"))
    service = next(s for s in cluster.services if s.namespace.startswith("team-") and s.ports
                   and all(ep.node != pod.node for ep in cluster.endpoints_by_service.get(s.key, ())))
    src, dst = f"pod/{pod.key}", f"{service.cluster_ip}:{service.ports[0].port}"
    times = []
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        trace = trace_flow(cluster, src, dst)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    crossed = sorted({hop.node for hop in trace.hops if hop.node})
    return {
        "nodes": nodes, "pods": len(cluster.pods), "services": len(cluster.services), "mb": len(data) / 1e6,
        "load_s": load, "first_ms": [t * 1000 for t in times[0]], "second_ms": [t * 1000 for t in times[1]],
        "disposition": str(trace.disposition), "hops": len(trace.hops),
        "rendered": {node: len(getattr(node_path_ruleset(cluster, node), "rendered", ())) for node in crossed},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes per size (default 1)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    print(f"first trace after a load, kube-proxy iptables mode (target <= {TARGET_MS:.0f} ms)")
    for nodes in args.sizes:
        for _ in range(args.repeat):
            done = subprocess.run([sys.executable, __file__, "--one", str(nodes)], capture_output=True, text=True,
                                  timeout=TIMEOUT_S, cwd=REPO)
            if done.returncode != 0:
                print(f"{nodes} nodes: failed\n{done.stderr.strip()}")
                return 1
            r = json.loads(done.stdout.strip().splitlines()[-1])
            first, second, load = r["first_ms"], r["second_ms"], r["load_s"]
            print(f"{r['nodes']:>5} nodes, {r['pods']:>7,} pods, {r['services']:>6,} services ({r['mb']:.0f} MB JSON): "
                  f"load {load[0]:.1f} s wall / {load[1]:.1f} s CPU; first trace {first[0]:.0f} ms wall / "
                  f"{first[1]:.0f} ms CPU; next {second[0]:.1f} ms; {r['disposition']}, {r['hops']} hops; "
                  f"service ports rendered per node crossed: {r['rendered']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
