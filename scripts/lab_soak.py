"""The lab criterion of issue 17: `lab verify` on every sample, in every kube-proxy mode and on every overlay,
reports 0 disagreements — N runs in a row (default 10).

Each (sample, mode, overlay) is the sample as the web app's what-if settings make it (`apply_view_settings`),
built once in real network namespaces and verified N times in a row (every candidate flow, real traffic,
compared with the engine), then taken down. One line per combination: flows, agreeing, not verifiable here,
and the disagreements of each run; every disagreement is listed under it. Exit 1 when any run of any
combination disagrees, 2 when the lab cannot run here.

Slow: about 60 combinations × N verifies (1–30 s each). Needs root and `ip netns`.

Run: python3 scripts/lab_soak.py [--runs 10] [--jobs N] [--sample NAME ...] [--mode MODE ...]
                                 [--overlay OVERLAY ...] [--combo SAMPLE/MODE/OVERLAY ...] [--timeout 1.0] [--lab s]
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
from webapp.loaders import list_samples, load_sample  # noqa: E402
from webapp.model import KubeProxyMode, Overlay  # noqa: E402
from webapp.variants import ViewSettings, apply_view_settings  # noqa: E402


def soak(sample: str, mode: KubeProxyMode, overlay: Overlay, runs: int, timeout: float, lab: str) -> tuple[int, str]:
    """Build one combination, verify it `runs` times in a row, take it down: (disagreeing runs, report lines)."""
    cluster = apply_view_settings(load_sample(sample), ViewSettings(kube_proxy_mode=mode, overlay=overlay))
    build.lab_down(lab)
    prepared = prepare(cluster, lab)
    began = time.monotonic()
    per_run: list[int] = []
    problems: list[str] = []
    report = None
    try:
        up(prepared)
        for run in range(1, runs + 1):
            report = verify(prepared, timeout=timeout)
            per_run.append(report.count(DISAGREE))
            problems += [f"    - run {run}: {r.spec.type} {r.spec.src} → {r.spec.dst} ({r.spec.proto}): "
                         f"{'; '.join(r.problems)}" for r in report.disagreements]
    finally:
        build.lab_down(lab)
    assert report is not None
    bad = sum(1 for n in per_run if n)
    line = (f"{sample:<16} {mode:<10} {overlay:<16} {len(report.results):>4} flows  {report.count(OK):>4} agree  "
            f"{report.count(NOT_VERIFIABLE):>3} not verifiable  disagree per run {per_run}  "
            f"{'OK' if not bad else 'DISAGREE'}  ({time.monotonic() - began:.0f} s)")
    return bad, "\n".join([line, *problems])


def main(argv: list[str] | None = None) -> int:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="verifies in a row per combination (default 10)")
    parser.add_argument("--sample", action="append", default=[], help="only this sample (repeatable)")
    parser.add_argument("--mode", action="append", default=[], choices=[str(m) for m in KubeProxyMode])
    parser.add_argument("--overlay", action="append", default=[], choices=[str(o) for o in Overlay])
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds before a probe counts as dropped")
    parser.add_argument("--lab", default="s", help="lab id prefix (namespaces knv<ID><n>-…)")
    parser.add_argument("--jobs", type=int, default=1, help="combinations verified side by side, each in its own lab")
    parser.add_argument("--combo", action="append", default=[], metavar="SAMPLE/MODE/OVERLAY",
                        help="only this combination (repeatable; instead of --sample/--mode/--overlay)")
    args = parser.parse_args(argv)
    reason = nx.lab_support()
    if reason:
        print(f"lab: not available here: {reason}")
        return 2
    samples = args.sample or [s.name for s in list_samples()]
    modes = [KubeProxyMode(m) for m in args.mode] or list(KubeProxyMode)
    overlays = [Overlay(o) for o in args.overlay] or list(Overlay)
    combos = [(sample, mode, overlay) for sample in samples for mode in modes for overlay in overlays]
    if args.combo:
        combos = [(sample, KubeProxyMode(mode), Overlay(overlay))
                  for sample, mode, overlay in (c.split("/") for c in args.combo)]
    started = time.monotonic()
    failed = 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(soak, *combo, args.runs, args.timeout, f"{args.lab}{i}") for i, combo in enumerate(combos)]
        for future in as_completed(futures):
            bad, text = future.result()
            failed += bad > 0
            print(text, flush=True)
    print(f"{len(combos)} combinations × {args.runs} runs: {len(combos) - failed} with 0 disagreements in every run, "
          f"{failed} with disagreements ({(time.monotonic() - started) / 60:.1f} min)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
