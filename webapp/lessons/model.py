"""The lesson's value objects: a lesson is an ordered list of steps, each a flow to trace and what to say."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.engine.flows import FlowType
from webapp.engine.trace import Action, Hop, HopKind, Trace
from webapp.model import Cluster
from webapp.problems import Problem, Severity
from webapp.variants import ViewSettings

LOADED = "loaded"
"""A step's `cluster` value that means the cluster loaded in the app, not a built-in sample."""


@dataclass(frozen=True)
class Text:
    """One sentence in both languages."""

    en: str
    zh: str

    def get(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class FlowSpec:
    """The flow a step traces: SRC/DST in the grammar of docs/trace-contract.md; proto None: the port's own."""

    type: FlowType
    src: str
    dst: str
    proto: str | None = None


@dataclass(frozen=True)
class StopSelector:
    """A hop to stop at: hop number `hop` (1-based, as `k8s-netviz trace` prints it), or the `nth` hop whose
    kind, action, device, node and netns match those given."""

    hop: int | None = None
    kind: HopKind | None = None
    action: Action | None = None
    device: str | None = None
    node: str | None = None
    netns: str | None = None
    nth: int = 1

    def matches(self, hop: Hop) -> bool:
        return ((self.kind is None or hop.kind == self.kind) and (self.action is None or hop.action == self.action)
                and (self.device is None or hop.device == self.device) and (self.node is None or hop.node == self.node)
                and (self.netns is None or hop.netns == self.netns))

    def find(self, hops: tuple[Hop, ...]) -> int | None:
        """The 0-based index of the selected hop, None when there is none."""
        if self.hop is not None:
            return self.hop - 1 if self.hop <= len(hops) else None
        found = [i for i, hop in enumerate(hops) if self.matches(hop)]
        return found[self.nth - 1] if len(found) >= self.nth else None

    def __str__(self) -> str:
        if self.hop is not None:
            return f"hop {self.hop}"
        parts = [f"{self.kind or '*'}/{self.action or '*'}"]
        parts += [f"{name} {value}" for name, value in (("device", self.device), ("node", self.node),
                                                        ("netns", self.netns)) if value is not None]
        if self.nth != 1:
            parts.append(f"#{self.nth}")
        return " ".join(parts)


@dataclass(frozen=True)
class Quiz:
    """A question a step asks before the hop `at` (its answer is the engine's, see webapp.lessons.quiz)."""

    at: StopSelector
    question: Text | None = None
    """None: the catalogue's question for that kind of decision."""


@dataclass(frozen=True)
class Place:
    """Where a step's field is written: its path below the step (`flow.from`, `stops[2]`) and line:col."""

    path: str
    line: int
    col: int
    value: str | None = None
    """The field's text when it is a string (to find which list item the engine refused)."""


@dataclass(frozen=True)
class LessonStep:
    title: Text
    cluster: str
    """A built-in sample's name, or LOADED."""
    flow: FlowSpec
    view: ViewSettings
    """The what-if settings (kube-proxy mode, overlay, externalTrafficPolicy, pods marked down)."""
    stops: tuple[StopSelector, ...]
    caption: Text
    quiz: Quiz | None = None
    section: Text | None = None
    """The part of the source (e.g. the article's section) this step belongs to."""
    file: str = "<lesson>"
    path: str = ""
    """Where the step is in its file, e.g. `steps[3]`."""
    places: tuple[Place, ...] = ()

    def place(self, path: str) -> tuple[int, int]:
        """Line and column of the field at `path`, or of its nearest written parent (the step itself last)."""
        by_path = {p.path: (p.line, p.col) for p in self.places}
        while path not in by_path and path:
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return by_path.get(path, (1, 1))

    def problem(self, code: str, path: str, message: str, hint: str = "") -> Problem:
        """An error (`code`, as Problem.code) located at the step's field `path`."""
        line, col = self.place(path)
        where = ".".join(part for part in (self.path, path) if part).replace(".[", "[")
        return Problem(Severity.ERROR, self.file, line, col, message, where, hint, code=code)


@dataclass(frozen=True)
class Lesson:
    name: str
    title: Text
    steps: tuple[LessonStep, ...]
    description: Text | None = None
    file: str = "<lesson>"
    auto_quiz: bool = True
    """Ask the automatic questions at every decision point (`autoQuiz`); False: only the steps' own `quiz`."""


@dataclass(frozen=True)
class LessonResult:
    """The lesson (None when there are errors) and every problem found, in line order."""

    lesson: Lesson | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == Severity.ERROR)

    @property
    def ok(self) -> bool:
        return self.lesson is not None and not self.errors


@dataclass(frozen=True)
class ResolvedStep:
    """A step resolved against the engine: the cluster with the step's what-if settings, the trace, the stops."""

    step: LessonStep
    cluster: Cluster
    trace: Trace
    stops: tuple[int, ...]
    """0-based indexes into `trace.hops`, in the order written."""
