"""A node's netfilter ruleset, assembled from the rules every writer programs on it: kube-proxy (for the
cluster's mode, with its jump rules from the built-in chains), the CNI, and — on a network plugin that enforces
NetworkPolicy — the plugin's per-pod filter chains (webapp.engine.policy_rules: their jumps first in filter
FORWARD and INPUT, their accept-mark rule last in FORWARD, as Felix keeps them). The assembly also gives netfilter's
evaluator what it needs to know of the node (its local and device addresses) and of the writers (the notes
kube-proxy attached to its rules, and the `KubeProxyExplainer` that turns them into sentences).

The renderers (webapp.engine.kubeproxy, webapp.engine.cni_rules) sit below this module and the evaluator
(webapp.engine.netfilter) beside them: neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.engine.cni_rules import render_cni_rules
from webapp.engine.datapath import node_datapath, service_vips
from webapp.engine.kubeproxy import ipvs, nftables, userspace
from webapp.engine.kubeproxy import iptables as kp_iptables
from webapp.engine.kubeproxy.chains import (
    DropCause, RenderedRules, RuleNote, no_endpoints_text, no_local_endpoint_text,
)
from webapp.engine.memo import cluster_cached
from webapp.engine.netfilter import HostRules, Ruleset, Verdict, WrittenRule
from webapp.engine.nft import NftRuleset
from webapp.engine.policy_rules import render_policy_rules
from webapp.engine.trace import Packet
from webapp.model import Cluster, KubeProxyMode
from webapp.narration import say


def node_ruleset(cluster: Cluster, node_name: str) -> Ruleset:
    """The kube-proxy rules (for the cluster's kube-proxy mode) plus the CNI's rules of one node (cached). In
    nftables mode the iptables tables hold the CNI's rules only, and kube-proxy's table is attached."""
    return cluster_cached(cluster, f"netfilter-ruleset/{node_name}", lambda: _build_ruleset(cluster, node_name))


def node_path_ruleset(cluster: Cluster, node_name: str) -> Ruleset:
    """The ruleset the walk evaluates on a node (cached). In iptables mode it renders kube-proxy's rules for a
    service port only when a packet to one of its destinations reaches the node (`ServicePortRules`), so the
    first trace on a big cluster does not render thousands of services it never meets; a packet sees exactly
    the rules of `node_ruleset`. Other modes: `node_ruleset`."""
    if cluster.settings.kube_proxy_mode != KubeProxyMode.IPTABLES:
        return node_ruleset(cluster, node_name)
    return cluster_cached(cluster, f"netfilter-path-ruleset/{node_name}",
                          lambda: _LazyServiceRuleset.build(cluster, node_name))


class _LazyServiceRuleset(Ruleset):
    """A node's iptables ruleset whose service ports' rules arrive as packets ask for them (`admit`)."""

    def __init__(self, rules: kp_iptables.ServicePortRules) -> None:
        super().__init__()
        self.service_rules = rules
        self.asked: set[tuple] = set()
        self.rendered: set[int] = set()
        self.top: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        """(table, top chain) → the service ports' lines there: (ordinal, position in its block, line)."""
        self.own: dict[tuple[str, str], list[str]] = {}
        """(table, top chain) → the skeleton's own lines, which follow the service ports'."""

    @classmethod
    def build(cls, cluster: Cluster, node_name: str) -> Ruleset:
        """The node's ruleset as `_build_ruleset` assembles it, with kube-proxy's skeleton for its rules."""
        return _build_ruleset(cluster, node_name, cls(kp_iptables.ServicePortRules(cluster, node_name)))

    def kube_proxy_rules(self) -> RenderedRules:
        """kube-proxy's rules to begin with: the skeleton (its top chains' lines, so far all their own)."""
        return self.service_rules.skeleton()

    def kube_proxy_parsed(self) -> None:
        self.own = {(table, name): list(self.tables[table][name].lines)
                    for table, names in kp_iptables.TOP_CHAINS.items() for name in names}

    def admit(self, packet: Packet) -> None:
        key = (packet.dst.ip, packet.dst.port, packet.proto)
        if key in self.asked:
            return
        self.asked.add(key)
        fresh = sorted(set(self.service_rules.lookup(*key)) - self.rendered)
        if not fresh:
            return
        touched: set[tuple[str, str]] = set()
        for ordinal in fresh:
            self.rendered.add(ordinal)
            block = self.service_rules.block(ordinal)
            self.notes.update(block.notes)
            part = Ruleset.parse(block.text)
            for table, chains in part.tables.items():
                for name, chain in chains.items():
                    if (table, name) in self.own:
                        lines = self.top.setdefault((table, name), [])
                        lines += [(ordinal, i, line) for i, line in enumerate(chain.lines)]
                        touched.add((table, name))
                    else:
                        self.tables[table][name] = chain
        for table, name in touched:
            service_lines = [line for _, _, line in sorted(self.top[(table, name)])]
            self.tables[table][name].set_lines(service_lines + self.own[(table, name)])


def node_nft_table(cluster: Cluster, node_name: str) -> NftRuleset:
    """kube-proxy's nftables table `ip kube-proxy` of one node, whatever the cluster's mode, with the node's
    addresses, the notes on its drops and the explainer (cached)."""
    return cluster_cached(cluster, f"nft-table/{node_name}", lambda: _build_nft_table(cluster, node_name))


def _build_nft_table(cluster: Cluster, node_name: str) -> NftRuleset:
    rendered = nftables.render_rules(cluster, node_name)
    table = NftRuleset.parse(rendered.text)
    table.notes.update(rendered.notes)
    _know_the_host(table, cluster, node_name, set())
    return table


def _know_the_host(rules: HostRules, cluster: Cluster, node_name: str, more_local: set) -> None:
    """What the evaluation needs to know of the node (its addresses) and of kube-proxy (its explainer)."""
    node = cluster.node_by_name[node_name]
    datapath = node_datapath(cluster, node_name)
    rules.local_addresses = frozenset(set(datapath.local_addresses) | {node.internal_ip} | more_local)
    # The kernel asks for a universe-scope address (inet_select_addr): lo's 127.0.0.1 is host scope, so a packet
    # masqueraded on lo gets the first global address of the namespace instead — the NIC's (seen in `lab verify`).
    rules.interface_addresses = {device.name: device.addresses[0].ip for device in datapath.devices
                                 if device.addresses and not device.addresses[0].ip.is_loopback}
    rules.primary_address = node.internal_ip
    rules.explainer = KubeProxyExplainer(cluster)
    cluster.service_by_cluster_ip  # noqa: B018 — build the model's index DNAT hops consult, here and not mid-trace


def _build_ruleset(cluster: Cluster, node_name: str, lazy: _LazyServiceRuleset | None = None) -> Ruleset:
    """Every writer's rules on the node, in the order they are loaded; with `lazy` (iptables mode), kube-proxy's
    skeleton instead of its whole ruleset, the service ports' rules to come as packets ask for them."""
    mode = cluster.settings.kube_proxy_mode
    ruleset = lazy if lazy is not None else Ruleset()
    local: set = set()
    policy = render_policy_rules(cluster, node_name)
    Ruleset.parse(policy.head_text(), ruleset)
    if mode == KubeProxyMode.IPTABLES:
        Ruleset.parse(kp_iptables.base_chains_restore(), ruleset)
        rendered = lazy.kube_proxy_rules() if lazy is not None else kp_iptables.render_rules(cluster, node_name)
    elif mode == KubeProxyMode.IPVS:
        Ruleset.parse(kp_iptables.base_chains_restore(ipvs.JUMP_RULES), ruleset)
        rendered = ipvs.render_rules(cluster, node_name)
        ruleset.ipsets = {s.name: s for s in ipvs.node_ipsets(cluster, node_name)}
        local |= service_vips(cluster)
    elif mode == KubeProxyMode.NFTABLES:
        rendered = RenderedRules("")
        ruleset.attached.append(node_nft_table(cluster, node_name))
    else:
        rendered = RenderedRules(userspace.render_iptables_restore(cluster, node_name))
    Ruleset.parse(rendered.text, ruleset)
    ruleset.notes.update(rendered.notes)
    if lazy is not None:
        lazy.kube_proxy_parsed()
    Ruleset.parse(render_cni_rules(cluster, node_name), ruleset)
    Ruleset.parse(policy.tail_text(), ruleset)
    _know_the_host(ruleset, cluster, node_name, local)
    return ruleset.prepare()


@dataclass(frozen=True, eq=False)
class KubeProxyExplainer:
    """kube-proxy's drops and DNATs in words: the service, its selector, its source ranges."""

    cluster: Cluster

    def drop(self, ruleset: HostRules, rule: WrittenRule, verdict: Verdict, packet: Packet) -> str | None:
        note = ruleset.note(rule)
        if not isinstance(note, RuleNote):
            return None
        if note.cause == DropCause.CLUSTER_IP_PORT:
            return say("netfilter.rule.rejects", chain=rule.chain,
                       why=say("netfilter.nft.cluster_ip_port", address=packet.dst.ip, proto=packet.proto.upper(),
                               port=packet.dst.port))
        if note.cause == DropCause.UNALLOCATED_CLUSTER_IP:
            return say("netfilter.rule.drops", chain=rule.chain,
                       why=say("netfilter.nft.unallocated", address=packet.dst.ip))
        if note.cause == DropCause.SOURCE_RANGES:
            service = next((svc for svc in self.cluster.services if packet.dst.ip in svc.load_balancer_ips), None)
            if service is None:
                return None
            allowed = ", ".join(str(net) for net in service.load_balancer_source_ranges)
            return say("netfilter.rule.drops", chain=rule.chain,
                       why=say("netfilter.source_ranges", service=service.key, allowed=allowed,
                               address=packet.dst.ip, src=packet.src.ip))
        if note.cause == DropCause.VIP_PORT_FILTER:
            return say("netfilter.rule.rejects", chain=rule.chain,
                       why=say("netfilter.ipvs_filter", address=packet.dst.ip, port=packet.dst.port,
                               proto=packet.proto.upper()))
        info = note.service_port
        assert info is not None, note
        if note.cause == DropCause.NO_LOCAL_ENDPOINTS:
            return say("netfilter.rule.drops", chain=rule.chain, why=no_local_endpoint_text(info.name))
        return say("netfilter.rule.rejects_unreachable", chain=rule.chain,
                   why=no_endpoints_text(info.name, info.service))

    def dnat(self, before: Packet) -> str:
        service = self.cluster.service_by_cluster_ip.get(before.dst.ip)
        if service is None:
            return ""
        return say("netfilter.dnat.cluster_ip", address=before.dst.ip, service=service.key)
