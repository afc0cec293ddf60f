"""Lesson files → `Lesson`: the field table (→ validation with "did you mean" hints, and → the published JSON
Schema `webapp/schema/lesson.schema.json`), then every step resolved against the engine, each problem at the
file:line:col of the field at fault (docs/lessons.md)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from webapp.engine.flows import FlowType, candidate_flows, trace_flow
from webapp.engine.trace import Action, HopKind
from webapp.loaders import list_samples, load_sample
from webapp.loaders.documents import MAX_BYTES, Document, parse_file, render_path, size_problem
from webapp.loaders.drafts import Origin
from webapp.loaders.schema import ListOf, Obj, ObjectSpec, Scalar, Validator, did_you_mean, json_schema
from webapp.model import Cluster, KubeProxyMode, Overlay, TrafficPolicy
from webapp.problems import LoadError, Problem, Severity
from webapp.variants import ViewSettings, apply_view_settings
from webapp.lessons.model import (
    LOADED, FlowSpec, Lesson, LessonResult, LessonStep, Place, Quiz, ResolvedStep, StopSelector, Text,
)

LESSONS_DIR = Path(__file__).resolve().parent
"""The built-in lessons (`*.yaml` next to this module, shipped as package data)."""
SCHEMA_FILE = LESSONS_DIR.parent / "schema" / "lesson.schema.json"
SCHEMA_ID = "https://k8s-netviz.invalid/schema/lesson.schema.json"
API_VERSION = "k8s-netviz/v1"
MAX_HOP = 100_000
"""Largest hop number a stop may name (far beyond any trace; keeps the schema's integers bounded)."""


def _enum(enum: type, doc: str) -> Scalar:
    return Scalar("enum", doc, tuple(str(v) for v in enum))


_TEXT = Obj("text", "A sentence in English (`en`) and Chinese (`zh`).")
_STOP = Obj("stop", "A hop to stop at: its number (1-based, as `k8s-netviz trace` prints it), or a selector.",
            shorthand=Scalar("integer", "Hop number, 1-based.", minimum=1, maximum=MAX_HOP), shorthand_key="hop")

OBJECTS: dict[str, ObjectSpec] = {
    "lesson": ObjectSpec("lesson", {
        "kind": Scalar("enum", "Optional marker of the format.", ("Lesson",)),
        "apiVersion": Scalar("enum", "Optional marker of the format.", (API_VERSION,)),
        "name": Scalar("string", "The lesson's name (`?lesson=NAME`)."),
        "title": _TEXT,
        "description": _TEXT,
        "cluster": Scalar("string", "Default cluster of the steps: a built-in sample's name, or `loaded`.",
                          default="seed-article"),
        "steps": ListOf(Obj("step", "One slide: a flow, where to stop, what to say."), "The steps, in order."),
        "autoQuiz": Scalar("boolean", "Ask a question at every decision point of every step (false: only the "
                                      "steps' own `quiz`).", default=True),
    }, required=("name", "title", "steps"), doc="A lesson: an ordered list of steps, each a traced flow."),
    "text": ObjectSpec("text", {
        "en": Scalar("string", "English."),
        "zh": Scalar("string", "Chinese (简体中文)."),
    }, required=("en", "zh"), doc="A sentence in both languages."),
    "step": ObjectSpec("step", {
        "title": _TEXT,
        "section": _TEXT,
        "cluster": Scalar("string", "A built-in sample's name, or `loaded` (default: the lesson's cluster)."),
        "flow": Obj("flow", "The flow to trace."),
        "whatIf": Obj("whatIf", "What-if settings applied before tracing."),
        "stops": ListOf(_STOP, "The hops the player stops at, in order."),
        "caption": _TEXT,
        "quiz": Obj("quiz", "A question before one hop."),
    }, required=("title", "flow", "caption"), doc="One step of a lesson."),
    "flow": ObjectSpec("flow", {
        "type": _enum(FlowType, "The flow type the engine must classify the pair as."),
        "from": Scalar("string", "SRC: pod/[NS/]NAME[:CONTAINER], node/NAME or an IP."),
        "to": Scalar("string", "DST: IP:PORT, pod/[NS/]NAME:PORT, svc/[NS/]NAME[:PORT], node/NAME:PORT or localhost:PORT."),
        "proto": Scalar("enum", "Transport protocol (default: the destination port's).", ("tcp", "udp", "sctp")),
    }, required=("type", "from", "to"), doc="A flow in the grammar of `k8s-netviz trace` (docs/trace-contract.md)."),
    "whatIf": ObjectSpec("whatIf", {
        "kubeProxy": _enum(KubeProxyMode, "kube-proxy mode."),
        "overlay": _enum(Overlay, "How pod traffic crosses nodes."),
        "externalTrafficPolicy": _enum(TrafficPolicy, "Applied to every NodePort and LoadBalancer service."),
        "down": ListOf(Scalar("string", "A pod, NS/NAME."), "Pods that stop answering (still ready endpoints)."),
    }, doc="What-if settings, as the page's toggles set them."),
    "stop": ObjectSpec("stop", {
        "hop": Scalar("integer", "Hop number, 1-based.", minimum=1, maximum=MAX_HOP),
        "kind": _enum(HopKind, "The hop's kind."),
        "action": _enum(Action, "The hop's action."),
        "device": Scalar("string", "The hop's device (eth0, docker0, flannel.1, iptables …)."),
        "node": Scalar("string", "The hop's node."),
        "netns": Scalar("string", "The hop's network namespace: pod/NS/NAME or host/NODE."),
        "nth": Scalar("integer", "Which matching hop, 1-based.", minimum=1, maximum=MAX_HOP, default=1),
    }, doc="A hop number, or the nth hop matching every field given."),
    "quiz": ObjectSpec("quiz", {
        "at": _STOP,
        "question": _TEXT,
    }, required=("at",), doc="Ask before hop `at`; the answers are the engine's (webapp.lessons.quiz)."),
}

_SELECTOR_KEYS = ("kind", "action", "device", "node", "netns")


@dataclass(frozen=True)
class LessonInfo:
    name: str
    title: Text
    path: Path


# ------------------------------------------------------------------------------------------------ loading


def load_lesson(path: str | os.PathLike[str], *, loaded: Cluster | None = None,
                max_bytes: int = MAX_BYTES) -> LessonResult:
    """Read and check one lesson file. Steps on the `loaded` cluster are resolved only when `loaded` is given."""
    name = str(path)
    file = Path(path)
    if not file.is_file():
        return LessonResult(None, (Problem(Severity.ERROR, name, 1, 1, "no such file", code="E-LESSON-NO-FILE"),))
    size = file.stat().st_size
    if size > max_bytes:
        return LessonResult(None, (size_problem(name, size, max_bytes),))
    return load_lesson_text(name, file.read_bytes(), loaded=loaded, max_bytes=max_bytes)


def load_lesson_text(name: str, content: bytes | str, *, loaded: Cluster | None = None,
                     max_bytes: int = MAX_BYTES) -> LessonResult:
    """Check a lesson given as text (an upload): `name` is the file name problems carry."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    parsed = parse_file(name, data, max_bytes=max_bytes)
    problems = list(parsed.problems)
    if problems or not parsed.documents:
        return LessonResult(None, tuple(problems) or (Problem(Severity.ERROR, name, 1, 1, "file is empty",
                                                                  code="E-LESSON-EMPTY"),))
    doc, *more = parsed.documents
    if more:
        line = more[0].start_line
        return LessonResult(None, (Problem(Severity.ERROR, name, line, 1, "a lesson file holds one document",
                                           hint="put every step under one `steps:` list",
                                           code="E-LESSON-DOCUMENTS"),))
    lesson, problems = _read(doc, loaded)
    problems.sort(key=lambda p: (p.line, p.col))
    return LessonResult(lesson if not problems else None, tuple(problems))


def _read(doc: Document, loaded: Cluster | None) -> tuple[Lesson | None, list[Problem]]:
    origin = Origin(doc)
    validator = Validator(origin, objects=OBJECTS)
    data = validator.object("lesson", doc.data, ())
    problems = validator.problems
    if data is None:
        return None, problems
    problems += _check_selectors(origin, data)
    if problems:
        return None, problems
    default = data.get("cluster", "seed-article")
    steps = tuple(_step(doc, i, raw, default) for i, raw in enumerate(data["steps"]))
    if not steps:
        problems.append(origin.problem(Severity.ERROR, "E-LESSON-NO-STEPS", "a lesson needs at least one step", "steps"))
    for index, step in enumerate(steps):
        where = ("steps", index, "cluster") if "cluster" in data["steps"][index] else ("cluster",)
        cluster, problem = _cluster(step, loaded, origin, where)
        if problem is not None:
            if problem not in problems:  # one wrong lesson-wide cluster is said once
                problems.append(problem)
        elif cluster is not None:
            problems += check_step(step, cluster)[1]
    lesson = Lesson(data["name"], _text(data["title"]), steps,
                    _text(data["description"]) if "description" in data else None, doc.file,
                    auto_quiz=data.get("autoQuiz", True))
    return lesson, problems


def _check_selectors(origin: Origin, data: dict[str, Any]) -> list[Problem]:
    """A stop is a hop number or a selector, never both nor neither."""
    problems = []
    for i, step in enumerate(data["steps"]):
        stops = [(("steps", i, "stops", j), stop) for j, stop in enumerate(step.get("stops", []))]
        if "quiz" in step:
            stops.append((("steps", i, "quiz", "at"), step["quiz"]["at"]))
        for path, stop in stops:
            chosen = [key for key in _SELECTOR_KEYS if key in stop]
            if "hop" in stop and (chosen or "nth" in stop):
                problems.append(origin.problem(Severity.ERROR, "E-LESSON-STOP", "a stop is a hop number or a selector, not both",
                                               *path, hint=f"drop 'hop' or drop {', '.join(chosen or ['nth'])}"))
            elif "hop" not in stop and not chosen:
                problems.append(origin.problem(Severity.ERROR, "E-LESSON-STOP", "a stop selects no hop",
                                               *path, hint="give a hop number, or kind/action/device/node/netns"))
    return problems


def _text(data: dict[str, str]) -> Text:
    return Text(data["en"], data["zh"])


def _step(doc: Document, index: int, data: dict[str, Any], default_cluster: str) -> LessonStep:
    flow = data["flow"]
    what = data.get("whatIf", {})
    view = ViewSettings(
        KubeProxyMode(what["kubeProxy"]) if "kubeProxy" in what else None,
        Overlay(what["overlay"]) if "overlay" in what else None,
        TrafficPolicy(what["externalTrafficPolicy"]) if "externalTrafficPolicy" in what else None,
        frozenset(what.get("down", ())),
    )
    quiz = data.get("quiz")
    return LessonStep(
        title=_text(data["title"]),
        cluster=data.get("cluster", default_cluster),
        flow=FlowSpec(FlowType(flow["type"]), flow["from"], flow["to"], flow.get("proto")),
        view=view,
        stops=tuple(_selector(stop) for stop in data.get("stops", [])),
        caption=_text(data["caption"]),
        quiz=Quiz(_selector(quiz["at"]), _text(quiz["question"]) if "question" in quiz else None) if quiz else None,
        section=_text(data["section"]) if "section" in data else None,
        file=doc.file,
        path=render_path(("steps", index)),
        places=tuple(_places(doc, ("steps", index), doc.data["steps"][index])),
    )


def _selector(data: dict[str, Any]) -> StopSelector:
    return StopSelector(
        hop=data.get("hop"),
        kind=HopKind(data["kind"]) if "kind" in data else None,
        action=Action(data["action"]) if "action" in data else None,
        device=data.get("device"), node=data.get("node"), netns=data.get("netns"), nth=data.get("nth", 1),
    )


def _places(doc: Document, prefix: tuple[str | int, ...], data: Any, sub: tuple[str | int, ...] = ()):
    """Where each field below `prefix` is written (for problems found later, by the engine)."""
    line, col = doc.locate(prefix + sub)
    yield Place(render_path(sub), line, col, data if isinstance(data, str) else None)
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        yield from _places(doc, prefix, value, sub + (key,))


# ------------------------------------------------------------------------------------------------ resolving


@lru_cache(maxsize=8)
def _sample(name: str) -> Cluster:
    """A built-in sample, loaded once per process (samples are files shipped with the package)."""
    return load_sample(name)


def _cluster(step: LessonStep, loaded: Cluster | None, origin: Origin,
             where: tuple[str | int, ...]) -> tuple[Cluster | None, Problem | None]:
    """The step's cluster (None for `loaded` when none is loaded), or the problem naming an unknown sample."""
    if step.cluster == LOADED:
        return loaded, None
    names = [sample.name for sample in list_samples()]
    if step.cluster not in names:
        return None, origin.problem(Severity.ERROR, "E-LESSON-SAMPLE", f"unknown sample '{step.cluster}'", *where,
                                    hint=did_you_mean(step.cluster, names + [LOADED]))
    return _sample(step.cluster), None


def check_step(step: LessonStep, cluster: Cluster) -> tuple[ResolvedStep | None, list[Problem]]:
    """The step resolved on `cluster` (None when it does not resolve) and the problems that stop it."""
    problems = []
    for pod in sorted(step.view.down_pods):
        if pod not in cluster.pod_by_key:
            path = next((p.path for p in step.places if p.path.startswith("whatIf.down[") and p.value == pod),
                        "whatIf.down")
            problems.append(step.problem("E-LESSON-DOWN-POD", path, f"no pod '{pod}' to mark down",
                                         did_you_mean(pod, sorted(cluster.pod_by_key))))
    if problems:
        return None, problems
    variant = apply_view_settings(cluster, step.view)
    flow = step.flow
    try:
        trace = trace_flow(variant, flow.src, flow.dst, flow.proto)
    except ValueError as exc:
        message = str(exc)
        path = ("flow.to" if message.startswith(f"{flow.dst}:") else "flow.from"
                if message.startswith(f"{flow.src}:") else "flow")
        return None, [step.problem("E-LESSON-FLOW", path, f"invalid flow: {message}", _examples(variant, flow.type))]
    if trace.flow.type != flow.type:
        return None, [step.problem("E-LESSON-FLOW-TYPE", "flow.type", f"the engine traces {flow.src} → {flow.dst} as {trace.flow.type}, "
                                   f"not {flow.type}", f"write type: {trace.flow.type}, or "
                                   + _examples(variant, flow.type))]
    stops = []
    for j, selector in enumerate(step.stops):
        index = selector.find(trace.hops)
        if index is None:
            problems.append(_missing(step, f"stops[{j}]", selector, trace))
        else:
            stops.append(index)
    if step.quiz is not None and step.quiz.at.find(trace.hops) is None:
        problems.append(_missing(step, "quiz.at", step.quiz.at, trace))
    if problems:
        return None, problems
    return ResolvedStep(step, variant, trace, tuple(stops)), []


def _missing(step: LessonStep, path: str, selector: StopSelector, trace) -> Problem:
    count = len(trace.hops)
    if selector.hop is not None:
        return step.problem("E-LESSON-STOP-PAST-END", path, f"stop hop {selector.hop} is past the end: the trace has {count} hops",
                            "hops are numbered from 1, as `k8s-netviz trace` prints them")
    seen = ", ".join(dict.fromkeys(f"{hop.kind}/{hop.action}" for hop in trace.hops))
    return step.problem("E-LESSON-STOP-NO-MATCH", path, f"no hop matches {selector}", f"this trace's hops: {seen}")


def _examples(cluster: Cluster, flow_type: FlowType) -> str:
    pairs = candidate_flows(cluster).get(flow_type, [])[:2]
    if not pairs:
        return f"this cluster has no {flow_type} flow"
    return f"{flow_type} flows here: " + "; ".join(f"from {src} to {dst}" for src, dst in pairs)


def resolve_step(step: LessonStep, loaded: Cluster | None = None) -> ResolvedStep:
    """The step on its cluster (a sample, or `loaded`) with its what-if settings: the trace and the stop hops.
    Raises LoadError with located problems when the step does not resolve (e.g. on a different loaded cluster)."""
    if step.cluster == LOADED:
        if loaded is None:
            raise LoadError([step.problem("E-LESSON-NEEDS-CLUSTER", "cluster", "this step needs a loaded cluster",
                                          "load the lecturer's cluster first")])
        cluster = loaded
    else:
        cluster = _sample(step.cluster)
    resolved, problems = check_step(step, cluster)
    if resolved is None:
        raise LoadError(problems)
    return resolved


# ------------------------------------------------------------------------------------------------ built-ins


def list_lessons() -> list[LessonInfo]:
    """The built-in lessons, by name."""
    import yaml

    out = []
    for path in sorted(LESSONS_DIR.glob("*.yaml")):
        head = yaml.safe_load(path.read_text(encoding="utf-8"))
        title = head.get("title", {}) if isinstance(head, dict) else {}
        out.append(LessonInfo(str(head.get("name", path.stem)), Text(str(title.get("en", path.stem)),
                                                                     str(title.get("zh", path.stem))), path))
    return out


@lru_cache(maxsize=4)
def builtin_lesson(name: str) -> Lesson:
    """A built-in lesson, checked (KeyError if there is none by that name, LoadError if it does not check)."""
    for info in list_lessons():
        if info.name == name:
            result = load_lesson(info.path)
            if result.lesson is None:
                raise LoadError(list(result.problems))
            return result.lesson
    raise KeyError(f"no lesson named {name!r}; lessons: {', '.join(i.name for i in list_lessons())}")


def lesson_json_schema() -> dict[str, Any]:
    """The JSON Schema of lesson files, generated from OBJECTS."""
    return json_schema(OBJECTS, "lesson", SCHEMA_ID, "k8s-netviz lesson")


def write_lesson_schema(path: Path = SCHEMA_FILE) -> None:
    path.write_text(json.dumps(lesson_json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
