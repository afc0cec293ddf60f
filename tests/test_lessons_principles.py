"""The why of a trace: the three principles (✓/✗ and where each broke) and honest hop badges (issue 10)."""

from __future__ import annotations

import pytest

from webapp.engine.flows import trace_flow
from webapp.engine.trace import Disposition, NatChange
from webapp.lessons.principles import Principle, PrincipleResult, Verdict, hop_badges, principles
from webapp.lessons.strip import header_strip
from webapp.loaders import load_sample
from webapp.variants import ViewSettings, apply_view_settings

SEED = load_sample("seed-article")


def trace(src: str, dst: str, **view: object):
    return trace_flow(apply_view_settings(SEED, ViewSettings.parse(**view)), src, dst)


def test_pod_to_pod_holds_the_first_and_third() -> None:
    results = principles(trace("pod/default/api-1", "pod/default/web-2:80"))
    assert results == (PrincipleResult(Principle.POD_TO_POD, Verdict.HOLDS),
                       PrincipleResult(Principle.NODE_TO_POD, Verdict.NOT_APPLICABLE),
                       PrincipleResult(Principle.OWN_IP, Verdict.HOLDS))
    assert [r.ok for r in results] == [True, None, True]
    assert [r.says() for r in results] == ["holds: the addresses were not translated",
                                           "does not apply to this flow",
                                           "holds: the addresses were not translated"]
    assert [r.name("zh") for r in results] == ["所有容器和其他容器的通信不需要NAT", "所有节点和容器间的通信不需要NAT",
                                               "容器自己看到的IP就是对外呈现的IP"]


def test_pod_to_node_breaks_at_the_masquerade_hop() -> None:
    results = principles(trace("pod/default/api-1", "node/node-2:10250"))
    change = NatChange(6, "src", "10.244.1.3:49885", "192.168.0.11:49885",
                       "nat -A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE")
    assert [(r.verdict, r.broken_at) for r in results] == [(Verdict.NOT_APPLICABLE, None),
                                                           (Verdict.BROKEN, change), (Verdict.BROKEN, change)]
    assert results[1].ok is False
    assert results[1].says() == "broken at hop 7: src 10.244.1.3:49885 → 192.168.0.11:49885"
    assert results[1].says("zh") == "在第 7 跳被打破：src 10.244.1.3:49885 → 192.168.0.11:49885"


def test_a_dropped_flow_is_not_delivered_never_holds() -> None:
    """Defect: a green "principles hold" badge on a dropped flow."""
    dropped = trace("pod/default/api-1", "svc/default/web:80", down=["default/web-1"])
    assert (dropped.disposition, [str(c) for c in dropped.nat]) == (Disposition.DROPPED,
                                                                  ["dst 10.96.0.13:80 → 10.244.1.2:80"])
    results = principles(dropped)
    assert [r.verdict for r in results] == [Verdict.NOT_DELIVERED, Verdict.NOT_APPLICABLE, Verdict.NOT_DELIVERED]
    assert [r.ok for r in results] == [None, None, None]
    assert results[0].says() == "not delivered (dropped): nothing to judge"
    assert results[0].says("zh") == "未送达（被丢弃）：无从判断"


def test_a_service_dnat_breaks_none_but_the_userspace_proxy_does() -> None:
    iptables = principles(trace("pod/default/api-1", "svc/default/web:80"))
    assert [r.verdict for r in iptables] == [Verdict.HOLDS, Verdict.NOT_APPLICABLE, Verdict.HOLDS]
    userspace = principles(trace("pod/default/api-1", "svc/default/web:80", mode="userspace"))
    assert [r.verdict for r in userspace] == [Verdict.BROKEN, Verdict.NOT_APPLICABLE, Verdict.BROKEN]
    assert userspace[0].says() == "broken at hop 7: src 10.244.1.3:51990 → 10.244.1.1:50998"


def test_node_to_pod_holds_the_second() -> None:
    results = principles(trace("node/node-1", "pod/default/web-2:80"))
    assert [r.verdict for r in results] == [Verdict.NOT_APPLICABLE, Verdict.HOLDS, Verdict.NOT_APPLICABLE]


def test_a_port_only_rewrite_keeps_the_principles_and_says_so() -> None:
    """flannel's MASQUERADE --random-fully on node → remote pod under host-gw keeps the node's own address."""
    host_gw = trace("node/node-1", "pod/default/web-2:80", overlay="flannel-host-gw")
    results = principles(host_gw)
    assert [r.verdict for r in results] == [Verdict.NOT_APPLICABLE, Verdict.HOLDS, Verdict.NOT_APPLICABLE]
    assert results[1].says() == ("holds: the addresses were kept; only a port changed"
                                 " (src 192.168.0.11:45606 → 192.168.0.11:47889)")
    assert hop_badges(host_gw, 2).labels() == ("port translation at this hop: src 192.168.0.11:45606 → "
                                               "192.168.0.11:47889",)


# -------------------------------------------------------------------------------------------------- badges


def test_the_nat_badge_is_only_on_hops_that_rewrite() -> None:
    """Defect: "address translation at this hop" on a DNS reply and on a brand-new connection."""
    external = trace("pod/default/api-1", "svc/default/search")
    tagged = [i for i in range(len(external.hops)) if hop_badges(external, i).nat]
    assert tagged == [6, 17, 28]  # the DNS query's DNAT, its reply's un-DNAT, the connection's masquerade
    assert [hop_badges(external, i).labels() for i in tagged] == [
        ("address translation at this hop: dst 10.96.0.10:53 → 10.244.1.4:53",),
        ("address translation at this hop: src 10.244.1.4:53 → 10.96.0.10:53",),
        ("address translation at this hop: src 10.244.1.3:43791 → 192.168.0.11:43791",),
    ]
    # the DNS reply's send (13) and the new connection's first send (22) start new packets: no badge
    assert (str(external.hops[13].kind), str(external.hops[22].kind)) == ("app", "app")
    assert hop_badges(external, 13).rewrites == () and hop_badges(external, 22).rewrites == ()
    reply = [i for i in range(len(external.reply)) if hop_badges(external, i, reply=True).nat]
    assert reply == [3]
    assert hop_badges(external, 3, reply=True).labels("zh") == (
        "本跳做了地址转换：dst 192.168.0.11:43791 → 10.244.1.3:43791",)


def test_badges_name_whose_namespace_a_hop_is_in() -> None:
    """Defect: the hop list doesn't say whose eth0."""
    cross = trace("pod/default/api-1", "pod/default/web-2:80")
    eth0 = [(i, hop_badges(cross, i).namespace) for i, hop in enumerate(cross.hops) if hop.device == "eth0"]
    assert eth0 == [(1, "pod/default/api-1"), (2, "pod/default/api-1"), (9, "host/node-1"), (10, "host/node-1"),
                    (12, "host/node-2"), (17, "pod/default/web-2")]
    assert hop_badges(cross, 11).namespace == "underlay"


def test_a_dropped_flow_says_so_on_its_last_hop() -> None:
    dropped = trace("pod/default/api-1", "svc/default/web:80", down=["default/web-1"])
    last = hop_badges(dropped, len(dropped.hops) - 1)
    assert (last.verdict, last.labels()) == (Disposition.DROPPED, ("not delivered: dropped",))
    assert last.labels("zh") == ("未送达：被丢弃",)
    assert hop_badges(dropped, 6).labels() == ("address translation at this hop: dst 10.96.0.13:80 → 10.244.1.2:80",)
    assert hop_badges(dropped, 5).labels() == ()


# -------------------------------------------------------------------------------------------------- header strip


def test_the_header_strip_of_a_dnat_hop_shows_before_after_and_the_choice() -> None:
    service = trace("pod/default/api-1", "svc/default/web:80")
    strip = header_strip(service, 6)
    assert (strip.namespace, strip.device, str(strip.inner), strip.outer) == (
        "host/node-1", "iptables", "tcp 10.244.1.3:51990 → 10.244.1.2:80", None)
    assert [str(c) for c in strip.rewrites] == ["dst 10.96.0.13:80 → 10.244.1.2:80"]
    assert strip.chosen is not None
    assert (str(strip.chosen.dst), strip.chosen.probability) == ("10.244.1.2:80", 0.5)
    assert strip.rule == ("nat -A KUBE-SEP-PBQ62IOVWGYEN623 -m comment --comment default/web:http -m tcp -p tcp"
                          " -j DNAT --to-destination 10.244.1.2:80")
    assert header_strip(service, 7).chosen is None  # docker0's route lookup: no choice there


def test_the_header_strip_of_a_tunnel_hop_shows_the_outer_headers() -> None:
    strip = header_strip(trace("pod/default/api-1", "pod/default/web-2:80"), 8)
    assert strip.outer is not None
    assert (str(strip.outer.src), str(strip.outer.dst), strip.outer.vni) == ("192.168.0.11:55623",
                                                                           "192.168.0.12:4789", 1)
    assert str(strip.inner.dst) == "10.244.2.2:80" and strip.rewrites == ()
    assert strip.rule == "vxlan id 1 remote 192.168.0.12 local 192.168.0.11 dstport 4789 nolearning"
