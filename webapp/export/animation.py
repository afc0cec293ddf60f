"""An animation of one flow for slides: the stills of `webapp.export.snapshot` (one per hop, request then reply,
with in-between frames moving the packet towards the next hop), rendered by the same image export, written as an
animated GIF (Pillow) or an H.264 MP4 (PyAV)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webapp.engine.trace import Trace
from webapp.export.render import RenderError, render
from webapp.export.snapshot import NORMAL, Frame, snapshot
from webapp.figures import Diagram

ANIMATION_FORMATS = ("gif", "mp4")
DWELL = 0.35
"""Share of a hop's time spent resting on it (assets/netviz.js, DWELL)."""
LAST_HOLD_MS = 2000
"""The last frame stays this long before the animation loops."""
MP4_FPS = 25


@dataclass(frozen=True)
class Still:
    """One picture of the animation: the hop it belongs to, how far towards the next hop (0 = on the hop), and
    how long it is shown."""

    index: int
    progress: float
    duration_ms: int


def ease(s: float) -> float:
    """The player's ease-in-out (assets/netviz.js, ease)."""
    return 2 * s * s if s < 0.5 else 1 - (-2 * s + 2) ** 2 / 2


def timeline(points: list[tuple[float, float]], tween: int, hop_ms: int) -> tuple[Still, ...]:
    """The stills of a flow whose hops are drawn at `points`: each hop, then `tween` in-between frames moving
    towards the next hop — none after the last hop, nor towards a hop drawn at the same place (the packet rests
    there the whole hop). Frames: hops + tween × (hops whose next hop is drawn elsewhere)."""
    stills: list[Still] = []
    for index, point in enumerate(points):
        last = index == len(points) - 1
        moves = tween > 0 and not last and points[index + 1] != point
        stills.append(Still(index, 0.0, LAST_HOLD_MS if last else round(hop_ms * DWELL) if moves else hop_ms))
        if moves:
            travel = round(hop_ms * (1 - DWELL) / tween)
            stills += [Still(index, step / (tween + 1), travel) for step in range(1, tween + 1)]
    return tuple(stills)


def animation_figures(diagram: Diagram, trace: Trace, all_frames: tuple[Frame, ...], stills: tuple[Still, ...], *,
                      width: int, height: int, labels: str = NORMAL) -> list[dict[str, Any]]:
    """One figure per still."""
    figures = []
    for still in stills:
        here = all_frames[still.index]
        offset = (0.0, 0.0)
        if still.progress:
            there = all_frames[still.index + 1]
            s = ease(still.progress)
            offset = ((there.point[0] - here.point[0]) * s, (there.point[1] - here.point[1]) * s)
        figures.append(snapshot(diagram, trace, all_frames, still.index, width=width, height=height, labels=labels,
                                offset=offset))
    return figures


def write_animation(figures: list[dict[str, Any]], stills: tuple[Still, ...], fmt: str, path: Path) -> None:
    """Render the figures (PNG) and write them as `fmt` to `path`."""
    pictures = render(figures, "png")
    if fmt == "gif":
        _write_gif(pictures, [s.duration_ms for s in stills], path)
    elif fmt == "mp4":
        _write_mp4(pictures, [s.duration_ms for s in stills], path)
    else:
        raise RenderError(f"unknown animation format {fmt!r} (gif or mp4)")


def _write_gif(pictures: list[bytes], durations: list[int], path: Path) -> None:
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB").quantize(colors=255, method=Image.Quantize.MEDIANCUT)
              for p in pictures]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)


def _write_mp4(pictures: list[bytes], durations: list[int], path: Path) -> None:
    try:
        import av
    except ImportError:
        raise RenderError("MP4 needs PyAV: pip install 'k8s-netviz[video]' (or pip install av)") from None
    from PIL import Image

    first = Image.open(io.BytesIO(pictures[0]))
    width, height = first.size
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=MP4_FPS)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "medium"}
        for picture, duration in zip(pictures, durations):
            image = Image.open(io.BytesIO(picture)).convert("RGB").crop((0, 0, stream.width, stream.height))
            video = av.VideoFrame.from_image(image)
            for _ in range(max(1, round(duration * MP4_FPS / 1000))):
                for packet in stream.encode(video):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
