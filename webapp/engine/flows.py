"""Flows: the SRC/DST grammar of `trace`, the flow types, the valid (src, dst) choices per type, and
`trace_flow()` — the one entry point for the CLI, the web app and the lab (docs/trace-contract.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv4Address

from webapp.engine import services
from webapp.engine.datapath import host_netns, node_owning, pod_netns
from webapp.engine.memo import cluster_cached
from webapp.engine.trace import Action, Disposition, Flow, Hop, HopKind, Packet, SocketAddress, Trace
from webapp.engine.sockets import EXTERNAL_NETNS, ephemeral_port, external_name, source_address
from webapp.engine.walk import Socket, Walker, WalkResult
from webapp.model import Cluster, Node, Pod, Protocol, Service, ServicePort, ServiceType
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


@dataclass(frozen=True)
class Source:
    spec: str
    socket: Socket
    pod: Pod | None = None
    node: Node | None = None
    ip: IPv4Address | None = None
    """Set for sources outside every node and pod."""


@dataclass(frozen=True)
class Target:
    spec: str
    address: SocketAddress
    pod: Pod | None = None
    node: Node | None = None
    service: Service | None = None
    service_port: ServicePort | None = None
    localhost: bool = False


_PORT = r"(?P<port>[A-Za-z0-9-]+)"


def _find_pod(cluster: Cluster, path: str, spec: str) -> Pod:
    namespace, _, name = path.rpartition("/")
    key = f"{namespace or 'default'}/{name}"
    pod = cluster.pod_by_key.get(key)
    if pod is None:
        raise ValueError(f"{spec}: pod {key} not found")
    return pod


def _find_node(cluster: Cluster, name: str, spec: str) -> Node:
    node = cluster.node_by_name.get(name)
    if node is None:
        raise ValueError(f"{spec}: node {name} not found (nodes: {', '.join(sorted(cluster.node_by_name))})")
    return node


def _socket_of_pod(pod: Pod, container: str) -> Socket:
    if pod.host_network:
        return Socket(host_netns(pod.node), pod.node, container)
    return Socket(pod_netns(pod.key), pod.node, container)


def parse_source(cluster: Cluster, spec: str) -> Source:
    """`pod/[NS/]NAME[:CONTAINER]`, `node/NAME`, or an IP (a pod's, a node's, or an external client's)."""
    text = spec.strip()
    if text.startswith("pod/"):
        path, _, container = text[4:].partition(":")
        pod = _find_pod(cluster, path, spec)
        names = [c.name for c in pod.containers]
        if container and container not in names:
            raise ValueError(f"{spec}: pod {pod.key} has no container {container} (containers: {', '.join(names)})")
        return Source(spec, _socket_of_pod(pod, container or (names[0] if names else "pause")), pod=pod)
    if text.startswith("node/"):
        node = _find_node(cluster, text[5:], spec)
        return Source(spec, Socket(host_netns(node.name), node.name, "socket"), node=node)
    try:
        address = IPv4Address(text)
    except ValueError:
        raise ValueError(f"{spec}: not a source; use pod/[NS/]NAME[:CONTAINER], node/NAME or an IP address") from None
    pod = cluster.pod_by_ip.get(address)
    if pod is not None:
        return Source(spec, _socket_of_pod(pod, pod.containers[0].name if pod.containers else "pause"), pod=pod)
    node = cluster.node_by_ip.get(address)
    if node is not None:
        return Source(spec, Socket(host_netns(node.name), node.name, "socket"), node=node)
    if address in cluster.settings.pod_cidr:
        raise ValueError(f"{spec}: no pod has the IP {address}")
    return Source(spec, Socket(EXTERNAL_NETNS, None, external_name(cluster, address)), ip=address)


def _port_number(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{spec}: {text!r} is not a port number (1-65535)")
    return int(text)


def parse_target(cluster: Cluster, spec: str, proto: str = "tcp") -> Target:
    """`IP:PORT`, `pod/[NS/]NAME:PORT`, `svc/[NS/]NAME[:PORT]`, `node/NAME:PORT` or `localhost:PORT`."""
    text = spec.strip()
    protocol = Protocol(proto.upper())
    if text.startswith("svc/"):
        path, _, port = text[4:].partition(":")
        namespace, _, name = path.rpartition("/")
        key = f"{namespace or 'default'}/{name}"
        service = cluster.service_by_key.get(key)
        if service is None:
            raise ValueError(f"{spec}: service {key} not found")
        sport = _service_port(service, port, protocol, spec)
        if service.headless:
            return _headless_target(cluster, spec, service, sport)
        ip = service.cluster_ip or IPv4Address("0.0.0.0")  # ExternalName: resolved by DNS in the trace
        number = sport.port if sport else (_port_number(port, spec) if port else 80)
        return Target(spec, SocketAddress(ip, number), service=service, service_port=sport)
    path, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{spec}: a destination needs a port (e.g. {text}:80)")
    if path == "localhost":
        return Target(spec, SocketAddress(IPv4Address("127.0.0.1"), _port_number(port, spec)), localhost=True)
    if path.startswith("pod/"):
        pod = _find_pod(cluster, path[4:], spec)
        number = _pod_port(pod, port, protocol, spec)
        ip = cluster.node_by_name[pod.node].internal_ip if pod.host_network else pod.pod_ip
        return Target(spec, SocketAddress(ip, number), pod=pod)
    if path.startswith("node/"):
        node = _find_node(cluster, path[5:], spec)
        return Target(spec, SocketAddress(node.internal_ip, _port_number(port, spec)), node=node)
    try:
        address = IPv4Address(path)
    except ValueError:
        raise ValueError(f"{spec}: not a destination; use IP:PORT, pod/[NS/]NAME:PORT, svc/[NS/]NAME[:PORT], "
                         "node/NAME:PORT or localhost:PORT") from None
    number = _port_number(port, spec)
    return Target(spec, SocketAddress(address, number), pod=cluster.pod_by_ip.get(address),
                  node=node_owning(cluster, address))


def _headless_target(cluster: Cluster, spec: str, service: Service, sport: ServicePort | None) -> Target:
    """A headless service has no VIP: its DNS name answers with the ready pods' own IPs; take the first."""
    ready = [ep for ep in (cluster.endpoints_for(service, sport) if sport else ()) if ep.ready]
    if not ready:
        selector = ",".join(f"{k}={v}" for k, v in service.selector) or "(none)"
        raise ValueError(f"{spec}: headless service {service.key} has no ready endpoints (selector {selector})")
    endpoint = ready[0]
    pod = cluster.pod_by_key.get(endpoint.pod or "") or cluster.pod_by_ip.get(endpoint.ip)
    return Target(spec, SocketAddress(endpoint.ip, endpoint.port), pod=pod, node=cluster.node_by_ip.get(endpoint.ip))


def _service_port(service: Service, port: str, protocol: Protocol, spec: str) -> ServicePort | None:
    if not service.ports:
        return None
    if not port:
        same = [p for p in service.ports if p.protocol == protocol]
        return (same or list(service.ports))[0]
    found = (next((p for p in service.ports if p.port == int(port) and p.protocol == protocol), None)
             if port.isdigit() else None) or service.port_named(int(port) if port.isdigit() else port)
    if found is None:
        ports = ", ".join(f"{p.name}:{p.port}" if p.name else str(p.port) for p in service.ports)
        raise ValueError(f"{spec}: service {service.key} has no port {port} (ports: {ports})")
    return found


def _pod_port(pod: Pod, port: str, protocol: Protocol, spec: str) -> int:
    if port.isdigit():
        return _port_number(port, spec)
    found = pod.find_port(port, protocol)
    if found is None:
        raise ValueError(f"{spec}: pod {pod.key} has no {protocol} port named {port}")
    return found[1].container_port


# --- classification -------------------------------------------------------------------------------------

def _service_by_address(cluster: Cluster, address: SocketAddress) -> tuple[FlowType, Service] | None:
    """The service a destination address belongs to, and how (cluster IP, external IP, LB IP, node port)."""
    index = cluster_cached(cluster, "flows/service-addresses", lambda: _service_addresses(cluster))
    found = index.get((address.ip, address.port))
    if found is None and address.ip in cluster.node_by_ip:
        found = index.get((None, address.port))
    return found


def _service_addresses(cluster: Cluster) -> dict[tuple[IPv4Address | None, int], tuple[FlowType, Service]]:
    """(VIP, port) → how a service owns it; (None, nodePort) for node ports (the first service wins)."""
    index: dict[tuple[IPv4Address | None, int], tuple[FlowType, Service]] = {}
    for service in cluster.services:
        for sport in service.ports:
            if service.cluster_ip is not None:
                index.setdefault((service.cluster_ip, sport.port), (FlowType.POD_TO_SERVICE, service))
            for ip in service.external_ips:
                index.setdefault((ip, sport.port), (FlowType.EXTERNALIPS, service))
            for ip in service.load_balancer_ips:
                index.setdefault((ip, sport.port), (FlowType.LOADBALANCER, service))
            if sport.node_port is not None:
                index.setdefault((None, sport.node_port), (FlowType.NODEPORT, service))
    return index


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

def destination_protocol(cluster: Cluster, dst: str) -> str:
    """The protocol a destination's port is declared with, for a caller that names none: `udp` when the port
    exists only as UDP (a service port, its name, or an IP:PORT of a service VIP or nodePort; a pod's declared
    port), `tcp` otherwise. A service DNS name is judged by its `svc/` spec."""
    try:
        named = services.service_for_dns_name(cluster, dst)
    except ValueError:
        return "tcp"
    text = named[1] if named is not None else dst.strip()
    if text.startswith("svc/"):
        path, _, port = text[4:].partition(":")
        namespace, _, name = path.rpartition("/")
        service = cluster.service_by_key.get(f"{namespace or 'default'}/{name}")
        ports = list(service.ports) if service is not None else []
        if port and not port.isdigit():
            ports = [p for p in ports if p.name == port]
        elif port:
            ports = [p for p in ports if p.port == int(port)]
        return _only_udp(p.protocol for p in ports)
    path, _, port = text.rpartition(":")
    if path.startswith("pod/"):  # a container port, by number or name
        pod = cluster.pod_by_key.get(path[4:] if "/" in path[4:] else f"default/{path[4:]}")
        return _only_udp(p.protocol for c in (pod.containers if pod else ()) for p in c.ports
                         if port in (p.name, str(p.container_port)))
    if not port.isdigit():
        return "tcp"
    number = int(port)
    if path.startswith("node/"):
        path = str(cluster.node_by_name[path[5:]].internal_ip) if path[5:] in cluster.node_by_name else ""
    try:
        ip = IPv4Address(path)
    except ValueError:
        return "tcp"
    on_node = ip in cluster.node_by_ip
    return _only_udp(sport.protocol for svc in cluster.services for sport in svc.ports
                     if (sport.port == number and ip in (svc.cluster_ip, *svc.external_ips, *svc.load_balancer_ips))
                     or (on_node and sport.node_port == number))


def _only_udp(protocols) -> str:
    found = set(protocols)
    return "udp" if found == {Protocol.UDP} else "tcp"


def trace_flow(cluster: Cluster, src: str, dst: str, proto: str | None = None, *,
               backend: IPv4Address | str | None = None) -> Trace:
    """Trace one flow (request and reply). `proto` None: the destination port's (`destination_protocol`).
    Raises ValueError naming what in SRC/DST was not found."""
    proto = (proto or destination_protocol(cluster, dst)).lower()
    if proto not in ("tcp", "udp"):
        raise ValueError(f"protocol {proto!r}: use tcp or udp")
    named = services.service_for_dns_name(cluster, dst)  # NAME.NS.svc.cluster.local:PORT: ask kube-dns first
    if named is not None:
        return _trace_dns_name(cluster, src, dst, proto, named, backend)
    source = parse_source(cluster, src)
    target = parse_target(cluster, dst, proto)
    flow_type = classify(cluster, source, target)
    if target.localhost and source.socket.netns == EXTERNAL_NETNS:
        raise ValueError(f"{dst}: localhost needs a pod or node source")
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
    return _finish(flow, flow_type, walker, result)


def _trace_dns_name(cluster: Cluster, src: str, dst: str, proto: str, named: tuple[Service, str],
                    backend: IPv4Address | str | None) -> Trace:
    """A service's DNS name: the real query to kube-dns and its answer, then the trace to the service."""
    service, spec = named
    inner = trace_flow(cluster, src, spec, proto, backend=backend)
    flow = Flow(inner.flow.type, src, dst, proto)
    if service.type == ServiceType.EXTERNAL_NAME:  # its trace already starts with the DNS exchange
        return replace(inner, flow=flow)
    exchange = services.dns_exchange(cluster, src, service, trace_flow)
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
    return replace(trace, notes=tuple(notes))


def _trace_load_balancer(cluster: Cluster, flow: Flow, source: Source, target: Target, address: SocketAddress,
                         walker: Walker) -> Trace:
    """External client → cloud load balancer (services.load_balancer_prelude) → a node's nodePort → walk."""
    service, sport = _service_for(cluster, target, address)
    assert source.ip is not None
    client = SocketAddress(source.ip, ephemeral_port(flow.src, flow.dst, flow.proto))
    prelude = services.load_balancer_prelude(cluster, client, service, sport, flow.proto)
    first = prelude.hops[0].packet if prelude.hops else prelude.packet
    if prelude.node is None:
        return Trace(flow, Disposition.DROPPED, prelude.hops, (), prelude.reason, ())
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
    if host is None:
        reason = say("flows.external_name.unknown.reason", service=service.key, name=service.external_name)
        last = prelude[-1]  # the CNAME answer, delivered to the client
        unknown = Hop(last.node, last.netns, source.socket.app, HopKind.DNS, Action.DROP, last.packet,
                      f"{service.external_name}. (no address known)",
                      say("flows.external_name.unknown", name=service.external_name))
        return Trace(flow, Disposition.NO_ROUTE, prelude + (unknown,), (), reason, ())
    address = SocketAddress(host.ip, target.address.port)
    packet = Packet(SocketAddress(_source_ip(cluster, source, host.ip), ephemeral_port(flow.src, flow.dst, flow.proto)),
                    address, flow.proto)
    result = walker.request(source.socket, packet)
    return _finish(flow, FlowType.EXTERNALNAME, walker, result, prelude)


# --- choices for the picker -----------------------------------------------------------------------------

def _pod_spec(pod: Pod) -> str:
    return f"pod/{pod.key}"


def serving_port(pod: Pod) -> int | None:
    """The port a pod serves on: its first TCP port, else its first declared port (traced as UDP if only UDP)."""
    ports = [port for container in pod.containers for port in container.ports]
    tcp = [port for port in ports if port.protocol == Protocol.TCP]
    return (tcp or ports)[0].container_port if ports else None


Row = Iterator[tuple[FlowType, str, str]]
"""One source's (or one service port's) choices, in cluster order."""


def _fill(out: dict[FlowType, list[tuple[str, str]]], kinds: tuple[FlowType, ...], rows: Iterable[Row]) -> None:
    """Take the rows' choices round by round (every row's first, then every row's second, …) until each kind has
    CANDIDATE_LIMIT or the rows run dry, then list each kind by row and rank: a small cluster gets every choice, a
    big one a capped list spread over many sources (and services) instead of the first few's."""
    picked: dict[FlowType, list[tuple[int, int, str, str]]] = {kind: [] for kind in kinds}
    active = list(enumerate(rows))
    rank = 0

    def full() -> bool:
        return all(len(picked[kind]) >= CANDIDATE_LIMIT for kind in kinds)

    while active and not full():
        still = []
        for index, row in active:
            for kind, src, dst in row:  # this row's next choice, if any
                if len(picked[kind]) < CANDIDATE_LIMIT:
                    picked[kind].append((index, rank, src, dst))
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
    service, with a bounded number of choices per source and per service port)."""
    out: dict[FlowType, list[tuple[str, str]]] = {t: [] for t in FlowType}
    pods = [p for p in cluster.pods if not p.host_network]
    servers = [(p, port) for p in pods if (port := serving_port(p)) is not None][:CANDIDATE_SCOPE]
    clients = pods[:CANDIDATE_SCOPE]
    nodes = cluster.nodes[:CANDIDATE_SCOPE]
    client_ip = str(cluster.external_hosts[0].ip if cluster.external_hosts else EXTERNAL_CLIENT)
    outside = str(SocketAddress(cluster.external_hosts[0].ip, 443) if cluster.external_hosts else EXTERNAL_SERVER)

    def localhost(pod: Pod, container) -> Row:
        ports = dict.fromkeys(port.container_port for other in pod.containers if other is not container
                              for port in other.ports if port.protocol == Protocol.TCP)
        for port in ports:  # `localhost:PORT` names no pod, so its protocol is TCP (destination_protocol)
            yield FlowType.CONTAINER_TO_CONTAINER, f"{_pod_spec(pod)}:{container.name}", f"localhost:{port}"

    def pod_to_pod(client: Pod) -> Row:
        for server, port in servers:
            if server is not client:
                kind = FlowType.POD_TO_POD_SAME_NODE if server.node == client.node else FlowType.POD_TO_POD_CROSS_NODE
                yield kind, _pod_spec(client), f"{_pod_spec(server)}:{port}"

    def from_node(node: Node) -> Row:
        for server, port in servers:
            yield FlowType.NODE_TO_POD, f"node/{node.name}", f"{_pod_spec(server)}:{port}"

    def node_to_node(node: Node) -> Row:
        for other in nodes:
            if other is not node:
                yield FlowType.HOST_NETWORK, f"node/{node.name}", f"node/{other.name}:{KUBELET_PORT}"

    def pod_to_node(client: Pod) -> Row:  # its own node first, then the others
        for node in sorted(nodes, key=lambda n: n.name != client.node):
            yield FlowType.POD_TO_NODE, _pod_spec(client), f"node/{node.name}:{KUBELET_PORT}"

    _fill(out, (FlowType.CONTAINER_TO_CONTAINER,), (localhost(p, c) for p in clients for c in p.containers))
    _fill(out, (FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_POD_CROSS_NODE), map(pod_to_pod, clients))
    _fill(out, (FlowType.NODE_TO_POD,), map(from_node, nodes))
    _fill(out, (FlowType.HOST_NETWORK,), map(node_to_node, nodes))
    _fill(out, (FlowType.POD_TO_NODE,), map(pod_to_node, clients))
    _fill(out, (FlowType.POD_TO_EXTERNAL,), (iter([(FlowType.POD_TO_EXTERNAL, _pod_spec(c), outside)])
                                             for c in clients))
    _fill(out, (FlowType.EXTERNAL_TO_POD,), [iter([(FlowType.EXTERNAL_TO_POD, client_ip, f"{_pod_spec(s)}:{port}")
                                                   for s, port in servers])])
    ports = [(service, sport) for service in cluster.services for sport in service.ports or (None,)]

    def spec(service: Service, sport: ServicePort | None) -> str:
        return f"svc/{service.key}" + (f":{sport.name or sport.port}" if sport else "")

    def to_service(kind: FlowType, service: Service, sport: ServicePort | None) -> Row:
        """Every pod client of one service port — the service's own backends included: their packets may come
        back to them through their own bridge port (hairpin, masqueraded by KUBE-SEP's `-s <podIP>` rule)."""
        if kind == FlowType.EXTERNALNAME:
            if service.type != ServiceType.EXTERNAL_NAME:
                return
        elif sport is None or service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME:
            return
        for client in clients:
            yield kind, _pod_spec(client), spec(service, sport)

    def node_to_service(service: Service, sport: ServicePort | None) -> Row:
        if sport is not None and service.cluster_ip is not None and service.type != ServiceType.EXTERNAL_NAME:
            for node in nodes:
                yield FlowType.NODE_TO_SERVICE, f"node/{node.name}", spec(service, sport)

    def from_outside(kind: FlowType, service: Service, sport: ServicePort | None) -> Row:
        """An outside client to one service port: each LB IP, each external IP, or each node's nodePort."""
        if sport is None or service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME:
            return
        if kind == FlowType.NODEPORT:
            destinations = [f"node/{node.name}:{sport.node_port}" for node in nodes] if sport.node_port else []
        else:
            ips = service.load_balancer_ips if kind == FlowType.LOADBALANCER else service.external_ips
            destinations = [f"{ip}:{sport.port}" for ip in ips]
        for dst in destinations:
            yield kind, client_ip, dst

    for kind in (FlowType.POD_TO_SERVICE, FlowType.EXTERNALNAME):
        _fill(out, (kind,), (to_service(kind, *p) for p in ports))
    _fill(out, (FlowType.NODE_TO_SERVICE,), (node_to_service(*p) for p in ports))
    for kind in (FlowType.LOADBALANCER, FlowType.EXTERNALIPS, FlowType.NODEPORT):
        _fill(out, (kind,), (from_outside(kind, *p) for p in ports))
    return {kind: pairs for kind, pairs in out.items() if pairs}


__all__ = ["CANDIDATE_LIMIT", "CANDIDATE_SCOPE", "FlowType", "Source", "Target", "candidate_flows", "classify",
           "destination_protocol", "parse_source", "parse_target", "serving_port", "trace_flow"]
