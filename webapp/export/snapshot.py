"""A still of a flow at one hop, as a plotly figure dict for plotly's image export: the flow's diagram (one label
set: the page's normal labels or its presentation-mode ones), the trail walked so far, the packet marker with its
label, the highlight frame and the VXLAN envelope at the hop, the flow on top and a caption underneath.

The marker's colours, symbols and labels are the browser player's (assets/netviz.js, `frameStyle`), so a picture
shows what the page shows at that hop. No path is computed here: hops and points come from the engine and
`webapp.figures.player`."""

from __future__ import annotations

import copy
import html
import unicodedata
from dataclasses import dataclass
from typing import Any

from webapp.engine.trace import Action, Disposition, Hop, Trace
from webapp.export.words import say
from webapp.figures import Diagram, build_diagram
from webapp.figures.canvas import Point
from webapp.figures.player import hop_points, trace_view
from webapp.figures.words import word
from webapp.model import Cluster

REQUEST, REPLY = "request", "reply"

COLORS = {"request": "#2563eb", "request_nat": "#7c3aed", "reply": "#16a34a", "reply_nat": "#0f766e",
          "dead": "#dc2626", "highlight": "#f59e0b", "envelope": "rgba(234,88,12,0.30)"}
"""The player's colours (assets/netviz.js, COLORS)."""
ACTION_LABELS = {Action.DNAT: "DNAT", Action.SNAT: "SNAT", Action.MASQUERADE: "MASQUERADE", Action.UNDNAT: "un-DNAT",
                 Action.UNSNAT: "un-SNAT", Action.REDIRECT: "REDIRECT", Action.RESOLVE: "DNS"}
"""Rule names the marker carries (assets/netviz.js, ACTION_LABELS); worded labels come from figures.words."""
WORDED = {Action.ENCAPSULATE: "packet.encapsulate", Action.DECAPSULATE: "packet.decapsulate",
          Action.PROXY: "packet.proxy"}
DEATH_LABEL_MAX = 50

NORMAL, PRESENT = "normal", "present"
LABEL_SETS = (NORMAL, PRESENT)
FONT_MIN, FONT_MAX = 0.72, 2.0
"""The bounds of the label scale (assets/netviz.js, fitFonts)."""
DESIGN_WIDTH = 1000
"""The picture width the caption and marker sizes are chosen for; they grow with wider pictures."""


@dataclass(frozen=True)
class Frame:
    """One stop of the player: a hop of the request or of the reply, where it is drawn, and how the marker looks."""

    hop: Hop
    point: Point
    phase: str
    number: int
    """1-based within its phase, as `k8s-netviz trace` numbers the hops."""
    total: int
    """Hops in its phase."""
    nat: bool
    """The packet's addresses differ from the phase's first hop (the marker turns violet/teal, a diamond)."""
    dead: bool = False
    reason: str = ""


def frames(diagram: Diagram, trace: Trace) -> tuple[Frame, ...]:
    """The request's hops then the reply's; a packet that dies ends the list at its last request hop (as the
    player's buildFrames)."""
    out: list[Frame] = []
    for phase, hops in ((REQUEST, trace.hops), (REPLY, trace.reply)):
        first = hops[0].packet if hops else None
        for index, (hop, point) in enumerate(zip(hops, hop_points(diagram, hops))):
            nat = first is not None and (hop.packet.src != first.src or hop.packet.dst != first.dst)
            out.append(Frame(hop, point, phase, index + 1, len(hops), nat))
    if trace.disposition != Disposition.DELIVERED:
        last = max((i for i, f in enumerate(out) if f.phase == REQUEST), default=-1)
        if last >= 0:
            out = out[:last] + [Frame(out[last].hop, out[last].point, REQUEST, out[last].number, out[last].total,
                                      out[last].nat, True, trace.reason or str(trace.disposition))]
    return tuple(out)


def frame_index(all_frames: tuple[Frame, ...], number: int, *, reply: bool = False) -> int:
    """The index in `all_frames` of hop `number` (1-based) of the request, or of the reply; ValueError when the
    flow has no such hop."""
    phase = REPLY if reply else REQUEST
    for index, frame in enumerate(all_frames):
        if frame.phase == phase and frame.number == number:
            return index
    count = sum(1 for f in all_frames if f.phase == phase)
    raise ValueError(f"step {number}: the {phase} has {count} hop{'s' * (count != 1)} (1–{count})"
                     if count else f"step {number}: this flow has no {phase} hops")


def flow_diagram(cluster: Cluster, trace: Trace) -> Diagram:
    """The diagram the page draws for this flow: its nodes, pods and services in detail."""
    return build_diagram(cluster, trace_view(cluster, trace))


def death_label(reason: str) -> str:
    """The dead packet's label: the reason's first clause, cut at a word (assets/netviz.js, deathLabel)."""
    words = reason
    colon = min((i for i in (words.find(": "), words.find("：")) if i > 0), default=-1)
    if 0 < colon <= DEATH_LABEL_MAX:
        words = words[:colon]
    if len(words) > DEATH_LABEL_MAX:
        cut = words.rfind(" ", 0, DEATH_LABEL_MAX - 1)
        words = words[:cut if cut > DEATH_LABEL_MAX / 2 else DEATH_LABEL_MAX - 1] + "…"
    return "✖ " + words


def marker_style(frame: Frame) -> tuple[str, str, str]:
    """(colour, symbol, label) of the packet marker at `frame`."""
    if frame.dead:
        return COLORS["dead"], "x", death_label(frame.reason)
    color = COLORS[f"{frame.phase}_nat" if frame.nat else frame.phase]
    if frame.phase == REPLY and frame.number == 1:
        label = word("packet.reply")
    elif frame.hop.action in WORDED:
        label = word(WORDED[frame.hop.action])
    else:
        label = ACTION_LABELS.get(frame.hop.action, "")
    return color, "diamond" if frame.nat else "circle", label


def text_units(text: str) -> float:
    """The width of `text` in Latin letters of one font (a CJK or full-width character counts as two)."""
    return sum(2.0 if unicodedata.east_asian_width(c) in "WF" else 1.0 for c in text)


def wrap(text: str, width: float) -> list[str]:
    """`text` cut into lines at most `width` units wide (`text_units`), at spaces, or anywhere in CJK text."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        if line and text_units(line + token) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Words with their leading space; every wide character is a token of its own (CJK wraps anywhere)."""
    tokens: list[str] = []
    for char in text:
        wide = unicodedata.east_asian_width(char) in "WF"
        if wide or not tokens or char == " " or unicodedata.east_asian_width(tokens[-1][-1]) in "WF":
            tokens.append(char)
        else:
            tokens[-1] += char
    return tokens


def caption_lines(trace: Trace, frame: Frame, caption: str | None = None) -> list[str]:
    """What the picture says under the diagram: where the hop is, the given caption (or the hop's explanation),
    the packet's headers as it leaves, and the outer header inside a tunnel."""
    hop = frame.hop
    key = "caption.reply" if frame.phase == REPLY else "caption.hop"
    lines = [say(key, number=frame.number, total=frame.total, device=hop.device, netns=hop.netns)]
    lines.append(caption if caption is not None else hop.explain)
    if frame.dead:
        lines.append(say("caption.dead", reason=frame.reason))
    packet = hop.packet
    lines.append(f"{packet.proto} {packet.src} → {packet.dst}")
    if packet.outer:
        outer = packet.outer
        lines.append(say("caption.outer", proto=outer.proto, src=outer.src, dst=outer.dst, vni=outer.vni))
    return lines


def _label_sets(data: list[dict[str, Any]], labels: str) -> list[dict[str, Any]]:
    """The traces without the other mode's labels (the page hides them by CSS, a picture must leave them out)."""
    drop_present = labels == NORMAL

    def kept(trace: dict[str, Any]) -> bool:
        uid = str(trace.get("uid", ""))
        if uid.startswith("nvp") or trace.get("name") == "present labels":
            return not drop_present
        if uid.startswith("nvn"):
            return drop_present
        return trace.get("name") != "targets"

    return [trace for trace in data if kept(trace)]


def _plot_size(width: int, height: int, margin: dict[str, int]) -> tuple[int, int]:
    return width - margin["l"] - margin["r"], height - margin["t"] - margin["b"]


def snapshot(diagram: Diagram, trace: Trace, all_frames: tuple[Frame, ...], index: int, *, width: int, height: int,
             caption: str | None = None, labels: str = NORMAL, title: str | None = None,
             offset: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
    """The figure of `diagram` with the packet at `all_frames[index]` (moved by `offset` diagram units towards the
    next hop, for an animation's in-between frames), the trail up to there, and the caption."""
    frame = all_frames[index]
    figure = copy.deepcopy(diagram.figure)
    layout = figure["layout"]
    grow = max(1.0, width / DESIGN_WIDTH)
    caption_size = round(15 * grow)
    lines = caption_lines(trace, frame, caption)
    chars = max(20.0, (width - 40) / (caption_size * 0.56))
    wrapped: list[str] = []
    for number, line in enumerate(lines):
        cut = wrap(line, chars)
        wrapped += [f"<b>{html.escape(cut[0])}</b>", *map(html.escape, cut[1:])] if number == 0 else \
            [html.escape(part) for part in cut]
    title = title if title is not None else f"{trace.flow.type}: {trace.flow.src} → {trace.flow.dst} ({trace.flow.proto})"
    title_size = round(16 * grow)
    margin = {"l": 12, "r": 12, "t": round(title_size * 2.2), "b": round(caption_size * 1.45 * len(wrapped) + 16)}
    layout["margin"] = margin
    layout["xaxis"]["fixedrange"] = layout["yaxis"]["fixedrange"] = True
    layout["yaxis"]["scaleanchor"] = "x"
    layout["yaxis"]["scaleratio"] = 1
    layout.pop("uirevision", None)

    data = _label_sets(figure["data"], labels)
    meta = layout.get("meta") or {}
    plot_w, plot_h = _plot_size(width, height, margin)
    x_range, y_range = layout["xaxis"]["range"], layout["yaxis"]["range"]
    ppu = min(plot_w / abs(x_range[1] - x_range[0]), plot_h / abs(y_range[1] - y_range[0]))
    scale = max(FONT_MIN, min(FONT_MAX, ppu / meta.get("pixels_per_unit", 34)))
    factor = scale / meta.get("font_scale", 1.0)
    for figure_trace in data:
        if figure_trace.get("mode") == "text" and "textfont" in figure_trace:
            figure_trace["textfont"]["size"] = round(figure_trace["textfont"]["size"] * factor, 1)

    by_name = {t.get("name"): t for t in data}
    color, symbol, label = marker_style(frame)
    x, y = frame.point[0] + offset[0], frame.point[1] + offset[1]
    marker_size = round(20 * max(1.0, scale))
    highlight, envelope, packet = by_name["highlight"], by_name["envelope"], by_name["packet"]
    highlight.update(x=[frame.point[0]], y=[frame.point[1]])
    highlight["marker"].update(size=round(marker_size * 1.9), color=COLORS["highlight"])
    highlight["marker"]["line"]["width"] = 4
    if frame.hop.packet.outer:
        envelope.update(x=[x], y=[y])
        envelope["marker"].update(size=round(marker_size * 1.7), color=COLORS["envelope"])
    share = (x - x_range[0]) / (x_range[1] - x_range[0])
    packet.update(x=[x], y=[y], text=[f"<b>{html.escape(label)}</b>" if label else ""],
                  textposition="top right" if share < 0.3 else "top left" if share > 0.7 else "top center")
    packet["marker"].update(size=marker_size, color=color, symbol=symbol)
    packet["textfont"].update(size=round(15 * max(1.0, scale)), color=color)

    trail = _trail(all_frames, index, (x, y), round(5 * max(1.0, scale)))
    at = data.index(highlight)
    data[at:at] = trail
    figure["data"] = data

    layout["annotations"] = [
        {"xref": "paper", "yref": "paper", "x": 0, "y": 1, "yanchor": "bottom", "xanchor": "left",
         "yshift": round(title_size * 0.5), "showarrow": False, "align": "left",
         "text": f"<b>{html.escape(title)}</b>", "font": {"size": title_size, "color": "#111827"}},
        {"xref": "paper", "yref": "paper", "x": 0, "y": 0, "yanchor": "top", "xanchor": "left",
         "yshift": -8, "showarrow": False, "align": "left", "text": "<br>".join(wrapped),
         "font": {"size": caption_size, "color": "#1f2933"}},
    ]
    layout["width"], layout["height"] = width, height
    return figure


def _trail(all_frames: tuple[Frame, ...], index: int, end: Point, width: int) -> list[dict[str, Any]]:
    """The path walked up to `all_frames[index]` (ending at `end`, the marker): the request's part blue, the
    reply's green, a dot on every hop passed."""
    out: list[dict[str, Any]] = []
    for phase in (REQUEST, REPLY):
        points = [f.point for f in all_frames[:index + 1] if f.phase == phase]
        if not points:
            continue
        if phase == all_frames[index].phase:
            points = points + [end] if end != points[-1] else points
        out.append({"type": "scatter", "mode": "lines+markers", "name": f"{phase} trail", "hoverinfo": "skip",
                    "showlegend": False, "x": [p[0] for p in points], "y": [p[1] for p in points],
                    "opacity": 0.55, "line": {"color": COLORS[phase], "width": width},
                    "marker": {"size": width + 4, "color": COLORS[phase]}})
    return out
