"""The built-in seed-article lesson: the article's sections in order, and every caption true of its trace."""

from __future__ import annotations

import re

import pytest

from webapp.engine.trace import HopKind
from webapp.lessons import ResolvedStep, builtin_lesson, resolve_step
from webapp.lessons.principles import Principle, Verdict, principles

LESSON = builtin_lesson("seed-article")
RESOLVED = [resolve_step(step) for step in LESSON.steps]

# step number, flow type, disposition, the stops (1-based hop, kind/action, device), the request's NAT
EXPECTED = [
    (1, "pod-to-pod-same-node", "delivered", [(1, 'app/send', 'api'), (3, 'interface/send', 'eth0')],
     []),
    (2, "pod-to-service", "delivered", [(1, 'app/send', 'api'), (7, 'netfilter/dnat', 'iptables')],
     ['dst 10.96.0.13:80 → 10.244.1.2:80']),
    (3, "container-to-container", "delivered", [(2, 'loopback/forward', 'lo'), (3, 'app/deliver', 'nginx')],
     []),
    (4, "container-to-container", "delivered", [(3, 'app/deliver', 'log-agent')],
     []),
    (5, "pod-to-pod-same-node", "delivered", [(4, 'interface/forward', 'vethb70d95f7'), (5, 'bridge/forward', 'docker0'), (8, 'app/deliver', 'nginx')],
     []),
    (6, "pod-to-pod-cross-node", "delivered", [(6, 'route/lookup', 'flannel.1'), (9, 'vxlan/encapsulate', 'flannel.1'), (12, 'wire/forward', '192.168.0.0/24'), (14, 'vxlan/decapsulate', 'flannel.1')],
     []),
    (7, "pod-to-pod-cross-node", "delivered", [(6, 'route/lookup', 'eth0'), (8, 'wire/forward', '192.168.0.0/24')],
     []),
    (8, "pod-to-pod-cross-node", "delivered", [(8, 'ovs/forward', 'obr0'), (9, 'vxlan/encapsulate', 'vxlanc0a8000c'), (14, 'vxlan/decapsulate', 'vxlanc0a8000b')],
     []),
    (9, "pod-to-pod-cross-node", "delivered", [(1, 'app/send', 'api'), (19, 'app/deliver', 'nginx')],
     []),
    (10, "node-to-pod", "delivered", [(1, 'app/send', 'socket'), (15, 'app/deliver', 'nginx')],
     []),
    (11, "pod-to-node", "delivered", [(7, 'netfilter/masquerade', 'iptables'), (11, 'app/deliver', 'kubelet')],
     ['src 10.244.1.3:49885 → 192.168.0.11:49885']),
    (12, "pod-to-external", "delivered", [(7, 'netfilter/masquerade', 'iptables'), (11, 'app/deliver', 'client')],
     ['src 10.244.1.3:47346 → 192.168.0.11:47346']),
    (13, "pod-to-service", "delivered", [(6, 'netfilter/redirect', 'iptables'), (7, 'proxy/proxy', 'kube-proxy')],
     ['dst 10.96.0.13:80 → 10.244.1.1:58820', 'src 10.244.1.3:51990 → 10.244.1.1:50998', 'dst 10.244.1.1:58820 → 10.244.1.2:80']),
    (14, "pod-to-service", "delivered", [(7, 'proxy/proxy', 'kube-proxy'), (8, 'proxy/proxy', 'kube-proxy'), (22, 'app/deliver', 'nginx')],
     ['dst 10.96.0.13:80 → 10.244.1.1:58820', 'src 10.244.1.3:51990 → 10.244.1.1:50998', 'dst 10.244.1.1:58820 → 10.244.1.2:80', 'dst 10.244.1.2:80 → 10.244.2.2:80']),
    (15, "pod-to-service", "delivered", [(6, 'netfilter/lookup', 'iptables'), (7, 'netfilter/dnat', 'iptables'), (12, 'app/deliver', 'nginx')],
     ['dst 10.96.0.13:80 → 10.244.1.2:80']),
    (16, "pod-to-service", "dropped", [(7, 'netfilter/dnat', 'iptables'), (12, 'app/drop', 'eth0')],
     ['dst 10.96.0.13:80 → 10.244.1.2:80']),
    (17, "nodeport", "delivered", [(3, 'interface/receive', 'eth0'), (6, 'netfilter/dnat', 'iptables'), (8, 'netfilter/masquerade', 'iptables')],
     ['dst 192.168.0.11:30080 → 10.244.1.2:80', 'src 203.0.113.10:56524 → 10.244.1.1:15155']),
    (18, "nodeport", "delivered", [(6, 'netfilter/dnat', 'iptables'), (11, 'vxlan/encapsulate', 'vxlanc0a8000b'), (21, 'app/deliver', 'nginx')],
     ['dst 192.168.0.12:30080 → 10.244.1.2:80', 'src 203.0.113.10:55501 → 10.244.2.1:41401']),
    (19, "nodeport", "delivered", [(5, 'netfilter/dnat', 'iptables'), (10, 'app/deliver', 'nginx')],
     ['dst 192.168.0.11:30080 → 10.244.1.2:80']),
    (20, "loadbalancer", "delivered", [(2, 'loadbalancer/dnat', 'cloud-load-balancer'), (7, 'netfilter/dnat', 'iptables')],
     ['dst 203.0.113.100:80 → 192.168.0.11:30081', 'dst 192.168.0.11:30081 → 10.244.1.3:8080', 'src 203.0.113.10:44699 → 10.244.1.1:50790']),
    (21, "pod-to-service", "delivered", [(1, 'app/send', 'nginx'), (7, 'netfilter/dnat', 'iptables')],
     ['dst 10.96.0.11:80 → 10.244.1.3:8080']),
    (22, "externalname", "delivered", [(13, 'dns/resolve', 'kube-dns'), (23, 'app/send', 'api'), (33, 'app/deliver', 'search')],
     ['src 10.244.1.3:43791 → 192.168.0.11:43791']),
    (23, "externalips", "delivered", [(2, 'wire/forward', 'gateway'), (6, 'netfilter/dnat', 'iptables'), (21, 'app/deliver', 'postgres')],
     ['dst 192.168.0.100:5432 → 10.244.2.4:5432', 'src 203.0.113.10:58508 → 10.244.1.1:27305']),
    (24, "container-to-container", "delivered", [(2, 'loopback/forward', 'lo')],
     []),
    (25, "pod-to-service", "delivered", [(7, 'netfilter/dnat', 'iptables')],
     ['dst 10.96.0.13:80 → 10.244.1.2:80']),
    (26, "pod-to-pod-cross-node", "delivered", [(12, 'wire/forward', '192.168.0.0/24')],
     []),
    (27, "nodeport", "delivered", [(3, 'interface/receive', 'eth0')],
     ['dst 192.168.0.12:30080 → 10.244.1.2:80', 'src 203.0.113.10:55501 → 10.244.2.1:41401']),
]


def test_the_sections_follow_the_article_in_order() -> None:
    sections = list(dict.fromkeys(step.section.en for step in LESSON.steps if step.section))
    assert sections == ["1. The drawing", "2. Container to container", "3. Pod to pod on one node",
                        "4. Pod to pod across nodes", "5. The three principles", "6. Pod to Service: userspace",
                        "7. Pod to Service: iptables", "8. NodePort", "9. LoadBalancer", "10. ExternalName",
                        "11. ExternalIPs", "12. Summary"]
    assert [s.section.zh for s in LESSON.steps if s.section][:3] == ["1. 基本概念", "1. 基本概念",
                                                                     "2. Container-to-Container"]


@pytest.mark.parametrize("number, flow_type, disposition, stops, nat", EXPECTED)
def test_each_step_traces_what_its_caption_says(number: int, flow_type: str, disposition: str,
                                               stops: list[tuple[int, str, str]], nat: list[str]) -> None:
    resolved = RESOLVED[number - 1]
    trace = resolved.trace
    assert (trace.flow.type, str(trace.disposition)) == (flow_type, disposition)
    assert [(i + 1, f"{trace.hops[i].kind}/{trace.hops[i].action}", trace.hops[i].device)
            for i in resolved.stops] == stops
    assert [str(change) for change in trace.nat] == nat


ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")


@pytest.mark.parametrize("number", range(1, len(LESSON.steps) + 1))
def test_every_address_a_caption_names_is_the_traces_or_the_clusters(number: int) -> None:
    """Both languages name the same addresses, each one in the trace (packets, rules) or the cluster's nodes and
    services."""
    resolved: ResolvedStep = RESOLVED[number - 1]
    caption = resolved.step.caption
    named = set(ADDRESS.findall(caption.en))
    assert named == set(ADDRESS.findall(caption.zh))
    cluster = resolved.cluster
    known = str(resolved.trace) + " ".join(str(ip) for ip in (
        *(n.internal_ip for n in cluster.nodes), *(s.cluster_ip for s in cluster.services)))
    assert [address for address in named if address not in known] == []


def step(number: int) -> ResolvedStep:
    return RESOLVED[number - 1]


def test_the_key_facts_of_the_captions() -> None:
    # 2: container to container stays on lo at 127.0.0.1
    assert {str(h.packet.src.ip) for h in step(3).trace.hops} == {"127.0.0.1"}
    assert [h.kind for h in step(3).trace.hops] == [HopKind.APP, HopKind.LOOPBACK, HopKind.APP]
    # 4: the flannel tunnel is UDP 8472 to node-2, the OVS one 4789
    assert str(step(6).trace.hops[8].packet.outer.dst) == "192.168.0.12:8472"
    assert str(step(8).trace.hops[8].packet.outer.dst) == "192.168.0.12:4789"
    assert not any(h.kind == HopKind.VXLAN for h in step(7).trace.hops)
    assert step(7).trace.hops[5].rule == "10.244.2.0/24 via 192.168.0.12 dev eth0"
    # 5: the principles hold on pod → pod and node → pod, break on pod → node and pod → outside
    verdicts = {n: [r.verdict for r in principles(step(n).trace)] for n in (9, 10, 11, 12)}
    assert verdicts == {
        9: [Verdict.HOLDS, Verdict.NOT_APPLICABLE, Verdict.HOLDS],
        10: [Verdict.NOT_APPLICABLE, Verdict.HOLDS, Verdict.NOT_APPLICABLE],
        11: [Verdict.NOT_APPLICABLE, Verdict.BROKEN, Verdict.BROKEN],
        12: [Verdict.NOT_APPLICABLE, Verdict.NOT_APPLICABLE, Verdict.BROKEN],
    }
    assert step(11).trace.hops[6].rule == "nat -A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE"
    # 6: userspace: the proxy port, and the retry of a dead backend
    assert "redirects the packet to port 58820" in step(13).trace.hops[5].explain
    assert "the userspace proxy retries the next backend" in step(14).trace.hops[6].explain
    # 7: the probability ladder, then no retry
    ladder = step(15).trace.hops[5]
    assert [(str(a.dst), a.probability) for a in ladder.alternatives] == [("10.244.1.2:80", 0.5),
                                                                           ("10.244.2.2:80", 0.5)]
    assert "--probability 0.5000000000" in ladder.rule
    assert "iptables mode cannot retry another backend" in step(16).trace.reason
    assert "A readiness probe would mark the pod unready" in step(16).trace.reason
    # 8: the node port is in the default range; Local keeps the client and only local endpoints
    assert step(17).cluster.settings.node_port_range == (30000, 32767)
    assert [(str(a.dst), a.probability) for a in step(19).trace.hops[3].alternatives] == [("10.244.1.2:80", 1.0)]
    assert str(step(19).trace.hops[-1].packet.src.ip) == "203.0.113.10"
    # 9: the LoadBalancer service has a ClusterIP and a node port too
    api_lb = step(21).cluster.service_by_key["default/api-lb"]
    assert (str(api_lb.cluster_ip), api_lb.ports[0].node_port) == ("10.96.0.11", 30081)
    # 10: the CNAME answer
    assert step(22).trace.hops[12].rule == "search.default.svc.cluster.local. CNAME search.example.com."
    # 11: db is a ClusterIP service with an external IP
    db = step(23).cluster.service_by_key["default/db"]
    assert (str(db.type), [str(ip) for ip in db.external_ips]) == ("ClusterIP", ["192.168.0.100"])


def test_the_encapsulation_step_has_its_own_quiz_question() -> None:
    quiz = LESSON.steps[5].quiz
    assert quiz is not None and quiz.question is not None
    assert quiz.question.zh == "flannel.1 正要封装这个数据包。外层 UDP 头部的目的地址是什么？"


def test_principles_name_the_article_order() -> None:
    assert [p.value for p in Principle] == ["pod_to_pod", "node_to_pod", "own_ip"]
