"""Flows: the SRC/DST grammar of `trace`, the flow types, the valid (src, dst) choices per type, and
`trace_flow()` — the one entry point for the CLI, the web app and the lab (docs/trace-contract.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import IPv4Address

from webapp.engine import services
from webapp.engine.datapath import cluster_cached, host_netns, pod_netns
from webapp.engine.trace import Disposition, Flow, Hop, Packet, SocketAddress, Trace
from webapp.engine.walk import (
    EXTERNAL_NETNS, Socket, Walker, WalkResult, ephemeral_port, external_name, source_address,
)
from webapp.model import Cluster, Node, Pod, Protocol, Service, ServicePort, ServiceType

CANDIDATE_LIMIT = 12
"""At most this many (src, dst) choices per flow type in `candidate_flows` (pairs explode on big clusters)."""
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
    FlowType.CONTAINER_TO_CONTAINER: ("The containers share the pause container's network namespace: they talk over "
                                      "lo on 127.0.0.1, like processes on one VM; their ports must not clash."),
    FlowType.POD_TO_POD_SAME_NODE: ("No NAT: the destination pod sees the source pod's own IP (the seed's first and "
                                    "third principles); the node's bridge switches the frame."),
    FlowType.POD_TO_POD_CROSS_NODE: ("No NAT: the destination pod sees the source pod's own IP (the seed's first and "
                                     "third principles); the overlay carries it between nodes."),
    FlowType.NODE_TO_POD: "No NAT between a node and a pod (the seed's second principle).",
    FlowType.POD_TO_NODE: "No NAT between a pod and a node (the seed's second principle).",
    FlowType.POD_TO_EXTERNAL: ("Leaving the cluster, the pod's address is masqueraded to the node's (the CNI's "
                               "ipMasq rule); conntrack undoes it on the reply."),
    FlowType.EXTERNAL_TO_POD: ("Pod IPs are not routed outside the cluster: reach pods from outside through a "
                               "Service (NodePort, LoadBalancer or externalIPs)."),
}


NOTES_WITH_NAT: dict[FlowType, str] = {
    FlowType.POD_TO_NODE: ("flannel's ipMasq masquerades pod traffic to every address outside the cluster CIDR — "
                           "another node's IP included — so that node sees the pod's node address: real flannel "
                           "departs here from the seed's second principle."),
    FlowType.NODE_TO_POD: ("The node's address was rewritten on the way: see the NAT steps (the seed's second "
                           "principle does not hold for this datapath)."),
}


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
                  node=cluster.node_by_ip.get(address))


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
    found = service.port_named(int(port) if port.isdigit() else port)
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
        return FlowType.POD_TO_SERVICE if from_pod else FlowType.NODE_TO_SERVICE
    if found is not None:
        kind, _ = found
        if kind == FlowType.POD_TO_SERVICE and not from_pod:
            return FlowType.NODE_TO_SERVICE
        return kind
    pod = target.pod if target.pod is not None and not target.pod.host_network else None
    if pod is not None:
        if from_pod:
            assert source.pod is not None
            return FlowType.POD_TO_POD_SAME_NODE if source.pod.node == pod.node else FlowType.POD_TO_POD_CROSS_NODE
        return FlowType.NODE_TO_POD if from_node else FlowType.EXTERNAL_TO_POD
    if target.node is not None or target.pod is not None or target.address.ip in cluster.node_by_ip:
        return FlowType.POD_TO_NODE if from_pod else FlowType.HOST_NETWORK
    if target.address.ip in cluster.settings.pod_cidr:
        return FlowType.EXTERNAL_TO_POD if source.ip is not None else FlowType.POD_TO_POD_CROSS_NODE
    return FlowType.POD_TO_EXTERNAL if from_pod else FlowType.HOST_NETWORK


def _outside_service_type(service: Service) -> FlowType:
    if service.type == ServiceType.LOAD_BALANCER and service.load_balancer_ips:
        return FlowType.LOADBALANCER
    if service.external_ips:
        return FlowType.EXTERNALIPS
    if service.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER):
        return FlowType.NODEPORT
    return FlowType.POD_TO_SERVICE


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

def trace_flow(cluster: Cluster, src: str, dst: str, proto: str = "tcp", *,
               backend: IPv4Address | str | None = None) -> Trace:
    """Trace one flow (request and reply). Raises ValueError naming what in SRC/DST was not found."""
    proto = proto.lower()
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
    notes = [NOTES_WITH_NAT[flow_type] if trace.nat and flow_type in NOTES_WITH_NAT else NOTES[flow_type]] \
        if flow_type in NOTES else []
    if problem:
        notes.append(f"The reply does not come back as sent: {problem}.")
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
        reason = (f"ExternalName service {service.key} points at {service.external_name}, which resolves to no "
                  "known host (declare it under the cluster's external hosts)")
        return Trace(flow, Disposition.NO_ROUTE, prelude, (), reason, ())
    address = SocketAddress(host.ip, target.address.port)
    packet = Packet(SocketAddress(_source_ip(cluster, source, host.ip), ephemeral_port(flow.src, flow.dst, flow.proto)),
                    address, flow.proto)
    result = walker.request(source.socket, packet)
    return _finish(flow, FlowType.EXTERNALNAME, walker, result, prelude)


# --- choices for the picker -----------------------------------------------------------------------------

def _pod_spec(pod: Pod) -> str:
    return f"pod/{pod.key}"


def _first_port(pod: Pod) -> int | None:
    for container in pod.containers:
        for port in container.ports:
            if port.protocol == Protocol.TCP:
                return port.container_port
    return None


def candidate_flows(cluster: Cluster) -> dict[FlowType, list[tuple[str, str]]]:
    """Valid (src, dst) choices per flow type for the picker, at most CANDIDATE_LIMIT each, in cluster order."""
    out: dict[FlowType, list[tuple[str, str]]] = {t: [] for t in FlowType}

    def add(kind: FlowType, src: str, dst: str) -> bool:
        bucket = out[kind]
        if len(bucket) < CANDIDATE_LIMIT:
            bucket.append((src, dst))
        return len(bucket) >= CANDIDATE_LIMIT

    pods = [p for p in cluster.pods if not p.host_network]
    servers = [(p, port) for p in pods if (port := _first_port(p)) is not None][:64]
    clients = pods[:64]
    client_ip = cluster.external_hosts[0].ip if cluster.external_hosts else EXTERNAL_CLIENT
    outside = (SocketAddress(cluster.external_hosts[0].ip, 443) if cluster.external_hosts else EXTERNAL_SERVER)
    for pod in clients:
        for container in pod.containers:
            for other in pod.containers:
                if other is not container and other.ports:
                    add(FlowType.CONTAINER_TO_CONTAINER, f"{_pod_spec(pod)}:{container.name}",
                        f"localhost:{other.ports[0].container_port}")
    for client in clients:
        for server, port in servers:
            if server is client:
                continue
            kind = FlowType.POD_TO_POD_SAME_NODE if server.node == client.node else FlowType.POD_TO_POD_CROSS_NODE
            add(kind, _pod_spec(client), f"{_pod_spec(server)}:{port}")
    for node in cluster.nodes[:CANDIDATE_LIMIT]:
        for server, port in servers[:2]:
            add(FlowType.NODE_TO_POD, f"node/{node.name}", f"{_pod_spec(server)}:{port}")
        for other in cluster.nodes[:3]:
            if other is not node:
                add(FlowType.HOST_NETWORK, f"node/{node.name}", f"node/{other.name}:{KUBELET_PORT}")
    for client in clients[:CANDIDATE_LIMIT]:
        add(FlowType.POD_TO_NODE, _pod_spec(client), f"node/{client.node}:{KUBELET_PORT}")
        add(FlowType.POD_TO_EXTERNAL, _pod_spec(client), str(outside))
    for server, port in servers[:CANDIDATE_LIMIT]:
        add(FlowType.EXTERNAL_TO_POD, str(client_ip), f"{_pod_spec(server)}:{port}")
    for service in cluster.services:  # constant work per service: each bucket stops filling at the limit
        for sport in service.ports[:1] or (None,):
            svc = f"svc/{service.key}" + (f":{sport.name or sport.port}" if sport else "")
            if service.type == ServiceType.EXTERNAL_NAME:
                for client in clients[:2]:
                    add(FlowType.EXTERNALNAME, _pod_spec(client), svc)
                continue
            if sport is None or service.cluster_ip is None:
                continue
            for client in clients[:2]:
                add(FlowType.POD_TO_SERVICE, _pod_spec(client), svc)
            for node in cluster.nodes[:1]:
                add(FlowType.NODE_TO_SERVICE, f"node/{node.name}", svc)
            if sport.node_port:
                for node in cluster.nodes[:2]:
                    add(FlowType.NODEPORT, str(client_ip), f"node/{node.name}:{sport.node_port}")
            for lb_ip in service.load_balancer_ips[:1]:
                add(FlowType.LOADBALANCER, str(client_ip), f"{lb_ip}:{sport.port}")
            for ext_ip in service.external_ips[:1]:
                add(FlowType.EXTERNALIPS, str(client_ip), f"{ext_ip}:{sport.port}")
    return {kind: pairs for kind, pairs in out.items() if pairs}


__all__ = ["CANDIDATE_LIMIT", "FlowType", "Source", "Target", "candidate_flows", "classify",
           "parse_source", "parse_target", "trace_flow"]
