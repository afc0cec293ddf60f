"""Scale benchmark: kubectl dumps of 10, 100 and 1,000 nodes (30 pods each), in YAML and JSON.

For each size and format, in a fresh subprocess (so `ru_maxrss` is that load's peak alone):
- load time and peak memory through the loader to the validated model (targets at 1,000 nodes:
  YAML <= 5 s, JSON <= 3 s, <= 1 GB);
- a duplicated pod IP written into the dump: is it reported at its exact line (and where)?
- the overview callback (webapp.app.callbacks.draw_view, no flow picked) plus Dash's JSON encoding of its
  outputs (target <= 1 s), and the figure's JSON size (target <= 1 MB);
- one cross-node pod-to-service trace (cold), then the diagram-plus-trace callback for it (the path's nodes
  and service expanded), with its JSON encoding.

Run: `python benchmarks/bench_scale.py [--sizes 10 100 1000] [--formats yaml json]`. Dumps are generated
into benchmarks/out/ when missing. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.generate_cluster import SIZES, cached_dump  # noqa: E402

LOAD_LIMIT_S = {"yaml": 5.0, "json": 3.0}
MEMORY_LIMIT_MB = 1024
OVERVIEW_LIMIT_S = 1.0
FIGURE_LIMIT_BYTES = 1_000_000
MAX_INPUT_BYTES = 100_000_000
SUBPROCESS_TIMEOUT_S = 600



# ---------------------------------------------------------------------------------------------------------
# The semantic fault: one pod takes the IP of another pod on the same node.

_YAML_POD_IP = re.compile(r"^    podIP: (\S+)$", re.M)
_YAML_HOST_IP = re.compile(r"^    hostIP: (\S+)$", re.M)


def duplicate_pod_ip(text: str, fmt: str) -> tuple[str, int, int, str]:
    """The dump with the last pod's IP replaced by the IP of an earlier pod on the same node.

    Returns (new text, 1-based line and column of the faulty `podIP` value, the duplicated IP).
    """
    if fmt == "yaml":
        return _duplicate_in_yaml(text)
    return _duplicate_in_json(text)


def _duplicate_in_yaml(text: str) -> tuple[str, int, int, str]:
    pod_ips = [m for m in _YAML_POD_IP.finditer(text) if m.group(1).startswith("10.244.")]
    host_before = {m.start(): m.group(1) for m in _YAML_HOST_IP.finditer(text)}
    starts = sorted(host_before)

    def host_of(offset: int) -> str:
        # hostIP precedes podIP within a pod's status (sorted keys).
        return host_before[max(s for s in starts if s < offset)]

    victim = pod_ips[-1]
    donor = next(m for m in pod_ips[:-1] if host_of(m.start()) == host_of(victim.start()))
    old, new = victim.group(1), donor.group(1)
    line = text.count("\n", 0, victim.start()) + 1
    col = victim.start(1) - victim.start() + 1
    podips_entry = f"    - ip: {old}\n"
    tail_at = text.index(podips_entry, victim.end())
    patched = (
        text[: victim.start(1)] + new + text[victim.end(1): tail_at]
        + f"    - ip: {new}\n" + text[tail_at + len(podips_entry):]
    )
    return patched, line, col, new


def _duplicate_in_json(text: str) -> tuple[str, int, int, str]:
    lines = text.split("\n")
    pods = [(i, json.loads(line.rstrip(","))) for i, line in enumerate(lines) if line.startswith('{"apiVersion":"v1","kind":"Pod"')]
    pods = [(i, p) for i, p in pods if not p["spec"].get("hostNetwork")]
    victim_line, victim = pods[-1]
    donor = next(p for _, p in pods[:-1] if p["status"]["hostIP"] == victim["status"]["hostIP"])
    old, new = victim["status"]["podIP"], donor["status"]["podIP"]
    line = lines[victim_line]
    col = line.index(f'"podIP":"{old}"') + len('"podIP":') + 1
    lines[victim_line] = line.replace(f'"podIP":"{old}"', f'"podIP":"{new}"').replace(f'{{"ip":"{old}"}}', f'{{"ip":"{new}"}}')
    return "\n".join(lines), victim_line + 1, col, new


# ---------------------------------------------------------------------------------------------------------
# One measurement, in its own process.


def _cross_node_flow(cluster) -> tuple[str, str] | None:
    """`pod/<ns>/<name>` on the first node to `svc/<ns>/<name>:<port>`, a ClusterIP service with a backend on
    another node (the engine's SRC/DST grammar)."""
    first = cluster.nodes[0].name
    source = next((p for p in cluster.pods_by_node[first]
                   if not p.host_network and p.ready and p.namespace != "kube-system"), None)
    if source is None:
        return None
    for service in cluster.services:
        eps = cluster.endpoints_by_service.get(service.key, ())
        if service.namespace == "kube-system":
            continue
        if service.cluster_ip is not None and service.selector and service.ports and any(
            e.node not in (None, first) for e in eps
        ):
            return f"pod/{source.key}", f"svc/{service.key}:{service.ports[0].port}"
    return None


class _MemoryBackend:
    """A dict behind the app's ClusterCache, so the callbacks' own code runs without a cache folder."""

    def __init__(self) -> None:
        self._values: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._values.get(key)

    def add(self, key: str, value: bytes) -> None:
        self._values.setdefault(key, value)


def _timed_draw(cache, key: str, flow: tuple[str, str, str] | None) -> tuple[float, int, dict]:
    """The diagram-plus-trace callback's work (webapp.app.callbacks.draw_view) and its JSON encoding, as Dash
    does it: seconds, bytes of the figure's JSON, the outputs."""
    from plotly.io.json import to_json_plotly

    from webapp.app.callbacks import draw_view
    from webapp.variants import ViewSettings

    flow_type, src, dst = flow or (None, None, None)
    started = time.perf_counter()
    out = draw_view(cache, key, flow_type, src, dst, ViewSettings.parse(), None, {"expanded": [], "focus": None})
    to_json_plotly(out)
    seconds = time.perf_counter() - started
    return seconds, len(to_json_plotly(out["figure"]).encode()), out


def measure(path: Path, fmt: str, quick: bool = False) -> dict:
    """Load, overview, trace and fault figures for one dump (run in a fresh process); `quick`: load and overview only."""
    from webapp.loaders import load_paths, load_sources

    result: dict = {"file": path.name, "bytes": path.stat().st_size}
    started, cpu_started = time.perf_counter(), time.process_time()
    loaded = load_paths([path], max_bytes=MAX_INPUT_BYTES)
    result["load_s"] = time.perf_counter() - started
    result["load_cpu_s"] = time.process_time() - cpu_started
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cluster = loaded.cluster
    if cluster is None:
        result["load_error"] = "; ".join(f"{p.line}:{p.col} {p.message}" for p in loaded.errors[:3])
        return result
    result.update(nodes=len(cluster.nodes), pods=len(cluster.pods), services=len(cluster.services))

    # The callbacks' own code on the loaded cluster: the overview (no flow picked), then one traced flow.
    try:
        from webapp.app.cache import ClusterCache, cache_key
        from webapp.app.factory import warm_up_encoder

        warm_up_encoder()
        cache = ClusterCache(_MemoryBackend())
        key = cache.put(cache_key([(path.name, b"")]), cluster)
        result["overview_s"], result["figure_bytes"], out = _timed_draw(cache, key, None)
        result["overview"] = bool(out["note"])
        if not quick:
            flow = _cross_node_flow(cluster)
            if flow is not None:
                from webapp.engine.flows import trace_flow

                started = time.perf_counter()
                trace = trace_flow(cluster, *flow)  # cold: builds the nodes' rules on the way
                result["trace_s"] = time.perf_counter() - started
                result["path_view_s"], result["path_view_bytes"], out = _timed_draw(cache, key, ("pod-to-service", *flow))
                result["trace"] = (f"{flow[0]} -> {flow[1]}: {len(trace.hops)} hops, {trace.disposition}; "
                                   f"page says {out['verdict']!r}")
    except Exception as exc:  # the figures and the app are others' parts: report, never hide
        result["overview_error"] = f"{type(exc).__name__}: {exc}"
    if quick:
        return result

    # The semantic fault: a duplicated pod IP, reported where it is.
    del cluster, loaded
    text = path.read_text(encoding="utf-8")
    faulty, line, col, ip = duplicate_pod_ip(text, fmt)
    del text
    started = time.perf_counter()
    bad = load_sources([(path.name, faulty.encode())], max_bytes=MAX_INPUT_BYTES)
    result["fault_s"] = time.perf_counter() - started
    result["fault_expected"] = f"{path.name}:{line}:{col}"
    duplicates = [p for p in bad.errors if "already used" in p.message and ip in p.message]
    result["fault_reported"] = [f"{p.file}:{p.line}:{p.col} {p.message}" for p in bad.errors[:3]]
    result["fault_at"] = f"{duplicates[0].line}:{duplicates[0].col}" if duplicates else "not reported"
    result["fault_ok"] = bad.cluster is None and len(bad.errors) == 1 and len(duplicates) == 1 and (
        duplicates[0].line == line
    )
    return result


# ---------------------------------------------------------------------------------------------------------
# The table.


def run_measure(path: Path, fmt: str, quick: bool = False) -> dict:
    """`measure` in a fresh Python process; a crash is returned as {"crash": [last line of stderr]}."""
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", str(path), "--format", fmt]
        + (["--quick"] if quick else []),
        capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, cwd=REPO,
    )
    if completed.returncode != 0:
        return {"file": path.name, "crash": completed.stderr.strip().splitlines()[-1:] or ["?"]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _verdict(value: float | None, limit: float) -> str:
    return "" if value is None else ("ok" if value <= limit else "OVER")


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def print_table(rows: list[tuple[int, str, dict]]) -> None:
    header = (
        f"{'nodes':>5} {'fmt':4} {'MB in':>6} {'pods':>6} | {'load s':>7} {'':4} {'cpu s':>6} {'peak MB':>8} {'':4} | "
        f"{'overview s':>10} {'':4} {'fig KB':>7} {'':4} | {'trace s':>7} {'path view s':>11} | dup. pod IP line:col"
    )
    print(header)
    print("-" * len(header))
    for nodes, fmt, r in rows:
        if "crash" in r or "load_error" in r:
            print(f"{nodes:>5} {fmt:4} FAILED: {r.get('crash') or r.get('load_error')}")
            continue
        fig_kb = r.get("figure_bytes", 0) / 1000 if "figure_bytes" in r else None
        big = nodes == max(SIZES)
        print(
            f"{nodes:>5} {fmt:4} {r['bytes'] / 1e6:>6.1f} {r['pods']:>6} | "
            f"{r['load_s']:>7.2f} {_verdict(r['load_s'], LOAD_LIMIT_S[fmt]) if big else '':4} {r['load_cpu_s']:>6.2f} "
            f"{r['peak_mb']:>8.0f} {_verdict(r['peak_mb'], MEMORY_LIMIT_MB):4} | "
            f"{_fmt(r.get('overview_s'), '{:.3f}'):>10} {_verdict(r.get('overview_s'), OVERVIEW_LIMIT_S):4} "
            f"{_fmt(fig_kb, '{:.0f}'):>7} {_verdict(r.get('figure_bytes'), FIGURE_LIMIT_BYTES):4} | "
            f"{_fmt(r.get('trace_s'), '{:.3f}'):>7} {_fmt(r.get('path_view_s'), '{:.3f}'):>11} | "
            f"{'exact' if r['fault_ok'] else 'WRONG'} {r['fault_at']} (value at {r['fault_expected'].split(':', 1)[1]})"
        )
    print()
    print("load s: wall clock, file to validated model; cpu s: that load's own CPU time (the same, on an idle machine).")
    print(f"targets at {max(SIZES)} nodes: load YAML <= {LOAD_LIMIT_S['yaml']} s, JSON <= {LOAD_LIMIT_S['json']} s, "
          f"peak <= {MEMORY_LIMIT_MB} MB; overview (build + JSON) <= {OVERVIEW_LIMIT_S} s and <= "
          f"{FIGURE_LIMIT_BYTES // 1000} KB; a duplicated pod IP reported at its exact line\n(JSON dumps hold one item per line; their errors point at the item).")
    for nodes, fmt, r in rows:
        for key in ("overview_error", "trace_error"):
            if key in r:
                print(f"{nodes} {fmt}: {key.replace('_', ' ')}: {r[key]}")
        if "trace" in r:
            print(f"{nodes} {fmt}: trace {r['trace']}")
        if not r.get("fault_ok", True):
            print(f"{nodes} {fmt}: duplicated pod IP expected at {r['fault_expected']}, reported: {r['fault_reported']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--formats", nargs="+", choices=("yaml", "json"), default=["yaml", "json"])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=("yaml", "json"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.format, args.quick)))
        return 0
    rows = []
    for nodes in args.sizes:
        for fmt in args.formats:
            path = cached_dump(nodes, fmt)
            print(f"measuring {path.name} …", file=sys.stderr, flush=True)
            rows.append((nodes, fmt, run_measure(path, fmt)))
    print(f"k8s-netviz scale benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
