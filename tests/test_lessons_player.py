"""The lesson player's JSON (webapp/lessons/player.py) and the page's honest badges (issue 10's defects)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dash import html

from webapp.app import state
from webapp.app.inspector import nat_badge, render_trace
from webapp.engine.flows import trace_flow
from webapp.lessons import builtin_lesson, load_lesson_text, resolve_step
from webapp.lessons.player import lesson_bundle, trace_key, trace_notes
from webapp.loaders import load_sample
from webapp.variants import ViewSettings, apply_view_settings


def walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        if hasattr(child, "children"):
            yield from walk(child)


def test_a_dropped_flow_says_not_delivered_not_principles_hold():
    seed = load_sample("seed-article")
    down = apply_view_settings(seed, ViewSettings(down_pods=frozenset({"default/web-1"})))
    trace = trace_flow(down, "pod/default/api-1", "svc/default/web:80")
    assert trace.disposition == "dropped"
    assert nat_badge(trace) == ("✖ Not delivered", "badge dropped", "dst 10.96.0.13:80 → 10.244.1.2:80")
    notes = trace_notes(trace)
    assert notes["delivered"] is False
    assert [(p["ok"], p["says"]) for p in notes["principles"]] == [
        (None, "not delivered (dropped): nothing to judge"), (None, "does not apply to this flow"),
        (None, "not delivered (dropped): nothing to judge")]
    assert notes["hops"][-1]["badges"] == ["not delivered: dropped"]


def test_nat_tag_only_on_hops_that_rewrite_not_on_a_dns_reply_or_a_new_connection():
    seed = load_sample("seed-article")
    trace = trace_flow(seed, "pod/default/api-1", "svc/default/search:443")  # ExternalName: DNS, then a new connection
    notes = trace_notes(trace)
    tagged = [i for i, hop in enumerate(notes["hops"]) if hop["nat"]]
    assert tagged == [6, 17, 28]  # DNAT to coredns, conntrack un-DNATs its answer, MASQUERADE leaving the node
    assert [trace.hops[i].action for i in tagged] == ["dnat", "un-dnat", "masquerade"]
    assert not notes["hops"][21]["nat"] and not notes["hops"][22]["nat"]  # the answer delivered; the new connection
    _, panels, _ = render_trace(trace)
    titled = [i for i, panel in enumerate(panels[:len(trace.hops)])
              if any(isinstance(c, html.H3) and c.children == "Address translation at this hop" for c in walk(panel))]
    assert titled == tagged


def test_the_hop_list_names_whose_namespace():
    seed = load_sample("seed-article")
    trace = trace_flow(seed, "pod/default/api-1", "pod/default/web-1:80")
    items, _, _ = render_trace(trace)
    labels = [c.children for c in walk(items[1]) if isinstance(c, html.Button)]
    assert labels[2] == "eth0 · pod/default/api-1 · interface/send"
    assert labels[3].endswith(" · host/node-1 · interface/forward")


def test_the_bundle_holds_every_step_with_the_engine_stops_and_questions():
    lesson = builtin_lesson("seed-article")
    bundle = lesson_bundle(lesson, "zh")
    assert bundle["name"] == "seed-article" and len(bundle["steps"]) == len(lesson.steps) == 27
    for step, data in zip(lesson.steps, bundle["steps"]):
        resolved = resolve_step(step)
        assert data["stops"] == list(resolved.stops) and data["key"] == trace_key(resolved.trace)
        assert data["caption"] == step.caption.zh and data["title"] == step.title.zh
        assert data["land"] <= data["stops"][0]
        for q in data["quiz"]:
            assert 2 <= len(q["answers"]) - 1 <= 3 and q["answers"].count(q["answers"][q["right"]]) == 1
    vxlan = bundle["steps"][5]
    assert vxlan["whatIf"]["overlay"] == "flannel-vxlan" and vxlan["land"] == 4
    assert [q["own"] for q in vxlan["quiz"]] == [True]


def test_a_lesson_with_auto_quiz_false_asks_only_its_steps_own_questions():
    lesson = builtin_lesson("seed-article")
    quiet = dataclasses.replace(lesson, auto_quiz=False)
    every, own = lesson_bundle(lesson, "en"), lesson_bundle(quiet, "en")
    assert (every["autoQuiz"], own["autoQuiz"]) == (True, False)
    assert sum(len(s["quiz"]) for s in every["steps"]) == 52
    assert [(n, [q["own"] for q in s["quiz"]]) for n, s in enumerate(own["steps"], 1) if s["quiz"]] == [(6, [True])]
    assert own["steps"][5]["quiz"] == every["steps"][5]["quiz"] and own["steps"][5]["land"] == 4
    assert [s["land"] for s in own["steps"]] == [s["land"] for s in every["steps"]]


def test_auto_quiz_is_read_from_the_lesson_file():
    text = (Path(__file__).parent / "data" / "lessons" / "example.yaml").read_text()
    cluster = load_sample("flannel-vxlan")
    asking = load_lesson_text("example.yaml", text, loaded=cluster).lesson
    assert asking.auto_quiz is True
    assert [[(q["own"], q["decision"]) for q in s["quiz"]] for s in lesson_bundle(asking, "en", cluster)["steps"]] == [
        [(True, "encapsulation")], [(False, "bridge_or_route")]]
    quiet = load_lesson_text("example.yaml", text.replace("steps:\n", "autoQuiz: false\nsteps:\n", 1),
                             loaded=cluster)
    assert quiet.lesson.auto_quiz is False
    bundle = lesson_bundle(quiet.lesson, "en", cluster)
    assert [[q["own"] for q in s["quiz"]] for s in bundle["steps"]] == [[True], []]
    wrong = load_lesson_text("example.yaml", text.replace("steps:\n", "autoQuiz: sometimes\nsteps:\n", 1))
    assert [str(p) for p in wrong.problems] == [
        "example.yaml:8:11: error: expected true or false, got 'sometimes' (autoQuiz)"]


def test_a_lesson_url_puts_the_step_on_screen(tmp_path):
    from webapp.app.cache import open_cache

    cache = open_cache(str(tmp_path))
    out = state.on_url(cache, "?lesson=seed-article&step=14", "seed-article")
    assert out["lesson"] == "seed-article" and out["lesson_nav"] == {"lesson": "seed-article", "step": 14}
    assert (out["type"], out["src"], out["dst"]) == ("pod-to-service", "pod/default/api-1", "svc/default/web:80")
    assert (out["mode"], out["down"]) == ("userspace", ["default/web-1"])
    assert out["initial_step"] == {"hop": 6, "at": "seed-article/14"}
    beyond = state.on_url(cache, "?lesson=seed-article&step=99&hop=2", "seed-article")
    assert beyond["lesson_nav"]["step"] == 27 and beyond["initial_step"] == {"hop": 2, "at": "seed-article/27"}
    assert state.on_url(cache, "?lesson=no-such", "seed-article")["lesson"] is None
