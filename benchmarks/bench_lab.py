"""Benchmark: the lab on the flannel-vxlan sample (3 nodes, 12 pods), in real network namespaces.

Prints (asserts nothing; targets from issue 6):
- `lab up` — tracing the flows, planning, making every namespace, device, route, FDB and neighbour entry,
  loading each node's iptables, starting the listeners and waiting until every link has carrier and every
  listener is bound: target < 30 s;
- `lab verify` of every candidate flow (real traffic, compared with the engine): target < 60 s;
- `lab down`.

Needs root and `ip netns`; prints why and exits 0 when they are missing.

Run: python3 benchmarks/bench_lab.py [--sample flannel-vxlan] [--lab b0] [--timeout 1.0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webapp.lab import build  # noqa: E402
from webapp.lab import netns as nx  # noqa: E402
from webapp.lab.runner import prepare, up, verify  # noqa: E402
from webapp.lab.verify import DISAGREE, NOT_VERIFIABLE, OK  # noqa: E402
from webapp.loaders import load_sample  # noqa: E402

UP_TARGET_S = 30.0
VERIFY_TARGET_S = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="flannel-vxlan")
    parser.add_argument("--lab", default="b0", help="lab id (namespaces knv<ID>-…)")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds before a probe counts as dropped")
    args = parser.parse_args(argv)
    reason = nx.lab_support()
    if reason:
        print(f"bench_lab: skipped: {reason}")
        return 0
    cluster = load_sample(args.sample)
    build.lab_down(args.lab)
    try:
        started = time.perf_counter()
        prepared = prepare(cluster, args.lab)
        planned = time.perf_counter()
        report_up = up(prepared)
        up_s = time.perf_counter() - started
        print(f"sample {args.sample}: {len(cluster.nodes)} nodes, {len(cluster.pods)} pods, "
              f"{len(prepared.plan.namespaces)} namespaces, {len(prepared.plan.listeners)} listeners, "
              f"{len(prepared.flows)} flows")
        print(f"lab up:     {up_s:6.2f} s  (trace+plan {planned - started:.2f} s, build {report_up.seconds:.2f} s)"
              f"  target < {UP_TARGET_S:.0f} s  {'OK' if up_s < UP_TARGET_S else 'MISSED'}")
        started = time.perf_counter()
        report = verify(prepared, timeout=args.timeout)
        verify_s = time.perf_counter() - started
        print(f"lab verify: {verify_s:6.2f} s  ({report.count(OK)} agree, {report.count(DISAGREE)} disagree, "
              f"{report.count(NOT_VERIFIABLE)} not verifiable)  target < {VERIFY_TARGET_S:.0f} s  "
              f"{'OK' if verify_s < VERIFY_TARGET_S else 'MISSED'}")
    finally:
        started = time.perf_counter()
        build.lab_down(args.lab)
        print(f"lab down:   {time.perf_counter() - started:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
