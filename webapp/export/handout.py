"""A lesson as a handout: Markdown with, for every step, its section and title, its caption, a PNG of the diagram
at each of its stops (the still of `webapp.export.snapshot`), its quiz question with the engine's answer, and the
table of the flow's hops (the stops in bold). The pictures go to `<name>_files/` beside the Markdown file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webapp.export.render import render
from webapp.export.snapshot import NORMAL, flow_diagram, frame_index, frames, snapshot
from webapp.export.words import say
from webapp.lessons.loader import resolve_step
from webapp.lessons.model import Lesson, ResolvedStep
from webapp.lessons.quiz import quiz_points
from webapp.model import Cluster
from webapp.narration import say as narrate


@dataclass(frozen=True)
class Picture:
    """A picture the handout shows: its file name (in the pictures folder) and what it shows."""

    name: str
    step: int
    hop: int


def cell(text: str) -> str:
    """`text` safe inside a Markdown table cell (pipes escaped, no line breaks)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def hop_table(resolved: ResolvedStep) -> list[str]:
    """The request's hops as a Markdown table; the step's stops in bold."""
    header = [say("handout.col.number"), say("handout.col.where"), say("handout.col.device"),
              say("handout.col.what"), say("handout.col.packet")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, hop in enumerate(resolved.trace.hops):
        row = [str(index + 1), hop.netns, hop.device, f"{hop.kind}/{hop.action}", str(hop.packet)]
        if index in resolved.stops:
            row = [f"**{value}**" for value in row]
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return lines


def handout_markdown(lesson: Lesson, resolved: list[ResolvedStep], pictures: list[list[Picture]], folder: str,
                     language: str, command: str = "") -> str:
    """The handout's Markdown; `pictures[i]` are step i's stills, linked as `folder/NAME`."""
    out = [f"# {lesson.title.get(language)}", ""]
    if lesson.description is not None:
        out += [lesson.description.get(language), ""]
    total = len(lesson.steps)
    section = None
    for number, (step, done, shots) in enumerate(zip(lesson.steps, resolved, pictures), 1):
        if step.section is not None and step.section.get(language) != section:
            section = step.section.get(language)
            out += [f"## {section}", ""]
        flow = done.trace.flow
        out += [f"### {number}. {step.title.get(language)}", "",
                f"*{say('handout.step', number=number, total=total)}* · "
                + say("handout.flow", flow=f"`{flow.type}` `{flow.src}` → `{flow.dst}` ({flow.proto})"), "",
                step.caption.get(language), ""]
        for shot in shots:
            out += [f"![{say('handout.stop', number=shot.hop)}]({folder}/{shot.name})", "",
                    say("handout.stop.line", number=shot.hop, explain=done.trace.hops[shot.hop - 1].explain), ""]
        asked = [p for p in quiz_points(done.trace, done.cluster, step.quiz) if p.asked is not None]
        for point in asked:
            out += [say("handout.question", question=point.question(language)), "",
                    say("handout.answer", answer=point.right_answer.text(language)), ""]
        out += [f"#### {say('handout.hops')}", "", *hop_table(done), "",
                say("handout.outcome", disposition=narrate(
                    "trace.text.disposition." + str(done.trace.disposition).replace("-", "_"))), ""]
    if command:
        out += ["---", "", say("handout.made", command=command), ""]
    return "\n".join(out)


def write_handout(lesson: Lesson, loaded: Cluster | None, path: Path, language: str, *, width: int, height: int,
                  labels: str = NORMAL, command: str = "") -> int:
    """Write the handout to `path` and its pictures to `<stem>_files/`; returns how many pictures."""
    resolved = [resolve_step(step, loaded) for step in lesson.steps]
    figures, pictures = [], []
    for number, (step, done) in enumerate(zip(lesson.steps, resolved), 1):
        diagram = flow_diagram(done.cluster, done.trace)
        all_frames = frames(diagram, done.trace)
        shots = []
        for stop in done.stops:
            index = frame_index(all_frames, stop + 1)
            figures.append(snapshot(diagram, done.trace, all_frames, index, width=width, height=height,
                                    labels=labels, title=f"{number}. {step.title.get(language)}"))
            shots.append(Picture(f"step-{number:02d}-hop-{stop + 1:02d}.png", number, stop + 1))
        pictures.append(shots)
    rendered = render(figures, "png")
    folder = path.parent / f"{path.stem}_files"
    folder.mkdir(parents=True, exist_ok=True)
    for shot, content in zip((s for shots in pictures for s in shots), rendered):
        (folder / shot.name).write_bytes(content)
    path.write_text(handout_markdown(lesson, resolved, pictures, folder.name, language, command), encoding="utf-8")
    return len(rendered)
