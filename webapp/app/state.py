"""Server-side work of the callbacks, without dash: loading samples and uploads into the content-addressed
cache, flow choices, tracing, and building the diagram for one view. No per-user state lives here: everything
is a function of the cache key and the view state the browser sends."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs

from webapp.app.cache import ClusterCache, cache_key, is_key
from webapp.app.catalog import flow_type_label, text
from webapp.app.limits import HEAVY_LOADS, ServerBusy, megabytes
from webapp.engine.memo import drop_cached
from webapp.loaders import Progress
from webapp.engine.flows import (
    EXTERNAL_CLIENT, EXTERNAL_SERVER, KUBELET_PORT, FlowType, candidate_flows, resolve_flow, serving_port,
    trace_flow, written,
)
from webapp.engine.specs import End, Spec, SpecKind, parse_spec, resolve_source
from webapp.engine.trace import SocketAddress, Trace
from webapp.figures import Diagram, DiagramView, build_diagram, is_big, playback
from webapp.figures.devices import netns_key
from webapp.figures.overview import group_of, is_grouped, node_groups
from webapp.figures.player import path_nodes, path_pods, path_services, trace_view
from webapp.model import Cluster, Service, ServiceType
from webapp.lessons import LOADED
from webapp.narration import current_language
from webapp.problems import LoadError, Problem, Severity
from webapp.variants import ViewSettings, apply_view_settings, backend_pods, network_plugins, policy_keys


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
    cache.put(key, named_after(result.cluster, [str(p) for p in paths]))
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


DEFAULT_CLUSTER_NAME = "cluster"
"""The loader's name for a cluster its input does not name (webapp.loaders.fill)."""
INPUT_SUFFIXES = (".gz", ".json", ".yaml", ".yml")


def file_title(filename: str) -> str:
    """A file's name without its folders and its input suffixes: `dumps/prod-eu.json.gz` → `prod-eu`."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in INPUT_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name or filename


def named_after(cluster: Cluster, filenames: Sequence[str]) -> Cluster:
    """The cluster named after its (first) file when its input gives it no name of its own (a cluster YAML's
    `name`, a kubeconfig's current context)."""
    if cluster.name != DEFAULT_CLUSTER_NAME or not filenames:
        return cluster
    title = file_title(filenames[0])
    return dataclasses.replace(cluster, name=title) if title != cluster.name else cluster


def load_upload_into(cache: ClusterCache, sources: Sequence[tuple[str, bytes]], max_bytes: int,
                     progress: Progress | None = None) -> LoadOutcome:
    """Parse uploaded (name, bytes) and cache the cluster, named after its file; on errors, no key and the
    problems. `progress` hears the loader's stages, then `store`."""
    from webapp.loaders import load_sources

    key = cache_key(sources)
    cached = cache.get(key)
    if cached is not None:
        return LoadOutcome(key, cluster=cached)
    try:
        with HEAVY_LOADS.admit(sum(len(data) for _, data in sources)):
            result = load_sources(sources, max_bytes=max_bytes, progress=progress)
    except ServerBusy as busy:
        return LoadOutcome(None, (Problem(Severity.ERROR, sources[0][0], 1, 1, str(busy), code="E-SERVER-BUSY"),))
    if not result.ok or result.cluster is None:
        return LoadOutcome(None, result.problems)
    if progress is not None:
        progress("store")
    cluster = named_after(result.cluster, [name for name, _ in sources])
    cache.put(key, cluster)
    return LoadOutcome(key, result.problems, cluster=cluster)


Choices = Mapping[FlowType, list[tuple[str, str]]]
"""The picker's initial (src, dst) specs per flow type (`flow_choices`)."""

_choices: dict[str, dict[FlowType, list[tuple[str, str]]]] = {}
_choices_lock = threading.Lock()


def flow_choices(key: str, cluster: Cluster) -> dict[FlowType, list[tuple[str, str]]]:
    """Valid (source, destination) specs per flow type, from the engine (memoised per cache key: the key is the
    hash of the input, so it names the cluster's content)."""
    with _choices_lock:
        known = _choices.get(key)
    if known is not None:
        return known
    found = candidate_flows(cluster)
    with _choices_lock:
        _choices[key] = found
        while len(_choices) > 64:
            _choices.pop(next(iter(_choices)))
    return found


def flow_type_of_value(value: object) -> FlowType | None:
    """A flow type as the browser sends it (a dropdown value, a URL parameter); None for anything else."""
    try:
        return FlowType(value) if value else None
    except ValueError:
        return None


def sources_for(choices: Choices, flow_type: FlowType | None) -> list[str]:
    return list(dict.fromkeys(s for s, _ in choices.get(flow_type, []))) if flow_type else []


def destinations_for(choices: Choices, flow_type: FlowType | None, src: str | None) -> list[str]:
    return list(dict.fromkeys(d for s, d in choices.get(flow_type, []) if s == src)) if flow_type else []


def _parsed(spec: str, end: End) -> Spec | None:
    try:
        return parse_spec(spec, end)
    except ValueError:
        return None


def spec_refers_to(spec: str, end: End, ref: str) -> bool:
    """Whether a flow spec names the diagram element `ref` (`pod:NS/NAME`, `svc:NS/NAME`)."""
    kind, _, key = ref.partition(":")
    parsed = _parsed(spec, end)
    wanted = {"pod": SpecKind.POD, "svc": SpecKind.SERVICE}.get(kind)
    return parsed is not None and parsed.kind == wanted and parsed.key == key


def pick_from_click(choices: Choices, flow_type: FlowType | None, src: str | None,
                    ref: str) -> tuple[FlowType, str, str] | None:
    """(flow type, src, dst) after clicking `ref`: it becomes the destination when that is valid for the current
    source, else the source; other flow types are tried after the current one."""
    types = [flow_type] if flow_type in choices else []
    types += [t for t in choices if t != flow_type]
    for kind in types:
        for s, d in choices[kind]:
            if s == src and spec_refers_to(d, End.DESTINATION, ref):
                return kind, s, d
    for kind in types:
        for s, d in choices[kind]:
            if spec_refers_to(s, End.SOURCE, ref):
                return kind, s, d
    return None


def trace(cluster: Cluster, src: str, dst: str) -> Trace:
    """The engine's trace of (src, dst); raises ValueError saying what in them is wrong."""
    return trace_flow(cluster, src, dst)


def view_of(raw: Mapping[str, Any] | None, namespace: str | None) -> DiagramView:
    raw = raw or {}
    return DiagramView(expanded=frozenset(_strings(raw.get("expanded"))), namespace=namespace or None,
                       focus=raw.get("focus") if isinstance(raw.get("focus"), str) and raw.get("focus") else None,
                       groups=frozenset(_strings(raw.get("groups"))), services=frozenset(_strings(raw.get("services"))))


def _strings(raw: object) -> list[str]:
    """The strings of a list the browser sent (anything else left out)."""
    return [item for item in raw if isinstance(item, str)] if isinstance(raw, list) else []


def diagram_and_playback(cluster: Cluster, view: DiagramView,
                         trace: Trace | None) -> tuple[Diagram, dict[str, Any] | None]:
    """The diagram for this view, with the trace's nodes and services drawn in detail, and the player's data
    (the dcc.Store's: `Trace.to_dict()` happens there)."""
    if trace is not None:
        view = trace_view(cluster, trace, view)
    diagram = build_diagram(cluster, view)
    if trace is None:
        return diagram, None
    data = playback(diagram, trace)
    data["trace_count"] = len(diagram.figure["data"])
    return diagram, data


VARIANT_ITEMS = 8
"""What-if variants kept per process (each holds its own datapath, rules and graph in the engine's caches)."""

_variants: OrderedDict[tuple[str, ViewSettings], Cluster] = OrderedDict()
_variants_lock = threading.Lock()


def variant(key: str, cluster: Cluster, settings: ViewSettings) -> Cluster:
    """`cluster` (stored under cache `key`) with the what-if `settings`, memoised by (key, settings) in a bounded
    LRU: a redraw of the same variant finds the same Cluster object, so the engine's per-cluster caches hit; an
    evicted variant is freed with everything the engine memoised for it."""
    if settings.is_default:
        return cluster
    with _variants_lock:
        found = _variants.get((key, settings))
        if found is not None:
            _variants.move_to_end((key, settings))
            return found
    built = apply_view_settings(cluster, settings)
    with _variants_lock:
        built = _variants.setdefault((key, settings), built)
        _variants.move_to_end((key, settings))
        evicted = [_variants.popitem(last=False)[1] for _ in range(len(_variants) - VARIANT_ITEMS)]
    for old in evicted:
        drop_cached(old)  # the engine's memo of it may refer back to it (a topology holds its cluster)
    return built


def chosen_pod(cluster: Cluster, trace: Trace) -> str | None:
    """The pod (NS/NAME) behind the first endpoint a load-balancing hop chose, if any (the `d` key marks it down)."""
    for hop in trace.hops:
        for alternative in hop.alternatives:
            pod = cluster.pod_by_ip.get(alternative.dst.ip) if alternative.chosen else None
            if pod is not None:
                return pod.key
    return None


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


@dataclass(frozen=True)
class Hit:
    """What a search found: a pod (`ns/name`), a node (its name) or a service (`ns/name`)."""

    kind: str
    """`pod`, `node` or `svc` (the diagram's click refs: `pod:KEY` …)."""
    key: str

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.key}"


def find(cluster: Cluster, query: str) -> Hit | None:
    """A pod (`find_pod`), else a node or service by exact name, IP or `key=value` label, else by a name holding
    the query."""
    q = query.strip()
    if not q:
        return None
    pod = find_pod(cluster, q)
    if pod is not None:
        return Hit("pod", pod)
    if "=" in q:
        k, _, v = q.partition("=")
        pair = (k.strip(), v.strip())
        return (next((Hit("node", n.name) for n in cluster.nodes if pair in n.labels), None)
                or next((Hit("svc", s.key) for s in cluster.services if pair in s.labels), None))
    for node in cluster.nodes:
        if node.name == q or str(node.internal_ip) == q:
            return Hit("node", node.name)
    for svc in cluster.services:
        addresses = {str(ip) for ip in (svc.cluster_ip, *svc.load_balancer_ips, *svc.external_ips) if ip is not None}
        if svc.key == q or svc.name == q or q in addresses:
            return Hit("svc", svc.key)
    lowered = q.lower()
    return (next((Hit("node", n.name) for n in cluster.nodes if lowered in n.name.lower()), None)
            or next((Hit("svc", s.key) for s in cluster.services if lowered in s.key.lower()), None))


def view_for(cluster: Cluster, hit: Hit, view: Mapping[str, Any] | None) -> dict[str, Any]:
    """The view that shows a search hit: its node expanded, that node's group open, the diagram zoomed on it (a
    service drawn on its own in the services band)."""
    raw = view or {}
    expanded, groups, services = _strings(raw.get("expanded")), _strings(raw.get("groups")), []
    node = cluster.pod_by_key[hit.key].node if hit.kind == "pod" else hit.key if hit.kind == "node" else None
    if node:
        expanded = list(dict.fromkeys([*expanded, node]))
        group = group_of(cluster, node) if is_grouped(cluster) else None
        if group is not None:
            groups = list(dict.fromkeys([*groups, group.key]))
    if hit.kind == "svc":
        services = [hit.key]
    focus = hit.key if hit.kind == "pod" else hit.ref
    return {"expanded": expanded, "focus": focus, "groups": groups, "services": services}


def describe_hit(cluster: Cluster, hit: Hit) -> str:
    """The line under the search box."""
    if hit.kind == "pod":
        pod = cluster.pod_by_key[hit.key]
        return text("view.search.found", pod=pod.key, node=pod.node, ip=pod.pod_ip)
    if hit.kind == "node":
        node = cluster.node_by_name[hit.key]
        group = group_of(cluster, node.name) if is_grouped(cluster) else None
        return text("view.search.found_node", node=node.name, ip=node.internal_ip,
                    group=group.label if group is not None else "—")
    svc = cluster.service_by_key[hit.key]
    return text("view.search.found_service", service=svc.key, type=svc.type, ip=svc.cluster_ip or "—")


def hit_of(cluster: Cluster, raw: object) -> Hit | None:
    """A search hit as the browser sends it back (checked: it must name something in this cluster)."""
    if not isinstance(raw, Mapping):
        return None
    kind, key = raw.get("kind"), raw.get("key")
    known = {"pod": cluster.pod_by_key, "node": cluster.node_by_name, "svc": cluster.service_by_key}.get(kind)
    return Hit(kind, key) if known is not None and isinstance(key, str) and key in known else None


# --- flows outside the picker's initial lists: checked and searched on demand -----------------------------

SEARCH_LIMIT = 50
"""At most this many matches for a typed search in the FROM/TO pickers."""
SEARCH_SCAN = 200_000
"""At most this many specs looked at per search (a 1,000-node cluster's nodePorts × nodes stay bounded)."""
SEARCH_CHECKS = 5_000
"""At most this many destinations checked with the engine per search (~50 µs each)."""


class SourceRole(StrEnum):
    """What a flow type starts from."""

    POD = "pod"
    CONTAINER = "container"
    NODE = "node"
    OUTSIDE = "outside"


SOURCE_ROLES: Mapping[FlowType, SourceRole] = {
    FlowType.CONTAINER_TO_CONTAINER: SourceRole.CONTAINER, FlowType.NODE_TO_POD: SourceRole.NODE,
    FlowType.NODE_TO_SERVICE: SourceRole.NODE, FlowType.HOST_NETWORK: SourceRole.NODE,
    FlowType.NODEPORT: SourceRole.OUTSIDE, FlowType.LOADBALANCER: SourceRole.OUTSIDE,
    FlowType.EXTERNALIPS: SourceRole.OUTSIDE, FlowType.EXTERNAL_TO_POD: SourceRole.OUTSIDE,
}
"""What a flow type starts from when it is not a pod: a pod's container, a node, or a client outside."""

POD_DESTINATION_TYPES = frozenset({FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_POD_CROSS_NODE,
                                   FlowType.NODE_TO_POD, FlowType.EXTERNAL_TO_POD})
SERVICE_DESTINATION_TYPES = frozenset({FlowType.POD_TO_SERVICE, FlowType.NODE_TO_SERVICE, FlowType.EXTERNALNAME})
NODE_DESTINATION_TYPES = frozenset({FlowType.POD_TO_NODE, FlowType.HOST_NETWORK})


def flow_type_of(cluster: Cluster, src: str, dst: str) -> FlowType:
    """The flow type the engine gives (src, dst) (`flows.resolve_flow`); raises ValueError saying what in them is
    wrong."""
    return resolve_flow(cluster, src, dst).type


def pair_fits(cluster: Cluster, flow_type: FlowType | None, src: str | None, dst: str | None) -> bool:
    """Whether (src, dst) is a valid flow of `flow_type`."""
    if not (flow_type and src and dst):
        return False
    try:
        return flow_type_of(cluster, src, dst) == flow_type
    except ValueError:
        return False


def source_fits(cluster: Cluster, flow_type: FlowType | None, src: str | None) -> bool:
    """Whether `src` names something this flow type starts from (a pod, a pod's container, a node, outside)."""
    if not (flow_type and src):
        return False
    try:
        source = resolve_source(cluster, parse_spec(src, End.SOURCE))
    except ValueError:
        return False
    role = SOURCE_ROLES.get(flow_type, SourceRole.POD)
    if role in (SourceRole.POD, SourceRole.CONTAINER):  # `pod/NS/NAME[:CONTAINER]`: without one, the first
        return source.pod is not None and not source.pod.host_network
    if role == SourceRole.NODE:
        return source.node is not None or (source.pod is not None and source.pod.host_network)
    return source.ip is not None


Found = Iterator[tuple[Spec | None, str]]
"""(spec, extra search text) of search candidates; None for a name the grammar cannot write."""


def _outside_clients(cluster: Cluster) -> Found:
    for host in cluster.external_hosts:
        yield written(Spec.of_address, host.ip), host.name
    if not cluster.external_hosts:
        yield written(Spec.of_address, EXTERNAL_CLIENT), ""


def _source_specs(cluster: Cluster, flow_type: FlowType) -> Found:
    """(spec, extra search text) of every source of this flow type's kind, in cluster order."""
    role = SOURCE_ROLES.get(flow_type, SourceRole.POD)
    if role in (SourceRole.POD, SourceRole.CONTAINER):
        for pod in cluster.pods:
            if pod.host_network:
                continue
            if role == SourceRole.POD:
                yield written(Spec.of_pod, pod), f"{pod.pod_ip} {pod.node}"
            else:
                for container in pod.containers:
                    yield written(Spec.of_pod, pod, container.name), f"{pod.pod_ip} {pod.node}"
    elif role == SourceRole.NODE:
        for node in cluster.nodes:
            yield written(Spec.of_node, node), str(node.internal_ip)
    else:
        yield from _outside_clients(cluster)


def _service_specs(service: Service) -> list[Spec | None]:
    return [written(Spec.to_service, service, p) for p in service.ports] or [written(Spec.to_service, service)]


def _named(service: Service) -> str:
    """A service's own spec, as search text for the addresses and node ports it owns."""
    return str(written(Spec.to_service, service) or service.key)


def _destination_specs(cluster: Cluster, flow_type: FlowType, src: str) -> Found:
    """(spec, extra search text) of every destination this flow type may go to, in cluster order (each is still
    checked with the engine's resolver)."""
    if flow_type == FlowType.CONTAINER_TO_CONTAINER:
        source = resolve_source(cluster, parse_spec(src, End.SOURCE))
        container = source.spec.container
        ports = dict.fromkeys(p.container_port for c in (source.pod.containers if source.pod else ())
                              if c.name != container for p in c.ports)
        yield from ((Spec.to_localhost(port), "") for port in ports)
    elif flow_type in POD_DESTINATION_TYPES:
        for pod in cluster.pods:
            port = None if pod.host_network else serving_port(pod)
            if port is not None:
                yield written(Spec.to_pod, pod, port), f"{pod.pod_ip} {pod.node}"
    elif flow_type in SERVICE_DESTINATION_TYPES:
        for service in cluster.services:
            for spec in _service_specs(service):
                yield spec, str(service.cluster_ip or service.external_name or "")
    elif flow_type in NODE_DESTINATION_TYPES:
        for node in cluster.nodes:
            yield written(Spec.to_node, node, KUBELET_PORT), str(node.internal_ip)
    elif flow_type == FlowType.NODEPORT:
        for service in cluster.services:
            for sport in service.ports:
                if sport.node_port:
                    for node in cluster.nodes:
                        yield written(Spec.to_node, node, sport.node_port), _named(service)
    elif flow_type in (FlowType.LOADBALANCER, FlowType.EXTERNALIPS):
        for service in cluster.services:
            ips = service.load_balancer_ips if flow_type == FlowType.LOADBALANCER else service.external_ips
            for ip in ips:
                for sport in service.ports:
                    yield written(Spec.to_address, SocketAddress(ip, sport.port)), _named(service)
    elif flow_type == FlowType.POD_TO_EXTERNAL:
        for host in cluster.external_hosts:
            yield written(Spec.to_address, SocketAddress(host.ip, 443)), host.name
        if not cluster.external_hosts:
            yield written(Spec.to_address, EXTERNAL_SERVER), ""


def _matches(query: str):
    tokens = query.lower().split()
    return lambda spec, extra: all(t in spec.lower() or t in extra.lower() for t in tokens)


def _same_pod(src: str, dst: str) -> bool:
    source, target = _parsed(src, End.SOURCE), _parsed(dst, End.DESTINATION)
    return (source is not None and target is not None and source.kind == target.kind == SpecKind.POD
            and source.key == target.key)


def search_sources(cluster: Cluster, flow_type: FlowType | None, query: str,
                   limit: int = SEARCH_LIMIT) -> list[tuple[str, str]]:
    """Up to `limit` sources of this flow type's kind whose spec (or IP) holds every word of `query`."""
    if not flow_type:
        return []
    match, found = _matches(query), []
    for scanned, (spec, extra) in enumerate(_source_specs(cluster, flow_type)):
        if scanned >= SEARCH_SCAN or len(found) >= limit:
            break
        if spec is not None and match(spec.text, extra):
            found.append((spec.text, extra))
    return found


def search_destinations(cluster: Cluster, flow_type: FlowType | None, src: str | None, query: str,
                        limit: int = SEARCH_LIMIT) -> list[tuple[str, str]]:
    """Up to `limit` destinations that make a `flow_type` flow from `src` and hold every word of `query`."""
    if not (flow_type and src):
        return []
    match, found, checks = _matches(query), [], 0
    try:
        for scanned, (spec, extra) in enumerate(_destination_specs(cluster, flow_type, src)):
            if scanned >= SEARCH_SCAN or len(found) >= limit or checks >= SEARCH_CHECKS:
                break
            if spec is not None and match(spec.text, extra) and not _same_pod(src, spec.text):
                checks += 1
                if pair_fits(cluster, flow_type, src, spec.text):
                    found.append((spec.text, extra))
    except ValueError:
        return found
    return found


def _ref_destinations(cluster: Cluster, ref: str) -> list[str]:
    kind, _, key = ref.partition(":")
    if kind == "pod":
        pod = cluster.pod_by_key.get(key)
        port = serving_port(pod) if pod is not None else None
        spec = written(Spec.to_pod, pod, port) if port is not None else None
        return [spec.text] if spec is not None else []
    if kind == "svc":
        service = cluster.service_by_key.get(key)
        return [s.text for s in _service_specs(service) if s is not None] if service is not None else []
    return []


POD_SOURCE_TYPES = (FlowType.POD_TO_POD_CROSS_NODE, FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_SERVICE,
                    FlowType.POD_TO_EXTERNAL, FlowType.POD_TO_NODE)


def pick_anywhere(cluster: Cluster, choices: Choices, flow_type: FlowType | None,
                  src: str | None, ref: str) -> tuple[FlowType, str, str] | None:
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
            except ValueError:
                continue
        fits.sort(key=lambda kd: kd[0] != flow_type)
        if fits:
            return fits[0][0], src, fits[0][1]
    picked = pick_from_click(choices, flow_type, src, ref)
    if picked is not None:
        return picked
    kind, _, key = ref.partition(":")
    pod = cluster.pod_by_key.get(key) if kind == "pod" else None
    source = written(Spec.of_pod, pod) if pod is not None and not pod.host_network else None
    if source is None:
        return None
    for candidate in dict.fromkeys([flow_type, *POD_SOURCE_TYPES]):
        if candidate not in POD_SOURCE_TYPES:
            continue
        first = search_destinations(cluster, candidate, source.text, "", 1)
        if first:
            return candidate, source.text, first[0][0]
    return None


# --- the controller: one pure function per trigger ---------------------------------------------------------

Outputs = dict[str, Any]
"""Controller outputs by name (callbacks.CONTROLLER_OUTPUTS'); a name left out keeps its value. `status` holds a
`Status` (the callback renders it)."""


@dataclass(frozen=True)
class Status:
    """What the line under the upload says: a load's outcome (with its file count), or a warning."""

    outcome: LoadOutcome | None = None
    file_count: int = 0
    warning: str = ""


def _options(values: list[str]) -> list[dict[str, str]]:
    return [{"label": v, "value": v} for v in values]


def _with(values: list, value: Any) -> list:
    """The options with the chosen value among them (a dropdown clears a value its options lack)."""
    return values if value is None or value in values else [value, *values]


def _type_options(types: list[FlowType], flow_type: FlowType | None) -> list[dict[str, str]]:
    return [{"label": flow_type_label(t), "value": str(t)} for t in _with(types, flow_type)]


def flow_outputs(cluster: Cluster, choices: Choices, flow_type: FlowType | None, src: str | None,
                 dst: str | None, *, auto: bool = True) -> Outputs:
    """The picker outputs: keep each chosen value when it is still valid — in the initial lists or, checked on
    demand, anywhere in the cluster — else take the first valid one (`auto=False`: leave the source empty). The
    lists are the engine's bounded `candidate_flows`, so a first flow costs the same on any cluster size."""
    types = list(choices)
    known = flow_type in choices or (flow_type is not None and source_fits(cluster, flow_type, src))
    if not known:
        flow_type = types[0] if types else None
    sources = sources_for(choices, flow_type)
    if src not in sources and not source_fits(cluster, flow_type, src):
        src = sources[0] if sources and auto else None
    targets = destinations_for(choices, flow_type, src)
    if dst not in targets and not pair_fits(cluster, flow_type, src, dst):
        if not targets and src:
            targets = [spec for spec, _ in search_destinations(cluster, flow_type, src, "")]
        dst = targets[0] if targets else None
    return {"type_options": _type_options(types, flow_type), "type": flow_type and str(flow_type),
            "src_options": _options(_with(sources, src)), "src": src,
            "dst_options": _options(_with(targets, dst)), "dst": dst}


def requested_flow(cluster: Cluster, choices: Choices, flow_type: FlowType | None, src: str | None,
                   dst: str | None, *, auto: bool) -> Outputs:
    """The URL's flow: a valid pair anywhere in the cluster is kept (with the type the engine gives it); an invalid
    one is kept as asked, so the diagram callback says what is wrong with it instead of silently dropping it."""
    if src and dst:
        try:
            flow_type = flow_type_of(cluster, src, dst)
        except ValueError:
            kind = flow_type or next(iter(choices), None)
            return {"type_options": _type_options(list(choices), kind), "type": kind and str(kind),
                    "src_options": _options([src]), "src": src, "dst_options": _options([dst]), "dst": dst}
    return flow_outputs(cluster, choices, flow_type, src, dst, auto=auto)


DOWN_OPTIONS = 200
"""At most this many backend pods listed in the "pods down" picker at once (a 1,000-node cluster has 27,000: a
dropdown of them all keeps the browser busy for minutes); typing searches them all (`search_backend_pods`)."""


def search_backend_pods(cluster: Cluster, query: str, chosen: Sequence[str]) -> list[str]:
    """Backend pods holding every word of `query` (at most DOWN_OPTIONS), the chosen ones kept first."""
    words = query.lower().split()
    found = [p for p in backend_pods(cluster) if all(w in p.lower() for w in words)][:DOWN_OPTIONS]
    return list(dict.fromkeys([*chosen, *found]))


def _cluster_outputs(key: str, cluster: Cluster) -> Outputs:
    policies = sorted({str(s.external_traffic_policy) for s in cluster.services
                       if s.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)}) or ["-"]
    return {"mode_placeholder": text("settings.cluster_value", value=cluster.settings.kube_proxy_mode),
            "overlay_placeholder": text("settings.cluster_value", value=cluster.settings.overlay),
            "policy_placeholder": text("settings.cluster_value", value="/".join(policies)),
            "key": key, "name": cluster.name, "down_options": _options(list(backend_pods(cluster))[:DOWN_OPTIONS]),
            "namespace_options": _options(list(cluster.namespaces)), "down": [], "namespace": None,
            "view": {"expanded": [], "focus": None, "groups": []}, **_policy_outputs(cluster)}


def _policy_outputs(cluster: Cluster) -> Outputs:
    """The network-plugin and policies-off what-ifs: the plugins that can run this overlay, the policies."""
    plugins = [{"label": text(f"settings.plugin.{p}"), "value": str(p)} for p in network_plugins(cluster)]
    return {"plugin_options": plugins,
            "plugin_placeholder": text("settings.cluster_value", value=cluster.settings.network_plugin),
            "plugin": None, "policies_off_options": _options(list(policy_keys(cluster))), "policies_off": []}


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def on_url(cache: ClusterCache, search: str | None, default_sample: str) -> Outputs:
    """The page opened (or its URL changed): the URL's cluster (or sample), flow, settings, view and step. Without
    a flow in the URL, the picker takes the cluster's first valid flow, as after an upload (`serve PATH` too, on a big
    cluster) — except for a big cluster the URL names (`?cluster=KEY`) without a flow: that is its overview,
    untraced."""
    from webapp.loaders import DEFAULT_SAMPLE

    params = parse_qs((search or "").lstrip("?"))
    out: Outputs = {}
    wanted_key = _first(params, "cluster")
    if wanted_key is None and is_key(default_sample) and not _first(params, "sample"):
        wanted_key = default_sample  # serve PATH...: the preloaded files
    cluster = cache.get(wanted_key) if is_key(wanted_key) else None
    if cluster is not None:
        out["sample"] = None
        key = wanted_key
    else:
        name = _first(params, "sample") or (DEFAULT_SAMPLE if is_key(default_sample) else default_sample)
        outcome = load_sample_into(cache, name)
        if outcome.key is None:
            outcome = load_sample_into(cache, DEFAULT_SAMPLE)
            name = DEFAULT_SAMPLE
        out["sample"] = name
        key, cluster = outcome.key, outcome.cluster
        if wanted_key and wanted_key != default_sample:
            out["status"] = Status(warning=text("cache.expired"))
    assert key is not None and cluster is not None
    out.update(_cluster_outputs(key, cluster))
    out.update(requested_flow(cluster, flow_choices(key, cluster), flow_type_of_value(_first(params, "type")),
                              _first(params, "src"), _first(params, "dst"),
                              auto=not (is_big(cluster) and _first(params, "cluster"))))
    settings = ViewSettings.parse(_first(params, "mode"), _first(params, "overlay"), _first(params, "etp"),
                                  (_first(params, "down") or "").split(","), _first(params, "plugin"),
                                  (_first(params, "off") or "").split(","))
    out.update(settings.values(), policies_off=sorted(set(settings.policies_off) & set(policy_keys(cluster))))
    namespace = _first(params, "ns")
    out["namespace"] = namespace if namespace in cluster.namespaces else None
    group_keys = {g.key for g in node_groups(cluster)} if is_grouped(cluster) else set()
    out["view"] = {"expanded": [n for n in (_first(params, "expand") or "").split(",") if n in cluster.node_by_name],
                   "focus": None, "groups": [g for g in (_first(params, "open") or "").split(",") if g in group_keys]}
    step = _first(params, "step")
    out["initial_step"] = int(step) if step and step.isdigit() else None
    out["lesson"], out["lesson_nav"] = None, None
    lesson = _first(params, "lesson")
    if lesson is not None:
        hop = _first(params, "hop")
        out.update(lesson_step_outputs(cache, out.get("key"), lesson, _number(step) or 1,
                                       _number(hop) if hop is not None else None, params))
    return out


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 7 else None


def builtin_lessons() -> list[tuple[str, str]]:
    """(name, title) of every built-in lesson, the title in the page's language."""
    from webapp.lessons import list_lessons

    language = current_language()
    return [(info.name, info.title.get(language)) for info in list_lessons()]


def lesson_bundle_of(name: str | None, key: str | None, cache: ClusterCache) -> dict[str, Any] | None:
    """The lesson player's JSON for the built-in lesson `name` in the page's language (its `loaded` steps played on
    the cluster under `key`), memoised per (lesson, language, cluster); None for no such lesson."""
    from webapp.lessons import builtin_lesson
    from webapp.lessons.player import lesson_bundle

    if not name:
        return None
    try:
        lesson = builtin_lesson(name)
    except (KeyError, LoadError):
        return None
    language = current_language()
    wanted = (name, language, key if any(step.cluster == LOADED for step in lesson.steps) else None)
    with _bundles_lock:
        found = _bundles.get(wanted)
    if found is None:
        found = lesson_bundle(lesson, language, cache.get(key) if wanted[2] else None)
        with _bundles_lock:
            _bundles[wanted] = found
            while len(_bundles) > 16:
                _bundles.pop(next(iter(_bundles)))
    return found


_bundles: dict[tuple[str, str, str | None], dict[str, Any]] = {}
_bundles_lock = threading.Lock()


def lesson_step_outputs(cache: ClusterCache, key: str | None, name: str | None, number: int,
                        hop: int | None = None, params: Mapping[str, list[str]] | None = None) -> Outputs:
    """Step `number` (1-based, clamped to the lesson) of the built-in lesson `name` on screen: its cluster, flow and
    what-if settings (URL `params` override the settings and the flow), the player landing on hop `hop` or else the
    step's first stop. An unknown lesson leaves lesson mode and changes nothing else."""
    from webapp.lessons import builtin_lesson

    try:
        lesson = builtin_lesson(name or "")
    except (KeyError, LoadError):
        return {"lesson": None, "lesson_nav": None}
    number = max(1, min(number, len(lesson.steps)))
    step = lesson.steps[number - 1]
    params = params or {}
    out: Outputs = {"lesson": lesson.name, "lesson_nav": {"lesson": lesson.name, "step": number}}
    cluster = cache.get(key)
    if step.cluster != LOADED:
        outcome = load_sample_into(cache, step.cluster)
        if outcome.key is None or outcome.cluster is None:
            return out
        out["sample"] = step.cluster
        if outcome.key != key:
            out.update(_cluster_outputs(outcome.key, outcome.cluster))
        key, cluster = outcome.key, outcome.cluster
    if cluster is None or key is None:
        return out
    view = step.view
    settings = ViewSettings.parse(
        _first(params, "mode") or (view.kube_proxy_mode and str(view.kube_proxy_mode)),
        _first(params, "overlay") or (view.overlay and str(view.overlay)),
        _first(params, "etp") or (view.external_traffic_policy and str(view.external_traffic_policy)),
        (_first(params, "down") or ",".join(sorted(view.down_pods))).split(","), _first(params, "plugin"),
        (_first(params, "off") or "").split(","))
    out.update(settings.values(), namespace=None, view={"expanded": [], "focus": None})
    flow = step.flow
    out.update(requested_flow(cluster, flow_choices(key, cluster),
                              flow_type_of_value(_first(params, "type")) or flow.type,
                              _first(params, "src") or flow.src, _first(params, "dst") or flow.dst, auto=True))
    if hop is None:
        bundle = lesson_bundle_of(lesson.name, key, cache)
        hop = bundle["steps"][number - 1]["land"] if bundle else 0
    out["initial_step"] = {"hop": hop, "at": f"{lesson.name}/{number}"}
    return out


def on_lesson(cache: ClusterCache, key: str | None, name: str | None, nav: Mapping[str, Any] | None) -> Outputs:
    """The lesson picker or the player's keys (PageDown …) chose a lesson step (`nav`: {lesson, step}); no lesson:
    back to the free page, the flow on screen kept."""
    if not name:
        return {"lesson": None, "lesson_nav": None}
    number = (nav or {}).get("step") if (nav or {}).get("lesson") == name else 1
    return lesson_step_outputs(cache, key, name, number if isinstance(number, int) else 1)


def _loaded(cache: ClusterCache, outcome: LoadOutcome, flow_type: FlowType | None) -> Outputs:
    """A new cluster on screen: its outputs and the picker's first valid flow of the current type (else of the
    first type), as on the samples, whatever the cluster's size."""
    assert outcome.key is not None and outcome.cluster is not None
    return {**_cluster_outputs(outcome.key, outcome.cluster),
            **flow_outputs(outcome.cluster, flow_choices(outcome.key, outcome.cluster), flow_type, None, None),
            "initial_step": None}


def on_sample(cache: ClusterCache, sample: str | None, key: str | None, flow_type: FlowType | None) -> Outputs:
    """A sample chosen: load it (nothing changes when it is the cluster on screen)."""
    if not sample:
        return {}
    outcome = load_sample_into(cache, sample)
    if outcome.key == key:
        return {}
    out: Outputs = {"status": ""}
    if outcome.key is not None:
        out.update(_loaded(cache, outcome, flow_type))
    return out


def _load_sources(cache: ClusterCache, sources: list[tuple[str, bytes]], messages: list[str],
                  flow_type: FlowType | None, max_bytes: int) -> Outputs:
    if messages:
        return {"status": Status(LoadOutcome(None, messages=tuple(messages)))}
    outcome = load_upload_into(cache, sources, max_bytes)
    out: Outputs = {"status": Status(outcome, len(sources))}
    if outcome.key is not None:
        out.update(_loaded(cache, outcome, flow_type), sample=None)
    return out


def on_upload(cache: ClusterCache, contents: Sequence[str] | None, filenames: Sequence[str] | None,
              flow_type: FlowType | None, max_bytes: int) -> Outputs:
    """Files dropped on the upload zone: decode, load and cache them, or say why not (the cluster stays)."""
    sources, messages = [], []
    for content, filename in zip(contents or [], filenames or []):
        data, error = decode_upload(content, filename, max_bytes)
        if error:
            messages.append(error)
        else:
            sources.append((filename, data))
    return _load_sources(cache, sources, messages, flow_type, max_bytes)


def problems_of(raw: object) -> tuple[Problem, ...]:
    """Problems back from a result line the browser returns (hostile: anything malformed is left out)."""
    found = []
    for item in raw if isinstance(raw, list) else []:
        try:
            found.append(Problem(Severity(item["severity"]), str(item["file"]), int(item["line"]), int(item["col"]),
                                 str(item["message"]), str(item.get("path") or ""), str(item.get("hint") or ""),
                                 code=str(item["code"])))
        except (TypeError, ValueError, KeyError):
            continue
    return tuple(found)


def on_uploaded(cache: ClusterCache, result: Mapping[str, Any] | None, flow_type: FlowType | None) -> Outputs:
    """The fast upload path's result (webapp/app/upload.py, handed over by the browser): the loaded cluster on
    screen, or why not (the cluster stays)."""
    if not isinstance(result, Mapping):
        return {}
    problems = problems_of(result.get("problems"))
    messages = tuple(str(m) for m in result.get("messages") or () if isinstance(m, str))
    files = result.get("files") if isinstance(result.get("files"), int) else 0
    key = result.get("key")
    if key is None:
        return {"status": Status(LoadOutcome(None, problems, messages or (text("upload.nothing"),)), files)}
    cluster = cache.get(key)
    if cluster is None:
        return {"status": Status(warning=text("cache.expired"))}
    outcome = LoadOutcome(key, problems, cluster=cluster)
    return {"status": Status(outcome, files), **_loaded(cache, outcome, flow_type), "sample": None}


def on_paste(cache: ClusterCache, paste: str | None, flow_type: FlowType | None, max_bytes: int) -> Outputs:
    """The paste box loaded, like a one-file upload."""
    messages = [] if (paste or "").strip() else [text("upload.empty")]
    return _load_sources(cache, [(text("upload.paste.name"), (paste or "").encode())], messages, flow_type, max_bytes)


def on_click(cache: ClusterCache, key: str | None, click: Mapping[str, Any] | None, flow_type: FlowType | None,
             src: str | None, view: Mapping[str, Any] | None) -> Outputs:
    """A click in the diagram: a node toggles open, a namespace filters, a pod or service joins the flow."""
    cluster = cache.get(key)
    if cluster is None or key is None:
        return {"status": Status(warning=text("cache.expired"))}
    ref = ((click or {}).get("points") or [{}])[0].get("customdata")
    if not isinstance(ref, str):
        return {}
    groups = _strings((view or {}).get("groups"))
    if ref.startswith("node:"):
        expanded = _strings((view or {}).get("expanded"))
        node = ref[5:]
        expanded = [n for n in expanded if n != node] if node in expanded else [*expanded, node]
        return {"view": {"expanded": expanded, "focus": None, "groups": groups}}
    if ref.startswith("group:"):
        group = ref[6:]
        groups = [g for g in groups if g != group] if group in groups else [*groups, group]
        return {"view": {"expanded": _strings((view or {}).get("expanded")), "focus": None, "groups": groups}}
    if ref.startswith("ns:"):
        return {"namespace": ref[3:]}
    choices = flow_choices(key, cluster)
    picked = pick_anywhere(cluster, choices, flow_type, src, ref)
    if picked is None:
        return {}
    return {**flow_outputs(cluster, choices, *picked), "initial_step": None}


NODE_SOURCE_TYPES = (FlowType.NODE_TO_POD, FlowType.NODE_TO_SERVICE, FlowType.HOST_NETWORK)


def _node_as(cluster: Cluster, choices: Choices, node: str, role: str, flow_type: FlowType | None,
             src: str | None) -> tuple[FlowType, str, str] | None:
    """A node as FROM (with its first destination) or as TO (its kubelet, from the current source)."""
    found = cluster.node_by_name[node]
    if role == "to":
        dst = written(Spec.to_node, found, KUBELET_PORT)
        if dst is None or not src:
            return None
        try:
            return flow_type_of(cluster, src, dst.text), src, dst.text
        except ValueError:
            return None
    source = written(Spec.of_node, found)
    if source is None:
        return None
    for candidate in dict.fromkeys([flow_type, *NODE_SOURCE_TYPES]):
        if candidate in NODE_SOURCE_TYPES:
            first = search_destinations(cluster, candidate, source.text, "", 1)
            if first:
                return candidate, source.text, first[0][0]
    return None


def on_search_pick(cache: ClusterCache, key: str | None, raw_hit: object, role: str, flow_type: FlowType | None,
                   src: str | None) -> Outputs:
    """The search hit offered as FROM (`role` "from": it starts the flow, with its first destination) or TO
    ("to": the current source's flow to it)."""
    cluster = cache.get(key)
    if cluster is None or key is None:
        return {"status": Status(warning=text("cache.expired"))}
    hit = hit_of(cluster, raw_hit)
    if hit is None:
        return {}
    choices = flow_choices(key, cluster)
    if hit.kind == "node":
        picked = _node_as(cluster, choices, hit.key, role, flow_type, src)
    elif role == "from" and hit.kind == "pod":
        picked = pick_anywhere(cluster, choices, flow_type, None, hit.ref)
    elif role == "to" and src:
        picked = pick_anywhere(cluster, choices, flow_type, src, hit.ref)
        picked = picked if picked is not None and spec_refers_to(picked[2], End.DESTINATION, hit.ref) else None
    else:
        picked = None
    if picked is None:
        return {"status": Status(warning=text(f"view.search.no_{role}", ref=hit.key))}
    return {**flow_outputs(cluster, choices, *picked), "initial_step": None}


def on_request(cache: ClusterCache, key: str | None, request: Mapping[str, Any] | None) -> Outputs:
    """A flow a view asked for (a cell of the reachability matrix): picked with the type the engine gives it, or
    nothing when it is not a valid flow."""
    cluster = cache.get(key)
    if cluster is None or key is None:
        return {"status": Status(warning=text("cache.expired"))}
    src, dst = (request or {}).get("src"), (request or {}).get("dst")
    if not (isinstance(src, str) and isinstance(dst, str)):
        return {}
    try:
        kind = flow_type_of(cluster, src, dst)
    except ValueError:
        return {}
    return {**flow_outputs(cluster, flow_choices(key, cluster), kind, src, dst), "initial_step": None}


def on_flow_type(cache: ClusterCache, key: str | None, flow_type: FlowType | None, src: str | None) -> Outputs:
    """Another communication type: keep the source if it fits, and take its first destination."""
    return on_source(cache, key, flow_type, src, None)


def on_source(cache: ClusterCache, key: str | None, flow_type: FlowType | None, src: str | None,
              dst: str | None) -> Outputs:
    """Another source: keep the destination if the pair is still valid, else its first one."""
    cluster = cache.get(key)
    if cluster is None or key is None:
        return {"status": Status(warning=text("cache.expired"))}
    return {**flow_outputs(cluster, flow_choices(key, cluster), flow_type, src, dst), "initial_step": None}
