"""Where the engine told a user something a real node does not do (issue 17, items 3, 4, 8 and 9): SCTP in the
trace grammar and the walk; a ClusterIP reached from outside through a declared route; a pod connecting to a
load balancer's IP on a port it does not forward; an ExternalName whose name the cluster does not declare."""

from __future__ import annotations

from dataclasses import replace

import pytest

from webapp.cli import main
from webapp.engine.flows import destination_protocol, resolve_flow, trace_flow
from webapp.loaders import load_sources
from webapp.model import Cluster, KubeProxyMode

SCTP_CLUSTER = """\
name: sctp
network: {overlay: flannel-vxlan}
nodes:
  - name: node-1
    ip: 192.168.0.11
    pods:
      - {name: client, labels: {app: client}, containers: [{name: c, ports: [8080]}]}
  - name: node-2
    ip: 192.168.0.12
    pods:
      - {name: sig-1, labels: {app: sig}, containers: [{name: diameter, ports: [{port: 3868, protocol: SCTP}]}]}
services:
  - {name: sig, selector: {app: sig}, ports: [{port: 3868, protocol: SCTP}]}
  - {name: sig-np, type: NodePort, selector: {app: sig}, ports: [{port: 3868, protocol: SCTP, nodePort: 30868}]}
"""


def _load(text: str) -> Cluster:
    result = load_sources([("cluster.yaml", text.encode())])
    assert result.cluster is not None, [str(p) for p in result.errors]
    return result.cluster


@pytest.fixture(scope="module")
def sctp() -> Cluster:
    return _load(SCTP_CLUSTER)


# --- item 3: SCTP ------------------------------------------------------------------------------------------

def test_an_sctp_port_is_traced_as_sctp_by_default(sctp: Cluster) -> None:
    assert [destination_protocol(sctp, dst) for dst in ("svc/default/sig", "svc/default/sig:3868",
                                                        "pod/default/sig-1:3868", "10.96.0.11:3868",
                                                        "node/node-2:30868", "pod/default/client:8080")] == [
        "sctp", "sctp", "sctp", "sctp", "sctp", "tcp"]


@pytest.mark.parametrize("mode", [KubeProxyMode.IPTABLES, KubeProxyMode.NFTABLES])
def test_a_pod_reaches_an_sctp_service_through_kube_proxys_sctp_rule(sctp: Cluster, mode: KubeProxyMode) -> None:
    cluster = replace(sctp, settings=replace(sctp.settings, kube_proxy_mode=mode))
    trace = trace_flow(cluster, "pod/default/client", "svc/default/sig:3868")
    assert (trace.flow.type, trace.flow.proto, trace.disposition) == ("pod-to-service", "sctp", "delivered")
    dnat = [h for h in trace.hops if h.action == "dnat"]
    assert [(str(h.packet), h.node) for h in dnat] == [("sctp 10.244.0.2:59023 → 10.244.1.2:3868", "node-1")]
    if mode == KubeProxyMode.IPTABLES:
        assert dnat[0].rule == ("nat -A KUBE-SEP-HCC3GQ4NZGCXCACL -m comment --comment default/sig -m sctp -p sctp "
                                "-j DNAT --to-destination 10.244.1.2:3868")
    assert (trace.hops[-1].netns, trace.hops[-1].device) == ("pod/default/sig-1", "diameter")
    assert str(trace.reply[-1].packet) == "sctp 10.96.0.11:3868 → 10.244.0.2:59023"


def test_an_sctp_nodeport_from_outside(sctp: Cluster) -> None:
    trace = trace_flow(sctp, "203.0.113.5", "node/node-1:30868")
    assert (trace.flow.type, trace.flow.proto, trace.disposition) == ("nodeport", "sctp", "delivered")
    assert str(trace.hops[-1].packet) == "sctp 10.244.0.0:62022 → 10.244.1.2:3868"


def test_sctp_to_a_tcp_only_port_and_tcp_to_an_sctp_port_are_refused(sctp: Cluster) -> None:
    trace = trace_flow(sctp, "pod/default/client", "pod/default/sig-1:3868", "tcp")
    assert (trace.disposition, trace.reason) == (
        "rejected", "nothing listens on 3868/TCP in pod default/sig-1 (its containers declare diameter 3868/SCTP)")
    with pytest.raises(ValueError, match=r"^protocol 'icmp': use tcp, udp or sctp$"):
        resolve_flow(sctp, "pod/default/client", "pod/default/sig-1:3868", "icmp")


def test_trace_takes_proto_sctp(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--sample", "seed-article", "--from", "pod/default/api-1", "--to", "pod/default/api-2:8080",
                 "--proto", "sctp"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "pod-to-pod-cross-node: pod/default/api-1 → pod/default/api-2:8080 (sctp)"
    assert "  => rejected: nothing listens on 8080/SCTP in pod default/api-2 (its containers declare api 8080/TCP, " \
           "cache 6379/TCP)" in out


# --- item 8: a load balancer's IP on a port it does not forward ---------------------------------------------

LB_DROP_REASON = ("203.0.113.100 belongs to the cloud load balancer of default/api-lb, which forwards only 80/TCP; "
                  "nothing takes 443/TCP, so the load balancer drops the packet and the connection times out (on the "
                  "node the load-balancer IP is not local and kube-proxy has no rule for that port: the packet left "
                  "by the default route)")


@pytest.mark.parametrize("mode", [KubeProxyMode.IPTABLES, KubeProxyMode.NFTABLES])
def test_a_pod_to_a_load_balancer_ip_on_another_port_is_dropped_by_the_load_balancer(mode: KubeProxyMode) -> None:
    from webapp.loaders import load_sample

    seed = load_sample("seed-article")
    cluster = replace(seed, settings=replace(seed.settings, kube_proxy_mode=mode))
    trace = trace_flow(cluster, "pod/default/api-1", "203.0.113.100:443")
    assert (trace.flow.type, trace.disposition, trace.reason) == ("pod-to-external", "dropped", LB_DROP_REASON)
    wire, gateway, balancer = trace.hops[-3:]
    assert (wire.netns, str(wire.packet)) == ("underlay", "tcp 192.168.0.11:45101 → 203.0.113.100:443")
    assert [(c.field, c.before, c.after) for c in trace.nat] == [("src", "10.244.1.3:45101", "192.168.0.11:45101")]
    assert (gateway.netns, gateway.device, gateway.rule) == ("underlay", "gateway", "default route to 203.0.113.100")
    assert (balancer.netns, balancer.device, balancer.kind, balancer.action, balancer.rule, balancer.explain) == (
        "external", "cloud-load-balancer", "loadbalancer", "drop", "203.0.113.100: listeners 80/TCP",
        "203.0.113.100 is the cloud load balancer of default/api-lb, which forwards only 80/TCP: it has no "
        "listener for 443/TCP and drops the packet.")
    assert trace.reply == ()
    # The port it forwards is kube-proxy's on the node: the packet never reaches the load balancer.
    served = trace_flow(cluster, "pod/default/api-1", "203.0.113.100:80")
    assert (served.flow.type, served.disposition) == ("loadbalancer", "delivered")
    assert not any(h.netns == "external" for h in served.hops)


def test_an_outside_client_to_a_load_balancer_ip_on_another_port_is_dropped_too() -> None:
    from webapp.loaders import load_sample

    trace = trace_flow(load_sample("seed-article"), "203.0.113.10", "203.0.113.100:443")
    assert (trace.disposition, [h.device for h in trace.hops]) == (
        "dropped", ["client", "gateway", "cloud-load-balancer"])
    assert trace.reason == LB_DROP_REASON


# --- item 4: a ClusterIP from outside, through a declared route -----------------------------------------------

ROUTED = """\
name: routed
network: {podCIDR: 10.180.0.0/16, serviceCIDR: 172.30.0.0/16, serviceCIDRRoute: via node-1}
nodes:
  - name: node-1
    ip: 192.168.0.2
    podCIDR: 10.180.0.0/24
    pods:
      - {name: web-1, ip: 10.180.0.10, labels: {app: web}, containers: [{name: nginx, ports: [80]}]}
  - name: node-2
    ip: 192.168.0.3
    podCIDR: 10.180.2.0/24
    pods:
      - {name: web-2, ip: 10.180.2.10, labels: {app: web}, containers: [{name: nginx, ports: [80]}]}
services:
  - {name: svc1, clusterIP: 172.30.0.41, selector: {app: web}, ports: [{name: p80, port: 80}]}
external:
  - {name: client, ip: 203.0.113.2}
"""


@pytest.fixture(scope="module")
def routed() -> Cluster:
    return _load(ROUTED)


@pytest.mark.parametrize("mode", [KubeProxyMode.IPTABLES, KubeProxyMode.NFTABLES])
def test_external_to_cluster_ip_is_dnated_and_masqueraded(routed: Cluster, mode: KubeProxyMode) -> None:
    """kube-proxy pkg/proxy/iptables/proxier_test.go, TestClusterIPGeneral, packet flow "external to ClusterIP":
    source testExternalClient (203.0.113.2), destination 172.30.0.41:80, output both endpoints, masq true (the
    endpoints here are 10.180.0.10 and 10.180.2.10: .1 is a node bridge's address in this layout) — the
    test's packets start at the node, as a router with a route for the service range via that node delivers them."""
    cluster = replace(routed, settings=replace(routed.settings, kube_proxy_mode=mode))
    trace = trace_flow(cluster, "203.0.113.2", "172.30.0.41:80")
    assert (trace.flow.type, trace.disposition) == ("external-to-pod", "delivered")
    gateway = trace.hops[1]
    assert (gateway.device, gateway.rule, gateway.explain) == (
        "gateway", "172.30.0.0/16 via 192.168.0.2",
        "The network routes the service range 172.30.0.0/16 via node node-1 (192.168.0.2) (serviceCIDRRoute): "
        "172.30.0.41 goes to that node, whose kube-proxy translates it.")
    alternatives = sorted(str(a.dst) for h in trace.hops for a in h.alternatives)
    assert alternatives == ["10.180.0.10:80", "10.180.2.10:80"]
    if mode == KubeProxyMode.IPTABLES:
        assert [h.rule for h in trace.hops if h.action == "mark"] == [
            'nat -A KUBE-SVC-XYWOL7XVIH65JNT5 -m comment --comment "default/svc1:p80 cluster IP" -m tcp -p tcp '
            '-d 172.30.0.41 --dport 80 ! -s 10.180.0.0/16 -j KUBE-MARK-MASQ']
    for backend, saw in (("10.180.0.10", "10.180.0.1"), ("10.180.2.10", "10.180.0.0")):
        chosen = trace_flow(cluster, "203.0.113.2", "172.30.0.41:80", backend=backend)
        assert chosen.disposition == "delivered"
        assert [c.field for c in chosen.nat] == ["dst", "src"]  # DNAT, then the masquerade the mark asked for
        assert (str(chosen.hops[-1].packet.dst), str(chosen.hops[-1].packet.src.ip)) == (f"{backend}:80", saw)
        assert str(chosen.reply[-1].packet).startswith("tcp 172.30.0.41:80 → 203.0.113.2:")
    assert trace.notes == (
        "The network routes the service range via node node-1 (serviceCIDRRoute): that node's kube-proxy DNATs the "
        "cluster IP and, the client being outside the pod network, marks it for masquerade (KUBE-MARK-MASQ), so "
        "the backend sees the node's address; conntrack undoes both on the reply.",)


def test_pod_to_cluster_ip_is_not_masqueraded(routed: Cluster) -> None:
    """TestClusterIPGeneral's "pod to ClusterIP" flow: the same service from a pod, masq false."""
    trace = trace_flow(routed, "pod/default/web-1", "172.30.0.41:80", backend="10.180.2.10")
    assert [c.field for c in trace.nat] == ["dst"]


def test_without_the_route_a_cluster_ip_stays_unrouted_outside(routed: Cluster) -> None:
    cluster = replace(routed, settings=replace(routed.settings, service_cidr_route=None))
    trace = trace_flow(cluster, "203.0.113.2", "172.30.0.41:80")
    assert (trace.disposition, trace.reason) == (
        "no-route", "the network outside the nodes has no route to 172.30.0.41: the cluster's service range is not "
                    "routed outside the cluster; 172.30.0.41 is service default/svc1's cluster IP, which only "
                    "kube-proxy on a node translates; from outside use a NodePort, LoadBalancer or externalIPs, or "
                    "route the service range to a node (network.serviceCIDRRoute: via NODE)")


def test_the_route_must_name_a_node() -> None:
    result = load_sources([("c.yaml", ROUTED.replace("via node-1", "via node-9").encode())])
    assert [str(p) for p in result.errors] == [
        "c.yaml:2:81: error: serviceCIDRRoute 'via node-9': expected `via NODE`, NODE a node of the cluster "
        "(network.serviceCIDRRoute) (hint: nodes: node-1, node-2)"]
