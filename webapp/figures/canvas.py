"""A tiny drawing surface that collects boxes, lines, labels and clickable points and turns them into a
compact plotly figure dict (one scatter trace per style, not one per element, to keep the JSON small)."""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[float, float]


@dataclass(frozen=True)
class BoxStyle:
    fill: str
    line: str
    width: float = 1.0
    dash: str = "solid"


@dataclass(frozen=True)
class LineStyle:
    color: str
    width: float = 1.5
    dash: str = "solid"
    name: str = ""


@dataclass(frozen=True)
class TextStyle:
    size: int = 11
    color: str = "#1f2933"
    family: str = "Inter, 'DejaVu Sans', Arial, 'Noto Sans CJK SC', sans-serif"
    position: str = "middle center"
    mode: str = ""
    """"" drawn always, "normal" only outside presentation mode, "present" only in it (assets/netviz.css)."""


@dataclass
class Canvas:
    shapes: list[dict] = field(default_factory=list)
    lines: dict[LineStyle, tuple[list, list]] = field(default_factory=dict)
    texts: dict[TextStyle, tuple[list, list, list]] = field(default_factory=dict)
    targets: tuple[list, list, list, list] = field(default_factory=lambda: ([], [], [], []))
    min_x: float = float("inf")
    max_x: float = float("-inf")
    min_y: float = float("inf")
    max_y: float = float("-inf")

    def _extend(self, x: float, y: float) -> None:
        self.min_x, self.max_x = min(self.min_x, x), max(self.max_x, x)
        self.min_y, self.max_y = min(self.min_y, y), max(self.max_y, y)

    def box(self, x0: float, y0: float, x1: float, y1: float, style: BoxStyle, *, radius: bool = False) -> None:
        """A rectangle between two corners (drawn below the traces)."""
        shape = {"type": "rect", "x0": round(x0, 3), "y0": round(y0, 3), "x1": round(x1, 3), "y1": round(y1, 3),
                 "fillcolor": style.fill, "line": {"color": style.line, "width": style.width}, "layer": "below"}
        if style.dash != "solid":
            shape["line"]["dash"] = style.dash
        self.shapes.append(shape)
        self._extend(x0, y0)
        self._extend(x1, y1)

    def line(self, points: list[Point], style: LineStyle) -> None:
        xs, ys = self.lines.setdefault(style, ([], []))
        if xs:
            xs.append(None)
            ys.append(None)
        for x, y in points:
            xs.append(round(x, 3))
            ys.append(round(y, 3))
            self._extend(x, y)

    def text(self, x: float, y: float, text: str, style: TextStyle = TextStyle(), hover: str = "") -> None:
        xs, ys, labels = self.texts.setdefault(style, ([], [], []))
        xs.append(round(x, 3))
        ys.append(round(y, 3))
        labels.append(text)
        self._extend(x, y)

    def target(self, x: float, y: float, ref: str, hover: str) -> None:
        """A clickable point: `ref` comes back in plotly's clickData as customdata (`pod:ns/name` …)."""
        xs, ys, refs, hovers = self.targets
        xs.append(round(x, 3))
        ys.append(round(y, 3))
        refs.append(ref)
        hovers.append(hover)

    def traces(self, font_scale: float = 1.0) -> list[dict]:
        """Lines, then labels (font sizes times `font_scale`; presentation-only ones last), then the invisible
        click targets. A line trace's uid `nvl-<name>-<i>` and a label trace's uid `nvn<i>` (normal only) or
        `nvp<i>` (presentation only) become CSS classes (`tracenvl-veth-0` …) that assets/netviz.css styles."""
        out: list[dict] = []
        for index, (style, (xs, ys)) in enumerate(self.lines.items()):
            name = style.name or "link"
            out.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "hoverinfo": "skip",
                        "line": {"color": style.color, "width": style.width, "dash": style.dash},
                        "name": name, "showlegend": False, "uid": f"nvl-{name.replace(' ', '-')}-{index}"})
        ordered = sorted(self.texts.items(), key=lambda item: item[0].mode == "present")
        for index, (style, (xs, ys, labels)) in enumerate(ordered):
            trace = {"type": "scatter", "mode": "text", "x": xs, "y": ys, "text": labels, "hoverinfo": "skip",
                     "textposition": style.position,
                     "textfont": {"size": round(style.size * font_scale, 1), "color": style.color,
                                  "family": style.family},
                     "name": "present labels" if style.mode == "present" else "labels", "showlegend": False}
            if style.mode:
                trace["uid"] = f"nv{style.mode[0]}{index}"
            out.append(trace)
        xs, ys, refs, hovers = self.targets
        if xs:
            out.append({"type": "scatter", "mode": "markers", "x": xs, "y": ys, "customdata": refs,
                        "hovertext": hovers, "hoverinfo": "text", "name": "targets", "showlegend": False,
                        "marker": {"size": 26, "symbol": "square", "color": "rgba(0,0,0,0)"}})
        return out
