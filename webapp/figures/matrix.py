"""The reachability matrix as a plotly figure: rows are the source pods, columns the destination pods (namespace/name
order, so each namespace is a block, its bounds drawn heavier), each cell coloured by what the NetworkPolicies say
for one port: allowed, denied (enforced), or would be denied but not enforced. With `before`, the cells whose state
differs from it are framed. Every cell is a click target whose customdata is `[source pod, destination pod]`.

Cells are filled polygons, one scatter trace per state (the vendored plotly-basic bundle has no heatmap), so the
figure stays a handful of traces whatever the number of pods. Core module: no dash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp.engine.policy_matrix import CellState, PolicyMatrix
from webapp.figures.words import word
from webapp.model import Cluster

FILLS = {CellState.ALLOWED: "#bbf7d0", CellState.DENIED: "#fca5a5", CellState.NOT_ENFORCED: "#fde68a"}
MARKS = {CellState.ALLOWED: "✓", CellState.DENIED: "✗", CellState.NOT_ENFORCED: "!"}
CHANGED = "#1d4ed8"
GAP = 0.06
"""Blank between two cells, in cell widths."""
MARKED_MAX = 40
"""Up to this many pods, each cell also carries its mark (✓ ✗ !), for readers who cannot tell the colours apart."""
CELL_PIXELS = 26
REASONS_MAX = 30
"""Up to this many pods, each cell's hover also gives the reason (a bigger grid would send megabytes of them);
beyond, the hover gives the state, and a click traces the pair, reason included."""


@dataclass(frozen=True)
class MatrixFigure:
    """The figure, and which cells changed against `before` (source, destination)."""

    figure: dict[str, Any]
    changed: tuple[tuple[str, str], ...]


def _square(x: float, y: float, inset: float) -> list[tuple[float, float]]:
    return [(x + inset, y - inset), (x + 1 - inset, y - inset), (x + 1 - inset, y - 1 + inset),
            (x + inset, y - 1 + inset), (x + inset, y - inset)]


def _polygons(squares: list[list[tuple[float, float]]]) -> tuple[list, list]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for square in squares:
        if xs:
            xs.append(None)
            ys.append(None)
        for x, y in square:
            xs.append(round(x, 3))
            ys.append(round(y, 3))
    return xs, ys


NAME_CHARS = 18
"""A pod name longer than this is cut in its middle (a Deployment's hashes), the end kept: `coredns-8…-2mcc9`."""


def _tick(pod: str) -> str:
    namespace, _, name = pod.partition("/")
    if len(name) > NAME_CHARS:
        name = name[:NAME_CHARS - 7] + "…" + name[-6:]
    return f"{namespace}/<b>{name}</b>"


def _wrap(sentence: str, width: int = 70) -> str:
    """A hover sentence broken into lines of about `width` characters."""
    lines, line = [], ""
    for part in sentence.split(" "):
        if line and len(line) + 1 + len(part) > width:
            lines.append(line)
            line = part
        else:
            line = f"{line} {part}" if line else part
    return "<br>".join([*lines, line])


def matrix_figure(cluster: Cluster, matrix: PolicyMatrix, before: PolicyMatrix | None = None) -> MatrixFigure:
    """The matrix of `cluster` for one port; with `before` (the same pods, another what-if), changed cells framed."""
    pods = matrix.pods
    count = len(pods)
    squares: dict[CellState, list] = {state: [] for state in CellState}
    changed_squares: list = []
    changed: list[tuple[str, str]] = []
    xs, ys, refs, hovers, marks = [], [], [], [], []
    for row, src in enumerate(pods):
        for col, dst in enumerate(pods):
            state = matrix.state(src, dst)
            x, y = col, -row
            squares[state].append(_square(x, y, GAP / 2))
            was = before.state(src, dst) if before is not None and src in before.group_of and dst in before.group_of \
                else None
            hover = word(f"matrix.cell.{state}", src=src, dst=dst)
            if was is not None and was != state:
                changed.append((src, dst))
                changed_squares.append(_square(x, y, GAP))
                hover += "<br>" + word("matrix.cell.changed", before=word(f"matrix.state.{was}"))
            if src != dst and count <= REASONS_MAX:
                hover += "<br>" + _wrap(matrix.reason(cluster, src, dst))
            xs.append(x + 0.5)
            ys.append(y - 0.5)
            refs.append([src, dst])
            hovers.append(hover)
            marks.append(MARKS[state])
    traces: list[dict[str, Any]] = []
    for state, found in squares.items():
        if not found:
            continue
        px, py = _polygons(found)
        traces.append({"type": "scatter", "mode": "lines", "x": px, "y": py, "fill": "toself",
                       "fillcolor": FILLS[state], "line": {"width": 0, "color": FILLS[state]}, "hoverinfo": "skip",
                       "name": str(state), "showlegend": False})
    if changed_squares:
        px, py = _polygons(changed_squares)
        traces.append({"type": "scatter", "mode": "lines", "x": px, "y": py, "hoverinfo": "skip",
                       "line": {"width": 3, "color": CHANGED}, "name": "changed", "showlegend": False})
    if count <= MARKED_MAX:
        traces.append({"type": "scatter", "mode": "text", "x": xs, "y": ys, "text": marks, "hoverinfo": "skip",
                       "textfont": {"size": 12, "color": "#1f2933"}, "name": "marks", "showlegend": False})
    traces.append({"type": "scatter", "mode": "markers", "x": xs, "y": ys, "customdata": refs, "hovertext": hovers,
                   "hoverinfo": "text", "name": "cells", "showlegend": False,
                   "marker": {"size": CELL_PIXELS - 4, "symbol": "square", "color": "rgba(0,0,0,0)"}})
    # The namespaces' bounds: heavier lines between two namespaces' rows and columns.
    namespaces = [p.partition("/")[0] for p in pods]
    bounds = [i for i in range(1, count) if namespaces[i] != namespaces[i - 1]]
    shapes = [{"type": "line", "x0": b, "x1": b, "y0": 0.15, "y1": -count, "line": {"color": "#334155", "width": 2}}
              for b in bounds]
    shapes += [{"type": "line", "x0": -0.15, "x1": count, "y0": -b, "y1": -b, "line": {"color": "#334155", "width": 2}}
               for b in bounds]
    ticks = [i + 0.5 for i in range(count)]
    labels = [_tick(p) for p in pods]
    size = max(320, count * CELL_PIXELS + 230)
    figure = {
        "data": traces,
        "layout": {
            "shapes": shapes,
            "xaxis": {"range": [-0.1, count + 0.1], "side": "top", "tickvals": ticks, "ticktext": labels,
                      "tickangle": -90, "showgrid": False, "zeroline": False, "fixedrange": True, "automargin": True,
                      "title": {"text": word("matrix.to"), "standoff": 6}},
            "yaxis": {"range": [-count - 0.1, 0.1], "tickvals": [-t for t in ticks], "ticktext": labels,
                      "showgrid": False, "zeroline": False, "fixedrange": True, "automargin": True,
                      "scaleanchor": "x", "title": {"text": word("matrix.from"), "standoff": 6}},
            "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
            "height": size, "width": size + 60,
            "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff",
            "hovermode": "closest", "dragmode": False, "showlegend": False,
            "font": {"family": "Inter, 'DejaVu Sans', Arial, 'Noto Sans CJK SC', sans-serif", "size": 11},
        },
    }
    return MatrixFigure(figure, tuple(changed))
