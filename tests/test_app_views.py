"""The views over the diagram, rendered without a browser: the kube-proxy mode comparison (webapp.app.modes_view)
and the page wiring (a button in the picker row, the view over the diagram)."""

from __future__ import annotations

import pytest

from webapp.app import modes_view
from webapp.app.layout import build_layout
from webapp.loaders import load_sample


@pytest.fixture(scope="module")
def seed():
    """One cluster object for the module: its 5,000-service growth and rulesets are computed once."""
    return load_sample("seed-article")


def walk(component):
    """Every component of a tree, depth first."""
    if isinstance(component, (list, tuple)):
        for child in component:
            yield from walk(child)
        return
    if component is None or isinstance(component, (str, int, float)):
        return
    yield component
    yield from walk(getattr(component, "children", None))


def words(component) -> str:
    """The text a person reads in a component (its strings, in order, joined by single spaces)."""
    if isinstance(component, str):
        return component
    if isinstance(component, (list, tuple)):
        return " ".join(w for w in (words(c) for c in component) if w)
    return words(getattr(component, "children", None) or "")


def cells(body, row: str) -> list[str]:
    return [words(c) for c in walk(body) if getattr(c, "className", None) == row and type(c).__name__ == "Td"]


def test_a_pod_to_pod_flow_goes_through_no_service_in_any_mode(seed):
    body = modes_view.comparison(seed, "pod/default/api-1", "pod/default/api-2:8080")
    assert words(body[0]) == "The same flow, pod/default/api-1 → pod/default/api-2:8080, under each kube-proxy mode."
    assert cells(body, "outcome") == ["Delivered"] * 4
    assert cells(body, "lookup") == ["this flow goes through no Service"] * 4
    assert cells(body, "decided") == ["no kube-proxy rule acts on this flow"] * 4
    assert cells(body, "scale") == [
        "2,526 rules compared on average, 5,002 at worst (100 of 5,001 service ports measured)",
        "1 lookup(s) in the IPVS service table at worst, whichever of the 5,001 service ports",
        "1 verdict-map lookup(s) at worst, whichever of the 5,001 service ports",
        "2,526 rules compared on average, 5,002 at worst (100 of 5,001 service ports measured)"]


def test_a_node_port_is_found_after_every_kube_services_rule_in_iptables_mode_in_chinese(seed):
    from webapp.narration import narration_language

    with narration_language("zh"):
        body = modes_view.comparison(seed, "203.0.113.10", "node/node-1:30081")
        assert cells(body, "lookup") == ["在该 Service 自己的规则之前比较了 10 条规则", "在 IPVS 服务表中查找 1 次",
                                         "2 次 verdict map 查找", "在该 Service 自己的规则之前比较了 0 条规则"]
        assert cells(body, "rules")[0] == "node-1：90 条规则 node-2：90 条规则"


def test_the_view_button_ends_the_picker_row_and_the_view_opens_over_the_diagram():
    page = build_layout([("seed-article", "The seed article")], tools=[modes_view.open_button()],
                        overlays=[modes_view.panel()])
    picker = next(c for c in walk(page) if getattr(c, "className", None) == "picker")
    assert [c.id for c in walk(picker) if getattr(c, "id", None) == modes_view.Id.OPEN] == ["modes-open"]
    frame = next(c for c in walk(page) if getattr(c, "className", None) == "diagram-frame")
    assert [getattr(c, "id", None) for c in frame.children] == ["diagram", "modes-panel"]
    assert frame.children[1].className == "view-overlay"
