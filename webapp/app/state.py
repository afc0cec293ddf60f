"""Server-side work of the callbacks, without dash: loading samples and uploads into the content-addressed
cache, flow choices, tracing, and building the diagram for one view. No per-user state lives here: everything
is a function of the cache key and the view state the browser sends."""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Mapping, Sequence

from webapp.app.cache import ClusterCache, cache_key
from webapp.app.catalog import text
from webapp.app.limits import HEAVY_LOADS, ServerBusy, megabytes
from webapp.figures import Diagram, DiagramView, build_diagram, playback
from webapp.figures.devices import netns_key
from webapp.model import Cluster
from webapp.problems import Problem, Severity
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
        return None, text("upload.too_big", file=filename, size=megabytes(len(payload) * 3 / 4),
                          limit=megabytes(max_bytes))
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
    try:
        with HEAVY_LOADS.admit(sum(len(data) for _, data in sources)):
            result = load_sources(sources, max_bytes=max_bytes)
    except ServerBusy as busy:
        return LoadOutcome(None, (Problem(Severity.ERROR, sources[0][0], 1, 1, str(busy), code="E-SERVER-BUSY"),))
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


def path_pods(cluster: Cluster, trace: Mapping[str, Any]) -> frozenset[str]:
    """Pods a hop runs in, plus the pods behind a load-balancing hop's alternatives (the other backends)."""
    hops = (*trace.get("hops", []), *trace.get("reply", []))
    pods = {netns_key(h["netns"]) for h in hops if str(h.get("netns", "")).startswith("pod/")}
    for hop in hops:
        for alternative in hop.get("alternatives") or ():
            pod = cluster.pod_by_ip.get(ip_address(str(alternative["dst"]).rpartition(":")[0]))
            if pod is not None:
                pods.add(pod.key)
    return frozenset(pods)


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
                           path_nodes=path_nodes(trace), path_pods=path_pods(cluster, trace))
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



# --- flows outside the picker's initial lists: checked and searched on demand -----------------------------

SEARCH_LIMIT = 50
"""At most this many matches for a typed search in the FROM/TO pickers."""
SEARCH_SCAN = 200_000
"""At most this many specs looked at per search (a 1,000-node cluster's nodePorts × nodes stay bounded)."""
SEARCH_CHECKS = 5_000
"""At most this many destinations checked with the engine per search (~50 µs each)."""

SOURCE_ROLES: Mapping[str, str] = {
    "container-to-container": "container", "node-to-pod": "node", "node-to-service": "node",
    "host-network": "node", "nodeport": "outside", "loadbalancer": "outside", "externalips": "outside",
    "external-to-pod": "outside",
}
"""What a flow type starts from when it is not a pod: a pod's container, a node, or a client outside."""


def _all_flow_types() -> frozenset[str]:
    flows = _flows_module()
    return frozenset(str(t) for t in flows.FlowType) if flows is not None else frozenset()


ALL_FLOW_TYPES = _all_flow_types()
"""Every flow type the engine knows (the picker offers those with choices, plus a requested one that fits)."""


def _engine():
    flows = _flows_module()
    if flows is None:
        raise ImportError(text("flow.engine_missing"))
    return flows


def flow_type_of(cluster: Cluster, src: str, dst: str) -> str:
    """The flow type the engine gives (src, dst); raises ValueError saying what in them is wrong."""
    from webapp.engine import services

    flows = _engine()
    named = services.service_for_dns_name(cluster, dst)
    spec = named[1] if named is not None else dst
    source = flows.parse_source(cluster, src)
    target = flows.parse_target(cluster, spec, flows.destination_protocol(cluster, spec))
    if target.localhost and source.ip is not None:
        raise ValueError(f"{dst}: localhost needs a pod or node source")
    return str(flows.classify(cluster, source, target))


def pair_fits(cluster: Cluster, flow_type: str | None, src: str | None, dst: str | None) -> bool:
    """Whether (src, dst) is a valid flow of `flow_type`."""
    if not (flow_type and src and dst):
        return False
    try:
        return flow_type_of(cluster, src, dst) == flow_type
    except (ImportError, ValueError, KeyError):
        return False


def source_fits(cluster: Cluster, flow_type: str | None, src: str | None) -> bool:
    """Whether `src` names something this flow type starts from (a pod, a pod's container, a node, outside)."""
    if not (flow_type and src):
        return False
    try:
        source = _engine().parse_source(cluster, src)
    except (ImportError, ValueError, KeyError):
        return False
    role = SOURCE_ROLES.get(flow_type, "pod")
    if role in ("pod", "container"):  # `pod/NS/NAME[:CONTAINER]`: without one, the pod's first container
        return source.pod is not None and not source.pod.host_network
    if role == "node":
        return source.node is not None or (source.pod is not None and source.pod.host_network)
    return source.ip is not None


def _outside_clients(cluster: Cluster) -> list[tuple[str, str]]:
    flows = _engine()
    return [(str(h.ip), h.name) for h in cluster.external_hosts] or [(str(flows.EXTERNAL_CLIENT), "")]


def _source_specs(cluster: Cluster, flow_type: str):
    """(spec, extra search text) of every source of this flow type's kind, in cluster order."""
    role = SOURCE_ROLES.get(flow_type, "pod")
    if role in ("pod", "container"):
        for pod in cluster.pods:
            if pod.host_network:
                continue
            if role == "pod":
                yield f"pod/{pod.key}", f"{pod.pod_ip} {pod.node}"
            else:
                for container in pod.containers:
                    yield f"pod/{pod.key}:{container.name}", f"{pod.pod_ip} {pod.node}"
    elif role == "node":
        for node in cluster.nodes:
            yield f"node/{node.name}", str(node.internal_ip)
    else:
        yield from _outside_clients(cluster)


def _service_specs(service) -> list[str]:
    return [f"svc/{service.key}:{p.name or p.port}" for p in service.ports] or [f"svc/{service.key}"]


def _destination_specs(cluster: Cluster, flow_type: str, src: str):
    """(spec, extra search text) of every destination this flow type may go to, in cluster order (each is still
    checked with the engine's `classify`)."""
    flows = _engine()
    if flow_type == "container-to-container":
        pod = flows.parse_source(cluster, src).pod
        container = src.partition("/")[2].partition(":")[2]
        ports = dict.fromkeys(p.container_port for c in (pod.containers if pod else ()) if c.name != container
                              for p in c.ports)
        yield from ((f"localhost:{port}", "") for port in ports)
    elif flow_type in ("pod-to-pod-same-node", "pod-to-pod-cross-node", "node-to-pod", "external-to-pod"):
        for pod in cluster.pods:
            port = None if pod.host_network else flows.serving_port(pod)
            if port is not None:
                yield f"pod/{pod.key}:{port}", f"{pod.pod_ip} {pod.node}"
    elif flow_type in ("pod-to-service", "node-to-service", "externalname"):
        for service in cluster.services:
            for spec in _service_specs(service):
                yield spec, str(service.cluster_ip or service.external_name or "")
    elif flow_type in ("pod-to-node", "host-network"):
        for node in cluster.nodes:
            yield f"node/{node.name}:{flows.KUBELET_PORT}", str(node.internal_ip)
    elif flow_type == "nodeport":
        for service in cluster.services:
            for sport in service.ports:
                if sport.node_port:
                    for node in cluster.nodes:
                        yield f"node/{node.name}:{sport.node_port}", f"svc/{service.key}"
    elif flow_type in ("loadbalancer", "externalips"):
        for service in cluster.services:
            ips = service.load_balancer_ips if flow_type == "loadbalancer" else service.external_ips
            for ip in ips:
                for sport in service.ports:
                    yield f"{ip}:{sport.port}", f"svc/{service.key}"
    elif flow_type == "pod-to-external":
        hosts = [(f"{h.ip}:443", h.name) for h in cluster.external_hosts]
        yield from hosts or [(str(flows.EXTERNAL_SERVER), "")]


def _matches(query: str):
    tokens = query.lower().split()
    return lambda spec, extra: all(t in spec.lower() or t in extra.lower() for t in tokens)


def _same_pod(src: str, dst: str) -> bool:
    return src.startswith("pod/") and dst.startswith("pod/") and src.split(":")[0] == dst.split(":")[0]


def search_sources(cluster: Cluster, flow_type: str | None, query: str,
                   limit: int = SEARCH_LIMIT) -> list[tuple[str, str]]:
    """Up to `limit` sources of this flow type's kind whose spec (or IP) holds every word of `query`."""
    if not flow_type:
        return []
    match, found = _matches(query), []
    for scanned, (spec, extra) in enumerate(_source_specs(cluster, flow_type)):
        if scanned >= SEARCH_SCAN or len(found) >= limit:
            break
        if match(spec, extra):
            found.append((spec, extra))
    return found


def search_destinations(cluster: Cluster, flow_type: str | None, src: str | None, query: str,
                        limit: int = SEARCH_LIMIT) -> list[tuple[str, str]]:
    """Up to `limit` destinations that make a `flow_type` flow from `src` and hold every word of `query`."""
    if not (flow_type and src):
        return []
    match, found, checks = _matches(query), [], 0
    try:
        for scanned, (spec, extra) in enumerate(_destination_specs(cluster, flow_type, src)):
            if scanned >= SEARCH_SCAN or len(found) >= limit or checks >= SEARCH_CHECKS:
                break
            if match(spec, extra) and not _same_pod(src, spec):
                checks += 1
                if pair_fits(cluster, flow_type, src, spec):
                    found.append((spec, extra))
    except (ImportError, ValueError, KeyError):
        return found
    return found


def _ref_destinations(cluster: Cluster, ref: str) -> list[str]:
    kind, _, key = ref.partition(":")
    if kind == "pod":
        pod = cluster.pod_by_key.get(key)
        port = _engine().serving_port(pod) if pod is not None else None
        return [f"pod/{key}:{port}"] if port is not None else []
    if kind == "svc":
        service = cluster.service_by_key.get(key)
        return _service_specs(service) if service is not None else []
    return []


POD_SOURCE_TYPES = ("pod-to-pod-cross-node", "pod-to-pod-same-node", "pod-to-service", "pod-to-external",
                    "pod-to-node")


def pick_anywhere(cluster: Cluster, choices: Mapping[str, list[tuple[str, str]]], flow_type: str | None,
                  src: str | None, ref: str) -> tuple[str, str, str] | None:
    """(flow type, src, dst) after clicking `ref` anywhere in the cluster: the destination of the current source
    when that makes a valid flow (of the current type if it can), else what `pick_from_click` picks from the
    lists, else the clicked pod as the source of the current type (or another pod type) with its first
    destination."""
    if src:
        fits = []
        for dst in _ref_destinations(cluster, ref):
            if _same_pod(src, dst):
                continue
            try:
                fits.append((flow_type_of(cluster, src, dst), dst))
            except (ImportError, ValueError, KeyError):
                continue
        fits.sort(key=lambda kd: kd[0] != flow_type)
        if fits:
            return fits[0][0], src, fits[0][1]
    picked = pick_from_click(choices, flow_type, src, ref)
    if picked is not None:
        return picked
    kind, _, key = ref.partition(":")
    pod = cluster.pod_by_key.get(key) if kind == "pod" else None
    if pod is None or pod.host_network:
        return None
    source = f"pod/{pod.key}"
    for candidate in dict.fromkeys([flow_type or "", *POD_SOURCE_TYPES]):
        if candidate not in POD_SOURCE_TYPES:
            continue
        first = search_destinations(cluster, candidate, source, "", 1)
        if first:
            return candidate, source, first[0][0]
    return None
