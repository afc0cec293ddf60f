"""The lab's plan, expectations and rule texts — pure functions, no namespaces (run everywhere)."""

from __future__ import annotations

import argparse
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from webapp.lab.commands import _single_flow
from webapp.lab.expect import Crossing, expectation
from webapp.lab.from_engine import node_restore_texts, plan_for_cluster
from webapp.lab.listener import RoundRobin, answer, parse_proxy_ports
from webapp.lab.plan import (
    LabDevice, LabFdb, LabNames, LabNeighbour, LabNetns, LabPlan, LabRoute, PlanError, VxlanParams,
    bridge_commands, check_plan, config_commands, lab_prefix, link_commands,
)
from webapp.lab.probe import parse_answer
from webapp.lab.runner import prepare
from webapp.lab.underlay import crossing_rule, unpredicted_rule
from webapp.lab.verify import FlowSpec, lab_flows, trace_for
from webapp.engine.flows import candidate_flows
from webapp.engine.kubeproxy.userspace import portals
from webapp.loaders import load_sample
from webapp.model import KubeProxyMode

sys.path.insert(0, str(Path(__file__).parent))
from factories import node_listeners_cluster, service_cluster  # noqa: E402

A = IPv4Address


@pytest.fixture(scope="module")
def vxlan():
    return load_sample("flannel-vxlan")


def test_names_carry_the_lab_prefix():
    names = LabNames("7")
    assert names.node("node-1") == "knv7-node-node-1"
    assert names.pod("kube-system/coredns-0") == "knv7-pod-kube-system.coredns-0"
    assert names.underlay == "knv7-underlay"
    assert names.external == "knv7-external"


@pytest.mark.parametrize("bad", ["", "a-b", "1234567890123", "x y", "ä"])
def test_lab_id_must_be_short_and_alphanumeric(bad):
    with pytest.raises(PlanError, match="must be 1 to 12 letters or digits"):
        lab_prefix(bad)


def _pair_plan(node_dev: str = "veth0") -> LabPlan:
    node = LabNetns("knv1-node-a", "node", "a", (
        LabDevice("cni0", "bridge", 1450, "0a:00:00:00:00:01", addresses=("10.244.0.1/24",)),
        LabDevice(node_dev, "veth", 1450, None, "cni0", "knv1-pod-x", "eth0", hairpin=True),
        LabDevice("flannel.1", "vxlan", 1450, "0a:00:00:00:00:02", addresses=("10.244.0.0/32",),
                  vxlan=VxlanParams(1, 8472, "192.168.0.11", "eth0")),
    ), routes=(LabRoute("10.244.1.0/24", "flannel.1", "10.244.1.0", onlink=True),),
        neighbours=(LabNeighbour("10.244.1.0", "0a:00:00:00:00:03", "flannel.1"),),
        fdb=(LabFdb("0a:00:00:00:00:03", "flannel.1", "192.168.0.12"), LabFdb("0a:00:00:00:00:04", node_dev, master=True)))
    pod = LabNetns("knv1-pod-x", "pod", "default/x", (
        LabDevice("eth0", "veth", 1450, "0a:00:00:00:00:04", None, "knv1-node-a", node_dev, ("10.244.0.2/24",)),),
        routes=(LabRoute("default", "eth0", "10.244.0.1"),))
    return LabPlan("1", (node, pod))


def test_ip_batch_lines_create_each_veth_pair_once():
    plan = _pair_plan()
    node, pod = plan.namespaces
    assert link_commands(node) == ["link set lo up", "link add cni0 type bridge",
                                   "link add veth0 type veth peer name eth0 netns knv1-pod-x"]
    assert link_commands(pod) == ["link set lo up"]


def test_config_lines_follow_the_tables():
    node, pod = _pair_plan().namespaces
    assert config_commands(node) == [
        "link add flannel.1 type vxlan id 1 dstport 8472 local 192.168.0.11 dev eth0 nolearning",
        "link set cni0 address 0a:00:00:00:00:01", "link set cni0 mtu 1450",
        "link set veth0 mtu 1450", "link set veth0 master cni0",
        "link set flannel.1 address 0a:00:00:00:00:02", "link set flannel.1 mtu 1450",
        "address add 10.244.0.1/24 dev cni0", "address add 10.244.0.0/32 dev flannel.1",
        "link set cni0 up", "link set veth0 up", "link set flannel.1 up",
        "route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
        "neigh replace 10.244.1.0 lladdr 0a:00:00:00:00:03 dev flannel.1 nud permanent",
    ]
    assert config_commands(pod) == [
        "link set eth0 address 0a:00:00:00:00:04", "link set eth0 mtu 1450", "address add 10.244.0.2/24 dev eth0",
        "link set eth0 up", "route replace default via 10.244.0.1 dev eth0"]
    assert bridge_commands(node) == [
        "link set dev veth0 hairpin on",
        "fdb append 0a:00:00:00:00:03 dev flannel.1 dst 192.168.0.12 self permanent",
        "fdb replace 0a:00:00:00:00:04 dev veth0 master static",
    ]


def test_check_plan_refuses_long_device_names():
    with pytest.raises(PlanError, match=r"device name 'veth0123456789ab' in knv1-node-a is longer than 15"):
        check_plan(_pair_plan("veth0123456789ab"))


def test_check_plan_refuses_a_veth_without_its_peer():
    node, pod = _pair_plan().namespaces
    with pytest.raises(PlanError, match="veth veth0 in knv1-node-a has no matching peer eth0 in knv1-pod-x"):
        check_plan(LabPlan("1", (node,)))


def test_node_namespace_is_the_engines_datapath(vxlan):
    plan = plan_for_cluster(vxlan, "u1")
    check_plan(plan)
    node = plan.by_owner("node", "node-1")
    assert [(d.name, d.kind) for d in node.devices] == [
        ("eth0", "veth"), ("cni0", "bridge"), ("flannel.1", "vxlan"), ("vethe0f3d865", "veth"),
        ("veth6d57c0a1", "veth"), ("vethbde7a62a", "veth"), ("vethebd1cf8d", "veth")]
    eth0, cni0, flannel = node.devices[:3]
    assert (eth0.addresses, eth0.peer_netns, eth0.peer) == (("192.168.0.11/24",), "knvu1-underlay", "port0")
    assert (cni0.mtu, cni0.addresses) == (1450, ("10.244.0.1/24",))
    assert flannel.vxlan == VxlanParams(1, 8472, "192.168.0.11", "eth0", False)
    assert flannel.addresses == ("10.244.0.0/32",)
    assert [r.ip_args() for r in node.routes] == [
        "default via 192.168.0.1 dev eth0",
        "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
        "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"]
    assert node.neighbours == (LabNeighbour("10.244.1.0", "56:87:c0:a3:69:2a", "flannel.1"),
                               LabNeighbour("10.244.2.0", "2a:9f:a7:8f:04:71", "flannel.1"))
    assert [f for f in node.fdb if not f.master] == [LabFdb("56:87:c0:a3:69:2a", "flannel.1", "192.168.0.12"),
                                                     LabFdb("2a:9f:a7:8f:04:71", "flannel.1", "192.168.0.13")]
    assert node.iptables == node_restore_texts(vxlan, "node-1")
    pod = plan.by_owner("pod", "default/frontend-1")
    assert [r.ip_args() for r in pod.routes] == ["default via 10.244.0.1 dev eth0",
                                                 "10.244.0.0/16 via 10.244.0.1 dev eth0"]
    assert pod.devices[0].peer == "vethbde7a62a" and pod.devices[0].addresses == ("10.244.0.2/24",)


def test_node_rules_load_kube_proxy_chains_before_the_jumps_then_the_cni(vxlan):
    texts = node_restore_texts(vxlan, "node-1")
    assert len(texts) == 3
    assert ":KUBE-SERVICES - [0:0]" in texts[0]
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in texts[1]
    assert ":FLANNEL-POSTRTG - [0:0]" in texts[2]


def test_ovs_overlay_is_emulated_by_a_vxlan_device_on_udp_4789():
    plan = plan_for_cluster(load_sample("seed-article"), "u1")
    node = plan.by_owner("node", "node-1")
    obr0 = next(d for d in node.devices if d.name == "obr0")
    assert (obr0.kind, obr0.master, obr0.vxlan) == ("vxlan", "docker0", VxlanParams(1, 4789, "192.168.0.11", "eth0"))
    assert [(f.mac, f.dst) for f in node.fdb if f.dev == "obr0" and not f.master] == [
        ("00:00:00:00:00:00", "192.168.0.12"), ("fa:71:de:6a:25:c8", "192.168.0.12"),
        ("7e:d5:cc:47:f7:40", "192.168.0.12"), ("82:34:aa:14:f9:17", "192.168.0.12")]
    assert plan.notes == ("Open vSwitch is not available here: the OVS bridge obr0 and its VXLAN tunnel ports are "
                          "emulated by one Linux VXLAN device obr0 (VNI 1, UDP 4789) on the pod bridge, with an FDB "
                          "entry per remote pod.",)


def test_prepare_adds_listeners_and_outside_clients_the_traces_need(vxlan):
    prepared = prepare(vxlan, "u1")
    listeners = {(l.netns, l.owner): (l.tcp, l.udp) for l in prepared.plan.listeners}
    assert listeners[("knvu1-pod-kube-system.coredns-868cd75d4-2mcc9", "kube-system/coredns-868cd75d4-2mcc9")] == (
        ((53, "coredns"), (9153, "coredns")), ((53, "coredns"),))
    assert listeners[("knvu1-node-node-1", "node/node-1")] == (
        ((6443, "kube-apiserver"), (10250, "kubelet"), (10256, "kube-proxy")), ())
    assert listeners[("knvu1-node-node-2", "node/node-2")] == (((10250, "kubelet"), (10256, "kube-proxy")), ())
    assert listeners[("knvu1-external", "external")] == (((443, "client"),), ())
    external = prepared.plan.by_owner("external", "")
    assert external.devices[0].addresses == ("192.168.0.1/24",)
    assert external.devices[1].addresses == ("203.0.113.10/32",)


def test_expectation_of_a_cross_node_flow(vxlan):
    spec = FlowSpec("pod-to-pod-cross-node", "pod/default/backend-1", "pod/default/backend-2:8080")
    trace = trace_for(vxlan, spec)
    port = trace.hops[0].packet.src.port   # the engine's deterministic ephemeral port
    exp = expectation(trace, LabNames("u1"))
    assert exp.client_netns == "knvu1-pod-default.backend-1"
    assert (str(exp.sent), str(exp.dst), exp.disposition) == (f"10.244.0.3:{port}", "10.244.1.3:8080", "delivered")
    assert (exp.backend_netns, str(exp.backend), str(exp.saw)) == ("pod/default/backend-2", "10.244.1.3:8080",
                                                                   f"10.244.0.3:{port}")
    assert exp.alternatives == () and not exp.src_translated and not exp.bind_source
    assert [str(c) for c in exp.crossings] == ["192.168.0.11→192.168.0.12 udp/8472 [10.244.0.3→10.244.1.3]",
                                               "192.168.0.12→192.168.0.11 udp/8472 [10.244.1.3→10.244.0.3]"]


def test_expectation_of_a_nodeport_flow_from_outside(vxlan):
    spec = FlowSpec("nodeport", "203.0.113.10", "node/node-2:30080")
    trace = trace_for(vxlan, spec)
    exp = expectation(trace, LabNames("u1"))
    assert (exp.client_netns, exp.bind_source, exp.entry_node) == ("knvu1-external", True, "node-2")
    assert [str(a) for a in exp.alternatives] == ["10.244.0.2:80", "10.244.1.2:80", "10.244.2.2:80"]
    assert (exp.saw.ip, exp.src_translated) == (A("10.244.1.0"), True)
    assert [str(c) for c in exp.crossings] == [
        "203.0.113.10→192.168.0.12 tcp",
        "192.168.0.12→192.168.0.11 udp/8472 [10.244.1.0→10.244.0.2]",
        "192.168.0.11→192.168.0.12 udp/8472 [10.244.0.2→10.244.1.0]",
        "192.168.0.12→203.0.113.10 tcp"]


def test_expectation_of_a_pod_ip_from_outside_has_no_crossing(vxlan):
    spec = FlowSpec("external-to-pod", "203.0.113.10", "pod/default/backend-1:8080")
    exp = expectation(trace_for(vxlan, spec), LabNames("u1"))
    assert (exp.disposition, exp.crossings, exp.backend) == ("no-route", (), None)


def test_crossing_rules_match_inner_addresses_with_u32():
    encapsulated = Crossing(A("192.168.0.11"), A("192.168.0.12"), "udp", 8472, A("10.244.0.3"), A("10.244.1.3"))
    assert crossing_rule(encapsulated, "c0") == (
        "-A KNV-CROSSINGS -s 192.168.0.11/32 -d 192.168.0.12/32 -p udp -m udp --dport 8472 "
        '-m u32 --u32 "46&0xFFFF=0x800&&62=0x0af40003&&66=0x0af40103" -m comment --comment c0')
    plain = Crossing(A("203.0.113.10"), A("192.168.0.12"), "tcp")
    assert crossing_rule(plain, "c1") == (
        "-A KNV-CROSSINGS -s 203.0.113.10/32 -d 192.168.0.12/32 -p tcp -m comment --comment c1")


def test_the_unpredicted_crossing_rule_counts_inner_unicast_only():
    assert unpredicted_rule(A("10.244.1.1"), 62, (4789, 8472)) == (
        "-A KNV-CROSSINGS -p udp -m multiport --dports 4789,8472 "
        '-m u32 --u32 "46&0xFFFF=0x800&&62=0x0af40101&&66>>28=0x0:0xD" -m comment --comment any-encapsulated')


def test_lab_flows_take_the_protocol_the_engine_traces_by_default(vxlan, capsys):
    flows = {(f.src, f.dst): f.proto for f in lab_flows(vxlan)}
    assert len(flows) == sum(len(pairs) for pairs in candidate_flows(vxlan).values())
    assert {flows[(src, dst)] for (src, dst) in flows if dst == "svc/kube-system/kube-dns:dns"} == {"udp"}
    assert {flows[(src, dst)] for (src, dst) in flows if dst == "svc/kube-system/kube-dns:dns-tcp"} == {"tcp"}
    # 10.96.0.10:53 is declared for UDP and TCP: `lab verify --from/--to` without --proto verifies the flow the
    # engine traces by default, TCP (`--proto udp` verifies the UDP one).
    for proto, expected in ((None, "tcp"), ("udp", "udp")):
        args = argparse.Namespace(src="pod/default/frontend-1", dst="10.96.0.10:53", proto=proto)
        spec = _single_flow(vxlan, args)
        assert (spec.type, spec.proto) == ("pod-to-service", expected)
        assert f"pod-to-service: pod/default/frontend-1 → 10.96.0.10:53 ({expected})" in capsys.readouterr().out


def test_listener_answer_round_trips():
    text = answer("default/web-1", "nginx", ("10.244.1.3", 80), ("10.244.0.2", 41000)).decode()
    assert text == "pod=default/web-1 container=nginx at=10.244.1.3:80 saw=10.244.0.2:41000\n"
    assert parse_answer(text) == {"pod": "default/web-1", "container": "nginx", "at": "10.244.1.3:80",
                                  "saw": "10.244.0.2:41000"}


def test_userspace_proxy_hands_out_backends_in_turn_and_lists_the_rest_for_retries():
    backends = RoundRobin([("10.244.0.3", 80), ("10.244.1.2", 80), ("10.244.1.3", 80)])
    assert backends.order("10.244.0.2") == [("10.244.0.3", 80), ("10.244.1.2", 80), ("10.244.1.3", 80)]
    backends.answered("10.244.0.2", ("10.244.0.3", 80))   # no affinity: nothing recorded
    assert backends.order("10.244.0.2") == [("10.244.1.2", 80), ("10.244.1.3", 80), ("10.244.0.3", 80)]
    assert backends.order("10.244.0.2")[0] == ("10.244.1.3", 80)
    assert backends.order("10.244.0.2")[0] == ("10.244.0.3", 80)


def test_userspace_proxy_with_client_ip_affinity_sends_a_client_back_to_its_backend():
    backends = parse_proxy_ports(["40000=10.244.0.3:80,10.244.1.2:80;affinity=10800"])[40000]
    assert (backends.backends, backends.affinity_seconds) == ([("10.244.0.3", 80), ("10.244.1.2", 80)], 10800)
    assert backends.order("10.244.0.2")[0] == ("10.244.0.3", 80)
    backends.answered("10.244.0.2", ("10.244.0.3", 80))
    assert backends.order("10.244.0.5")[0] == ("10.244.1.2", 80)   # another client: the next in turn
    # 10.244.1.2 did not answer the second client: it was retried on 10.244.0.3, which becomes its backend
    backends.answered("10.244.0.5", ("10.244.0.3", 80))
    assert [backends.order(client)[0] for client in ("10.244.0.2", "10.244.0.5", "10.244.0.2")] == [
        ("10.244.0.3", 80)] * 3
    assert backends.order("10.244.0.9")[0] == ("10.244.0.3", 80)   # a new client continues the round-robin
    expired = parse_proxy_ports(["40000=10.244.0.3:80,10.244.1.2:80;affinity=0"])[40000]
    expired.answered("10.244.0.2", ("10.244.0.3", 80))
    assert [expired.order("10.244.0.2")[0] for _ in range(2)] == [("10.244.0.3", 80), ("10.244.1.2", 80)]


def test_userspace_plan_runs_a_proxy_on_the_engines_proxy_ports():
    cluster = service_cluster(mode=KubeProxyMode.USERSPACE, endpoints=2)
    plan = plan_for_cluster(cluster, "u1")
    proxy = next(l for l in plan.listeners if l.owner == "kube-proxy/node-1")
    web = next(p for p in portals(cluster, "node-1") if p.info.name == "default/web:http")
    dns = next(p for p in portals(cluster, "node-1") if p.info.name == "kube-system/kube-dns:dns")
    assert proxy.netns == "knvu1-node-node-1"
    assert proxy.proxy_tcp == ((web.proxy_port, ("10.244.0.3:80", "10.244.1.2:80")),)
    assert proxy.proxy_udp == ((dns.proxy_port, ("10.244.1.4:53",)),)


def test_lab_support_names_what_is_missing(monkeypatch):
    from webapp.lab import netns

    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.lab_support() == "the lab needs root (network namespaces, veth, VXLAN and iptables)"
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda tool: None if tool == "bridge" else f"/usr/sbin/{tool}")
    assert netns.lab_support() == "`bridge` is not installed (Debian packages iproute2 and iptables)"


def test_externalname_is_split_into_the_dns_query_and_the_connection():
    cluster = load_sample("seed-article")
    spec = FlowSpec("externalname", "pod/default/api-1", "svc/default/search", "tcp")
    exp = expectation(trace_for(cluster, spec), LabNames("u1"))
    query = exp.dns_query
    assert (query.proto, str(query.dst), query.disposition) == ("udp", "10.96.0.10:53", "delivered")
    assert [str(a) for a in query.alternatives] == ["10.244.1.4:53", "10.244.1.5:53"]
    assert query.backend_netns.startswith("pod/kube-system/coredns-")
    assert (exp.proto, str(exp.dst), exp.client_netns) == ("tcp", "198.51.100.20:80", "knvu1-pod-default.api-1")
    assert (exp.backend_netns, exp.saw.ip) == ("external", A("192.168.0.11"))
    assert exp.caveat.startswith("the DNS answer (the CNAME) is the engine's")


def test_externalname_from_a_kube_dns_endpoint_replays_the_connection_not_the_dns_reply():
    """Hairpin: the client is itself a kube-dns endpoint; the DNS server's reply also leaves its namespace."""
    cluster = load_sample("seed-article")
    spec = FlowSpec("externalname", "pod/kube-system/coredns-868cd75d4-2mcc9", "svc/default/search:443", "tcp")
    exp = expectation(trace_for(cluster, spec), LabNames("u1"))
    assert (exp.proto, str(exp.dst), exp.sent.ip) == ("tcp", "198.51.100.20:443", A("10.244.1.4"))
    assert (exp.backend_netns, exp.saw.ip, exp.disposition) == ("external", A("192.168.0.11"), "delivered")
    query = exp.dns_query
    assert (query.proto, str(query.dst), str(query.backend), query.saw.ip) == (
        "udp", "10.96.0.10:53", "10.244.1.4:53", A("10.244.1.1"))


def test_an_ipvs_hop_is_unverifiable_for_the_reason_that_holds_on_this_machine(monkeypatch, tmp_path):
    from webapp.lab import expect

    monkeypatch.setattr(expect, "IPVS_PROC", tmp_path / "absent")
    assert expect.ipvs_unverifiable() == "IPVS is not built into this kernel"
    present = tmp_path / "ip_vs"
    present.write_text("IP Virtual Server version 1.2.1 (size=4096)\n")
    monkeypatch.setattr(expect, "IPVS_PROC", present)
    assert expect.ipvs_unverifiable() == (
        "the lab does not program IPVS virtual servers (ipvsadm): only iptables and the CNI are built")


def test_the_labs_userspace_proxy_closes_both_connections_when_one_direction_ends():
    """As kube-proxy's copyBytes: the backend's EOF closes the client's connection and the backend's own, so the
    backend's connection is not left closing after the client has gone (its last packets would then cross the
    underlay during the next flow)."""
    import asyncio
    import socket

    from webapp.lab.listener import _pipe

    async def scenario() -> tuple[bytes, bytes]:
        client, proxy_side = socket.socketpair()
        backend, proxy_up = socket.socketpair()
        down_reader, down_writer = await asyncio.open_connection(sock=proxy_side)
        up_reader, up_writer = await asyncio.open_connection(sock=proxy_up)
        backend.sendall(b"pod=a/b container=c at=1.2.3.4:80 saw=5.6.7.8:9\n")
        backend.shutdown(socket.SHUT_WR)                      # the backend answers and closes
        await asyncio.wait_for(asyncio.gather(_pipe(down_reader, up_writer, down_writer),
                                              _pipe(up_reader, down_writer, up_writer)), 2)
        client.settimeout(1)
        backend.settimeout(1)
        got = b"".join(iter(lambda: client.recv(512), b""))   # the answer, then EOF
        return got, backend.recv(512)                         # EOF: the proxy closed its backend side too

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as own_thread:   # the browser tests' Playwright loop may be running in this one
        got, from_proxy = own_thread.submit(asyncio.run, scenario()).result(timeout=10)
    assert (got, from_proxy) == (b"pod=a/b container=c at=1.2.3.4:80 saw=5.6.7.8:9\n", b"")


def test_each_node_listens_where_the_engine_says_and_nowhere_else():
    """A node's listeners are the engine's node_listeners, whatever flows are verified: kubelet, kube-proxy's
    healthz, and its health-check server bound to the nodePortAddresses' address only (healthCheckNodePort 30000,
    the range's first port); a hostNetwork pod's port stays the pod's own listener."""
    plan = plan_for_cluster(node_listeners_cluster("nftables"), "u1")
    listeners = {(l.netns, l.owner): (l.tcp, l.udp, l.bound) for l in plan.listeners}
    assert listeners[("knvu1-node-node-1", "node/node-1")] == (
        ((6443, "kube-apiserver"), (10250, "kubelet"), (10256, "kube-proxy")), (),
        (("tcp", "192.168.0.11", 30000, "kube-proxy"),))
    assert listeners[("knvu1-node-node-2", "node/node-2")] == (
        ((10250, "kubelet"), (10256, "kube-proxy")), (), (("tcp", "192.168.0.12", 30000, "kube-proxy"),))
    assert listeners[("knvu1-node-node-2", "default/exporter")] == (((9100, "node-exporter"),), (), ())


def test_the_listener_binds_a_port_to_one_address_when_told():
    from webapp.lab.listener import _port_map

    assert _port_map(["80=web", "192.168.0.11:30000=kube-proxy"]) == {
        ("0.0.0.0", 80): "web", ("192.168.0.11", 30000): "kube-proxy"}


def test_verify_compares_the_process_that_answered_on_a_node(vxlan):
    """kubelet is the engine's; another process answering on the node's port is a disagreement."""
    from webapp.lab.probe import Observation
    from webapp.lab.verify import LabVerifier

    trace = trace_for(vxlan, FlowSpec("pod-to-node", "pod/default/frontend-1", "node/node-2:10250"))
    exp = expectation(trace, LabNames("u1"))
    verifier = object.__new__(LabVerifier)
    seen = f"{exp.saw.ip}:{exp.saw.port}" if exp.saw else ""

    def problems(container: str) -> list[str]:
        obs = Observation("delivered", f"{exp.sent}", "node/node-2", container, "192.168.0.12:10250", seen)
        return verifier._check_one(exp, {}, obs)[0]

    assert problems("kubelet") == []
    assert problems("kube-proxy") == ["engine delivers to kubelet on node node-2, kube-proxy answered"]
