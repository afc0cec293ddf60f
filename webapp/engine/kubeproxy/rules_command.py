"""`k8s-netviz rules PATH... --node NODE [--mode iptables|ipvs|userspace|nftables] [--format list]`: what kube-proxy
programs on a node.

Registered from webapp.engine.commands (`register_rules`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from webapp.engine.kubeproxy import ipvs, nftables, userspace
from webapp.engine.kubeproxy.iptables import JUMP_RULES, nfacct_counters, render_iptables_restore
from webapp.engine.policy_rules import render_policy_rules
from webapp.model import Cluster, KubeProxyMode
from webapp.variants import add_network_plugin_argument


def render_node_rules(cluster: Cluster, node_name: str, mode: KubeProxyMode | None = None,
                      listing: bool = False) -> str:
    """kube-proxy's rules (`render_kube_proxy_rules`), then, on a plugin that enforces NetworkPolicy, its filter
    chains (webapp.engine.policy_rules)."""
    text = render_kube_proxy_rules(cluster, node_name, mode, listing)
    policy = render_policy_rules(cluster, node_name)
    if not policy.chains:
        return text
    return (f"{text}"
            f"# {cluster.settings.network_plugin} (Calico Felix): the NetworkPolicy filter chains, iptables-restore "
            f"--noflush input; the cali-FORWARD and cali-INPUT jumps go first in FORWARD and INPUT, the accept-mark "
            f"rule last in FORWARD (docs/network-policy.md)\n{policy.restore_text()}")


def render_kube_proxy_rules(cluster: Cluster, node_name: str, mode: KubeProxyMode | None = None,
                            listing: bool = False) -> str:
    """A node's kube-proxy state as the node's tools would show it, for `mode` (default: the cluster's).
    `listing`: nftables mode as `nft list table` shows it instead of the `nft -f` transaction."""
    if node_name not in cluster.node_by_name:
        known = ", ".join(n.name for n in cluster.nodes)
        raise KeyError(f"no node named {node_name!r} (nodes: {known})")
    mode = mode or cluster.settings.kube_proxy_mode
    if mode == KubeProxyMode.NFTABLES:
        if listing:
            return f"# nft list table ip kube-proxy\n{nftables.render_nft_list(cluster, node_name)}"
        return (f"# nft -f input: table ip kube-proxy as kube-proxy (nftables mode) leaves it after a full sync\n"
                f"{nftables.render_nft_transaction(cluster, node_name)}")
    if mode == KubeProxyMode.IPVS:
        return (f"# ip addr show {ipvs.DUMMY_DEVICE}\n{ipvs.render_dummy_device(cluster, node_name)}\n"
                f"# ipvsadm -Ln\n{ipvs.render_ipvsadm(cluster, node_name)}\n"
                f"# ipset list\n{ipvs.render_ipset(cluster, node_name)}\n"
                f"# iptables-restore input (kube-proxy, IPVS mode)\n{ipvs.render_iptables_restore(cluster, node_name)}")
    if mode == KubeProxyMode.USERSPACE:
        return (f"# iptables rules of the userspace proxier (KUBE-PORTALS-*, KUBE-NODEPORT-*)\n"
                f"{userspace.render_iptables_restore(cluster, node_name)}")
    jumps = "\n".join(f"# iptables -t {j.table} -I {j.rule[3:]}" for j in JUMP_RULES)
    counters = "".join(f"# nfacct add {name}\n" for name in nfacct_counters(cluster, node_name))
    if counters:
        counters = "# nfacct counters kube-proxy creates first (its rules name them)\n" + counters
    return (f"# jump rules kube-proxy inserts into the built-in chains, in this order (each goes first)\n{jumps}\n"
            f"{counters}# iptables-restore --noflush input written by kube-proxy (iptables mode)\n"
            f"{render_iptables_restore(cluster, node_name)}")


def register_rules(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rules", help="print the rules kube-proxy (and an enforcing network plugin) program on a node",
                            description="Print a node's kube-proxy rules: iptables-restore input (iptables mode), "
                                        "ipvsadm -Ln and ipset list (IPVS), the KUBE-PORTALS rules (userspace), or "
                                        "the nft -f transaction of table ip kube-proxy (nftables).")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="cluster YAML or manifests (files or folders)")
    parser.add_argument("--sample", metavar="NAME", help="use a built-in sample instead of PATHs")
    parser.add_argument("--node", required=True, help="the node whose rules to print")
    parser.add_argument("--mode", choices=[m.value for m in KubeProxyMode],
                        help="kube-proxy mode (default: the cluster's setting)")
    parser.add_argument("--format", choices=["transaction", "list"], default="transaction",
                        help="nftables mode: the nft -f transaction (default) or what `nft list table` shows")
    from webapp.engine.commands import add_max_bytes

    add_max_bytes(parser)
    add_network_plugin_argument(parser)
    parser.set_defaults(run=run_rules)


def run_rules(args: argparse.Namespace) -> int:
    from webapp.engine.commands import cluster_of_arguments

    cluster = cluster_of_arguments(args, "k8s-netviz rules")
    if isinstance(cluster, int):
        return cluster
    mode = KubeProxyMode(args.mode) if args.mode else None
    if mode is not None and mode != cluster.settings.kube_proxy_mode:
        cluster = replace(cluster, settings=replace(cluster.settings, kube_proxy_mode=mode))
    if args.format == "list" and cluster.settings.kube_proxy_mode != KubeProxyMode.NFTABLES:
        print(f"error: --format list shows nftables mode's table; kube-proxy mode here is "
              f"{cluster.settings.kube_proxy_mode}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(render_node_rules(cluster, args.node, mode, listing=args.format == "list"))
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    return 0
