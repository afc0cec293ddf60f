"""kube-proxy's nftables mode: the `nft -f` transaction its proxier writes for one node (table `ip kube-proxy`).

Objects, names and rule text follow kubernetes/kubernetes pkg/proxy/nftables/proxier.go as of v1.33–v1.35
(`setupNFTables`, `syncProxyRules`, `writeServiceToEndpointRules`, `servicePortChainNameBase`,
`hashAndTruncate`) and the expectations of proxier_test.go (`baseRules`, TestOverallNFTablesRules). The text is
what that test compares: knftables' `Fake.Dump()` of the table after a full sync — the table, every chain, set
and map, then every chain's rules, then every set's and map's elements, objects sorted by name. Loaded with
`nft -f` into an empty namespace it creates exactly the state kube-proxy's own transaction leaves.

Endpoint categories, traffic policies, the serving-terminating fallback and source ranges come from
`ServicePortInfo` (chains.py), as for the iptables renderer. See docs/kube-proxy.md, "nftables mode".
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from ipaddress import IPv4Address

from webapp.engine.kubeproxy.chains import (
    MASQUERADE_MARK, DropCause, RenderedRules, RuleNote, ServicePortInfo, endpoint_address, service_ports,
)
from webapp.engine.kubeproxy.iptables import node_addresses_in, node_port_cidrs
from webapp.engine.nft import NftRuleset, list_table
from webapp.model import Cluster, Endpoint, KubeProxyMode, SessionAffinity

TABLE = "kube-proxy"
FAMILY = "ip"
MARK = f"{MASQUERADE_MARK:#x}"
"""As the unit tests' fake proxier writes it (kube-proxy itself formats the mark with `%#08x`, `0x004000`)."""

CHAIN_NAME_BASE_MAX = 256 - 16
"""`chainNameBaseLengthMax`: knftables.NameLengthMax minus the longest chain prefix."""

# nftablesBaseChains: name, type, hook, priority (DNATPriority-10 for the pre-DNAT filters, dstnat, srcnat, filter).
BASE_CHAINS = (
    ("filter-prerouting-pre-dnat", "filter", "prerouting", -110),
    ("filter-output-pre-dnat", "filter", "output", -110),
    ("filter-forward", "filter", "forward", 0),
    ("filter-input", "filter", "input", 0),
    ("filter-output", "filter", "output", 0),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
)

# nftablesJumpChains: (destination, source, extra match), in list order.
JUMP_CHAINS = (
    ("nodeport-endpoints-check", "filter-input", "ct state new"),
    ("service-endpoints-check", "filter-input", "ct state new"),
    ("service-endpoints-check", "filter-forward", "ct state new"),
    ("service-endpoints-check", "filter-output", "ct state new"),
    ("firewall-check", "filter-prerouting-pre-dnat", "ct state new"),
    ("firewall-check", "filter-output-pre-dnat", "ct state new"),
    ("services", "nat-output", ""),
    ("services", "nat-prerouting", ""),
    ("masquerading", "nat-postrouting", ""),
    ("cluster-ips-check", "filter-forward", "ct state new"),
    ("cluster-ips-check", "filter-output", "ct state new"),
)

NO_LOCALHOST = "ip daddr != 127.0.0.0/8"
"""`noLocalhost` of setupNFTables (IPv4)."""

_SERVICE_KEY = "ipv4_addr . inet_proto . inet_service : verdict"
_NODEPORT_KEY = "inet_proto . inet_service : verdict"

# setupNFTables' sets and maps: name → (type, comment).
SETS = {
    "cluster-ips": ("ipv4_addr", "Active ClusterIPs"),
    "nodeport-ips": ("ipv4_addr", "IPs that accept NodePort traffic"),
}
MAPS = {
    "no-endpoint-services": (_SERVICE_KEY, "vmap to drop or reject packets to services with no endpoints"),
    "no-endpoint-nodeports": (_NODEPORT_KEY, "vmap to drop or reject packets to service nodeports with no endpoints"),
    "firewall-ips": (_SERVICE_KEY, "destinations that are subject to LoadBalancerSourceRanges"),
    "service-ips": (_SERVICE_KEY, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    "service-nodeports": (_NODEPORT_KEY, "NodePort traffic"),
}


_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9/_.\-]")
_NOT_IN_STRING = re.compile(r'["\x00-\x1f\x7f]')


def in_name(text: str) -> str:
    """`text` as a part of an nft identifier: each character nft's scanner does not take in one (a Kubernetes
    name never has any) as `_`, so no name can split a token or end a command."""
    return _NOT_IN_NAME.sub("_", text)


def in_string(text: str) -> str:
    """`text` between the double quotes of an nft string (a comment): nft strings have no escapes, so a `"`
    becomes `'` and a control character (a newline would end the command) a space."""
    return _NOT_IN_STRING.sub(lambda m: "'" if m[0] == '"' else " ", text)


@lru_cache(maxsize=1 << 17)
def hash_and_truncate(name: str) -> str:
    """`hashAndTruncate`: the first 8 characters of base32(sha256(name)), a hyphen, the name; cut to 240
    characters ending in `...`. 8 base32 characters carry 40 bits: the digest's first 5 bytes. The hash is of
    the name as it is; the name written after it is `in_name`'s."""
    prefixed = base64.b32encode(hashlib.sha256(name.encode()).digest()[:5]).decode() + "-" + in_name(name)
    if len(prefixed) > CHAIN_NAME_BASE_MAX:
        prefixed = prefixed[:CHAIN_NAME_BASE_MAX - 3] + "..."
    return prefixed


def _name(info: ServicePortInfo) -> str:
    """namespace/name/protocol/portName (an unnamed port leaves the last part empty)."""
    svc = info.service
    return f"{svc.namespace}/{svc.name}/{info.protocol}/{info.port.name or ''}"


def chain_name_base(info: ServicePortInfo) -> str:
    """`servicePortChainNameBase`: HASH-namespace/name/protocol/portName."""
    return hash_and_truncate(_name(info))


def endpoint_chain_name_base(info: ServicePortInfo, endpoint: Endpoint) -> str:
    """`servicePortEndpointChainNameBase`: …/portName__IP/port (IPv6 colons as dots), hashed as a whole."""
    ip, _, port = endpoint_address(endpoint).rpartition(":")
    return hash_and_truncate(f"{_name(info)}__{ip.replace(':', '.')}/{port}")


class _Table:
    """The table being written: chains (name → spec), rules as two parallel lists (chain, text) so that a big
    table allocates strings rather than one list per chain, and sets and maps with their elements."""

    def __init__(self) -> None:
        self.chains: dict[str, str] = {}
        self.rule_chains: list[str] = []
        self.rule_texts: list[str] = []
        self.sets: dict[str, tuple[str, dict[str, None]]] = {}
        self.maps: dict[str, tuple[str, dict[str, None]]] = {}
        """Elements as ordered dict keys: adding one twice keeps one (nftElementStorage.ensureElem)."""
        self.notes: dict[str, RuleNote] = {}
        """Why a rule or map element drops or rejects, keyed by its text (a rule's without its comment)."""

    def chain(self, name: str, spec: str = "") -> None:
        """Create the chain unless it exists (`ensureChain`)."""
        if name not in self.chains:
            self.chains[name] = spec

    def rule(self, chain: str, *texts: str) -> None:
        """Append rules to a chain that exists."""
        for text in texts:
            self.rule_chains.append(chain)
            self.rule_texts.append(text)

    def text(self) -> str:
        """knftables' Fake.Dump() order: object adds (sorted by name), then rules, then elements."""
        head = f"{FAMILY} {TABLE}"
        lines = [f'add table {head} {{ comment "rules for kube-proxy" ; }}']
        sets, maps = sorted(self.sets), sorted(self.maps)
        lines += [f"add chain {head} {name}{self.chains[name]}" for name in sorted(self.chains)]
        lines += [f"add set {head} {name} {self.sets[name][0]}" for name in sets]
        lines += [f"add map {head} {name} {self.maps[name][0]}" for name in maps]
        chains, texts = self.rule_chains, self.rule_texts
        # A stable sort by chain name keeps each chain's rules in the order they were added.
        lines += [f"add rule {head} {chains[i]} {texts[i]}" for i in sorted(range(len(chains)), key=chains.__getitem__)]
        for objects, names in ((self.sets, sets), (self.maps, maps)):
            for name in names:
                prefix = f"add element {head} {name} {{ "
                lines += [f"{prefix}{element} }}" for element in objects[name][1]]
        return "\n".join(lines) + "\n"


def render_nft_transaction(cluster: Cluster, node_name: str) -> str:
    """What kube-proxy (nftables mode) on `node_name` has written into table `ip kube-proxy` after a full sync,
    as `add …` commands that `nft -f` loads."""
    return render_rules(cluster, node_name).text


def render_rules(cluster: Cluster, node_name: str) -> RenderedRules:
    """`render_nft_transaction` with a `RuleNote` on each rule and map element that drops or rejects."""
    if node_name not in cluster.node_by_name:
        raise KeyError(f"no node named {node_name!r}")
    table = _Table()
    _setup(table, cluster, node_name)
    pod_cidr = str(cluster.settings.pod_cidr)
    node_ip = cluster.node_by_name[node_name].internal_ip
    services, nodeports = table.maps["service-ips"][1], table.maps["service-nodeports"][1]
    for info in service_ports(cluster, node_name):
        _write_service_port(table, info, pod_cidr, info.source_ranges_hold(node_ip), services, nodeports,
                            cluster.settings.masquerade_all)
    return RenderedRules(table.text(), table.notes)


def render_nft_list(cluster: Cluster, node_name: str) -> str:
    """What `nft list table ip kube-proxy` shows on that node."""
    return list_table(NftRuleset.parse(render_nft_transaction(cluster, node_name)))


def _setup(table: _Table, cluster: Cluster, node_name: str) -> None:
    """`setupNFTables`: base chains, the jump chains and their fixed rules, the sets and maps."""
    for name, kind, hook, priority in BASE_CHAINS:
        table.chain(name, f" {{ type {kind} hook {hook} priority {priority} ; }}")
    for destination, source, extra in JUMP_CHAINS:
        table.chain(destination)
        table.rule(source, f"{extra} jump {destination}".strip())
    table.chain("reject-chain", ' { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }')
    for name in ("mark-for-masquerade", "masquerading"):
        table.chain(name)
    table.rule("mark-for-masquerade", f"mark set mark or {MARK}")
    table.rule("masquerading", f"mark and {MARK} == 0 return", f"mark set mark xor {MARK}", "masquerade fully-random")
    for name, (kind, comment) in SETS.items():
        table.sets[name] = (f'{{ type {kind} ; comment "{comment}" ; }}', {})
    for name, (kind, comment) in MAPS.items():
        table.maps[name] = (f'{{ type {kind} ; comment "{comment}" ; }}', {})
    invalid_port, unallocated = "ip daddr @cluster-ips reject", f"ip daddr {{ {cluster.settings.service_cidr} }} drop"
    table.rule("cluster-ips-check", f'{invalid_port} comment "Reject traffic to invalid ports of ClusterIPs"',
               f'{unallocated} comment "Drop traffic to unallocated ClusterIPs"')
    table.notes[invalid_port] = RuleNote(DropCause.CLUSTER_IP_PORT)
    table.notes[unallocated] = RuleNote(DropCause.UNALLOCATED_CLUSTER_IP)
    addresses = nodeport_ips(cluster, node_name)
    if addresses is None:
        # setupNFTables with nodePortAddresses.MatchAll(): the set is added and deleted in the same transaction
        # (so a full sync leaves none), nodeport-endpoints-check (jumped to from filter-input only, so the
        # destination is local already) skips loopback, and services matches every local address but loopback.
        del table.sets["nodeport-ips"]
        nodeport_check = f"{NO_LOCALHOST} meta l4proto . th dport vmap @no-endpoint-nodeports"
        nodeport_dispatch = f"fib daddr type local {NO_LOCALHOST} meta l4proto . th dport vmap @service-nodeports"
    else:
        # Otherwise the set holds the node's addresses inside the CIDRs (GetNodeIPs), loopback ones left out
        # ("localhost NodePorts are not supported"), and both rules match `ip daddr @nodeport-ips`.
        table.sets["nodeport-ips"][1].update(dict.fromkeys(str(a) for a in addresses))
        nodeport_check = "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"
        nodeport_dispatch = "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"
    table.rule("reject-chain", "reject")
    table.rule("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services")
    table.rule("nodeport-endpoints-check", nodeport_check)
    table.rule("firewall-check", "ip daddr . meta l4proto . th dport vmap @firewall-ips")
    table.rule("services", "ip daddr . meta l4proto . th dport vmap @service-ips", nodeport_dispatch)


def nodeport_ips(cluster: Cluster, node_name: str) -> tuple[IPv4Address, ...] | None:
    """The elements of `nodeport-ips` on one node, or None when nodePorts answer on every local address: the node's
    addresses `nodePortAddresses` selects (unset: `primary`, nftables mode's default), loopback ones left out by
    `setupNFTables`."""
    addresses = node_addresses_in(cluster, node_name, node_port_cidrs(cluster, node_name, KubeProxyMode.NFTABLES))
    return None if addresses is None else tuple(a for a in addresses if not a.is_loopback)


def _write_service_port(table: _Table, info: ServicePortInfo, pod_cidr: str, allow_from_node: bool,
                        services: dict[str, None], nodeports: dict[str, None], masquerade_all: bool = False) -> None:
    """One service port, in `syncProxyRules` order: elements, then its chains' rules."""
    base = chain_name_base(info)
    cluster_chain, local_chain = f"service-{base}", f"local-{base}"
    external_chain, firewall_chain = f"external-{base}", f"firewall-{base}"
    svc, proto, port = info.service, info.protocol, info.port.port
    uses_cluster_chain = bool(info.endpoints) and info.uses_cluster_endpoints
    uses_local_chain = bool(info.local_endpoints) and info.uses_local_endpoints
    reachable = info.reachable_endpoints  # allLocallyReachableEndpoints (the union when both policies are used)
    addresses = {id(ep): endpoint_address(ep) for ep in reachable}
    endpoint_chains = {id(ep): "endpoint-" + endpoint_chain_name_base(info, ep) for ep in reachable}
    for chain in endpoint_chains.values():
        table.chain(chain)
    if uses_cluster_chain:
        table.chain(cluster_chain)
    if uses_local_chain:
        table.chain(local_chain)
    internal_chain = local_chain if info.internal_local else cluster_chain
    uses_external_chain = info.has_endpoints and info.externally_accessible
    if uses_external_chain:
        table.chain(external_chain)
    if not info.has_endpoints:
        internal_verdict = external_verdict = "goto reject-chain"
    else:
        internal_verdict = external_verdict = "drop"
    refused = RuleNote(DropCause.NO_LOCAL_ENDPOINTS if info.has_endpoints else DropCause.NO_ENDPOINTS, info)
    comment = f'comment "{in_string(info.name)}"'

    def no_endpoints(map_name: str, key: str, verdict: str) -> None:
        element = f"{key} {comment} : {verdict}"
        table.maps[map_name][1][element] = None
        table.notes[element] = refused

    table.sets["cluster-ips"][1][str(svc.cluster_ip)] = None
    if info.has_internal_endpoints:
        services[f"{svc.cluster_ip} . {proto} . {port} : goto {internal_chain}"] = None
    else:
        no_endpoints("no-endpoint-services", f"{svc.cluster_ip} . {proto} . {port}", internal_verdict)
    for eip in svc.external_ips:
        if info.has_endpoints:
            services[f"{eip} . {proto} . {port} : goto {external_chain}"] = None
        if not info.has_external_endpoints:
            no_endpoints("no-endpoint-services", f"{eip} . {proto} . {port}", external_verdict)
    # Unlike iptables mode, the firewall chain does not depend on there being endpoints.
    uses_firewall = bool(info.load_balancer_ips) and bool(svc.load_balancer_source_ranges)
    if uses_firewall:
        table.chain(firewall_chain)
    for lbip in info.load_balancer_ips:
        if info.has_endpoints:
            services[f"{lbip} . {proto} . {port} : goto {external_chain}"] = None
        if uses_firewall:
            table.maps["firewall-ips"][1][f"{lbip} . {proto} . {port} : goto {firewall_chain}"] = None
    if not info.has_external_endpoints:
        for lbip in info.load_balancer_ips:
            no_endpoints("no-endpoint-services", f"{lbip} . {proto} . {port}", external_verdict)
    if info.node_port:
        if info.has_endpoints:
            nodeports[f"{proto} . {info.node_port} : goto {external_chain}"] = None
        if not info.has_external_endpoints:
            no_endpoints("no-endpoint-nodeports", f"{proto} . {info.node_port}", external_verdict)

    # Internal traffic: masquerade what comes from outside the pod network (LocalDetector, ClusterCIDR) — or,
    # with masqueradeAll, everything: syncProxyRules' "Set up internal traffic handling" writes the same rule
    # without the local detector's `ip saddr != CIDR` when proxier.masqueradeAll is set.
    if info.has_internal_endpoints:
        not_local = "" if masquerade_all else f" ip saddr != {pod_cidr}"
        table.rule(internal_chain, f"ip daddr {svc.cluster_ip}{not_local} jump mark-for-masquerade")
    if uses_external_chain:
        if not info.external_local:
            table.rule(external_chain, "jump mark-for-masquerade")
        else:
            table.rule(external_chain,
                       f'ip saddr {pod_cidr} goto {cluster_chain} comment "short-circuit pod traffic"',
                       'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
                       f'fib saddr type local goto {cluster_chain} comment "short-circuit local traffic"')
        if info.has_external_endpoints:
            table.rule(external_chain, f"goto {local_chain if info.external_local else cluster_chain}")
    if uses_firewall:
        sources = [str(cidr) for cidr in svc.load_balancer_source_ranges]
        if allow_from_node:
            sources += [str(lbip) for lbip in info.load_balancer_ips]
        drop = f"ip saddr != {{ {' , '.join(sources)} }} drop"
        table.rule(firewall_chain, drop)
        table.notes[drop] = RuleNote(DropCause.SOURCE_RANGES)
    affinity = svc.session_affinity == SessionAffinity.CLIENT_IP
    if affinity:
        spec = f"{{ type ipv4_addr ; flags dynamic,timeout ; timeout {svc.session_affinity_timeout}s ; }}"
        for ep in reachable:
            table.sets["affinity-" + endpoint_chains[id(ep)][len("endpoint-"):]] = (spec, {})
    if uses_cluster_chain:
        _write_service_to_endpoints(table, cluster_chain, info.endpoints, endpoint_chains, affinity)
    if uses_local_chain:
        _write_service_to_endpoints(table, local_chain, info.local_endpoints, endpoint_chains, affinity)
    for ep in reachable:
        chain, address = endpoint_chains[id(ep)], addresses[id(ep)]
        table.rule(chain, f"ip saddr {address.rpartition(':')[0]} jump mark-for-masquerade")
        if affinity:
            table.rule(chain, f"update @affinity-{chain[len('endpoint-'):]} {{ ip saddr }}")
        table.rule(chain, f"meta l4proto {proto} dnat to {address}")


def _write_service_to_endpoints(table: _Table, chain: str, endpoints: tuple[Endpoint, ...], chains: dict[int, str],
                                affinity: bool) -> None:
    """`writeServiceToEndpointRules`: affinity lookups first, then one `numgen random mod N vmap`."""
    if affinity:
        table.rule(chain, *(f"ip saddr @affinity-{chains[id(ep)][len('endpoint-'):]} goto {chains[id(ep)]}"
                            for ep in endpoints))
    branches = " , ".join(f"{i} : goto {chains[id(ep)]}" for i, ep in enumerate(endpoints))
    table.rule(chain, f"numgen random mod {len(endpoints)} vmap {{ {branches} }}")
