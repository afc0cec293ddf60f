"""Chain names and the per-node view of a service port that every kube-proxy mode starts from.

Hashing follows kube-proxy's pkg/proxy/iptables/proxier.go (`portProtoHash`, `servicePortEndpointChainName`):
the first 16 characters of base32(sha256(servicePortName + protocol)), protocol in lower case; a KUBE-SEP
chain hashes the same string followed by the endpoint's `IP:port`. servicePortName is `namespace/name`, plus
`:portname` when the port is named (proxy.ServicePortName.String()).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from ipaddress import IPv4Address

from webapp.engine.memo import cluster_cached
from webapp.model import Cluster, Endpoint, Service, ServicePort, ServiceType, TrafficPolicy
from webapp.narration import say

MASQUERADE_MARK = 0x4000
"""kube-proxy's default `--iptables-masquerade-bit` 14 → mark 0x4000."""
MARK = f"{MASQUERADE_MARK:#x}"

# The rules both the iptables and the IPVS proxier write (proxier.go `syncProxyRules`: KUBE-POSTROUTING,
# KUBE-MARK-MASQ, KUBE-FORWARD).
POSTROUTING_RULES = (
    f"-A KUBE-POSTROUTING -m mark ! --mark {MARK}/{MARK} -j RETURN",
    f"-A KUBE-POSTROUTING -j MARK --xor-mark {MARK}",
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
    "--random-fully",
)
MARK_MASQ_RULE = f"-A KUBE-MARK-MASQ -j MARK --or-mark {MARK}"
FORWARD_RULES = (
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    f'-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark {MARK}/{MARK} -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack '
    "--ctstate RELATED,ESTABLISHED -j ACCEPT",
)

_SAVE_ESCAPED = frozenset("\\\"'")
"""Characters iptables-save writes with a backslash inside a quoted argument (libxtables `xtables_save_string`)."""


def in_quotes(text: str) -> str:
    """`text` as it goes between the double quotes of a rule argument: a backslash before each \\, " and ' (as
    iptables-save writes them, and iptables-restore reads them back), and a space for each character that is not
    printable (a newline would end the rule; no Kubernetes name has one)."""
    if text.isprintable() and _SAVE_ESCAPED.isdisjoint(text):
        return text
    return "".join(("\\" + c) if c in _SAVE_ESCAPED else c if c.isprintable() else " " for c in text)


def comment_arg(text: str) -> str:
    """A `--comment` argument that kube-proxy writes unformatted (a service port name): bare when it is one
    plain token, else quoted as `in_quotes` does."""
    if text and text.isprintable() and " " not in text and _SAVE_ESCAPED.isdisjoint(text):
        return text
    return f'"{in_quotes(text)}"'


@lru_cache(maxsize=1 << 16)
def port_proto_hash(service_port_name: str, protocol: str, endpoint: str = "") -> str:
    """kube-proxy's 16-character chain hash of a service port (and, for KUBE-SEP, an endpoint `IP:port`).

    16 base32 characters carry 80 bits: encoding the digest's first 10 bytes gives exactly the first 16
    characters of encoding all of it."""
    digest = hashlib.sha256(f"{service_port_name}{protocol}{endpoint}".encode()).digest()
    return base64.b32encode(digest[:10]).decode()


def service_port_name(service: Service, port: ServicePort) -> str:
    """`ns/name` or `ns/name:port` — proxy.ServicePortName.String()."""
    return f"{service.key}:{port.name}" if port.name else service.key


def no_endpoints_text(port_name: str, service: Service | None) -> str:
    """Why a service port has nothing to send to: no ready endpoint, naming the selector that finds none."""
    selector = ",".join(f"{k}={v}" for k, v in service.selector) if service else ""
    return say("kubeproxy.no_endpoints", port_name=port_name, selector=selector or say("kubeproxy.phrase.no_selector"))


def no_local_endpoint_text(port_name: str) -> str:
    """Why a node drops a service port's traffic under a Local traffic policy."""
    return say("kubeproxy.no_local_endpoint", port_name=port_name)


def probability(n: int) -> str:
    """kube-proxy's `computeProbability`: `%0.10f` of 1/n."""
    return f"{1.0 / n:0.10f}"


@dataclass(frozen=True)
class ServicePortInfo:
    """One proxied service port as kube-proxy on `node` sees it: chain names and endpoint categories."""

    service: Service
    port: ServicePort
    node: str
    ready: tuple[Endpoint, ...]
    """Ready endpoints in kube-proxy's order (the string `IP:port`)."""
    terminating: tuple[Endpoint, ...] = ()
    """Endpoints that still serve while terminating (EndpointSlice `serving: true, terminating: true`), same order."""

    @cached_property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The cluster-wide endpoints kube-proxy uses: the ready ones or, when there are none, the serving-
        terminating ones (proxy.CategorizeEndpoints' fallback, ProxyTerminatingEndpoints, GA in v1.28)."""
        return self.ready or self.terminating

    @cached_property
    def name(self) -> str:
        return service_port_name(self.service, self.port)

    @property
    def protocol(self) -> str:
        return str(self.port.protocol).lower()

    @cached_property
    def hash(self) -> str:
        return port_proto_hash(self.name, self.protocol)

    @property
    def svc_chain(self) -> str:
        return f"KUBE-SVC-{self.hash}"

    @property
    def svl_chain(self) -> str:
        return f"KUBE-SVL-{self.hash}"

    @property
    def ext_chain(self) -> str:
        return f"KUBE-EXT-{self.hash}"

    @property
    def fw_chain(self) -> str:
        return f"KUBE-FW-{self.hash}"

    def sep_chain(self, endpoint: Endpoint) -> str:
        return f"KUBE-SEP-{port_proto_hash(self.name, self.protocol, endpoint_address(endpoint))}"

    @cached_property
    def local_endpoints(self) -> tuple[Endpoint, ...]:
        """This node's ready endpoints or, when it has none, its serving-terminating ones (the same fallback)."""
        return (tuple(ep for ep in self.ready if ep.node == self.node)
                or tuple(ep for ep in self.terminating if ep.node == self.node))

    @property
    def has_endpoints(self) -> bool:
        return bool(self.endpoints)

    @property
    def internal_local(self) -> bool:
        return self.service.internal_traffic_policy == TrafficPolicy.LOCAL

    @property
    def external_local(self) -> bool:
        return self.externally_accessible and self.service.external_traffic_policy == TrafficPolicy.LOCAL

    @property
    def externally_accessible(self) -> bool:
        """NodePort, LoadBalancer IPs or externalIPs (proxy.ServicePort.ExternallyAccessible)."""
        return bool(self.node_port or self.service.external_ips or self.load_balancer_ips)

    @property
    def node_port(self) -> int | None:
        if self.service.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER):
            return self.port.node_port
        return None

    @property
    def load_balancer_ips(self) -> tuple[IPv4Address, ...]:
        return self.service.load_balancer_ips if self.service.type == ServiceType.LOAD_BALANCER else ()

    @property
    def uses_cluster_endpoints(self) -> bool:
        """proxy.BaseServicePortInfo.UsesClusterEndpoints: internal policy Cluster, or externally accessible at
        all (even under externalTrafficPolicy Local, KUBE-EXT's short-circuit rules jump to KUBE-SVC)."""
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_local

    @property
    def has_internal_endpoints(self) -> bool:
        return self.has_endpoints and (not self.internal_local or bool(self.local_endpoints))

    @property
    def has_external_endpoints(self) -> bool:
        return self.has_endpoints and (not self.external_local or bool(self.local_endpoints))

    def source_ranges_hold(self, address: IPv4Address) -> bool:
        """Whether loadBalancerSourceRanges admit `address` — for the node's own IP, kube-proxy's `allowFromNode`:
        a node reaches a VIP routed locally with the VIP itself as source, so that source is admitted too."""
        return any(address in net for net in self.service.load_balancer_source_ranges)

    @property
    def uses_fw_chain(self) -> bool:
        return self.has_endpoints and bool(self.load_balancer_ips) and bool(
            self.service.load_balancer_source_ranges)

    @cached_property
    def reachable_endpoints(self) -> tuple[Endpoint, ...]:
        """Endpoints that get a KUBE-SEP chain (proxy.CategorizeEndpoints' allReachableEndpoints): the local ones
        alone when no policy uses the cluster's; else the cluster's, plus the local ones a Local policy uses
        when they are not among them — a node whose only local endpoints are serving-terminating ones while
        others are ready elsewhere jumps from KUBE-SVL to chains of both kinds, and every one must be declared
        (kubernetes pkg/proxy/topology.go, the merge after "clusterEndpoints may contain remote endpoints")."""
        if not self.uses_cluster_endpoints:
            return self.local_endpoints
        if not (self.uses_local_endpoints and self.local_endpoints):
            return self.endpoints
        return tuple({endpoint_address(ep): ep for ep in (*self.endpoints, *self.local_endpoints)}.values())


class DropCause(StrEnum):
    """Why kube-proxy wrote a rule that drops or rejects."""

    NO_ENDPOINTS = "no-endpoints"              # the service port has no endpoint at all: REJECT
    NO_LOCAL_ENDPOINTS = "no-local-endpoints"  # a Local traffic policy and no endpoint on this node: DROP
    SOURCE_RANGES = "source-ranges"            # loadBalancerSourceRanges leave the source out
    VIP_PORT_FILTER = "vip-port-filter"        # IPVS: a port of a kube-ipvs0 address no virtual server has
    CLUSTER_IP_PORT = "cluster-ip-port"        # nftables: a port of a cluster IP that no service port serves: reject
    UNALLOCATED_CLUSTER_IP = "unallocated"     # nftables: an address of the service CIDR no service has: drop


@dataclass(frozen=True)
class RuleNote:
    """What kube-proxy wrote one rule for: why it drops, and the service port it is about (if one)."""

    cause: DropCause
    service_port: ServicePortInfo | None = None


@dataclass(frozen=True)
class RenderedRules:
    """Rules text (iptables-restore, or nftables' `nft -f`) and the notes on its rules, keyed by rule line
    (`-A CHAIN …`; an nftables rule's text without its comment, or a map element's text)."""

    text: str
    notes: Mapping[str, RuleNote] = field(default_factory=dict)


def endpoint_address(endpoint: Endpoint) -> str:
    """`IP:port` as kube-proxy writes it (memoised: formatting addresses dominates big rule sets)."""
    return _address(endpoint.ip, endpoint.port)


@lru_cache(maxsize=1 << 16)
def _address(ip: IPv4Address, port: int) -> str:
    return f"{ip}:{port}"


def service_ports(cluster: Cluster, node_name: str) -> list[ServicePortInfo]:
    """Every service port kube-proxy proxies, in cluster order (headless and ExternalName services excluded)."""
    return [ServicePortInfo(service, port, node_name, ready, terminating)
            for service, port, ready, terminating in _proxied(cluster)]


def _proxied(cluster: Cluster) -> list[tuple[Service, ServicePort, tuple[Endpoint, ...], tuple[Endpoint, ...]]]:
    """The node-independent part: each proxied service port with its ready and its serving-terminating
    endpoints, sorted as kube-proxy sorts them (endpointslicecache.go `byEndpoint`: by the string `IP:port`, so
    10.244.0.10:80 comes before 10.244.0.9:80)."""
    def build() -> list[tuple[Service, ServicePort, tuple[Endpoint, ...], tuple[Endpoint, ...]]]:
        out = []
        for service in cluster.services:
            if service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME:
                continue
            for port in service.ports:
                found = sorted(cluster.endpoints_for(service, port), key=endpoint_address)
                out.append((service, port, tuple(ep for ep in found if ep.ready),
                            tuple(ep for ep in found if not ep.ready and ep.serving and ep.terminating)))
        return out

    return cluster_cached(cluster, "kube-proxy-service-ports", build)
