"""What listens in a node's own network namespace (webapp.engine.node_listeners), and the kernel's refusal of every
other port of a node's address (issue 17, "traces and the kernel")."""

from __future__ import annotations

import sys
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from webapp.engine.flows import trace_flow
from webapp.engine.node_listeners import NodeListener, node_listeners
from webapp.engine.trace import Action, Disposition, HopKind
from webapp.loaders import load_sample, load_sources
from webapp.model import Endpoint, Protocol, Service, ServicePort, ServiceType
from webapp.narration import narration_language

sys.path.insert(0, str(Path(__file__).parent))
from factories import NODE_LISTENERS_YAML, node_listeners_cluster  # noqa: E402

TCP = Protocol.TCP


cluster = node_listeners_cluster


def end(trace) -> tuple[str, str, str]:
    """The trace's disposition and its last hop as `netns device kind/action`."""
    hop = trace.hops[-1]
    return str(trace.disposition), f"{hop.netns} {hop.device} {hop.kind}/{hop.action}", hop.rule


def test_every_node_runs_kubelet_and_kube_proxy_and_the_api_server_sits_at_its_endpoint():
    c = cluster()
    assert node_listeners(c, "node-1") == (
        NodeListener("kube-apiserver", 6443, TCP), NodeListener("kubelet", 10250, TCP),
        NodeListener("kube-proxy", 10256, TCP), NodeListener("kube-proxy", 30000, TCP, (IPv4Address("192.168.0.11"),)))
    assert node_listeners(c, "node-2") == (
        NodeListener("node-exporter", 9100, TCP), NodeListener("kubelet", 10250, TCP),
        NodeListener("kube-proxy", 10256, TCP), NodeListener("kube-proxy", 30000, TCP, (IPv4Address("192.168.0.12"),)))


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_the_health_check_server_listens_where_node_port_addresses_say(mode):
    """kube-proxy's ServiceHealthServer listens on the nodePortAddresses' node IPs (service_health.go); the loader
    gave web's healthCheckNodePort the range's first port, 30000."""
    c = cluster(mode)
    assert end(trace_flow(c, "203.0.113.10", "192.168.0.11:30000")) == (
        "delivered", "host/node-1 kube-proxy app/deliver", "")
    assert end(trace_flow(c, "203.0.113.10", "192.168.1.11:30000")) == (
        "rejected", "host/node-1 eth0 app/reject", "no socket tcp 192.168.1.11:30000")


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_a_declared_health_check_node_port_is_where_kube_proxy_answers(mode):
    """`healthCheckNodePort: 31234` in the cluster YAML: kube-proxy's health-check server listens there, and no
    longer on the range's first port, which the loader would otherwise have given web."""
    text = NODE_LISTENERS_YAML.replace("MODE", mode).replace(
        "ports: [{port: 80, nodePort: 30081}]", "ports: [{port: 80, nodePort: 30081}], healthCheckNodePort: 31234")
    c = load_sources([("cluster.yaml", text.encode())]).cluster
    assert c.service_by_key["default/web"].health_check_node_port == 31234
    assert end(trace_flow(c, "203.0.113.10", "node/node-1:31234")) == (
        "delivered", "host/node-1 kube-proxy app/deliver", "")
    assert end(trace_flow(c, "203.0.113.10", "node/node-1:30000")) == (
        "rejected", "host/node-1 eth0 app/reject", "no socket tcp 192.168.0.11:30000")


def test_without_node_port_addresses_the_health_check_server_listens_on_every_address():
    c = cluster()
    c = replace(c, settings=replace(c.settings, node_port_addresses=()))
    assert node_listeners(c, "node-1")[-1] == NodeListener("kube-proxy", 30000, TCP)
    assert end(trace_flow(c, "203.0.113.10", "192.168.1.11:30000")) == (
        "delivered", "host/node-1 kube-proxy app/deliver", "")


def test_userspace_mode_has_no_health_check_server():
    c = cluster("userspace")
    assert [str(lis) for lis in node_listeners(c, "node-1")] == [
        "kube-apiserver 6443/TCP", "kubelet 10250/TCP", "kube-proxy 10256/TCP"]
    assert end(trace_flow(c, "203.0.113.10", "192.168.0.11:30000")) == (
        "rejected", "host/node-1 eth0 app/reject", "no socket tcp 192.168.0.11:30000")


@pytest.mark.parametrize("src, dst, app", [
    ("pod/default/web-1", "node/node-2:10250", "host/node-2 kubelet app/deliver"),
    ("203.0.113.10", "192.168.0.11:10256", "host/node-1 kube-proxy app/deliver"),
    ("pod/default/web-1", "svc/default/kubernetes:443", "host/node-1 kube-apiserver app/deliver"),
    ("pod/default/web-1", "node/node-2:9100", "host/node-2 node-exporter app/deliver"),   # a hostNetwork pod
])
def test_a_packet_for_a_listening_port_is_delivered_to_that_process(src, dst, app):
    trace = trace_flow(cluster(), src, dst)
    assert end(trace) == ("delivered", app, "")
    assert trace.hops[-1].kind == HopKind.APP
    assert trace.reply[0].device == app.split()[1] and trace.reply[0].action == Action.SEND


def test_a_node_port_on_an_address_node_port_addresses_leaves_out_is_refused():
    """iptables and nftables: KUBE-NODEPORTS (nodeport-ips) holds 192.168.0.11 only, so a connection to the
    node's second address goes to local delivery, where nothing listens on 30081."""
    for mode in ("iptables", "nftables"):
        trace = trace_flow(cluster(mode), "203.0.113.10", "192.168.1.11:30081")
        assert end(trace) == ("rejected", "host/node-1 eth0 app/reject", "no socket tcp 192.168.1.11:30081")
        assert trace.reason == ("nothing listens on 192.168.1.11:30081/TCP on node node-1, so the kernel answers a "
                                "TCP RST; 30081/TCP is a nodePort of default/web, but kube-proxy does not answer it "
                                "on 192.168.1.11")
        assert trace.reply == ()
        assert end(trace_flow(cluster(mode), "203.0.113.10", "192.168.0.11:30081"))[:2] == (
            "delivered", "pod/default/web-1 web app/deliver")


@pytest.mark.parametrize("proto, answer, answer_zh", [
    ("tcp", "a TCP RST", "TCP RST"),
    ("udp", "ICMP port unreachable", "ICMP 端口不可达"),
    ("sctp", "an SCTP ABORT", "SCTP ABORT"),
])
def test_a_port_no_process_of_the_node_listens_on_is_refused_by_the_kernel(proto, answer, answer_zh):
    """The seed article's node-1 on 30099 (no nodePort): TCP RST (tcp_v4_send_reset), ICMP port unreachable
    (__udp4_lib_rcv), SCTP ABORT (RFC 9260 8.4) — en and zh."""
    seed = load_sample("seed-article")
    where = f"30099/{proto.upper()}"
    trace = trace_flow(seed, "203.0.113.10", "192.168.0.11:30099", proto)
    assert trace.disposition == Disposition.REJECTED
    assert end(trace)[1:] == ("host/node-1 eth0 app/reject", f"no socket {proto} 192.168.0.11:30099")
    assert trace.reason == f"nothing listens on 192.168.0.11:{where} on node node-1, so the kernel answers {answer}"
    assert trace.hops[-1].explain == (
        f"No process of node node-1 listens on 192.168.0.11 port {where} (listening: kube-apiserver 6443/TCP, "
        f"kubelet 10250/TCP, kube-proxy 10256/TCP), so the kernel answers {answer}.")
    with narration_language("zh"):
        trace = trace_flow(seed, "203.0.113.10", "192.168.0.11:30099", proto)
    assert trace.reason == f"节点 node-1 上没有进程监听 192.168.0.11:{where}，所以内核回以 {answer_zh}"
    assert trace.hops[-1].explain == (
        f"节点 node-1 上没有进程监听 192.168.0.11 的端口 {where}（在监听的有：kube-apiserver 6443/TCP, "
        f"kubelet 10250/TCP, kube-proxy 10256/TCP），所以内核回以 {answer_zh}。")


def test_the_node_port_hint_in_chinese():
    with narration_language("zh"):
        trace = trace_flow(cluster("nftables"), "203.0.113.10", "192.168.1.11:30081")
    assert trace.reason == ("节点 node-1 上没有进程监听 192.168.1.11:30081/TCP，所以内核回以 TCP RST；30081/TCP 是 "
                            "default/web 的 nodePort，但 kube-proxy 不在 192.168.1.11 上应答它")


def test_sshd_is_not_assumed():
    """No sshd on 22: Kubernetes does not need it (webapp/engine/node_listeners.py)."""
    assert end(trace_flow(load_sample("flannel-vxlan"), "node/node-1", "10.244.1.1:22")) == (
        "rejected", "host/node-2 flannel.1 app/reject", "no socket tcp 10.244.1.1:22")


def test_an_endpoint_written_by_hand_at_a_node_address_listens_on_that_address_only():
    """An EndpointSlice entry at a node's address that names no pod: something serves there, on that address."""
    c = cluster()
    metrics = Service("default", "metrics", ServiceType.CLUSTER_IP, IPv4Address("10.96.0.50"),
                      (ServicePort(9200, 9200),))
    c = replace(c, services=(*c.services, metrics),
                endpoints=(*c.endpoints, Endpoint("default/metrics", None, IPv4Address("192.168.0.12"), 9200)))
    assert node_listeners(c, "node-2")[1] == NodeListener("metrics", 9200, TCP, (IPv4Address("192.168.0.12"),))
    assert end(trace_flow(c, "pod/default/web-1", "svc/default/metrics:9200"))[:2] == (
        "delivered", "host/node-2 metrics app/deliver")


def test_ipvs_gives_every_selected_node_address_a_node_port_virtual_server():
    """pkg/proxy/ipvs/proxier.go syncProxyRules: a nodePortAddresses that matches all (unset in IPVS mode) gives
    every address of every device but kube-ipvs0 (`GetAllLocalAddressesExcept(defaultDummyDevice)`) a virtual
    server per nodePort, loopback ones left out; CIDRs give the node's addresses inside them."""
    from webapp.engine.kubeproxy.ipvs import node_port_addresses, render_ipvsadm
    from webapp.loaders import load_sources
    from factories import NODE_LISTENERS_YAML

    every = load_sources([("c.yaml", NODE_LISTENERS_YAML.replace("MODE", "ipvs").replace(
        ", nodePortAddresses: [192.168.0.0/24]", "").encode())]).cluster
    assert every.settings.node_port_addresses == ()
    assert node_port_addresses(every, "node-1") == (
        IPv4Address("10.244.0.0"), IPv4Address("10.244.0.1"), IPv4Address("192.168.0.11"), IPv4Address("192.168.1.11"))
    assert [line for line in render_ipvsadm(every, "node-1").splitlines() if ":30081 " in line] == [
        "TCP  10.244.0.0:30081 rr", "TCP  10.244.0.1:30081 rr", "TCP  192.168.0.11:30081 rr",
        "TCP  192.168.1.11:30081 rr"]
    second = trace_flow(every, "203.0.113.10", "192.168.1.11:30081")
    assert second.disposition == Disposition.DELIVERED
    assert [h.rule for h in second.hops if h.kind == HopKind.IPVS] == ["TCP 192.168.1.11:30081 rr -> 10.244.0.2:80 Masq"]

    selected = cluster("ipvs")
    assert node_port_addresses(selected, "node-1") == (IPv4Address("192.168.0.11"),)
    left_out = trace_flow(selected, "203.0.113.10", "192.168.1.11:30081")
    assert (left_out.disposition, left_out.reason) == (
        Disposition.REJECTED, "nothing listens on 192.168.1.11:30081/TCP on node node-1, so the kernel answers a TCP "
        "RST; 30081/TCP is a nodePort of default/web, but kube-proxy does not answer it on 192.168.1.11")
