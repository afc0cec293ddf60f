"""`export`: a lecture as files — `export image` (a hop of a flow as SVG/PNG), `export animation` (a flow as
GIF/MP4), `export handout` (a lesson as Markdown with pictures), `export lesson` (the standalone lesson player, one
HTML file). docs/export.md describes them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from webapp.lessons.commands import add_lesson_arguments, lesson_of_arguments
from webapp.lessons.model import Lesson
from webapp.loaders.commands import add_max_bytes
from webapp.model import Cluster, KubeProxyMode, Overlay
from webapp.variants import add_network_plugin_argument

DEFAULT_SIZE = (1600, 900)
ANIMATION_SIZE = (1280, 720)
MAX_PIXELS = 8000
"""The largest width or height a picture may ask for."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = subparsers.add_parser("export", help="write a flow or a lesson as files: pictures, animations, "
                                                  "a handout")
    sub = export.add_subparsers(dest="export_command", required=True, metavar="WHAT")

    image = sub.add_parser("image", help="the diagram at one hop of a flow, as SVG or PNG",
                           description="The diagram at hop N of a flow, with the packet marker, the trail walked so "
                                       "far and the caption, as SVG or PNG (plotly's image export).")
    _flow_arguments(image)
    image.add_argument("--step", type=int, required=True, metavar="N",
                       help="the hop, numbered as `k8s-netviz trace` prints them")
    image.add_argument("--reply", action="store_true", help="N numbers the reply's hops, not the request's")
    image.add_argument("--format", choices=("svg", "png"), help="default: from the name of the -o file")
    image.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")
    _picture_arguments(image, DEFAULT_SIZE)
    image.set_defaults(run=run_image)

    animation = sub.add_parser("animation", help="a flow's packet walk as an animated GIF or MP4",
                               description="The packet walking a flow hop by hop, request then reply, as an "
                                           "animated GIF or an MP4 (frames from the same image export).")
    _flow_arguments(animation)
    animation.add_argument("--format", choices=("gif", "mp4"), help="default: from the name of the -o file")
    animation.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")
    animation.add_argument("--tween", type=int, default=2, metavar="K",
                           help="in-between frames moving the packet from one hop to the next (default 2)")
    animation.add_argument("--hop-ms", type=int, default=1100, metavar="MS",
                           help="milliseconds per hop, resting and travelling (default 1100)")
    animation.add_argument("--no-reply", action="store_true", help="the request only, without the reply")
    _picture_arguments(animation, ANIMATION_SIZE)
    animation.set_defaults(run=run_animation)

    handout = sub.add_parser("handout", help="a lesson as Markdown with a PNG of every stop, captions and hop tables")
    add_lesson_arguments(handout)
    handout.add_argument("-o", "--output", required=True, metavar="FILE",
                         help="the Markdown file to write; the pictures go to FILE's folder, in <name>_files/")
    add_max_bytes(handout)
    _picture_arguments(handout, DEFAULT_SIZE)
    handout.set_defaults(run=run_handout)

    lesson = sub.add_parser("lesson", help="a lesson as one self-contained HTML file that plays offline",
                            description="A lesson as one HTML file: the diagram, every step's trace, the player "
                                        "with the lecture keys, presentation mode, the header strip and the quiz, "
                                        "in both languages; plotly.js inlined. It opens from file:// with no "
                                        "network and requests nothing.")
    add_lesson_arguments(lesson)
    lesson.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    add_max_bytes(lesson)
    lesson.set_defaults(run=run_lesson)


def _flow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="cluster YAML / manifests (files or folders)")
    parser.add_argument("--sample", metavar="NAME", help="use a built-in sample instead of PATHs")
    parser.add_argument("--from", dest="src", required=True, metavar="SRC",
                        help="the source, as in `trace`: pod/[NS/]NAME[:CONTAINER] | node/NAME | IP")
    parser.add_argument("--to", dest="dst", required=True, metavar="DST",
                        help="the destination, as in `trace`: IP:PORT | pod/… | svc/… | node/NAME:PORT | "
                             "localhost:PORT")
    parser.add_argument("--proto", choices=("tcp", "udp", "sctp"),
                        help="default: the protocol the destination port is declared with (tcp if it is among them or "
                             "none is; else udp, else sctp)")
    parser.add_argument("--backend", metavar="IP", help="prefer this endpoint where a load balancer chooses")
    parser.add_argument("--mode", choices=[m.value for m in KubeProxyMode],
                        help="what if: kube-proxy in this mode (default: the cluster's)")
    parser.add_argument("--overlay", choices=[o.value for o in Overlay],
                        help="what if: this overlay between the nodes (default: the cluster's)")
    add_network_plugin_argument(parser)
    add_max_bytes(parser)


def _picture_arguments(parser: argparse.ArgumentParser, size: tuple[int, int]) -> None:
    parser.add_argument("--width", type=int, default=size[0], metavar="PX",
                        help=f"picture width in pixels (default {size[0]})")
    parser.add_argument("--height", type=int, default=size[1], metavar="PX",
                        help=f"picture height in pixels (default {size[1]})")
    parser.add_argument("--present", action="store_true",
                        help="the presentation mode's labels: fewer and larger (default: the page's normal labels)")


def _fail(message: str, code: int = 1) -> int:
    print(f"k8s-netviz export: {message}", file=sys.stderr)
    return code


def _size_problem(args: argparse.Namespace) -> str | None:
    for name in ("width", "height"):
        value = getattr(args, name)
        if not 200 <= value <= MAX_PIXELS:
            return f"--{name} {value}: give 200 to {MAX_PIXELS} pixels"
    return None


def _format(args: argparse.Namespace, choices: tuple[str, str]) -> str | int:
    """The picture's format (--format, else the -o file's ending), or an exit code after saying what is wrong with it
    or with --width/--height."""
    suffix = Path(args.output).suffix.lower().lstrip(".")
    fmt = args.format or (suffix if suffix in choices else None)
    if fmt is None:
        one, other = choices
        return _fail(f"{args.output}: give --format {one} or {other} (or a file name ending in .{one} or .{other})", 2)
    problem = _size_problem(args)
    return _fail(problem, 2) if problem else fmt


def _traced(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(cluster, trace) of the command's flow, or an exit code after saying what is wrong."""
    from webapp.engine.commands import cluster_of_arguments
    from webapp.engine.flows import trace_flow
    from webapp.variants import ViewSettings, apply_view_settings

    cluster = cluster_of_arguments(args, "k8s-netviz export")
    if isinstance(cluster, int):
        return cluster
    settings = ViewSettings(KubeProxyMode(args.mode) if args.mode else None,
                            Overlay(args.overlay) if args.overlay else None)
    cluster = apply_view_settings(cluster, settings)
    try:
        return cluster, trace_flow(cluster, args.src, args.dst, args.proto, backend=args.backend)
    except ValueError as error:
        return _fail(str(error), 2)


def _labels(args: argparse.Namespace) -> str:
    from webapp.export.snapshot import NORMAL, PRESENT

    return PRESENT if args.present else NORMAL


def run_image(args: argparse.Namespace) -> int:
    from webapp.export.render import RenderError, render
    from webapp.export.snapshot import flow_diagram, frame_index, frames, snapshot

    fmt = _format(args, ("svg", "png"))
    if isinstance(fmt, int):
        return fmt
    traced = _traced(args)
    if isinstance(traced, int):
        return traced
    cluster, trace = traced
    diagram = flow_diagram(cluster, trace)
    all_frames = frames(diagram, trace)
    try:
        index = frame_index(all_frames, args.step, reply=args.reply)
    except ValueError as error:
        return _fail(str(error), 2)
    figure = snapshot(diagram, trace, all_frames, index, width=args.width, height=args.height,
                      labels=_labels(args))
    try:
        picture = render([figure], fmt)[0]
    except RenderError as error:
        return _fail(str(error))
    return _write(Path(args.output), picture)


def _write(path: Path, content: bytes) -> int:
    try:
        path.write_bytes(content)
    except OSError as error:
        return _fail(f"{path}: {error.strerror}")
    print(f"{path}: {len(content):,} bytes")
    return 0


def run_animation(args: argparse.Namespace) -> int:
    import dataclasses

    from webapp.export.animation import animation_figures, timeline, write_animation
    from webapp.export.render import RenderError
    from webapp.export.snapshot import flow_diagram, frames

    fmt = _format(args, ("gif", "mp4"))
    if isinstance(fmt, int):
        return fmt
    if not 0 <= args.tween <= 12 or not 100 <= args.hop_ms <= 10000:
        return _fail("--tween takes 0 to 12 frames and --hop-ms 100 to 10000 milliseconds", 2)
    traced = _traced(args)
    if isinstance(traced, int):
        return traced
    cluster, trace = traced
    if args.no_reply:
        trace = dataclasses.replace(trace, reply=())
    diagram = flow_diagram(cluster, trace)
    all_frames = frames(diagram, trace)
    stills = timeline([f.point for f in all_frames], args.tween, args.hop_ms)
    started = time.perf_counter()
    figures = animation_figures(diagram, trace, all_frames, stills, width=args.width, height=args.height,
                                labels=_labels(args))
    path = Path(args.output)
    try:
        write_animation(figures, stills, fmt, path)
    except RenderError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"{path}: {error.strerror}")
    print(f"{path}: {path.stat().st_size:,} bytes, {len(stills)} frames, {time.perf_counter() - started:.1f} s")
    return 0


def _lesson(args: argparse.Namespace) -> tuple[Lesson, Cluster | None] | int:
    """(lesson, loaded cluster) of the command's lesson and --cluster, or an exit code after saying what is wrong."""
    found = lesson_of_arguments(args, sys.stderr)
    if isinstance(found, int):
        return found
    result, loaded = found
    return 1 if result.lesson is None else (result.lesson, loaded)


def run_lesson(args: argparse.Namespace) -> int:
    from webapp.app.standalone import standalone_html
    from webapp.problems import LoadError

    found = _lesson(args)
    if isinstance(found, int):
        return found
    lesson, loaded = found
    started = time.perf_counter()
    try:
        page = standalone_html(lesson, args.lang, loaded)
    except LoadError as error:
        return _fail(str(error))
    path = Path(args.output)
    content = page.encode("utf-8")
    try:
        path.write_bytes(content)
    except OSError as error:
        return _fail(f"{path}: {error.strerror}")
    print(f"{path}: {len(content):,} bytes ({len(content) / 1e6:.2f} MB), {len(lesson.steps)} steps, "
          f"{time.perf_counter() - started:.1f} s")
    return 0


def run_handout(args: argparse.Namespace) -> int:
    from webapp.export.handout import write_handout
    from webapp.export.render import RenderError

    problem = _size_problem(args)
    if problem:
        return _fail(problem, 2)
    found = _lesson(args)
    if isinstance(found, int):
        return found
    lesson, loaded = found
    command = " ".join(["k8s-netviz", "export", "handout", args.lesson, "--lang", args.lang])
    try:
        written = write_handout(lesson, loaded, Path(args.output), args.lang, width=args.width,
                                height=args.height, labels=_labels(args), command=command)
    except RenderError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"{error.filename}: {error.strerror}")
    print(f"{args.output}: {written} pictures")
    return 0
