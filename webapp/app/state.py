"""Server-side work of the callbacks, without dash: loading samples and uploads into the content-addressed
cache, flow choices, tracing, and building the diagram for one view. No per-user state lives here: everything
is a function of the cache key and the view state the browser sends."""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from webapp.app.cache import ClusterCache, cache_key
from webapp.app.catalog import text
from webapp.figures import Diagram, DiagramView, build_diagram, playback
from webapp.model import Cluster
from webapp.problems import Problem
from webapp.variants import ViewSettings, apply_view_settings


@dataclass(frozen=True)
class LoadOutcome:
    """A load attempt: the new cache key (None when it failed) and what to tell the user."""

    key: str | None
    problems: tuple[Problem, ...] = ()
    messages: tuple[str, ...] = ()
    cluster: Cluster | None = None


def _sample_sources(path: Path) -> list[tuple[str, bytes]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [(str(f.relative_to(path.parent)), f.read_bytes()) for f in files]


_sample_keys: dict[str, str] = {}
_sample_lock = threading.Lock()


def load_sample_into(cache: ClusterCache, name: str) -> LoadOutcome:
    """A built-in sample in the cache (its key is the hash of its files, like any upload)."""
    from webapp.loaders import list_samples, load_sample

    with _sample_lock:
        key = _sample_keys.get(name)
    if key is not None and cache.get(key) is not None:
        return LoadOutcome(key, cluster=cache.get(key))
    info = next((s for s in list_samples() if s.name == name), None)
    if info is None:
        return LoadOutcome(None, messages=(f"no sample named {name!r}",))
    key = cache_key(_sample_sources(info.path))
    cluster = cache.get(key)
    if cluster is None:
        cluster = load_sample(name)
        cache.put(key, cluster)
    with _sample_lock:
        _sample_keys[name] = key
    return LoadOutcome(key, cluster=cluster)


def preload_paths(cache: ClusterCache, paths: Sequence[Path], load_paths) -> str:
    """`serve PATH...`: load the files once, cache them, return their key (raises LoadError on errors)."""
    from webapp.problems import LoadError

    result = load_paths(paths)
    if result.cluster is None or not result.ok:
        raise LoadError(list(result.problems))
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()))]
    key = cache_key([(str(f), f.read_bytes()) for f in files])
    cache.put(key, result.cluster)
    return key


def decode_upload(content: str, filename: str, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The bytes of one dcc.Upload data URL, or an error message (over the limit, not base64)."""
    _, _, payload = content.partition(",")
    if len(payload) * 3 // 4 > max_bytes:
        return None, text("upload.too_big", file=filename, size_mb=len(payload) * 3 / 4 / 1e6,
                          limit_mb=round(max_bytes / 1e6))
    try:
        return base64.b64decode(payload, validate=True), None
    except (binascii.Error, ValueError):
        return None, text("upload.not_base64", file=filename)


def load_upload_into(cache: ClusterCache, sources: Sequence[tuple[str, bytes]], max_bytes: int) -> LoadOutcome:
    """Parse uploaded (name, bytes) and cache the cluster; on errors, no key and the problems."""
    from webapp.loaders import load_sources

    key = cache_key(sources)
    cached = cache.get(key)
    if cached is not None:
        return LoadOutcome(key, cluster=cached)
    result = load_sources(sources, max_bytes=max_bytes)
    if not result.ok or result.cluster is None:
        return LoadOutcome(None, result.problems)
    cache.put(key, result.cluster)
    return LoadOutcome(key, result.problems, cluster=result.cluster)


def _flows_module():
    try:
        from webapp.engine import flows
    except ImportError:
        return None
    return flows


_choices: dict[str, dict[str, list[tuple[str, str]]]] = {}
_choices_lock = threading.Lock()


def flow_choices(key: str, cluster: Cluster) -> dict[str, list[tuple[str, str]]]:
    """Valid (source, destination) specs per flow type, from the engine (memoised per cache key: the key is the
    hash of the input, so it names the cluster's content)."""
    with _choices_lock:
        known = _choices.get(key)
    if known is not None:
        return known
    flows = _flows_module()
    found = {} if flows is None else {
        str(kind): [(str(s), str(d)) for s, d in pairs] for kind, pairs in flows.candidate_flows(cluster).items()
        if pairs}
    with _choices_lock:
        _choices[key] = found
        while len(_choices) > 64:
            _choices.pop(next(iter(_choices)))
    return found


def sources_for(choices: Mapping[str, list[tuple[str, str]]], flow_type: str | None) -> list[str]:
    return list(dict.fromkeys(s for s, _ in choices.get(flow_type or "", [])))


def destinations_for(choices: Mapping[str, list[tuple[str, str]]], flow_type: str | None, src: str | None) -> list[str]:
    return list(dict.fromkeys(d for s, d in choices.get(flow_type or "", []) if s == src))


def spec_refers_to(spec: str, ref: str) -> bool:
    """Whether a flow spec (the engine's grammar, e.g. `pod/default/web`, `svc/web:80`) names the diagram element
    `ref` (`pod:ns/name`, `svc:ns/name`, `ext:name`)."""
    kind, _, key = ref.partition(":")
    name = key.rpartition("/")[2]
    head, _, body = spec.partition("/")
    if kind == "pod" and head not in ("pod", "container"):
        return False
    if kind != "pod" and head in ("pod", "container"):
        return False
    body = body.split(":")[0]
    return body in (key, name) or body.startswith(key + "/")


def pick_from_click(choices: Mapping[str, list[tuple[str, str]]], flow_type: str | None, src: str | None,
                    ref: str) -> tuple[str, str, str] | None:
    """(flow type, src, dst) after clicking `ref`: it becomes the destination when that is valid for the current
    source, else the source; other flow types are tried after the current one."""
    types = [flow_type] if flow_type in choices else []
    types += [t for t in choices if t != flow_type]
    for kind in types:
        for s, d in choices[kind]:
            if s == src and spec_refers_to(d, ref):
                return kind, s, d
    for kind in types:
        for s, d in choices[kind]:
            if spec_refers_to(s, ref):
                return kind, s, d
    return None


def trace_dict(cluster: Cluster, flow_type: str, src: str, dst: str) -> dict[str, Any]:
    """`trace_flow(...).to_dict()` (raises ImportError when the engine is absent, ValueError for bad specs)."""
    flows = _flows_module()
    if flows is None:
        raise ImportError(text("flow.engine_missing"))
    return flows.trace_flow(cluster, src, dst).to_dict()


def path_nodes(trace: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(h["node"] for h in (*trace.get("hops", []), *trace.get("reply", [])) if h.get("node"))


def path_services(cluster: Cluster, trace: Mapping[str, Any]) -> frozenset[str]:
    """Services whose VIP, LB IP or external IP a hop addressed, plus the ones named in the flow."""
    addresses = {str(h["packet"]["dst"]).rpartition(":")[0] for h in trace.get("hops", []) if h.get("packet")}
    found = set()
    flow = trace.get("flow") or {}
    for svc in cluster.services:
        ips = {str(svc.cluster_ip), *(str(i) for i in svc.load_balancer_ips), *(str(i) for i in svc.external_ips)}
        if ips & addresses or svc.name in str(flow.get("dst", "")).split("/")[-1].split(":")[0:1]:
            found.add(svc.key)
    return frozenset(found)


def view_of(raw: Mapping[str, Any] | None, namespace: str | None) -> DiagramView:
    raw = raw or {}
    return DiagramView(expanded=frozenset(raw.get("expanded") or ()), namespace=namespace or None,
                       focus=raw.get("focus") or None)


def diagram_and_playback(cluster: Cluster, view: DiagramView,
                         trace: Mapping[str, Any] | None) -> tuple[Diagram, dict[str, Any] | None]:
    """The diagram for this view, with the trace's nodes and services drawn in detail, and the player's data."""
    if trace is not None:
        view = DiagramView(expanded=view.expanded, namespace=view.namespace, focus=view.focus,
                           services=path_services(cluster, trace), overview=view.overview,
                           path_nodes=path_nodes(trace))
    diagram = build_diagram(cluster, view)
    if trace is None:
        return diagram, None
    data = playback(diagram, trace)
    data["trace_count"] = len(diagram.figure["data"])
    return diagram, data


def variant(cluster: Cluster, settings: ViewSettings) -> Cluster:
    return apply_view_settings(cluster, settings)


def find_pod(cluster: Cluster, query: str) -> str | None:
    """A pod key by exact IP, `key=value` label, exact name or key, then name prefix/substring."""
    q = query.strip()
    if not q:
        return None
    if "=" in q:
        k, _, v = q.partition("=")
        for pod in cluster.pods:
            if (k.strip(), v.strip()) in pod.labels:
                return pod.key
        return None
    for pod in cluster.pods:
        if str(pod.pod_ip) == q or pod.key == q or pod.name == q:
            return pod.key
    lowered = q.lower()
    for pod in cluster.pods:
        if lowered in pod.name.lower():
            return pod.key
    return None

