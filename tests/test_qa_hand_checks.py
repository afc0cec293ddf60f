"""Hand-checked traces on the built-in samples (and one small cluster YAML through the real loader), with exact
values checked for networking truth against /work/shared/reference/*.md and the seed article:
flannel's VXLAN route/neighbour/FDB entries and outer header, MASQUERADE to the outgoing device's address,
NodePort under each externalTrafficPolicy, a node without a local endpoint, ExternalName's DNS exchange,
no-endpoints REJECT naming the selector, the userspace proxy's new connection, IPVS VIPs on kube-ipvs0,
and the cloud load balancer's client. Complements tests/test_engine_walk.py and tests/test_service_traces.py,
which build their clusters from tests/factories.py.

The tests of findings F1–F8 (docs/qa-findings.md) state what is right; all eight are fixed.
"""

from __future__ import annotations

import zlib
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest

from factories import TRACED_MODES
from webapp.engine.datapath import node_datapath
from webapp.engine.flows import trace_flow
from webapp.engine.trace import Action, Disposition, HopKind, Trace
from webapp.loaders import load_sample, load_sources
from webapp.model import KubeProxyMode, Overlay, TrafficPolicy
from webapp.variants import ViewSettings, apply_view_settings

QA_CLUSTER = (Path(__file__).parent / "data" / "qa" / "local-policy.yaml").read_bytes()
"""node-1: client, web-1 (app=web); node-2: other. default/web is a NodePort (30080) with externalTrafficPolicy
Local; default/ghost selects app=ghost,tier=db, which no pod has."""


def steps(hops) -> list[str]:
    return [f"{h.netns} {h.device} {h.kind}/{h.action}" for h in hops]


def view(sample: str, mode: KubeProxyMode | None = None, overlay: Overlay | None = None,
         policy: TrafficPolicy | None = None, down: frozenset[str] = frozenset()):
    return apply_view_settings(load_sample(sample), ViewSettings(mode, overlay, policy, down))


def qa_cluster(mode: KubeProxyMode = KubeProxyMode.IPTABLES, extra_service: bytes = b""):
    """The QA cluster through the real loader, with one more service (a flow-style YAML mapping) if given."""
    text = QA_CLUSTER.replace(b"services:\n", b"services:\n  - " + extra_service + b"\n", 1) if extra_service \
        else QA_CLUSTER
    result = load_sources([("qa.yaml", text)])
    assert result.errors == () and result.cluster is not None
    return apply_view_settings(result.cluster, ViewSettings(kube_proxy_mode=mode))


def client_port(src: str, dst: str, proto: str = "tcp") -> int:
    """docs/trace-contract.md: 40000 + CRC-32("SRC|DST|proto") mod 20000."""
    return 40000 + zlib.crc32(f"{src}|{dst}|{proto}".encode()) % 20000


def vxlan_sport(inner: str) -> int:
    """docs/trace-contract.md: 32768 + CRC-32("proto|src|dst") mod 28232 (Linux's local port range)."""
    return 32768 + zlib.crc32(inner.encode()) % 28232


def delivered_src(trace: Trace) -> str:
    assert trace.disposition == Disposition.DELIVERED, trace.reason
    return str(trace.hops[-1].packet.src.ip)


# --- flannel VXLAN: the tables flannel programs, and a cross-node packet ------------------------------------

def test_flannel_vxlan_node_tables_are_what_flannel_programs():
    """flannel-and-cidrs.md: flannel.1 has a /32 = the subnet's network address, MTU 1500 − 50; one onlink
    route, one permanent neighbour and one `self permanent` FDB entry per remote lease."""
    dp = node_datapath(load_sample("flannel-vxlan"), "node-1")
    flannel = dp.device_by_name["flannel.1"]
    assert (flannel.mtu, flannel.addresses) == (1450, (IPv4Interface("10.244.0.0/32"),))
    assert str(flannel.vxlan) == "vxlan id 1 local 192.168.0.11 dev eth0 dstport 8472 nolearning"
    assert dp.device_by_name["cni0"].addresses == (IPv4Interface("10.244.0.1/24"),)
    assert [str(r) for r in dp.routes] == [
        "default via 192.168.0.1 dev eth0",
        "10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1",
        "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
        "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11",
    ]
    assert [str(n) for n in dp.neighbours] == ["10.244.1.0 dev flannel.1 lladdr 56:87:c0:a3:69:2a PERMANENT",
                                               "10.244.2.0 dev flannel.1 lladdr 2a:9f:a7:8f:04:71 PERMANENT"]
    assert [str(e) for e in dp.vxlan_fdb] == ["56:87:c0:a3:69:2a dev flannel.1 dst 192.168.0.12 self permanent",
                                              "2a:9f:a7:8f:04:71 dev flannel.1 dst 192.168.0.13 self permanent"]


def test_flannel_vxlan_cross_node_packet_exact_path_and_headers():
    src, dst = "pod/default/frontend-1", "pod/default/backend-2:8080"
    trace = trace_flow(load_sample("flannel-vxlan"), src, dst)
    port = client_port(src, dst)
    assert port == 54854
    assert steps(trace.hops) == [
        "pod/default/frontend-1 nginx app/send", "pod/default/frontend-1 eth0 route/lookup",
        "pod/default/frontend-1 eth0 interface/send", "host/node-1 vethbde7a62a interface/forward",
        "host/node-1 cni0 bridge/receive", "host/node-1 flannel.1 route/lookup", "host/node-1 flannel.1 vxlan/lookup",
        "host/node-1 flannel.1 vxlan/lookup", "host/node-1 flannel.1 vxlan/encapsulate",
        "host/node-1 eth0 route/lookup", "host/node-1 eth0 interface/send", "underlay 192.168.0.0/24 wire/forward",
        "host/node-2 eth0 interface/receive", "host/node-2 flannel.1 vxlan/decapsulate",
        "host/node-2 cni0 route/lookup", "host/node-2 cni0 bridge/forward", "host/node-2 vethb7fb8895 interface/send",
        "pod/default/backend-2 eth0 interface/receive", "pod/default/backend-2 app app/deliver",
    ]
    rules = [h.rule for h in trace.hops]
    assert rules[1] == "10.244.0.0/16 via 10.244.0.1 dev eth0"  # host-local IPAM's route to the flannel network
    assert rules[5:9] == ["10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
                          "10.244.1.0 dev flannel.1 lladdr 56:87:c0:a3:69:2a PERMANENT",
                          "56:87:c0:a3:69:2a dev flannel.1 dst 192.168.0.12 self permanent",
                          "vxlan id 1 local 192.168.0.11 dev eth0 dstport 8472 nolearning"]
    assert rules[14] == "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1"
    inner = f"tcp 10.244.0.2:{port} → 10.244.1.3:8080"
    sport = vxlan_sport(f"tcp|10.244.0.2:{port}|10.244.1.3:8080")
    assert str(trace.hops[8].packet) == f"[udp 192.168.0.11:{sport} → 192.168.0.12:8472 vni 1] {inner}"
    assert [str(h.packet) for h in trace.hops[13:]] == [inner] * 6  # decapsulated, the pod's own addresses
    reply_outer = {str(h.packet.outer) for h in trace.reply if h.packet.outer}
    rsport = vxlan_sport(f"tcp|10.244.1.3:8080|10.244.0.2:{port}")
    assert [h.packet.outer.to_dict() for h in trace.reply if h.action == Action.ENCAPSULATE] == [
        {"src": f"192.168.0.12:{rsport}", "dst": "192.168.0.11:8472", "proto": "udp", "vni": 1}]
    assert len(reply_outer) == 1
    assert trace.nat == () and trace.reply_nat == ()


# --- MASQUERADE: to the address of the device the packet leaves by -----------------------------------------

def test_pod_to_external_is_masqueraded_to_the_node_ip_by_flannels_rule_and_restored_on_reply():
    src, dst = "pod/default/frontend-1", "203.0.113.10:443"
    trace = trace_flow(load_sample("flannel-vxlan"), src, dst)
    port = client_port(src, dst)
    masq = next(h for h in trace.hops if h.action == Action.MASQUERADE)
    assert masq.rule == ('nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment '
                         '"flanneld masq" -j MASQUERADE --random-fully')
    assert [(c.field, c.before, c.after) for c in trace.nat] == [
        ("src", f"10.244.0.2:{port}", "192.168.0.11:5780")]
    assert steps(trace.hops)[-3:] == ["underlay 192.168.0.0/24 wire/forward", "underlay gateway wire/forward",
                                      "external client app/deliver"]
    undo = [h for h in trace.reply if h.action == Action.UNSNAT]
    assert [(h.netns, str(h.packet)) for h in undo] == [
        ("host/node-1", f"tcp 203.0.113.10:443 → 10.244.0.2:{port}")]


def test_node_to_cluster_ip_is_masqueraded_to_flannel1_after_the_dnat():
    """The node's socket picks 192.168.0.11 (route to 10.96.0.10: default via eth0); after the DNAT the packet
    is rerouted out flannel.1 and, being from outside the cluster CIDR, marked and masqueraded to flannel.1's
    address (kube-proxy `! -s 10.244.0.0/16 … -j KUBE-MARK-MASQ`)."""
    trace = trace_flow(load_sample("flannel-vxlan"), "node/node-1", "svc/kube-system/kube-dns:dns", "udp",
                       backend="10.244.1.5")
    port = client_port("node/node-1", "svc/kube-system/kube-dns:dns", "udp")
    assert [(c.field, c.before, c.after) for c in trace.nat] == [
        ("dst", "10.96.0.10:53", "10.244.1.5:53"), ("src", f"192.168.0.11:{port}", "10.244.0.0:27353")]
    mark = next(h for h in trace.hops if h.action == Action.MARK)
    assert mark.rule == ('nat -A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" '
                         '-m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ')
    assert str(trace.reply[-1].packet) == f"udp 10.96.0.10:53 → 192.168.0.11:{port}"


# --- NodePort and externalTrafficPolicy ---------------------------------------------------------------------

def test_nodeport_from_outside_with_cluster_policy_is_masqueraded():
    trace = trace_flow(load_sample("flannel-vxlan"), "203.0.113.10", "node/node-3:30080", backend="10.244.0.2")
    mark = next(h for h in trace.hops if h.action == Action.MARK)
    assert mark.rule == ('nat -A KUBE-EXT-ENODL3HWJ5BZY56Q -m comment --comment "masquerade traffic for '
                         'default/frontend external destinations" -j KUBE-MARK-MASQ')
    choice = next(h for h in trace.hops if h.alternatives)
    assert [(str(a.dst), a.probability) for a in choice.alternatives] == [
        ("10.244.0.2:80", 1 / 3), ("10.244.1.2:80", 1 / 3), ("10.244.2.2:80", 1 / 3)]  # backend-3 is not ready
    masq = next(h for h in trace.hops if h.action == Action.MASQUERADE)
    assert (masq.node, masq.rule) == ("node-3", 'nat -A KUBE-POSTROUTING -m comment --comment "kubernetes service '
                                                "traffic requiring SNAT\" -j MASQUERADE --random-fully")
    # MASQUERADE takes the address of the device the packet leaves by: flannel.1 (10.244.2.0/32) on node-3
    assert delivered_src(trace) == "10.244.2.0"
    port = client_port("203.0.113.10", "node/node-3:30080")
    assert str(trace.reply[-1].packet) == f"tcp 192.168.0.13:30080 → 203.0.113.10:{port}"


def test_nodeport_from_outside_with_local_policy_keeps_the_client_and_stays_on_the_node():
    cluster = view("flannel-vxlan", policy=TrafficPolicy.LOCAL)
    trace = trace_flow(cluster, "203.0.113.10", "node/node-3:30080")
    choice = next(h for h in trace.hops if h.alternatives)
    assert choice.rule == ('nat -A KUBE-SVL-ENODL3HWJ5BZY56Q -m comment --comment "default/frontend -> 10.244.2.2:80" '
                           "-j KUBE-SEP-M7WMXYCJTNBI2WGW")
    assert [(str(a.dst), a.probability) for a in choice.alternatives] == [("10.244.2.2:80", 1.0)]
    assert not any(h.action in (Action.MARK, Action.MASQUERADE) for h in trace.hops)
    assert (trace.hops[-1].netns, delivered_src(trace)) == ("pod/default/frontend-3", "203.0.113.10")
    assert not any(h.packet.outer for h in trace.hops)  # the endpoint is on this node: no tunnel


def test_nodeport_local_policy_on_a_node_without_an_endpoint():
    trace = trace_flow(qa_cluster(), "203.0.113.10", "node/node-2:30080")
    assert (trace.disposition, trace.reason) == (
        Disposition.DROPPED,
        "KUBE-EXTERNAL-SERVICES drops it: service default/web has no endpoint on this node and its traffic policy "
        "is Local")
    assert steps(trace.hops)[-1] == "host/node-2 iptables netfilter/drop"
    assert trace.hops[-1].rule == (
        'filter -A KUBE-EXTERNAL-SERVICES -m comment --comment "default/web has no local endpoints" -m addrtype '
        "--dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP")
    assert trace.reply == ()
    # a pod on that node is short-circuited to the cluster-wide KUBE-SVC chain (KUBE-EXT "pod traffic" rule)
    pod = trace_flow(qa_cluster(), "pod/default/other", "node/node-2:30080")
    assert (pod.hops[-1].netns, delivered_src(pod)) == ("pod/default/web-1", "10.244.1.2")
    # IPVS: node-2's nodePort virtual server has only local real servers, i.e. none: IPVS answers port-unreachable
    ipvs = trace_flow(qa_cluster(KubeProxyMode.IPVS), "203.0.113.10", "node/node-2:30080")
    assert (ipvs.disposition, steps(ipvs.hops)[-1], ipvs.hops[-1].rule) == (
        Disposition.REJECTED, "host/node-2 kube-ipvs0 ipvs/reject", "TCP 192.168.0.12:30080 rr")
    # the userspace proxy predates externalTrafficPolicy: it proxies from node-2 (flannel.1's address) anyway
    user = trace_flow(qa_cluster(KubeProxyMode.USERSPACE), "203.0.113.10", "node/node-2:30080")
    assert (user.hops[-1].netns, delivered_src(user)) == ("pod/default/web-1", "10.244.1.0")


@pytest.mark.parametrize("mode, last, rule, reason", [
    (KubeProxyMode.IPTABLES, "host/node-1 iptables netfilter/reject",
     'filter -A KUBE-SERVICES -m comment --comment "default/ghost has no endpoints" -m tcp -p tcp -d 10.96.0.11 '
     "--dport 5432 -j REJECT",
     "KUBE-SERVICES rejects it (icmp-port-unreachable): service default/ghost has no ready endpoints — no ready pod "
     "matches its selector app=ghost,tier=db"),
    (KubeProxyMode.IPVS, "host/node-1 kube-ipvs0 ipvs/reject", "TCP 10.96.0.11:5432 rr",
     "IPVS virtual server 10.96.0.11:5432 has no real servers on node-1: service default/ghost has no ready "
     "endpoints — no ready pod matches its selector app=ghost,tier=db"),
    (KubeProxyMode.USERSPACE, "host/node-1 kube-proxy proxy/reject", "proxy port 45515",
     "kube-proxy accepts on port 45515 and closes: service default/ghost has no ready endpoints — no ready pod "
     "matches its selector app=ghost,tier=db"),
])
def test_no_endpoints_is_rejected_naming_the_service_and_its_selector(mode, last, rule, reason):
    trace = trace_flow(qa_cluster(mode), "pod/default/client", "svc/default/ghost")
    assert (trace.disposition, trace.reason) == (Disposition.REJECTED, reason)
    assert (steps(trace.hops)[-1], trace.hops[-1].rule, trace.reply) == (last, rule, ())


# --- ExternalName: the DNS exchange, then the connection leaves the cluster --------------------------------

def test_external_name_asks_kube_dns_for_the_cname_then_connects_out():
    src = "pod/default/api-1"
    trace = trace_flow(load_sample("seed-article"), src, "svc/default/search", backend="10.244.1.4")
    query = client_port(src, "10.96.0.10:53", "udp")
    port = client_port(src, "svc/default/search")
    dns = next(i for i, h in enumerate(trace.hops) if h.kind == HopKind.DNS)
    answer = trace.hops[dns]
    assert (answer.netns, answer.device, answer.rule) == (
        "pod/kube-system/coredns-868cd75d4-2mcc9", "kube-dns",
        "search.default.svc.cluster.local. CNAME search.example.com.")
    assert str(trace.hops[0].packet) == f"udp 10.244.1.3:{query} → 10.96.0.10:53"
    assert str(trace.hops[dns - 1].packet) == f"udp 10.244.1.3:{query} → 10.244.1.4:53"  # DNATed to CoreDNS
    opener = next(i for i, h in enumerate(trace.hops) if i > dns and h.action == Action.SEND and h.kind == HopKind.APP
                  and h.netns == "pod/default/api-1")
    assert str(trace.hops[opener - 1].packet) == f"udp 10.96.0.10:53 → 10.244.1.3:{query}"  # the answer, un-DNATed
    assert str(trace.hops[opener].packet) == f"tcp 10.244.1.3:{port} → 198.51.100.20:80"
    assert (steps(trace.hops)[-1], str(trace.hops[-1].packet)) == (
        "external search app/deliver", f"tcp 192.168.0.11:{port} → 198.51.100.20:80")
    assert not any(h.kind in (HopKind.NETFILTER,) and h.action == Action.DNAT for h in trace.hops[opener:])
    assert str(trace.reply[-1].packet) == f"tcp 198.51.100.20:80 → 10.244.1.3:{port}"


# --- the userspace proxy and IPVS ---------------------------------------------------------------------------

def test_userspace_proxy_redirects_to_its_port_and_the_backend_sees_the_node():
    cluster = view("flannel-vxlan", KubeProxyMode.USERSPACE)
    src = "pod/default/debug"
    trace = trace_flow(cluster, src, "svc/default/backend", backend="10.244.1.3")
    port = client_port(src, "svc/default/backend")
    redirect = next(h for h in trace.hops if h.action == Action.REDIRECT)
    # REDIRECT: to the primary address of the incoming interface (cni0) and kube-proxy's port
    assert str(redirect.packet) == f"tcp 10.244.0.4:{port} → 10.244.0.1:49295"
    # the rule as kube-proxy's iptablesCommonPortalArgs wrote it: comment, -p, -m tcp, --dport, -d
    assert redirect.rule == ('nat -A KUBE-PORTALS-CONTAINER -m comment --comment "default/backend:http" -p tcp -m tcp '
                             "--dport 8080 -d 10.96.0.11/32 -j REDIRECT --to-ports 49295")
    proxy = next(h for h in trace.hops if h.kind == HopKind.PROXY)
    assert [(str(a.dst), a.probability, a.chosen) for a in proxy.alternatives] == [
        ("10.244.0.3:8080", 0.5, False), ("10.244.1.3:8080", 0.5, True)]
    # a new connection from the node: its source is flannel.1's address, the kernel's pick for that route
    assert (trace.hops[-1].netns, delivered_src(trace)) == ("pod/default/backend-2", "10.244.0.0")
    assert steps(trace.reply)[13:16] == ["host/node-1 flannel.1 vxlan/decapsulate",
                                         "host/node-1 kube-proxy proxy/deliver", "host/node-1 kube-proxy proxy/send"]
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.11:8080 → 10.244.0.4:{port}"


def test_userspace_proxy_under_host_gw_the_backend_sees_the_node_ip():
    """host-gw routes 10.244.1.0/24 via 192.168.0.12 dev eth0, so kube-proxy's new connection leaves from eth0's
    address: the backend sees node-1's InternalIP; the reply returns to kube-proxy, then to the client."""
    cluster = view("flannel-host-gw", KubeProxyMode.USERSPACE)
    src, dst = "pod/default/client-1", "svc/default/db"
    trace = trace_flow(cluster, src, dst)
    proxy = next(h for h in trace.hops if h.kind == HopKind.PROXY)
    assert (proxy.node, str(proxy.packet.src.ip), str(proxy.packet.dst)) == (
        "node-1", "192.168.0.11", "10.244.1.3:3306")
    assert trace.hops[trace.hops.index(proxy) + 1].rule == "10.244.1.0/24 via 192.168.0.12 dev eth0"
    assert (trace.hops[-1].netns, delivered_src(trace)) == ("pod/default/db-1", "192.168.0.11")
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.11:3306 → 10.244.0.3:{client_port(src, dst)}"


def test_userspace_proxy_whose_only_backend_is_down_closes_the_clients_connection():
    """kube-proxy accepted the client's TCP connection before it dialled: when no backend answers it closes it,
    which the client sees at once (rejected), not as a time-out."""
    cluster = view("seed-article", KubeProxyMode.USERSPACE, down=frozenset({"default/db-1"}))
    trace = trace_flow(cluster, "pod/default/api-1", "svc/default/db")
    assert (trace.disposition, trace.reason) == (
        Disposition.REJECTED, "every backend of service default/db is down; kube-proxy's retries all failed")
    assert steps(trace.hops)[-2:] == ["host/node-1 kube-proxy proxy/proxy", "host/node-1 kube-proxy proxy/reject"]
    assert trace.hops[-1].packet == trace.hops[-2].packet


def test_ipvs_binds_every_vip_to_kube_ipvs0_and_dnats_without_snat():
    cluster = view("flannel-vxlan", KubeProxyMode.IPVS)
    dummy = node_datapath(cluster, "node-2").device_by_name["kube-ipvs0"]
    assert (dummy.state, [str(a) for a in dummy.addresses]) == (
        "DOWN", ["10.96.0.1/32", "10.96.0.10/32", "10.96.0.11/32", "10.96.0.12/32", "10.96.0.13/32", "10.96.0.14/32"])
    assert node_datapath(cluster, "node-2").is_local(IPv4Address("10.96.0.11"))
    trace = trace_flow(cluster, "pod/default/debug", "svc/default/backend", backend="10.244.1.3")
    ipvs = next(h for h in trace.hops if h.kind == HopKind.IPVS)
    assert (ipvs.device, ipvs.action, ipvs.rule) == ("kube-ipvs0", Action.DNAT,
                                                     "TCP 10.96.0.11:8080 rr -> 10.244.1.3:8080 Masq")
    assert [(str(a.dst), a.probability, a.chosen) for a in ipvs.alternatives] == [
        ("10.244.0.3:8080", 0.5, False), ("10.244.1.3:8080", 0.5, True)]
    assert delivered_src(trace) == "10.244.0.4"  # pod → service: no SNAT
    outside = trace_flow(cluster, "203.0.113.10", "node/node-3:30080")
    mark = next(h for h in outside.hops if h.action == Action.MARK)
    assert mark.rule == ('nat -A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for '
                         'masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ')
    assert delivered_src(outside) == "10.244.2.0"


# --- the cloud load balancer and externalIPs (the seed's OVS design) ----------------------------------------

def test_load_balancer_client_is_named_and_each_policy_decides_the_source_the_backend_sees():
    cluster = load_sample("seed-article")
    trace = trace_flow(cluster, "203.0.113.10", "203.0.113.100:80", backend="10.244.1.3")
    assert steps(trace.hops)[:2] == ["external client app/send", "external cloud-load-balancer loadbalancer/dnat"]
    assert steps(trace.reply)[-1] == "external client app/deliver"
    assert trace.hops[1].rule == "203.0.113.100:80 → nodePort 30081 on 2 healthy node(s)"
    assert delivered_src(trace) == "10.244.1.1"  # masqueraded to docker0's address on node-1
    local = trace_flow(view("seed-article", policy=TrafficPolicy.LOCAL), "203.0.113.10", "203.0.113.100:80",
                       backend="10.244.1.3")
    assert delivered_src(local) == "203.0.113.10"


def test_external_ip_over_the_ovs_tunnel():
    trace = trace_flow(load_sample("seed-article"), "203.0.113.10", "192.168.0.100:5432")
    assert trace.hops[1].rule == "192.168.0.100 → node node-1"  # the network routes the externalIP to a node
    # the seed's OVS design: OpenFlow picks the tunnel port towards node-2 (vxlan + c0a8000c = 192.168.0.12)
    assert [(h.netns, h.device, h.action, h.rule) for h in trace.hops if h.kind in (HopKind.OVS, HopKind.VXLAN)] == [
        ("host/node-1", "obr0", Action.FORWARD,
         "table=0,priority=100,ip,in_port=LOCAL,nw_dst=10.244.2.0/24 actions=output:vxlanc0a8000c"),
        ("host/node-1", "vxlanc0a8000c", Action.ENCAPSULATE,
         "vxlan id 1 remote 192.168.0.12 local 192.168.0.11 dstport 4789 nolearning"),
        ("host/node-2", "vxlanc0a8000b", Action.DECAPSULATE,
         "vxlan id 1 remote 192.168.0.11 local 192.168.0.12 dstport 4789 nolearning"),
        ("host/node-2", "obr0", Action.FORWARD,
         "table=0,priority=100,ip,in_port=vxlanc0a8000b,nw_dst=10.244.2.0/24 actions=output:LOCAL"),
    ]
    encap = next(h for h in trace.hops if h.action == Action.ENCAPSULATE)
    assert (encap.device, encap.packet.outer.dst.port) == ("vxlanc0a8000c", 4789)
    assert delivered_src(trace) == "10.244.1.1"
    assert str(trace.reply[-1].packet).startswith("tcp 192.168.0.100:5432 → 203.0.113.10:")


def test_load_balancer_without_a_healthy_node_ends_at_the_load_balancer():
    """externalTrafficPolicy Local and no endpoint anywhere: no node answers healthCheckNodePort, the cloud load
    balancer has no backend and drops; from inside the cluster kube-proxy's KUBE-EXTERNAL-SERVICES rejects."""
    cluster = qa_cluster(extra_service=b"{name: lb, type: LoadBalancer, selector: {app: none}, externalTrafficPolicy: "
                                       b"Local, loadBalancerIP: [198.51.100.50], ports: [{port: 80, nodePort: 30090}], "
                                       b"loadBalancerMode: proxy}")
    trace = trace_flow(cluster, "203.0.113.10", "198.51.100.50:80")
    hc = cluster.service_by_key["default/lb"].health_check_node_port
    assert (trace.disposition, trace.reason) == (
        Disposition.DROPPED,
        f"no node passes the load balancer's health check for default/lb: health check: GET http://<node>:{hc}/healthz "
        "answers 200 only on nodes with a local endpoint (externalTrafficPolicy Local)")
    assert steps(trace.hops) == ["external client app/send", "external cloud-load-balancer loadbalancer/drop"]
    assert trace.hops[-1].rule == "198.51.100.50:80 → nodePort 30090 on 0 healthy node(s)"
    inside = trace_flow(cluster, "pod/default/client", "198.51.100.50:80")
    assert (inside.disposition, inside.hops[-1].rule) == (
        Disposition.REJECTED, 'filter -A KUBE-EXTERNAL-SERVICES -m comment --comment "default/lb has no endpoints" '
                              "-m tcp -p tcp -d 198.51.100.50 --dport 80 -j REJECT")


# --- F1 (docs/qa-findings.md) -------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", [Overlay.FLANNEL_VXLAN, Overlay.FLANNEL_HOST_GW])
def test_the_seed_cluster_switched_to_flannel_keeps_pod_addresses_across_nodes(overlay):
    trace = trace_flow(view("seed-article", overlay=overlay), "pod/default/api-1", "pod/default/api-2:8080")
    assert trace.nat == ()
    assert delivered_src(trace) == "10.244.1.3"


# --- F2–F8 (docs/qa-findings.md) ---------------------------------------------------------------------

def test_random_fully_masquerade_picks_a_new_source_port():
    """iptables-extensions(8): MASQUERADE --random-fully fully randomises the source port (1024–65535). The
    engine's draw is 1024 + CRC-32 of the connection mod 64512, checked here by hand."""
    src, dst = "pod/default/frontend-1", "203.0.113.10:443"
    trace = trace_flow(load_sample("flannel-vxlan"), src, dst)
    masq = next(h for h in trace.hops if h.action == Action.MASQUERADE)
    assert masq.rule.endswith("-j MASQUERADE --random-fully")
    assert client_port(src, dst) == 44040
    assert 1024 + zlib.crc32(b"tcp|10.244.0.2:44040|203.0.113.10:443") % 64512 == 5780
    assert str(masq.packet.src) == "192.168.0.11:5780"
    assert masq.explain.endswith("--random-fully: the kernel maps the source port anew for every connection "
                                 "(1024–65535); this trace shows 44040 → 5780, one such draw.")
    assert str(trace.reply[-1].packet) == f"tcp 203.0.113.10:443 → 10.244.0.2:{client_port(src, dst)}"


def test_ipvs_vip_on_a_port_no_service_has_is_not_delivered():
    cluster = view("flannel-vxlan", KubeProxyMode.IPVS)
    trace = trace_flow(cluster, "pod/default/debug", "10.96.0.11:9999")
    assert (trace.disposition, trace.hops[-1].action, trace.reply) == (Disposition.REJECTED, Action.REJECT, ())
    # kube-proxy's KUBE-IPVS-FILTER (issue #72236) refuses it in filter INPUT, before IPVS would see it
    assert trace.hops[-1].rule == ("filter -A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set "
                                   "KUBE-IPVS-IPS dst -j REJECT")
    assert trace.reason == ("KUBE-IPVS-FILTER rejects it: 10.96.0.11 is a Service address on kube-ipvs0, and no "
                            "Service of it listens on 9999/TCP: kube-proxy refuses new connections to the node's "
                            "other ports through a VIP")


@pytest.mark.parametrize("mode", TRACED_MODES)
def test_a_cluster_ip_on_an_unknown_port_is_not_external(mode):
    trace = trace_flow(view("flannel-vxlan", mode), "pod/default/debug", "10.96.0.11:9999")
    assert trace.flow.type == "pod-to-service"


def test_a_udp_only_service_port_from_the_picker_reaches_the_service():
    """F5: the picker offers svc/default/syslog:514 (UDP only); its trace must meet kube-proxy's rules."""
    from webapp.engine.flows import FlowType, candidate_flows

    cluster = qa_cluster(extra_service=b"{name: syslog, selector: {app: web}, ports: [{port: 514, protocol: UDP}]}")
    pairs = [p for p in candidate_flows(cluster)[FlowType.POD_TO_SERVICE] if "syslog" in p[1]]
    assert pairs == [("pod/default/client", "svc/default/syslog:514"), ("pod/default/other", "svc/default/syslog:514"),
                     ("pod/default/web-1", "svc/default/syslog:514"),  # its only backend (hairpin)
                     ("pod/kube-system/coredns-868cd75d4-2mcc9", "svc/default/syslog:514"),
                     ("pod/kube-system/coredns-868cd75d4-9v5v2", "svc/default/syslog:514")]
    for src, dst in pairs:
        trace = trace_flow(cluster, src, dst)
        dnat = [h for h in trace.hops if h.action == Action.DNAT]
        assert [str(h.packet.dst) for h in dnat] == ["10.244.0.3:514"], (src, trace.reason)
        # web-1 declares only 80/TCP, so nothing listens on 514/UDP there
        assert (trace.disposition, trace.reason) == (
            Disposition.REJECTED,
            "nothing listens on 514/UDP in pod default/web-1 (its containers declare nginx 80/TCP)")


def test_ipvs_real_server_on_the_node_itself_is_delivered_locally():
    """F6: IPVS DNATs 10.96.0.1:443 to the API server at node-1's own 192.168.0.11:6443; the kernel's local
    table delivers it on node-1 (no POSTROUTING, no masquerade, nothing on the wire)."""
    cluster = view("flannel-vxlan", KubeProxyMode.IPVS)
    src, dst = "pod/default/frontend-1", "svc/default/kubernetes"
    trace = trace_flow(cluster, src, dst)
    port = client_port(src, dst)
    assert not any(h.netns == "underlay" for h in trace.hops)
    assert [(c.field, c.before, c.after) for c in trace.nat] == [("dst", "10.96.0.1:443", "192.168.0.11:6443")]
    assert (trace.hops[-1].netns, str(trace.hops[-1].packet)) == (
        "host/node-1", f"tcp 10.244.0.2:{port} → 192.168.0.11:6443")
    assert str(trace.reply[-1].packet) == f"tcp 10.96.0.1:443 → 10.244.0.2:{port}"


def test_external_name_to_an_unknown_host_goes_on_out_through_the_masquerade():
    """Issue 17, item 9: the client resolves the CNAME's name (upstream, its address unknown here), then connects
    out through its node's masquerade to an outside host drawn as `NAME (address unknown)`."""
    cluster = qa_cluster(extra_service=b"{name: ext, type: ExternalName, externalName: db.example.org}")
    trace = trace_flow(cluster, "pod/default/client", "svc/default/ext")
    assert (trace.disposition, trace.reason) == (Disposition.DELIVERED, None)
    resolver = next(h for h in trace.hops if h.kind == HopKind.DNS and h.device == "shell")
    assert (resolver.action, resolver.rule) == (
        Action.LOOKUP, "db.example.org. A ? (address unknown: 192.0.2.228 stands for it)")
    last = trace.hops[-1]
    assert (last.netns, last.device, str(last.packet)) == (
        "external", "db.example.org (address unknown)", "tcp 192.168.0.11:21449 → 192.0.2.228:80")
    assert [(c.field, c.before, c.after) for c in trace.nat] == [("src", "10.244.0.2:41738", "192.168.0.11:21449")]
    assert trace.notes[-1] == (
        "default/ext points at db.example.org, which the cluster does not declare: its address is unknown, and "
        "192.0.2.228 (TEST-NET-1) stands for it — the path out of the cluster, the masquerade included, is the same "
        "for any outside address. Declare the host under the cluster's external hosts to show its address.")
    assert str(trace.reply[-1].packet) == "tcp 192.0.2.228:80 → 10.244.0.2:41738"


@pytest.mark.parametrize("src, dst, flow_type, ends_at", [
    # node-1's own cni0 address; node-2's cni0 address; the pod's gateway; node-3's flannel.1 (kubelet: 10250)
    ("node/node-1", "10.244.0.1:10250", "host-network", "host/node-1 kubelet app/deliver"),
    ("node/node-1", "10.244.1.1:10250", "host-network", "host/node-2 kubelet app/deliver"),
    ("pod/default/frontend-1", "10.244.0.1:10250", "pod-to-node", "host/node-1 kubelet app/deliver"),
    ("pod/default/frontend-1", "10.244.2.0:10250", "pod-to-node", "host/node-3 kubelet app/deliver"),
])
def test_an_address_a_node_owns_in_the_pod_cidr_is_that_node(src, dst, flow_type, ends_at):
    trace = trace_flow(load_sample("flannel-vxlan"), src, dst)
    assert (trace.flow.type, steps(trace.hops)[-1]) == (flow_type, ends_at)


@pytest.mark.parametrize("sample, dst", [("flannel-vxlan", "10.96.0.12:80"), ("seed-article", "svc/default/web")])
def test_an_outside_client_to_a_cluster_ip_is_not_a_node(sample, dst):
    """The service range is not routed outside (no-route at the gateway); the flow is not from a pod or a node."""
    trace = trace_flow(load_sample(sample), "203.0.113.10", dst)
    assert trace.disposition == Disposition.NO_ROUTE
    assert trace.flow.type not in ("node-to-service", "pod-to-service")
