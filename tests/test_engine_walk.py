"""The hop-by-hop walk, per communication type: exact device sequences, inner and outer headers, NAT, reply.

Cluster: tests/factories.py `two_node_cluster` (node-1 192.168.0.11 / 10.244.0.0/24, node-2 192.168.0.12 /
10.244.1.0/24). Client ports are deterministic (sockets.ephemeral_port), so packets are exact strings.
"""

from dataclasses import replace

import pytest

from factories import make_container, make_pod, two_node_cluster, with_settings
from webapp.engine.datapath import node_datapath, veth_name
from webapp.engine.flows import trace_flow
from webapp.engine.trace import Action, Disposition, HopKind
from webapp.engine.sockets import ephemeral_port
from webapp.engine.walk import vxlan_source_port
from webapp.model import Bridge, KubeProxyMode, Overlay

CLIENT_VETH = veth_name("default/client")      # node-1 side of pod default/client
WEB_A_VETH = veth_name("default/web-a")        # node-1 side of pod default/web-a
WEB_B_VETH = veth_name("default/web-b")        # node-2 side of pod default/web-b


def steps(hops):
    return [f"{h.netns} {h.device} {h.kind}/{h.action}" for h in hops]


def packets(hops):
    return [str(h.packet) for h in hops]


def test_client_ports_are_deterministic():
    assert ephemeral_port("pod/client", "pod/web-b:80", "tcp") == 46057
    assert CLIENT_VETH == "veth6844d090" and len(CLIENT_VETH) <= 15


def test_pod_to_pod_same_node_crosses_the_bridge_without_nat():
    trace = trace_flow(two_node_cluster(), "pod/client", "pod/web-a:80")
    assert trace.flow.type == "pod-to-pod-same-node"
    assert trace.disposition == Disposition.DELIVERED and trace.reason is None
    assert steps(trace.hops) == [
        "pod/default/client client app/send",
        "pod/default/client eth0 route/lookup",
        "pod/default/client eth0 interface/send",
        f"host/node-1 {CLIENT_VETH} interface/forward",
        "host/node-1 cni0 bridge/forward",
        f"host/node-1 {WEB_A_VETH} interface/send",
        "pod/default/web-a eth0 interface/receive",
        "pod/default/web-a nginx app/deliver",
    ]
    assert set(packets(trace.hops)) == {"tcp 10.244.0.2:49770 → 10.244.0.3:80"}
    assert trace.hops[1].rule == "10.244.0.0/24 dev eth0 proto kernel scope link src 10.244.0.2"
    assert trace.hops[4].rule.endswith(f"dev {WEB_A_VETH} master cni0")
    assert trace.nat == () and trace.no_nat
    assert [h.node for h in trace.hops] == ["node-1"] * 8
    assert steps(trace.reply) == [
        "pod/default/web-a nginx app/send",
        "pod/default/web-a eth0 route/lookup",
        "pod/default/web-a eth0 interface/send",
        f"host/node-1 {WEB_A_VETH} interface/forward",
        "host/node-1 cni0 bridge/forward",
        f"host/node-1 {CLIENT_VETH} interface/send",
        "pod/default/client eth0 interface/receive",
        "pod/default/client client app/deliver",
    ]
    assert set(packets(trace.reply)) == {"tcp 10.244.0.3:80 → 10.244.0.2:49770"}
    assert trace.reply_nat == ()


def test_bridge_fdb_entry_names_the_destination_pods_mac():
    cluster = two_node_cluster()
    trace = trace_flow(cluster, "pod/client", "pod/web-a:80")
    entry = next(e for e in node_datapath(cluster, "node-1").bridge_fdb if e.dev == WEB_A_VETH and not e.permanent)
    assert trace.hops[4].rule == str(entry) == f"{entry.mac} dev {WEB_A_VETH} master cni0"


FLANNEL_OUTER = "[udp 192.168.0.11:51546 → 192.168.0.12:8472 vni 1] tcp 10.244.0.2:46057 → 10.244.1.2:80"
INNER = "tcp 10.244.0.2:46057 → 10.244.1.2:80"


def test_pod_to_pod_across_nodes_over_flannel_vxlan():
    cluster = two_node_cluster()
    trace = trace_flow(cluster, "pod/client", "pod/web-b:80")
    assert trace.flow.type == "pod-to-pod-cross-node"
    assert steps(trace.hops) == [
        "pod/default/client client app/send",
        "pod/default/client eth0 route/lookup",
        "pod/default/client eth0 interface/send",
        f"host/node-1 {CLIENT_VETH} interface/forward",
        "host/node-1 cni0 bridge/receive",
        "host/node-1 flannel.1 route/lookup",
        "host/node-1 flannel.1 vxlan/lookup",
        "host/node-1 flannel.1 vxlan/lookup",
        "host/node-1 flannel.1 vxlan/encapsulate",
        "host/node-1 eth0 route/lookup",
        "host/node-1 eth0 interface/send",
        "underlay 192.168.0.0/24 wire/forward",
        "host/node-2 eth0 interface/receive",
        "host/node-2 flannel.1 vxlan/decapsulate",
        "host/node-2 cni0 route/lookup",
        "host/node-2 cni0 bridge/forward",
        f"host/node-2 {WEB_B_VETH} interface/send",
        "pod/default/web-b eth0 interface/receive",
        "pod/default/web-b nginx app/deliver",
    ]
    assert packets(trace.hops) == [INNER] * 8 + [FLANNEL_OUTER] * 5 + [INNER] * 6
    outer = trace.hops[8].packet.outer
    assert (str(outer.src), str(outer.dst), outer.proto, outer.vni) == (
        "192.168.0.11:51546", "192.168.0.12:8472", "udp", 1)
    assert outer.src.port == vxlan_source_port(trace.hops[0].packet)
    vtep_mac = node_datapath(cluster, "node-2").device_by_name["flannel.1"].mac
    assert [h.rule for h in trace.hops[1:10]] == [
        "10.244.0.0/16 via 10.244.0.1 dev eth0",
        "",
        "",
        f"{node_datapath(cluster, 'node-1').device_by_name['cni0'].mac} is cni0's own address",
        "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
        f"10.244.1.0 dev flannel.1 lladdr {vtep_mac} PERMANENT",
        f"{vtep_mac} dev flannel.1 dst 192.168.0.12 self permanent",
        "vxlan id 1 local 192.168.0.11 dev eth0 dstport 8472 nolearning",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11",
    ]
    assert trace.hops[11].node is None  # the physical network
    assert trace.nat == ()
    reply = trace.reply
    assert [h.device for h in reply] == [
        "nginx", "eth0", "eth0", WEB_B_VETH, "cni0", "flannel.1", "flannel.1", "flannel.1", "flannel.1", "eth0",
        "eth0", "192.168.0.0/24", "eth0", "flannel.1", "cni0", "cni0", CLIENT_VETH, "eth0", "client"]
    assert str(reply[8].packet) == (
        "[udp 192.168.0.12:60886 → 192.168.0.11:8472 vni 1] tcp 10.244.1.2:80 → 10.244.0.2:46057")
    assert str(reply[-1].packet) == "tcp 10.244.1.2:80 → 10.244.0.2:46057"
    assert trace.reply_nat == ()


def test_pod_to_pod_across_nodes_over_host_gw_has_no_encapsulation():
    trace = trace_flow(two_node_cluster(Overlay.FLANNEL_HOST_GW), "pod/client", "pod/web-b:80")
    assert steps(trace.hops) == [
        "pod/default/client client app/send",
        "pod/default/client eth0 route/lookup",
        "pod/default/client eth0 interface/send",
        f"host/node-1 {CLIENT_VETH} interface/forward",
        "host/node-1 cni0 bridge/receive",
        "host/node-1 eth0 route/lookup",
        "host/node-1 eth0 interface/send",
        "underlay 192.168.0.0/24 wire/forward",
        "host/node-2 eth0 interface/receive",
        "host/node-2 cni0 route/lookup",
        "host/node-2 cni0 bridge/forward",
        f"host/node-2 {WEB_B_VETH} interface/send",
        "pod/default/web-b eth0 interface/receive",
        "pod/default/web-b nginx app/deliver",
    ]
    assert set(packets(trace.hops)) == {INNER}
    assert all(h.packet.outer is None for h in (*trace.hops, *trace.reply))
    assert trace.hops[5].rule == "10.244.1.0/24 via 192.168.0.12 dev eth0"
    assert trace.reply[5].rule == "10.244.0.0/24 via 192.168.0.11 dev eth0"
    assert trace.nat == () and trace.reply_nat == ()


def test_pod_to_pod_across_nodes_over_ovs_vxlan():
    trace = trace_flow(two_node_cluster(Overlay.OVS_VXLAN, Bridge.DOCKER0), "pod/client", "pod/web-b:80")
    assert steps(trace.hops) == [
        "pod/default/client client app/send",
        "pod/default/client eth0 route/lookup",
        "pod/default/client eth0 interface/send",
        f"host/node-1 {CLIENT_VETH} interface/forward",
        "host/node-1 docker0 bridge/receive",
        "host/node-1 docker0 route/lookup",
        "host/node-1 docker0 bridge/forward",
        "host/node-1 obr0 ovs/forward",
        "host/node-1 vxlanc0a8000c vxlan/encapsulate",
        "host/node-1 eth0 route/lookup",
        "host/node-1 eth0 interface/send",
        "underlay 192.168.0.0/24 wire/forward",
        "host/node-2 eth0 interface/receive",
        "host/node-2 vxlanc0a8000b vxlan/decapsulate",
        "host/node-2 obr0 ovs/forward",
        "host/node-2 docker0 bridge/forward",
        f"host/node-2 {WEB_B_VETH} interface/send",
        "pod/default/web-b eth0 interface/receive",
        "pod/default/web-b nginx app/deliver",
    ]
    ovs_outer = "[udp 192.168.0.11:51546 → 192.168.0.12:4789 vni 1] tcp 10.244.0.2:46057 → 10.244.1.2:80"
    assert packets(trace.hops) == [INNER] * 8 + [ovs_outer] * 5 + [INNER] * 6
    assert trace.hops[5].rule == "10.244.0.0/16 dev docker0 scope link src 10.244.0.1"
    assert trace.hops[7].rule == ("table=0,priority=100,ip,in_port=LOCAL,nw_dst=10.244.1.0/24 "
                                  "actions=output:vxlanc0a8000c")
    assert trace.hops[14].rule == ("table=0,priority=100,ip,in_port=vxlanc0a8000b,nw_dst=10.244.1.0/24 "
                                   "actions=output:LOCAL")
    assert trace.nat == () and trace.reply_nat == ()
    assert trace.reply[-1].action == Action.DELIVER


def test_container_to_container_over_loopback():
    trace = trace_flow(two_node_cluster(), "pod/duo:app", "localhost:9090")
    assert trace.flow.type == "container-to-container"
    assert steps(trace.hops) == [
        "pod/default/duo app app/send", "pod/default/duo lo loopback/forward", "pod/default/duo metrics app/deliver"]
    port = ephemeral_port("pod/duo:app", "localhost:9090", "tcp")
    assert set(packets(trace.hops)) == {f"tcp 127.0.0.1:{port} → 127.0.0.1:9090"}
    assert steps(trace.reply) == [
        "pod/default/duo metrics app/send", "pod/default/duo lo loopback/forward", "pod/default/duo app app/deliver"]
    assert trace.nat == ()


def test_two_containers_on_one_port_is_reported():
    trace = trace_flow(two_node_cluster(), "pod/clash:one", "localhost:8080")
    assert trace.disposition == Disposition.DROPPED
    assert trace.reason == ("containers one and two of pod default/clash both listen on 8080/TCP: they share the "
                            "pause container's network namespace, so only one can bind the port")
    assert steps(trace.hops)[-1] == "pod/default/clash lo app/drop"
    assert trace.reply == ()


def test_nothing_listening_is_rejected_with_the_declared_ports():
    trace = trace_flow(two_node_cluster(), "pod/client", "pod/web-a:81")
    assert trace.disposition == Disposition.REJECTED
    assert trace.reason == "nothing listens on 81/TCP in pod default/web-a (its containers declare nginx 80/TCP)"
    assert trace.reply == ()


def test_node_to_pod_uses_the_vtep_address_and_no_nat():
    trace = trace_flow(two_node_cluster(), "node/node-1", "pod/web-b:80")
    assert trace.flow.type == "node-to-pod"
    assert str(trace.hops[0].packet).startswith("tcp 10.244.0.0:")  # flannel.1's /32: source of host→pod traffic
    assert trace.hops[0].device == "socket" and trace.hops[0].netns == "host/node-1"
    assert trace.nat == () and trace.reply_nat == ()
    assert steps(trace.reply)[-1] == "host/node-1 socket app/deliver"


def test_node_to_pod_over_host_gw_keeps_the_node_address():
    trace = trace_flow(two_node_cluster(Overlay.FLANNEL_HOST_GW), "node/node-1", "pod/web-b:80")
    port = ephemeral_port("node/node-1", "pod/web-b:80", "tcp")
    assert port == 51026
    # Masquerading to the node's own address keeps it; --random-fully draws a new source port all the same.
    assert str(trace.hops[-1].packet) == "tcp 192.168.0.11:61578 → 10.244.1.2:80"
    masq = [h for h in trace.hops if h.kind == HopKind.NETFILTER]
    assert [h.rule for h in masq] == [
        'nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" '
        '-j MASQUERADE --random-fully']
    assert trace.nat == () and trace.no_nat  # the addresses stay: the seed's second principle holds
    assert [(str(c), c.hop, c.reply) for c in trace.port_rewrites] == [
        ("src 192.168.0.11:51026 → 192.168.0.11:61578", 2, False), ("dst 192.168.0.11:61578 → 192.168.0.11:51026",
                                                                   9, True)]
    assert (trace.hops[2].action, trace.reply[9].action) == (Action.MASQUERADE, Action.UNSNAT)
    assert str(trace).splitlines()[len(trace.hops) + 2:len(trace.hops) + 4] == [
        "  NAT: none (pod addresses seen end to end)",
        "  ports: src 192.168.0.11:51026 → 192.168.0.11:61578 (the address is kept)"]
    assert trace.notes == ("No NAT between a node and a pod (the seed's second principle).",)
    assert str(trace.reply[-1].packet) == "tcp 10.244.1.2:80 → 192.168.0.11:51026"


def test_pod_to_own_node_is_not_masqueraded():
    trace = trace_flow(two_node_cluster(), "pod/client", "node/node-1:10250")
    assert trace.flow.type == "pod-to-node"
    assert steps(trace.hops)[-2:] == ["host/node-1 cni0 bridge/receive", "host/node-1 kubelet app/deliver"]
    assert trace.nat == ()


def test_pod_to_other_node_is_masqueraded_by_flannel_and_unmasqueraded_on_reply():
    trace = trace_flow(two_node_cluster(), "pod/web-b", "node/node-1:10250")
    port = ephemeral_port("pod/web-b", "node/node-1:10250", "tcp")
    assert [(c.field, c.before, c.after) for c in trace.nat] == [
        ("src", f"10.244.1.2:{port}", "192.168.0.12:8000")]
    assert "flannel's ipMasq masquerades" in trace.notes[0]
    unsnat = [h for h in trace.reply if h.action == Action.UNSNAT]
    assert [(h.netns, h.device, str(h.packet)) for h in unsnat] == [
        ("host/node-2", "conntrack", f"tcp 192.168.0.11:10250 → 10.244.1.2:{port}")]
    assert str(trace.reply[-1].packet) == f"tcp 192.168.0.11:10250 → 10.244.1.2:{port}"


def test_pod_to_external_is_masqueraded_to_the_node_ip():
    trace = trace_flow(two_node_cluster(), "pod/client", "203.0.113.10:443")
    assert trace.flow.type == "pod-to-external"
    assert steps(trace.hops) == [
        "pod/default/client client app/send",
        "pod/default/client eth0 route/lookup",
        "pod/default/client eth0 interface/send",
        f"host/node-1 {CLIENT_VETH} interface/forward",
        "host/node-1 cni0 bridge/receive",
        "host/node-1 eth0 route/lookup",
        "host/node-1 iptables netfilter/masquerade",
        "host/node-1 eth0 interface/send",
        "underlay 192.168.0.0/24 wire/forward",
        "underlay gateway wire/forward",
        "external example app/deliver",
    ]
    assert trace.hops[5].rule == "default via 192.168.0.1 dev eth0"
    assert trace.hops[6].rule == ('nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment '
                                  '"flanneld masq" -j MASQUERADE --random-fully')
    # --random-fully: 1024 + CRC-32("tcp|10.244.0.2:47133|203.0.113.10:443") mod 64512 = 31000.
    assert [(c.hop, c.field, c.before, c.after) for c in trace.nat] == [
        (6, "src", "10.244.0.2:47133", "192.168.0.11:31000")]
    assert str(trace.hops[-1].packet) == "tcp 192.168.0.11:31000 → 203.0.113.10:443"
    assert [h.node for h in trace.hops[-3:]] == [None, None, None]
    assert steps(trace.reply) == [
        "external example app/send",
        "underlay gateway wire/forward",
        "host/node-1 eth0 interface/receive",
        "host/node-1 conntrack netfilter/un-snat",
        "host/node-1 cni0 route/lookup",
        "host/node-1 cni0 bridge/forward",
        f"host/node-1 {CLIENT_VETH} interface/send",
        "pod/default/client eth0 interface/receive",
        "pod/default/client client app/deliver",
    ]
    assert [(c.field, c.before, c.after) for c in trace.reply_nat] == [
        ("dst", "192.168.0.11:31000", "10.244.0.2:47133")]
    assert str(trace.reply[-1].packet) == "tcp 203.0.113.10:443 → 10.244.0.2:47133"


def test_without_ip_masq_the_pod_address_leaves_the_cluster():
    cluster = with_settings(two_node_cluster(), ip_masq=False)
    trace = trace_flow(cluster, "pod/client", "203.0.113.10:443")
    assert trace.nat == ()
    assert str(trace.hops[-1].packet) == "tcp 10.244.0.2:47133 → 203.0.113.10:443"


def test_external_client_cannot_reach_a_pod_ip():
    trace = trace_flow(two_node_cluster(), "203.0.113.10", "pod/web-b:80")
    assert trace.flow.type == "external-to-pod"
    assert trace.disposition == Disposition.NO_ROUTE
    assert steps(trace.hops) == ["external example app/send", "underlay gateway wire/drop"]
    assert trace.reason == ("the network outside the nodes has no route to 10.244.1.2: the cluster's pod network is "
                            "not routed outside the cluster; expose the pod through a Service")
    assert trace.reply == ()


def test_pod_to_service_dnat_and_conntrack_reply():
    trace = trace_flow(two_node_cluster(), "pod/client", "svc/web", backend="10.244.1.2")
    assert trace.flow.type == "pod-to-service"
    port = ephemeral_port("pod/client", "svc/web", "tcp")
    assert [(c.field, c.before, c.after) for c in trace.nat] == [("dst", "10.96.0.20:80", "10.244.1.2:80")]
    assert trace.nat[0].rule.startswith("nat -A KUBE-SEP-")
    assert str(trace.hops[-1].packet) == f"tcp 10.244.0.2:{port} → 10.244.1.2:80"
    assert trace.hops[-1].netns == "pod/default/web-b"
    undnat = [h for h in trace.reply if h.action == Action.UNDNAT]
    assert [(h.netns, h.device, str(h.packet)) for h in undnat] == [
        ("host/node-1", "conntrack", f"tcp 10.96.0.20:80 → 10.244.0.2:{port}")]
    assert [(c.field, c.before, c.after) for c in trace.reply_nat] == [("src", "10.244.1.2:80", "10.96.0.20:80")]
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.20:80 → 10.244.0.2:{port}"


def test_same_node_backend_reply_is_undone_on_the_bridge():
    """The reply is bridged (same /24), so only br_netfilter's hooks let conntrack restore the service address."""
    trace = trace_flow(two_node_cluster(), "pod/client", "svc/web", backend="10.244.0.3")
    port = ephemeral_port("pod/client", "svc/web", "tcp")
    assert steps(trace.reply) == [
        "pod/default/web-a nginx app/send",
        "pod/default/web-a eth0 route/lookup",
        "pod/default/web-a eth0 interface/send",
        f"host/node-1 {WEB_A_VETH} interface/forward",
        "host/node-1 conntrack netfilter/un-dnat",
        "host/node-1 cni0 bridge/forward",
        f"host/node-1 {CLIENT_VETH} interface/send",
        "pod/default/client eth0 interface/receive",
        "pod/default/client client app/deliver",
    ]
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.20:80 → 10.244.0.2:{port}"


def test_ipvs_node_to_service_is_scheduled_at_local_out():
    cluster = two_node_cluster(mode=KubeProxyMode.IPVS)
    trace = trace_flow(cluster, "node/node-1", "svc/web", backend="10.244.1.2")
    assert trace.flow.type == "node-to-service"
    port = ephemeral_port("node/node-1", "svc/web", "tcp")
    # The VIP is a local address (kube-ipvs0), so the kernel picks it as the source too.
    assert str(trace.hops[0].packet) == f"tcp 10.96.0.20:{port} → 10.96.0.20:80"
    kinds = [(h.kind, h.action) for h in trace.hops]
    assert kinds.index((HopKind.LOOPBACK, Action.FORWARD)) < kinds.index((HopKind.IPVS, Action.DNAT))
    assert str(trace.hops[-1].packet).endswith("→ 10.244.1.2:80")
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.20:80 → 10.96.0.20:{port}"
    assert trace.notes == ()


def test_host_network_pod_is_a_socket_of_its_node():
    base = two_node_cluster()
    agent = make_pod("kube-system", "agent", "node-2", "192.168.0.12", make_container("agent", 9100),
                     host_network=True)
    cluster = replace(base, pods=base.pods + (agent,))
    trace = trace_flow(cluster, "pod/client", "pod/kube-system/agent:9100")
    assert trace.flow.type == "pod-to-node"
    assert steps(trace.hops)[-1] == "host/node-2 agent app/deliver"
    assert trace_flow(cluster, "pod/kube-system/agent", "pod/client:80").flow.type == "node-to-pod"


def test_an_address_no_node_leases_leaves_by_the_default_route_and_dies_at_the_gateway():
    trace = trace_flow(two_node_cluster(), "pod/client", "10.244.9.9:80")
    assert trace.flow.type == "pod-to-pod-cross-node"
    assert trace.disposition == Disposition.NO_ROUTE
    assert trace.hops[5].rule == "default via 192.168.0.1 dev eth0"
    assert steps(trace.hops)[-1] == "underlay gateway wire/drop"
    assert trace.nat == ()  # FLANNEL-POSTRTG returns for pod → cluster CIDR


@pytest.mark.parametrize("overlay", list(Overlay))
def test_every_overlay_delivers_every_pod_pair_both_ways(overlay):
    cluster = two_node_cluster(overlay)
    for src in ("pod/client", "pod/web-b"):
        for dst in ("pod/web-a:80", "pod/web-b:80", "pod/duo:8080"):
            if src == "pod/web-b" and dst == "pod/web-b:80":
                continue
            trace = trace_flow(cluster, src, dst)
            assert trace.disposition == Disposition.DELIVERED, (src, dst, trace.reason)
            assert trace.nat == () and trace.reply_nat == ()
            assert trace.reply[-1].packet == trace.hops[0].packet.reversed()


@pytest.mark.parametrize(("overlay", "port"), [(Overlay.FLANNEL_VXLAN, 8472), (Overlay.OVS_VXLAN, 4789)])
def test_tunnels_between_node_subnets_cross_the_gateway_by_their_outer_header(overlay, port):
    """node-290 (10.0.1.44) is outside node-0's network 10.0.0.0/24: the outer packet goes via the gateway."""
    from ipaddress import IPv4Network

    from factories import big_cluster

    cluster = with_settings(big_cluster(300, 2), overlay=overlay, node_network=IPv4Network("10.0.0.0/24"))
    trace = trace_flow(cluster, "pod/ns-0/pod-0-0", "pod/ns-1/pod-290-1:8080")
    assert trace.disposition == Disposition.DELIVERED
    gateway = next(h for h in trace.hops if h.device == "gateway")
    assert gateway.rule == "10.0.1.44 → node node-290"
    assert str(gateway.packet.outer.dst) == f"10.0.1.44:{port}"
    assert trace.nat == () and trace.reply[-1].packet == trace.hops[0].packet.reversed()


def test_without_a_node_network_all_nodes_share_one_inferred_segment():
    from factories import big_cluster

    from webapp.engine.datapath import underlay_gateway, underlay_network

    cluster = with_settings(big_cluster(300, 2), node_network=None)
    node = cluster.nodes[0]
    assert str(underlay_network(cluster, node)) == "10.0.0.0/23"
    assert str(underlay_gateway(cluster, node)) == "10.0.0.1"
    trace = trace_flow(cluster, "pod/ns-0/pod-0-0", "pod/ns-1/pod-290-1:8080")
    assert "underlay 10.0.0.0/23 wire/forward" in steps(trace.hops)
    assert trace.disposition == Disposition.DELIVERED


def test_userspace_proxy_splits_the_connection_and_the_reply_returns_leg_by_leg():
    trace = trace_flow(two_node_cluster(mode=KubeProxyMode.USERSPACE), "pod/client", "svc/web", backend="10.244.1.2")
    port = ephemeral_port("pod/client", "svc/web", "tcp")
    proxy = [h for h in trace.hops if h.kind == HopKind.PROXY]
    assert [(h.netns, h.device, h.action) for h in proxy] == [("host/node-1", "kube-proxy", Action.PROXY)]
    assert str(trace.hops[-1].packet).startswith("tcp 10.244.0.0:")  # the backend sees node-1 (flannel.1), not the pod
    middle = [(h.device, h.kind, h.action) for h in trace.reply if h.kind == HopKind.PROXY]
    assert middle == [("kube-proxy", HopKind.PROXY, Action.DELIVER), ("kube-proxy", HopKind.PROXY, Action.SEND)]
    assert steps(trace.reply)[-1] == "pod/default/client client app/deliver"
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.20:80 → 10.244.0.2:{port}"
    assert trace.notes == ()


def test_headless_service_goes_straight_to_a_ready_pod():
    base = two_node_cluster()
    cluster = replace(base, services=(replace(base.services[0], cluster_ip=None),))
    trace = trace_flow(cluster, "pod/client", "svc/web")
    assert trace.flow.type == "pod-to-pod-same-node"
    assert str(trace.hops[-1].packet).endswith("→ 10.244.0.3:80") and trace.nat == ()
    with pytest.raises(ValueError, match=r"^svc/web: headless service default/web has no ready endpoints "
                                         r"\(selector app=web\)$"):
        trace_flow(replace(cluster, endpoints=()), "pod/client", "svc/web")


def hook_calls(monkeypatch, src, dst, cluster=None):
    """(node, hook, in_dev, out_dev) of every netfilter.traverse call the walk makes, in order."""
    from webapp.engine import netfilter

    calls = []
    real = netfilter.traverse

    def recording(ruleset, hook, ctx):
        calls.append((ctx.node, str(hook), ctx.in_dev, ctx.out_dev))
        return real(ruleset, hook, ctx)

    monkeypatch.setattr(netfilter, "traverse", recording)
    trace_flow(cluster or two_node_cluster(), src, dst)
    return calls


def test_netfilter_hooks_run_in_the_kernels_order(monkeypatch):
    # forwarded on both nodes; routed in by cni0 / flannel.1
    assert hook_calls(monkeypatch, "pod/client", "pod/web-b:80") == [
        ("node-1", "PREROUTING", "cni0", None), ("node-1", "FORWARD", "cni0", "flannel.1"),
        ("node-1", "POSTROUTING", "cni0", "flannel.1"),
        ("node-2", "PREROUTING", "flannel.1", None), ("node-2", "FORWARD", "flannel.1", "cni0"),
        ("node-2", "POSTROUTING", "flannel.1", "cni0"),
    ]


def test_bridged_frames_pass_the_hooks_with_the_bridge_as_device(monkeypatch):
    assert hook_calls(monkeypatch, "pod/client", "pod/web-a:80") == [
        ("node-1", "PREROUTING", "cni0", None), ("node-1", "FORWARD", "cni0", "cni0"),
        ("node-1", "POSTROUTING", "cni0", "cni0"),
    ]


def test_locally_generated_and_locally_delivered_hooks(monkeypatch):
    assert hook_calls(monkeypatch, "node/node-1", "node/node-2:10250") == [
        ("node-1", "OUTPUT", None, None), ("node-1", "POSTROUTING", None, "eth0"),
        ("node-2", "PREROUTING", "eth0", None), ("node-2", "INPUT", "eth0", None),
    ]
    assert hook_calls(monkeypatch, "node/node-1", "localhost:10250") == [
        ("node-1", "OUTPUT", None, None), ("node-1", "POSTROUTING", None, "lo"), ("node-1", "INPUT", "lo", None),
    ]


def lb_cluster():
    from ipaddress import IPv4Address

    from webapp.model import LoadBalancerMode, ServiceType

    base = two_node_cluster()
    web = base.services[0]
    lb = replace(web, type=ServiceType.LOAD_BALANCER, ports=(replace(web.ports[0], node_port=30080),),
                 load_balancer_ips=(IPv4Address("203.0.113.100"),), external_ips=(IPv4Address("192.168.0.100"),),
                 load_balancer_mode=LoadBalancerMode.PROXY)
    return replace(base, services=(lb,))


def test_outside_client_through_the_cloud_load_balancer_and_back():
    trace = trace_flow(lb_cluster(), "203.0.113.10", "203.0.113.100:80", backend="10.244.1.2")
    assert trace.flow.type == "loadbalancer"
    assert steps(trace.hops)[:5] == [
        "external example app/send", "external cloud-load-balancer loadbalancer/dnat", "underlay gateway wire/forward",
        "host/node-1 eth0 interface/receive", "host/node-1 iptables netfilter/mark"]
    assert trace.hops[2].rule == "192.168.0.11 → node node-1"
    assert trace.hops[-1].netns == "pod/default/web-b"
    lb_undo = [h for h in trace.reply if h.kind == HopKind.LOADBALANCER]
    assert [(h.device, h.action) for h in lb_undo] == [("cloud-load-balancer", Action.UNDNAT)]
    assert lb_undo[0].node is None
    assert str(trace.reply[-1].packet) == str(trace.hops[0].packet.reversed())
    assert steps(trace.reply)[-1] == "external example app/deliver"
    assert trace.notes == ()


def test_external_ips_are_routed_to_the_first_ready_node():
    trace = trace_flow(lb_cluster(), "203.0.113.10", "192.168.0.100:80", backend="10.244.0.3")
    assert trace.flow.type == "externalips"
    assert trace.hops[1].rule == "192.168.0.100 → node node-1"
    assert trace.disposition == Disposition.DELIVERED
    assert str(trace.reply[-1].packet).startswith("tcp 192.168.0.100:80 → 203.0.113.10:")


def test_node_to_pod_exact_path_over_flannel_vxlan():
    trace = trace_flow(two_node_cluster(), "node/node-1", "pod/web-b:80")
    port = ephemeral_port("node/node-1", "pod/web-b:80", "tcp")
    assert steps(trace.hops) == [
        "host/node-1 socket app/send",
        "host/node-1 flannel.1 route/lookup",
        "host/node-1 flannel.1 vxlan/lookup",
        "host/node-1 flannel.1 vxlan/lookup",
        "host/node-1 flannel.1 vxlan/encapsulate",
        "host/node-1 eth0 route/lookup",
        "host/node-1 eth0 interface/send",
        "underlay 192.168.0.0/24 wire/forward",
        "host/node-2 eth0 interface/receive",
        "host/node-2 flannel.1 vxlan/decapsulate",
        "host/node-2 cni0 route/lookup",
        "host/node-2 cni0 bridge/forward",
        f"host/node-2 {WEB_B_VETH} interface/send",
        "pod/default/web-b eth0 interface/receive",
        "pod/default/web-b nginx app/deliver",
    ]
    inner = f"tcp 10.244.0.0:{port} → 10.244.1.2:80"
    outer = f"[udp 192.168.0.11:{vxlan_source_port(trace.hops[0].packet)} → 192.168.0.12:8472 vni 1] {inner}"
    assert packets(trace.hops) == [inner] * 4 + [outer] * 5 + [inner] * 6
    assert steps(trace.reply)[-3:] == [
        "host/node-1 eth0 interface/receive", "host/node-1 flannel.1 vxlan/decapsulate", "host/node-1 socket app/deliver"]


def test_pod_to_its_own_node_exact_path_both_ways():
    trace = trace_flow(two_node_cluster(), "pod/client", "node/node-1:10250")
    port = ephemeral_port("pod/client", "node/node-1:10250", "tcp")
    assert steps(trace.hops) == [
        "pod/default/client client app/send",
        "pod/default/client eth0 route/lookup",
        "pod/default/client eth0 interface/send",
        f"host/node-1 {CLIENT_VETH} interface/forward",
        "host/node-1 cni0 bridge/receive",
        "host/node-1 kubelet app/deliver",
    ]
    assert set(packets(trace.hops)) == {f"tcp 10.244.0.2:{port} → 192.168.0.11:10250"}
    assert trace.hops[1].rule == "default via 10.244.0.1 dev eth0"
    assert steps(trace.reply) == [
        "host/node-1 kubelet app/send",
        "host/node-1 cni0 route/lookup",
        "host/node-1 cni0 bridge/forward",
        f"host/node-1 {CLIENT_VETH} interface/send",
        "pod/default/client eth0 interface/receive",
        "pod/default/client client app/deliver",
    ]
    assert trace.nat == () and trace.reply_nat == ()
