"""What listens in a node's own network namespace: the sockets the kernel delivers a node's packets to. A packet
for a node's address on any other port is refused by the kernel (TCP: a RST from tcp_v4_send_reset; UDP: ICMP
port unreachable from __udp4_lib_rcv; SCTP: an ABORT to the out-of-the-blue INIT, RFC 9260 8.4).

Listeners, first match wins (as the first process to bind a port keeps it):
- the declared container ports of the node's hostNetwork pods, named by their container;
- an endpoint of a Service at one of the node's addresses: the API server for `default/kubernetes`, the pod's
  container when the endpoint names a hostNetwork pod, else the Service's name;
- the agents every node runs (below), and kube-proxy's health-check server on each healthCheckNodePort.

sshd (22/TCP) is left out: neither Kubernetes nor kubeadm needs it, and node images without it are common
(Bottlerocket, Talos, Flatcar with SSH off). A node process the model should know of is declared as a hostNetwork
pod with its containerPorts, which is how a DaemonSet such as node-exporter shows in a cluster dump anyway.
Loopback-only listeners (kubelet's healthz 127.0.0.1:10248, kube-proxy's metrics 127.0.0.1:10249) are left out
too: no flow of the engine goes to a node's 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from webapp.engine.kubeproxy.iptables import node_addresses_in, node_port_cidrs
from webapp.engine.memo import cluster_cached
from webapp.model import Cluster, KubeProxyMode, Protocol, ServiceType, TrafficPolicy

KUBELET = "kubelet"
KUBE_PROXY = "kube-proxy"
KUBE_APISERVER = "kube-apiserver"
KUBELET_PORT = 10250
"""KubeletConfiguration `port` (default 10250) on `address` (default 0.0.0.0): the kubelet's HTTPS API
(pkg/kubelet/apis/config/v1beta1/defaults.go; ports.KubeletPort)."""
KUBE_PROXY_HEALTHZ_PORT = 10256
"""KubeProxyConfiguration `healthzBindAddress`, default 0.0.0.0:10256 (pkg/proxy/apis/config/v1alpha1/defaults.go;
ports.ProxyHealthzPort), served by healthcheck.ProxyHealthServer in every mode."""
HEALTH_CHECK_MODES = (KubeProxyMode.IPTABLES, KubeProxyMode.IPVS, KubeProxyMode.NFTABLES)
"""The modes whose proxier runs a ServiceHealthServer (NewServiceHealthServer in each proxier's NewProxier)."""


@dataclass(frozen=True)
class NodeListener:
    """A process bound to a port of a node's network namespace: on every local address (0.0.0.0) or on some."""

    app: str
    port: int
    protocol: Protocol
    addresses: tuple[IPv4Address, ...] | None = None
    """None: bound to 0.0.0.0 (every local address); otherwise only these."""

    def takes(self, proto: str, address: IPv4Address, port: int) -> bool:
        return (self.port == port and self.protocol == proto.upper()
                and (self.addresses is None or address in self.addresses))

    def __str__(self) -> str:
        where = "" if self.addresses is None else "@" + ",".join(str(a) for a in self.addresses)
        return f"{self.app} {self.port}/{self.protocol}{where}"


def node_listeners(cluster: Cluster, node: str) -> tuple[NodeListener, ...]:
    """Every listener of `node`'s own network namespace, in the order they take a port (see the module)."""
    return cluster_cached(cluster, f"node-listeners:{node}", lambda: _node_listeners(cluster, node))


def find_listener(cluster: Cluster, node: str, proto: str, address: IPv4Address, port: int) -> NodeListener | None:
    """The listener of `node` that a packet for `address`:`port` (`proto`) reaches, or None (the kernel refuses)."""
    return next((lis for lis in node_listeners(cluster, node) if lis.takes(proto, address, port)), None)


def _node_listeners(cluster: Cluster, node_name: str) -> tuple[NodeListener, ...]:
    node = cluster.node_by_name[node_name]
    out: list[NodeListener] = []
    for pod in cluster.pods_by_node.get(node_name, ()):
        if pod.host_network:
            out += [NodeListener(c.name, p.container_port, p.protocol) for c in pod.containers for p in c.ports]
    own = {node.internal_ip, *node.addresses}
    for ep in cluster.endpoints:
        service = cluster.service_by_key.get(ep.service)
        if ep.ip not in own or service is None:
            continue
        pod = cluster.pod_by_key.get(ep.pod or "")
        if service.key == "default/kubernetes":
            # kube-apiserver --secure-port 6443 on --bind-address, default 0.0.0.0 (its endpoint reconciler writes
            # the endpoint from --advertise-address).
            out.append(NodeListener(KUBE_APISERVER, ep.port, ep.protocol))
        elif pod is not None and pod.containers:
            out.append(NodeListener(pod.containers[0].name, ep.port, ep.protocol))
        else:  # an endpoint written by hand: something serves there; only that address is known
            out.append(NodeListener(service.name, ep.port, ep.protocol, (ep.ip,)))
    out.append(NodeListener(KUBELET, KUBELET_PORT, Protocol.TCP))
    out.append(NodeListener(KUBE_PROXY, KUBE_PROXY_HEALTHZ_PORT, Protocol.TCP))
    if cluster.settings.kube_proxy_mode in HEALTH_CHECK_MODES:
        addresses = health_check_addresses(cluster, node_name)
        out += [NodeListener(KUBE_PROXY, s.health_check_node_port, Protocol.TCP, addresses)
                for s in cluster.services if s.health_check_node_port and s.type == ServiceType.LOAD_BALANCER
                and s.external_traffic_policy == TrafficPolicy.LOCAL]
    return tuple(dict.fromkeys(out))


def health_check_addresses(cluster: Cluster, node_name: str) -> tuple[IPv4Address, ...] | None:
    """Where kube-proxy's ServiceHealthServer listens on `node_name`: 0.0.0.0 (None) when nodePortAddresses
    matches all, else the node's addresses it selects (pkg/proxy/healthcheck/service_health.go,
    newServiceHealthServer: `nodePortAddresses.MatchAll()` / `GetNodeIPs`)."""
    return node_addresses_in(cluster, node_name, node_port_cidrs(cluster, node_name))
