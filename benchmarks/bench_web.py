"""Web benchmark: prints the figures issue 5 and issue 7 ask for (never asserted by unit tests).

1. The default sample's first page load on localhost, driven by headless Chromium: the server time (sum of
   every request's handling time), the payload bytes as sent (after gzip), the number of requests, and the
   browser's time until the player sits on the first hop. Targets: < 1.5 s, < 1 MB.
2. The seed sample's figure JSON size. Target: < 200 KB.
3. The diagram-plus-trace callback for a 50-node, 1,500-pod cluster (cold: first trace on that cluster; warm:
   the same callback again, as every later callback on that cluster is). Target: < 300 ms.
4. The overview callback for a 1,000-node (30,000-pod) cluster, and its figure JSON size. Targets: ≤ 1 s,
   ≤ 1 MB.
5. What-if redraws (issue 16, issue 14): the diagram-plus-trace callback of an unchanged IPVS-mode variant of a
   200-node cluster, before (a new variant Cluster per redraw, so the engine recomputes its datapath and rules:
   what `state.variant` did before it was memoised) and after (the memo: the same Cluster, the engine's caches
   hit); then resident memory over 400 what-if requests on a 50-node, 1,500-pod cluster cycling through more
   variants than the memo holds (after the first 10 and after all 400; issue 14 asks for ≤ 10% growth).

6. Uploads in real headless Chromium (issue 18), from the file chosen to the new cluster's diagram drawn (the
   page's own clock, `window.netvizUpload.drawnMs`, and the benchmark's), then to the packet on the first hop of the
   flow FROM/TO open on; each stage's time and the machine's load average: a 100-node JSON dump (target ≤ 1 s), a
   1,000-node dump as JSON and gzipped (≤ 5 s each).
7. Kubernetes' limit (issue 18): `k8s-netviz serve PATH` on a 5,000-node, 150,000-pod, 15,000-service dump, from
   the command started to the grouped overview drawn with its first flow (≤ 30 s), then a search and a trace; the
   server's peak resident memory (VmHWM) and the browser's (the page's JS heap and the renderer's resident memory).

Measured on the 2-core development machine, shared (load average next to each figure; docs/deployment.md has the
full tables). Before the upload path's redraws were cut (load ≈ 0.5): 100 nodes 1.16 s; 1,000 nodes JSON 3.41 s,
gzip 3.30 s; Kubernetes' limit 19.9 s to the overview. After (load 1.1–2.3): 100 nodes 0.54 s (packet on its
first hop 0.78 s); 1,000 nodes JSON 2.85 s, gzip 2.92 s; Kubernetes' limit (load 0.7–0.9) 18.7 s to the overview
with its first flow, server peak 1,857 MB, browser JS heap 36 MB, renderer 278 MB.

Run: `python3 benchmarks/bench_web.py [--skip-browser] [--skip-1000] [--what-if-only] [--uploads-only]
[--limit-only]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plotly.utils import PlotlyJSONEncoder  # noqa: E402

from benchmarks.generate_cluster import dump_json, generate_dump  # noqa: E402
from webapp.app import state  # noqa: E402
from webapp.app.cache import cache_key, open_cache  # noqa: E402
from webapp.app.callbacks import draw_view  # noqa: E402
from webapp.engine.flows import FlowType  # noqa: E402
from webapp.figures import build_diagram  # noqa: E402
from webapp.loaders import load_sample, load_sources  # noqa: E402
from webapp.variants import ViewSettings, backend_pods  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class RequestMeter:
    """WSGI middleware: time and bytes of every response."""

    def __init__(self, app):
        self.app = app
        self.records: list[tuple[str, float, int]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        body = b"".join(self.app(environ, start_response))
        with self.lock:
            self.records.append((environ.get("PATH_INFO", ""), time.perf_counter() - started, len(body)))
        return [body]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def page_load(cache_dir: str) -> None:
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from webapp.app import create_app

    app = create_app(cache=cache_dir)
    meter = RequestMeter(app.server.wsgi_app)
    app.server.wsgi_app = meter
    server = make_server("127.0.0.1", _free_port(), app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for label in ("first visit (empty browser cache)", "second visit"):
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            meter.records.clear()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector('.hop-panel.current[data-hop="q0"]', state="attached", timeout=60_000)
            ready = time.perf_counter() - started
            page.wait_for_timeout(300)
            records = list(meter.records)
            server_time = sum(r[1] for r in records)
            payload = sum(r[2] for r in records)
            slowest = sorted(records, key=lambda r: -r[1])[:3]
            print(f"page load, {label}: server time {server_time:.3f} s over {len(records)} requests, "
                  f"payload {payload / 1e6:.3f} MB, browser until the player is ready {ready:.2f} s")
            print("    slowest: " + ", ".join(f"{path.rsplit('/', 1)[-1][:40]} {sec * 1000:.0f} ms"
                                            for path, sec, _ in slowest))
            context.close()
        browser.close()
    server.shutdown()


def seed_figure() -> None:
    cluster = load_sample("seed-article")
    diagram = build_diagram(cluster)
    size = len(json.dumps(diagram.figure, cls=PlotlyJSONEncoder))
    print(f"seed-article figure JSON: {size / 1000:.1f} KB")


def _cached_dump(cache, nodes: int):
    data = dump_json(generate_dump(nodes, 30)).encode()
    started = time.perf_counter()
    result = load_sources([(f"dump-{nodes}.json", data)], max_bytes=200_000_000)
    loaded = time.perf_counter() - started
    key = cache_key([(f"dump-{nodes}.json", data)])
    cache.put(key, result.cluster)
    return key, result.cluster, loaded


def _callback(cache, key, flow) -> tuple[float, int]:
    """Time of draw_view plus the JSON encoding Dash does for the response; the figure's JSON size."""
    started = time.perf_counter()
    out = draw_view(cache, key, *flow, ViewSettings(), None, None)
    body = json.dumps({"response": out}, cls=PlotlyJSONEncoder)
    elapsed = time.perf_counter() - started
    return elapsed, len(json.dumps(out["figure"], cls=PlotlyJSONEncoder)) if body else 0


def big_callbacks(cache_dir: str, skip_1000: bool) -> None:
    cache = open_cache(cache_dir)
    key, cluster, loaded = _cached_dump(cache, 50)
    choices = state.flow_choices(key, cluster)
    src, dst = choices[FlowType.POD_TO_POD_CROSS_NODE][0]
    flow = (FlowType.POD_TO_POD_CROSS_NODE, src, dst)
    cold, size = _callback(cache, key, flow)
    warm = [_callback(cache, key, flow)[0] for _ in range(5)]
    print(f"50 nodes / {len(cluster.pods)} pods (loaded in {loaded:.2f} s): diagram+trace callback "
          f"cold {cold * 1000:.0f} ms, warm median {statistics.median(warm) * 1000:.0f} ms, figure {size / 1000:.0f} KB")
    if skip_1000:
        return
    key, cluster, loaded = _cached_dump(cache, 1000)
    overview = [_callback(cache, key, (None, None, None)) for _ in range(3)]
    print(f"1000 nodes / {len(cluster.pods)} pods (loaded in {loaded:.2f} s): overview callback "
          f"first {overview[0][0] * 1000:.0f} ms, median {statistics.median(o[0] for o in overview) * 1000:.0f} ms, "
          f"figure JSON {overview[0][1] / 1e6:.3f} MB")
    src, dst = state.flow_choices(key, cluster)[FlowType.POD_TO_POD_CROSS_NODE][0]
    flow = (FlowType.POD_TO_POD_CROSS_NODE, src, dst)
    cold, size = _callback(cache, key, flow)
    warm = _callback(cache, key, flow)[0]
    print(f"1000 nodes: cross-node flow with its nodes expanded: cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms, "
          f"figure JSON {size / 1e6:.3f} MB")


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def what_if(cache_dir: str, requests: int = 400) -> None:
    from webapp.engine.datapath import drop_cached
    from webapp.model import KubeProxyMode

    cache = open_cache(cache_dir)
    key, cluster, _ = _cached_dump(cache, 200)
    flow = (FlowType.POD_TO_POD_CROSS_NODE, *state.flow_choices(key, cluster)[FlowType.POD_TO_POD_CROSS_NODE][0])
    ipvs = ViewSettings(kube_proxy_mode=KubeProxyMode.IPVS)

    def redraw(memo: bool) -> float:
        if not memo:  # as before the memo: a new variant Cluster, cold engine caches
            for old in state._variants.values():
                drop_cached(old)
            state._variants.clear()
        started = time.perf_counter()
        draw_view(cache, key, *flow, ipvs, None, None)
        return time.perf_counter() - started

    redraw(True)
    before = [redraw(False) for _ in range(5)]
    after = [redraw(True) for _ in range(5)]
    print(f"200 nodes / {len(cluster.pods)} pods, IPVS what-if redraw of an unchanged variant: "
          f"before (a new variant each time) median {statistics.median(before) * 1000:.0f} ms, "
          f"after (memoised) median {statistics.median(after) * 1000:.0f} ms")
    key, cluster, _ = _cached_dump(cache, 50)
    flow = (FlowType.POD_TO_POD_CROSS_NODE, *state.flow_choices(key, cluster)[FlowType.POD_TO_POD_CROSS_NODE][0])
    pods = list(backend_pods(cluster))[: state.VARIANT_ITEMS + 4]
    settings = [ViewSettings(KubeProxyMode.IPVS, down_pods=frozenset({pod})) for pod in pods]
    rss = {}
    for index in range(requests):
        draw_view(cache, key, *flow, settings[index % len(settings)], None, None)
        if index + 1 in (10, requests):
            gc.collect()
            rss[index + 1] = _rss_mb()
    print(f"50 nodes / {len(cluster.pods)} pods, {requests} what-if requests over {len(settings)} variants "
          f"(the memo holds {state.VARIANT_ITEMS}): RSS after 10 {rss[10]:.0f} MB, after {requests} "
          f"{rss[requests]:.0f} MB ({(rss[requests] / rss[10] - 1) * 100:+.1f} %)")


UPLOAD_DRAWN_JS = "() => window.netvizUpload && (window.netvizUpload.drawnMs !== null || !!window.netvizUpload.error)"
PLAYER_SETTLED_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot'), player = window.netvizPlayer;
  const k = gd && gd.data ? gd.data.map(t => t.name).lastIndexOf('packet') : -1;
  const done = !player.frames.length || (k >= 0 && gd.__netvizCommitted && gd.__netvizCommitted.trace === gd.data[k]);
  return done ? performance.now() - window.netvizUpload.started : false;
}"""
"""Ms from the files chosen until the player shows the new trace's first hop on the new diagram (assets/netviz.js
`commit`), or the diagram has no trace."""


def uploads(cache_dir: str) -> None:
    """Issue 18: each dump uploaded on a fresh page of one server, timed from the file chosen to the diagram drawn."""
    import gzip as gz

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from benchmarks.generate_cluster import cached_dump
    from webapp.app import create_app

    folder = Path(cache_dir).parent
    files = [("100 nodes, JSON", cached_dump(100, "json")), ("1,000 nodes, JSON", cached_dump(1000, "json"))]
    packed = folder / "cluster-1000.json.gz"
    packed.write_bytes(gz.compress(files[1][1].read_bytes(), compresslevel=6))
    files.append(("1,000 nodes, gzip", packed))
    app = create_app(cache=cache_dir)
    server = make_server("127.0.0.1", _free_port(), app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for label, path in files:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.set_default_timeout(300_000)
            page.goto(url)
            page.wait_for_selector('.hop-panel.current[data-hop="q0"]', state="attached", timeout=120_000)
            started = time.perf_counter()
            page.set_input_files("#upload input[type=file]", str(path))
            page.wait_for_function(UPLOAD_DRAWN_JS)
            outside = time.perf_counter() - started
            record = page.evaluate("() => window.netvizUpload")
            settled = page.wait_for_function(PLAYER_SETTLED_JS).json_value()
            stages = ", ".join(f"{stage} {record['at'][stage] / 1000:.2f}" for stage in record["stages"])
            print(f"upload {label} ({path.stat().st_size / 1e6:.1f} MB, load average {os.getloadavg()[0]:.1f}): "
                  f"file chosen → overview drawn {record['drawnMs'] / 1000:.2f} s (page clock), {outside:.2f} s "
                  f"(benchmark clock), the packet on its first hop {settled / 1000:.2f} s; stages at (s) {stages}; "
                  f"{page.inner_text('#upload-status')!r}")
            context.close()
        browser.close()
    server.shutdown()


def _peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def kubernetes_limit(nodes: int = 5000) -> None:
    """Issue 18: `serve PATH` on Kubernetes' limit; times, peak memory of the server and of the browser."""
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    from benchmarks.generate_cluster import cached_dump

    path = cached_dump(nodes, "json")
    size_mb = path.stat().st_size / 1e6
    port = _free_port()
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "webapp", "serve", str(path), "--port", str(port),
                                   "--cache", cache, "--max-bytes", str(int(size_mb + 10) * 1_000_000)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            while True:
                try:
                    urllib.request.urlopen(url, timeout=5).read()
                    break
                except OSError:
                    if server.poll() is not None:
                        print(f"serve failed: {server.stderr.read()[-2000:]}")
                        return
                    time.sleep(0.5)
            serving = time.perf_counter() - started
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
                page.set_default_timeout(600_000)
                page.goto(url)
                page.wait_for_function("() => { const gd = document.querySelector('#diagram .js-plotly-plot');"
                                       " return gd && gd.layout && gd.layout.meta && gd.layout.meta.cluster; }")
                drawn = time.perf_counter() - started
                print(f"Kubernetes' limit ({nodes} nodes, {size_mb:.0f} MB JSON): serve PATH started → page served "
                      f"{serving:.1f} s, → grouped overview drawn {drawn:.1f} s; "
                      f"{page.inner_text('#view-overview-note')!r}")
                started = time.perf_counter()
                page.fill("#view-search", "app-12345")
                page.keyboard.press("Enter")
                page.wait_for_function("() => { const r = document.querySelector('#diagram .js-plotly-plot')"
                                       "._fullLayout.xaxis.range; return Math.abs(r[1] - r[0] - 24) < 0.01; }")
                print(f"    search a pod by name → its group and node open, zoomed: {time.perf_counter() - started:.1f} s"
                      f" ({page.inner_text('#view-search-result')!r})")
                started = time.perf_counter()
                page.click("#view-search-from")  # the page opened on a first flow: wait for this pod's
                page.wait_for_function("() => document.getElementById('flow-src').innerText.includes('app-12345')")
                page.wait_for_function(PLAYER_SETTLED_JS.replace("window.netvizUpload.started", "0"))
                print(f"    use it as FROM → first flow traced and drawn: {time.perf_counter() - started:.1f} s "
                      f"({page.inner_text('#flow-src')} → {page.inner_text('#flow-dst')}: "
                      f"{page.inner_text('#verdict')})")
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                renderers = subprocess.run(["ps", "-C", "chromium", "-o", "rss=,args="], capture_output=True,
                                           text=True).stdout.splitlines()
                renderer_mb = max((int(line.split()[0]) / 1024 for line in renderers if "--type=renderer" in line),
                                  default=0.0)
                print(f"    memory: server peak (VmHWM) {_peak_kb(server.pid) / 1024:.0f} MB; browser JS heap "
                      f"{metrics.get('JSHeapUsedSize', 0) / 2**20:.0f} MB used of "
                      f"{metrics.get('JSHeapTotalSize', 0) / 2**20:.0f} MB, largest renderer process "
                      f"{renderer_mb:.0f} MB resident")
                shots = Path(tempfile.gettempdir())
                page.screenshot(path=str(shots / "netviz-limit-flow-1920.png"))
                page.goto(url)  # the overview again, at both screen sizes
                for width, height in ((1920, 1080), (1366, 768)):
                    page.set_viewport_size({"width": width, "height": height})
                    page.wait_for_function("() => { const gd = document.querySelector('#diagram .js-plotly-plot');"
                                           " return gd && gd.layout && gd.layout.meta && gd.layout.meta.cluster; }")
                    page.wait_for_timeout(2_000)
                    page.screenshot(path=str(shots / f"netviz-limit-overview-{width}.png"))
                print(f"    screenshots: {shots}/netviz-limit-*.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description="web benchmark")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-1000", action="store_true")
    parser.add_argument("--what-if-only", action="store_true")
    parser.add_argument("--uploads-only", action="store_true")
    parser.add_argument("--limit-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.what_if_only:
            what_if(str(Path(folder) / "what-if"))
            return 0
        if args.uploads_only:
            uploads(str(Path(folder) / "uploads"))
            return 0
        if args.limit_only:
            kubernetes_limit()
            return 0
        what_if(str(Path(folder) / "what-if"))
        if not args.skip_browser:
            page_load(str(Path(folder) / "page"))
        seed_figure()
        big_callbacks(str(Path(folder) / "big"), args.skip_1000)
        if not args.skip_browser:
            uploads(str(Path(folder) / "uploads"))
            if not args.skip_1000:
                kubernetes_limit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
