"""Per-node datapath tables: what flannel (VXLAN, host-gw), the bridge plugin and the OVS design program."""

import re
from ipaddress import IPv4Address, IPv4Interface

import pytest

from factories import two_node_cluster, with_settings
from webapp.engine.cni_rules import render_cni_rules
from webapp.engine.datapath import (
    DeviceKind, Route, RouteTable, mac_address, node_datapath, pod_datapath, render_node_tables, veth_name,
)
from webapp.model import Bridge, KubeProxyMode, Overlay

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def test_flannel_vxlan_node_tables():
    cluster = two_node_cluster()
    dp = node_datapath(cluster, "node-1")
    remote_vtep = node_datapath(cluster, "node-2").device_by_name["flannel.1"].mac
    assert [str(r) for r in dp.routes] == [
        "default via 192.168.0.1 dev eth0",
        "10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1",
        "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11",
    ]
    assert [str(n) for n in dp.neighbours] == [f"10.244.1.0 dev flannel.1 lladdr {remote_vtep} PERMANENT"]
    assert [str(e) for e in dp.vxlan_fdb] == [f"{remote_vtep} dev flannel.1 dst 192.168.0.12 self permanent"]
    vxlan = dp.device_by_name["flannel.1"]
    assert (vxlan.kind, vxlan.mtu, vxlan.addresses) == (DeviceKind.VXLAN, 1450, (IPv4Interface("10.244.0.0/32"),))
    assert str(vxlan.vxlan) == "vxlan id 1 local 192.168.0.11 dev eth0 dstport 8472 nolearning"
    bridge = dp.device_by_name["cni0"]
    assert (bridge.kind, bridge.mtu, bridge.addresses) == (DeviceKind.BRIDGE, 1450, (IPv4Interface("10.244.0.1/24"),))
    assert [d.name for d in dp.devices][:4] == ["lo", "eth0", "cni0", "flannel.1"]


def test_host_gw_routes_via_the_peer_node_and_has_no_vxlan():
    dp = node_datapath(two_node_cluster(Overlay.FLANNEL_HOST_GW), "node-2")
    assert [str(r) for r in dp.routes] == [
        "default via 192.168.0.1 dev eth0",
        "10.244.0.0/24 via 192.168.0.11 dev eth0",
        "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.12",
    ]
    assert dp.neighbours == () and dp.vxlan_fdb == ()
    assert "flannel.1" not in dp.device_by_name
    assert dp.device_by_name["cni0"].mtu == 1500


def test_veths_are_named_like_the_cni_and_pair_with_pod_eth0():
    cluster = two_node_cluster()
    dp = node_datapath(cluster, "node-1")
    veths = [d for d in dp.devices if d.kind == DeviceKind.VETH]
    assert [d.name for d in veths] == [veth_name(k) for k in
                                       ("default/client", "default/web-a", "default/duo", "default/clash")]
    assert all(re.fullmatch(r"veth[0-9a-f]{8}", d.name) and len(d.name) <= 15 for d in veths)
    assert [(d.master, str(d.peer), d.ifindex) for d in veths][0] == ("cni0", "pod/default/client:eth0", 10)
    pod = pod_datapath(cluster, "default/client")
    eth0 = pod.device_by_name["eth0"]
    assert (eth0.peer.netns, eth0.peer.name, eth0.peer.ifindex) == ("host/node-1", veths[0].name, 10)
    assert eth0.addresses == (IPv4Interface("10.244.0.2/24"),)
    assert [str(r) for r in pod.routes] == [
        "default via 10.244.0.1 dev eth0",
        "10.244.0.0/16 via 10.244.0.1 dev eth0",
        "10.244.0.0/24 dev eth0 proto kernel scope link src 10.244.0.2",
    ]


def test_bridge_fdb_has_each_ports_own_mac_and_the_learned_pod_mac():
    cluster = two_node_cluster()
    dp = node_datapath(cluster, "node-1")
    veth = veth_name("default/web-a")
    own = dp.device_by_name[veth].mac
    pod_mac = pod_datapath(cluster, "default/web-a").device_by_name["eth0"].mac
    assert [str(e) for e in dp.bridge_fdb if e.dev == veth] == [
        f"{own} dev {veth} master cni0 permanent", f"{pod_mac} dev {veth} master cni0"]
    assert dp.fdb_lookup("cni0", pod_mac).dev == veth
    assert dp.fdb_lookup("cni0", "02:00:00:00:00:01") is None


def test_vxlan_lookups_never_return_the_nodes_own_lease():
    cluster = two_node_cluster()
    dp = node_datapath(cluster, "node-1")
    own_vtep = dp.device_by_name["flannel.1"]
    assert dp.neighbour_lookup("flannel.1", IPv4Address("10.244.0.0")) is None
    assert dp.fdb_lookup("flannel.1", own_vtep.mac) is None
    assert dp.neighbour_lookup("flannel.1", IPv4Address("10.244.1.0")).lladdr == \
        node_datapath(cluster, "node-2").device_by_name["flannel.1"].mac


def test_macs_are_deterministic_locally_administered_unicast():
    assert mac_address("pod", "default/client") == mac_address("pod", "default/client")
    mac = mac_address("pod", "default/client")
    assert MAC.match(mac)
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01
    assert node_datapath(two_node_cluster(), "node-1") == node_datapath(two_node_cluster(), "node-1")


def test_ovs_design_bridges_obr0_into_the_linux_bridge():
    cluster = two_node_cluster(Overlay.OVS_VXLAN, Bridge.DOCKER0)
    dp = node_datapath(cluster, "node-1")
    assert [(d.name, str(d.kind), d.master) for d in dp.devices[:5]] == [
        ("lo", "loopback", None), ("eth0", "nic", None), ("docker0", "bridge", None),
        ("obr0", "ovs-bridge", "docker0"), ("vxlanc0a8000c", "ovs-vxlan-port", "obr0")]
    port = dp.device_by_name["vxlanc0a8000c"]
    assert str(port.vxlan) == "vxlan id 1 remote 192.168.0.12 local 192.168.0.11 dstport 4789 nolearning"
    assert "10.244.0.0/16 dev docker0 scope link src 10.244.0.1" in [str(r) for r in dp.routes]
    assert [str(f) for f in dp.ovs_flows] == [
        "table=0,priority=100,ip,in_port=LOCAL,nw_dst=10.244.1.0/24 actions=output:vxlanc0a8000c",
        "table=0,priority=100,arp,in_port=LOCAL,arp_tpa=10.244.1.0/24 actions=output:vxlanc0a8000c",
        "table=0,priority=100,ip,in_port=vxlanc0a8000c,nw_dst=10.244.0.0/24 actions=output:LOCAL",
        "table=0,priority=100,arp,in_port=vxlanc0a8000c,arp_tpa=10.244.0.0/24 actions=output:LOCAL",
    ]
    web_b_mac = pod_datapath(cluster, "default/web-b").device_by_name["eth0"].mac
    assert str(dp.fdb_lookup("docker0", web_b_mac)) == f"{web_b_mac} dev obr0 master docker0"


def test_ipvs_mode_binds_every_vip_to_kube_ipvs0():
    dp = node_datapath(two_node_cluster(mode=KubeProxyMode.IPVS), "node-2")
    dummy = dp.device_by_name["kube-ipvs0"]
    assert (dummy.kind, dummy.state, dummy.addresses) == (DeviceKind.DUMMY, "DOWN", (IPv4Interface("10.96.0.20/32"),))
    assert dp.is_local(IPv4Address("10.96.0.20"))
    assert not node_datapath(two_node_cluster(), "node-2").is_local(IPv4Address("10.96.0.20"))


def test_route_table_longest_prefix_match_and_shared_fallback():
    shared = RouteTable([Route(two_node_cluster().nodes[1].pod_cidr, "flannel.1")])
    local = RouteTable([Route(two_node_cluster().settings.pod_cidr, "cni0"),
                        Route(two_node_cluster().nodes[0].pod_cidr, "cni0", scope="link")], shared)
    assert local.lookup(IPv4Address("10.244.1.7")).dev == "flannel.1"
    assert local.lookup(IPv4Address("10.244.0.7")).scope == "link"
    assert local.lookup(IPv4Address("10.244.9.7")).dst.prefixlen == 16
    assert local.lookup(IPv4Address("8.8.8.8")) is None


def test_render_node_tables_prints_like_ip_and_bridge():
    text = render_node_tables(two_node_cluster(Overlay.FLANNEL_HOST_GW), "node-2")
    assert text.startswith("# node node-2 (host/node-2)\n$ ip -br addr\n"
                           "lo               UNKNOWN        127.0.0.1/8\n"
                           "eth0             UP             192.168.0.12/24\n"
                           "cni0             UP             10.244.1.1/24\n"
                           f"{veth_name('default/web-b')}@if2 UP\n")
    assert ("$ ip route\ndefault via 192.168.0.1 dev eth0\n10.244.0.0/24 via 192.168.0.11 dev eth0\n"
            "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n"
            "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.12\n") in text
    assert "# pod default/web-b (pod/default/web-b)\n$ ip -br addr\nlo               UNKNOWN        127.0.0.1/8\n" \
           "eth0@if10        UP             10.244.1.2/24\n" in text


def test_unknown_node_and_pod_are_clear_errors():
    with pytest.raises(ValueError, match=r"^node 'node-9' not found \(nodes: node-1, node-2\)$"):
        node_datapath(two_node_cluster(), "node-9")
    with pytest.raises(ValueError, match=r"^pod 'default/nope' not found$"):
        pod_datapath(two_node_cluster(), "default/nope")


def test_flannel_masquerade_rules_as_iptables_restore():
    masq = '-m comment --comment "flanneld masq"'
    fwd = '-m comment --comment "flanneld forward"'
    assert render_cni_rules(two_node_cluster(), "node-2").splitlines() == [
        "*nat",
        ":FLANNEL-POSTRTG - [0:0]",
        f"-A POSTROUTING {masq} -j FLANNEL-POSTRTG",
        f"-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 {masq} -j MASQUERADE --random-fully",
        f"-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 {masq} -j MASQUERADE --random-fully",
        "COMMIT",
        "*filter",
        ":FLANNEL-FWD - [0:0]",
        f"-A FORWARD {fwd} -j FLANNEL-FWD",
        f"-A FLANNEL-FWD -s 10.244.0.0/16 {fwd} -j ACCEPT",
        f"-A FLANNEL-FWD -d 10.244.0.0/16 {fwd} -j ACCEPT",
        "COMMIT",
    ]


def test_cni_rules_without_ip_masq_and_for_docker_bridges():
    assert render_cni_rules(with_settings(two_node_cluster(), ip_masq=False), "node-1") == ""
    docker = with_settings(two_node_cluster(Overlay.OVS_VXLAN, Bridge.DOCKER0), cni="ovs")
    assert render_cni_rules(docker, "node-1") == \
        "*nat\n-A POSTROUTING -s 10.244.0.0/24 ! -o docker0 -j MASQUERADE\nCOMMIT\n"
    with pytest.raises(ValueError, match="^node 'x' not found$"):
        render_cni_rules(docker, "x")
