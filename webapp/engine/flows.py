"""Flows: the flow types, how a (SRC, DST) pair resolves to one (`resolve_flow`, over the grammar of
webapp.engine.specs), the valid (src, dst) choices per type, and `trace_flow()` — the one entry point for the
CLI, the web app and the lab (docs/trace-contract.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv4Address
from itertools import islice
from typing import Any

from webapp.engine import services
from webapp.engine.memo import cluster_cached
from webapp.engine.specs import (
    End, Source, Spec, SpecKind, Target, parse_spec, resolve_source, resolve_target, service_spec,
)
from webapp.engine.trace import Action, Disposition, Flow, Hop, HopKind, Packet, SocketAddress, Trace
from webapp.engine.sockets import ephemeral_port, source_address
from webapp.engine.walk import Walker, WalkResult
from webapp.model import Cluster, LoadBalancerMode, Node, Pod, Protocol, Service, ServicePort, ServiceType
from webapp.narration import say

CANDIDATE_LIMIT = 100
"""At most this many (src, dst) choices per flow type in `candidate_flows` (pairs explode on big clusters); the
built-in samples stay well under it, so their lists are complete."""
CANDIDATE_SCOPE = 64
"""`candidate_flows` takes sources and pod destinations from the first this many pods and nodes."""
EXTERNAL_CLIENT = IPv4Address("198.51.100.7")
"""The external client the picker offers when the cluster declares none (TEST-NET-2, RFC 5737)."""
EXTERNAL_SERVER = SocketAddress(IPv4Address("203.0.113.10"), 443)
"""The outside server the picker offers for pod-to-external when the cluster declares none (TEST-NET-3)."""
KUBELET_PORT = 10250


class FlowType(StrEnum):
    CONTAINER_TO_CONTAINER = "container-to-container"
    POD_TO_POD_SAME_NODE = "pod-to-pod-same-node"
    POD_TO_POD_CROSS_NODE = "pod-to-pod-cross-node"
    NODE_TO_POD = "node-to-pod"
    POD_TO_NODE = "pod-to-node"
    POD_TO_SERVICE = "pod-to-service"
    NODE_TO_SERVICE = "node-to-service"
    NODEPORT = "nodeport"
    LOADBALANCER = "loadbalancer"
    EXTERNALNAME = "externalname"
    EXTERNALIPS = "externalips"
    POD_TO_EXTERNAL = "pod-to-external"
    EXTERNAL_TO_POD = "external-to-pod"
    HOST_NETWORK = "host-network"
    """Between nodes and hosts outside the cluster, without pods or services (e.g. node/a → node/b:10250)."""


NOTES: dict[FlowType, str] = {
    FlowType.CONTAINER_TO_CONTAINER: "flows.note.container_to_container",
    FlowType.POD_TO_POD_SAME_NODE: "flows.note.pod_to_pod_same_node",
    FlowType.POD_TO_POD_CROSS_NODE: "flows.note.pod_to_pod_cross_node",
    FlowType.NODE_TO_POD: "flows.note.node_to_pod",
    FlowType.POD_TO_NODE: "flows.note.pod_to_node",
    FlowType.POD_TO_EXTERNAL: "flows.note.pod_to_external",
    FlowType.EXTERNAL_TO_POD: "flows.note.external_to_pod",
}
"""The note (a message id of webapp.narration) a trace of this flow type carries."""


NOTES_WITH_NAT: dict[FlowType, str] = {
    FlowType.POD_TO_NODE: "flows.note.pod_to_node.nat",
    FlowType.NODE_TO_POD: "flows.note.node_to_pod.nat",
}
"""The note used instead of NOTES' when the trace has NAT steps."""


# --- classification -------------------------------------------------------------------------------------

def _service_by_address(cluster: Cluster, address: SocketAddress) -> tuple[FlowType, Service] | None:
    """The service a destination address belongs to, and how (cluster IP, external IP, LB IP, node port)."""
    index = _service_places(cluster)
    found = index.get((address.ip, address.port))
    if found is None and address.ip in cluster.node_by_ip:
        found = index.get((None, address.port))
    return found[0] if found is not None else None


_Place = tuple[IPv4Address | None, int]


def _service_places(cluster: Cluster) -> dict[_Place, tuple[tuple[FlowType, Service], set[Protocol]]]:
    """(VIP, port) → how a service owns it (the first service wins) and the protocols services declare there;
    (None, nodePort) for node ports. One pass over the services, cached; read only."""
    def build() -> dict[_Place, tuple[tuple[FlowType, Service], set[Protocol]]]:
        index: dict[_Place, tuple[tuple[FlowType, Service], set[Protocol]]] = {}

        def add(place: _Place, kind: FlowType, service: Service, protocol: Protocol) -> None:
            entry = index.get(place)
            if entry is None:
                index[place] = ((kind, service), {protocol})
            else:
                entry[1].add(protocol)

        for service in cluster.services:
            for sport in service.ports:
                if service.cluster_ip is not None:
                    add((service.cluster_ip, sport.port), FlowType.POD_TO_SERVICE, service, sport.protocol)
                for ip in service.external_ips:
                    add((ip, sport.port), FlowType.EXTERNALIPS, service, sport.protocol)
                for ip in service.load_balancer_ips:
                    add((ip, sport.port), FlowType.LOADBALANCER, service, sport.protocol)
                if sport.node_port is not None:
                    add((None, sport.node_port), FlowType.NODEPORT, service, sport.protocol)
        return index

    return cluster_cached(cluster, "flows/service-places", build)


def classify(cluster: Cluster, source: Source, target: Target) -> FlowType:
    """The flow type of a (source, target) pair."""
    from_pod = source.pod is not None and not source.pod.host_network
    from_node = source.node is not None or (source.pod is not None and source.pod.host_network)
    if target.localhost:
        return FlowType.CONTAINER_TO_CONTAINER if from_pod else FlowType.HOST_NETWORK
    service = target.service
    found = _service_by_address(cluster, target.address) if service is None else None
    if service is not None:
        if service.type == ServiceType.EXTERNAL_NAME:
            return FlowType.EXTERNALNAME
        if source.ip is not None:  # from outside, svc/ resolves to an address reachable from outside
            return _outside_service_type(service)
        return _cluster_ip_type(source)
    if found is not None:
        kind, _ = found
        return _cluster_ip_type(source) if kind == FlowType.POD_TO_SERVICE else kind
    pod = target.pod if target.pod is not None and not target.pod.host_network else None
    if pod is not None:
        if from_pod:
            assert source.pod is not None
            return FlowType.POD_TO_POD_SAME_NODE if source.pod.node == pod.node else FlowType.POD_TO_POD_CROSS_NODE
        return FlowType.NODE_TO_POD if from_node else FlowType.EXTERNAL_TO_POD
    if target.node is not None or target.pod is not None or target.address.ip in cluster.node_by_ip:
        return FlowType.POD_TO_NODE if from_pod else FlowType.HOST_NETWORK
    if target.address.ip in cluster.settings.service_cidr:  # a cluster IP on a port no service has, or a free one
        return _cluster_ip_type(source)
    if target.address.ip in cluster.settings.pod_cidr:
        return FlowType.EXTERNAL_TO_POD if source.ip is not None else FlowType.POD_TO_POD_CROSS_NODE
    return FlowType.POD_TO_EXTERNAL if from_pod else FlowType.HOST_NETWORK


def _cluster_ip_type(source: Source) -> FlowType:
    """A cluster IP (the service range) as destination: only a pod's or a node's packets meet kube-proxy; an
    outside client's is not routed, like a pod IP's (`external-to-pod`)."""
    if source.ip is not None:
        return FlowType.EXTERNAL_TO_POD
    return FlowType.POD_TO_SERVICE if source.pod is not None and not source.pod.host_network \
        else FlowType.NODE_TO_SERVICE


def _outside_service_type(service: Service) -> FlowType:
    if service.type == ServiceType.LOAD_BALANCER and service.load_balancer_ips:
        return FlowType.LOADBALANCER
    if service.external_ips:
        return FlowType.EXTERNALIPS
    if service.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER):
        return FlowType.NODEPORT
    return FlowType.EXTERNAL_TO_POD  # a ClusterIP-only service: its cluster IP is not routed outside


def _outside_address(cluster: Cluster, target: Target, flow_type: FlowType) -> SocketAddress:
    """Where an outside client sends for `svc/…`: the LB IP, an external IP, or the first node's nodePort."""
    service, sport = target.service, target.service_port
    if service is None or sport is None:
        return target.address
    if flow_type == FlowType.LOADBALANCER:
        return SocketAddress(service.load_balancer_ips[0], sport.port)
    if flow_type == FlowType.EXTERNALIPS:
        return SocketAddress(service.external_ips[0], sport.port)
    if flow_type == FlowType.NODEPORT and sport.node_port and cluster.nodes:
        return SocketAddress(cluster.nodes[0].internal_ip, sport.node_port)
    return target.address


# --- tracing --------------------------------------------------------------------------------------------

PROTOCOLS = ("tcp", "udp", "sctp")
"""The transport protocols a trace takes (`--proto`): every protocol a Service port may have."""


def destination_protocol(cluster: Cluster, dst: str | Spec) -> str:
    """The protocol a destination's port is declared with, for a caller that names none: `tcp` when the port is
    declared for TCP or not at all, else `udp` when it is declared for UDP, else `sctp` (a service port, its name,
    or an IP:PORT of a service VIP or nodePort; a pod's declared port); `tcp` for a destination that does not parse
    or resolve. A service DNS name is judged by its `svc/` spec."""
    try:
        spec = dst if isinstance(dst, Spec) else parse_spec(dst, End.DESTINATION)
        if spec.kind == SpecKind.DNS_NAME:
            spec = service_spec(cluster, spec)
    except ValueError:
        return "tcp"
    if spec.kind == SpecKind.SERVICE:
        service = cluster.service_by_key.get(spec.key)
        ports = list(service.ports) if service is not None else []
        if spec.port and not spec.port.isdigit():
            ports = [p for p in ports if p.name == spec.port]
        elif spec.port:
            ports = [p for p in ports if p.port == int(spec.port)]
        return _declared(p.protocol for p in ports)
    if spec.kind == SpecKind.POD:  # a container port, by number or name
        pod = cluster.pod_by_key.get(spec.key)
        return _declared(p.protocol for c in (pod.containers if pod else ()) for p in c.ports
                         if spec.port in (p.name, str(p.container_port)))
    node = cluster.node_by_name.get(spec.name) if spec.kind == SpecKind.NODE else None
    ip = node.internal_ip if node is not None else spec.ip
    if ip is None or spec.kind == SpecKind.LOCALHOST:
        return "tcp"
    index = _service_places(cluster)
    number = int(spec.port)
    found = set(index[(ip, number)][1]) if (ip, number) in index else set()
    if ip in cluster.node_by_ip and (None, number) in index:
        found |= index[(None, number)][1]
    return _declared(found)


def _declared(protocols) -> str:
    """TCP when declared (or nothing is), else UDP when declared, else SCTP."""
    found = set(protocols)
    if Protocol.TCP in found or not found:
        return "tcp"
    return "udp" if Protocol.UDP in found else "sctp"


@dataclass(frozen=True)
class ResolvedFlow:
    """A (SRC, DST) pair as the engine reads it: both ends resolved, its flow type and protocol. For a DNS-name
    destination, `target` is what its `svc/NS/NAME:PORT` spec names (`target.spec`)."""

    type: FlowType
    proto: str
    source: Source
    target: Target
    destination: Spec
    """DST as given."""


def resolve_flow(cluster: Cluster, src: str | Spec, dst: str | Spec, proto: str | None = None) -> ResolvedFlow:
    """The start of every trace, and the check of a pair: parse and resolve SRC and DST, take the protocol
    (`destination_protocol` when `proto` is None) and the flow type. Raises ValueError naming what is wrong."""
    source_spec = src if isinstance(src, Spec) else parse_spec(src, End.SOURCE)
    target_spec = dst if isinstance(dst, Spec) else parse_spec(dst, End.DESTINATION)
    proto = (proto or destination_protocol(cluster, target_spec)).lower()
    if proto not in PROTOCOLS:
        raise ValueError(f"protocol {proto!r}: use tcp, udp or sctp")
    named = service_spec(cluster, target_spec) if target_spec.kind == SpecKind.DNS_NAME else None
    source = resolve_source(cluster, source_spec)
    target = resolve_target(cluster, named or target_spec, Protocol(proto.upper()))
    if target.localhost and source.ip is not None:
        raise ValueError(f"{target_spec.text}: localhost needs a pod or node source")
    return ResolvedFlow(classify(cluster, source, target), proto, source, target, target_spec)


def trace_flow(cluster: Cluster, src: str | Spec, dst: str | Spec, proto: str | None = None, *,
               backend: IPv4Address | str | None = None) -> Trace:
    """Trace one flow (request and reply). `proto` None: the destination port's (`destination_protocol`).
    Raises ValueError naming what in SRC/DST was not found."""
    resolved = resolve_flow(cluster, src, dst, proto)
    source, target, flow_type, proto = resolved.source, resolved.target, resolved.type, resolved.proto
    if resolved.destination.kind == SpecKind.DNS_NAME:  # NAME.NS.svc.cluster.local:PORT: ask kube-dns first
        return _trace_dns_name(cluster, resolved, backend)
    src, dst = source.spec.text, target.spec.text
    chosen = IPv4Address(backend) if isinstance(backend, str) else backend
    flow = Flow(str(flow_type), src, dst, proto)
    address = _outside_address(cluster, target, flow_type) if source.ip is not None else target.address
    walker = Walker(cluster, backend=chosen)
    if flow_type == FlowType.EXTERNALNAME:
        return _trace_external_name(cluster, flow, source, target, walker)
    if flow_type == FlowType.LOADBALANCER and source.ip is not None:
        return _trace_load_balancer(cluster, flow, source, target, address, walker)
    packet = Packet(SocketAddress(_source_ip(cluster, source, address.ip), ephemeral_port(src, dst, proto)),
                    address, proto)
    result = walker.request(source.socket, packet)
    trace = _finish(flow, flow_type, walker, result)
    route = cluster.settings.service_cidr_route
    if flow_type == FlowType.EXTERNAL_TO_POD and route and address.ip in cluster.settings.service_cidr:
        trace = replace(trace, notes=(say("flows.note.external_to_cluster_ip", node=route),))
    return trace


def _trace_dns_name(cluster: Cluster, resolved: ResolvedFlow, backend: IPv4Address | str | None) -> Trace:
    """A service's DNS name: the real query to kube-dns and its answer, then the trace to the service."""
    service, src = resolved.target.service, resolved.source.spec
    assert service is not None
    inner = trace_flow(cluster, src, resolved.target.spec, resolved.proto, backend=backend)
    flow = Flow(inner.flow.type, src.text, resolved.destination.text, resolved.proto)
    if service.type == ServiceType.EXTERNAL_NAME:  # its trace already starts with the DNS exchange
        return replace(inner, flow=flow)
    exchange = services.dns_exchange(cluster, src.text, service, trace_flow)
    if not exchange.ok:
        return Trace(flow, Disposition.DROPPED, exchange.hops, (), exchange.reason, ())
    return replace(inner, flow=flow, hops=exchange.hops + inner.hops)


def _source_ip(cluster: Cluster, source: Source, dst: IPv4Address) -> IPv4Address:
    if source.ip is not None:
        return source.ip
    if dst.is_loopback:
        return dst
    if source.pod is not None and not source.pod.host_network:
        return source.pod.pod_ip
    return source_address(cluster, source.socket.netns, dst)


def _finish(flow: Flow, flow_type: FlowType, walker: Walker, result: WalkResult,
            prelude: tuple[Hop, ...] = ()) -> Trace:
    reply: tuple[Hop, ...] = ()
    problem = None
    if result.disposition == Disposition.DELIVERED:
        reply, problem = walker.reply_to(result)
    trace = Trace(flow, result.disposition, prelude + result.hops, reply, result.reason)
    with_nat = bool(trace.nat) and flow_type in NOTES_WITH_NAT
    notes = [say(NOTES_WITH_NAT[flow_type] if with_nat else NOTES[flow_type])] if flow_type in NOTES else []
    if problem:
        notes.append(say("flows.note.reply_mismatch", problem=problem))
    notes += result.notes
    return replace(trace, notes=tuple(notes))


def _trace_load_balancer(cluster: Cluster, flow: Flow, source: Source, target: Target, address: SocketAddress,
                         walker: Walker) -> Trace:
    """External client → cloud load balancer (services.load_balancer_prelude) → a node: its nodePort (proxy mode)
    or, still addressed to the LB IP, its NIC (passthrough mode) → walk."""
    service, sport = _service_for(cluster, target, address)
    assert source.ip is not None
    client = SocketAddress(source.ip, ephemeral_port(flow.src, flow.dst, flow.proto))
    prelude = services.load_balancer_prelude(cluster, client, service, sport, flow.proto)
    first = prelude.hops[0].packet if prelude.hops else prelude.packet
    if prelude.node is None:
        return Trace(flow, Disposition.DROPPED, prelude.hops, (), prelude.reason, ())
    if prelude.mode == LoadBalancerMode.PASSTHROUGH:
        result = walker.request_to_node(source.socket, first, prelude.hops, prelude.node)
    else:
        result = walker.request_via(source.socket, first, prelude.hops, prelude.packet)
    return _finish(flow, FlowType.LOADBALANCER, walker, result)


def _service_for(cluster: Cluster, target: Target, address: SocketAddress) -> tuple[Service, ServicePort]:
    if target.service is not None and target.service_port is not None:
        return target.service, target.service_port
    for service in cluster.services:
        for sport in service.ports:
            if address.ip in service.load_balancer_ips and sport.port == address.port:
                return service, sport
    raise ValueError(f"{target.spec}: no LoadBalancer service has {address}")


def _trace_external_name(cluster: Cluster, flow: Flow, source: Source, target: Target, walker: Walker) -> Trace:
    """ExternalName: the pod asks kube-dns, gets a CNAME, then connects to the external host itself."""
    service = target.service
    assert service is not None
    exchange = services.dns_exchange(cluster, flow.src, service, trace_flow)  # a real UDP walk to kube-dns
    prelude = exchange.hops
    if not exchange.ok:
        return Trace(flow, Disposition.DROPPED, prelude, (), exchange.reason, ())
    host = services.external_name_target(cluster, service)
    notes: tuple[str, ...] = ()
    if host is None:  # a name the cluster does not declare: resolved upstream, to an address unknown here
        host = services.unknown_host(cluster, service.external_name or "")
        last = prelude[-1]  # the CNAME answer, delivered to the client
        prelude += (Hop(last.node, last.netns, source.socket.app, HopKind.DNS, Action.LOOKUP, last.packet,
                        f"{host.dns_name}. A ? (address unknown: {host.ip} stands for it)",
                        say("flows.external_name.unknown", name=host.dns_name, address=host.ip)),)
        walker = Walker(cluster, backend=walker.backend, outside={host.ip: host.name})
        notes = (say("flows.note.external_name_unknown", name=host.dns_name, address=host.ip,
                     service=service.key),)
    address = SocketAddress(host.ip, target.address.port)
    packet = Packet(SocketAddress(_source_ip(cluster, source, host.ip), ephemeral_port(flow.src, flow.dst, flow.proto)),
                    address, flow.proto)
    result = walker.request(source.socket, packet)
    trace = _finish(flow, FlowType.EXTERNALNAME, walker, result, prelude)
    return replace(trace, notes=trace.notes + notes) if notes else trace


# --- choices for the picker -----------------------------------------------------------------------------

def serving_port(pod: Pod) -> int | None:
    """The port a pod serves on: its first TCP port, else its first declared port (traced as UDP if only UDP)."""
    ports = [port for container in pod.containers for port in container.ports]
    tcp = [port for port in ports if port.protocol == Protocol.TCP]
    return (tcp or ports)[0].container_port if ports else None


def written(build: Callable[..., Spec], *args: Any) -> Spec | None:
    """`build(*args)` (a `Spec` constructor), or None for a name the grammar cannot write."""
    try:
        return build(*args)
    except ValueError:
        return None


def offers(cluster: Cluster, kind: FlowType, src: Spec, dst: Spec) -> bool:
    """Whether the pair resolves as `trace` resolves it, and to a flow of this type: the picker offers no other."""
    try:
        return resolve_flow(cluster, src, dst).type == kind
    except ValueError:
        return False


Row = Iterator[tuple[FlowType, Spec, Spec]]
"""One source's (or one service port's) choices, in cluster order."""


def _fill(cluster: Cluster, out: dict[FlowType, list[tuple[str, str]]], kinds: tuple[FlowType, ...],
          rows: Iterable[Row]) -> None:
    """Take the rows' choices round by round (every row's first, then every row's second, …) until each kind has
    CANDIDATE_LIMIT or the rows run dry, then list each kind by row and rank: a small cluster gets every choice, a
    big one a capped list spread over many sources (and services) instead of the first few's. A choice that does
    not resolve to its kind (`offers`) is skipped."""
    picked: dict[FlowType, list[tuple[int, int, str, str]]] = {kind: [] for kind in kinds}
    active = list(enumerate(rows))
    rank = 0

    def full() -> bool:
        return all(len(picked[kind]) >= CANDIDATE_LIMIT for kind in kinds)

    while active and not full():
        still = []
        for index, row in active:
            for kind, src, dst in row:  # this row's next choice, if any
                if len(picked[kind]) < CANDIDATE_LIMIT and offers(cluster, kind, src, dst):
                    picked[kind].append((index, rank, src.text, dst.text))
                still.append((index, row))
                break
            if full():
                break
        active, rank = still, rank + 1
    for kind in kinds:
        out[kind] = [(src, dst) for _, _, src, dst in sorted(picked[kind])]


def candidate_flows(cluster: Cluster) -> dict[FlowType, list[tuple[str, str]]]:
    """Valid (src, dst) choices per flow type for the picker, in cluster order: all of them on a small cluster,
    at most CANDIDATE_LIMIT per type on a big one (from the first CANDIDATE_SCOPE pods and nodes, and every
    service, with a bounded number of choices per source and per service port). Every pair is written with the
    `Spec` constructors and checked with the resolver `trace` uses (`offers`), so every offered pair traces."""
    out: dict[FlowType, list[tuple[str, str]]] = {t: [] for t in FlowType}
    pods = [p for p in cluster.pods if not p.host_network]
    servers = list(islice(((p, dst) for p in pods if (port := serving_port(p)) is not None
                           and (dst := written(Spec.to_pod, p, port)) is not None), CANDIDATE_SCOPE))
    clients = [(p, src) for p in pods[:CANDIDATE_SCOPE] if (src := written(Spec.of_pod, p)) is not None]
    nodes = [(n, src) for n in cluster.nodes[:CANDIDATE_SCOPE] if (src := written(Spec.of_node, n)) is not None]
    client = written(Spec.of_address, cluster.external_hosts[0].ip if cluster.external_hosts else EXTERNAL_CLIENT)
    outside = written(Spec.to_address, SocketAddress(cluster.external_hosts[0].ip, 443) if cluster.external_hosts
                      else EXTERNAL_SERVER)

    def localhost(pod: Pod, container) -> Row:
        src = written(Spec.of_pod, pod, container.name)
        ports = dict.fromkeys(port.container_port for other in pod.containers if other is not container
                              for port in other.ports if port.protocol == Protocol.TCP)
        for port in ports if src is not None else ():  # `localhost:PORT` names no pod: TCP (destination_protocol)
            yield FlowType.CONTAINER_TO_CONTAINER, src, Spec.to_localhost(port)

    def pod_to_pod(client_pod: Pod, src: Spec) -> Row:
        for server, dst in servers:
            if server is not client_pod:
                kind = FlowType.POD_TO_POD_SAME_NODE if server.node == client_pod.node else FlowType.POD_TO_POD_CROSS_NODE
                yield kind, src, dst

    def from_node(src: Spec) -> Row:
        for _, dst in servers:
            yield FlowType.NODE_TO_POD, src, dst

    def to_nodes(kind: FlowType, src: Spec, targets: Iterable[Node]) -> Row:
        for node in targets:
            if (dst := written(Spec.to_node, node, KUBELET_PORT)) is not None:
                yield kind, src, dst

    def one(kind: FlowType, src: Spec | None, dst: Spec | None) -> Row:
        if src is not None and dst is not None:
            yield kind, src, dst

    all_nodes = [node for node, _ in nodes]
    _fill(cluster, out, (FlowType.CONTAINER_TO_CONTAINER,),
          (localhost(p, c) for p, _ in clients for c in p.containers))
    _fill(cluster, out, (FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_POD_CROSS_NODE),
          (pod_to_pod(p, src) for p, src in clients))
    _fill(cluster, out, (FlowType.NODE_TO_POD,), (from_node(src) for _, src in nodes))
    _fill(cluster, out, (FlowType.HOST_NETWORK,),
          (to_nodes(FlowType.HOST_NETWORK, src, [n for n in all_nodes if n is not node]) for node, src in nodes))
    _fill(cluster, out, (FlowType.POD_TO_NODE,),  # its own node first, then the others
          (to_nodes(FlowType.POD_TO_NODE, src, sorted(all_nodes, key=lambda n, p=p: n.name != p.node))
           for p, src in clients))
    _fill(cluster, out, (FlowType.POD_TO_EXTERNAL,), (one(FlowType.POD_TO_EXTERNAL, src, outside) for _, src in clients))
    routed = [dst for service in cluster.services if cluster.settings.service_cidr_route and service.cluster_ip
              and service.type != ServiceType.EXTERNAL_NAME for sport in service.ports[:1]
              if (dst := written(Spec.to_address, SocketAddress(service.cluster_ip, sport.port))) is not None]
    _fill(cluster, out, (FlowType.EXTERNAL_TO_POD,),  # pod IPs; cluster IPs too where the network routes them
          [iter([(FlowType.EXTERNAL_TO_POD, client, dst) for dst in [*(d for _, d in servers), *routed]]
                if client is not None else [])])
    ports = [(service, sport) for service in cluster.services for sport in service.ports or (None,)]

    def to_service(kind: FlowType, service: Service, sport: ServicePort | None) -> Row:
        """Every pod client of one service port — the service's own backends included: their packets may come
        back to them through their own bridge port (hairpin, masqueraded by KUBE-SEP's `-s <podIP>` rule)."""
        if kind == FlowType.EXTERNALNAME:
            if service.type != ServiceType.EXTERNAL_NAME:
                return
        elif sport is None or service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME:
            return
        dst = written(Spec.to_service, service, sport)
        for _, src in clients if dst is not None else ():
            yield kind, src, dst

    def node_to_service(service: Service, sport: ServicePort | None) -> Row:
        if sport is not None and service.cluster_ip is not None and service.type != ServiceType.EXTERNAL_NAME:
            dst = written(Spec.to_service, service, sport)
            for _, src in nodes if dst is not None else ():
                yield FlowType.NODE_TO_SERVICE, src, dst

    def from_outside(kind: FlowType, service: Service, sport: ServicePort | None) -> Row:
        """An outside client to one service port: each LB IP, each external IP, or each node's nodePort."""
        if client is None or sport is None or service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME:
            return
        if kind == FlowType.NODEPORT:
            destinations = (written(Spec.to_node, node, sport.node_port) for node in all_nodes if sport.node_port)
        else:
            ips = service.load_balancer_ips if kind == FlowType.LOADBALANCER else service.external_ips
            destinations = (written(Spec.to_address, SocketAddress(ip, sport.port)) for ip in ips)
        for dst in destinations:
            if dst is not None:
                yield kind, client, dst

    for kind in (FlowType.POD_TO_SERVICE, FlowType.EXTERNALNAME):
        _fill(cluster, out, (kind,), (to_service(kind, *p) for p in ports))
    _fill(cluster, out, (FlowType.NODE_TO_SERVICE,), (node_to_service(*p) for p in ports))
    for kind in (FlowType.LOADBALANCER, FlowType.EXTERNALIPS, FlowType.NODEPORT):
        _fill(cluster, out, (kind,), (from_outside(kind, *p) for p in ports))
    return {kind: pairs for kind, pairs in out.items() if pairs}


__all__ = ["CANDIDATE_LIMIT", "CANDIDATE_SCOPE", "PROTOCOLS", "FlowType", "ResolvedFlow", "candidate_flows", "classify",
           "destination_protocol", "offers", "resolve_flow", "serving_port", "trace_flow", "written"]
