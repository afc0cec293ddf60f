"""Cluster (+ Trace) → plotly figures: plain typed functions, no dash."""

from webapp.figures.diagram import Diagram, DiagramView, build_diagram, is_big, position_key
from webapp.figures.player import hop_points, playback

__all__ = ["Diagram", "DiagramView", "build_diagram", "hop_points", "is_big", "playback", "position_key"]
