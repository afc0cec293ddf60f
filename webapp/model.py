"""The typed cluster model: frozen value objects that every loader produces and every later stage reads.

A `Cluster` is complete and canonical: every gap of the input (node podCIDRs, pod IPs, clusterIPs,
nodePorts, endpoints) has already been filled by the loader, deterministically. Nothing here imports dash.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from typing import Mapping

Labels = tuple[tuple[str, str], ...]
"""Labels as sorted (key, value) pairs: hashable, picklable, ordered."""


def labels_of(mapping: Mapping[str, str] | None) -> Labels:
    """Canonical `Labels` from a mapping (sorted by key)."""
    return tuple(sorted((str(k), str(v)) for k, v in (mapping or {}).items()))


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_NAME = "ExternalName"


class TrafficPolicy(StrEnum):
    CLUSTER = "Cluster"
    LOCAL = "Local"


class SessionAffinity(StrEnum):
    NONE = "None"
    CLIENT_IP = "ClientIP"


class KubeProxyMode(StrEnum):
    IPTABLES = "iptables"
    IPVS = "ipvs"
    USERSPACE = "userspace"
    NFTABLES = "nftables"


class LoadBalancerMode(StrEnum):
    """How the cloud load balancer hands a connection to a node."""

    PASSTHROUGH = "passthrough"  # the packet reaches a node still addressed to the LB IP (GCE, MetalLB; upstream's tests)
    PROXY = "proxy"              # the LB opens its own connection to a node's nodePort (classic ELB style)


NFACCT_SINCE = (1, 31)
"""kube-proxy ≥ 1.31 writes `-m nfacct` counters where the kernel has nfacct (pkg/proxy/iptables/proxier.go,
`nfAcctCounters`: `ct_state_invalid_dropped_pkts`, `localhost_nps_accepted_pkts`)."""


FLANNEL_VXLAN_PORT = 8472
"""Linux kernel's VXLAN default, which flannel uses (flannel Documentation/backends.md)."""
OVS_VXLAN_PORT = 4789
"""IANA's VXLAN port (RFC 7348), which Open vSwitch's vxlan ports use by default."""
VXLAN_OVERHEAD = 50
"""Bytes VXLAN encapsulation adds: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers."""


class Overlay(StrEnum):
    """How pod traffic crosses between nodes."""

    FLANNEL_VXLAN = "flannel-vxlan"      # flannel.1, VNI 1, UDP 8472 (flannel's Linux default)
    FLANNEL_HOST_GW = "flannel-host-gw"  # plain routes via the peer node's IP, no encapsulation
    OVS_VXLAN = "ovs-vxlan"              # the seed article's drawing: an OVS bridge with a VXLAN port, UDP 4789

    @property
    def default_vxlan_port(self) -> int:
        """The VXLAN UDP port of the CNI that programs this overlay (flannel's for host-gw, which sends none)."""
        return OVS_VXLAN_PORT if self == Overlay.OVS_VXLAN else FLANNEL_VXLAN_PORT


class NetworkPlugin(StrEnum):
    """The network plugin that programs the pod network, as far as NetworkPolicy is concerned."""

    FLANNEL = "flannel"  # flannel alone: no NetworkPolicy enforcement
    CANAL = "canal"      # flannel's datapath plus Calico's (Felix's) policy enforcement


class Bridge(StrEnum):
    CNI0 = "cni0"        # CNI bridge plugin default (flannel)
    DOCKER0 = "docker0"  # Docker's default bridge (the seed article)
    CBR0 = "cbr0"        # kubenet / old kube-up


PAUSE_CONTAINER = "pause"
"""The implicit infra container that holds every pod's network namespace."""


@dataclass(frozen=True)
class SourceRef:
    """Where an object came from: file, 1-based line and column of its start, and its document path."""

    file: str
    line: int
    col: int
    path: str = ""


@dataclass(frozen=True)
class NetworkSettings:
    """Cluster-wide network settings: CNI, overlay, CIDRs and kube-proxy."""

    cni: str = "flannel"
    overlay: Overlay = Overlay.FLANNEL_VXLAN
    bridge: Bridge = Bridge.CNI0
    pod_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    node_cidr_mask: int = 24
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/12")
    cluster_dns_ip: IPv4Address = IPv4Address("10.96.0.10")
    cluster_domain: str = "cluster.local"
    kube_proxy_mode: KubeProxyMode = KubeProxyMode.IPTABLES
    node_port_range: tuple[int, int] = (30000, 32767)
    vxlan_vni: int = 1
    vxlan_port: int = FLANNEL_VXLAN_PORT
    mtu: int = 1500
    ip_masq: bool = True
    network_plugin: NetworkPlugin = NetworkPlugin.FLANNEL
    """flannel enforces no NetworkPolicy; canal does (Calico's Felix on flannel's datapath)."""
    node_network: IPv4Network | None = None
    """The underlay the nodes' NICs sit on, when known (e.g. 192.168.0.0/24)."""
    node_port_addresses: tuple[IPv4Network, ...] = ()
    """KubeProxyConfiguration `nodePortAddresses`: the node addresses nodePorts answer on (empty: every one)."""
    node_port_addresses_primary: bool = False
    """`nodePortAddresses: [primary]`: only the node's primary (Internal) IP."""
    masquerade_all: bool = False
    """KubeProxyConfiguration `iptables.masqueradeAll`: SNAT every connection to a cluster IP."""
    localhost_node_ports: bool = True
    """KubeProxyConfiguration `iptables.localhostNodePorts`: nodePorts answer on 127.0.0.0/8 (iptables mode)."""
    load_balancer_mode: LoadBalancerMode = LoadBalancerMode.PASSTHROUGH
    """How LoadBalancer Services' load balancer reaches the nodes, unless a Service says otherwise."""
    service_cidr_route: str | None = None
    """The node the network outside the cluster routes the service range to (`serviceCIDRRoute: via NODE`), as
    kube-proxy's tests model an outside client of a cluster IP; None: cluster IPs are not routed outside."""

    @property
    def overlay_mtu(self) -> int:
        """MTU of pod interfaces: the NIC MTU minus VXLAN's overhead when encapsulating."""
        return self.mtu - VXLAN_OVERHEAD if self.overlay in (Overlay.FLANNEL_VXLAN, Overlay.OVS_VXLAN) else self.mtu

    @property
    def enforces_policy(self) -> bool:
        """The network plugin implements NetworkPolicy."""
        return self.network_plugin == NetworkPlugin.CANAL


@dataclass(frozen=True)
class Node:
    name: str
    internal_ip: IPv4Address
    pod_cidr: IPv4Network
    nic: str = "eth0"
    labels: Labels = ()
    ready: bool = True
    external_ip: IPv4Address | None = None
    source: SourceRef | None = None
    version: str | None = None
    """The node's Kubernetes version (`status.nodeInfo.kubeletVersion`, e.g. v1.31.2), when known."""
    nfacct: bool = False
    """kube-proxy on this node counts with nfacct (`-m nfacct` in its rules): on by default from v1.31."""
    addresses: tuple[IPv4Address, ...] = ()
    """More addresses on the node's NIC besides its InternalIP (as /32s), e.g. a second IP that kube-proxy's
    nodePortAddresses may or may not select; the network outside routes each to the node."""

    @property
    def bridge_ip(self) -> IPv4Address:
        """The gateway address the bridge holds: the first address of the podCIDR (host-local IPAM)."""
        return self.pod_cidr.network_address + 1

    @property
    def vtep_ip(self) -> IPv4Address:
        """flannel.1's /32 address: the podCIDR's network address."""
        return self.pod_cidr.network_address


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    protocol: Protocol = Protocol.TCP
    name: str | None = None
    host_port: int | None = None


@dataclass(frozen=True)
class Container:
    name: str
    image: str = ""
    ports: tuple[ContainerPort, ...] = ()


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    node: str
    pod_ip: IPv4Address
    containers: tuple[Container, ...]
    labels: Labels = ()
    ready: bool = True
    host_network: bool = False
    owner: str | None = None
    """The controller that made it, as `Kind/name` (e.g. `ReplicaSet/frontend-5d8f7c9b4`)."""
    source: SourceRef | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def container_names(self) -> tuple[str, ...]:
        """Every container in the pod's network namespace, the implicit pause container first."""
        return (PAUSE_CONTAINER, *(c.name for c in self.containers))

    def find_port(self, port: int | str, protocol: Protocol = Protocol.TCP) -> tuple[Container, ContainerPort] | None:
        """The container and port that listen on a port number or a named port."""
        for container in self.containers:
            for cport in container.ports:
                if cport.protocol != protocol:
                    continue
                if (isinstance(port, int) and cport.container_port == port) or (
                    isinstance(port, str) and cport.name == port
                ):
                    return container, cport
        return None


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: Protocol = Protocol.TCP
    name: str | None = None
    node_port: int | None = None


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    type: ServiceType
    cluster_ip: IPv4Address | None
    """None for ExternalName services and headless services (`clusterIP: None`)."""
    ports: tuple[ServicePort, ...] = ()
    selector: Labels = ()
    external_ips: tuple[IPv4Address, ...] = ()
    load_balancer_ips: tuple[IPv4Address, ...] = ()
    """`status.loadBalancer.ingress[].ip` (or the requested `spec.loadBalancerIP`)."""
    load_balancer_source_ranges: tuple[IPv4Network, ...] = ()
    external_name: str | None = None
    external_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    internal_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    session_affinity: SessionAffinity = SessionAffinity.NONE
    session_affinity_timeout: int = 10800
    health_check_node_port: int | None = None
    source: SourceRef | None = None
    allocate_load_balancer_node_ports: bool = True
    """`spec.allocateLoadBalancerNodePorts`: false → a LoadBalancer gets no nodePort unless one is given."""
    load_balancer_mode: LoadBalancerMode | None = None
    """This Service's load balancer model (annotation `k8s-netviz.io/load-balancer-mode`); None: the cluster's."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        return self.cluster_ip is None and self.type != ServiceType.EXTERNAL_NAME

    def port_named(self, port: int | str) -> ServicePort | None:
        """The service port with this name, or this port number."""
        for sport in self.ports:
            if (isinstance(port, str) and sport.name == port) or (isinstance(port, int) and sport.port == port):
                return sport
        return None


@dataclass(frozen=True)
class Endpoint:
    """One backend of one service port: what an EndpointSlice entry says, flattened per port."""

    service: str
    """`namespace/name` of the service."""
    port_name: str | None
    ip: IPv4Address
    port: int
    protocol: Protocol = Protocol.TCP
    node: str | None = None
    pod: str | None = None
    """`namespace/name` of the backing pod, when known."""
    ready: bool = True
    serving: bool = True
    terminating: bool = False

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server sets on every namespace to its name."""


@dataclass(frozen=True)
class Namespace:
    """A namespace and its labels (always holding `kubernetes.io/metadata.name`)."""

    name: str
    labels: Labels = ()
    source: SourceRef | None = None


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True)
class LabelRequirement:
    """One `matchExpressions` entry."""

    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == SelectorOperator.IN:
            return labels.get(self.key) in self.values
        if self.operator == SelectorOperator.NOT_IN:
            return labels.get(self.key) not in self.values  # a missing key is not in the set
        if self.operator == SelectorOperator.EXISTS:
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class LabelSelector:
    """A set-based label selector (metav1.LabelSelector): every term must hold; the empty selector matches all."""

    match_labels: Labels = ()
    match_expressions: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = dict(labels)
        return all(present.get(k) == v for k, v in self.match_labels) and all(
            r.matches(present) for r in self.match_expressions)

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


class PolicyType(StrEnum):
    INGRESS = "Ingress"
    EGRESS = "Egress"


@dataclass(frozen=True)
class IPBlock:
    """`ipBlock`: addresses in `cidr` but in none of `excepted` (the API's `except`)."""

    cidr: IPv4Network
    excepted: tuple[IPv4Network, ...] = ()

    def holds(self, address: IPv4Address) -> bool:
        return address in self.cidr and not any(address in e for e in self.excepted)


@dataclass(frozen=True)
class PolicyPeer:
    """One `from`/`to` entry: pods by podSelector and/or namespaceSelector, or an ipBlock.

    podSelector alone: pods of the policy's namespace; namespaceSelector alone: every pod of the selected
    namespaces; both in one peer: the selected pods of the selected namespaces (not two separate peers)."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class PolicyPort:
    """One `ports` entry: a protocol and a port number, a named container port, or a range (`end_port`);
    `port` None means every port of the protocol."""

    protocol: Protocol = Protocol.TCP
    port: int | str | None = None
    end_port: int | None = None


@dataclass(frozen=True)
class PolicyRule:
    """One ingress or egress rule: no peers means every peer; no ports means every port and protocol."""

    peers: tuple[PolicyPeer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True)
class NetworkPolicy:
    """A networking.k8s.io/v1 NetworkPolicy with its `policyTypes` defaulted as the API server does."""

    namespace: str
    name: str
    pod_selector: LabelSelector = LabelSelector()
    policy_types: tuple[PolicyType, ...] = (PolicyType.INGRESS,)
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()
    source: SourceRef | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, policy_type: PolicyType) -> tuple[PolicyRule, ...]:
        return self.ingress if policy_type == PolicyType.INGRESS else self.egress


def default_policy_types(given: tuple[PolicyType, ...], has_egress_rules: bool) -> tuple[PolicyType, ...]:
    """`spec.policyTypes` as the API server defaults it when it is not given: Ingress, and Egress when the
    policy has egress rules (kubernetes pkg/apis/networking/v1/defaults.go, SetDefaults_NetworkPolicy)."""
    if given:
        return tuple(dict.fromkeys(given))
    return (PolicyType.INGRESS, PolicyType.EGRESS) if has_egress_rules else (PolicyType.INGRESS,)


@dataclass(frozen=True)
class ExternalHost:
    """A host outside the cluster: a client on the internet, or the target of an ExternalName."""

    name: str
    ip: IPv4Address
    dns_name: str | None = None


@dataclass(frozen=True)
class Cluster:
    """A whole, canonical cluster. Collections are tuples in a deterministic order."""

    name: str
    settings: NetworkSettings
    nodes: tuple[Node, ...]
    pods: tuple[Pod, ...]
    services: tuple[Service, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    network_policies: tuple[NetworkPolicy, ...] = ()
    namespace_objects: tuple[Namespace, ...] = ()
    """Every namespace named by an object or given as a Namespace, with its labels, by name."""
    external_hosts: tuple[ExternalHost, ...] = ()
    description: str = ""
    down_pods: frozenset[str] = field(default_factory=frozenset)
    """Pods (`namespace/name`) the user marked as not answering, though still listed as ready endpoints."""

    # Indexes, computed once on first use (or by `build_indexes`). cached_property writes the instance __dict__
    # directly, which a frozen dataclass allows.
    def build_indexes(self) -> None:
        """Build every lookup table now: a big load pays for them (with the cyclic GC paused), not its first
        trace."""
        for name in ("node_by_name", "pod_by_key", "pod_by_ip", "pods_by_node", "node_by_ip", "service_by_key",
                     "service_by_cluster_ip", "endpoints_by_service"):
            getattr(self, name)

    def __getstate__(self) -> dict[str, object]:
        """The fields only: the lookup tables and the engine's memo are rebuilt where the pickle is read."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @cached_property
    def node_by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @cached_property
    def pod_by_key(self) -> dict[str, Pod]:
        return {p.key: p for p in self.pods}

    @cached_property
    def pod_by_ip(self) -> dict[IPv4Address, Pod]:
        """Pods by their own IP (hostNetwork pods share the node's IP and are left out)."""
        return {p.pod_ip: p for p in self.pods if not p.host_network}

    @cached_property
    def pods_by_node(self) -> dict[str, tuple[Pod, ...]]:
        grouped: dict[str, list[Pod]] = {n.name: [] for n in self.nodes}
        for pod in self.pods:
            grouped.setdefault(pod.node, []).append(pod)
        return {k: tuple(v) for k, v in grouped.items()}

    @cached_property
    def node_by_ip(self) -> dict[IPv4Address, Node]:
        return {ip: n for n in self.nodes for ip in (n.internal_ip, *n.addresses)}

    @cached_property
    def service_by_key(self) -> dict[str, Service]:
        return {s.key: s for s in self.services}

    @cached_property
    def service_by_cluster_ip(self) -> dict[IPv4Address, Service]:
        return {s.cluster_ip: s for s in self.services if s.cluster_ip is not None}

    @cached_property
    def endpoints_by_service(self) -> dict[str, tuple[Endpoint, ...]]:
        grouped: dict[str, list[Endpoint]] = {}
        for ep in self.endpoints:
            grouped.setdefault(ep.service, []).append(ep)
        return {k: tuple(v) for k, v in grouped.items()}

    def endpoints_for(self, service: Service, port: ServicePort) -> tuple[Endpoint, ...]:
        """The endpoints of one service port, in their canonical order (by IP, then port)."""
        return tuple(
            ep
            for ep in self.endpoints_by_service.get(service.key, ())
            if ep.port_name == port.name and ep.protocol == port.protocol
        )

    @cached_property
    def namespace_labels(self) -> dict[str, Labels]:
        """Labels by namespace name; a namespace not listed has only `kubernetes.io/metadata.name`."""
        return {n.name: n.labels for n in self.namespace_objects}

    def labels_of_namespace(self, name: str) -> Labels:
        return self.namespace_labels.get(name, ((NAMESPACE_NAME_LABEL, name),))

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(sorted({p.namespace for p in self.pods} | {s.namespace for s in self.services}))


def version_at_least(version: str | None, minimum: tuple[int, int]) -> bool:
    """Whether a Kubernetes version string (`v1.31.2`, `1.31`, `v1.32.0-eks-1`) is at least `minimum`."""
    if not version:
        return False
    parts = version.strip().lstrip("vV").split(".")
    try:
        major, minor = int(parts[0]), int("".join(c for c in parts[1].split("-")[0].split("+")[0] if c.isdigit()))
    except (IndexError, ValueError):
        return False
    return (major, minor) >= minimum


def ip(text: str) -> IPv4Address:
    """Parse an IPv4 address (raises ValueError)."""
    return ipaddress.IPv4Address(text)
