"""Live view settings: each returns a new frozen Cluster and really changes the traced path."""

import pytest

from webapp.engine.flows import trace_flow
from webapp.loaders import load_sample
from webapp.model import KubeProxyMode, Overlay, ServiceType, TrafficPolicy
from webapp.variants import ViewSettings, apply_view_settings, backend_pods


@pytest.fixture(scope="module")
def seed():
    return load_sample("seed-article")


def test_no_change_returns_the_same_cluster(seed):
    assert apply_view_settings(seed, ViewSettings()) is seed
    assert apply_view_settings(seed, ViewSettings(kube_proxy_mode=KubeProxyMode.IPTABLES)) is seed


def test_parse_ignores_unknown_values():
    assert ViewSettings.parse("ipvs", "nonsense", "Local", ["a/b", ""]) == ViewSettings(
        KubeProxyMode.IPVS, None, TrafficPolicy.LOCAL, frozenset({"a/b"}))
    assert ViewSettings.parse(None, None, None, None).is_default


def test_values_are_the_pages_values_and_parse_back():
    settings = ViewSettings.parse("nftables", "ovs-vxlan", "Cluster", ["b/y", "a/x"], "canal", ["ns/p"])
    assert settings.values() == {"mode": "nftables", "overlay": "ovs-vxlan", "policy": "Cluster",
                                 "down": ["a/x", "b/y"], "plugin": "canal", "policies_off": ["ns/p"]}
    assert ViewSettings.parse(**settings.values()) == settings
    assert ViewSettings().values() == {"mode": None, "overlay": None, "policy": None, "down": [], "plugin": None,
                                       "policies_off": []}


def test_kube_proxy_mode_changes_the_hops(seed):
    ipvs = apply_view_settings(seed, ViewSettings(kube_proxy_mode=KubeProxyMode.IPVS))
    assert ipvs.settings.kube_proxy_mode == KubeProxyMode.IPVS
    assert seed.settings.kube_proxy_mode == KubeProxyMode.IPTABLES
    kinds = [str(h.kind) for h in trace_flow(ipvs, "pod/default/web-1", "svc/default/api-lb:80").hops]
    assert kinds == ["app", "route", "interface", "interface", "bridge", "ipvs", "route", "bridge", "interface",
                     "interface", "app"]
    userspace = apply_view_settings(seed, ViewSettings(kube_proxy_mode=KubeProxyMode.USERSPACE))
    assert "proxy" in [str(h.kind) for h in trace_flow(userspace, "pod/default/web-1", "svc/default/api-lb:80").hops]


def test_overlay_switch_to_flannel_uses_flannel_port(seed):
    flannel = apply_view_settings(seed, ViewSettings(overlay=Overlay.FLANNEL_VXLAN))
    assert (flannel.settings.overlay, flannel.settings.vxlan_port) == (Overlay.FLANNEL_VXLAN, 8472)
    trace = trace_flow(flannel, "pod/default/api-1", "pod/default/api-2:8080")
    outer = next(h.packet.outer for h in trace.hops if h.packet.outer)
    assert outer.dst.port == 8472
    assert "flannel.1" in [h.device for h in trace.hops]


def test_external_traffic_policy_applies_to_nodeport_and_lb_only(seed):
    local = apply_view_settings(seed, ViewSettings(external_traffic_policy=TrafficPolicy.LOCAL))
    for before, after in zip(seed.services, local.services):
        if before.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER):
            assert after.external_traffic_policy == TrafficPolicy.LOCAL
        else:
            assert after is before


def test_down_pods_are_kept_only_if_they_exist_and_the_trace_dies_there(seed):
    down = apply_view_settings(seed, ViewSettings(down_pods=frozenset({"default/api-1", "default/api-2", "x/y"})))
    assert down.down_pods == frozenset({"default/api-1", "default/api-2"})
    trace = trace_flow(down, "pod/default/web-1", "svc/default/api-lb:80")
    assert str(trace.disposition) == "dropped"
    assert trace.reason.startswith("backend pod default/api-1 does not answer")


def test_backend_pods_are_the_pods_behind_endpoints(seed):
    assert backend_pods(seed) == ("default/api-1", "default/api-2", "default/db-1", "default/web-1", "default/web-2",
                                  "kube-system/coredns-868cd75d4-2mcc9", "kube-system/coredns-868cd75d4-9v5v2")
