"""Evaluating the generated rules: one packet through a hook's tables, the hops that decide, and the index."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest

from factories import service_cluster
from webapp.engine.netfilter import Hook, PacketContext, Ruleset, Verdict, traverse
from webapp.engine.rulesets import node_ruleset
from webapp.engine.trace import Action, HopKind, Packet, SocketAddress
from webapp.model import ServiceType, SessionAffinity, TrafficPolicy

SVC = "KUBE-SVC-CDGGSHYLG3RE2FKL"
SEP_A = "KUBE-SEP-UF6OOORCMXPJJDSV"
SEP_B = "KUBE-SEP-PBQ62IOVWGYEN623"


def addr(text: str) -> SocketAddress:
    return SocketAddress.parse(text)


def pkt(src: str, dst: str, proto: str = "tcp") -> Packet:
    return Packet(addr(src), addr(dst), proto)


def run(cluster, node, hook, packet, in_dev=None, out_dev=None, mark=0, backend=None):
    ctx = PacketContext(packet, node, in_dev, out_dev, mark, IPv4Address(backend) if backend else None)
    return traverse(node_ruleset(cluster, node), hook, ctx)


def test_pod_to_cluster_ip_chooses_an_endpoint_and_dnats():
    cluster = service_cluster()
    out = run(cluster, "node-1", Hook.PREROUTING, pkt("10.244.0.2:40000", "10.96.0.20:80"), in_dev="cni0")
    assert out.verdict == Verdict.ACCEPT and out.mark == 0
    assert out.packet == pkt("10.244.0.2:40000", "10.244.0.3:80")
    choice, dnat = out.hops
    assert (choice.kind, choice.action, choice.device) == (HopKind.NETFILTER, Action.LOOKUP, "iptables")
    assert choice.rule == (f'nat -A {SVC} -m comment --comment "default/web:http -> 10.244.0.3:80" -m statistic '
                           f"--mode random --probability 0.5000000000 -j {SEP_A}")
    assert [(str(a.dst), a.probability, a.chosen, a.rule) for a in choice.alternatives] == [
        ("10.244.0.3:80", 0.5, True, SEP_A), ("10.244.1.2:80", 0.5, False, SEP_B)]
    assert dnat.action == Action.DNAT
    assert dnat.rule == (f"nat -A {SEP_A} -m comment --comment default/web:http -m tcp -p tcp -j DNAT "
                         "--to-destination 10.244.0.3:80")
    assert dnat.packet == out.packet


def test_backend_choice_is_user_selectable_and_probabilities_are_uniform():
    cluster = service_cluster(endpoints=3)
    out = run(cluster, "node-1", Hook.PREROUTING, pkt("10.244.0.2:40000", "10.96.0.20:80"), in_dev="cni0",
              backend="10.244.1.3")
    assert out.packet.dst == addr("10.244.1.3:80")
    alts = out.hops[0].alternatives
    assert [a.chosen for a in alts] == [False, False, True]
    assert [a.probability for a in alts] == [1 / 3] * 3
    assert [a.to_dict()["probability"] for a in alts] == [0.3333333333] * 3


def test_hairpin_is_marked_and_masqueraded_to_the_bridge_address():
    cluster = service_cluster()
    pre = run(cluster, "node-1", Hook.PREROUTING, pkt("10.244.0.3:40000", "10.96.0.20:80"), in_dev="cni0",
              backend="10.244.0.3")
    assert [h.action for h in pre.hops] == [Action.LOOKUP, Action.MARK, Action.DNAT]
    assert pre.hops[1].rule == f"nat -A {SEP_A} -m comment --comment default/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ"
    assert pre.mark == 0x4000
    post = run(cluster, "node-1", Hook.POSTROUTING, pre.packet, in_dev="cni0", out_dev="cni0", mark=pre.mark)
    # the bridge's address, and a source port drawn anew (--random-fully)
    assert post.packet == pkt("10.244.0.1:39133", "10.244.0.3:80")
    assert [(h.action, h.rule) for h in post.hops] == [(
        Action.MASQUERADE,
        'nat -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
        "--random-fully")]
    assert post.mark == 0  # KUBE-POSTROUTING clears the bit (--xor-mark) before masquerading


def test_pod_to_remote_endpoint_keeps_its_source():
    cluster = service_cluster()
    pre = run(cluster, "node-1", Hook.PREROUTING, pkt("10.244.0.2:40000", "10.96.0.20:80"), in_dev="cni0",
              backend="10.244.1.2")
    post = run(cluster, "node-1", Hook.POSTROUTING, pre.packet, in_dev="cni0", out_dev="flannel.1", mark=pre.mark)
    assert post.packet == pkt("10.244.0.2:40000", "10.244.1.2:80")
    assert post.hops == ()


def test_node_to_cluster_ip_from_outside_the_cluster_cidr_is_masqueraded():
    cluster = service_cluster()
    out = run(cluster, "node-1", Hook.OUTPUT, pkt("192.168.0.11:40000", "10.96.0.20:80"), out_dev="eth0",
              backend="10.244.1.2")
    assert [h.action for h in out.hops] == [Action.MARK, Action.LOOKUP, Action.DNAT]
    assert out.hops[0].rule == (
        f'nat -A {SVC} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 '
        "! -s 10.244.0.0/16 -j KUBE-MARK-MASQ")
    post = run(cluster, "node-1", Hook.POSTROUTING, out.packet, out_dev="flannel.1", mark=out.mark)
    assert post.packet.src == addr("10.244.0.0:8098")  # flannel.1's /32 address, a port drawn by --random-fully


def test_nodeport_cluster_policy_masquerades_external_clients():
    cluster = service_cluster(type=ServiceType.NODE_PORT, node_port=30080)
    pre = run(cluster, "node-1", Hook.PREROUTING, pkt("203.0.113.7:50000", "192.168.0.11:30080"), in_dev="eth0",
              backend="10.244.1.2")
    assert [h.action for h in pre.hops] == [Action.MARK, Action.LOOKUP, Action.DNAT]
    assert pre.hops[0].rule == ('nat -A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment "masquerade traffic for '
                                'default/web:http external destinations" -j KUBE-MARK-MASQ')
    fwd = run(cluster, "node-1", Hook.FORWARD, pre.packet, in_dev="eth0", out_dev="flannel.1", mark=pre.mark)
    assert fwd.verdict == Verdict.ACCEPT
    post = run(cluster, "node-1", Hook.POSTROUTING, pre.packet, in_dev="eth0", out_dev="flannel.1", mark=pre.mark)
    assert post.packet == pkt("10.244.0.0:45524", "10.244.1.2:80")


def test_nodeport_local_policy_preserves_source_and_uses_only_local_endpoints():
    cluster = service_cluster(endpoints=3, type=ServiceType.NODE_PORT, node_port=30080,
                              external_traffic_policy=TrafficPolicy.LOCAL)
    pre = run(cluster, "node-2", Hook.PREROUTING, pkt("203.0.113.7:50000", "192.168.0.12:30080"), in_dev="eth0")
    assert [str(a.dst) for a in pre.hops[0].alternatives] == ["10.244.1.2:80", "10.244.1.3:80"]
    assert pre.hops[0].rule.startswith("nat -A KUBE-SVL-CDGGSHYLG3RE2FKL ")
    assert pre.mark == 0
    post = run(cluster, "node-2", Hook.POSTROUTING, pre.packet, in_dev="eth0", out_dev="cni0", mark=pre.mark)
    assert post.packet == pkt("203.0.113.7:50000", "10.244.1.2:80")


def test_nodeport_local_policy_drops_on_a_node_without_endpoint():
    cluster = service_cluster(endpoints=3, type=ServiceType.NODE_PORT, node_port=30080,
                              external_traffic_policy=TrafficPolicy.LOCAL)
    cluster = replace(cluster, endpoints=tuple(e for e in cluster.endpoints if e.pod != "default/web-a"))
    pre = run(cluster, "node-1", Hook.PREROUTING, pkt("203.0.113.7:50000", "192.168.0.11:30080"), in_dev="eth0")
    assert pre.packet.dst == addr("192.168.0.11:30080") and pre.hops == ()
    inp = run(cluster, "node-1", Hook.INPUT, pre.packet, in_dev="eth0")
    assert inp.verdict == Verdict.DROP
    assert inp.reason == ("KUBE-EXTERNAL-SERVICES drops it: service default/web:http has no endpoint on this node "
                          "and its traffic policy is Local")
    assert inp.hops[0].action == Action.DROP


def test_no_endpoints_is_rejected_with_the_selector_named():
    cluster = service_cluster(endpoints=0)
    pre = run(cluster, "node-1", Hook.PREROUTING, pkt("10.244.0.2:40000", "10.96.0.20:80"), in_dev="cni0")
    assert pre.hops == ()
    fwd = run(cluster, "node-1", Hook.FORWARD, pre.packet, in_dev="cni0", out_dev="eth0")
    assert fwd.verdict == Verdict.REJECT
    assert fwd.reason == ("KUBE-SERVICES rejects it (icmp-port-unreachable): service default/web:http has no ready "
                          "endpoints — no ready pod matches its selector app=web")
    assert fwd.hops[0].rule == ('filter -A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" '
                                "-m tcp -p tcp -d 10.96.0.20 --dport 80 -j REJECT")


def test_load_balancer_source_ranges_drop_other_clients():
    cluster = service_cluster(type=ServiceType.LOAD_BALANCER, node_port=30080,
                              load_balancer_ips=(IPv4Address("198.51.100.10"),),
                              load_balancer_source_ranges=(IPv4Network("203.0.113.0/24"),))
    allowed = run(cluster, "node-1", Hook.PREROUTING, pkt("203.0.113.7:50000", "198.51.100.10:80"), in_dev="eth0")
    assert allowed.packet.dst.ip in (IPv4Address("10.244.0.3"), IPv4Address("10.244.1.2"))
    other = pkt("192.0.2.9:50000", "198.51.100.10:80")
    pre = run(cluster, "node-1", Hook.PREROUTING, other, in_dev="eth0")
    assert pre.packet == other
    fwd = run(cluster, "node-1", Hook.FORWARD, other, in_dev="eth0", out_dev="eth0")
    assert fwd.verdict == Verdict.DROP
    assert fwd.reason == ("KUBE-PROXY-FIREWALL drops it: default/web:http traffic not accepted by "
                          "KUBE-FW-CDGGSHYLG3RE2FKL")


def test_session_affinity_first_connection_draws_and_records():
    cluster = service_cluster(session_affinity=SessionAffinity.CLIENT_IP)
    out = run(cluster, "node-1", Hook.PREROUTING, pkt("10.244.0.2:40000", "10.96.0.20:80"), in_dev="cni0")
    assert out.hops[0].explain.endswith("its next connections match the --rcheck rules above and skip the draw.")
    assert "-m recent --name KUBE-SEP-UF6OOORCMXPJJDSV --set" in out.hops[1].rule


def test_parses_iptables_save_canonical_form():
    """The form a real node prints (real-node-iptables-save.md): /32, -p first, --set-xmark, 11 decimals."""
    text = """*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
:KUBE-SEP-6E7XQMQ4RAYOWTTM - [0:0]
:KUBE-SEP-WXWGHGKZOCNYRYI7 - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SEP-6E7XQMQ4RAYOWTTM -s 10.244.0.3/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-6E7XQMQ4RAYOWTTM -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.0.3:53
-A KUBE-SEP-WXWGHGKZOCNYRYI7 -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.0.4:53
-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.3:53" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-6E7XQMQ4RAYOWTTM
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.4:53" -j KUBE-SEP-WXWGHGKZOCNYRYI7
COMMIT
"""
    cluster = service_cluster()
    ruleset = Ruleset.parse(text)
    ruleset.local_addresses = frozenset({IPv4Address("192.168.0.11")})
    ctx = PacketContext(pkt("192.168.0.11:5353", "10.96.0.10:53", "udp"), "node-1", None, "eth0",
                        backend=IPv4Address("10.244.0.4"))
    out = traverse(ruleset, Hook.PREROUTING, ctx)
    assert out.packet.dst == addr("10.244.0.4:53")
    assert out.mark == 0x4000
    assert [(str(a.dst), a.probability) for a in out.hops[1].alternatives] == [
        ("10.244.0.3:53", 0.5), ("10.244.0.4:53", 0.5)]


def test_big_chains_are_indexed():
    cluster = service_cluster()
    ruleset = Ruleset.parse("*nat\n:KUBE-SERVICES - [0:0]\n" + "".join(
        f"-A KUBE-SERVICES -m tcp -p tcp -d 10.96.{i // 250}.{i % 250 + 1} --dport 80 -j KUBE-SVC-{i:016d}\n"
        for i in range(1000)) + "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n")
    chain = ruleset.chain("nat", "KUBE-SERVICES")
    assert chain.candidates(pkt("10.244.0.2:1", "10.96.2.8:80")) == [507, 1000]
    assert chain.candidates(pkt("10.244.0.2:1", "10.96.2.8:443")) == [1000]


def test_generic_targets_snat_interface_negation_and_policy():
    cluster = service_cluster()
    ruleset = Ruleset.parse("""*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.244.0.0/24 ! -o cni0 -j SNAT --to-source 192.168.0.11
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -i cni+ -j ACCEPT
COMMIT
""")
    out = traverse(ruleset, Hook.POSTROUTING,
                   PacketContext(pkt("10.244.0.2:40000", "203.0.113.10:80"), "node-1", "cni0", "eth0"))
    assert out.packet == pkt("192.168.0.11:40000", "203.0.113.10:80")
    assert [(h.action, h.rule) for h in out.hops] == [
        (Action.SNAT, "nat -A POSTROUTING -s 10.244.0.0/24 ! -o cni0 -j SNAT --to-source 192.168.0.11")]
    same_bridge = traverse(ruleset, Hook.POSTROUTING,
                           PacketContext(pkt("10.244.0.2:40000", "10.244.0.3:80"), "node-1", "cni0", "cni0"))
    assert same_bridge.hops == ()
    assert traverse(ruleset, Hook.FORWARD,
                    PacketContext(pkt("10.244.0.2:1", "10.244.1.2:80"), "node-1", "cni0", "flannel.1")).verdict \
        == Verdict.ACCEPT
    dropped = traverse(ruleset, Hook.FORWARD,
                       PacketContext(pkt("203.0.113.7:1", "10.244.0.2:80"), "node-1", "eth0", "cni0"))
    assert (dropped.verdict, dropped.reason) == (Verdict.DROP, "filter FORWARD policy DROP")
    assert [(h.action, h.rule) for h in dropped.hops] == [(Action.DROP, "filter :FORWARD DROP")]


def test_unknown_matches_never_match():
    cluster = service_cluster()
    ruleset = Ruleset.parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m physdev --physdev-is-in -j DROP\nCOMMIT\n")
    out = traverse(ruleset, Hook.INPUT, PacketContext(pkt("1.2.3.4:1", "192.168.0.11:22"), "node-1",
                                                                 "eth0", None))
    assert out.verdict == Verdict.ACCEPT


def test_unreadable_line_is_an_error():
    try:
        Ruleset.parse("*nat\n-Z KUBE-SERVICES\nCOMMIT\n")
    except ValueError as error:
        assert str(error) == "cannot read iptables line: '-Z KUBE-SERVICES'"
    else:
        raise AssertionError("expected a ValueError")


GENERIC_LADDER = """*nat
:PREROUTING ACCEPT [0:0]
:LB - [0:0]
:ONE - [0:0]
:BACKEND-1 - [0:0]
:BACKEND-2 - [0:0]
:PORTAL - [0:0]
-A PREROUTING -d 10.0.0.1/32 -p tcp --dport 80 -j LB
-A PREROUTING -d 10.0.0.2/32 -p tcp --dport 80 -j ONE
-A PREROUTING -p tcp --dport 81 -j PORTAL
-A LB -m statistic --mode random --probability 0.5 -j BACKEND-1
-A LB -j BACKEND-2
-A ONE -j BACKEND-2
-A BACKEND-1 -p tcp -j DNAT --to-destination 10.1.0.1:8080
-A BACKEND-2 -p tcp -j DNAT --to-destination 10.1.0.2:8080
-A PORTAL -d 10.0.0.3/32 -p tcp --dport 81 -j DNAT --to-destination 10.1.0.3:81
COMMIT
"""


def test_the_evaluator_finds_a_ladder_by_its_statistic_match_and_dnat_not_by_chain_names():
    ruleset = Ruleset.parse(GENERIC_LADDER)
    ctx = PacketContext(pkt("10.2.0.1:40000", "10.0.0.1:80"), "node-1", "eth0", None, backend=IPv4Address("10.1.0.2"))
    out = traverse(ruleset, Hook.PREROUTING, ctx)
    assert out.packet == pkt("10.2.0.1:40000", "10.1.0.2:8080")
    choice, dnat = out.hops
    assert (choice.action, choice.rule, dnat.action, dnat.rule) == (
        Action.LOOKUP, "nat -A LB -j BACKEND-2",
        Action.DNAT, "nat -A BACKEND-2 -p tcp -j DNAT --to-destination 10.1.0.2:8080")
    assert [(str(a.dst), a.probability, a.chosen, a.rule) for a in choice.alternatives] == [
        ("10.1.0.1:8080", 0.5, False, "BACKEND-1"), ("10.1.0.2:8080", 0.5, True, "BACKEND-2")]
    assert choice.explain == ("PREROUTING → LB: LB picks one of 2 endpoint(s) with -m statistic --mode random "
                              "(each equally likely); this trace follows 10.1.0.2:8080.")
    # A lone jump into an endpoint's chain is a ladder of one; a chain whose DNAT matches an address is not one.
    lone = traverse(ruleset, Hook.PREROUTING, replace(ctx, packet=pkt("10.2.0.1:40000", "10.0.0.2:80")))
    assert [(h.action, [str(a.dst) for a in h.alternatives]) for h in lone.hops] == [
        (Action.LOOKUP, ["10.1.0.2:8080"]), (Action.DNAT, [])]
    portal = traverse(ruleset, Hook.PREROUTING, replace(ctx, packet=pkt("10.2.0.1:40000", "10.0.0.3:81")))
    assert [(h.action, h.rule) for h in portal.hops] == [
        (Action.DNAT, "nat -A PORTAL -d 10.0.0.3/32 -p tcp --dport 81 -j DNAT --to-destination 10.1.0.3:81")]
    assert portal.hops[0].explain == "PORTAL rewrites the destination 10.0.0.3:81 → 10.1.0.3:81."


class NotedExplainer:
    """An explainer that speaks for the rules its writer noted, and adds a word on every DNAT."""

    def drop(self, ruleset, rule, verdict, packet):
        note = ruleset.note(rule)
        return f"{rule.chain}: {note} ({verdict}, {packet.dst})" if note else None

    def dnat(self, before):
        return f" (was {before.dst})"


def test_explanations_come_from_the_explainer_and_the_writers_notes():
    ruleset = Ruleset.parse('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j DROP\n'
                            '-A INPUT -m comment --comment "no telnet" -p tcp --dport 23 -j REJECT\nCOMMIT\n'
                            + GENERIC_LADDER)
    ssh = PacketContext(pkt("10.2.0.1:40000", "192.168.0.11:22"), "node-1", "eth0", None)
    telnet = replace(ssh, packet=pkt("10.2.0.1:40000", "192.168.0.11:23"))
    # Without an explainer of its own, a ruleset says what the rule's comment (else its text) says.
    assert traverse(ruleset, Hook.INPUT, ssh).reason == "INPUT drops it: -A INPUT -p tcp --dport 22 -j DROP"
    assert traverse(ruleset, Hook.INPUT, telnet).reason == "INPUT rejects it: no telnet"
    ruleset.notes["-A INPUT -p tcp --dport 22 -j DROP"] = "ssh is closed"
    ruleset.explainer = NotedExplainer()
    assert traverse(ruleset, Hook.INPUT, ssh).reason == "INPUT: ssh is closed (drop, 192.168.0.11:22)"
    assert traverse(ruleset, Hook.INPUT, telnet).reason == "INPUT rejects it: no telnet"
    out = traverse(ruleset, Hook.PREROUTING, replace(ssh, packet=pkt("10.2.0.1:40000", "10.0.0.3:81")))
    assert out.hops[0].explain == "PORTAL rewrites the destination 10.0.0.3:81 → 10.1.0.3:81. (was 10.0.0.3:81)"


def test_masquerade_takes_the_devices_address_from_the_ruleset():
    ruleset = Ruleset.parse("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n")
    ctx = PacketContext(pkt("10.244.0.2:40000", "203.0.113.10:80"), "node-1", "cni0", "eth0")
    with pytest.raises(ValueError, match=r"^the ruleset knows no address of device 'eth0'$"):
        traverse(ruleset, Hook.POSTROUTING, ctx)
    ruleset.interface_addresses = {"eth0": IPv4Address("192.168.0.11")}
    ruleset.primary_address = IPv4Address("192.168.0.99")
    assert traverse(ruleset, Hook.POSTROUTING, ctx).packet.src == addr("192.168.0.11:40000")
    assert traverse(ruleset, Hook.POSTROUTING, replace(ctx, out_dev="lo")).packet.src == addr("192.168.0.99:40000")


def test_the_node_ruleset_explains_kube_proxy_rejects_from_its_notes():
    from webapp.engine.kubeproxy.chains import DropCause, RuleNote

    cluster = service_cluster(endpoints=0)
    ruleset = node_ruleset(cluster, "node-1")
    rule = next(r for r in ruleset.chain("filter", "KUBE-SERVICES").rules if r.target == "REJECT")
    note = ruleset.note(rule)
    assert isinstance(note, RuleNote) and note.cause == DropCause.NO_ENDPOINTS
    assert note.service_port is not None and note.service_port.name == "default/web:http"
    out = run(cluster, "node-1", Hook.FORWARD, pkt("10.244.0.2:40000", "10.96.0.20:80"), in_dev="cni0",
              out_dev="eth0")
    assert (out.verdict, out.reason) == (
        Verdict.REJECT, "KUBE-SERVICES rejects it (icmp-port-unreachable): service default/web:http has no ready "
                        "endpoints — no ready pod matches its selector app=web")
