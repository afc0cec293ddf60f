"""The kernel accepts every iptables ruleset the project renders: for every sample, every node and every kube-proxy
mode that writes iptables rules (iptables, IPVS, userspace), and for every upstream-shaped case of
tests/upstream.py, the node's whole ruleset — the built-in chains with kube-proxy's jumps, kube-proxy's
restore input and the CNI's rules — goes through `iptables-restore --test` and a real load in a throwaway network
namespace (webapp.lab.netns: never the host's). IPVS mode's ipsets are created first, as kube-proxy creates
them. nftables mode has its own kernel test (tests/test_kubeproxy_nftables.py, `nft -c -f`)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest

from upstream import UPSTREAM_CASES
from webapp.engine.cni_rules import render_cni_rules
from webapp.engine.kubeproxy import ipvs, userspace
from webapp.engine.kubeproxy import iptables as kp_iptables
from webapp.lab.netns import kernel_refusal, throwaway_netns
from webapp.loaders import list_samples, load_sample
from webapp.model import Cluster, KubeProxyMode

KERNEL = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("ip", "iptables-restore", "ipset", "nfacct")),
    reason="needs root (a throwaway network namespace), ip, iptables-restore, ipset and nfacct")

IPTABLES_MODES = (KubeProxyMode.IPTABLES, KubeProxyMode.IPVS, KubeProxyMode.USERSPACE)


def node_iptables(cluster: Cluster, node: str) -> tuple[str, list[tuple[str, str, list[str]]]]:
    """The node's whole iptables input for the cluster's mode, and the ipsets it needs."""
    mode = cluster.settings.kube_proxy_mode
    sets: list[tuple[str, str, list[str]]] = []
    if mode == KubeProxyMode.IPVS:
        texts = [kp_iptables.base_chains_restore(ipvs.JUMP_RULES), ipvs.render_iptables_restore(cluster, node)]
        sets = [(s.name, s.type, sorted(s.entries)) for s in ipvs.node_ipsets(cluster, node)]
    elif mode == KubeProxyMode.USERSPACE:
        texts = [userspace.render_iptables_restore(cluster, node)]
    else:
        texts = [kp_iptables.base_chains_restore(), kp_iptables.render_iptables_restore(cluster, node)]
    return merged([*texts, render_cni_rules(cluster, node)]), sets


def merged(texts: list[str]) -> str:
    """Several iptables-restore texts as one block per table (chains declared first, rules in the texts' order):
    what is on the node once every writer has run, in a form `iptables-legacy-restore --test` checks whole (it
    forgets a table's chains at each COMMIT of a test run)."""
    chains: dict[str, dict[str, str]] = {}
    rules: dict[str, list[str]] = {}
    table = ""
    for text in texts:
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:]
                chains.setdefault(table, {})
                rules.setdefault(table, [])
            elif line.startswith(":"):
                name = line[1:].split(" ", 1)[0]
                if name not in chains[table] or not line.split(" ")[1] == "-":
                    chains[table][name] = line
            elif line.startswith("-"):
                rules[table].append(line)
    return "".join(f"*{t}\n" + "".join(f"{c}\n" for c in chains[t].values()) + "".join(f"{r}\n" for r in rules[t])
                   + "COMMIT\n" for t in chains)


def counters(cluster: Cluster, node: str) -> tuple[str, ...]:
    """The nfacct objects kube-proxy creates before it restores (iptables mode, a node with nfacct)."""
    if cluster.settings.kube_proxy_mode != KubeProxyMode.IPTABLES:
        return ()
    return kp_iptables.nfacct_counters(cluster, node)


def in_mode(cluster: Cluster, mode: KubeProxyMode) -> Cluster:
    return replace(cluster, settings=replace(cluster.settings, kube_proxy_mode=mode))


SAMPLE_RULESETS = [(sample.name, node.name, mode) for sample in list_samples()
                   for node in load_sample(sample.name).nodes for mode in IPTABLES_MODES]


@KERNEL
@pytest.mark.parametrize(("sample", "node", "mode"), SAMPLE_RULESETS)
def test_the_kernel_loads_every_samples_ruleset(sample, node, mode):
    cluster = in_mode(load_sample(sample), mode)
    text, sets = node_iptables(cluster, node)
    with throwaway_netns() as netns:
        assert kernel_refusal(netns, text, ipsets=sets, nfacct=counters(cluster, node)) is None


@KERNEL
@pytest.mark.parametrize("case", sorted(UPSTREAM_CASES))
def test_the_kernel_loads_every_upstream_shaped_case(case):
    cluster, node = UPSTREAM_CASES[case]()
    text, sets = node_iptables(cluster, node)
    with throwaway_netns() as netns:
        assert kernel_refusal(netns, text, ipsets=sets, nfacct=counters(cluster, node)) is None


@KERNEL
def test_the_kernel_refuses_a_jump_to_an_undeclared_chain():
    """The check can fail: the ruleset issue 17 item 1 describes (KUBE-SVL jumping to a KUBE-SEP chain nobody
    declared) is refused, with the kernel's words."""
    cluster, node = UPSTREAM_CASES["TestTerminatingEndpointsTrafficPolicyLocal/only terminating endpoints exist"]()
    text, _ = node_iptables(cluster, node)
    broken = text.replace(":KUBE-SEP-IO5XOSKPAXIFQXAJ - [0:0]\n", "")
    assert broken != text
    with throwaway_netns() as netns:
        refusal = kernel_refusal(netns, broken)
    assert refusal is not None and "KUBE-SEP-IO5XOSKPAXIFQXAJ" in refusal


@KERNEL
def test_the_throwaway_namespace_is_gone_afterwards():
    with throwaway_netns() as netns:
        assert os.path.exists(f"/run/netns/{netns}")
    assert not os.path.exists(f"/run/netns/{netns}")
