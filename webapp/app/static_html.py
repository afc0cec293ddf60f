"""Dash html components as plain HTML text, for pages that run without Dash (the standalone lesson player): the
same hop list, inspector panels and captions the page shows, written once by webapp.app.inspector."""

from __future__ import annotations

import html
from typing import Any

VOID = frozenset({"br", "hr", "img", "input", "meta", "link"})
"""Elements without an end tag."""


def _attribute(name: str, value: Any) -> str:
    if name == "className":
        name = "class"
    elif name == "htmlFor":
        name = "for"
    return f' {name}="{html.escape(str(value), quote=True)}"'


def to_html(component: Any) -> str:
    """`component` (a dash.html component, a string, a number, a list of them, or None) as HTML text; every text
    and attribute escaped."""
    if component is None:
        return ""
    if isinstance(component, (list, tuple)):
        return "".join(to_html(child) for child in component)
    if isinstance(component, (str, int, float)):
        return html.escape(str(component), quote=False)
    data = component.to_plotly_json()
    if data.get("namespace") != "dash_html_components":
        raise TypeError(f"not a dash.html component: {data.get('namespace')}.{data.get('type')}")
    tag = data["type"].lower()
    props = data.get("props", {})
    attributes = "".join(_attribute(name, value) for name, value in sorted(props.items())
                         if name != "children" and value is not None and not isinstance(value, (dict, list)))
    if tag in VOID:
        return f"<{tag}{attributes}>"
    return f"<{tag}{attributes}>{to_html(props.get('children'))}</{tag}>"
