"""Big inputs (issue 7): yaml-rs / json parse them, and problems still carry the exact line, column and path."""

from __future__ import annotations

import json

import pytest

from webapp.loaders import load_sources
from webapp.loaders.documents import FAST_PATH_BYTES, parse_file

PODS = 600


def pod(i: int, ip: str | None = None, padding: int = 20) -> dict:
    node = f"node-{i % 3}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"app-{i:04d}", "namespace": "default", "labels": {"app": f"app-{i % 50}"},
                     "annotations": {"note": "padding " * padding}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox",
                                                   "ports": [{"containerPort": 8080, "name": "http"}]}]},
        "status": {"phase": "Running", "podIP": ip or f"10.244.{i % 3}.{2 + i // 3}",
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


NODES = [
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{n}"}, "spec": {"podCIDR": f"10.244.{n}.0/24"},
     "status": {"addresses": [{"type": "InternalIP", "address": f"192.168.0.{11 + n}"}]}}
    for n in range(3)
]


def as_yaml_list(items: list[dict]) -> str:
    """kubectl-style YAML (block style, items at column 0), written by hand to keep the test self-contained."""
    lines = ["apiVersion: v1", "items:"]
    for item in items:
        block = _block(item, 1)
        lines.append("- " + block[0].lstrip())
        lines.extend(block[1:])
    lines += ["kind: List", "metadata:", "  resourceVersion: \"\""]
    return "\n".join(lines) + "\n"


def _block(value: dict, depth: int) -> list[str]:
    pad = "  " * depth
    out = []
    for key, item in value.items():
        if isinstance(item, dict):
            out.append(f"{pad}{key}:")
            out.extend(_block(item, depth + 1))
        elif isinstance(item, list):
            out.append(f"{pad}{key}:")
            for element in item:
                inner = _block(element, depth + 1)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
        else:
            out.append(f"{pad}{key}: {json.dumps(item)}")
    return out


def dump(items: list[dict], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4).encode()
    return as_yaml_list(items).encode()


def line_of(text: bytes, needle: bytes, nth: int = 0) -> tuple[int, int]:
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(needle, pos + 1)
    return text.count(b"\n", 0, pos) + 1, pos - (text.rfind(b"\n", 0, pos) + 1) + 1


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_big_dump_takes_the_fast_path_and_loads(fmt: str) -> None:
    content = dump(NODES + [pod(i) for i in range(PODS)], fmt)
    assert len(content) >= FAST_PATH_BYTES
    (doc,) = parse_file(f"d.{fmt}", content).documents
    assert doc.root is None and doc.item_lines is not None  # no node tree: parsed by yaml-rs / json
    result = load_sources([(f"d.{fmt}", content)])
    assert result.errors == ()
    cluster = result.cluster
    assert len([p for p in cluster.pods if p.namespace == "default"]) == PODS
    web = cluster.pod_by_key["default/app-0500"]
    assert (web.node, str(web.pod_ip)) == ("node-2", "10.244.2.168")
    assert (web.source.line, web.source.col) == (line_of(content, b'"app-0500"')[0] - (3 if fmt == "yaml" else 4),
                                                 1 if fmt == "yaml" else 9)
    assert web.source.path == "items[503]"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_duplicate_pod_ip_in_a_big_dump_has_its_exact_line(fmt: str) -> None:
    items = NODES + [pod(i) for i in range(PODS)]
    items[3 + 400] = pod(400, ip="10.244.1.2")  # app-0400 on node-1 takes app-0001's IP
    content = dump(items, fmt)
    result = load_sources([(f"d.{fmt}", content)])
    line, col = line_of(content, b'"10.244.1.2"', nth=1)
    assert [str(p) for p in result.errors] == [
        f"d.{fmt}:{line}:{col}: error: pod IP 10.244.1.2 of default/app-0400 is already used by "
        "default/app-0001 (items[403].status.podIP)"
    ]


def test_syntax_error_in_a_big_yaml_file_is_located() -> None:
    content = dump(NODES + [pod(i) for i in range(PODS)], "yaml")
    line, _ = line_of(content, b'name: "app-0500"')
    broken = content.replace(b'name: "app-0500"', b'name: "app-0800', 1)
    result = load_sources([("d.yaml", broken)])
    (problem,) = result.errors
    assert problem.message.startswith("syntax error: ")
    assert line <= problem.line <= line + 3


def test_duplicate_key_in_a_big_yaml_file_is_located() -> None:
    content = dump(NODES + [pod(i) for i in range(PODS)], "yaml")
    line, _ = line_of(content, b'name: "app-0100"')
    broken = content.replace(b'    name: "app-0100"\n', b'    name: "app-0100"\n    name: "again"\n', 1)
    assert [str(p) for p in load_sources([("d.yaml", broken)]).errors] == [
        f"d.yaml:{line + 1}:5: error: duplicate key 'name' (items[103].metadata.name) "
        f"(hint: first defined at line {line})"
    ]


def test_duplicate_key_in_a_huge_yaml_document_is_found_by_a_targeted_scan() -> None:
    content = dump(NODES + [pod(i, padding=300) for i in range(PODS)], "yaml")
    assert len(content) > 1_000_000  # too big to re-compose: the key is found by scanning for it
    line, _ = line_of(content, b'name: "app-0321"')
    broken = content.replace(b'    name: "app-0321"\n', b'    name: "app-0321"\n    name: "again"\n', 1)
    assert [str(p) for p in load_sources([("d.yaml", broken)]).errors] == [
        f"d.yaml:{line + 1}:5: error: duplicate key 'name' (hint: first defined at line {line})"
    ]


def test_a_tag_in_a_big_file_sends_it_to_pyyaml_which_rejects_it() -> None:
    content = dump(NODES + [pod(i) for i in range(PODS)], "yaml")
    broken = content.replace(b'podIP: "10.244.0.2"', b"podIP: !!python/object:os.system x", 1)
    line, col = line_of(broken, b"!!python")
    assert [str(p) for p in load_sources([("d.yaml", broken)]).errors] == [
        f"d.yaml:{line}:{col}: error: unsafe tag '!!python/object:os.system' is not allowed "
        "(items[3].status.podIP) (hint: tags are never constructed; remove the tag)"
    ]


def test_merge_keys_in_a_big_file_are_honoured() -> None:
    content = ("# " + "x" * FAST_PATH_BYTES + "\n"
               + "nodes:\n  - name: n1\n    pods:\n      - {name: p1, labels: &web {app: web}}\n"
               + "      - {name: p2, labels: {<<: *web, tier: front}}\n").encode()
    result = load_sources([("m.yaml", content)])
    assert result.errors == ()
    assert result.cluster.pod_by_key["default/p2"].labels == (("app", "web"), ("tier", "front"))


def test_many_documents_in_a_big_file_keep_their_lines() -> None:
    docs = [json.dumps(pod(i)) for i in range(PODS)]
    docs[0] = json.dumps(NODES[0]) + "\n---\n" + json.dumps(NODES[1]) + "\n---\n" + json.dumps(NODES[2]) + "\n---\n" + docs[0]
    docs[550] = docs[550].replace('"podIP": "10.244.1.185"', '"podIP": "10.244.9.9"')
    content = "\n---\n".join(docs).encode()
    assert len(content) >= FAST_PATH_BYTES
    result = load_sources([("m.yaml", content)])
    line, col = line_of(content, b'"10.244.9.9"')
    assert [str(p) for p in result.errors] == [
        f"m.yaml:{line}:{col}: error: pod IP 10.244.9.9 of default/app-0550 is outside node-1's podCIDR "
        "10.244.1.0/24 (status.podIP)"
    ]


def test_generated_dump_loads_the_same_from_yaml_and_json() -> None:
    from benchmarks.generate_cluster import dump_json, dump_yaml, generate_dump

    dump = generate_dump(12, pods_per_node=25, services_per_node=2)
    assert min(len(dump_yaml(dump)), len(dump_json(dump))) >= FAST_PATH_BYTES
    as_yaml = load_sources([("d.yaml", dump_yaml(dump).encode())])
    as_json = load_sources([("d.json", dump_json(dump).encode())])
    assert as_yaml.errors == () and as_json.errors == ()
    a, b = as_yaml.cluster, as_json.cluster

    def shape(cluster):
        return ([(n.name, n.internal_ip, n.pod_cidr, n.ready) for n in cluster.nodes],
                [(p.key, p.node, p.pod_ip, p.ready, p.host_network, p.labels, p.containers) for p in cluster.pods],
                [(s.key, s.type, s.cluster_ip, s.ports, s.selector) for s in cluster.services],
                cluster.endpoints, cluster.settings)

    assert shape(a) == shape(b)
    assert len(a.pods) == 12 * 25 and len(a.nodes) == 12
    assert [p.source.line for p in a.pods[:2]] != [p.source.line for p in b.pods[:2]]  # each its own file's lines


def test_a_broken_document_in_a_big_file_hides_no_clash_before_or_after_it() -> None:
    docs = [json.dumps(n) for n in NODES] + [json.dumps(pod(i)) for i in range(PODS)]
    docs[3 + 10] = json.dumps(pod(10, ip="10.244.1.2"))  # app-0010 on node-1 takes app-0001's IP
    docs[3 + 300] = docs[3 + 300].replace('"kind": "Pod",', '"kind": "Pod",,')  # a syntax error
    docs[3 + 502] = json.dumps(pod(502, ip="10.244.1.2"))  # and so does app-0502, after the broken document
    content = "\n---\n".join(docs).encode()
    assert len(content) >= FAST_PATH_BYTES
    result = load_sources([("m.yaml", content)])
    first, second = line_of(content, b'"10.244.1.2"', nth=1), line_of(content, b'"10.244.1.2"', nth=2)
    broken = line_of(content, b",,")
    assert [str(p) for p in result.problems] == [
        f"m.yaml:{first[0]}:{first[1]}: error: pod IP 10.244.1.2 of default/app-0010 is already used by "
        "default/app-0001 (status.podIP)",
        f"m.yaml:{broken[0]}:{broken[1] + 1}: error: syntax error: expected the node content, but found ',' "
        f"(hint: while parsing a flow node at line {broken[0]}, column {broken[1] + 1})",
        f"m.yaml:{second[0]}:{second[1]}: error: pod IP 10.244.1.2 of default/app-0502 is already used by "
        "default/app-0001 (status.podIP)",
    ]
    assert parse_file("m.yaml", content).documents[0].root is None  # parsed by yaml-rs, not re-parsed
