"""KubeDiagrams beside k8s-netviz on the same kubectl dumps (10, 100 and 1,000 nodes, YAML).

KubeDiagrams (PyPI `kubediagrams`, command `kube-diagrams -o OUT.png MANIFEST...`) renders a static
Graphviz picture of every object in the manifests. It lives in its own virtualenv made by
`benchmarks/setup-kubediagrams.sh` (run here when missing), never among the app's dependencies.

For each size this prints KubeDiagrams' wall time and peak memory (capped by --timeout, reported as
"timed out after N s" when it does not finish) next to ours: load to the validated model plus the overview
figure, measured by bench_scale in a fresh process.

Run: `python benchmarks/bench_kubediagrams.py [--sizes 10 100 1000] [--timeout 600]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.bench_scale import run_measure  # noqa: E402
from benchmarks.generate_cluster import OUT_DIR, cached_dump  # noqa: E402
from benchmarks.generate_cluster import SIZES  # noqa: E402

SETUP_SCRIPT = REPO / "benchmarks" / "setup-kubediagrams.sh"
VENV = REPO / "benchmarks" / ".venv-kubediagrams"
DEFAULT_TIMEOUT_S = 600


@dataclass(frozen=True)
class ExternalRun:
    """One run of an outside command: wall time, peak RSS, exit status, or the time limit it hit."""

    seconds: float
    peak_mb: float
    returncode: int | None
    timed_out: bool
    output: Path
    stderr_tail: str


def kube_diagrams_command() -> Path:
    """The kube-diagrams executable in the benchmark's own venv, installing it first when missing."""
    executable = VENV / "bin" / "kube-diagrams"
    if not executable.exists():
        subprocess.run(["bash", str(SETUP_SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return executable


def run_with_limit(command: list[str], timeout_s: float, output: Path, cwd: Path) -> ExternalRun:
    """Run `command` in its own process group; wall time and peak RSS from wait4, killed at the limit."""
    log = cwd / (output.name + ".stderr")
    with open(log, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr,
                                   start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout_s:
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    return ExternalRun(
        seconds=seconds, peak_mb=usage.ru_maxrss / 1024, returncode=None if timed_out else process.returncode,
        timed_out=timed_out, output=output, stderr_tail=tail[0] if tail else "",
    )


def run_kube_diagrams(manifest: Path, timeout_s: float) -> ExternalRun:
    work = OUT_DIR / "kubediagrams"
    work.mkdir(parents=True, exist_ok=True)
    output = work / f"{manifest.stem}.png"
    output.unlink(missing_ok=True)
    output.with_suffix("").unlink(missing_ok=True)
    return run_with_limit([str(kube_diagrams_command()), "-o", str(output), str(manifest)], timeout_s, output, work)


def describe(run: ExternalRun) -> str:
    if run.timed_out:
        text = f"timed out after {run.seconds:.0f} s (peak >= {run.peak_mb:.0f} MB)"
        graph = run.output.with_suffix("")  # kube-diagrams writes the Graphviz source there, then runs dot on it
        if graph.exists():
            text += f"; its {graph.stat().st_size / 1e6:.1f} MB Graphviz graph was written, dot was still laying it out"
        return text
    if run.returncode != 0 or not run.output.exists():
        return f"failed (exit {run.returncode}) after {run.seconds:.1f} s: {run.stderr_tail}"
    return f"{run.seconds:.1f} s, peak {run.peak_mb:.0f} MB, {run.output.stat().st_size / 1e6:.1f} MB PNG"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per KubeDiagrams run")
    args = parser.parse_args(argv)

    rows = []
    for nodes in args.sizes:
        manifest = cached_dump(nodes, "yaml")
        print(f"{manifest.name}: k8s-netviz …", file=sys.stderr, flush=True)
        ours = run_measure(manifest, "yaml", quick=True)
        print(f"{manifest.name}: kube-diagrams (limit {args.timeout:.0f} s) …", file=sys.stderr, flush=True)
        theirs = run_kube_diagrams(manifest, args.timeout)
        rows.append((nodes, manifest, ours, theirs))

    print(f"KubeDiagrams vs k8s-netviz on the same kubectl dumps ({os.cpu_count()} CPUs)")
    header = f"{'nodes':>5} {'pods':>7} {'MB':>5} | {'k8s-netviz load + overview':<34} | kube-diagrams -o x.png"
    print(header)
    print("-" * (len(header) + 30))
    for nodes, manifest, ours, theirs in rows:
        if "crash" in ours or "load_error" in ours:
            mine = f"failed: {ours.get('crash') or ours.get('load_error')}"
        else:
            overview = ours.get("overview_s")
            total = ours["load_s"] + (overview or 0.0)
            mine = (f"{total:.2f} s ({ours['load_s']:.2f} + {overview:.2f}), {ours['peak_mb']:.0f} MB"
                    if overview is not None else f"{ours['load_s']:.2f} s load (overview: {ours.get('overview_error')})")
        print(f"{nodes:>5} {ours.get('pods', '?'):>7} {manifest.stat().st_size / 1e6:>5.1f} | {mine:<34} | {describe(theirs)}")
    print()
    print("k8s-netviz: parse + validate to the model, then the overview figure (interactive; nodes expand on click).")
    print("KubeDiagrams: one static Graphviz PNG of every object; images are in benchmarks/out/kubediagrams/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
