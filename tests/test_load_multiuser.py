"""Load test: two gunicorn workers, 50 concurrent clients on loopback, each uploading its own cluster and
tracing flows through the app's real Dash endpoints for 60 s.

Every client's cluster is a different kubectl dump (its own seed, so its own pod names). Each response must
carry only that client's pods, never another's; there must be no errors; and because every request opens a
new connection, uploads and traces land on both workers, so clusters are found through the shared cache.
Prints p50/p95 latency per request kind.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks.generate_cluster import dump_yaml, generate_dump
from webapp.app import gunicorn_runner
from webapp.app.cache import default_cache_dir
from webapp.app.layout import Id

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 50
WORKERS = 2
DURATION_S = 60.0
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
NODES, PODS_PER_NODE, SERVICES_PER_NODE = 2, 4, 1
FLOWS_PER_UPLOAD = 3
POD_NAME = re.compile(r"\b(?:kube-proxy|coredns|app-\d{5})-[a-z0-9]{5,10}(?:-[a-z0-9]{5})?\b")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app under two gunicorn workers on a free loopback port, with its own diskcache folder."""
    port = _free_port()
    cache = tmp_path_factory.mktemp("cache")
    log = tmp_path_factory.mktemp("log") / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp.app.gunicorn_runner", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(WORKERS), "--cache", str(cache), "--worker-header"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            if _get(port, "/_dash-layout")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"gunicorn did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    yield port
    print(f"gunicorn log (last lines):\n{log.read_text(errors='replace')[-30000:]}")
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass(frozen=True)
class Callback:
    """One server callback as /_dash-dependencies describes it."""

    output: str
    outputs: tuple[tuple[str, str], ...]
    inputs: tuple[tuple[str, str], ...]
    state: tuple[tuple[str, str], ...]


def _ids(entries) -> tuple[tuple[str, str], ...]:
    return tuple((e["id"], e["property"]) for e in entries)


def _split_output(output: str) -> tuple[tuple[str, str], ...]:
    """`..a.b...c.d..` (several outputs) or `a.b` → ((a, b), (c, d))."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return tuple(tuple(part.rsplit(".", 1)) for part in parts)  # type: ignore[misc]


def _callbacks(port: int) -> list[Callback]:
    status, body = _get(port, "/_dash-dependencies")
    assert status == 200
    return [
        Callback(dep["output"], _split_output(dep["output"]), _ids(dep["inputs"]), _ids(dep["state"]))
        for dep in json.loads(body)
        if not dep.get("clientside_function")
    ]


def _callback_with(callbacks: list[Callback], *, input_: tuple[str, str], output: tuple[str, str]) -> Callback:
    found = [cb for cb in callbacks if input_ in cb.inputs and output in cb.outputs]
    assert len(found) == 1, f"expected one callback from {input_} to {output}, found {len(found)}"
    return found[0]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"upload": [], "trace": []})
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    served_by: dict[str, set[str]] = field(default_factory=lambda: {"upload": set(), "trace": set()})
    cross_worker: int = 0
    traces_with_hops: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One browser's worth of state: the values of the components the callbacks read, kept client-side."""

    def __init__(self, index: int, port: int, control: Callback, draw: Callback, owner_of: dict[str, int],
                 stats: Stats, deadline: float):
        self.index, self.port, self.control, self.draw = index, port, control, draw
        self.owner_of, self.stats, self.deadline = owner_of, stats, deadline
        self.values: dict[tuple[str, str], object] = {
            (Id.URL, "search"): "", (Id.PASTE_LOAD, "n_clicks"): 0, (Id.VIEW, "data"): {"expanded": [], "focus": None},
        }

    def post(self, callback: Callback, changed: tuple[str, str], kind: str) -> tuple[dict, str]:
        body = {
            "output": callback.output,
            "outputs": [{"id": i, "property": p} for i, p in callback.outputs],
            "inputs": [{"id": i, "property": p, "value": self.values.get((i, p))} for i, p in callback.inputs],
            "state": [{"id": i, "property": p, "value": self.values.get((i, p))} for i, p in callback.state],
            "changedPropIds": [f"{changed[0]}.{changed[1]}"],
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        started = time.perf_counter()
        try:
            conn.request("POST", "/_dash-update-component", json.dumps(body),
                         {"Content-Type": "application/json", "Connection": "close"})
            response = conn.getresponse()
            payload = response.read()
            worker = response.getheader("X-Served-By") or "?"
        finally:
            conn.close()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{kind}: HTTP {response.status}: {payload[:300]!r}")
        with self.stats.lock:
            self.stats.latencies[kind].append(elapsed)
            self.stats.served_by[kind].add(worker)
        text = payload.decode()
        decoded = json.loads(text)
        if "sideUpdate" in decoded:  # the app's on_error handler turned an exception into a banner
            raise RuntimeError(f"{kind}: callback error: {json.dumps(decoded['sideUpdate'])[:300]}")
        banner = decoded["response"].get(Id.ERROR_BANNER, {}).get("children")
        if banner:
            raise RuntimeError(f"{kind}: error banner: {banner}")
        self.check_owner(json.dumps(decoded), kind)  # re-encoded: the app's encoder writes "/" as \u002f
        return decoded["response"], worker

    def check_owner(self, text: str, kind: str) -> None:
        names = set(POD_NAME.findall(text))
        foreign = {n for n in names if self.owner_of.get(n, self.index) != self.index}
        own = {n for n in names if self.owner_of.get(n) == self.index}
        if foreign:
            with self.stats.lock:
                self.stats.foreign.append(f"client {self.index} {kind}: {sorted(foreign)[:3]}")
        if not own:
            raise RuntimeError(f"{kind}: the response names none of client {self.index}'s pods")

    def absorb(self, response: dict) -> None:
        for component, props in response.items():
            for prop, value in props.items():
                self.values[(component, prop)] = value

    def run(self, upload: str, filename: str) -> None:
        rounds = 0
        while time.monotonic() < self.deadline:
            try:
                self.values[(Id.UPLOAD, "contents")] = [upload]
                self.values[(Id.UPLOAD, "filename")] = [filename]
                response, upload_worker = self.post(self.control, (Id.UPLOAD, "contents"), "upload")
                self.absorb(response)
                key = self.values.get((Id.CLUSTER_KEY, "data"))
                if not isinstance(key, str):
                    raise RuntimeError(f"upload gave no cluster key: {json.dumps(response)[:300]}")
                sources = [o["value"] for o in self.values.get((Id.FLOW_SRC, "options")) or []]
                if not sources:
                    raise RuntimeError("upload offered no flow source")
                for pick in range(FLOWS_PER_UPLOAD):
                    if time.monotonic() >= self.deadline:
                        break
                    if pick:  # another source: the controller offers its valid destinations
                        self.values[(Id.FLOW_SRC, "value")] = sources[(rounds + pick) % len(sources)]
                        self.absorb(self.post(self.control, (Id.FLOW_SRC, "value"), "upload")[0])
                    response, trace_worker = self.post(self.draw, (Id.FLOW_DST, "value"), "trace")
                    verdict_class = response.get(Id.VERDICT, {}).get("className", "")
                    if "error" in verdict_class:
                        raise RuntimeError(f"trace: {response[Id.VERDICT].get('children')}")
                    with self.stats.lock:
                        self.stats.cross_worker += trace_worker != upload_worker
                        self.stats.traces_with_hops += bool(response.get(Id.PLAYBACK, {}).get("data"))
                rounds += 1
            except Exception as error:  # every failure is counted and reported, never swallowed
                with self.stats.lock:
                    self.stats.errors.append(f"client {self.index}: {type(error).__name__}: {error}")
                return


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


@pytest.mark.slow
def test_fifty_clients_two_workers_never_see_each_others_cluster(server):
    port = server
    callbacks = _callbacks(port)
    control = _callback_with(callbacks, input_=(Id.UPLOAD, "contents"), output=(Id.CLUSTER_KEY, "data"))
    draw = _callback_with(callbacks, input_=(Id.CLUSTER_KEY, "data"), output=(Id.DIAGRAM, "figure"))

    uploads, owner_of, pod_names = [], {}, []
    for index in range(CLIENTS):
        dump = generate_dump(NODES, PODS_PER_NODE, SERVICES_PER_NODE, seed=1000 + index)
        for item in dump["items"]:
            if item["kind"] == "Pod":
                name = item["metadata"]["name"]
                owner_of[name] = index
                pod_names.append(name)
                if not name.startswith("kube-proxy-"):  # the ReplicaSet's name (its hash) is this client's too
                    owner_of[name.rsplit("-", 1)[0]] = index
        data = base64.b64encode(dump_yaml(dump).encode()).decode()
        uploads.append((f"data:application/x-yaml;base64,{data}", f"client-{index}.yaml"))
    assert len(set(pod_names)) == len(pod_names) == CLIENTS * NODES * PODS_PER_NODE  # no name shared by two clients

    stats = Stats()
    deadline = time.monotonic() + DURATION_S
    threads = [
        threading.Thread(target=Client(i, port, control, draw, owner_of, stats, deadline).run, args=uploads[i],
                         name=f"client-{i}")
        for i in range(CLIENTS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DURATION_S + REQUEST_TIMEOUT_S + 5)
    wall = time.monotonic() - started

    print()
    print(f"{CLIENTS} clients, {WORKERS} gunicorn workers, {wall:.0f} s")
    for kind, values in stats.latencies.items():
        if values:
            print(f"  {kind:6} requests {len(values):5}  p50 {_percentile(values, 50) * 1000:7.0f} ms  "
                  f"p95 {_percentile(values, 95) * 1000:7.0f} ms  workers {sorted(stats.served_by[kind])}")
    print(f"  traces drawn by another worker than the upload: {stats.cross_worker}; with hops: "
          f"{stats.traces_with_hops}")
    print(f"  errors {len(stats.errors)}, responses carrying another client's cluster {len(stats.foreign)}")

    assert not any(t.is_alive() for t in threads), "a client did not stop in time"
    assert stats.errors == []
    assert stats.foreign == []
    assert len(stats.latencies["upload"]) >= CLIENTS and len(stats.latencies["trace"]) >= CLIENTS
    assert stats.traces_with_hops == len(stats.latencies["trace"])
    assert len(stats.served_by["upload"] | stats.served_by["trace"]) == WORKERS
    assert stats.cross_worker > 0  # a cluster uploaded through one worker was traced by the other


def test_runner_fixes_one_cache_location_for_all_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gunicorn_runner.resolve_cache("rel/cache") == str(tmp_path / "rel" / "cache")
    assert (tmp_path / "rel" / "cache").is_dir()
    assert gunicorn_runner.resolve_cache("redis://cache.internal:6379/0") == "redis://cache.internal:6379/0"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert gunicorn_runner.resolve_cache(None) == str(default_cache_dir()) == str(
        tmp_path / "home" / ".cache" / "k8s-netviz" / "clusters")


def test_runner_environment_and_gunicorn_options(tmp_path):
    env = gunicorn_runner.worker_environment([str(tmp_path / "a.yaml"), str(tmp_path / "b")], "/c", 75.0, True)
    assert env == {
        "K8S_NETVIZ_PATHS": f"{tmp_path / 'a.yaml'}:{tmp_path / 'b'}",
        "K8S_NETVIZ_CACHE": "/c",
        "K8S_NETVIZ_MAX_UPLOAD_MB": "75.0",
        "K8S_NETVIZ_WORKER_HEADER": "1",
    }
    assert gunicorn_runner.worker_environment([], "/c") == {"K8S_NETVIZ_PATHS": "", "K8S_NETVIZ_CACHE": "/c"}
    options = gunicorn_runner.gunicorn_options("127.0.0.1", 8050, 2)
    assert (options["bind"], options["workers"], options["worker_class"], options["threads"]) == (
        "127.0.0.1:8050", 2, "gthread", 4)
    assert options["preload_app"] is False and options["timeout"] == 120
    assert gunicorn_runner.gunicorn_options("::1", 8050, 1)["bind"] == "[::1]:8050"
    with pytest.raises(ValueError) as info:
        gunicorn_runner.gunicorn_options("127.0.0.1", 8050, 0)
    assert str(info.value) == "workers must be at least 1, got 0"
