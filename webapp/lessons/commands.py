"""`lesson`: check a lesson file the way the player loads it, and print its steps with the hops they stop at."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from webapp.lessons.loader import list_lessons, load_lesson, resolve_step
from webapp.lessons.model import LOADED, Lesson, LessonResult
from webapp.loaders.commands import add_max_bytes, load_arguments, print_problems
from webapp.model import Cluster


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lesson = subparsers.add_parser("lesson", help="check a lesson file and print its steps; exit 1 on errors")
    add_lesson_arguments(lesson)
    add_max_bytes(lesson)
    lesson.set_defaults(run=run_lesson)


def add_lesson_arguments(parser: argparse.ArgumentParser) -> None:
    """The lesson (a file or a built-in name) and the cluster its `loaded` steps play on: `lesson` and the
    `export handout|lesson` commands."""
    parser.add_argument("lesson", metavar="FILE|NAME", help="a lesson file, or a built-in lesson's name")
    parser.add_argument("--cluster", nargs="+", metavar="PATH",
                        help="the cluster the `loaded` steps play on (files, folders or a sample name)")


def lesson_of_arguments(args: argparse.Namespace, problems: TextIO) -> tuple[LessonResult, Cluster | None] | int:
    """The command's lesson loaded on its --cluster, every problem of the lesson printed to `problems`, and that
    cluster; or 1 after printing why the cluster did not load (to stdout, as `validate` does)."""
    loaded: Cluster | None = None
    if args.cluster:
        cluster = load_arguments(args.cluster, args.max_bytes)
        if cluster.cluster is None:
            print_problems(cluster, sys.stdout)
            return 1
        loaded = cluster.cluster
    builtin = {info.name: info.path for info in list_lessons()}
    result = load_lesson(builtin.get(args.lesson, args.lesson), loaded=loaded, max_bytes=args.max_bytes)
    for problem in result.problems:
        print(problem, file=problems)
    return result, loaded


def run_lesson(args: argparse.Namespace) -> int:
    found = lesson_of_arguments(args, sys.stdout)
    if isinstance(found, int):
        return found
    result, loaded = found
    if result.lesson is None:
        errors = len(result.errors)
        print(f"{errors} error{'s' * (errors != 1)}", file=sys.stderr)
        return 1
    print_steps(result.lesson, loaded, args.lang)
    return 0


def print_steps(lesson: Lesson, loaded: Cluster | None, language: str) -> None:
    """Each step: its number, title, flow, and the hops it stops at (numbered as `trace` prints them)."""
    print(f"{lesson.name}: {lesson.title.get(language)} ({len(lesson.steps)} steps)")
    for number, step in enumerate(lesson.steps, 1):
        print(f"{number:>3}. {step.title.get(language)}")
        print(f"     {step.flow.type}: {step.flow.src} → {step.flow.dst} on {step.cluster}")
        if step.cluster == LOADED and loaded is None:
            print("     (not resolved: give the cluster with --cluster)")
            continue
        resolved = resolve_step(step, loaded)
        for index in resolved.stops:
            hop = resolved.trace.hops[index]
            print(f"     stop {index + 1:>2}: {hop.netns} {hop.device} {hop.kind}/{hop.action}")
