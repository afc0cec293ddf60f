"""Bad input: every error and warning of issue 2, with exact messages and 1-based line:col (golden files)."""

from __future__ import annotations

import resource
import tracemalloc
from pathlib import Path

import pytest

from benchmarks.bench_load import alias_bomb
from webapp.loaders import load_paths, load_sources
from webapp.problems import Severity

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "bad"
CASES = sorted(p.stem for p in BAD.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_every_bad_input_has_a_golden_file() -> None:
    assert CASES == sorted(p.stem for p in BAD.glob("*.expected"))
    assert len(CASES) == 14


@pytest.mark.parametrize("case", CASES)
def test_problems_match_golden_file(case: str) -> None:
    result = load_paths([f"tests/data/bad/{case}.yaml"])
    shown = [str(p) for p in result.problems if p.severity != Severity.NOTICE]
    assert shown == (BAD / f"{case}.expected").read_text().splitlines()
    if result.errors:
        assert result.cluster is None and not result.ok
    else:
        assert result.cluster is not None and result.ok


def test_problem_fields_point_at_file_line_col_and_path() -> None:
    (problem,) = load_paths(["tests/data/bad/node-port.yaml"]).errors[:1]
    assert (problem.file, problem.line, problem.col) == ("tests/data/bad/node-port.yaml", 3, 60)
    assert problem.path == "services[0].ports[0].nodePort"
    assert problem.message == "nodePort 29999 is outside the range 30000-32767"
    assert problem.hint == "pick a port in the range, or change network.nodePortRange"


def test_all_problems_of_a_load_are_reported_together() -> None:
    result = load_paths(["tests/data/bad/syntax.yaml", "tests/data/bad/unknown-key.yaml",
                         "tests/data/bad/duplicate-key.yaml", "tests/data/bad/empty.yaml"])
    assert [(p.file.split("/")[-1], p.line, p.col) for p in result.errors] == [
        ("syntax.yaml", 5, 4),
        ("unknown-key.yaml", 2, 35),
        ("unknown-key.yaml", 7, 9),
        ("unknown-key.yaml", 9, 23),
        ("duplicate-key.yaml", 5, 5),
        ("empty.yaml", 1, 1),
    ]


def test_semantic_errors_of_one_load_are_all_reported() -> None:
    text = b"""
nodes:
  - name: node-1
    podCIDR: 10.244.1.0/24
    pods:
      - {name: a, ip: 10.244.1.5}
      - {name: b, ip: 10.244.1.5}
      - {name: c, ip: 10.244.9.9}
services:
  - {name: s1, clusterIP: 10.96.0.40, ports: [80]}
  - {name: s2, clusterIP: 10.96.0.40, ports: [80]}
"""
    result = load_sources([("c.yaml", text)])
    assert [str(p) for p in result.errors] == [
        "c.yaml:7:23: error: pod IP 10.244.1.5 of default/b is already used by default/a (nodes[0].pods[1].ip)",
        "c.yaml:8:23: error: pod IP 10.244.9.9 of default/c is outside node-1's podCIDR 10.244.1.0/24 "
        "(nodes[0].pods[2].ip)",
        "c.yaml:11:27: error: clusterIP 10.96.0.40 of default/s2 is already used by default/s1 "
        "(services[1].clusterIP)",
    ]


def test_unsafe_tag_is_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f'name: x\ndescription: !!python/object/apply:os.system ["touch {marker}"]\n'.encode()
    result = load_sources([("evil.yaml", text)])
    assert [p.message for p in result.errors] == ["unsafe tag '!!python/object/apply:os.system' is not allowed"]
    assert not marker.exists()


def test_unsafe_tag_in_json_like_flow_yaml_is_rejected() -> None:
    result = load_sources([("evil.yaml", b'{"name": !!python/name:os.system x}')])
    assert [str(p) for p in result.errors] == [
        "evil.yaml:1:10: error: unsafe tag '!!python/name:os.system' is not allowed (name) "
        "(hint: tags are never constructed; remove the tag)"
    ]


def test_alias_bomb_is_rejected_with_bounded_memory() -> None:
    """Expanded, the document would hold 10**21 strings; the loader stops counting at its node limit."""
    tracemalloc.start()
    result = load_sources([("bomb.yaml", alias_bomb(20, padding=0))])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [p.message for p in result.errors] == [
        "document expands to more than 2,000,000 nodes through aliases"
    ]
    assert peak < 200_000_000


def test_alias_bomb_in_a_big_file_is_stopped_by_yaml_rs_limits() -> None:
    result = load_sources([("bomb.yaml", alias_bomb(12, padding=300_000))])
    assert [(p.line, p.message) for p in result.errors] == [
        (2, "document expands to more than 2,000,000 nodes through aliases")
    ]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_000_000  # KiB


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * 200_000)
    result = load_paths([big], max_bytes=1_000_000)
    assert [(p.line, p.message, p.hint) for p in result.errors] == [
        (1, "file is 2.0 MB, over the 1.0 MB limit", "split the input, or raise the limit (--max-bytes)")
    ]
    assert load_sources([("up.yaml", big.read_bytes())], max_bytes=1_000_000).errors[0].message == (
        "file is 2.0 MB, over the 1.0 MB limit"
    )


def test_the_size_limit_is_a_parameter(tmp_path: Path) -> None:
    small = b"name: tiny\n"
    assert load_sources([("a.yaml", small)], max_bytes=5).errors[0].message == "file is 0.0 MB, over the 0.0 MB limit"
    assert load_sources([("a.yaml", small)], max_bytes=100).ok


def test_invalid_utf8_is_located() -> None:
    result = load_sources([("latin.yaml", b"name: ok\ndescription: caf\xe9\n")])
    assert [(p.line, p.col, p.message, p.hint) for p in result.errors] == [
        (2, 17, "file is not UTF-8 text", "invalid byte 0xe9")
    ]


def test_utf16_is_named() -> None:
    result = load_sources([("win.yaml", "name: x\n".encode("utf-16"))])
    assert [(p.message, p.hint) for p in result.errors] == [("file is UTF-16 text", "save it as UTF-8")]


def test_control_characters_are_binary() -> None:
    result = load_sources([("x.yaml", b"name: a\x01b\n")])
    assert [(p.line, p.col, p.message, p.hint) for p in result.errors] == [
        (1, 8, "file is binary, not YAML or JSON text", "control character U+0001")
    ]


def test_whitespace_only_file_is_empty() -> None:
    assert [str(p) for p in load_sources([("blank.yaml", b"\n   \n")]).errors] == [
        "blank.yaml:1:1: error: file is empty"
    ]


def test_deep_json_is_rejected() -> None:
    text = ("[" * 5000 + "]" * 5000).encode()
    result = load_sources([("deep.json", text)])
    assert [p.message for p in result.errors] == ["nesting is too deep"]


def test_json_syntax_error_is_located() -> None:
    result = load_sources([("bad.json", b'{\n  "kind": "Pod",\n  "metadata": {"name": "x",}\n}\n')])
    assert [str(p) for p in result.errors] == [
        "bad.json:3:28: error: syntax error: Expecting property name enclosed in double quotes"
    ]


def test_json_duplicate_key_is_an_error() -> None:
    result = load_sources([("dup.json", b'{\n  "kind": "Pod",\n  "kind": "Service"\n}\n')])
    assert [str(p) for p in result.errors] == ["dup.json:3:3: error: duplicate key 'kind' (kind) "
                                               "(hint: first defined at line 2)"]


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    result = load_paths([tmp_path / "nope.yaml", tmp_path])
    assert [p.message for p in result.errors] == [
        "no such file", "folder holds no .yaml, .yml or .json file"
    ]


def test_document_that_is_neither_format() -> None:
    result = load_sources([("x.yaml", b"hello: world\n"), ("y.yaml", b"- a\n- b\n")])
    assert [str(p) for p in result.errors] == [
        "x.yaml:1:1: error: document has no 'kind': neither a Kubernetes object nor cluster YAML "
        "(hint: cluster YAML has nodes, network, services, pods or external at the top)",
        "y.yaml:1:1: error: expected a Kubernetes object or cluster YAML mapping, got a list",
    ]


def test_bad_manifest_fields_are_located() -> None:
    text = b"""apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: nginx
      ports: [{containerPort: 99999}]
status:
  podIP: 10.244.1.300
"""
    result = load_sources([("pod.yaml", text)])
    assert [str(p) for p in result.errors] == [
        "pod.yaml:7:31: error: expected a port number (1-65535), got 99999 "
        "(spec.containers[0].ports[0].containerPort)",
        "pod.yaml:9:10: error: expected an IPv4 address, got '10.244.1.300' (status.podIP)",
    ]
