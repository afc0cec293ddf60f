"""Every Service type traced end to end (flows.trace_flow) in each kube-proxy mode: the NAT steps and their
rules, the endpoint set, the source the backend finally sees, and the reply's reverse NAT."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from factories import TRACED_MODES, service_cluster
from webapp.engine.flows import trace_flow
from webapp.engine.trace import Action, Disposition, HopKind, SocketAddress
from webapp.model import KubeProxyMode, LoadBalancerMode, ServiceType, TrafficPolicy

SEP_B = "KUBE-SEP-PBQ62IOVWGYEN623"


def full(mode: KubeProxyMode = KubeProxyMode.IPTABLES, **kw):
    return service_cluster(mode=mode, type=ServiceType.LOAD_BALANCER, node_port=30080,
                           load_balancer_ips=(IPv4Address("198.51.100.10"),),
                           external_ips=(IPv4Address("192.168.0.100"),), **kw)


def nat_steps(trace):
    return [(c.field, c.before, c.after) for c in trace.nat]


def test_cluster_ip_iptables_exists_only_in_the_rules():
    trace = trace_flow(full(), "pod/default/client", "svc/default/web:80", backend="10.244.1.2")
    assert trace.disposition == Disposition.DELIVERED
    assert nat_steps(trace) == [("dst", "10.96.0.20:80", "10.244.1.2:80")]
    dnat = next(h for h in trace.hops if h.action == Action.DNAT)
    assert dnat.rule == (f"nat -A {SEP_B} -m comment --comment default/web:http -m tcp -p tcp -j DNAT "
                         "--to-destination 10.244.1.2:80")
    choice = next(h for h in trace.hops if h.alternatives)
    assert [(str(a.dst), a.probability, a.chosen) for a in choice.alternatives] == [
        ("10.244.0.3:80", 0.5, False), ("10.244.1.2:80", 0.5, True)]
    # no device owns 10.96.0.20: before the DNAT no hop is a device of that address
    assert trace.hops[-1].packet.src == SocketAddress.parse(f"10.244.0.2:{trace.hops[0].packet.src.port}")
    assert [(c.field, c.before, c.after) for c in trace.reply_nat] == [
        ("src", "10.244.1.2:80", "10.96.0.20:80")]
    assert trace.reply[-1].packet.src == SocketAddress.parse("10.96.0.20:80")


@pytest.mark.parametrize("mode, backend_sees", [
    (KubeProxyMode.IPTABLES, "10.244.0.2"),   # pod → service: the pod's own address (no SNAT)
    (KubeProxyMode.IPVS, "10.244.0.2"),
    (KubeProxyMode.USERSPACE, "10.244.0.0"),  # kube-proxy's new connection from node-1 (flannel.1's address)
])
def test_cluster_ip_each_mode(mode, backend_sees):
    trace = trace_flow(full(mode), "pod/default/client", "svc/default/web:80", backend="10.244.1.2")
    assert trace.disposition == Disposition.DELIVERED
    last = trace.hops[-1]
    assert (last.netns, str(last.packet.dst), str(last.packet.src.ip)) == ("pod/default/web-b", "10.244.1.2:80",
                                                                           backend_sees)
    assert trace.reply[-1].packet.src == SocketAddress.parse("10.96.0.20:80")
    kinds = {h.kind for h in trace.hops}
    assert {KubeProxyMode.IPTABLES: HopKind.NETFILTER, KubeProxyMode.IPVS: HopKind.IPVS,
            KubeProxyMode.USERSPACE: HopKind.PROXY}[mode] in kinds


@pytest.mark.parametrize("mode", TRACED_MODES)
def test_nodeport_cluster_policy_masquerades(mode):
    trace = trace_flow(full(mode), "203.0.113.7", "192.168.0.12:30080", backend="10.244.0.3")
    assert trace.flow.type == "nodeport" and trace.disposition == Disposition.DELIVERED
    # node-2 forwards to web-a on node-1; the backend sees node-2 (flannel.1's address), not the client
    assert str(trace.hops[-1].packet.src.ip) == "10.244.1.0"
    assert trace.reply[-1].packet.src == SocketAddress.parse("192.168.0.12:30080")
    assert str(trace.reply[-1].packet.dst.ip) == "203.0.113.7"


def test_nodeport_iptables_nat_rules():
    trace = trace_flow(full(), "203.0.113.7", "192.168.0.12:30080", backend="10.244.0.3")
    nat = [(h.action, h.rule.split(" -m ")[0]) for h in trace.hops if h.kind == HopKind.NETFILTER]
    assert nat == [(Action.MARK, "nat -A KUBE-EXT-CDGGSHYLG3RE2FKL"), (Action.LOOKUP, "nat -A KUBE-SVC-CDGGSHYLG3RE2FKL"),
                   (Action.DNAT, "nat -A KUBE-SEP-UF6OOORCMXPJJDSV"), (Action.MASQUERADE, "nat -A KUBE-POSTROUTING")]


def test_load_balancer_nesting_and_local_policy_keeps_the_client_address():
    cluster = full(external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000,
                   load_balancer_mode=LoadBalancerMode.PROXY)
    cluster = replace(cluster, endpoints=tuple(e for e in cluster.endpoints if e.pod != "default/web-a"))
    trace = trace_flow(cluster, "203.0.113.7", "svc/default/web:80")
    assert trace.flow.type == "loadbalancer" and trace.disposition == Disposition.DELIVERED
    lb = next(h for h in trace.hops if h.kind == HopKind.LOADBALANCER)
    assert lb.node is None
    assert [str(a.dst) for a in lb.alternatives] == ["192.168.0.12:30080"]  # only node-2 passes the health check
    assert str(trace.hops[-1].packet.src.ip) == "203.0.113.7"  # Local: source preserved
    assert str(trace.hops[-1].packet.dst) == "10.244.1.2:80"
    assert trace.reply[-1].packet.src == SocketAddress.parse("198.51.100.10:80")


def test_external_ip():
    trace = trace_flow(full(), "203.0.113.7", "192.168.0.100:80", backend="10.244.0.3")
    assert trace.flow.type == "externalips" and trace.disposition == Disposition.DELIVERED
    assert nat_steps(trace)[0][1:] == ("192.168.0.100:80", "10.244.0.3:80")
    assert trace.reply[-1].packet.src == SocketAddress.parse("192.168.0.100:80")


def test_external_name_asks_kube_dns_then_leaves_the_cluster():
    trace = trace_flow(full(), "pod/default/client", "svc/default/ext:80")
    assert trace.disposition == Disposition.DELIVERED
    dns = [h for h in trace.hops if h.kind == HopKind.DNS]
    assert [(h.netns, h.rule) for h in dns] == [
        ("pod/kube-system/coredns-0", "ext.default.svc.cluster.local. CNAME example.com.")]
    query_dnat = next(h for h in trace.hops if h.action == Action.DNAT)
    assert str(query_dnat.packet.dst) == "10.244.1.4:53" and query_dnat.packet.proto == "udp"
    assert trace.hops[-1].netns == "external" and str(trace.hops[-1].packet.dst) == "203.0.113.10:80"
    assert str(trace.hops[-1].packet.src.ip) == "192.168.0.11"  # flannel's ipMasq on the way out


def test_no_endpoints_rejected_naming_the_selector():
    trace = trace_flow(service_cluster(endpoints=0), "pod/default/client", "svc/default/web:80")
    assert trace.disposition == Disposition.REJECTED
    assert trace.reason == ("KUBE-SERVICES rejects it (icmp-port-unreachable): service default/web:http has no ready "
                            "endpoints — no ready pod matches its selector app=web")
    assert trace.reply == ()


def test_dead_backend_iptables_cannot_retry_userspace_can():
    dead = frozenset({"default/web-b"})
    trace = trace_flow(replace(service_cluster(), down_pods=dead), "pod/default/client", "svc/default/web:80",
                       backend="10.244.1.2")
    assert trace.disposition == Disposition.DROPPED
    assert trace.reason.startswith("backend pod default/web-b does not answer but is still a ready endpoint: "
                                   "kube-proxy's iptables rules DNATed the connection to it once, and iptables mode "
                                   "cannot retry another backend")
    assert "readiness probe" in trace.reason
    trace = trace_flow(replace(service_cluster(mode=KubeProxyMode.USERSPACE), down_pods=dead),
                       "pod/default/client", "svc/default/web:80", backend="10.244.1.2")
    assert trace.disposition == Disposition.DELIVERED
    proxy = [h for h in trace.hops if h.kind == HopKind.PROXY]
    assert [str(h.packet.dst) for h in proxy] == ["10.244.1.2:80", "10.244.0.3:80"]
    assert trace.hops[-1].netns == "pod/default/web-a"


def test_load_balancer_source_ranges_turn_other_clients_away():
    from ipaddress import IPv4Network

    cluster = full(load_balancer_source_ranges=(IPv4Network("203.0.113.0/24"),),
                   load_balancer_mode=LoadBalancerMode.PROXY)
    assert trace_flow(cluster, "203.0.113.7", "svc/default/web:80").disposition == Disposition.DELIVERED
    trace = trace_flow(cluster, "192.0.2.9", "svc/default/web:80")
    assert trace.disposition == Disposition.DROPPED
    assert trace.reason == ("the load balancer of default/web only admits loadBalancerSourceRanges 203.0.113.0/24; "
                            "192.0.2.9 is outside them (kube-proxy's KUBE-FW chain enforces the same on the nodes)")
    assert [(h.kind, h.action) for h in trace.hops] == [(HopKind.APP, Action.SEND),
                                                         (HopKind.LOADBALANCER, Action.DROP)]


def test_dns_name_is_resolved_through_kube_dns_first():
    trace = trace_flow(full(), "pod/default/client", "web.default.svc.cluster.local:80", backend="10.244.1.2")
    assert trace.flow.dst == "web.default.svc.cluster.local:80" and trace.flow.type == "pod-to-service"
    assert trace.disposition == Disposition.DELIVERED
    (answer,) = [h for h in trace.hops if h.kind == HopKind.DNS]
    assert answer.rule == "web.default.svc.cluster.local. A 10.96.0.20"
    first_tcp = next(i for i, h in enumerate(trace.hops) if h.packet.proto == "tcp")
    assert all(h.packet.proto == "udp" for h in trace.hops[:first_tcp])  # the query and its answer come first
    assert str(trace.hops[first_tcp].packet.dst) == "10.96.0.20:80"
    assert str(trace.hops[-1].packet.dst) == "10.244.1.2:80"


def test_unknown_dns_name_is_nxdomain():
    with pytest.raises(ValueError, match=r"^nope\.default\.svc\.cluster\.local:80: the cluster DNS has no service "
                                         r"nope\.default\.svc\.cluster\.local \(NXDOMAIN\)$"):
        trace_flow(full(), "pod/default/client", "nope.default.svc.cluster.local:80")


def test_cluster_ip_dnat_explains_the_virtual_address():
    trace = trace_flow(full(), "pod/default/client", "svc/default/web:80", backend="10.244.1.2")
    dnat = next(h for h in trace.hops if h.action == Action.DNAT)
    assert dnat.explain == ("KUBE-SEP-PBQ62IOVWGYEN623 rewrites the destination 10.96.0.20:80 → 10.244.1.2:80. "
                            "10.96.0.20 is the cluster IP of default/web: a virtual address no interface owns, "
                            "which exists only in these rules.")


def test_internal_traffic_policy_local_drops_without_a_local_endpoint():
    cluster = service_cluster(internal_traffic_policy=TrafficPolicy.LOCAL)
    cluster = replace(cluster, endpoints=tuple(e for e in cluster.endpoints if e.pod != "default/web-a"))
    trace = trace_flow(cluster, "pod/default/client", "svc/default/web:80")
    assert trace.disposition == Disposition.DROPPED
    assert trace.reason == ("KUBE-SERVICES drops it: service default/web:http has no endpoint on this node and its "
                            "traffic policy is Local")
    # from node-2, which has web-b, the same service works and only web-b is a candidate
    trace = trace_flow(cluster, "node/node-2", "svc/default/web:80")
    assert trace.disposition == Disposition.DELIVERED
    choice = next(h for h in trace.hops if h.alternatives)
    assert [str(a.dst) for a in choice.alternatives] == ["10.244.1.2:80"]


# Every Service type × every mode: (src, dst, backend) → (final hop's netns, destination the backend sees,
# source the backend sees, source of the reply the client finally gets).
MATRIX = {
    "cluster-ip": ("pod/default/client", "svc/default/web:80", "10.244.1.2"),
    "node-port": ("203.0.113.7", "192.168.0.12:30080", "10.244.0.3"),
    "load-balancer": ("203.0.113.7", "svc/default/web:80", "10.244.1.2"),
    "external-ip": ("203.0.113.7", "192.168.0.100:80", "10.244.0.3"),
    "external-name": ("pod/default/client", "svc/default/ext:80", None),
}
SEEN = {
    # iptables and IPVS keep a pod client's address; the userspace proxy reconnects from the node
    ("cluster-ip", KubeProxyMode.IPTABLES): ("pod/default/web-b", "10.244.1.2:80", "10.244.0.2", "10.96.0.20:80"),
    ("cluster-ip", KubeProxyMode.IPVS): ("pod/default/web-b", "10.244.1.2:80", "10.244.0.2", "10.96.0.20:80"),
    ("cluster-ip", KubeProxyMode.USERSPACE): ("pod/default/web-b", "10.244.1.2:80", "10.244.0.0", "10.96.0.20:80"),
    ("cluster-ip", KubeProxyMode.NFTABLES): ("pod/default/web-b", "10.244.1.2:80", "10.244.0.2", "10.96.0.20:80"),
    # external traffic (Cluster policy) is masqueraded to the receiving node in every mode
    ("node-port", None): ("pod/default/web-a", "10.244.0.3:80", "10.244.1.0", "192.168.0.12:30080"),
    ("load-balancer", None): ("pod/default/web-b", "10.244.1.2:80", "10.244.0.0", "198.51.100.10:80"),
    ("external-ip", None): ("pod/default/web-a", "10.244.0.3:80", "10.244.0.1", "192.168.0.100:80"),
    # ExternalName: nothing proxied; the pod reaches example.com itself, masqueraded by flannel to node-1
    ("external-name", None): ("external", "203.0.113.10:80", "192.168.0.11", "203.0.113.10:80"),
}
SERVICE_HOP = {KubeProxyMode.IPTABLES: (HopKind.NETFILTER, Action.DNAT), KubeProxyMode.IPVS: (HopKind.IPVS, Action.DNAT),
               KubeProxyMode.USERSPACE: (HopKind.PROXY, Action.PROXY),
               KubeProxyMode.NFTABLES: (HopKind.NETFILTER, Action.DNAT)}


@pytest.mark.parametrize("mode", TRACED_MODES)
@pytest.mark.parametrize("kind", list(MATRIX))
def test_every_service_type_in_every_mode(kind, mode):
    src, dst, backend = MATRIX[kind]
    trace = trace_flow(full(mode), src, dst, backend=backend)
    assert trace.disposition == Disposition.DELIVERED, trace.reason
    netns, seen_dst, seen_src, reply_src = SEEN.get((kind, mode)) or SEEN[(kind, None)]
    last = trace.hops[-1]
    assert (last.netns, str(last.packet.dst), str(last.packet.src.ip)) == (netns, seen_dst, seen_src)
    assert str(trace.reply[-1].packet.src) == reply_src
    assert str(trace.reply[-1].packet.dst) == str(trace.hops[0].packet.src if kind != "external-name"
                                                  else next(h.packet.src for h in trace.hops
                                                            if h.packet.proto == "tcp"))
    # kube-proxy's own step for this mode (for ExternalName: the DNS query to kube-dns's cluster IP)
    assert SERVICE_HOP[mode] in {(h.kind, h.action) for h in trace.hops}


def test_dead_backend_ipvs_cannot_retry_either():
    trace = trace_flow(replace(full(KubeProxyMode.IPVS), down_pods=frozenset({"default/web-b"})),
                       "pod/default/client", "svc/default/web:80", backend="10.244.1.2")
    assert trace.disposition == Disposition.DROPPED
    assert trace.reason.startswith("backend pod default/web-b does not answer but is still a ready endpoint: the IPVS "
                                   "virtual server handed the connection to it, and IPVS does not retry another "
                                   "real server")
    assert trace.hops[-1].netns == "pod/default/web-b" and trace.hops[-1].action == Action.DROP


def test_load_balancer_shows_the_nesting_of_service_types():
    """LoadBalancer ⊃ NodePort ⊃ ClusterIP: the LB hop, then the node's chains down to the cluster-IP chain."""
    trace = trace_flow(full(load_balancer_mode=LoadBalancerMode.PROXY), "203.0.113.7", "svc/default/web:80",
                       backend="10.244.1.2")
    lb, choice = [h for h in trace.hops if h.alternatives]
    assert lb.kind == HopKind.LOADBALANCER and "(LoadBalancer ⊃ NodePort ⊃ ClusterIP)" in lb.explain
    assert choice.explain.startswith("PREROUTING → KUBE-SERVICES → KUBE-NODEPORTS → KUBE-EXT-CDGGSHYLG3RE2FKL → "
                                     "KUBE-SVC-CDGGSHYLG3RE2FKL: KUBE-SVC-CDGGSHYLG3RE2FKL picks one of 2 endpoint(s)")
    # the ClusterIP path ends in the same KUBE-SVC chain, entered directly from KUBE-SERVICES
    inside = trace_flow(full(), "pod/default/client", "svc/default/web:80", backend="10.244.1.2")
    (direct,) = [h for h in inside.hops if h.alternatives]
    assert direct.explain.startswith("PREROUTING → KUBE-SERVICES → KUBE-SVC-CDGGSHYLG3RE2FKL: ")


@pytest.mark.parametrize("mode, steps", [
    (KubeProxyMode.IPTABLES, [(HopKind.NETFILTER, Action.LOOKUP), (HopKind.NETFILTER, Action.MARK),
                              (HopKind.NETFILTER, Action.DNAT), (HopKind.NETFILTER, Action.MASQUERADE)]),
    (KubeProxyMode.IPVS, [(HopKind.IPVS, Action.DNAT), (HopKind.NETFILTER, Action.MASQUERADE)]),
    (KubeProxyMode.USERSPACE, [(HopKind.NETFILTER, Action.REDIRECT), (HopKind.PROXY, Action.PROXY)]),
    # nftables: the service-ips verdict map, the numgen draw, then as iptables (mark, dnat, masquerade)
    (KubeProxyMode.NFTABLES, [(HopKind.NETFILTER, Action.LOOKUP), (HopKind.NETFILTER, Action.LOOKUP),
                              (HopKind.NETFILTER, Action.MARK), (HopKind.NETFILTER, Action.DNAT),
                              (HopKind.NETFILTER, Action.MASQUERADE)]),
])
def test_hairpin_a_pod_reaching_itself_through_its_service_is_masqueraded(mode, steps):
    trace = trace_flow(full(mode), "pod/default/web-a", "svc/default/web:80", backend="10.244.0.3")
    assert trace.disposition == Disposition.DELIVERED
    assert [(h.kind, h.action) for h in trace.hops
            if h.kind in (HopKind.NETFILTER, HopKind.IPVS, HopKind.PROXY)] == steps
    last = trace.hops[-1]
    # the pod sees the connection come from cni0's address, so its reply goes back through the node
    assert (last.netns, str(last.packet.src.ip), str(last.packet.dst)) == ("pod/default/web-a", "10.244.0.1",
                                                                           "10.244.0.3:80")
    assert str(trace.reply[-1].packet.src) == "10.96.0.20:80"
