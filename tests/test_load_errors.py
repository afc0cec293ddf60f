"""Bad input: every error and warning of issue 2, with exact messages and 1-based line:col (golden files)."""

from __future__ import annotations

import resource
from ipaddress import IPv4Address
import tracemalloc
from pathlib import Path

import pytest

from benchmarks.bench_load import alias_bomb
from webapp.cli import main
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
    assert len(CASES) == 15


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


BRIDGE_CLUSTER = b"""network: {bridge: docker0}
nodes:
  - name: n1
    podCIDR: 10.244.1.0/24
    pods:
      - {name: a, ip: 10.244.1.1}
      - {name: b, ip: 10.244.1.2}
      - {name: h, ip: 10.244.1.1, hostNetwork: true}
"""

BRIDGE_MANIFESTS = b"""apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status:
  addresses: [{type: InternalIP, address: 192.168.0.11}]
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default}
spec:
  nodeName: n1
  containers: [{name: app, image: nginx}]
status: {podIP: 10.244.1.1}
"""


@pytest.mark.parametrize(("name", "text", "where", "bridge", "path"), [
    ("c.yaml", BRIDGE_CLUSTER, "c.yaml:6:23", "docker0", "nodes[0].pods[0].ip"),
    ("dump.yaml", BRIDGE_MANIFESTS, "dump.yaml:14:17", "cni0", "status.podIP"),
])
def test_a_pod_ip_equal_to_its_nodes_bridge_address_is_refused(name, text, where, bridge, path) -> None:
    """The bridge holds the podCIDR's first address as the pods' gateway (host-local never hands it out): a pod
    given it — in our YAML or as a Pod's status.podIP — is an error at that address, in English and in Chinese. A
    hostNetwork pod's own `ip` is not its address (it has the node's)."""
    from webapp.narration import narration_language

    result = load_sources([(name, text)])
    assert [p.code for p in result.errors] == ["E-POD-IP-BRIDGE"] and result.cluster is None
    problem = result.errors[0]
    assert str(problem) == (
        f"{where}: error: pod IP 10.244.1.1 of default/a is n1's bridge address: {bridge} holds the first address of "
        f"the podCIDR 10.244.1.0/24 as the pods' gateway, and host-local never gives it to a pod ({path})")
    with narration_language("zh"):
        assert str(problem) == (
            f"{where}: error: default/a 的 Pod IP 10.244.1.1 是节点 n1 的网桥地址：{bridge} 以 podCIDR 10.244.1.0/24 的"
            f"第一个地址作为 Pod 的网关，host-local 从不把它分给 Pod ({path})")


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


# ------------------------------------------------------------------ one load: parse, reading and model problems


def test_validate_prints_a_syntax_error_and_another_files_pod_ip_clash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "tests/data/bad/syntax.yaml", "tests/data/bad/duplicate-pod-ip.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == (BAD / "syntax.expected").read_text().splitlines() + (
        BAD / "duplicate-pod-ip.expected").read_text().splitlines()
    assert err == "2 errors, 0 warnings\n"


def test_problems_are_in_file_order_then_line_order() -> None:
    result = load_paths(["tests/data/bad/duplicate-pod-ip.yaml", "tests/data/bad/node-port.yaml",
                         "tests/data/bad/syntax.yaml"])
    assert [(p.file.split("/")[-1], p.line, p.col) for p in result.errors] == [
        ("duplicate-pod-ip.yaml", 7, 27),
        ("node-port.yaml", 5, 60),
        ("syntax.yaml", 5, 4),
    ]
    assert result.cluster is None


def test_an_unknown_key_in_one_file_does_not_hide_another_files_clashes() -> None:
    other = b"""nodes:
  - name: node-2
    podCIDR: 10.244.2.0/24
    pods: [{name: api, ip: 10.244.1.5}]
services:
  - {name: a, type: NodePort, ports: [{port: 80, nodePort: 29999}]}
  - {name: b, clusterIP: 10.96.0.40, ports: [80]}
  - {name: c, clusterIP: 10.96.0.40, ports: [80]}
"""
    typo = b"""nodes:
  - name: node-1
    podCIDR: 10.244.1.0/24
    pods: [{name: web, ip: 10.244.1.5, lables: {app: web}}]
"""
    result = load_sources([("typo.yaml", typo), ("other.yaml", other)])
    assert [str(p) for p in result.problems] == [
        "typo.yaml:4:40: error: unknown key 'lables' in pod (nodes[0].pods[0].lables) (hint: did you mean 'labels'?)",
        "other.yaml:4:28: error: pod IP 10.244.1.5 of default/api is outside node-2's podCIDR 10.244.2.0/24 "
        "(nodes[0].pods[0].ip)",
        "other.yaml:6:60: error: nodePort 29999 is outside the range 30000-32767 (services[0].ports[0].nodePort) "
        "(hint: pick a port in the range, or change network.nodePortRange)",
        "other.yaml:8:26: error: clusterIP 10.96.0.40 of default/c is already used by default/b "
        "(services[2].clusterIP)",
    ]
    assert result.cluster is None


def test_checks_a_missing_part_could_make_wrong_are_left_out() -> None:
    """With the nodes and network settings in a broken file, a pod's node, ranges and selectors are not judged
    (and no notices are made); clashes between what was read still are."""
    broken = b"""network: {nodePortRange: 20000-20999}
nodes:
  - name: node-1
   podCIDR: 10.244.1.0/24
"""
    rest = b"""nodes: [{name: node-2, podCIDR: 10.244.2.0/24}]
pods:
  - {name: a, node: node-1, ip: 10.244.1.5}
  - {name: b, node: node-1, ip: 10.244.1.5}
services:
  - {name: web, type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 20080}]}
  - {name: api, type: NodePort, ports: [{port: 80, nodePort: 20080}]}
"""
    result = load_sources([("broken.yaml", broken), ("rest.yaml", rest)])
    assert [str(p) for p in result.problems] == [
        "broken.yaml:4:4: error: syntax error: expected <block end>, but found '<block mapping start>' "
        "(hint: while parsing a block collection at line 3, column 3)",
        "rest.yaml:4:33: error: pod IP 10.244.1.5 of default/b is already used by default/a (pods[1].ip)",
        "rest.yaml:6:84: error: nodePort 20080 is already used by default/api (services[0].ports[0].nodePort)",
    ]
    complete = load_sources([("rest.yaml", rest)])
    assert [(p.line, p.message) for p in complete.problems if p.severity != Severity.NOTICE] == [
        (3, "node 'node-1' of pod default/a is not defined"),
        (4, "node 'node-1' of pod default/b is not defined"),
        (4, "pod IP 10.244.1.5 of default/b is already used by default/a"),
        (6, "selector app=web of Service default/web matches no pod"),
        (6, "nodePort 20080 is outside the range 30000-32767"),
        (6, "nodePort 20080 is already used by default/api"),
        (7, "nodePort 20080 is outside the range 30000-32767"),
    ]


def test_a_bad_network_block_leaves_range_checks_out_but_a_bad_pod_does_not() -> None:
    services = b"services: [{name: a, type: NodePort, ports: [{port: 80, nodePort: 29999}]}]\n"
    bad_network = b"network: {podCIRD: 10.0.0.0/16}\n"
    result = load_sources([("net.yaml", bad_network), ("svc.yaml", services)])
    assert [p.message for p in result.problems] == ["unknown key 'podCIRD' in network"]
    bad_pod = b"pods: [{name: x, lables: {}}]\n"
    result = load_sources([("pod.yaml", bad_pod), ("svc.yaml", services)])
    assert [p.message for p in result.problems] == [
        "unknown key 'lables' in pod", "nodePort 29999 is outside the range 30000-32767"
    ]


def test_a_manifest_with_a_bad_field_stays_out_but_the_others_are_checked() -> None:
    text = b"""apiVersion: v1
kind: Pod
metadata: {name: bad}
spec: {containers: [{name: c, ports: [{containerPort: 99999}]}]}
status: {podIP: 10.244.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c}]}
status: {podIP: 10.244.7.7}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: [{name: c}]}
status: {podIP: 10.244.7.7}
"""
    result = load_sources([("pods.yaml", text)])
    assert [str(p) for p in result.problems] == [
        "pods.yaml:4:55: error: expected a port number (1-65535), got 99999 "
        "(spec.containers[0].ports[0].containerPort)",
        "pods.yaml:17:17: error: pod IP 10.244.7.7 of default/b is already used by default/a (status.podIP)",
    ]


def test_a_bad_kube_proxy_configuration_leaves_range_checks_out() -> None:
    text = b"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.300.0.0/16
---
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {type: NodePort, ports: [{port: 80, nodePort: 29999}]}
"""
    result = load_sources([("kp.yaml", text)])
    assert [p.message for p in result.problems] == ["expected an IPv4 CIDR such as 10.244.0.0/16, got '10.300.0.0/16'"]


def test_documents_after_a_broken_one_are_read_too() -> None:
    text = b"""pods: [{name: a, ip: 10.244.0.5}]
---
pods: [{name: b, ip: 10.244.0.5}
---
pods: [{name: c, ip: 10.244.0.5}]
---
pods: [{name: d, ip: 10.244.0.6}]
  bad: indentation
---
pods: [{name: e, ip: 10.244.0.6}]
"""
    result = load_sources([("docs.yaml", text)])
    assert [str(p) for p in result.problems] == [
        "docs.yaml:4:1: error: syntax error: expected ',' or ']', but got '<document start>' "
        "(hint: while parsing a flow sequence at line 3, column 7)",
        "docs.yaml:5:22: error: pod IP 10.244.0.5 of default/c is already used by default/a (pods[0].ip)",
        "docs.yaml:8:3: error: syntax error: expected <block end>, but found '<block mapping start>' "
        "(hint: while parsing a block mapping at line 7, column 1)",
    ]


@pytest.mark.parametrize("big", [False, True])
def test_a_file_is_read_up_to_20_broken_documents(big: bool) -> None:
    """Past 20 broken documents the rest of a file is not read (on both parsing paths, at the same line)."""
    padding = "#" + "x" * 300_000 + "\n" if big else ""  # a comment long enough for the yaml-rs path
    docs = [f"pods: [{{name: p{i}, ip: 10.244.0.{i + 2}}}]\n---\npods: [{{name: broken{i}\n" for i in range(25)]
    text = (padding + "---\n".join(docs)).encode()
    result = load_sources([("many.yaml", text)])
    off = 1 if big else 0
    syntax = [p for p in result.errors if p.message.startswith("syntax error")]
    assert (len(syntax), syntax[0].line, syntax[-1].line) == (20, 4 + off, 80 + off)
    assert str(result.errors[-1]) == (  # at the `---` of the first document not read
        f"many.yaml:{80 + off}:1: error: the rest of the file is not read: 20 documents are broken "
        "(hint: fix the first ones and validate again)"
    )
    assert len(result.errors) == 21


def test_a_nodes_further_addresses_are_read_and_checked() -> None:
    """`addresses` (ours) and a Node's further InternalIPs: more addresses on the node's NIC. Each is unique among
    the nodes' addresses, and a unicast address outside the pod and service networks."""
    good = load_sources([("c.yaml", b"nodes:\n  - {name: n1, ip: 192.168.0.11, addresses: [192.168.1.11]}\n")])
    assert [str(a) for a in good.cluster.nodes[0].addresses] == ["192.168.1.11"]
    assert good.cluster.node_by_ip[IPv4Address("192.168.1.11")].name == "n1"
    text = b"""nodes:
  - name: n1
    ip: 192.168.0.11
    addresses: [192.168.1.2, 192.168.0.12, 10.244.5.5, 127.0.0.2, 192.168.0.11, 192.168.1.2]
  - name: n2
    ip: 192.168.0.12
    addresses: [10.96.0.5]
"""
    hint = " (hint: a node's address is on its NIC, outside the pod and service networks)"
    assert [str(p) for p in load_sources([("c.yaml", text)]).errors] == [
        "c.yaml:4:30: error: address 192.168.0.12 of node n1 is already used by node n2 (nodes[0].addresses[1])",
        "c.yaml:4:44: error: address 10.244.5.5 of node n1 is in the pod network 10.244.0.0/16 "
        f"(nodes[0].addresses[2]){hint}",
        f"c.yaml:4:56: error: address 127.0.0.2 of node n1 is not a unicast address (nodes[0].addresses[3]){hint}",
        "c.yaml:4:67: error: address 192.168.0.11 of node n1 is already used by its InternalIP "
        "(nodes[0].addresses[4])",
        "c.yaml:4:81: error: address 192.168.1.2 of node n1 is already used by node n1 (nodes[0].addresses[5])",
        f"c.yaml:7:17: error: address 10.96.0.5 of node n2 is in the service network 10.96.0.0/12 "
        f"(nodes[1].addresses[0]){hint}",
    ]


def test_a_nodes_second_internal_ip_is_a_further_address() -> None:
    """status.addresses: the first IPv4 InternalIP is the node's IP, later IPv4 InternalIPs are further addresses
    (IPv6 ones and ExternalIP are not on our NIC)."""
    text = b"""apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status:
  addresses:
  - {type: InternalIP, address: 192.168.0.11}
  - {type: InternalIP, address: "fd00::11"}
  - {type: InternalIP, address: 192.168.1.2}
  - {type: ExternalIP, address: 203.0.113.50}
"""
    node = load_sources([("n.yaml", text)]).cluster.nodes[0]
    assert (str(node.internal_ip), [str(a) for a in node.addresses], str(node.external_ip)) == (
        "192.168.0.11", ["192.168.1.2"], "203.0.113.50")
    clash = text.replace(b"192.168.1.2}", b"10.244.1.9}")
    assert [str(p) for p in load_sources([("n.yaml", clash)]).errors] == [
        "n.yaml:9:33: error: address 10.244.1.9 of node n1 is in the pod network 10.244.0.0/16 "
        "(status.addresses[2].address) (hint: a node's address is on its NIC, outside the pod and service networks)"]


def test_show_lists_a_nodes_further_addresses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("nodes:\n  - {name: n1, ip: 192.168.0.11, addresses: [192.168.1.11, 192.168.2.11]}\n")
    assert main(["show", str(path), "--node", "n1", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "  n1  192.168.0.11 +192.168.1.11 +192.168.2.11 (eth0)  podCIDR 10.244.0.0/24\n" in out
    assert "eth0             UP             192.168.0.11/24 192.168.1.11/32 192.168.2.11/32\n" in out


HEALTH_PORTS_CLUSTER = b"""services:
  - {name: a, type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80, nodePort: 30080}],
     healthCheckNodePort: 29999}
  - {name: b, type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80, nodePort: 30081}],
     healthCheckNodePort: 30080}
  - {name: c, type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80, nodePort: 30082}],
     healthCheckNodePort: 30082}
  - {name: d, type: LoadBalancer, externalTrafficPolicy: Local, ports: [80], healthCheckNodePort: 30090}
  - {name: e, type: LoadBalancer, externalTrafficPolicy: Local, ports: [80], healthCheckNodePort: 30090}
  - {name: f, type: NodePort, ports: [{port: 80, nodePort: 30090}]}
  - {name: g, type: LoadBalancer, ports: [80], healthCheckNodePort: 30091}
  - {name: h, type: NodePort, externalTrafficPolicy: Local, ports: [80], healthCheckNodePort: 30092}
"""


def test_a_given_health_check_node_port_is_checked_as_the_api_server_does() -> None:
    """healthCheckNodePort: in the nodePort range, on no nodePort (not even its own Service's) and no other
    Service's health port, and only on a LoadBalancer with externalTrafficPolicy Local — each at the field, with
    its Chinese message."""
    from webapp.narration import narration_language

    result = load_sources([("c.yaml", HEALTH_PORTS_CLUSTER)])
    assert result.cluster is None
    assert [p.code for p in result.errors] == [
        "E-NODE-PORT-RANGE", "E-DUP-NODE-PORT", "E-DUP-NODE-PORT", "E-DUP-NODE-PORT", "E-DUP-NODE-PORT",
        "E-HEALTH-CHECK-NODE-PORT-TYPE", "E-HEALTH-CHECK-NODE-PORT-TYPE"]
    only = "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
    assert [str(p) for p in result.errors] == [
        "c.yaml:3:27: error: healthCheckNodePort 29999 is outside the range 30000-32767 "
        "(services[0].healthCheckNodePort) (hint: pick a port in the range, or change network.nodePortRange)",
        "c.yaml:5:27: error: healthCheckNodePort 30080 is already used by default/a (services[1].healthCheckNodePort)",
        "c.yaml:7:27: error: healthCheckNodePort 30082 is already used by default/c (services[2].healthCheckNodePort)",
        "c.yaml:9:99: error: healthCheckNodePort 30090 is already used by default/d "
        "(services[4].healthCheckNodePort)",
        "c.yaml:10:60: error: nodePort 30090 is already used by default/d (services[5].ports[0].nodePort)",
        f"c.yaml:11:69: error: healthCheckNodePort {only} (services[6].healthCheckNodePort)",
        f"c.yaml:12:95: error: healthCheckNodePort {only} (services[7].healthCheckNodePort)",
    ]
    with narration_language("zh"):
        assert [str(p) for p in result.errors if p.code != "E-DUP-NODE-PORT" or "health" in p.path] == [
            "c.yaml:3:27: error: healthCheckNodePort 29999 不在范围 30000-32767 内 (services[0].healthCheckNodePort) "
            "(hint: pick a port in the range, or change network.nodePortRange)",
            "c.yaml:5:27: error: healthCheckNodePort 30080 已被 default/a 使用 (services[1].healthCheckNodePort)",
            "c.yaml:7:27: error: healthCheckNodePort 30082 已被 default/c 使用 (services[2].healthCheckNodePort)",
            "c.yaml:9:99: error: healthCheckNodePort 30090 已被 default/d 使用 (services[4].healthCheckNodePort)",
            "c.yaml:11:69: error: 只有 `type` 为 'LoadBalancer' 且 `externalTrafficPolicy` 为 'Local' 时才能设置 "
            "healthCheckNodePort (services[6].healthCheckNodePort)",
            "c.yaml:12:95: error: 只有 `type` 为 'LoadBalancer' 且 `externalTrafficPolicy` 为 'Local' 时才能设置 "
            "healthCheckNodePort (services[7].healthCheckNodePort)",
        ]


def test_a_given_health_check_node_port_is_kept_and_the_allocator_passes_it_by() -> None:
    text = b"""services:
  - {name: a, type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 80, nodePort: 30001}],
     healthCheckNodePort: 30000}
  - {name: b, type: LoadBalancer, externalTrafficPolicy: Local, ports: [80]}
"""
    result = load_sources([("c.yaml", text)])
    assert result.errors == ()
    ports = {s.name: (s.health_check_node_port, [p.node_port for p in s.ports]) for s in result.cluster.services
             if s.name in ("a", "b")}
    assert ports == {"a": (30000, [30001]), "b": (30003, [30002])}


HEALTH_PORTS_MANIFESTS = b"""apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ports: [{port: 80, nodePort: 30080}]
  healthCheckNodePort: 29999
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ports: [{port: 80}]
  healthCheckNodePort: 30080
---
apiVersion: v1
kind: Service
metadata: {name: c}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  ports: [{port: 80}]
  healthCheckNodePort: 30100
"""


def test_a_manifests_health_check_node_port_is_checked_at_its_field() -> None:
    result = load_sources([("svc.yaml", HEALTH_PORTS_MANIFESTS)])
    assert [p.code for p in result.errors] == [
        "E-NODE-PORT-RANGE", "E-DUP-NODE-PORT", "E-HEALTH-CHECK-NODE-PORT-TYPE"]
    assert [str(p) for p in result.errors] == [
        "svc.yaml:8:24: error: healthCheckNodePort 29999 is outside the range 30000-32767 "
        "(spec.healthCheckNodePort) (hint: pick a port in the range, or change network.nodePortRange)",
        "svc.yaml:17:24: error: healthCheckNodePort 30080 is already used by default/a (spec.healthCheckNodePort)",
        "svc.yaml:26:24: error: healthCheckNodePort may only be set when `type` is 'LoadBalancer' and "
        "`externalTrafficPolicy` is 'Local' (spec.healthCheckNodePort)",
    ]
