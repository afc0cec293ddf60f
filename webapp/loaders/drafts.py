"""What the two input formats read, before gaps are filled: drafts with optional fields and their origins."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from webapp.loaders.documents import Document, Path, render_path
from webapp.model import Container, Endpoint, ExternalHost, Labels, Namespace, NetworkPolicy, Service, SourceRef
from webapp.problems import Problem, Severity


@dataclass(frozen=True)
class Origin:
    """An object's place in a document: the document and the path of the object inside it."""

    doc: Document
    prefix: Path = ()

    def child(self, *sub: str | int) -> "Origin":
        return Origin(self.doc, self.prefix + sub)

    def written(self, *sub: str | int) -> Any:
        """The value at `sub` below this object as written in the document (None when it is not there)."""
        data = self.doc.data
        for part in self.prefix + sub:
            try:
                data = data[part]
            except (KeyError, IndexError, TypeError):
                return None
        return data

    def problem(self, severity: Severity, code: str, message: str, *sub: str | int, hint: str = "",
                key: bool = False, message_zh: str = "") -> Problem:
        """A problem located at `sub` below this object (the deepest part of it that exists; its key with `key`)."""
        path = self.prefix + sub
        line, col = self.doc.locate(path, key)
        return Problem(severity, self.doc.file, line, col, message, render_path(path), hint, code=code,
                       message_zh=message_zh)

    @property
    def added_by_loader(self) -> bool:
        return self.doc.index < 0

    def source_ref(self) -> SourceRef | None:
        """Where the object starts in its file (None for objects the loader added itself)."""
        if self.added_by_loader:
            return None
        if len(self.prefix) == 2 and self.prefix[0] == "items" and isinstance(self.prefix[1], int):
            return SourceRef(self.doc.file, *self.doc.item_position(self.prefix[1]), f"items[{self.prefix[1]}]")
        elif not self.prefix:
            line, col = self.doc.start_line, 1
        else:
            line, col = self.doc.locate(self.prefix)
        return SourceRef(self.doc.file, line, col, render_path(self.prefix))


def loader_origin(file: str) -> Origin:
    """The origin of objects the loader adds itself (default nodes, kube-dns …): reported at the load's first file."""
    return Origin(Document(file, -1, None))


@dataclass
class NodeDraft:
    name: str
    origin: Origin
    internal_ip: IPv4Address | None = None
    pod_cidr: IPv4Network | None = None
    nic: str | None = None
    labels: Labels = ()
    ready: bool = True
    schedulable: bool = True
    external_ip: IPv4Address | None = None
    version: str | None = None
    nfacct: bool | None = None
    """Given explicitly; None: on from v1.31 (model.NFACCT_SINCE)."""
    ip_at: Path = ("ip",)
    pod_cidr_at: Path = ("podCIDR",)
    nfacct_at: Path = ("nfacct",)
    addresses: tuple[IPv4Address, ...] = ()
    """More addresses on the NIC (ours: `addresses`; a Node's further InternalIPs)."""
    addresses_at: tuple[Path, ...] = ()


@dataclass
class PodDraft:
    namespace: str
    name: str
    origin: Origin
    containers: tuple[Container, ...]
    node: str | None = None
    pod_ip: IPv4Address | None = None
    labels: Labels = ()
    ready: bool = True
    host_network: bool = False
    owner: str | None = None
    down: bool = False
    ip_at: Path = ("ip",)
    node_at: Path = ("node",)
    containers_at: Path = ("containers",)
    port_key: str = "port"
    """The key of a container port's number (unless the port is written as a bare number)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port_at(self, container: int, port: int) -> Path:
        """Where the number of a container port is written: `containers[c].ports[p].port` or a bare number."""
        at = (*self.containers_at, container, "ports", port)
        return (*at, self.port_key) if isinstance(self.origin.written(*at), dict) else at


@dataclass
class ServiceDraft:
    """A Service as read: `service.cluster_ip` is None when not given, port `node_port`s likewise."""

    service: Service
    origin: Origin
    headless: bool = False
    """`clusterIP: None` was given."""
    cluster_ip_at: Path = ("clusterIP",)
    ports_at: Path = ("ports",)
    selector_at: Path = ("selector",)
    health_check_node_port_at: Path = ("healthCheckNodePort",)

    @property
    def key(self) -> str:
        return self.service.key


@dataclass
class EndpointsDraft:
    """Backends given by an Endpoints or EndpointSlice object."""

    service: str
    kind: str
    origin: Origin
    endpoints: list[Endpoint]


@dataclass
class SettingsDraft:
    """Network settings as given, each with where it was given (later inputs override earlier ones)."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def set(self, key: str, value: Any, origin: Origin) -> None:
        self.values[key] = value
        self.origins[key] = origin


@dataclass
class Inputs:
    """Everything read from one load, in input order, plus the problems found while reading."""

    name: str | None = None
    description: str = ""
    settings: SettingsDraft = field(default_factory=SettingsDraft)
    nodes: list[NodeDraft] = field(default_factory=list)
    pods: list[PodDraft] = field(default_factory=list)
    services: list[ServiceDraft] = field(default_factory=list)
    endpoints: list[EndpointsDraft] = field(default_factory=list)
    network_policies: list[NetworkPolicy] = field(default_factory=list)
    namespaces: list[Namespace] = field(default_factory=list)
    external_hosts: list[ExternalHost] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    controllers: list[Any] = field(default_factory=list)
    """Workload controllers (Deployment, StatefulSet …) expanded into pods once the nodes are known."""
    owned: set[tuple[str, str]] = field(default_factory=set)
    """(namespace, `Kind/name`) of controllers whose children are in the input already: not expanded again."""
    settings_lost: bool = False
    """A part of the input that may hold network settings was not read (a syntax error, a bad `network`
    block, a bad flannel or kube-proxy configuration): checks against the settings are not trusted."""
