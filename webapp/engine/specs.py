"""The SRC/DST grammar of `trace` (docs/trace-contract.md): one typed `Spec`, one parser (`parse_spec`) and the
resolver that finds what a spec names in a cluster (`resolve_source`, `resolve_target`, `service_spec`). The CLI,
the picker's candidates, the web app's search and its URL state all go through here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address

from webapp.engine.datapath import host_netns, node_owning, pod_netns
from webapp.engine.trace import SocketAddress
from webapp.engine.sockets import EXTERNAL_NETNS, external_name
from webapp.engine.walk import Socket
from webapp.model import Cluster, Node, Pod, Protocol, Service, ServicePort

DEFAULT_NAMESPACE = "default"
"""The namespace of `pod/NAME` and `svc/NAME` (an empty one, `pod//NAME`, counts as omitted)."""
LOOPBACK = IPv4Address("127.0.0.1")
_HOST_NAME = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?$")

SOURCE_FORMS = "pod/[NS/]NAME[:CONTAINER], node/NAME or an IP address"
DESTINATION_FORMS = "IP:PORT, pod/[NS/]NAME:PORT, svc/[NS/]NAME[:PORT], node/NAME:PORT or localhost:PORT"


class End(StrEnum):
    """Which end of a flow a spec names."""

    SOURCE = "source"
    DESTINATION = "destination"


class SpecKind(StrEnum):
    POD = "pod"
    """`pod/[NS/]NAME` with `:CONTAINER` as a source, `:PORT` (number or container port name) as a destination."""
    NODE = "node"
    """`node/NAME`, `node/NAME:PORT` as a destination: the node's host network namespace / InternalIP."""
    SERVICE = "svc"
    """`svc/[NS/]NAME[:PORT]` (destination only; PORT a service port's name or number)."""
    ADDRESS = "address"
    """`IP` as a source, `IP:PORT` as a destination."""
    LOCALHOST = "localhost"
    """`localhost:PORT` (destination only): 127.0.0.1 inside the source's namespace."""
    DNS_NAME = "dns-name"
    """`NAME.NS.svc.<cluster domain>[.]:PORT` (destination only): resolved through kube-dns first."""


@dataclass(frozen=True)
class Spec:
    """One parsed SRC or DST. `text` is the spec as given (traces record it, and the client port hashes it)."""

    kind: SpecKind
    text: str
    name: str = ""
    """The pod, node or service name; for a DNS name, the host name (without a trailing dot)."""
    namespace: str = ""
    """As written; `key` applies the default."""
    ip: IPv4Address | None = None
    port: str = ""
    """A destination's port as written: a number, or a name for pods, services and DNS names."""
    container: str = ""

    @property
    def key(self) -> str:
        """`NS/NAME` of a pod or service."""
        return f"{self.namespace or DEFAULT_NAMESPACE}/{self.name}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of_pod(cls, pod: Pod, container: str = "") -> Spec:
        """A pod (or one of its containers) as a source."""
        return _written(f"pod/{pod.key}" + (f":{container}" if container else ""), End.SOURCE,
                        kind=SpecKind.POD, key=pod.key, container=container)

    @classmethod
    def of_node(cls, node: Node) -> Spec:
        return _written(f"node/{node.name}", End.SOURCE, kind=SpecKind.NODE, name=node.name)

    @classmethod
    def of_address(cls, ip: IPv4Address) -> Spec:
        return _written(str(ip), End.SOURCE, kind=SpecKind.ADDRESS, ip=ip)

    @classmethod
    def to_pod(cls, pod: Pod, port: int | str) -> Spec:
        return _written(f"pod/{pod.key}:{port}", End.DESTINATION, kind=SpecKind.POD, key=pod.key, port=str(port))

    @classmethod
    def to_node(cls, node: Node, port: int) -> Spec:
        return _written(f"node/{node.name}:{port}", End.DESTINATION, kind=SpecKind.NODE, name=node.name,
                        port=str(port))

    @classmethod
    def to_service(cls, service: Service, sport: ServicePort | None = None) -> Spec:
        """`svc/NS/NAME:PORT` by the port's name (its number when unnamed); without a port, the service alone."""
        port = str(sport.name or sport.port) if sport is not None else ""
        return _written(f"svc/{service.key}" + (f":{port}" if port else ""), End.DESTINATION,
                        kind=SpecKind.SERVICE, key=service.key, port=port)

    @classmethod
    def to_address(cls, address: SocketAddress) -> Spec:
        return _written(str(address), End.DESTINATION, kind=SpecKind.ADDRESS, ip=address.ip, port=str(address.port))

    @classmethod
    def to_localhost(cls, port: int) -> Spec:
        return _written(f"localhost:{port}", End.DESTINATION, kind=SpecKind.LOCALHOST, port=str(port))


def _written(text: str, end: End, *, kind: SpecKind, key: str | None = None, **fields: object) -> Spec:
    """The spec of `text`, checked to name what it was built from: a name holding `:` or `/` (which no valid
    Kubernetes name does) cannot be written in the grammar, and raises ValueError."""
    spec = parse_spec(text, end)
    wanted = {"kind": kind, **fields}
    if spec.kind != kind or (key is not None and spec.key != key) or any(
            getattr(spec, name) != value for name, value in wanted.items()):
        raise ValueError(f"{text}: cannot be written as a {end} spec (a name holds ':' or '/')")
    return spec


def _port_number(text: str, spec: str) -> str:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{spec}: {text!r} is not a port number (1-65535)")
    return str(int(text))


def _split_key(path: str) -> tuple[str, str]:
    namespace, _, name = path.rpartition("/")
    return namespace, name


def parse_spec(spec: str, end: End) -> Spec:
    """The one parser of SRC and DST specs (docs/trace-contract.md). Raises ValueError saying what is wrong with
    the text; whether what it names exists is the resolver's question."""
    text = spec.strip()
    if end == End.SOURCE:
        if text.startswith("pod/"):
            path, _, container = text[4:].partition(":")
            namespace, name = _split_key(path)
            return Spec(SpecKind.POD, spec, name, namespace, container=container)
        if text.startswith("node/"):
            return Spec(SpecKind.NODE, spec, text[5:])
        try:
            return Spec(SpecKind.ADDRESS, spec, ip=IPv4Address(text))
        except ValueError:
            raise ValueError(f"{spec}: not a source; use {SOURCE_FORMS}") from None
    if text.startswith("svc/"):
        path, _, port = text[4:].partition(":")
        namespace, name = _split_key(path)
        return Spec(SpecKind.SERVICE, spec, name, namespace, port=port)
    path, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{spec}: a destination needs a port (e.g. {text}:80)")
    if path == "localhost":
        return Spec(SpecKind.LOCALHOST, spec, ip=LOOPBACK, port=_port_number(port, spec))
    if path.startswith("pod/"):
        namespace, name = _split_key(path[4:])
        return Spec(SpecKind.POD, spec, name, namespace, port=_port_number(port, spec) if port.isdigit() else port)
    if path.startswith("node/"):
        return Spec(SpecKind.NODE, spec, path[5:], port=_port_number(port, spec))
    try:
        address = IPv4Address(path)
    except ValueError:
        if _HOST_NAME.match(path):
            return Spec(SpecKind.DNS_NAME, spec, path.rstrip("."), port=port)
        raise ValueError(f"{spec}: not a destination; use {DESTINATION_FORMS}") from None
    return Spec(SpecKind.ADDRESS, spec, ip=address, port=_port_number(port, spec))


# --- the resolver -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """What a source spec names: the sending socket, and the pod, node or outside address behind it."""

    spec: Spec
    socket: Socket
    pod: Pod | None = None
    node: Node | None = None
    ip: IPv4Address | None = None
    """Set for sources outside every node and pod."""


@dataclass(frozen=True)
class Target:
    """What a destination spec names: the address the packet is sent to, and what owns it."""

    spec: Spec
    address: SocketAddress
    pod: Pod | None = None
    node: Node | None = None
    service: Service | None = None
    service_port: ServicePort | None = None
    localhost: bool = False


def _find_pod(cluster: Cluster, spec: Spec) -> Pod:
    pod = cluster.pod_by_key.get(spec.key)
    if pod is None:
        raise ValueError(f"{spec.text}: pod {spec.key} not found")
    return pod


def _find_node(cluster: Cluster, spec: Spec) -> Node:
    node = cluster.node_by_name.get(spec.name)
    if node is None:
        raise ValueError(f"{spec.text}: node {spec.name} not found (nodes: {', '.join(sorted(cluster.node_by_name))})")
    return node


def _find_service(cluster: Cluster, spec: Spec) -> Service:
    service = cluster.service_by_key.get(spec.key)
    if service is None:
        raise ValueError(f"{spec.text}: service {spec.key} not found")
    return service


def _socket_of_pod(pod: Pod, container: str) -> Socket:
    if pod.host_network:
        return Socket(host_netns(pod.node), pod.node, container)
    return Socket(pod_netns(pod.key), pod.node, container)


def _first_container(pod: Pod) -> str:
    return pod.containers[0].name if pod.containers else "pause"


def resolve_source(cluster: Cluster, spec: Spec) -> Source:
    """The socket a source spec sends from: a pod's container, a node's process, or a client outside (an IP that
    no pod or node holds; inside the pod network such an address is an error)."""
    if spec.kind == SpecKind.POD:
        pod = _find_pod(cluster, spec)
        names = [c.name for c in pod.containers]
        if spec.container and spec.container not in names:
            raise ValueError(f"{spec.text}: pod {pod.key} has no container {spec.container} "
                             f"(containers: {', '.join(names)})")
        return Source(spec, _socket_of_pod(pod, spec.container or _first_container(pod)), pod=pod)
    if spec.kind == SpecKind.NODE:
        node = _find_node(cluster, spec)
        return Source(spec, Socket(host_netns(node.name), node.name, "socket"), node=node)
    address = spec.ip
    if spec.kind != SpecKind.ADDRESS or address is None:
        raise ValueError(f"{spec.text}: not a source; use {SOURCE_FORMS}")
    pod = cluster.pod_by_ip.get(address)
    if pod is not None:
        return Source(spec, _socket_of_pod(pod, _first_container(pod)), pod=pod)
    node = cluster.node_by_ip.get(address)
    if node is not None:
        return Source(spec, Socket(host_netns(node.name), node.name, "socket"), node=node)
    if address in cluster.settings.pod_cidr:
        raise ValueError(f"{spec.text}: no pod has the IP {address}")
    return Source(spec, Socket(EXTERNAL_NETNS, None, external_name(cluster, address)), ip=address)


def service_spec(cluster: Cluster, spec: Spec) -> Spec:
    """The `svc/NS/NAME:PORT` spec a DNS-name spec (`NAME.NS.svc.<cluster domain>:PORT`) stands for, as kube-dns
    would answer it."""
    suffix = f".svc.{cluster.settings.cluster_domain}"
    if not spec.name.endswith(suffix):
        raise ValueError(f"{spec.text}: not a destination; use {DESTINATION_FORMS}")
    name, dot, namespace = spec.name[: -len(suffix)].rpartition(".")
    service = cluster.service_by_key.get(f"{namespace}/{name}") if dot else None
    if service is None:
        raise ValueError(f"{spec.text}: the cluster DNS has no service {spec.name} (NXDOMAIN)")
    return parse_spec(f"svc/{service.key}:{spec.port}", End.DESTINATION)


def resolve_target(cluster: Cluster, spec: Spec, protocol: Protocol) -> Target:
    """The address a destination spec sends to (a DNS name: its service's, see `service_spec`)."""
    if spec.kind == SpecKind.DNS_NAME:
        return resolve_target(cluster, service_spec(cluster, spec), protocol)
    if spec.kind == SpecKind.SERVICE:
        service = _find_service(cluster, spec)
        sport = _service_port(service, spec, protocol)
        if service.headless:
            return _headless_target(cluster, spec, service, sport)
        ip = service.cluster_ip or IPv4Address("0.0.0.0")  # ExternalName: resolved by DNS in the trace
        number = sport.port if sport else (int(_port_number(spec.port, spec.text)) if spec.port else 80)
        return Target(spec, SocketAddress(ip, number), service=service, service_port=sport)
    if spec.kind == SpecKind.LOCALHOST:
        return Target(spec, SocketAddress(LOOPBACK, int(spec.port)), localhost=True)
    if spec.kind == SpecKind.POD:
        pod = _find_pod(cluster, spec)
        ip = cluster.node_by_name[pod.node].internal_ip if pod.host_network else pod.pod_ip
        return Target(spec, SocketAddress(ip, _pod_port(pod, spec, protocol)), pod=pod)
    if spec.kind == SpecKind.NODE:
        node = _find_node(cluster, spec)
        return Target(spec, SocketAddress(node.internal_ip, int(spec.port)), node=node)
    if spec.ip is None or not spec.port:
        raise ValueError(f"{spec.text}: not a destination; use {DESTINATION_FORMS}")
    return Target(spec, SocketAddress(spec.ip, int(spec.port)), pod=cluster.pod_by_ip.get(spec.ip),
                  node=node_owning(cluster, spec.ip))


def _headless_target(cluster: Cluster, spec: Spec, service: Service, sport: ServicePort | None) -> Target:
    """A headless service has no VIP: its DNS name answers with the ready pods' own IPs; take the first."""
    ready = [ep for ep in (cluster.endpoints_for(service, sport) if sport else ()) if ep.ready]
    if not ready:
        selector = ",".join(f"{k}={v}" for k, v in service.selector) or "(none)"
        raise ValueError(f"{spec.text}: headless service {service.key} has no ready endpoints (selector {selector})")
    endpoint = ready[0]
    pod = cluster.pod_by_key.get(endpoint.pod or "") or cluster.pod_by_ip.get(endpoint.ip)
    return Target(spec, SocketAddress(endpoint.ip, endpoint.port), pod=pod, node=cluster.node_by_ip.get(endpoint.ip))


def _service_port(service: Service, spec: Spec, protocol: Protocol) -> ServicePort | None:
    if not service.ports:
        return None
    port = spec.port
    if not port:
        same = [p for p in service.ports if p.protocol == protocol]
        return (same or list(service.ports))[0]
    found = (next((p for p in service.ports if p.port == int(port) and p.protocol == protocol), None)
             if port.isdigit() else None) or service.port_named(int(port) if port.isdigit() else port)
    if found is None:
        ports = ", ".join(f"{p.name}:{p.port}" if p.name else str(p.port) for p in service.ports)
        raise ValueError(f"{spec.text}: service {service.key} has no port {port} (ports: {ports})")
    return found


def _pod_port(pod: Pod, spec: Spec, protocol: Protocol) -> int:
    if spec.port.isdigit():
        return int(spec.port)
    found = pod.find_port(spec.port, protocol)
    if found is None:
        raise ValueError(f"{spec.text}: pod {pod.key} has no {protocol} port named {spec.port}")
    return found[1].container_port


__all__ = ["DEFAULT_NAMESPACE", "End", "Source", "Spec", "SpecKind", "Target", "parse_spec",
           "resolve_source", "resolve_target", "service_spec"]
