"""The benchmark cluster generator: shape of a kubectl dump, address plan, determinism, both writers."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from benchmarks.generate_cluster import dump_json, dump_yaml, generate_dump, node_pod_cidr

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dump10() -> dict:
    return generate_dump(10)


def _kind(dump: dict, kind: str) -> list[dict]:
    return [item for item in dump["items"] if item["kind"] == kind]


def test_counts_per_kind(dump10):
    assert dump10["kind"] == "List" and dump10["apiVersion"] == "v1"
    assert Counter(item["kind"] for item in dump10["items"]) == {
        "Node": 10, "Pod": 300, "Service": 30, "EndpointSlice": 30,
    }
    # kubectl's order: kind, then namespace, then name.
    kinds = [item["kind"] for item in dump10["items"]]
    assert kinds == ["Node"] * 10 + ["Pod"] * 300 + ["Service"] * 30 + ["EndpointSlice"] * 30
    pods = _kind(dump10, "Pod")
    keys = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods]
    assert keys == sorted(keys)


def test_nodes_address_plan(dump10):
    nodes = _kind(dump10, "Node")
    assert [n["metadata"]["name"] for n in nodes[:2]] == ["worker-0000", "worker-0001"]
    assert nodes[3]["spec"] == {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24"]}
    assert nodes[3]["status"]["addresses"] == [
        {"address": "10.0.0.13", "type": "InternalIP"},
        {"address": "worker-0003", "type": "Hostname"},
    ]
    assert str(node_pod_cidr(256)) == "10.245.0.0/24"
    assert str(node_pod_cidr(999)) == "10.247.231.0/24"
    meta = nodes[0]["metadata"]
    assert {"uid", "creationTimestamp", "resourceVersion", "labels"} <= set(meta)
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_pods_ips_inside_their_node_podcidr(dump10):
    node_cidr = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"]) for n in _kind(dump10, "Node")}
    node_ip = {n["metadata"]["name"]: n["status"]["addresses"][0]["address"] for n in _kind(dump10, "Node")}
    per_node = Counter()
    pod_ips = []
    for pod in _kind(dump10, "Pod"):
        node = pod["spec"]["nodeName"]
        per_node[node] += 1
        status = pod["status"]
        assert status["hostIP"] == node_ip[node]
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        if pod["spec"].get("hostNetwork"):
            assert pod["metadata"]["name"].startswith("kube-proxy-")
            assert status["podIP"] == node_ip[node]
        else:
            address = ipaddress.ip_address(status["podIP"])
            assert address in node_cidr[node]
            assert int(address) - int(node_cidr[node].network_address) >= 2  # .1 is the bridge
            pod_ips.append(address)
        assert pod["metadata"]["ownerReferences"][0]["kind"] in ("ReplicaSet", "DaemonSet")
        assert [c["type"] for c in status["conditions"]] == ["Ready"]
    assert set(per_node.values()) == {30}
    assert len(pod_ips) == len(set(pod_ips)) == 290


def test_services_and_endpointslices(dump10):
    services = _kind(dump10, "Service")
    ips = [s["spec"]["clusterIP"] for s in services]
    assert len(set(ips)) == 30
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in ips)
    dns = next(s for s in services if s["metadata"]["name"] == "kube-dns")
    assert dns["spec"]["clusterIP"] == "10.96.0.10"
    assert [(p["port"], p["protocol"]) for p in dns["spec"]["ports"]] == [(53, "UDP"), (53, "TCP"), (9153, "TCP")]
    node_ports = [p["nodePort"] for s in services if s["spec"]["type"] == "NodePort" for p in s["spec"]["ports"]]
    assert len(node_ports) == 3 and len(set(node_ports)) == 3
    assert all(30000 <= p <= 32767 for p in node_ports)

    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in _kind(dump10, "Pod")}
    slices = {s["metadata"]["labels"]["kubernetes.io/service-name"]: s for s in _kind(dump10, "EndpointSlice")}
    assert len(slices) == 30
    for service in services:
        name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
        eps = slices[name]
        assert eps["metadata"]["namespace"] == namespace
        assert eps["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
        selected = {
            key for key, pod in pods.items()
            if key[0] == namespace and service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        }
        listed = set()
        for endpoint in eps["endpoints"]:
            ref = endpoint["targetRef"]
            pod = pods[(ref["namespace"], ref["name"])]
            assert endpoint["addresses"] == [pod["status"]["podIP"]]
            assert endpoint["nodeName"] == pod["spec"]["nodeName"]
            pod_ready = pod["status"]["conditions"][0]["status"] == "True"
            assert endpoint["conditions"]["ready"] is pod_ready
            listed.add((ref["namespace"], ref["name"]))
        assert listed == selected
        assert len({e["nodeName"] for e in eps["endpoints"]}) > 1  # backends spread across nodes


def test_not_ready_node_and_pods():
    dump = generate_dump(100, pods_per_node=4, services_per_node=1)
    nodes = {n["metadata"]["name"]: n for n in _kind(dump, "Node")}
    not_ready = [name for name, n in nodes.items() if n["status"]["conditions"][0]["status"] != "True"]
    assert not_ready == ["worker-0099"]
    on_it = [p for p in _kind(dump, "Pod") if p["spec"]["nodeName"] == "worker-0099"]
    assert len(on_it) == 4
    assert all(p["status"]["conditions"][0]["status"] == "False" for p in on_it)


def test_deterministic_and_seeded():
    assert dump_yaml(generate_dump(3, seed=7)) == dump_yaml(generate_dump(3, seed=7))
    a, b = generate_dump(3, seed=1), generate_dump(3, seed=2)
    names_a = {p["metadata"]["name"] for p in _kind(a, "Pod")}
    names_b = {p["metadata"]["name"] for p in _kind(b, "Pod")}
    assert not names_a & names_b - {""}  # hashes differ: no pod name shared between seeds


def test_yaml_and_json_read_back_identically(dump10):
    text = dump_yaml(dump10)
    assert text.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n")
    assert '    creationTimestamp: "2026-' in text  # a timestamp stays a string under YAML 1.1
    assert yaml.load(text, Loader=yaml.CSafeLoader) == dump10
    as_json = dump_json(dump10)
    assert json.loads(as_json) == dump10
    lines = as_json.splitlines()
    assert lines[0] == '{"apiVersion":"v1","items":[' and lines[-1] == '],"kind":"List","metadata":{"resourceVersion":""}}'
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == dump10["items"]  # one item per line


def test_cli_writes_file(tmp_path):
    out = tmp_path / "dump.yaml"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate_cluster.py"), "--nodes", "2", "--pods-per-node", "3",
         "--services-per-node", "1", "--out", str(out)],
        capture_output=True, text=True, check=True,
    )
    assert result.stderr.startswith(f"{out}: 12 objects, ")
    assert out.read_text() == dump_yaml(generate_dump(2, 3, 1))


def test_more_than_1024_nodes_take_their_podcidrs_from_a_wider_network():
    """Kubernetes' 5,000-node limit does not fit 10.244.0.0/14: beyond 1,024 nodes the pod network is
    10.128.0.0/11 (the 1,000-node dumps keep 10.244.0.0/14)."""
    nodes = _kind(generate_dump(1025, pods_per_node=1, services_per_node=0), "Node")
    assert [n["spec"]["podCIDR"] for n in (nodes[0], nodes[1024])] == ["10.128.0.0/24", "10.132.0.0/24"]
    assert node_pod_cidr(999) == node_pod_cidr(999, 1000)


@pytest.mark.parametrize("kwargs, message", [
    ({"nodes": 0}, "nodes must be between 1 and 8192, got 0"),
    ({"nodes": 8193, "pods_per_node": 1}, "nodes must be between 1 and 8192, got 8193"),
    ({"nodes": 1, "pods_per_node": 255}, "pods_per_node must be between 1 and 254 (a /24 podCIDR), got 255"),
])
def test_rejects_impossible_sizes(kwargs, message):
    with pytest.raises(ValueError) as info:
        generate_dump(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_duplicated_pod_ip_is_reported_at_its_line(fmt):
    """The benchmark's semantic fault, on a small dump: the loader names the exact line of the copied podIP."""
    from benchmarks.bench_scale import duplicate_pod_ip
    from webapp.loaders import load_sources

    dump = generate_dump(3, pods_per_node=4, services_per_node=1)
    text = dump_yaml(dump) if fmt == "yaml" else dump_json(dump)
    faulty, line, col, ip = duplicate_pod_ip(text, fmt)
    assert faulty.count(ip) == text.count(ip) + 2  # podIP and podIPs of the victim
    victim = faulty.splitlines()[line - 1]
    assert victim == f"    podIP: {ip}" if fmt == "yaml" else f'"podIP":"{ip}"' in victim
    result = load_sources([(f"dump.{fmt}", faulty.encode())])
    assert result.cluster is None
    assert [(p.file, p.line, p.col) for p in result.errors] == [(f"dump.{fmt}", line, col)]
    pods = [p for p in _kind(dump, "Pod") if not p["spec"].get("hostNetwork")]
    victim_key = "{namespace}/{name}".format(**pods[-1]["metadata"])
    donor_key = next("{namespace}/{name}".format(**p["metadata"]) for p in pods if p["status"]["podIP"] == ip)
    assert result.errors[0].message == f"pod IP {ip} of {victim_key} is already used by {donor_key}"


def test_every_nth_application_pod_can_be_made_not_ready():
    """`not_ready_pod_every=17`: 1 application pod in 17 not ready (issue 18's colour test)."""
    pods = [p for p in generate_dump(10, not_ready_pod_every=17)["items"] if p["kind"] == "Pod"
            and not p["spec"].get("hostNetwork")]
    not_ready = [p for p in pods if p["status"]["conditions"][0]["status"] != "True"]
    assert (len(pods), len(not_ready)) == (290, 17)
