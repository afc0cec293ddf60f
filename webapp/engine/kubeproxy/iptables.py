"""kube-proxy's iptables mode: the `iptables-restore` input it writes for one node (nat and filter tables).

Rule shapes, comments and ordering follow kubernetes/kubernetes pkg/proxy/iptables/proxier.go (v1.31 layout:
`syncProxyRules`, `writeServiceToEndpointRules`, `iptablesJumpChains`) and the goldens in proxier_test.go.
The text is kube-proxy's *input* form (`-m tcp -p tcp -d 10.96.0.1 --dport 443`); `iptables-save` would
re-render it (`/32` appended, `-p` first, `--set-xmark`), as the `iptables-save` output of a kind node quoted in
kubernetes/kubernetes PR #114470 shows (https://github.com/kubernetes/kubernetes/pull/114470).

Service names reach rule comments quoted as iptables-save quotes them (`chains.in_quotes`), so no name can end a
rule or split a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from webapp.engine.kubeproxy.chains import (
    FORWARD_RULES, MARK_MASQ_RULE, POSTROUTING_RULES, DropCause, RenderedRules, RuleNote, ServicePortInfo,
    comment_arg, endpoint_address, in_quotes, probability, service_ports,
)
from webapp.engine.datapath import node_datapath
from webapp.engine.memo import cluster_cached
from webapp.model import Cluster, Endpoint, KubeProxyMode, Service, ServicePort, ServiceType, SessionAffinity

LARGE_CLUSTER_ENDPOINTS = 1000
"""kube-proxy's `largeClusterEndpointsThreshold`: above it, per-endpoint comments are left out."""

LOOPBACK = IPv4Network("127.0.0.0/8")
NFACCT_INVALID = "ct_state_invalid_dropped_pkts"
"""kube-proxy's nfacct counter of the INVALID packets KUBE-FORWARD drops (metrics.IPTablesCTStateInvalidDropped…)."""
NFACCT_LOCALHOST = "localhost_nps_accepted_pkts"
"""kube-proxy's nfacct counter of nodePort connections to 127.0.0.0/8 (metrics.LocalhostNodePortAccepted…)."""
NODEPORTS_LAST = ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last '
                  'rule in this chain"')


@dataclass(frozen=True)
class NodePortScope:
    """Where nodePorts answer on one node (KubeProxyConfiguration `nodePortAddresses`, `iptables.localhostNodePorts`,
    proxyutil.NodePortAddresses): every local address, or the node's addresses inside the given CIDRs."""

    match_all: bool
    addresses: tuple[IPv4Address, ...]
    """The node's addresses nodePorts answer on, when not every one (sorted; kube-proxy's order is a map's)."""
    localhost: bool
    """127.0.0.0/8 takes nodePorts: localhostNodePorts on and the CIDRs hold a loopback address (else kube-proxy
    turns localhostNodePorts off)."""

    def rules(self) -> list[str]:
        """The last rules of nat KUBE-SERVICES, sending what is addressed to the node to KUBE-NODEPORTS."""
        if self.match_all:
            extra = "" if self.localhost else " ! -d 127.0.0.0/8"
            return [f"{NODEPORTS_LAST} -m addrtype --dst-type LOCAL{extra} -j KUBE-NODEPORTS"]
        return [f"{NODEPORTS_LAST} -d {address} -j KUBE-NODEPORTS" for address in self.addresses
                if self.localhost or not address.is_loopback]


def node_port_cidrs(cluster: Cluster, node_name: str, mode: KubeProxyMode | None = None) -> tuple[IPv4Network, ...]:
    """`nodePortAddresses` as kube-proxy in `mode` (default: the cluster's) reads it on one node; () matches all.
    `primary` is the node's InternalIP/32 (cmd/kube-proxy server.go), and so is an unset value in nftables mode
    (its default)."""
    settings, node = cluster.settings, cluster.node_by_name[node_name]
    if settings.node_port_addresses_primary or (
            not settings.node_port_addresses and (mode or settings.kube_proxy_mode) == KubeProxyMode.NFTABLES):
        return (IPv4Network(f"{node.internal_ip}/32"),)
    return settings.node_port_addresses


def node_addresses_in(cluster: Cluster, node_name: str, cidrs: tuple[IPv4Network, ...]
                      ) -> tuple[IPv4Address, ...] | None:
    """The node's addresses inside `cidrs` (sorted, loopback ones included), or None when they match all
    (proxyutil.NodePortAddresses: no CIDR, or 0.0.0.0/0; `GetNodeIPs`: the interface addresses inside them)."""
    if not cidrs or any(c.prefixlen == 0 for c in cidrs):
        return None
    local = node_datapath(cluster, node_name).local_addresses | {cluster.node_by_name[node_name].internal_ip}
    return tuple(sorted(a for a in local if any(a in c for c in cidrs)))


def node_port_scope(cluster: Cluster, node_name: str) -> NodePortScope:
    """`nodePortAddresses` of the cluster on one node (`node_port_cidrs`), with `iptables.localhostNodePorts`."""
    cidrs = node_port_cidrs(cluster, node_name)
    addresses = node_addresses_in(cluster, node_name, cidrs)
    holds_loopback = addresses is None or any(
        c.network_address.is_loopback or LOOPBACK.network_address in c for c in cidrs)
    localhost = cluster.settings.localhost_node_ports and holds_loopback
    return NodePortScope(addresses is None, addresses or (), localhost)


@dataclass(frozen=True)
class JumpRule:
    """A rule kube-proxy inserts into a built-in chain with `iptables -I` (not part of the restore input)."""

    table: str
    src_chain: str
    dst_chain: str
    comment: str
    extra: str = ""

    @property
    def rule(self) -> str:
        extra = f"{self.extra} " if self.extra else ""
        return f'-A {self.src_chain} {extra}-m comment --comment "{self.comment}" -j {self.dst_chain}'


_NEW = "-m conntrack --ctstate NEW"

# proxier.go `iptablesJumpChains`, in list order. Each is prepended (`EnsureRule(Prepend, …)`), so on a node the
# later entries end up first; `base_chains_restore` reproduces that order.
JUMP_RULES = (
    JumpRule("filter", "INPUT", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", _NEW),
    JumpRule("filter", "FORWARD", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", _NEW),
    JumpRule("filter", "INPUT", "KUBE-NODEPORTS", "kubernetes health check service ports"),
    JumpRule("filter", "FORWARD", "KUBE-SERVICES", "kubernetes service portals", _NEW),
    JumpRule("filter", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", _NEW),
    JumpRule("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
    JumpRule("filter", "INPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "OUTPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", _NEW),
    JumpRule("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules"),
)

BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}


def base_chains_restore(jumps: tuple[JumpRule, ...] = JUMP_RULES) -> str:
    """The built-in chains with the jump rules as they end up on a node (prepended → reverse order)."""
    out = []
    for table, chains in BUILTIN_CHAINS.items():
        out.append(f"*{table}")
        out += [f":{chain} ACCEPT [0:0]" for chain in chains]
        out += [j.rule for j in reversed(jumps) if j.table == table]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


TOP_CHAINS = {
    "filter": ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"),
    "nat": ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"),
}
"""The top-level chains `syncProxyRules` declares first; every service port adds rules to some of them."""


class _Writer:
    """The four buffers of `syncProxyRules`: filter chains/rules, nat chains/rules."""

    def __init__(self, top: bool = True) -> None:
        self.filter_chains = [f":{c} - [0:0]" for c in TOP_CHAINS["filter"]] if top else []
        self.filter_rules: list[str] = []
        self.nat_chains = [f":{c} - [0:0]" for c in TOP_CHAINS["nat"]] if top else []
        self.nat_rules: list[str] = []
        self.notes: dict[str, RuleNote] = {}

    def filter_drop(self, rule: str, note: RuleNote) -> None:
        """A filter rule that drops or rejects, with why."""
        self.filter_rules.append(rule)
        self.notes[rule] = note

    def text(self) -> str:
        return "\n".join(["*filter", *self.filter_chains, *self.filter_rules, "COMMIT",
                          "*nat", *self.nat_chains, *self.nat_rules, "COMMIT"]) + "\n"


def render_iptables_restore(cluster: Cluster, node_name: str) -> str:
    """What kube-proxy (iptables mode) on `node_name` feeds to `iptables-restore --noflush`."""
    return render_rules(cluster, node_name).text


def render_rules(cluster: Cluster, node_name: str) -> RenderedRules:
    """`render_iptables_restore`'s text, with a note on each rule that rejects or drops a service's traffic."""
    if node_name not in cluster.node_by_name:
        raise KeyError(f"no node named {node_name!r}")
    infos = service_ports(cluster, node_name)
    large = sum(len(i.endpoints) for i in infos) > LARGE_CLUSTER_ENDPOINTS
    w, how, tail = _skeleton(cluster, node_name, large)
    for info in infos:
        _write_service_port(w, info, how)
    w.nat_rules += tail
    return RenderedRules(w.text(), w.notes)


def _skeleton(cluster: Cluster, node_name: str, large: bool) -> tuple[_Writer, _How, list[str]]:
    """Everything but the service ports' rules: the top chains, KUBE-POSTROUTING, KUBE-MARK-MASQ, KUBE-FIREWALL,
    KUBE-FORWARD; what shapes each service port's rules; and the nat KUBE-SERVICES rules that come last."""
    w = _Writer()
    w.nat_rules += [*POSTROUTING_RULES, MARK_MASQ_RULE]
    scope = node_port_scope(cluster, node_name)
    if scope.localhost:  # kube-proxy mitigates route_localnet's hole (issue 90259) only where it opens it
        w.filter_chains.append(":KUBE-FIREWALL - [0:0]")
        w.filter_rules.append(
            '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 '
            "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
    node = cluster.node_by_name[node_name]
    how = _How(str(cluster.settings.pod_cidr), large, node.internal_ip, cluster.settings.masquerade_all,
               node.nfacct and scope.localhost)
    w.filter_rules += forward_rules(node.nfacct)
    return w, how, scope.rules()


class ServicePortRules:
    """kube-proxy's rules of one node, one service port at a time, for a ruleset that holds only what packets
    ask for (the walk on a big cluster): `skeleton()` is every rule but the service ports', `lookup()` names the
    service ports a destination can meet (its address, port and protocol: a cluster IP, external IP or LB IP; a
    nodePort or healthCheckNodePort on any address), and `block()` renders one as `render_rules` does. The
    skeleton and every block together are `render_rules`' rules, chain by chain in the same order once each
    top chain's rules are ordered by service port (tests/test_kubeproxy_iptables.py checks it)."""

    def __init__(self, cluster: Cluster, node_name: str) -> None:
        if node_name not in cluster.node_by_name:
            raise KeyError(f"no node named {node_name!r}")
        self.cluster, self.node = cluster, node_name
        self.index = service_port_index(cluster)
        writer, self.how, self.tail = _skeleton(cluster, node_name, self.index.large)
        self._skeleton = writer

    def skeleton(self) -> RenderedRules:
        w = self._skeleton
        text = "\n".join(["*filter", *w.filter_chains, *w.filter_rules, "COMMIT",
                          "*nat", *w.nat_chains, *w.nat_rules, *self.tail, "COMMIT"]) + "\n"
        return RenderedRules(text, dict(w.notes))

    def lookup(self, address: IPv4Address, port: int, proto: str) -> list[int]:
        """The ordinals of the service ports a packet to `address:port/proto` can meet (in order, no repeats)."""
        return self.index.lookup(address, port, proto)

    def block(self, ordinal: int) -> RenderedRules:
        """One service port's rules (its chains declared; the top chains' rules, which the skeleton declares)."""
        service, port = self.index.ports[ordinal]
        found = sorted(self.cluster.endpoints_for(service, port), key=endpoint_address)
        info = ServicePortInfo(service, port, self.node, tuple(ep for ep in found if ep.ready),
                               tuple(ep for ep in found if not ep.ready and ep.serving and ep.terminating))
        w = _Writer(top=False)
        _write_service_port(w, info, self.how)
        return RenderedRules(w.text(), w.notes)


def _used_endpoints(endpoints: tuple[Endpoint, ...], port: ServicePort) -> int:
    """How many endpoints kube-proxy uses for one service port: the ready ones, else the serving-terminating."""
    mine = [ep for ep in endpoints if ep.port_name == port.name and ep.protocol == port.protocol]
    return sum(ep.ready for ep in mine) or sum(ep.serving and ep.terminating for ep in mine)


class ServicePortIndex:
    """Every proxied service port of a cluster by ordinal (`service_ports` order), found by destination: by a scan
    of the service ports for the first few destinations asked for (a first trace asks for two or three), by
    dictionaries built on the ninth (one pass: the price of about eight scans)."""

    SCANS_BEFORE_INDEX = 8

    def __init__(self, cluster: Cluster) -> None:
        self.ports: list[tuple[Service, ServicePort]] = []
        self._places: list[tuple[tuple[IPv4Address, ...], int, str, int | None, int | None]] = []
        """Per ordinal: the addresses, port, protocol, nodePort and healthCheckNodePort packets can use."""
        by_service = cluster.endpoints_by_service
        total = 0
        external_types = (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
        for service in cluster.services:
            if service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME:
                continue
            addresses = (service.cluster_ip, *service.external_ips,
                         *(service.load_balancer_ips if service.type == ServiceType.LOAD_BALANCER else ()))
            for port in service.ports:
                self.ports.append((service, port))
                if total <= LARGE_CLUSTER_ENDPOINTS:
                    total += _used_endpoints(by_service.get(service.key, ()), port)
                node_port = port.node_port if service.type in external_types else None
                self._places.append((addresses, port.port, port.protocol.lower(), node_port or None,
                                     service.health_check_node_port or None))
        self.large = total > LARGE_CLUSTER_ENDPOINTS
        """More endpoints in use than kube-proxy's large-cluster threshold (summed over the service ports)."""
        self._scans = 0
        self._by_destination: dict[tuple[IPv4Address, int, str], list[int]] | None = None
        self._by_node_port: dict[tuple[int, str], list[int]] = {}

    def lookup(self, address: IPv4Address, port: int, proto: str) -> list[int]:
        """Ordinals of the service ports a packet to `address:port/proto` can meet: one of its addresses and its
        port, or its nodePort (any address), or its healthCheckNodePort (TCP). In order, no repeats."""
        if self._by_destination is None and self._scans < self.SCANS_BEFORE_INDEX:
            self._scans += 1
            return [i for i, (addresses, number, protocol, node_port, health) in enumerate(self._places)
                    if (number == port and protocol == proto and address in addresses)
                    or (node_port == port and protocol == proto) or (health == port and proto == "tcp")]
        if self._by_destination is None:
            self._build()
        assert self._by_destination is not None
        found = self._by_destination.get((address, port, proto), []) + self._by_node_port.get((port, proto), [])
        return sorted(set(found))

    def _build(self) -> None:
        by_destination: dict[tuple[IPv4Address, int, str], list[int]] = {}
        for i, (addresses, number, protocol, node_port, health) in enumerate(self._places):
            for address in addresses:
                by_destination.setdefault((address, number, protocol), []).append(i)
            if node_port:
                self._by_node_port.setdefault((node_port, protocol), []).append(i)
            if health:
                self._by_node_port.setdefault((health, "tcp"), []).append(i)
        self._by_destination = by_destination

    def destinations(self) -> list[tuple[IPv4Address, int, str]]:
        """Every (address, port, protocol) some service port captures."""
        return [(address, number, protocol) for addresses, number, protocol, _, _ in self._places
                for address in addresses]

    def node_ports(self) -> list[tuple[int, str]]:
        """Every (nodePort, protocol) and (healthCheckNodePort, "tcp")."""
        return [(n, p) for _, _, p, n, _ in self._places if n] + [(h, "tcp") for *_, h in self._places if h]


def service_port_index(cluster: Cluster) -> ServicePortIndex:
    """The cluster's `ServicePortIndex` (cached)."""
    return cluster_cached(cluster, "kube-proxy-service-port-index", lambda: ServicePortIndex(cluster))


def forward_rules(nfacct: bool) -> tuple[str, ...]:
    """KUBE-FORWARD; with nfacct the INVALID drop also counts in `ct_state_invalid_dropped_pkts`."""
    if not nfacct:
        return FORWARD_RULES
    invalid = f"-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name {NFACCT_INVALID} -j DROP"
    return (invalid, *FORWARD_RULES[1:])


def nfacct_counters(cluster: Cluster, node_name: str) -> tuple[str, ...]:
    """The nfacct objects the node's rules name (kube-proxy creates them before it restores), in iptables mode."""
    if not cluster.node_by_name[node_name].nfacct:
        return ()
    return (NFACCT_INVALID, NFACCT_LOCALHOST) if node_port_scope(cluster, node_name).localhost else (NFACCT_INVALID,)


@dataclass(frozen=True)
class _How:
    """What shapes every service port's rules on this node."""

    cluster_cidr: str
    large: bool
    node_ip: IPv4Address
    masquerade_all: bool
    localhost_counter: bool
    """Count nodePort connections to 127.0.0.0/8 with nfacct (a rule before each nodePort's own)."""


def _write_service_port(w: _Writer, info: ServicePortInfo, how: _How) -> None:
    """One service port's rules, in `syncProxyRules` order."""
    cluster_cidr, large, node_ip = how.cluster_cidr, how.large, how.node_ip
    name, proto, svc = in_quotes(info.name), info.protocol, info.service
    match = f"-m {proto} -p {proto}"
    internal_chain = info.svl_chain if info.internal_local else info.svc_chain
    external_policy_chain = info.svl_chain if info.external_local else info.svc_chain
    if not info.has_endpoints:
        int_target, int_comment = "REJECT", f"{name} has no endpoints"
        drop = RuleNote(DropCause.NO_ENDPOINTS, info)
    else:
        int_target, int_comment = "DROP", f"{name} has no local endpoints"
        drop = RuleNote(DropCause.NO_LOCAL_ENDPOINTS, info)
    ext_target, ext_comment = int_target, int_comment
    lb_chain = info.fw_chain if info.uses_fw_chain else info.ext_chain
    port = info.port.port

    # Capture the clusterIP.
    cip = f"-d {svc.cluster_ip} --dport {port}"
    if info.has_internal_endpoints:
        w.nat_rules.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" {match} {cip} -j {internal_chain}')
    else:
        w.filter_drop(f'-A KUBE-SERVICES -m comment --comment "{int_comment}" {match} {cip} -j {int_target}', drop)
    # Capture externalIPs.
    for eip in svc.external_ips:
        dst = f"-d {eip} --dport {port}"
        if info.has_endpoints:
            w.nat_rules.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} external IP" {match} {dst} -j {info.ext_chain}')
        if not info.has_external_endpoints:
            w.filter_drop(
                f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{ext_comment}" {match} {dst} -j {ext_target}', drop)
    # Capture load-balancer ingress.
    for lbip in info.load_balancer_ips:
        dst = f"-d {lbip} --dport {port}"
        if info.has_endpoints:
            w.nat_rules.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} loadbalancer IP" {match} {dst} -j {lb_chain}')
        if info.uses_fw_chain:
            w.filter_rules.append(
                f'-A KUBE-PROXY-FIREWALL -m comment --comment "{name} traffic not accepted by {info.fw_chain}" '
                f"{match} {dst} -j DROP")
    if not info.has_external_endpoints:
        for lbip in info.load_balancer_ips:
            w.filter_drop(
                f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{ext_comment}" {match} -d {lbip} --dport {port} '
                f"-j {ext_target}", drop)
    # Capture nodeports.
    if info.node_port:
        if info.has_endpoints:
            head = f"-A KUBE-NODEPORTS -m comment --comment {comment_arg(info.name)} {match}"
            if how.localhost_counter:
                w.nat_rules.append(f"{head} -d 127.0.0.0/8 --dport {info.node_port} -m nfacct --nfacct-name "
                                   f"{NFACCT_LOCALHOST} -j {info.ext_chain}")
            w.nat_rules.append(f"{head} --dport {info.node_port} -j {info.ext_chain}")
        if not info.has_external_endpoints:
            w.filter_drop(
                f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{ext_comment}" -m addrtype --dst-type LOCAL '
                f"{match} --dport {info.node_port} -j {ext_target}", drop)
    # Capture healthCheckNodePorts.
    if svc.health_check_node_port and info.external_local:
        w.filter_rules.append(
            f'-A KUBE-NODEPORTS -m comment --comment "{name} health check node port" -m tcp -p tcp '
            f"--dport {svc.health_check_node_port} -j ACCEPT")

    # Internal traffic: masquerade what comes from outside the cluster CIDR (LocalDetector, ClusterCIDR mode), or
    # everything with masqueradeAll.
    if info.has_internal_endpoints:
        which = "" if how.masquerade_all else f" ! -s {cluster_cidr}"
        w.nat_rules.append(
            f'-A {internal_chain} -m comment --comment "{name} cluster IP" {match} {cip}{which} -j KUBE-MARK-MASQ')
    # External destinations.
    if info.has_endpoints and info.externally_accessible:
        ext = info.ext_chain
        w.nat_chains.append(f":{ext} - [0:0]")
        if not info.external_local:
            w.nat_rules.append(
                f'-A {ext} -m comment --comment "masquerade traffic for {name} external destinations" '
                "-j KUBE-MARK-MASQ")
        else:
            w.nat_rules += [
                f'-A {ext} -m comment --comment "pod traffic for {name} external destinations" -s {cluster_cidr} '
                f"-j {info.svc_chain}",
                f'-A {ext} -m comment --comment "masquerade LOCAL traffic for {name} external destinations" '
                "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
                f'-A {ext} -m comment --comment "route LOCAL traffic for {name} external destinations" '
                f"-m addrtype --src-type LOCAL -j {info.svc_chain}",
            ]
        if info.has_external_endpoints:
            w.nat_rules.append(f"-A {ext} -j {external_policy_chain}")
    # Firewall chain (loadBalancerSourceRanges).
    if info.uses_fw_chain:
        fw = info.fw_chain
        w.nat_chains.append(f":{fw} - [0:0]")
        head = f'-A {fw} -m comment --comment "{name} loadbalancer IP"'
        for cidr in svc.load_balancer_source_ranges:
            w.nat_rules.append(f"{head} -s {cidr} -j {info.ext_chain}")
        if info.source_ranges_hold(node_ip):
            w.nat_rules += [f"{head} -s {lbip} -j {info.ext_chain}" for lbip in info.load_balancer_ips]
        w.nat_rules.append(
            f'-A {fw} -m comment --comment "other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"')
    # KUBE-SVC (Cluster policy) and KUBE-SVL (Local policy).
    if info.endpoints and info.uses_cluster_endpoints:
        w.nat_chains.append(f":{info.svc_chain} - [0:0]")
        _write_service_to_endpoints(w, info, info.svc_chain, info.endpoints, large)
    if info.local_endpoints and info.uses_local_endpoints:
        w.nat_chains.append(f":{info.svl_chain} - [0:0]")
        _write_service_to_endpoints(w, info, info.svl_chain, info.local_endpoints, large)
    # KUBE-SEP per endpoint.
    for ep in info.reachable_endpoints:
        sep = info.sep_chain(ep)
        w.nat_chains.append(f":{sep} - [0:0]")
        head = f"-A {sep}" if large else f"-A {sep} -m comment --comment {comment_arg(info.name)}"
        w.nat_rules.append(f"{head} -s {ep.ip} -j KUBE-MARK-MASQ")
        recent = f" -m recent --name {sep} --set" if svc.session_affinity == SessionAffinity.CLIENT_IP else ""
        w.nat_rules.append(f"{head}{recent} {match} -j DNAT --to-destination {endpoint_address(ep)}")


def _write_service_to_endpoints(w: _Writer, info: ServicePortInfo, chain: str, endpoints: tuple[Endpoint, ...],
                                large: bool) -> None:
    """`writeServiceToEndpointRules`: affinity checks first, then the 1/(n−i) probability ladder."""
    def head(ep: Endpoint) -> str:
        if large:
            return f"-A {chain}"
        return f'-A {chain} -m comment --comment "{in_quotes(info.name)} -> {endpoint_address(ep)}"'

    if info.service.session_affinity == SessionAffinity.CLIENT_IP:
        for ep in endpoints:
            sep = info.sep_chain(ep)
            w.nat_rules.append(
                f"{head(ep)} -m recent --name {sep} --rcheck --seconds {info.service.session_affinity_timeout} "
                f"--reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        stat = f" -m statistic --mode random --probability {probability(n - i)}" if i < n - 1 else ""
        w.nat_rules.append(f"{head(ep)}{stat} -j {info.sep_chain(ep)}")
