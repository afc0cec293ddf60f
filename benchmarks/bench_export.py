"""Benchmark: the exports of the seed article's cluster — the seed lesson as the standalone player (target ≤ 3 MB),
a picture of a hop (SVG, PNG), a flow's animation (GIF, MP4), the seed lesson's handout — each file's size and the
time it took (a fresh process, the browser's start included).

Prints figures; asserts nothing. Needs Debian's chromium (kaleido drives it).
Run: python3 benchmarks/bench_export.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOW = ["--sample", "seed-article", "--from", "pod/default/api-1", "--to", "svc/default/web:80"]
CROSS = ["--sample", "flannel-vxlan", "--from", "pod/frontend-1", "--to", "pod/backend-2:8080"]


def export(*args: str) -> float:
    """Seconds `k8s-netviz export ARGS` took (a fresh process, as a lecturer runs it)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "webapp", "export", *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def size(path: Path) -> str:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(p.stat().st_size for p in files) / 1e6:6.2f} MB"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        rows = [
            ("lesson, seed lesson, standalone HTML (≤ 3 MB)", out / "lesson.html",
             ["lesson", "seed-article", "--lang", "zh", "-o", str(out / "lesson.html")]),
            ("image, DNAT hop, SVG 1600×900", out / "dnat.svg",
             ["image", *FLOW, "--step", "7", "-o", str(out / "dnat.svg")]),
            ("image, DNAT hop, PNG 1600×900", out / "dnat.png",
             ["image", *FLOW, "--step", "7", "-o", str(out / "dnat.png")]),
            ("animation, cross-node VXLAN, GIF 1280×720", out / "vxlan.gif",
             ["animation", *CROSS, "-o", str(out / "vxlan.gif")]),
            ("animation, cross-node VXLAN, MP4 1280×720", out / "vxlan.mp4",
             ["animation", *CROSS, "-o", str(out / "vxlan.mp4")]),
            ("handout, seed lesson (Markdown + PNGs)", out / "handout_files",
             ["handout", "seed-article", "-o", str(out / "handout.md")]),
        ]
        print(f"{'export':<48} {'size':>9} {'time':>8}")
        for label, path, args in rows:
            seconds = export(*args)
            print(f"{label:<48} {size(path)} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
