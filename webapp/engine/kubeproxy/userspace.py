"""kube-proxy's legacy userspace mode (removed in v1.26), as the seed article describes it: iptables sends a
service's traffic to a port kube-proxy listens on, and kube-proxy opens a new connection to a backend.

Chains and rule bodies follow the removed pkg/proxy/userspace/proxier.go (`iptablesCommonPortalArgs`):
`KUBE-PORTALS-CONTAINER` (from PREROUTING, REDIRECT to the proxy port), `KUBE-PORTALS-HOST` (from OUTPUT, DNAT
to the node IP and proxy port), `KUBE-NODEPORT-CONTAINER` / `KUBE-NODEPORT-HOST` and filter
`KUBE-NODEPORT-NON-LOCAL`; and the userspace section of kubernetes/website
content/en/docs/reference/networking/virtual-ips.md, removed by commit 448e807 for v1.26.

kube-proxy chose each proxy port at random; here it is derived from the service port's chain hash (in the
ephemeral range 32768–60999, unique per node) so that rules and traces are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.engine.kubeproxy.chains import ServicePortInfo, in_quotes, service_ports
from webapp.engine.memo import cluster_cached
from webapp.model import Cluster

PORT_BASE, PORT_SPAN = 32768, 60999 - 32768 + 1


@dataclass(frozen=True)
class Portal:
    """One service port as the userspace proxier serves it: its proxy port on this node."""

    info: ServicePortInfo
    proxy_port: int


def portals(cluster: Cluster, node_name: str) -> list[Portal]:
    """Every proxied service port with its proxy port on this node (cached per cluster and node)."""
    return cluster_cached(cluster, f"userspace-portals/{node_name}", lambda: _portals(cluster, node_name))


def _portals(cluster: Cluster, node_name: str) -> list[Portal]:
    used: set[int] = set()
    out = []
    for info in service_ports(cluster, node_name):
        port = PORT_BASE + int.from_bytes(info.hash.encode(), "big") % PORT_SPAN
        while port in used:
            port = PORT_BASE + (port - PORT_BASE + 1) % PORT_SPAN
        used.add(port)
        out.append(Portal(info, port))
    return out


def portal_for_proxy_port(cluster: Cluster, node_name: str, proto: str, port: int) -> Portal | None:
    """The portal whose proxy port this is (a dict lookup)."""
    table = cluster_cached(cluster, f"userspace-proxy-ports/{node_name}", lambda: {
        (p.info.protocol, p.proxy_port): p for p in portals(cluster, node_name)})
    return table.get((proto, port))


def render_iptables_restore(cluster: Cluster, node_name: str) -> str:
    """The nat and filter rules of the userspace proxier on one node, with the built-in chains' jumps."""
    node_ip = cluster.node_by_name[node_name].internal_ip
    container, host, np_container, np_host, np_filter = [], [], [], [], []
    for portal in portals(cluster, node_name):
        info, proxy = portal.info, portal.proxy_port
        proto = info.protocol
        # iptablesCommonPortalArgs: comment, -p, -m proto, --dport, then -d (the order kube-proxy wrote them in)
        common = f'-m comment --comment "{in_quotes(info.name)}" -p {proto} -m {proto} --dport'
        for ip in (info.service.cluster_ip, *info.service.external_ips, *info.load_balancer_ips):
            container.append(f"-A KUBE-PORTALS-CONTAINER {common} {info.port.port} -d {ip}/32 "
                             f"-j REDIRECT --to-ports {proxy}")
            host.append(f"-A KUBE-PORTALS-HOST {common} {info.port.port} -d {ip}/32 "
                        f"-j DNAT --to-destination {node_ip}:{proxy}")
        if info.node_port:
            np_container.append(f"-A KUBE-NODEPORT-CONTAINER {common} {info.node_port} -j REDIRECT --to-ports {proxy}")
            np_host.append(f"-A KUBE-NODEPORT-HOST {common} {info.node_port} "
                           f"-j DNAT --to-destination {node_ip}:{proxy}")
            np_filter.append(f"-A KUBE-NODEPORT-NON-LOCAL {common} {proxy} -m state --state NEW -j ACCEPT")
    nat = [
        "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
        ":KUBE-PORTALS-CONTAINER - [0:0]", ":KUBE-PORTALS-HOST - [0:0]",
        ":KUBE-NODEPORT-CONTAINER - [0:0]", ":KUBE-NODEPORT-HOST - [0:0]",
        '-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" '
        "-j KUBE-PORTALS-CONTAINER",
        '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must '
        'be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER',
        '-A OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" '
        "-j KUBE-PORTALS-HOST",
        '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must '
        'be the last rule in the chain" -j KUBE-NODEPORT-HOST',
        *container, *host, *np_container, *np_host, "COMMIT",
    ]
    filt = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":KUBE-NODEPORT-NON-LOCAL - [0:0]",
            '-A INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" '
            "-j KUBE-NODEPORT-NON-LOCAL", *np_filter, "COMMIT"]
    return "\n".join(filt + nat) + "\n"
