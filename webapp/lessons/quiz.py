"""Quiz: "predict the next hop", asked at a trace's decision points — bridge or route, encapsulation, the DNAT
choice, a drop — or where a lesson step says. The right answer is always the engine's; the wrong ones are the
cluster's own devices and addresses, drawn deterministically (seeded by the trace)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from enum import StrEnum

from webapp.engine.datapath import host_netns, node_datapath, pod_datapath
from webapp.engine.trace import Action, Disposition, Hop, HopKind, Trace
from webapp.lessons.catalog import text
from webapp.lessons.model import Quiz, Text
from webapp.model import Cluster

MAX_WRONG = 3
"""At most this many wrong answers (so 3–4 answers in all; a point with fewer than 2 wrong ones is not asked)."""
MIN_WRONG = 2


class Decision(StrEnum):
    BRIDGE_OR_ROUTE = "bridge_or_route"
    ENCAPSULATION = "encapsulation"
    DNAT = "dnat"
    DROP = "drop"
    NEXT_HOP = "next_hop"
    """A step's own quiz at a hop that is none of the above: which device comes next."""


_MAY_WAIT = (Decision.ENCAPSULATION, Decision.DROP)
"""Points still asked, later, when an earlier answer already showed their first hops (the hops before an
encapsulation or a drop hold no answer; a DNAT's lookup shows the chosen endpoint, so a DNAT point is not)."""


class AnswerKind(StrEnum):
    DEVICE = "device"      # a device in a namespace
    ADDRESS = "address"    # an IP or IP:port
    OUTCOME = "outcome"    # a Disposition value


@dataclass(frozen=True, order=True)
class Answer:
    kind: AnswerKind
    value: str
    namespace: str = ""

    def text(self, language: str = "en") -> str:
        if self.kind == AnswerKind.DEVICE:
            return text("quiz.answer.device", language, device=self.value, namespace=self.namespace)
        if self.kind == AnswerKind.OUTCOME:
            return text(f"quiz.outcome.{self.value}", language)
        return self.value


@dataclass(frozen=True)
class QuizPoint:
    """One question: the player shows hops up to `pause_after` (-1: none yet), asks, and on answering reveals the
    hops up to `answer_hop`, with the engine's explanation of each (`explain`)."""

    decision: Decision
    pause_after: int
    answer_hop: int
    answers: tuple[Answer, ...]
    right: int
    """Index of the right answer in `answers` (keys 1–4 answer `answers[key - 1]`)."""
    device: str
    namespace: str
    """The device and namespace the question speaks of (the hop where the decision is made)."""
    explain: tuple[str, ...]
    """The `explain` of every hop the answer reveals (`pause_after + 1` … `answer_hop`)."""
    asked: Text | None = None
    """The lesson step's own question, when it has one."""

    def question(self, language: str = "en") -> str:
        if self.asked is not None:
            return self.asked.get(language)
        if self.decision == Decision.NEXT_HOP:
            return text("quiz.next_hop", language)
        if self.decision == Decision.ENCAPSULATION:
            return text("quiz.encapsulation", language, device=self.device)
        return text(f"quiz.{self.decision}", language, device=self.device, namespace=self.namespace)

    @property
    def right_answer(self) -> Answer:
        return self.answers[self.right]

    def is_right(self, choice: int) -> bool:
        """`choice`: 0-based index into `answers`."""
        return choice == self.right


def _run_start(hops: tuple[Hop, ...], index: int) -> int:
    """The first of the consecutive hops on the same device (and namespace) as hop `index`."""
    start = index
    while start > 0 and (hops[start - 1].device, hops[start - 1].netns) == (hops[index].device, hops[index].netns):
        start -= 1
    return start


def _rng(trace: Trace, decision: Decision, index: int) -> random.Random:
    flow = trace.flow
    seed = hashlib.sha256(f"{flow.type}|{flow.src}|{flow.dst}|{flow.proto}|{decision}|{index}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _devices(cluster: Cluster, trace: Trace, hop: Hop) -> list[Answer]:
    """Devices near `hop`: its node's host devices, the pods' eth0 and lo on that node, and the trace's own."""
    found: dict[Answer, None] = {}
    if hop.node is not None and hop.node in cluster.node_by_name:
        for device in node_datapath(cluster, hop.node).devices:
            found[Answer(AnswerKind.DEVICE, device.name, host_netns(hop.node))] = None
        for pod in cluster.pods:
            if pod.node == hop.node and not pod.host_network:
                for device in pod_datapath(cluster, pod.key).devices:
                    found[Answer(AnswerKind.DEVICE, device.name, f"pod/{pod.key}")] = None
    for other in trace.hops:
        if other.kind != HopKind.APP:
            found[Answer(AnswerKind.DEVICE, other.device, other.netns)] = None
    return list(found)


def _addresses(cluster: Cluster) -> list[str]:
    """Every node, pod and service address of the cluster, as text."""
    ips = [node.internal_ip for node in cluster.nodes] + [pod.pod_ip for pod in cluster.pods if not pod.host_network]
    for service in cluster.services:
        ips += [ip for ip in (service.cluster_ip,) if ip is not None]
        ips += [*service.external_ips, *service.load_balancer_ips]
    return [str(ip) for ip in dict.fromkeys(ips)]


def _point(trace: Trace, decision: Decision, index: int, pause_after: int, answer_hop: int, right: Answer,
           pool: list[Answer], first: tuple[Answer, ...] = ()) -> QuizPoint | None:
    """The question with `right` and wrong answers from `first` (always taken), then `pool` (drawn)."""
    hop = trace.hops[index]
    rng = _rng(trace, decision, index)
    wrong = [a for a in dict.fromkeys(first) if a.text() != right.text()][:MAX_WRONG]
    rest = sorted({a for a in pool if a.text() != right.text() and a not in wrong})
    wrong += rng.sample(rest, min(MAX_WRONG - len(wrong), len(rest)))
    if len(wrong) < MIN_WRONG:
        return None
    answers = [right, *wrong]
    rng.shuffle(answers)
    return QuizPoint(decision, pause_after, answer_hop, tuple(answers), answers.index(right), hop.device,
                     hop.netns, _explained(trace, pause_after, answer_hop))


def _explained(trace: Trace, pause_after: int, answer_hop: int) -> tuple[str, ...]:
    return tuple(hop.explain for hop in trace.hops[pause_after + 1:answer_hop + 1])


def _next_device(hops: tuple[Hop, ...], index: int) -> int | None:
    """The first hop after `index` on another device (or namespace)."""
    here = (hops[index].device, hops[index].netns)
    return next((j for j in range(index + 1, len(hops)) if (hops[j].device, hops[j].netns) != here), None)


def _decision_at(cluster: Cluster, trace: Trace, index: int) -> QuizPoint | None:
    """The automatic question about hop `index`, if that hop is a decision point."""
    hops = trace.hops
    hop = hops[index]
    start = _run_start(hops, index)
    if hop.action in (Action.DROP, Action.REJECT):
        outcome = (Disposition.NO_ROUTE if trace.disposition == Disposition.NO_ROUTE and index == len(hops) - 1
                   else Disposition.REJECTED if hop.action == Action.REJECT else Disposition.DROPPED)
        pool = [Answer(AnswerKind.OUTCOME, str(d)) for d in Disposition]
        return _point(trace, Decision.DROP, index, index - 1, index, Answer(AnswerKind.OUTCOME, str(outcome)), pool)
    if hop.kind == HopKind.BRIDGE and start == index and index > 0:
        after = _next_device(hops, index)
        if after is None:
            return None
        right = Answer(AnswerKind.DEVICE, hops[after].device, hops[after].netns)
        pool = [a for a in _devices(cluster, trace, hop) if (a.value, a.namespace) != (hop.device, hop.netns)]
        return _point(trace, Decision.BRIDGE_OR_ROUTE, index, index - 1, after, right, pool)
    if hop.kind == HopKind.VXLAN and hop.action == Action.ENCAPSULATE and hop.packet.outer is not None:
        right = Answer(AnswerKind.ADDRESS, str(hop.packet.outer.dst.ip))
        inner = (Answer(AnswerKind.ADDRESS, str(hop.packet.dst.ip)), Answer(AnswerKind.ADDRESS, str(hop.packet.outer.src.ip)))
        pool = [Answer(AnswerKind.ADDRESS, ip) for ip in _addresses(cluster)]
        return _point(trace, Decision.ENCAPSULATION, index, start - 1, index, right, pool, inner)
    dnat = hop.action in (Action.DNAT, Action.REDIRECT) or (hop.kind in (HopKind.IPVS, HopKind.PROXY) and start == index)
    if dnat and start > 0 and hops[start - 1].packet.dst != hop.packet.dst:
        before, after = hops[start - 1].packet.dst, hop.packet.dst
        chosen = {str(alt.dst) for h in hops[start:index + 1] for alt in h.alternatives}
        right = Answer(AnswerKind.ADDRESS, str(after))
        pool = [Answer(AnswerKind.ADDRESS, f"{ip}:{after.port}") for ip in _addresses(cluster)
                if f"{ip}:{after.port}" not in chosen]
        return _point(trace, Decision.DNAT, index, start - 1, index, right, pool, (Answer(AnswerKind.ADDRESS, str(before)),))
    return None


def quiz_points(trace: Trace, cluster: Cluster, quiz: Quiz | None = None, *,
                automatic: bool = True) -> tuple[QuizPoint, ...]:
    """The questions of `trace` on `cluster` (the cluster it was traced on), in hop order: one per decision point
    (unless `automatic` is False), and the step's own `quiz`, which replaces the automatic points it overlaps.
    Points never overlap: each pauses at or after the previous one's answer."""
    points: list[QuizPoint] = []
    for index in range(len(trace.hops)):
        point = _decision_at(cluster, trace, index)
        if point is not None:
            points.append(point)
    own = _own_point(cluster, trace, points, quiz)
    if not automatic:
        points = []
    if own is not None:
        points = [p for p in points if p.answer_hop <= own.pause_after or p.pause_after >= own.answer_hop]
        points.append(own)
        points.sort(key=lambda p: p.pause_after)
    kept: list[QuizPoint] = []
    for point in points:
        if kept and point.pause_after < kept[-1].answer_hop:
            if point.decision not in _MAY_WAIT or kept[-1].answer_hop >= point.answer_hop:
                continue
            start = kept[-1].answer_hop  # asked once the earlier answer is shown
            point = replace(point, pause_after=start, explain=_explained(trace, start, point.answer_hop))
        kept.append(point)
    return tuple(kept)


def _own_point(cluster: Cluster, trace: Trace, points: list[QuizPoint], quiz: Quiz | None) -> QuizPoint | None:
    """The step's own question: the decision point whose answer is its hop `at` (else "what comes next?"), asked
    in its words."""
    at = quiz.at.find(trace.hops) if quiz is not None else None
    if quiz is None or at is None:
        return None
    own = next((p for p in points if p.answer_hop == at), None) or _asked_next_hop(cluster, trace, at)
    return replace(own, asked=quiz.question) if own is not None else None


def _asked_next_hop(cluster: Cluster, trace: Trace, at: int) -> QuizPoint | None:
    hop = trace.hops[at]
    right = Answer(AnswerKind.DEVICE, hop.device, hop.netns)
    return _point(trace, Decision.NEXT_HOP, at, at - 1, at, right, _devices(cluster, trace, hop))
