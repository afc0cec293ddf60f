"""kube-proxy's IPVS mode on one node: the virtual servers (`ipvsadm -Ln`), the ipsets (`ipset list`) and the
constant set of iptables rules that match those ipsets.

Sources: kubernetes/kubernetes pkg/proxy/ipvs/README.md, proxier.go (`defaultScheduler = "rr"`,
`defaultDummyDevice = "kube-ipvs0"`), ipset.go (set names and comments)
(https://github.com/kubernetes/kubernetes/tree/master/pkg/proxy/ipvs). Every service VIP is bound to the
kube-ipvs0 dummy device, so the kernel treats it as local: the packet reaches INPUT, where IPVS DNATs it to a real
server.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from webapp.engine.datapath import node_datapath, service_vips
from webapp.engine.kubeproxy.chains import (
    FORWARD_RULES, MARK, MARK_MASQ_RULE, POSTROUTING_RULES, DropCause, RenderedRules, RuleNote, ServicePortInfo,
    service_ports,
)
from webapp.engine.kubeproxy.iptables import JumpRule, node_addresses_in, node_port_cidrs
from webapp.engine.memo import cluster_cached
from webapp.engine.netfilter import IPSet
from webapp.model import Cluster, Endpoint, SessionAffinity

DUMMY_DEVICE = "kube-ipvs0"
SCHEDULER = "rr"

# (name, type, comment) — ipset.go.
SET_INFO = (
    ("KUBE-LOOP-BACK", "hash:ip,port,ip", "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
    ("KUBE-CLUSTER-IP", "hash:ip,port", "Kubernetes service cluster ip + port for masquerade purpose"),
    ("KUBE-EXTERNAL-IP", "hash:ip,port", "Kubernetes service external ip + port for masquerade and filter purpose"),
    ("KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port",
     "Kubernetes service external ip + port with externalTrafficPolicy=local"),
    ("KUBE-LOAD-BALANCER", "hash:ip,port", "Kubernetes service lb portal"),
    ("KUBE-LOAD-BALANCER-FW", "hash:ip,port",
     "Kubernetes service load balancer ip + port for load balancer with sourceRange"),
    ("KUBE-LOAD-BALANCER-LOCAL", "hash:ip,port",
     "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
    ("KUBE-LOAD-BALANCER-SOURCE-IP", "hash:ip,port,ip",
     "Kubernetes service load balancer ip + port + source IP for packet filter purpose"),
    ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net",
     "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"),
    ("KUBE-NODE-PORT-TCP", "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
    ("KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port", "Kubernetes nodeport TCP port with externalTrafficPolicy=local"),
    ("KUBE-NODE-PORT-UDP", "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
    ("KUBE-NODE-PORT-LOCAL-UDP", "bitmap:port", "Kubernetes nodeport UDP port with externalTrafficPolicy=local"),
    ("KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port", "Kubernetes health check node port"),
    ("KUBE-IPVS-IPS", "hash:ip", "Addresses on the ipvs interface"),
)

# proxier.go `iptablesJumpChain`, in list order (each prepended: the later ones end up first on a node, as a
# real node's listing shows: INPUT → KUBE-IPVS-FILTER, KUBE-PROXY-FIREWALL, KUBE-NODE-PORT).
JUMP_RULES = (
    JumpRule("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules"),
    JumpRule("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
    JumpRule("filter", "INPUT", "KUBE-NODE-PORT", "kubernetes health check rules"),
    JumpRule("filter", "INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
    JumpRule("filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
    JumpRule("filter", "INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter"),
    JumpRule("filter", "OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter"),
)


@dataclass(frozen=True)
class RealServer:
    ip: IPv4Address
    port: int
    endpoint: Endpoint


@dataclass(frozen=True)
class VirtualServer:
    """One IPVS virtual service: `PROTO VIP:port rr [persistent N]` and its real servers (forward: Masq)."""

    proto: str
    ip: IPv4Address
    port: int
    info: ServicePortInfo
    real_servers: tuple[RealServer, ...]
    kind: str
    """cluster IP, external IP, load balancer IP or node port."""

    @property
    def persistent(self) -> int | None:
        svc = self.info.service
        return svc.session_affinity_timeout if svc.session_affinity == SessionAffinity.CLIENT_IP else None


def node_port_addresses(cluster: Cluster, node_name: str) -> tuple[IPv4Address, ...]:
    """The addresses that get a virtual server for every nodePort on this node: with a `nodePortAddresses` that
    matches all (unset, as IPVS mode leaves it, or 0.0.0.0/0), every address of every device but kube-ipvs0 —
    the NIC's, cni0's, flannel.1's — else the node's addresses inside the CIDRs; loopback addresses never
    (pkg/proxy/ipvs/proxier.go syncProxyRules: `GetAllLocalAddressesExcept(defaultDummyDevice)` /
    `nodePortAddresses.GetNodeIPs`, skipping `IsLoopback()` ones)."""
    addresses = node_addresses_in(cluster, node_name, node_port_cidrs(cluster, node_name))
    if addresses is None:
        addresses = tuple(sorted(node_datapath(cluster, node_name).local_addresses
                                 | {cluster.node_by_name[node_name].internal_ip}))
    return tuple(a for a in addresses if not a.is_loopback)


def virtual_servers(cluster: Cluster, node_name: str) -> list[VirtualServer]:
    """Every virtual server kube-proxy creates on this node (nodePorts on each address `node_port_addresses`
    gives)."""
    out: list[VirtualServer] = []
    node_ips = node_port_addresses(cluster, node_name)
    for info in service_ports(cluster, node_name):
        proto = str(info.port.protocol)

        def reals(endpoints: tuple[Endpoint, ...]) -> tuple[RealServer, ...]:
            return tuple(RealServer(ep.ip, ep.port, ep) for ep in endpoints)

        internal = info.local_endpoints if info.internal_local else info.endpoints
        external = info.local_endpoints if info.external_local else info.endpoints
        out.append(VirtualServer(proto, info.service.cluster_ip, info.port.port, info, reals(internal), "cluster IP"))
        for eip in info.service.external_ips:
            out.append(VirtualServer(proto, eip, info.port.port, info, reals(external), "external IP"))
        for lbip in info.load_balancer_ips:
            out.append(VirtualServer(proto, lbip, info.port.port, info, reals(external), "load balancer IP"))
        if info.node_port:
            out += [VirtualServer(proto, ip, info.node_port, info, reals(external), "node port") for ip in node_ips]
    return out


def find_virtual_server(cluster: Cluster, node_name: str, proto: str, ip: IPv4Address, port: int
                        ) -> VirtualServer | None:
    table = cluster_cached(cluster, f"ipvs-virtual-servers/{node_name}", lambda: {
        (vs.proto.lower(), vs.ip, vs.port): vs for vs in virtual_servers(cluster, node_name)})
    return table.get((proto.lower(), ip, port))


def node_ipsets(cluster: Cluster, node_name: str) -> list[IPSet]:
    entries: dict[str, set[str]] = {name: set() for name, _, _ in SET_INFO}
    node_ip = cluster.node_by_name[node_name].internal_ip
    for info in service_ports(cluster, node_name):
        proto = info.protocol
        vip = f"{info.service.cluster_ip},{proto}:{info.port.port}"
        entries["KUBE-CLUSTER-IP"].add(vip)
        for ep in info.local_endpoints:
            entries["KUBE-LOOP-BACK"].add(f"{ep.ip},{proto}:{ep.port},{ep.ip}")
        for eip in info.service.external_ips:
            entries["KUBE-EXTERNAL-IP-LOCAL" if info.external_local else "KUBE-EXTERNAL-IP"].add(
                f"{eip},{proto}:{info.port.port}")
        ranges = info.service.load_balancer_source_ranges
        for lbip in info.load_balancer_ips:
            vip = f"{lbip},{proto}:{info.port.port}"
            entries["KUBE-LOAD-BALANCER"].add(vip)
            if info.external_local:
                entries["KUBE-LOAD-BALANCER-LOCAL"].add(vip)
            if ranges:  # loadBalancerSourceRanges: only these sources may reach the LB IP on the node
                entries["KUBE-LOAD-BALANCER-FW"].add(vip)
                entries["KUBE-LOAD-BALANCER-SOURCE-CIDR"].update(f"{vip},{net}" for net in ranges)
                if info.source_ranges_hold(node_ip):
                    entries["KUBE-LOAD-BALANCER-SOURCE-IP"].add(f"{vip},{lbip}")
        if info.external_local and info.service.health_check_node_port:
            entries["KUBE-HEALTH-CHECK-NODE-PORT"].add(str(info.service.health_check_node_port))
        if info.node_port and proto in ("tcp", "udp"):
            entries[f"KUBE-NODE-PORT-{proto.upper()}"].add(str(info.node_port))
            if info.external_local:
                entries[f"KUBE-NODE-PORT-LOCAL-{proto.upper()}"].add(str(info.node_port))
    entries["KUBE-IPVS-IPS"] = {str(ip) for ip in service_vips(cluster)}
    return [IPSet(name, kind, frozenset(entries[name]), comment) for name, kind, comment in SET_INFO]


SOURCE_RANGES_DROP = "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP"
VIP_PORT_REJECT = "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT"
NOTES = {SOURCE_RANGES_DROP: RuleNote(DropCause.SOURCE_RANGES), VIP_PORT_REJECT: RuleNote(DropCause.VIP_PORT_FILTER)}


def render_iptables_restore(cluster: Cluster, node_name: str) -> str:
    """The iptables rules kube-proxy's IPVS mode writes: a constant set that matches the ipsets."""
    return render_rules(cluster, node_name).text


def render_rules(cluster: Cluster, node_name: str) -> RenderedRules:
    """`render_iptables_restore`'s text, with a note on the rules that drop (source ranges) or reject (VIP ports)."""
    cidr = cluster.settings.pod_cidr
    not_local = "" if cluster.settings.masquerade_all else f"! -s {cidr} "
    nat_chains = ("KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ")
    comment = {name: c for name, _, c in SET_INFO}

    def match(name: str, flags: str) -> str:
        return f'-m comment --comment "{comment[name]}" -m set --match-set {name} {flags}'

    nat = [
        f"-A KUBE-POSTROUTING {match('KUBE-LOOP-BACK', 'dst,dst,src')} -j MASQUERADE",
        *POSTROUTING_RULES,
        MARK_MASQ_RULE,
        f"-A KUBE-SERVICES {match('KUBE-LOAD-BALANCER', 'dst,dst')} -j KUBE-LOAD-BALANCER",
        # pkg/proxy/ipvs/proxier.go writeIptablesRules: masqueradeAll marks every connection to a cluster IP,
        # else only those from outside the cluster CIDR (the local detector).
        f"-A KUBE-SERVICES {not_local}{match('KUBE-CLUSTER-IP', 'dst,dst')} -j KUBE-MARK-MASQ",
        f"-A KUBE-SERVICES {match('KUBE-EXTERNAL-IP-LOCAL', 'dst,dst')} -j ACCEPT",
        f"-A KUBE-SERVICES {match('KUBE-EXTERNAL-IP', 'dst,dst')} -j KUBE-MARK-MASQ",
        f"-A KUBE-SERVICES {match('KUBE-EXTERNAL-IP', 'dst,dst')} -j ACCEPT",
        "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
        "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
        "-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT",
        f"-A KUBE-LOAD-BALANCER {match('KUBE-LOAD-BALANCER-LOCAL', 'dst,dst')} -j RETURN",
        "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ",
    ]
    for proto in ("tcp", "udp"):
        up = proto.upper()
        nat += [
            f"-A KUBE-NODE-PORT -p {proto} {match(f'KUBE-NODE-PORT-LOCAL-{up}', 'dst')} -j RETURN",
            f"-A KUBE-NODE-PORT -p {proto} {match(f'KUBE-NODE-PORT-{up}', 'dst')} -j KUBE-MARK-MASQ",
        ]
    filt = [
        f"-A KUBE-PROXY-FIREWALL {match('KUBE-LOAD-BALANCER-FW', 'dst,dst')} -j KUBE-SOURCE-RANGES-FIREWALL",
        f"-A KUBE-SOURCE-RANGES-FIREWALL {match('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'dst,dst,src')} -j RETURN",
        f"-A KUBE-SOURCE-RANGES-FIREWALL {match('KUBE-LOAD-BALANCER-SOURCE-IP', 'dst,dst,src')} -j RETURN",
        SOURCE_RANGES_DROP,
        *FORWARD_RULES,
        f"-A KUBE-NODE-PORT {match('KUBE-HEALTH-CHECK-NODE-PORT', 'dst')} -j ACCEPT",
        # Ports on the node are not reachable through a VIP on kube-ipvs0 (issue #72236): only the services' own
        # VIP:port pairs pass, a new connection to any other port of a VIP is refused.
        *(f"-A KUBE-IPVS-FILTER -m set --match-set {name} {flags} -j RETURN" for name, flags in (
            ("KUBE-LOAD-BALANCER", "dst,dst"), ("KUBE-CLUSTER-IP", "dst,dst"), ("KUBE-EXTERNAL-IP", "dst,dst"),
            ("KUBE-EXTERNAL-IP-LOCAL", "dst,dst"), ("KUBE-HEALTH-CHECK-NODE-PORT", "dst"))),
        VIP_PORT_REJECT,
    ]
    filter_chains = ("KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL",
                     "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER")
    return RenderedRules("\n".join(["*filter", *(f":{c} - [0:0]" for c in filter_chains), *filt, "COMMIT",
                                    "*nat", *(f":{c} - [0:0]" for c in nat_chains), *nat, "COMMIT"]) + "\n", NOTES)


def render_ipvsadm(cluster: Cluster, node_name: str) -> str:
    """`ipvsadm -Ln` for the node (connection counters 0)."""
    lines = ["IP Virtual Server version 1.2.1 (size=4096)",
             "Prot LocalAddress:Port Scheduler Flags",
             "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"]
    for vs in sorted(virtual_servers(cluster, node_name), key=lambda v: (v.proto, v.ip, v.port)):
        persistent = f" persistent {vs.persistent}" if vs.persistent else ""
        lines.append(f"{vs.proto}  {vs.ip}:{vs.port} {SCHEDULER}{persistent}")
        for rs in vs.real_servers:
            lines.append(f"  -> {f'{rs.ip}:{rs.port}':<28} Masq    1      0          0")
    return "\n".join(lines) + "\n"


def render_ipset(cluster: Cluster, node_name: str) -> str:
    """`ipset list` for the sets kube-proxy uses (IPv4)."""
    out = []
    for s in node_ipsets(cluster, node_name):
        header = ("range 0-65535 comment" if s.type.startswith("bitmap")
                  else "family inet hashsize 1024 maxelem 65536 comment")
        out += [f"Name: {s.name}", f"Type: {s.type}", f"Header: {header}",
                f"Comment: {s.comment}", f"Number of entries: {len(s.entries)}", "Members:"]
        out += sorted(s.entries)
        out.append("")
    return "\n".join(out)


def render_dummy_device(cluster: Cluster, node_name: str) -> str:
    """`ip addr show kube-ipvs0` on the node: the dummy device holding every VIP (state DOWN), as the node's
    datapath tables have it."""
    device = node_datapath(cluster, node_name).device_by_name.get(DUMMY_DEVICE)
    index, mac = (device.ifindex, device.mac) if device else (0, "00:00:00:00:00:00")
    lines = [f"{index}: {DUMMY_DEVICE}: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default",
             f"    link/ether {mac} brd ff:ff:ff:ff:ff:ff"]
    lines += [f"    inet {ip}/32 scope global {DUMMY_DEVICE}" for ip in sorted(service_vips(cluster))]
    return "\n".join(lines) + "\n"
