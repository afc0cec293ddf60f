"""Lesson files (webapp.lessons): the schema, the loader's located errors, resolving steps, the catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from webapp.engine.flows import FlowType
from webapp.engine.trace import Action, HopKind
from webapp.lessons import (
    DEFAULT_LESSON, LOADED, FlowSpec, StopSelector, Text, builtin_lesson, lesson_json_schema, list_lessons, load_lesson,
    load_lesson_text, resolve_step,
)
from webapp.lessons.catalog import MESSAGES, fields_of, text
from webapp.lessons.loader import OBJECTS, SCHEMA_FILE
from webapp.loaders import load_paths
from webapp.problems import LoadError
from webapp.variants import ViewSettings
from webapp.model import KubeProxyMode

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "lessons"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _errors(content: str, **kw) -> list[str]:
    return [str(p) for p in load_lesson_text("lesson.yaml", content, **kw).problems]


STEP = """name: t
title: {en: T, zh: T}
steps:
  - title: {en: S, zh: S}
    flow: {type: pod-to-pod-same-node, from: pod/default/api-1, to: pod/default/web-1:80}
    caption: {en: C, zh: C}
"""


# ------------------------------------------------------------------------------------------ errors, located


def test_broken_lesson_gives_each_error_at_its_field_with_a_hint() -> None:
    result = load_lesson("tests/data/lessons/broken.yaml")
    assert result.lesson is None and not result.ok
    assert [str(p) for p in result.problems] == [
        "tests/data/lessons/broken.yaml:5:14: error: unknown sample 'seed-articel' (steps[0].cluster)"
        " (hint: did you mean 'seed-article'?)",
        "tests/data/lessons/broken.yaml:9:70: error: invalid flow: pod/default/web-9:80: pod default/web-9 not found"
        " (steps[1].flow.to) (hint: pod-to-pod-cross-node flows here: from pod/default/api-1 to"
        " pod/default/api-2:8080; from pod/default/api-1 to pod/default/db-1:5432)",
        "tests/data/lessons/broken.yaml:13:16: error: stop hop 9 is past the end: the trace has 8 hops"
        " (steps[2].stops[1]) (hint: hops are numbered from 1, as `k8s-netviz trace` prints them)",
        "tests/data/lessons/broken.yaml:16:18: error: the engine traces pod/default/api-1 → pod/default/web-1:80 as"
        " pod-to-pod-same-node, not pod-to-pod-cross-node (steps[3].flow.type) (hint: write type:"
        " pod-to-pod-same-node, or pod-to-pod-cross-node flows here: from pod/default/api-1 to"
        " pod/default/api-2:8080; from pod/default/api-1 to pod/default/db-1:5432)",
    ]


def test_unknown_keys_are_refused_with_did_you_mean() -> None:
    content = STEP.replace("    caption:", "    captoin: {en: C, zh: C}\n    caption:").replace(
        "title: {en: T, zh: T}", "title: {en: T, zh: T, fr: T}")
    assert _errors(content) == [
        "lesson.yaml:2:23: error: unknown key 'fr' in text (title.fr) (hint: expected one of: en, zh)",
        "lesson.yaml:6:5: error: unknown key 'captoin' in step (steps[0].captoin) (hint: did you mean 'caption'?)",
    ]


def test_bad_values_name_the_choices() -> None:
    content = STEP.replace("type: pod-to-pod-same-node", "type: pod-to-pod-same-nod").replace(
        "    caption:", "    whatIf: {kubeProxy: ipvsx}\n    stops: [0, {kind: vxlan, hop: 3}, {}]\n    caption:")
    assert _errors(content) == [
        "lesson.yaml:5:18: error: expected one of container-to-container, pod-to-pod-same-node, pod-to-pod-cross-node,"
        " node-to-pod, pod-to-node, pod-to-service, node-to-service, nodeport, loadbalancer, externalname,"
        " externalips, pod-to-external, external-to-pod, host-network, got 'pod-to-pod-same-nod'"
        " (steps[0].flow.type) (hint: did you mean 'pod-to-pod-same-node'?)",
        "lesson.yaml:6:25: error: expected one of iptables, ipvs, userspace, nftables, got 'ipvsx' (steps[0].whatIf.kubeProxy)"
        " (hint: did you mean 'ipvs'?)",
        "lesson.yaml:7:13: error: expected an integer (1-100000), got 0 (steps[0].stops[0])",
    ]


def test_a_stop_is_a_number_or_a_selector() -> None:
    content = STEP.replace("    caption:", "    stops: [{kind: vxlan, hop: 3}, {nth: 2}]\n    caption:")
    assert _errors(content) == [
        "lesson.yaml:6:13: error: a stop is a hop number or a selector, not both (steps[0].stops[0])"
        " (hint: drop 'hop' or drop kind)",
        "lesson.yaml:6:36: error: a stop selects no hop (steps[0].stops[1])"
        " (hint: give a hop number, or kind/action/device/node/netns)",
    ]


def test_missing_fields_and_an_unmatched_selector() -> None:
    assert _errors("name: t\ntitle: {en: T}\nsteps: []\n") == [
        "lesson.yaml:2:8: error: text needs 'zh' (title)",
    ]
    assert _errors("name: t\ntitle: {en: T, zh: T}\nsteps: []\n") == [
        "lesson.yaml:3:8: error: a lesson needs at least one step (steps)",
    ]
    content = STEP.replace("    caption:", "    stops: [{kind: ipvs, nth: 2}]\n    caption:")
    assert _errors(content) == [
        "lesson.yaml:6:13: error: no hop matches ipvs/* #2 (steps[0].stops[0]) (hint: this trace's hops: app/send,"
        " route/lookup, interface/send, interface/forward, bridge/forward, interface/receive, app/deliver)",
    ]


def test_a_down_pod_must_exist_and_a_quiz_hop_must_match() -> None:
    content = STEP.replace("    caption:", "    whatIf: {down: [default/web-1, default/web-7]}\n"
                           "    quiz: {at: {kind: vxlan}}\n    caption:")
    assert _errors(content) == [
        "lesson.yaml:6:36: error: no pod 'default/web-7' to mark down (steps[0].whatIf.down[1])"
        " (hint: did you mean 'default/web-2'?)",
    ]
    content = STEP.replace("    caption:", "    quiz: {at: {kind: vxlan}}\n    caption:")
    assert _errors(content) == [
        "lesson.yaml:6:16: error: no hop matches vxlan/* (steps[0].quiz.at) (hint: this trace's hops: app/send,"
        " route/lookup, interface/send, interface/forward, bridge/forward, interface/receive, app/deliver)",
    ]


def test_parse_errors_come_from_the_cluster_loader() -> None:
    assert _errors("name: t\nname: u\n") == [
        "lesson.yaml:2:1: error: duplicate key 'name' (name) (hint: first defined at line 1)",
    ]
    assert _errors("a: !!python/object:os.system x\n") == [
        "lesson.yaml:1:4: error: unsafe tag '!!python/object:os.system' is not allowed (a)"
        " (hint: tags are never constructed; remove the tag)",
    ]
    assert _errors(STEP + "---\n" + STEP) == [
        "lesson.yaml:8:1: error: a lesson file holds one document (hint: put every step under one `steps:` list)",
    ]
    assert _errors("") == ["lesson.yaml:1:1: error: file is empty"]
    assert [str(p) for p in load_lesson("tests/data/lessons/nothing.yaml").problems] == [
        "tests/data/lessons/nothing.yaml:1:1: error: no such file"]


# ------------------------------------------------------------------------------------------ loaded clusters


def test_loaded_steps_resolve_only_against_a_loaded_cluster() -> None:
    unresolved = load_lesson("tests/data/lessons/example.yaml")
    assert unresolved.ok and unresolved.lesson is not None
    step = unresolved.lesson.steps[0]
    assert step.cluster == LOADED
    with pytest.raises(LoadError) as raised:
        resolve_step(step)
    assert str(raised.value) == ("tests/data/lessons/example.yaml:9:5: error: this step needs a loaded cluster"
                                 " (steps[0].cluster) (hint: load the lecturer's cluster first)")
    cluster = load_paths(["samples/flannel-vxlan.yaml"]).cluster
    assert load_lesson("tests/data/lessons/example.yaml", loaded=cluster).ok
    resolved = [resolve_step(s, cluster) for s in unresolved.lesson.steps]
    assert [(r.trace.flow.type, r.stops) for r in resolved] == [("pod-to-pod-cross-node", (8, 13)),
                                                              ("pod-to-service", (4, 5))]
    assert [(resolved[1].trace.hops[i].kind, resolved[1].trace.hops[i].device) for i in resolved[1].stops] == [
        (HopKind.BRIDGE, "cni0"), (HopKind.IPVS, "kube-ipvs0")]
    assert resolved[1].cluster.settings.kube_proxy_mode == KubeProxyMode.IPVS


def test_a_step_that_does_not_fit_the_loaded_cluster_raises_located_problems() -> None:
    lesson = load_lesson("tests/data/lessons/example.yaml").lesson
    assert lesson is not None
    other = load_paths(["samples/seed-article.yaml"]).cluster
    with pytest.raises(LoadError) as raised:
        resolve_step(lesson.steps[0], other)
    assert str(raised.value) == (
        "tests/data/lessons/example.yaml:10:47: error: invalid flow: pod/frontend-1: pod default/frontend-1 not found"
        " (steps[0].flow.from) (hint: pod-to-pod-cross-node flows here: from pod/default/api-1 to"
        " pod/default/api-2:8080; from pod/default/api-1 to pod/default/db-1:5432)")


# ------------------------------------------------------------------------------------------ model, built-ins


def test_the_seed_lesson_is_built_in_and_typed() -> None:
    assert [(i.name, i.title.zh) for i in list_lessons()] == [("seed-article", "kubernetes之网络分析")]
    lesson = builtin_lesson("seed-article")
    assert len(lesson.steps) == 27
    step = lesson.steps[13]
    assert step.title == Text("A dead backend is retried", "无响应的后端会被重试")
    assert step.flow == FlowSpec(FlowType.POD_TO_SERVICE, "pod/default/api-1", "svc/default/web:80")
    assert step.view == ViewSettings(KubeProxyMode.USERSPACE, down_pods=frozenset({"default/web-1"}))
    assert step.stops == (StopSelector(kind=HopKind.PROXY, action=Action.PROXY),
                          StopSelector(kind=HopKind.PROXY, action=Action.PROXY, nth=2),
                          StopSelector(kind=HopKind.APP, action=Action.DELIVER))
    assert str(step.stops[1]) == "proxy/proxy #2" and str(StopSelector(hop=4)) == "hop 4"
    assert builtin_lesson(DEFAULT_LESSON) is lesson
    with pytest.raises(KeyError):
        builtin_lesson("nope")


def test_the_published_schema_is_generated_and_accepts_the_lessons() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == lesson_json_schema()
    assert set(lesson_json_schema()["$defs"]) == set(OBJECTS) - {"lesson"}
    for path in (*(i.path for i in list_lessons()), DATA / "example.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), lesson_json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(STEP.replace("caption:", "captoin:")), lesson_json_schema())


def test_the_lessons_ship_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'webapp = ["schema/*.json", "py.typed", "lessons/*.yaml"]' in pyproject


# ------------------------------------------------------------------------------------------ catalogue


def test_catalogue_languages_have_the_same_keys_and_fields() -> None:
    assert set(MESSAGES) == {"en", "zh"}
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for key, template in MESSAGES["en"].items():
        assert fields_of(template) == fields_of(MESSAGES["zh"][key]), key


def test_text_checks_its_fields() -> None:
    assert text("quiz.answer.device", "zh", device="eth0", namespace="pod/default/web-1") == "pod/default/web-1 上的 eth0"
    with pytest.raises(KeyError):
        text("quiz.answer.device", device="eth0")
    with pytest.raises(KeyError):
        text("no.such.key")
