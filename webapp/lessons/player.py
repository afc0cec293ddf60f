"""What the lesson player in the browser (assets/netviz-lesson.js) is given, as JSON: the lesson's steps (titles,
captions, flows, what-if settings, stop hops, quiz questions) and, for any trace, its why — the notes, the three
principles, and each hop's namespace, badges and header strip. Built once on the server; the browser never asks
again, so the same JSON can drive a page exported to a standalone HTML file."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from webapp.engine.trace import Action, Disposition, Hop, HopKind, Trace
from webapp.lessons.catalog import text
from webapp.lessons.loader import resolve_step
from webapp.lessons.model import LOADED, Lesson, LessonStep
from webapp.lessons.principles import hop_badges, principles
from webapp.lessons.quiz import QuizPoint, quiz_points
from webapp.lessons.strip import header_strip
from webapp.model import Cluster
from webapp.problems import LoadError


def trace_key(trace: Trace) -> str:
    """A short fingerprint of a trace: the player applies a step's stops and questions only to the very trace the
    step was written for (a what-if toggle makes another one)."""
    return hashlib.sha256(json.dumps(trace.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _strip(trace: Trace, index: int, reply: bool) -> dict[str, Any]:
    strip = header_strip(trace, index, reply=reply)
    inner = strip.inner
    outer = strip.outer
    return {
        "inner": f"{inner.src} → {inner.dst} {inner.proto}",
        "outer": f"{outer.src} → {outer.dst} {outer.proto} VNI {outer.vni}" if outer is not None else None,
        "rewrites": [{"field": c.field, "before": c.before, "after": c.after} for c in strip.rewrites],
        "chosen": ({"dst": str(strip.chosen.dst), "probability": round(strip.chosen.probability, 10)}
                   if strip.chosen is not None else None),
        "rule": strip.rule or None,
    }


def _hops(trace: Trace, hops: tuple[Hop, ...], reply: bool, language: str) -> list[dict[str, Any]]:
    out = []
    translated = False
    for index, hop in enumerate(hops):
        badges = hop_badges(trace, index, reply=reply)
        if hop.kind == HopKind.APP and hop.action == Action.SEND:
            translated = False  # a new packet: its addresses are its own
        translated = translated or any(not change.port_only for change in badges.rewrites)
        out.append({"namespace": badges.namespace, "device": hop.device, "nat": badges.nat,
                    "translated": translated, "badges": list(badges.labels(language)),
                    "strip": _strip(trace, index, reply)})
    return out


def trace_notes(trace: Trace, language: str = "en") -> dict[str, Any]:
    """The why of one trace, for the page: the engine's notes, the three principles (✓ True, ✗ False, None when
    there is nothing to judge) with where each broke, and per hop (request, then reply) its namespace, whether it
    rewrote an address or a port (`nat`), whether the packet is translated by then (`translated`), its badges and
    its header strip."""
    return {
        "key": trace_key(trace),
        "delivered": trace.disposition == Disposition.DELIVERED,
        "why": list(trace.notes),
        "principles": [{"name": result.name(language), "ok": result.ok, "says": result.says(language)}
                       for result in principles(trace)],
        "hops": _hops(trace, trace.hops, False, language),
        "reply": _hops(trace, trace.reply, True, language),
    }


def quiz_json(point: QuizPoint, language: str) -> dict[str, Any]:
    return {"question": point.question(language), "answers": [a.text(language) for a in point.answers],
            "right": point.right, "pause_after": point.pause_after, "answer_hop": point.answer_hop,
            "explain": list(point.explain), "decision": str(point.decision)}


def step_json(step: LessonStep, language: str, loaded: Cluster | None = None, *,
              auto_quiz: bool = True) -> dict[str, Any]:
    """One step for the player: what it shows and says, the trace it was written for (`key`), the stop hops
    (0-based) and its questions (the step's own only, when not `auto_quiz`). A `loaded` step without a cluster, or
    one that no longer resolves, carries its problems instead of stops."""
    view = step.view
    out: dict[str, Any] = {
        "title": step.title.get(language),
        "section": step.section.get(language) if step.section is not None else "",
        "caption": step.caption.get(language),
        "cluster": step.cluster,
        "flow": {"type": str(step.flow.type), "src": step.flow.src, "dst": step.flow.dst},
        "whatIf": {"mode": view.kube_proxy_mode and str(view.kube_proxy_mode),
                   "overlay": view.overlay and str(view.overlay),
                   "etp": view.external_traffic_policy and str(view.external_traffic_policy),
                   "down": sorted(view.down_pods)},
        "key": None, "stops": [], "quiz": [], "problems": [], "land": 0,
    }
    if step.cluster == LOADED and loaded is None:
        out["problems"] = [text("player.needs_cluster", language)]
        return out
    try:
        resolved = resolve_step(step, loaded)
    except LoadError as error:
        out["problems"] = [str(problem) for problem in error.problems]
        return out
    out["key"] = trace_key(resolved.trace)
    out["stops"] = list(resolved.stops)
    own = step.quiz.at.find(resolved.trace.hops) if step.quiz is not None else None
    out["quiz"] = [{**quiz_json(p, language), "own": p.answer_hop == own}
                   for p in quiz_points(resolved.trace, resolved.cluster, step.quiz, automatic=auto_quiz)]
    # The hop the player shows first: the first stop, or the step's own question if it comes earlier.
    out["land"] = min([*out["stops"][:1], *(max(q["pause_after"], 0) for q in out["quiz"] if q["own"])], default=0)
    return out


def lesson_bundle(lesson: Lesson, language: str = "en", loaded: Cluster | None = None) -> dict[str, Any]:
    """The whole lesson for the player, in one language."""
    return {"name": lesson.name, "title": lesson.title.get(language), "autoQuiz": lesson.auto_quiz,
            "steps": [step_json(step, language, loaded, auto_quiz=lesson.auto_quiz) for step in lesson.steps]}
