"""Switching the overlay live switches the CNI that programs it, and with it the masquerade rules and port."""

from webapp.engine.cni_rules import render_cni_rules
from webapp.engine.flows import trace_flow
from webapp.loaders import load_sample
from webapp.model import Overlay
from webapp.variants import ViewSettings, apply_view_settings


def test_seed_article_on_flannel_keeps_pod_addresses_end_to_end():
    cluster = apply_view_settings(load_sample("seed-article"), ViewSettings(overlay=Overlay.FLANNEL_VXLAN))
    assert (cluster.settings.cni, cluster.settings.vxlan_port) == ("flannel", 8472)
    assert render_cni_rules(cluster, "node-1").splitlines()[1] == ":FLANNEL-POSTRTG - [0:0]"
    trace = trace_flow(cluster, "pod/web-1", "pod/api-2:8080")
    assert trace.nat == ()
    assert trace.hops[-1].packet.src.ip == cluster.pod_by_key["default/web-1"].pod_ip


def test_flannel_cluster_on_ovs_uses_the_vxlan_port_4789():
    cluster = apply_view_settings(load_sample("flannel-vxlan"), ViewSettings(overlay=Overlay.OVS_VXLAN))
    assert (cluster.settings.cni, cluster.settings.vxlan_port) == ("ovs", 4789)
