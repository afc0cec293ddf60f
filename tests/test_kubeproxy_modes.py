"""IPVS (virtual servers, ipsets, rr choice) and the legacy userspace proxy (portals, new connection, retry)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

from factories import service_cluster
from webapp.engine.kubeproxy import ipvs, userspace
from webapp.engine.kubeproxy.iptables import base_chains_restore
from webapp.engine.kubeproxy.rules_command import render_node_rules
from webapp.engine.netfilter import Hook, PacketContext, Verdict, traverse
from webapp.engine.rulesets import node_ruleset
from webapp.engine.services import load_balancer_prelude, local_service
from webapp.engine.trace import Action, HopKind, Packet, SocketAddress
from webapp.model import KubeProxyMode, LoadBalancerMode, ServiceType, SessionAffinity, TrafficPolicy


def pkt(src: str, dst: str, proto: str = "tcp") -> Packet:
    return Packet(SocketAddress.parse(src), SocketAddress.parse(dst), proto)


def ctx(packet, node="node-1", backend=None):
    return PacketContext(packet, node, "cni0", None, 0, IPv4Address(backend) if backend else None)


# --- IPVS -----------------------------------------------------------------------------------------------------

def ipvs_cluster(**kw):
    return service_cluster(mode=KubeProxyMode.IPVS, type=ServiceType.NODE_PORT, node_port=30080, **kw)


def test_ipvsadm_listing():
    assert ipvs.render_ipvsadm(ipvs_cluster(session_affinity=SessionAffinity.CLIENT_IP), "node-1") == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  10.96.0.20:80 rr persistent 10800\n"
        "  -> 10.244.0.3:80                Masq    1      0          0\n"
        "  -> 10.244.1.2:80                Masq    1      0          0\n"
        # the nodePort on every address of the node's devices but kube-ipvs0: flannel.1's, cni0's, eth0's
        "TCP  10.244.0.0:30080 rr persistent 10800\n"
        "  -> 10.244.0.3:80                Masq    1      0          0\n"
        "  -> 10.244.1.2:80                Masq    1      0          0\n"
        "TCP  10.244.0.1:30080 rr persistent 10800\n"
        "  -> 10.244.0.3:80                Masq    1      0          0\n"
        "  -> 10.244.1.2:80                Masq    1      0          0\n"
        "TCP  192.168.0.11:30080 rr persistent 10800\n"
        "  -> 10.244.0.3:80                Masq    1      0          0\n"
        "  -> 10.244.1.2:80                Masq    1      0          0\n"
        "UDP  10.96.0.10:53 rr\n"
        "  -> 10.244.1.4:53                Masq    1      0          0\n")


def test_ipsets():
    sets = {s.name: s for s in ipvs.node_ipsets(ipvs_cluster(), "node-1")}
    assert sets["KUBE-CLUSTER-IP"].entries == {"10.96.0.20,tcp:80", "10.96.0.10,udp:53"}
    assert sets["KUBE-LOOP-BACK"].entries == {"10.244.0.3,tcp:80,10.244.0.3"}
    assert sets["KUBE-NODE-PORT-TCP"].entries == {"30080"}
    assert sets["KUBE-NODE-PORT-LOCAL-TCP"].entries == set()
    text = ipvs.render_ipset(ipvs_cluster(), "node-1")
    assert ("Name: KUBE-CLUSTER-IP\nType: hash:ip,port\nHeader: family inet hashsize 1024 maxelem 65536 comment\n"
            "Comment: Kubernetes service cluster ip + port for masquerade purpose\nNumber of entries: 2\nMembers:\n"
            "10.96.0.10,udp:53\n10.96.0.20,tcp:80\n") in text


def test_ipvs_virtual_server_chooses_a_real_server_round_robin():
    cluster = ipvs_cluster()
    out = local_service(cluster, "node-1", ctx(pkt("10.244.0.2:40000", "10.96.0.20:80")))
    assert out is not None and out.verdict == Verdict.ACCEPT and not out.locally_generated
    (hop,) = out.hops
    assert (hop.kind, hop.action, hop.device) == (HopKind.IPVS, Action.DNAT, "kube-ipvs0")
    assert hop.rule == "TCP 10.96.0.20:80 rr -> 10.244.0.3:80 Masq"
    assert [(str(a.dst), a.probability, a.chosen) for a in hop.alternatives] == [
        ("10.244.0.3:80", 0.5, True), ("10.244.1.2:80", 0.5, False)]
    assert out.packet == pkt("10.244.0.2:40000", "10.244.0.3:80")
    chosen = local_service(cluster, "node-1", ctx(pkt("10.244.0.2:40000", "10.96.0.20:80"), backend="10.244.1.2"))
    assert chosen.packet.dst == SocketAddress.parse("10.244.1.2:80")
    # not a virtual server: ordinary local delivery
    assert local_service(cluster, "node-1", ctx(pkt("10.244.0.2:40000", "192.168.0.11:22"))) is None


def test_ipvs_vips_are_local_and_masquerade_follows_the_ipsets():
    cluster = ipvs_cluster()
    ruleset = node_ruleset(cluster, "node-1")
    assert IPv4Address("10.96.0.20") in ruleset.local_addresses
    # an external client to the nodePort: KUBE-NODE-PORT marks for masquerade (Cluster policy)
    pre = traverse(ruleset, Hook.PREROUTING,
                   PacketContext(pkt("203.0.113.7:50000", "192.168.0.11:30080"), "node-1", "eth0", None))
    assert pre.mark == 0x4000 and pre.packet.dst == SocketAddress.parse("192.168.0.11:30080")
    assert pre.hops[0].rule == ('nat -A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for '
                                'masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ')
    # a pod to its own service (hairpin): KUBE-LOOP-BACK masquerades after IPVS's DNAT
    post = traverse(ruleset, Hook.POSTROUTING,
                    PacketContext(pkt("10.244.0.3:40000", "10.244.0.3:80"), "node-1", None, "cni0"))
    assert post.packet.src == SocketAddress.parse("10.244.0.1:40000")
    assert post.hops[0].rule.startswith("nat -A KUBE-POSTROUTING -m comment --comment \"Kubernetes endpoints dst "
                                        "ip:port, source ip for solving hairpin purpose\"")
    # a pod to a cluster IP is not marked
    pod = traverse(ruleset, Hook.PREROUTING,
                   PacketContext(pkt("10.244.0.2:40000", "10.96.0.20:80"), "node-1", "cni0", None))
    assert pod.mark == 0 and pod.hops == ()


def test_ipvs_local_policy_node_without_endpoint_rejects():
    cluster = ipvs_cluster(external_traffic_policy=TrafficPolicy.LOCAL)
    cluster = replace(cluster, endpoints=tuple(e for e in cluster.endpoints if e.pod != "default/web-a"))
    out = local_service(cluster, "node-1", ctx(pkt("203.0.113.7:50000", "192.168.0.11:30080")))
    assert out.verdict == Verdict.REJECT
    assert out.reason == ("IPVS virtual server 192.168.0.11:30080 has no real servers on node-1: service "
                          "default/web:http has no endpoint on this node and its traffic policy is Local")


def test_rules_command_ipvs_output_has_all_three_views():
    text = render_node_rules(ipvs_cluster(), "node-1")
    assert text.startswith("# ip addr show kube-ipvs0\n")
    assert "    inet 10.96.0.20/32 scope global kube-ipvs0\n" in text
    assert "# ipvsadm -Ln\n" in text and "# ipset list\n" in text


# --- userspace ------------------------------------------------------------------------------------------------

def us_cluster(**kw):
    return service_cluster(mode=KubeProxyMode.USERSPACE, **kw)


def proxy_port(cluster, node="node-1") -> int:
    return next(p.proxy_port for p in userspace.portals(cluster, node) if p.info.name == "default/web:http")


def test_userspace_portal_rules():
    cluster = us_cluster()
    port = proxy_port(cluster)
    assert 32768 <= port <= 60999
    text = userspace.render_iptables_restore(cluster, "node-1")
    assert (f'-A KUBE-PORTALS-CONTAINER -m comment --comment "default/web:http" -p tcp -m tcp --dport 80 '
            f"-d 10.96.0.20/32 -j REDIRECT --to-ports {port}") in text
    assert (f'-A KUBE-PORTALS-HOST -m comment --comment "default/web:http" -p tcp -m tcp --dport 80 '
            f"-d 10.96.0.20/32 -j DNAT --to-destination 192.168.0.11:{port}") in text


def test_userspace_redirects_to_the_proxy_port_then_opens_a_new_connection():
    cluster = us_cluster()
    port = proxy_port(cluster)
    pre = traverse(node_ruleset(cluster, "node-1"), Hook.PREROUTING,
                   PacketContext(pkt("10.244.0.2:40000", "10.96.0.20:80"), "node-1", "cni0", None))
    assert pre.packet == pkt("10.244.0.2:40000", f"10.244.0.1:{port}")  # cni0's address
    assert pre.hops[0].action == Action.REDIRECT
    out = local_service(cluster, "node-1", ctx(pre.packet, backend="10.244.1.2"))
    assert out.locally_generated and out.verdict == Verdict.ACCEPT
    (hop,) = out.hops
    assert (hop.kind, hop.action, hop.device) == (HopKind.PROXY, Action.PROXY, "kube-proxy")
    # the backend sees the node (flannel.1's address towards a remote pod, a new ephemeral port), never the client
    assert (str(out.packet.src.ip), str(out.packet.dst)) == ("10.244.0.0", "10.244.1.2:80")
    assert 40000 <= out.packet.src.port < 60000


def test_userspace_retries_a_backend_that_is_down():
    cluster = replace(us_cluster(), down_pods=frozenset({"default/web-a"}))
    port = proxy_port(cluster)
    out = local_service(cluster, "node-1", ctx(pkt("10.244.0.2:40000", f"10.244.0.1:{port}")))
    assert [h.packet.dst for h in out.hops] == [SocketAddress.parse("10.244.0.3:80"), SocketAddress.parse("10.244.1.2:80")]
    assert out.hops[0].explain.endswith("which does not answer; the userspace proxy retries the next backend.")
    assert (str(out.packet.src.ip), str(out.packet.dst)) == ("10.244.0.0", "10.244.1.2:80")


def test_userspace_session_affinity_keeps_the_client_on_its_backend():
    """The removed userspace LoadBalancerRR honoured sessionAffinity ClientIP: the client's IP (REDIRECT keeps
    it) maps to the backend that took its first connection, for timeoutSeconds."""
    cluster = us_cluster(session_affinity=SessionAffinity.CLIENT_IP)
    port = proxy_port(cluster)
    out = local_service(cluster, "node-1", ctx(pkt("10.244.0.2:40000", f"10.244.0.1:{port}"), backend="10.244.1.2"))
    (hop,) = out.hops
    assert hop.rule == f"default/web:http proxy port {port} (round-robin, sessionAffinity ClientIP)"
    assert hop.explain.endswith(
        "sessionAffinity ClientIP: kube-proxy records client 10.244.0.2 → 10.244.1.2:80; for 10800 s this client's "
        "next connections skip the round-robin and go to it (while it answers).")
    plain = local_service(us_cluster(), "node-1", ctx(pkt("10.244.0.2:40000", f"10.244.0.1:{port}")))
    assert plain.hops[0].rule == f"default/web:http proxy port {port} (round-robin)"
    assert "sessionAffinity" not in plain.hops[0].explain


def lb_with_source_ranges(mode: KubeProxyMode):
    return service_cluster(mode=mode, endpoints=2, type=ServiceType.LOAD_BALANCER, node_port=30080,
                           load_balancer_ips=(IPv4Address("198.51.100.10"),),
                           load_balancer_source_ranges=(IPv4Network("10.244.0.0/24"),))


def test_ipvs_source_ranges_fill_the_firewall_sets_and_chains():
    """pkg/proxy/ipvs: KUBE-LOAD-BALANCER-FW holds the LB VIP, KUBE-LOAD-BALANCER-SOURCE-CIDR the allowed ranges;
    filter INPUT/FORWARD → KUBE-PROXY-FIREWALL → KUBE-SOURCE-RANGES-FIREWALL returns for them and drops the rest."""
    cluster = lb_with_source_ranges(KubeProxyMode.IPVS)
    sets = {s.name: s for s in ipvs.node_ipsets(cluster, "node-1")}
    assert sets["KUBE-LOAD-BALANCER-FW"].entries == {"198.51.100.10,tcp:80"}
    assert sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"].entries == {"198.51.100.10,tcp:80,10.244.0.0/24"}
    assert sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"].type == "hash:ip,port,net"
    assert sets["KUBE-LOAD-BALANCER-SOURCE-IP"].entries == frozenset()  # node IP 192.168.0.11 is outside the range
    with_nodes = replace(cluster, services=(replace(cluster.services[0], load_balancer_source_ranges=(
        IPv4Network("10.244.0.0/24"), IPv4Network("192.168.0.0/24"))), *cluster.services[1:]))
    # a node inside the ranges reaches the VIP on its own kube-ipvs0 with the VIP as source
    assert {s.name: s for s in ipvs.node_ipsets(with_nodes, "node-1")}["KUBE-LOAD-BALANCER-SOURCE-IP"].entries == {
        "198.51.100.10,tcp:80,198.51.100.10"}
    rules = [line for line in ipvs.render_iptables_restore(cluster, "node-1").splitlines()
             if "FIREWALL" in line and line.startswith("-A")]
    assert rules == [
        '-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer '
        'with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
        '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source '
        'cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN',
        '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source IP '
        'for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN',
        "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP"]


def test_ipvs_filter_chains_and_their_sets():
    """Newer kube-proxy (issues #72236, #119656): filter INPUT → KUBE-IPVS-FILTER lets the services' own VIP:port
    pairs through and refuses new connections to any other port of an address on kube-ipvs0 (KUBE-IPVS-IPS);
    KUBE-NODE-PORT accepts the health check node ports."""
    cluster = service_cluster(mode=KubeProxyMode.IPVS, endpoints=2, type=ServiceType.LOAD_BALANCER,
                              node_port=30080, load_balancer_ips=(IPv4Address("198.51.100.10"),),
                              external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000)
    sets = {s.name: s for s in ipvs.node_ipsets(cluster, "node-1")}
    assert sets["KUBE-IPVS-IPS"].entries == {"10.96.0.20", "10.96.0.10", "198.51.100.10"}
    assert (sets["KUBE-IPVS-IPS"].type, sets["KUBE-IPVS-IPS"].comment) == ("hash:ip", "Addresses on the ipvs interface")
    assert sets["KUBE-HEALTH-CHECK-NODE-PORT"].entries == {"32000"}
    text = ipvs.render_iptables_restore(cluster, "node-1")
    # (nat's KUBE-NODE-PORT rules start with -p; filter's health-check rule with its comment)
    assert [line for line in text.splitlines()
            if line.startswith(("-A KUBE-IPVS-FILTER", "-A KUBE-NODE-PORT -m comment"))] == [
        '-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set '
        "KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT",
        "-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN",
        "-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN",
        "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN",
        "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN",
        "-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN",
        "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT"]
    saved = [line for line in base_chains_restore(ipvs.JUMP_RULES).splitlines() if line.startswith("-A INPUT")]
    assert saved == [
        '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
        '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT']


def test_source_ranges_admit_and_drop_in_cluster_clients_alike_in_iptables_and_ipvs_mode():
    from webapp.engine.flows import trace_flow

    for mode in (KubeProxyMode.IPTABLES, KubeProxyMode.IPVS):
        cluster = lb_with_source_ranges(mode)
        inside = trace_flow(cluster, "pod/default/client", "198.51.100.10:80", backend="10.244.0.3")
        assert (inside.disposition, str(inside.hops[-1].packet.dst)) == ("delivered", "10.244.0.3:80"), mode
        outside = trace_flow(cluster, "pod/default/web-c", "198.51.100.10:80")
        assert (outside.disposition, outside.hops[-1].action, outside.hops[-1].node) == ("dropped", Action.DROP,
                                                                                          "node-2"), mode
    assert outside.reason == (
        "KUBE-SOURCE-RANGES-FIREWALL drops it: default/web admits only loadBalancerSourceRanges 10.244.0.0/24 to its "
        "load balancer IP 198.51.100.10, and 10.244.1.3 is outside them")
    assert outside.hops[-1].rule == "filter -A KUBE-SOURCE-RANGES-FIREWALL -j DROP"


# --- the cloud load balancer ----------------------------------------------------------------------------------

def test_load_balancer_local_policy_sends_only_to_nodes_with_an_endpoint():
    cluster = service_cluster(endpoints=3, type=ServiceType.LOAD_BALANCER, node_port=30080,
                              load_balancer_ips=(IPv4Address("198.51.100.10"),),
                              external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000,
                              load_balancer_mode=LoadBalancerMode.PROXY)
    cluster = replace(cluster, endpoints=tuple(e for e in cluster.endpoints if e.pod != "default/web-a"))
    svc, port = cluster.services[0], cluster.services[0].ports[0]
    pre = load_balancer_prelude(cluster, SocketAddress.parse("203.0.113.7:50000"), svc, port, "tcp")
    assert pre.node == "node-2"
    app, lb = pre.hops
    assert (lb.node, lb.kind, lb.action, lb.device) == (None, HopKind.LOADBALANCER, Action.DNAT, "cloud-load-balancer")
    assert [(str(a.dst), a.probability) for a in lb.alternatives] == [("192.168.0.12:30080", 1.0)]
    assert pre.packet == pkt("203.0.113.7:50000", "192.168.0.12:30080")
    cluster_policy = replace(cluster, services=(replace(svc, external_traffic_policy=TrafficPolicy.CLUSTER),
                                                *cluster.services[1:]))
    both = load_balancer_prelude(cluster_policy, SocketAddress.parse("203.0.113.7:50000"),
                                 cluster_policy.services[0], port, "tcp", node="node-2")
    assert [(str(a.dst), a.probability, a.chosen) for a in both.hops[1].alternatives] == [
        ("192.168.0.11:30080", 0.5, False), ("192.168.0.12:30080", 0.5, True)]


def test_kube_ipvs0_holds_every_proxied_vip_from_the_model():
    from webapp.engine.datapath import node_datapath, service_vips
    from webapp.model import Service, ServicePort

    cluster = service_cluster(mode=KubeProxyMode.IPVS, type=ServiceType.LOAD_BALANCER, node_port=30080,
                              load_balancer_ips=(IPv4Address("198.51.100.10"),),
                              external_ips=(IPv4Address("192.168.0.100"),))
    no_ports = Service("default", "empty", ServiceType.CLUSTER_IP, IPv4Address("10.96.0.30"))
    headless = Service("default", "headless", ServiceType.CLUSTER_IP, None, ports=(ServicePort(80, 80),))
    # a NodePort service's LB IPs are not bound (kube-proxy's ServicePort.LoadBalancerVIPs are LoadBalancer-only)
    node_port = Service("default", "np", ServiceType.NODE_PORT, IPv4Address("10.96.0.40"),
                        ports=(ServicePort(80, 80, node_port=30081),),
                        load_balancer_ips=(IPv4Address("198.51.100.11"),))
    cluster = replace(cluster, services=(*cluster.services, no_ports, headless, node_port))
    assert sorted(str(ip) for ip in service_vips(cluster)) == [
        "10.96.0.10", "10.96.0.20", "10.96.0.40", "192.168.0.100", "198.51.100.10"]
    dummy = node_datapath(cluster, "node-2").device_by_name["kube-ipvs0"]
    assert [str(a) for a in dummy.addresses] == [
        "10.96.0.10/32", "10.96.0.20/32", "10.96.0.40/32", "192.168.0.100/32", "198.51.100.10/32"]
    assert ipvs.render_ipset(cluster, "node-1").split("Name: KUBE-IPVS-IPS")[1].split("Members:\n")[1].split(
        "\n\n")[0].splitlines() == ["10.96.0.10", "10.96.0.20", "10.96.0.40", "192.168.0.100", "198.51.100.10"]
