"""Hostile input to the loader (issue 14): names checked by the API server's own rules at load, inputs that
used to end in a traceback, an empty input, a tag the fast parser dropped, a file that made the loader hash
for 40 s, internal errors that leaked Python's text. Every case is a regression test: each failed before."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
import yaml

from webapp import cli
from webapp.figures import build_diagram
from webapp.loaders import list_samples, load_paths, load_sources
from webapp.loaders.documents import FAST_PATH_BYTES
from webapp.loaders.names import NameRule, follows

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_load import amplification_file  # noqa: E402

SUBDOMAIN_HINT = ("a DNS-1123 subdomain: at most 253 characters, lower-case letters, digits, '-' and '.', starting "
                  "and ending with a letter or digit")
LABEL_HINT = ("a DNS-1123 label: at most 63 characters, lower-case letters, digits and '-', starting and ending "
              "with a letter or digit")
DNS1035_HINT = ("a DNS-1035 label: at most 63 characters, lower-case letters, digits and '-', starting with a "
                "letter and ending with a letter or digit")
PORT_HINT = ("an IANA_SVC_NAME: at most 15 characters, lower-case letters, digits and '-', at least one letter, "
             "no '--', starting and ending with a letter or digit")


def _errors(name: str, text: str | bytes) -> list[str]:
    content = text.encode() if isinstance(text, str) else text
    return [str(p) for p in load_sources([(name, content)]).errors]


# ------------------------------------------------------------------------------------------ the name rules


@pytest.mark.parametrize("rule, good, bad", [
    (NameRule.DNS1123_SUBDOMAIN, ["a", "node-1", "ip-10-0-0-1.ec2.internal", "1a", "a" * 253],
     ["", "A", "-a", "a-", "a..b", "a_b", "a b", "a\nb", "a" * 254, "<b>x</b>", "$(id)", "a;b", ".a"]),
    (NameRule.DNS1123_LABEL, ["a", "kube-system", "0a", "a" * 63], ["", "a.b", "A", "a-", "a" * 64, "a\nb"]),
    (NameRule.DNS1035_LABEL, ["web", "a1", "a" * 63], ["1web", "", "web-", "a.b", "a" * 64]),
    (NameRule.PORT_NAME, ["http", "dns-tcp", "h2c", "a" * 15], ["80", "a--b", "-http", "http-", "a" * 16, "HTTP", ""]),
    (NameRule.LABEL_KEY, ["app", "app.kubernetes.io/name", "k8s-app", "A_b.c", "kubernetes.io/service-name"],
     ["", "/app", "a/", "-app", "a b", "Example.com/app", "a/b/c", "a" * 64]),
    (NameRule.LABEL_VALUE, ["", "web", "v1.2_3", "A" * 63], ["-a", "a-", "a b", "a" * 64, "<a>", "a\nb"]),
    (NameRule.INTERFACE, ["eth0", "ens3f0.100", "a" * 15], ["", "eth 0", "a" * 16, "eth0\n", "a/b"]),
])
def test_each_name_rule_accepts_and_refuses_as_the_api_server(rule, good, bad):
    assert [n for n in good if not follows(rule, n)] == []
    assert [n for n in bad if follows(rule, n)] == []
    assert not follows(rule, 5) and not follows(rule, ["a"])


NODE_MANIFEST = "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n"


@pytest.mark.parametrize("name, shown", [
    ('"x\\nnetns exec knv0-node-x touch /run/pwned"', "'x\\nnetns exec knv0-node-x touch /run/pwned'"),
    ('"x y"', "'x y'"),
    ('"$(touch /tmp/x)"', "'$(touch /tmp/x)'"),
    ('"<a href=\\"https://example.org\\">x</a>"', "'<a href=\"https://example.org\">x</a>'"),
    ("p" * 300, "'" + "p" * 60 + "…' (300 characters)"),
])
def test_a_hostile_node_name_is_refused_at_load_with_the_rule(name, shown):
    assert _errors("node.yaml", NODE_MANIFEST.format(name=name)) == [
        f"node.yaml:4:9: error: invalid name {shown}: not a valid DNS-1123 subdomain (metadata.name) "
        f"(hint: {SUBDOMAIN_HINT})"]


def test_each_kind_has_the_api_servers_name_rule():
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 80}]}\n"
    assert _errors("svc.yaml", service) == [
        f"svc.yaml:3:18: error: invalid name '1web': not a valid DNS-1035 label (metadata.name) (hint: {DNS1035_HINT})"]
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a.b}\nspec: {containers: [{name: c}]}\n"
    assert _errors("pod.yaml", pod) == [
        f"pod.yaml:3:32: error: invalid namespace 'a.b': not a valid DNS-1123 label (metadata.namespace) "
        f"(hint: {LABEL_HINT})"]
    labelled = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: 'x y'}}\nspec: {containers: [{name: c}]}\n"
    assert _errors("pod.yaml", labelled) == [
        "pod.yaml:3:35: error: invalid value of label app 'x y': not a valid label value (metadata.labels.app) "
        "(hint: a label value: empty, or at most 63 characters, letters, digits, '-', '_' and '.', starting and "
        "ending with a letter or digit)",
    ]
    container = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: Web\n"
    assert _errors("c.yaml", container) == [
        f"c.yaml:6:11: error: invalid container name 'Web': not a valid DNS-1123 label "
        f"(spec.containers[0].name) (hint: {LABEL_HINT})"]
    port = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: web\n"
            "    ports: [{containerPort: 80, name: http--alt}]\n")
    assert _errors("port.yaml", port) == [
        f"port.yaml:7:39: error: invalid port name 'http--alt': not a valid IANA_SVC_NAME "
        f"(spec.containers[0].ports[0].name) (hint: {PORT_HINT})"]


def test_the_cluster_yaml_follows_the_same_rules():
    cluster = ("nodes:\n- name: node-1\n  nic: 'eth0; reboot'\n  pods:\n  - name: web\n    namespace: Team\n"
               "services:\n- name: web\n  ports: [{port: 80, name: 'x y'}]\n")
    assert _errors("c.yaml", cluster) == [
        "c.yaml:3:8: error: invalid name 'eth0; reboot': not a valid interface name (nodes[0].nic) "
        "(hint: an interface name: 1 to 15 characters, letters, digits, '-', '_' and '.')",
        f"c.yaml:6:16: error: invalid name 'Team': not a valid DNS-1123 label (nodes[0].pods[0].namespace) "
        f"(hint: {LABEL_HINT})",
        f"c.yaml:9:28: error: invalid name 'x y': not a valid DNS-1123 label (services[0].ports[0].name) "
        f"(hint: {LABEL_HINT})",
    ]


def test_a_service_name_cannot_inject_a_line_into_the_rules_output():
    service = 'apiVersion: v1\nkind: Service\nmetadata: {name: "web\\n-A KUBE-SERVICES -j ACCEPT"}\nspec: {}\n'
    assert _errors("svc.yaml", service) == [
        f"svc.yaml:3:18: error: invalid name 'web\\n-A KUBE-SERVICES -j ACCEPT': not a valid DNS-1035 label "
        f"(metadata.name) (hint: {DNS1035_HINT})"]


TAGS = re.compile(r"<[^>]*>")


@pytest.mark.parametrize("sample", [s.name for s in list_samples()])
def test_diagram_text_holds_no_markup_but_the_figures_own(sample):
    """Names cannot carry markup (refused at load, above); what markup the diagram has is its own bold and
    line breaks, in every label and hover text."""
    cluster = load_paths([next(s.path for s in list_samples() if s.name == sample)]).cluster
    figure = build_diagram(cluster).figure
    texts = [t for trace in figure["data"] for key in ("text", "hovertext")
             for t in (trace.get(key) or []) if isinstance(t, str)]
    assert texts and {tag for t in texts for tag in TAGS.findall(t)} <= {"<b>", "</b>", "<br>"}


# ------------------------------------------------------------------------------ inputs that raised before


@pytest.mark.parametrize("name, content, expected", [
    ("open.json", "{", "open.json:1:2: error: syntax error: Expecting property name enclosed in double quotes"),
    ("comma.json", '{"a":1,', "comma.json:1:8: error: syntax error: Expecting property name enclosed in double quotes"),
    ("open.yaml", "{", "open.yaml:1:2: error: syntax error: expected the node content, but found '<stream end>' "
                       "(hint: while parsing a flow node at line 1, column 2)"),
    ("comma.yaml", '{"a":1,', "comma.yaml:1:8: error: syntax error: expected the node content, but found "
                              "'<stream end>' (hint: while parsing a flow node at line 1, column 8)"),
    ("list.yaml", "apiVersion: v1\nkind: List\nitems: &x\n- apiVersion: v1\n  kind: List\n  items: *x\n",
     "list.yaml:3:8: error: an alias refers to a node that contains it (a circular structure) (items[0].items) "
     "(hint: write the data out instead of nesting an anchor inside itself)"),
    ("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template: &t\n"
                    "    spec:\n      containers: [{name: c}]\n      extra: *t\n",
     "deploy.yaml:5:13: error: an alias refers to a node that contains it (a circular structure) "
     "(spec.template.spec.extra) (hint: write the data out instead of nesting an anchor inside itself)"),
    ("n.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: 5\n  containers: [{name: c}]\n",
     f"n.yaml:5:13: error: invalid node name 5: not a valid DNS-1123 subdomain (spec.nodeName) (hint: {SUBDOMAIN_HINT})"),
    ("n.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: [a]\n  containers: [{name: c}]\n",
     f"n.yaml:5:13: error: invalid node name a list: not a valid DNS-1123 subdomain (spec.nodeName) (hint: {SUBDOMAIN_HINT})"),
    ("e.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {type: ExternalName, externalName: 5}\n",
     f"e.yaml:4:42: error: invalid externalName 5: not a valid DNS-1123 subdomain (spec.externalName) "
     f"(hint: {SUBDOMAIN_HINT})"),
    ("c1.json", '"\x80"', "c1.json:1:2: error: character U+0080 is not allowed in YAML "
                          "(hint: YAML allows no C1 control characters, surrogates, U+FFFE or U+FFFF)"),
])
def test_inputs_that_raised_are_located_errors(name, content, expected):
    assert _errors(name, content) == [expected]


@pytest.mark.parametrize("content", ["# only a comment\n", "---\n", "null\n", "--- null\n...\n"])
def test_an_input_with_nothing_in_it_is_an_error(content):
    assert _errors("empty.yaml", content) == [
        "empty.yaml:1:1: error: no Kubernetes objects and no cluster found in empty.yaml"]


@pytest.mark.parametrize("padding", [0, FAST_PATH_BYTES], ids=["pyyaml", "fast-path"])
def test_a_python_tag_after_a_json_key_is_refused_on_both_parser_paths(padding):
    head = "# " + "x" * padding + "\n" if padding else ""
    text = head + 'apiVersion: v1\nkind: Service\nmetadata: {"name":!!python/object/apply:os.system [id]}\n'
    line = 4 if padding else 3
    assert _errors("tag.yaml", text) == [
        f"tag.yaml:{line}:19: error: unsafe tag '!!python/object/apply:os.system' is not allowed (metadata.name) "
        "(hint: tags are never constructed; remove the tag)"]


def test_a_service_with_a_bad_affinity_timeout_says_which_field_not_a_python_error():
    service = ("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n"
               "  sessionAffinityConfig: {clientIP: {timeoutSeconds: [1]}}\n")
    assert _errors("s.yaml", service) == [
        "s.yaml:6:54: error: expected a timeout of 1 to 86400 seconds, got a list "
        "(spec.sessionAffinityConfig.clientIP.timeoutSeconds)"]


def test_a_shape_no_reader_expected_names_the_kind_without_python_internals(monkeypatch):
    from webapp.loaders import manifests

    def broken(reader, data, origin):
        raise TypeError("'int' object is not iterable")

    monkeypatch.setitem(manifests._HANDLERS, "Service", broken)
    assert _errors("s.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n") == [
        "s.yaml:1:1: error: Service could not be read: a field has a type or shape Kubernetes does not allow "
        "(hint: compare it with `kubectl explain service`)"]


# -------------------------------------------------------------------------------------------- bounded work


def test_forty_deployments_each_under_the_alias_cap_are_refused_in_well_under_two_seconds():
    started = time.perf_counter()
    errors = _errors("amplified.yaml", amplification_file())
    assert time.perf_counter() - started < 2.0
    assert errors == ["amplified.yaml:1:1: error: aliases add more than 200,000 nodes to the file; the rest of it "
                      "is not read (hint: an alias bomb? write the data out instead of repeating anchors)"]


def test_aliases_are_counted_across_the_documents_of_a_big_file():
    """Fast path (yaml-rs): each document replays 120,000 nodes, under the per-document limit; two are over
    the file's budget."""
    one = "a: &a [" + ",".join(["x"] * 1200) + "]\nb: [" + ",".join(["*a"] * 100) + "]\n"
    text = "# " + "x" * FAST_PATH_BYTES + "\n" + one + "---\n" + one
    result = load_sources([("big.yaml", text.encode())])
    assert [(p.line, p.message) for p in result.errors] == [
        (2, "document has no 'kind': neither a Kubernetes object nor cluster YAML"),
        (4, "too many alias expansions")]


# --------------------------------------------------------------------------------------- internal errors


def test_an_internal_error_exits_70_with_a_please_report_message_and_no_traceback(monkeypatch, capsys, tmp_path):
    from webapp.loaders import commands

    def broken(*args, **kwargs):
        raise IndexError("string index out of range")

    monkeypatch.setattr(commands, "load_paths", broken)
    source = tmp_path / "c.yaml"
    source.write_text(yaml.safe_dump({"nodes": [{"name": "node-1"}]}))
    assert cli.main(["validate", str(source)]) == 70
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("k8s-netviz: internal error: this is a bug in k8s-netviz, not a problem of the input; please "
                   "report it with the command and the input that caused it\n")


# ------------------------------------------------------------------------------------------------ codes


@pytest.mark.parametrize("name, content, codes", [
    ("node.yaml", NODE_MANIFEST.format(name='"a b"'), ["E-NAME-DNS1123-SUBDOMAIN"]),
    ("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {}\n", ["E-NAME-DNS1035-LABEL"]),
    ("open.json", "{", ["E-JSON-SYNTAX"]),
    ("empty.yaml", "---\n", ["E-FILE-NO-OBJECTS"]),
    ("tag.yaml", "a: !!python/object/apply:os.system [id]\n", ["E-YAML-UNSAFE-TAG"]),
    ("cycle.yaml", "apiVersion: v1\nkind: List\nitems: &x\n- apiVersion: v1\n  kind: List\n  items: *x\n",
     ["E-YAML-ALIAS-CYCLE"]),
    ("amplified.yaml", amplification_file(), ["E-YAML-ALIAS-BUDGET"]),
    ("pods.yaml", "nodes:\n- name: n\n  pods:\n  - {name: a, ip: 10.244.0.5}\n  - {name: b, ip: 10.244.0.5}\n",
     ["E-DUP-POD-IP"]),
])
def test_every_problem_has_a_stable_code(name, content, codes):
    result = load_sources([(name, content.encode() if isinstance(content, str) else content)])
    assert [p.code for p in result.errors] == codes
    assert result.errors[0].to_dict()["code"] == codes[0]


def test_warnings_and_notices_have_codes_too():
    result = load_sources([("c.yaml", b"services:\n- {name: web, selector: {app: none}, ports: [80]}\n")])
    assert [(str(p.severity), p.code) for p in result.problems] == [
        ("notice", "N-DEFAULT-NODES"), ("notice", "N-ADDED-KUBERNETES-SERVICE"), ("notice", "N-ADDED-KUBE-DNS"),
        ("notice", "N-ADDED-COREDNS"), ("warning", "W-SELECTOR-MATCHES-NOTHING")]
