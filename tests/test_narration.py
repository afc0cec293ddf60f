"""The narration catalogue (webapp.narration): every template formats with its fields, every message id the
engine uses exists (and every one it defines is used, with exactly the template's fields), and no narration
sentence is built by an f-string in webapp/engine any more."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.narration import LANGUAGE, MESSAGES, fields, say

ENGINE = Path(__file__).resolve().parent.parent / "webapp" / "engine"
LOADERS = Path(__file__).resolve().parent.parent / "webapp" / "loaders"
"""The loaders word a few problems from the catalogue too (`webapp.problems.worded`, keys `load.…`)."""
KEY = re.compile(r"^(walk|services|netfilter|flows|kubeproxy|policy|trace|load)(\.[a-z0-9_]+)+$")
NARRATED = frozenset({"explain", "reason", "problem", "check", "affinity", "what", "why", "notes"})
"""Names (keywords, variables) that carry narration in the engine."""


def engine_trees() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(ENGINE)), ast.parse(path.read_text(), str(path)))
            for path in sorted(ENGINE.rglob("*.py"))]


def catalogue_users() -> list[tuple[str, ast.Module]]:
    """The engine's modules and the loaders': every module that takes words from the catalogue."""
    return engine_trees() + [(str(path.relative_to(LOADERS.parent)), ast.parse(path.read_text(), str(path)))
                             for path in sorted(LOADERS.rglob("*.py"))]


def say_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("say", "worded"):
            yield node


def literal_keys(node: ast.expr, names: dict[str, list[str]] | None = None) -> list[str]:
    """The message ids a `say` call's first argument can be: a literal, either side of a conditional, or a
    variable the module assigns such a value to (`names`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return literal_keys(node.body, names) + literal_keys(node.orelse, names)
    if isinstance(node, ast.Name) and names:
        return names.get(node.id, [])
    return []


def assigned_keys(tree: ast.AST) -> dict[str, list[str]]:
    """Variable → the message ids assigned to it anywhere in the module."""
    names: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names.setdefault(node.targets[0].id, []).extend(k for k in literal_keys(node.value) if KEY.match(k))
    return names


# --- the catalogue itself ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(MESSAGES["en"]))
def test_every_template_formats_with_its_fields(key):
    text = say(key, **{name: 7 for name in fields(key)})  # 7 also fits the one numeric spec ({mark:#x})
    assert "{" not in text and "}" not in text
    assert KEY.match(key), key
    assert text == text.strip() or MESSAGES["en"][key].startswith(" "), "only suffix templates start with a space"


def test_every_language_has_the_same_keys_and_fields():
    assert LANGUAGE in MESSAGES
    for language, templates in MESSAGES.items():
        assert set(templates) == set(MESSAGES["en"]), language
        for key in templates:
            assert fields(key, language) == fields(key, "en"), (language, key)


def test_say_formats_the_english_template():
    assert say("walk.route.none", address="10.0.0.9") == "No route to 10.0.0.9."
    assert say("netfilter.mark", chain="KUBE-SVC-X", target="KUBE-MARK-MASQ", mark=0x4000) == (
        "KUBE-SVC-X sends the packet to KUBE-MARK-MASQ, which sets mark 0x4000: it will be masqueraded on the way "
        "out (KUBE-POSTROUTING).")
    assert fields("walk.xmit.leaves") == {"device", "mac"}


def test_an_unknown_key_a_missing_field_and_an_unexpected_field_raise_key_error():
    with pytest.raises(KeyError):
        say("walk.no.such.message")
    with pytest.raises(KeyError, match="mac"):
        say("walk.xmit.leaves", device="eth0")
    with pytest.raises(KeyError, match="walk.xmit.leaves: unexpected field"):
        say("walk.xmit.leaves", device="eth0", mac="aa", colour="red")


def test_the_catalogue_is_core_and_never_imports_dash():
    code = "import sys, webapp.narration; sys.exit('dash' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ENGINE.parent.parent).returncode == 0


@pytest.mark.parametrize(("key", "values", "expected"), [
    # Sentences the engine composed from conditional parts before the catalogue: the same text now.
    ("walk.netfilter.drops", {"hook": "FORWARD", "node": "node-1"}, "FORWARD on node-1 drops the packet"),
    ("walk.netfilter.rejects", {"hook": "INPUT", "node": "node-1"}, "INPUT on node-1 rejects the packet"),
    ("netfilter.rule.rejects", {"chain": "KUBE-FORWARD", "why": "x"}, "KUBE-FORWARD rejects it: x"),
    ("walk.route.onlink", {"address": "10.244.1.3", "dev": "cni0"},
     "Routing table: 10.244.1.3 goes out cni0 directly (on-link)."),
    ("walk.route.via", {"address": "10.244.2.0", "dev": "flannel.1", "via": "10.244.2.0"},
     "Routing table: 10.244.2.0 goes out flannel.1 via 10.244.2.0."),
    ("walk.arp.none.reason", {"address": "10.0.0.1", "device": "eth0", "netns": "host/n1"},
     "no host answers ARP for 10.0.0.1 on eth0 in host/n1"),
    ("kubeproxy.no_endpoints", {"port_name": "default/web", "selector": say("kubeproxy.phrase.no_selector")},
     "service default/web has no ready endpoints — no ready pod matches its selector (none)"),
])
def test_conditional_sentences_keep_their_text(key, values, expected):
    assert say(key, **values) == expected


# --- the engine's use of it ----------------------------------------------------------------------------------

def test_every_message_id_in_the_engine_is_defined_and_every_template_is_used():
    used: set[str] = set()
    for name, tree in catalogue_users():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.match(node.value):
                assert node.value in MESSAGES["en"], f"{name}:{node.lineno}: {node.value} is not in the catalogue"
                used.add(node.value)
    assert set(MESSAGES["en"]) - used == set(), "templates the engine never uses"


def test_every_say_call_passes_exactly_the_template_fields():
    checked = 0
    for name, tree in catalogue_users():
        names = assigned_keys(tree)
        for call in say_calls(tree):
            given = {k.arg for k in call.keywords}
            assert None not in given, f"{name}:{call.lineno}: no **fields, so the fields can be checked"
            for key in literal_keys(call.args[0], names):
                assert given == set(fields(key)), f"{name}:{call.lineno}: {key} takes {sorted(fields(key))}"
                checked += 1
    assert checked > 100


def narration_fstrings(tree: ast.AST) -> list[int]:
    """Lines where an f-string builds narration: an `explain`/`reason` argument (by keyword, or `Hop`'s and
    `_hop`'s positional explain), a reason given to `_End`/`_Stop`, an assignment to a narration variable, a
    `notes.append`, or the return of a `*_text`/`*_reason`/`*_advice` function."""
    found: list[int] = []

    def has_fstring(node: ast.AST | None) -> bool:
        return node is not None and any(isinstance(n, ast.JoinedStr) for n in ast.walk(node))

    positional_explain = {"Hop": 7, "_hop": 6}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if any(k.arg in NARRATED and has_fstring(k.value) for k in node.keywords):
                found.append(node.lineno)
            if func in ("_End", "_Stop") and any(has_fstring(a) for a in node.args):
                found.append(node.lineno)
            if func == "append" and getattr(node.func.value, "id", "") == "notes" and has_fstring(node.args[0]):
                found.append(node.lineno)
            index = positional_explain.get(func)
            if isinstance(node.func, ast.Name) and func == "_hop":
                index = 4  # netfilter's _hop(state, action, packet, rule, explain)
            if index is not None and len(node.args) > index and has_fstring(node.args[index]):
                found.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if names & NARRATED and has_fstring(node.value):
                found.append(node.lineno)
        elif isinstance(node, ast.FunctionDef) and node.name.endswith(("_text", "_reason", "_advice")):
            found += [r.lineno for r in ast.walk(node) if isinstance(r, ast.Return) and has_fstring(r.value)]
    return found


def test_no_narration_is_built_by_an_fstring_in_the_engine():
    offenders = [f"{name}:{line}" for name, tree in engine_trees() for line in narration_fstrings(tree)]
    assert offenders == []


@pytest.mark.parametrize("source", [
    'self._hop(netns, dev, kind, action, packet, explain=f"No route to {address}.")',
    'self._hop(netns, dev, kind, action, packet, str(route), f"Routing table: {address}.")',
    'raise _End(Disposition.DROPPED, f"{netns} has no route")',
    'reason = (f"every backend of {name} " + "is down")',
    'explain += f" {ip} is a cluster IP."',
    'notes.append(f"The reply: {problem}.")',
    'def no_endpoints_text(name):\n    return f"service {name} has none"',
    'hop = Hop(node, netns, dev, kind, action, packet, rule, f"The client resolves {name}.")',
    'state.hops.append(_hop(state, action, packet, rule, f"{chain} rewrites"))',
])
def test_the_fstring_check_catches_narration(source):
    assert narration_fstrings(ast.parse(source)) != []


def test_the_fstring_check_leaves_rule_text_alone():
    source = ('self._hop(netns, dev, kind, action, packet, f"{mac} is {bridge}\'s own address", say("k"))\n'
              'hop = Hop(node, netns, dev, kind, action, packet, rule=f"proxy port {port}", explain=reason)\n'
              'answer = f"{fqdn}. A {ip}"\n'
              'raise ValueError(f"{spec}: pod {key} not found")')
    assert narration_fstrings(ast.parse(source)) == []


# --- the narration language ----------------------------------------------------------------------------------

def test_narration_language_switches_say_inside_the_block_only():
    from webapp.narration import current_language, narration_language

    assert current_language() == "en"
    with narration_language("zh"):
        assert current_language() == "zh"
        assert say("walk.route.none", address="10.0.0.9") == "没有去往 10.0.0.9 的路由。"
        assert say("netfilter.mark", chain="KUBE-SVC-X", target="KUBE-MARK-MASQ", mark=0x4000) == (
            "KUBE-SVC-X 把数据包交给 KUBE-MARK-MASQ，打上标记 0x4000：它在发出时将被伪装（KUBE-POSTROUTING）。")
        with pytest.raises(KeyError, match="walk.xmit.leaves: unexpected field"):
            say("walk.xmit.leaves", device="eth0", mac="aa", colour="red")
    assert say("walk.route.none", address="10.0.0.9") == "No route to 10.0.0.9."


def test_an_unknown_narration_language_is_refused():
    from webapp.narration import narration_language

    with pytest.raises(ValueError, match="no narration in language 'fr'"):
        with narration_language("fr"):
            pass


def test_each_thread_narrates_in_its_own_language():
    """The web server traces for several visitors at once: one thread in Chinese leaves the others in English."""
    import threading

    from webapp.narration import narration_language

    inside, started, done = [], threading.Event(), threading.Event()

    def chinese() -> None:
        with narration_language("zh"):
            started.set()
            done.wait(5)
            inside.append(say("walk.l2.arrives", device="cni0"))

    worker = threading.Thread(target=chinese)
    worker.start()
    started.wait(5)
    assert say("walk.l2.arrives", device="cni0") == "Arrives on cni0."
    done.set()
    worker.join(5)
    assert inside == ["到达 cni0。"]


def test_a_trace_is_narrated_and_labelled_in_the_language_it_was_traced_in():
    from webapp.engine.flows import trace_flow
    from webapp.loaders import load_sample
    from webapp.narration import narration_language

    cluster = load_sample("seed-article")
    english = trace_flow(cluster, "pod/default/api-1", "pod/default/api-2:8080")
    with narration_language("zh"):
        chinese = trace_flow(cluster, "pod/default/api-1", "pod/default/api-2:8080")
    assert (english.language, chinese.language) == ("en", "zh")
    assert english.to_dict()["language"] == "en" and chinese.to_dict()["language"] == "zh"
    # Only the narration differs: the hops, packets and rules are the same walk.
    strip = [(h.node, h.netns, h.device, h.kind, h.action, h.packet, h.rule) for h in english.hops]
    assert strip == [(h.node, h.netns, h.device, h.kind, h.action, h.packet, h.rule) for h in chinese.hops]
    assert english.notes == ("No NAT: the destination pod sees the source pod's own IP (the seed's first and third "
                             "principles); the overlay carries it between nodes.",)
    assert chinese.notes == ("没有 NAT：目的 Pod 看到的就是源 Pod 自己的 IP（原文的第一、第三条原则）；"
                             "由 overlay 网络在节点之间传送。",)
    # The text form speaks the trace's own language, whatever the caller's is.
    lines = str(chinese).splitlines()
    assert "  => 已送达" in lines and "  NAT：无（Pod 地址端到端保持不变）" in lines and "  应答：" in lines
    assert "  => delivered" in str(english).splitlines()
