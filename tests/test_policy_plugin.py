"""The network plugin setting: read from manifests, overridden on every command (`--network-plugin`) and by the
page's what-if (webapp.variants), and NetworkPolicies switched off."""

from __future__ import annotations

import textwrap

import pytest

from webapp.cli import main
from webapp.loaders import load_sample, load_sources
from webapp.model import NetworkPlugin, Overlay
from webapp.problems import Severity
from webapp.variants import (
    ViewSettings,
    apply_view_settings,
    network_plugins,
    override_network_plugin,
    plugin_conflict,
    policy_keys,
)


def load(*texts: str):
    return load_sources([(f"f{i}.yaml", textwrap.dedent(t).encode()) for i, t in enumerate(texts)])


def test_calico_node_daemonset_is_read_as_canal_with_a_coded_warning() -> None:
    result = load("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: calico-node, namespace: kube-system}\n"
                  "spec: {template: {metadata: {labels: {k8s-app: calico-node}}, spec: {hostNetwork: true, "
                  "containers: [{name: calico-node}]}}}\n")
    assert result.cluster.settings.network_plugin == NetworkPlugin.CANAL
    assert [(p.severity, p.code, p.line, p.col) for p in result.warnings] == [
        (Severity.WARNING, "W-CALICO-DRAWN-AS-CANAL", 3, 18)]
    assert result.warnings[0].message.startswith("calico-node declares Calico: its own datapath")


def test_a_daemonset_named_canal_outside_kube_system_declares_nothing() -> None:
    result = load("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: canal, namespace: default}\n"
                  "spec: {template: {metadata: {labels: {app: x}}, spec: {containers: [{name: x}]}}}\n")
    assert result.cluster.settings.network_plugin == NetworkPlugin.FLANNEL


def test_the_view_switches_the_plugin_only_where_it_can_run() -> None:
    shop = load_sample("policy-shop")
    flannel = apply_view_settings(shop, ViewSettings(network_plugin=NetworkPlugin.FLANNEL))
    assert (flannel.settings.network_plugin, flannel.settings.enforces_policy) == (NetworkPlugin.FLANNEL, False)
    assert (shop.settings.network_plugin, shop.settings.enforces_policy) == (NetworkPlugin.CANAL, True)
    assert apply_view_settings(shop, ViewSettings(network_plugin=NetworkPlugin.CANAL)) is shop
    seed = load_sample("seed-article")  # OVS: canal (flannel's datapath) cannot draw it, the view keeps flannel
    assert apply_view_settings(seed, ViewSettings(network_plugin=NetworkPlugin.CANAL)) is seed
    both = apply_view_settings(seed, ViewSettings(overlay=Overlay.FLANNEL_VXLAN, network_plugin=NetworkPlugin.CANAL))
    assert (both.settings.overlay, both.settings.network_plugin) == (Overlay.FLANNEL_VXLAN, NetworkPlugin.CANAL)
    assert network_plugins(seed) == (NetworkPlugin.FLANNEL,)
    assert network_plugins(shop) == (NetworkPlugin.CANAL, NetworkPlugin.FLANNEL)
    assert plugin_conflict("canal", Overlay.OVS_VXLAN) == (
        "canal runs flannel's datapath: it cannot draw the ovs-vxlan overlay")
    with pytest.raises(ValueError, match="cannot draw the ovs-vxlan overlay"):
        override_network_plugin(seed, "canal")


def test_policies_switched_off_are_gone_from_the_cluster() -> None:
    shop = load_sample("policy-shop")
    assert policy_keys(shop)[:3] == ("backend/allow-dns", "backend/api", "backend/default-deny")  # sorted
    off = apply_view_settings(shop, ViewSettings(policies_off=frozenset({"backend/default-deny", "x/none"})))
    assert len(off.network_policies) == len(shop.network_policies) - 1
    assert "backend/default-deny" not in policy_keys(off)
    assert apply_view_settings(shop, ViewSettings(policies_off=frozenset({"x/none"}))) is shop


def test_parse_reads_the_plugin_and_the_policies_off() -> None:
    assert ViewSettings.parse(plugin="canal", policies_off=["backend/api", ""]) == ViewSettings(
        network_plugin=NetworkPlugin.CANAL, policies_off=frozenset({"backend/api"}))
    assert ViewSettings.parse(plugin="cilium").is_default


@pytest.mark.parametrize("command", [
    ["show", "--sample", "seed-article"],
    ["trace", "--sample", "seed-article", "--from", "pod/default/web-1", "--to", "pod/default/api-1:8080"],
    ["rules", "--sample", "seed-article", "--node", "node-1"],
    ["policy", "--sample", "seed-article", "--port", "80"],
])
def test_every_command_takes_the_override_and_refuses_canal_on_ovs(command, capsys) -> None:
    assert main([*command, "--network-plugin", "canal"]) == 2
    assert capsys.readouterr().err == (
        f"k8s-netviz {command[0]}: --network-plugin canal: canal runs flannel's datapath: it cannot draw the "
        "ovs-vxlan overlay\n")


def test_show_says_which_plugin_enforces(capsys) -> None:
    assert main(["show", "--sample", "policy-shop", "--network-plugin", "flannel"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "  network plugin: flannel (enforces no NetworkPolicy)"
    assert "  backend/api                              Ingress+Egress: 1 ingress, 1 egress rules" in lines


def test_rules_prints_felixs_chains_after_kube_proxys_on_canal_only(capsys) -> None:
    from webapp.engine.policy_rules import render_policy_rules

    assert main(["rules", "--sample", "policy-shop", "--node", "node-1"]) == 0
    out = capsys.readouterr().out
    header = ("# canal (Calico Felix): the NetworkPolicy filter chains, iptables-restore --noflush input; the "
              "cali-FORWARD and cali-INPUT jumps go first in FORWARD and INPUT, the accept-mark rule last in FORWARD "
              "(docs/network-policy.md)\n")
    kube_proxy, felix = out.split(header)
    assert "-A KUBE-SERVICES" in kube_proxy and "cali-" not in kube_proxy
    assert felix == render_policy_rules(load_sample("policy-shop"), "node-1").restore_text()
    assert main(["rules", "--sample", "policy-shop", "--node", "node-1", "--network-plugin", "flannel"]) == 0
    assert capsys.readouterr().out == kube_proxy


def test_render_counts_each_ports_cells_and_lists_disagreements() -> None:
    from webapp.engine.policy_matrix import CellState
    from webapp.lab.matrix import CellCheck, render_matrix_checks
    from webapp.model import Protocol

    checks = [CellCheck("a/x", "b/y", 80, Protocol.TCP, CellState.DENIED, "dropped"),
              CellCheck("b/y", "a/x", 80, Protocol.TCP, CellState.DENIED, "delivered"),
              CellCheck("a/x", "b/y", 53, Protocol.UDP, CellState.NOT_ENFORCED, "rejected"),
              CellCheck("b/y", "a/x", 53, Protocol.UDP, CellState.ALLOWED, "dropped")]
    assert render_matrix_checks(checks) == (
        "policy matrix 80/TCP: 2 cells (2 denied by the engine), 1 agree with the kernel, 1 disagree\n"
        "policy matrix 53/UDP: 2 cells (0 denied by the engine, 1 would be denied, not enforced), 1 agree with the "
        "kernel, 1 disagree\n"
        "  DISAGREE b/y → a/x 80/TCP: engine denied, kernel delivered\n"
        "  DISAGREE b/y → a/x 53/UDP: engine allowed, kernel dropped")
