"""Quiz points: placed at the decision points, the right answer the engine's, the wrong ones the cluster's own."""

from __future__ import annotations

import pytest

from webapp.engine.flows import candidate_flows, trace_flow
from webapp.engine.trace import Disposition, Trace
from webapp.lessons import builtin_lesson, resolve_step
from webapp.lessons.quiz import Answer, AnswerKind, Decision, QuizPoint, quiz_points
from webapp.loaders import list_samples, load_sample
from webapp.model import Cluster
from webapp.variants import ViewSettings, apply_view_settings

SEED = load_sample("seed-article")


def points(src: str, dst: str, **view: object) -> tuple[QuizPoint, ...]:
    cluster = apply_view_settings(SEED, ViewSettings.parse(**view))
    return quiz_points(trace_flow(cluster, src, dst), cluster)


def summary(point: QuizPoint) -> tuple:
    return (point.decision, point.pause_after, point.answer_hop, [a.text() for a in point.answers], point.right)


def test_same_node_asks_where_the_bridge_sends_the_frame() -> None:
    found = points("pod/default/api-1", "pod/default/web-1:80")
    assert [summary(p) for p in found] == [
        (Decision.BRIDGE_OR_ROUTE, 3, 5, ["veth625ff234 on host/node-1", "vethb70d95f7 on host/node-1",
                                          "vxlanc0a8000c on host/node-1", "veth96603d4d on host/node-1"], 3),
    ]
    assert found[0].question() == "The frame reaches docker0 on host/node-1. Which device does it reach next?"
    assert found[0].question("zh") == "数据帧到达 host/node-1 上的 docker0。它接下来到达哪个设备？"
    assert found[0].right_answer == Answer(AnswerKind.DEVICE, "veth96603d4d", "host/node-1")
    assert found[0].is_right(3) and not found[0].is_right(0)
    assert found[0].explain == ("Bridge FDB: 82:9e:29:c1:43:c3 is behind port veth96603d4d.",
                                "Leaves by veth96603d4d towards 82:9e:29:c1:43:c3.")


def test_flannel_asks_the_bridge_then_the_outer_destination() -> None:
    found = points("pod/default/api-1", "pod/default/web-2:80", overlay="flannel-vxlan")
    assert [summary(p) for p in found] == [
        (Decision.BRIDGE_OR_ROUTE, 3, 5, ["lo on pod/default/web-1", "flannel.1 on host/node-1",
                                          "eth0 on host/node-1", "veth3487734c on host/node-2"], 1),
        (Decision.ENCAPSULATION, 5, 8, ["192.168.0.12", "192.168.0.11", "10.96.0.11", "10.244.2.2"], 0),
    ]
    assert found[1].explain == tuple(h.explain for h in trace_flow(
        apply_view_settings(SEED, ViewSettings.parse(overlay="flannel-vxlan")), "pod/default/api-1",
        "pod/default/web-2:80").hops[6:9])
    assert found[1].question("zh") == "flannel.1 封装这个数据包，准备穿过隧道去另一个节点。外层头部的目的地址是什么？"


def test_iptables_asks_the_dnat_choice_and_the_drop() -> None:
    found = points("pod/default/api-1", "svc/default/web:80", down=["default/web-1"])
    assert [summary(p) for p in found] == [
        (Decision.BRIDGE_OR_ROUTE, 3, 5, ["veth96603d4d on host/node-1", "lo on pod/default/web-1",
                                          "veth625ff234 on host/node-1", "iptables on host/node-1"], 3),
        (Decision.DROP, 10, 11, ["it is delivered", "there is no route: it goes nowhere", "it is dropped",
                                 "it is rejected"], 2),
    ]
    assert [a.text("zh") for a in found[1].answers] == ["被送达", "没有路由：无处可去", "被丢弃", "被拒绝"]


def test_the_dnat_choice_never_offers_another_endpoint_as_wrong() -> None:
    found = points("pod/default/api-1", "svc/default/web:80", mode="userspace")
    assert [summary(p) for p in found][1] == (
        Decision.DNAT, 5, 6, ["10.244.1.2:80", "10.244.1.1:58820", "10.244.1.4:80", "10.244.2.4:80"], 0)
    assert "10.244.2.2:80" not in [a.value for a in found[1].answers]  # web-2: a valid endpoint, not wrong


def test_a_steps_own_quiz_replaces_the_point_it_overlaps() -> None:
    step = builtin_lesson("seed-article").steps[5]  # flannel VXLAN, quiz at the encapsulation
    resolved = resolve_step(step)
    found = quiz_points(resolved.trace, resolved.cluster, step.quiz)
    assert [summary(p) for p in found] == [
        (Decision.ENCAPSULATION, 4, 8, ["192.168.0.12", "192.168.0.11", "10.96.0.11", "10.244.2.2"], 0),
    ]
    assert found[0].question() == ("flannel.1 is about to encapsulate the packet. Which destination will the outer"
                                   " UDP header carry?")


def test_without_automatic_points_only_the_steps_own_question_is_asked() -> None:
    step = builtin_lesson("seed-article").steps[7]  # Open vSwitch VXLAN: three automatic points, no own quiz
    resolved = resolve_step(step)
    assert [p.decision for p in quiz_points(resolved.trace, resolved.cluster)] == [
        Decision.BRIDGE_OR_ROUTE, Decision.ENCAPSULATION, Decision.BRIDGE_OR_ROUTE]
    assert quiz_points(resolved.trace, resolved.cluster, automatic=False) == ()
    step = builtin_lesson("seed-article").steps[5]  # flannel VXLAN: its own question at the encapsulation
    resolved = resolve_step(step)
    found = quiz_points(resolved.trace, resolved.cluster, step.quiz, automatic=False)
    assert found == quiz_points(resolved.trace, resolved.cluster, step.quiz)
    assert [summary(p) for p in found] == [
        (Decision.ENCAPSULATION, 4, 8, ["192.168.0.12", "192.168.0.11", "10.96.0.11", "10.244.2.2"], 0)]
    assert found[0].asked is step.quiz.question


def test_the_same_trace_gives_the_same_quiz() -> None:
    assert points("pod/default/api-1", "pod/default/web-2:80") == points("pod/default/api-1", "pod/default/web-2:80")


def _right_is_the_engines(point: QuizPoint, trace: Trace) -> bool:
    hop = trace.hops[point.answer_hop]
    right = point.right_answer
    if point.decision in (Decision.BRIDGE_OR_ROUTE, Decision.NEXT_HOP):
        return (right.value, right.namespace) == (hop.device, hop.netns)
    if point.decision == Decision.ENCAPSULATION:
        return hop.packet.outer is not None and right.value == str(hop.packet.outer.dst.ip)
    if point.decision == Decision.DNAT:
        return right.value == str(hop.packet.dst)
    outcome = Disposition(right.value)
    return outcome == (trace.disposition if point.answer_hop == len(trace.hops) - 1 else Disposition.DROPPED)


def _sweep(cluster: Cluster) -> tuple[int, set[Decision]]:
    asked = 0
    decisions: set[Decision] = set()
    for flow_type, pairs in candidate_flows(cluster).items():
        for src, dst in pairs:
            trace = trace_flow(cluster, src, dst)
            previous_answer = -1
            for point in quiz_points(trace, cluster):
                texts = [a.text() for a in point.answers]
                assert 3 <= len(point.answers) <= 4, (src, dst, point)
                assert len(set(texts)) == len(texts), (src, dst, texts)
                assert texts.count(point.right_answer.text()) == 1
                assert _right_is_the_engines(point, trace), (src, dst, point)
                assert previous_answer <= point.pause_after < point.answer_hop, (src, dst, point)
                previous_answer = point.answer_hop
                if point.decision == Decision.DNAT:
                    run = trace.hops[point.pause_after + 1:point.answer_hop + 1]
                    endpoints = {str(a.dst) for h in run for a in h.alternatives}
                    assert not endpoints & {a.value for i, a in enumerate(point.answers) if i != point.right}
                asked += 1
                decisions.add(point.decision)
    return asked, decisions


@pytest.mark.parametrize("sample", [s.name for s in list_samples()])
def test_every_decision_point_of_every_sample(sample: str) -> None:
    """Wrong answers never equal the right one, and the right one is the engine's (issue 10)."""
    base = load_sample(sample)
    asked, decisions = _sweep(base)
    assert asked > 0
    for view in (ViewSettings.parse(mode="userspace"), ViewSettings.parse(mode="ipvs"),
                 ViewSettings.parse(overlay="flannel-vxlan"), ViewSettings.parse(down=sorted(base.pod_by_key)[:3])):
        more, found = _sweep(apply_view_settings(base, view))
        decisions |= found
    assert {Decision.BRIDGE_OR_ROUTE, Decision.ENCAPSULATION, Decision.DNAT} <= decisions
