"""Input A: the cluster YAML format — samples, defaults layered general → specific, deterministic gap filling."""

from __future__ import annotations

import json
from pathlib import Path
from ipaddress import IPv4Address, IPv4Network

import jsonschema
import pytest
import yaml

from webapp.loaders import DEFAULT_SAMPLE, list_samples, load_paths, load_sample, load_sources
from webapp.loaders.schema import OBJECTS, SCHEMA_FILE, json_schema
from webapp.model import Bridge, KubeProxyMode, Overlay, Protocol, ServiceType
from webapp.problems import Severity


def load(text: str):
    result = load_sources([("c.yaml", text.encode())])
    assert result.errors == (), [str(p) for p in result.errors]
    assert result.cluster is not None
    return result.cluster


def test_samples_are_listed_default_first_each_with_a_description() -> None:
    samples = list_samples()
    assert [s.name for s in samples] == ["seed-article", "flannel-host-gw", "flannel-vxlan", "guestbook", "policy-shop"]
    assert samples[0].name == DEFAULT_SAMPLE
    for sample in samples:
        assert sample.description and "\n" not in sample.description
        assert sample.title
    assert samples[3].path.is_dir()


@pytest.mark.parametrize("name", ["seed-article", "flannel-host-gw", "flannel-vxlan", "guestbook", "policy-shop"])
def test_every_sample_loads_without_errors_or_warnings(name: str) -> None:
    sample = next(s for s in list_samples() if s.name == name)
    result = load_paths([sample.path])
    assert result.ok
    assert [p for p in result.problems if p.severity != Severity.NOTICE] == []


def test_seed_article_topology() -> None:
    cluster = load_sample()
    s = cluster.settings
    assert (s.overlay, s.bridge, s.cni, s.vxlan_port) == (Overlay.OVS_VXLAN, Bridge.DOCKER0, "ovs", 4789)
    assert [(n.name, str(n.internal_ip), str(n.pod_cidr)) for n in cluster.nodes] == [
        ("node-1", "192.168.0.11", "10.244.1.0/24"),
        ("node-2", "192.168.0.12", "10.244.2.0/24"),
    ]
    assert {n.bridge_ip for n in cluster.nodes} == {IPv4Address("10.244.1.1"), IPv4Address("10.244.2.1")}
    web1 = cluster.pod_by_key["default/web-1"]
    assert web1.container_names == ("pause", "nginx", "log-agent")
    assert {svc.type for svc in cluster.services} == set(ServiceType)
    lb = cluster.service_by_key["default/api-lb"]
    assert lb.load_balancer_ips == (IPv4Address("203.0.113.100"),)
    assert cluster.service_by_key["default/db"].external_ips == (IPv4Address("192.168.0.100"),)
    assert cluster.service_by_key["default/search"].external_name == "search.example.com"
    assert cluster.service_by_key["default/search"].cluster_ip is None
    assert [(h.name, str(h.ip)) for h in cluster.external_hosts] == [
        ("client", "203.0.113.10"), ("search", "198.51.100.20")
    ]


def test_seed_article_addresses_are_filled_like_a_real_cluster() -> None:
    cluster = load_sample("seed-article")
    assert [(p.key, p.node, str(p.pod_ip)) for p in cluster.pods] == [
        ("default/api-1", "node-1", "10.244.1.3"),
        ("default/api-2", "node-2", "10.244.2.3"),
        ("default/db-1", "node-2", "10.244.2.4"),
        ("default/web-1", "node-1", "10.244.1.2"),
        ("default/web-2", "node-2", "10.244.2.2"),
        ("kube-system/coredns-868cd75d4-2mcc9", "node-1", "10.244.1.4"),
        ("kube-system/coredns-868cd75d4-9v5v2", "node-1", "10.244.1.5"),
    ]
    assert [(s.key, str(s.cluster_ip), [p.node_port for p in s.ports]) for s in cluster.services] == [
        ("default/api-lb", "10.96.0.11", [30081]),
        ("default/db", "10.96.0.12", [None]),
        ("default/kubernetes", "10.96.0.1", [None]),
        ("default/search", "None", []),
        ("default/web", "10.96.0.13", [None]),
        ("default/web-nodeport", "10.96.0.14", [30080]),
        ("kube-system/kube-dns", "10.96.0.10", [None, None, None]),
    ]
    web = cluster.service_by_key["default/web"]
    assert [ep.address for ep in cluster.endpoints_for(web, web.ports[0])] == ["10.244.1.2:80", "10.244.2.2:80"]
    kubernetes = cluster.service_by_key["default/kubernetes"]
    (api,) = cluster.endpoints_for(kubernetes, kubernetes.ports[0])
    assert (api.address, api.node, kubernetes.ports[0].name) == ("192.168.0.11:6443", "node-1", "https")
    dns = cluster.service_by_key["kube-system/kube-dns"]
    assert [(p.name, p.port, p.protocol) for p in dns.ports] == [
        ("dns", 53, Protocol.UDP), ("dns-tcp", 53, Protocol.TCP), ("metrics", 9153, Protocol.TCP)
    ]
    assert dns.cluster_ip == cluster.settings.cluster_dns_ip == IPv4Address("10.96.0.10")


def test_loading_twice_gives_the_same_cluster() -> None:
    assert load_sample("flannel-vxlan") == load_sample("flannel-vxlan")
    assert load_sample("guestbook") == load_sample("guestbook")


def test_no_nodes_gives_the_default_two_node_cluster() -> None:
    result = load_sources([("c.yaml", b"name: empty\n")])
    cluster = result.cluster
    assert cluster is not None
    assert [(n.name, str(n.internal_ip), str(n.pod_cidr)) for n in cluster.nodes] == [
        ("node-1", "192.168.0.11", "10.244.0.0/24"),
        ("node-2", "192.168.0.12", "10.244.1.0/24"),
    ]
    assert cluster.settings.node_network == IPv4Network("192.168.0.0/24")
    assert [p.message for p in result.notices] == [
        "no nodes given: using the default nodes node-1, node-2",
        "added Service default/kubernetes (10.96.0.1:443 → the API server at 192.168.0.11:6443), as every "
        "cluster has it",
        "added Service kube-system/kube-dns (10.96.0.10), as every cluster has it",
        "added 2 CoreDNS pods (kube-system, k8s-app=kube-dns), as every cluster has them",
    ]
    assert [p.key for p in cluster.pods] == ["kube-system/coredns-868cd75d4-2mcc9",
                                             "kube-system/coredns-868cd75d4-9v5v2"]
    assert [p.node for p in cluster.pods] == ["node-1", "node-2"]


def test_defaults_are_layered_cluster_then_node_then_pod() -> None:
    cluster = load("""
namespace: shop
network: {nic: ens3, podCIDR: 10.32.0.0/16, nodeCIDRMask: 26}
nodes:
  - name: a
    pods: [{name: p1}]
  - name: b
    nic: eth1
    namespace: billing
    pods: [{name: p2}, {name: p3, namespace: audit}]
pods:
  - {name: p4}
""")
    assert [(n.name, n.nic, str(n.pod_cidr)) for n in cluster.nodes] == [
        ("a", "ens3", "10.32.0.0/26"), ("b", "eth1", "10.32.0.64/26")
    ]
    assert {p.name: p.namespace for p in cluster.pods if p.namespace != "kube-system"} == {
        "p1": "shop", "p2": "billing", "p3": "audit", "p4": "shop"
    }
    assert cluster.pod_by_key["shop/p1"].containers[0].name == "p1"


def test_pod_ips_host_local_style_around_given_ones() -> None:
    cluster = load("""
nodes:
  - name: n1
    podCIDR: 10.244.7.0/24
    pods: [{name: a}, {name: b, ip: 10.244.7.3}, {name: c}, {name: h, hostNetwork: true}]
""")
    assert {p.name: str(p.pod_ip) for p in cluster.pods if p.namespace == "default"} == {
        "a": "10.244.7.2", "b": "10.244.7.3", "c": "10.244.7.4", "h": "192.168.0.11"
    }
    assert cluster.nodes[0].bridge_ip == IPv4Address("10.244.7.1")


def test_unscheduled_pods_are_spread_least_loaded_first() -> None:
    cluster = load("""
nodes:
  - {name: n1, pods: [{name: x}, {name: y}]}
  - {name: n2}
  - {name: n3, schedulable: false}
pods: [{name: a}, {name: b}, {name: c}, {name: d, node: n3}]
""")
    assert {p.name: p.node for p in cluster.pods if p.namespace == "default"} == {
        "x": "n1", "y": "n1", "a": "n2", "b": "n2", "c": "n1", "d": "n3"
    }


def test_services_get_cluster_ips_and_node_ports_in_order() -> None:
    cluster = load("""
network: {serviceCIDR: 10.100.0.0/16, nodePortRange: 31000-31010}
services:
  - {name: b, type: NodePort, ports: [80, {port: 443, nodePort: 31001}]}
  - {name: a, type: LoadBalancer, ports: [8080], externalTrafficPolicy: Local}
  - {name: h, clusterIP: None, ports: [{port: 5432, name: pg}]}
""")
    assert cluster.settings.cluster_dns_ip == IPv4Address("10.100.0.10")
    rows = {s.name: (str(s.cluster_ip), [p.node_port for p in s.ports], s.health_check_node_port)
            for s in cluster.services}
    assert rows == {
        "a": ("10.100.0.11", [31000], 31002),
        "b": ("10.100.0.12", [31003, 31001], None),
        "h": ("None", [None], None),
        "kubernetes": ("10.100.0.1", [None], None),
        "kube-dns": ("10.100.0.10", [None, None, None], None),
    }
    assert cluster.service_by_key["default/h"].headless


def test_unnamed_ports_of_a_multi_port_service_get_names() -> None:
    cluster = load("services: [{name: s, ports: [80, {port: 53, protocol: UDP}, {port: 443, name: https}]}]")
    assert [p.name for p in cluster.service_by_key["default/s"].ports] == ["tcp-80", "udp-53", "https"]
    assert [p.name for p in load("services: [{name: t, ports: [80]}]").service_by_key["default/t"].ports] == [None]


def test_named_target_ports_resolve_per_pod() -> None:
    cluster = load("""
nodes:
  - name: n1
    pods:
      - {name: old, labels: {app: web}, containers: [{name: c, ports: [{port: 8080, name: http}]}]}
      - {name: new, labels: {app: web}, containers: [{name: c, ports: [{port: 9090, name: http}]}]}
      - {name: slow, labels: {app: web}, ready: false, containers: [{name: c, ports: [{port: 8080, name: http}]}]}
services:
  - {name: web, selector: {app: web}, ports: [{port: 80, targetPort: http}]}
""")
    web = cluster.service_by_key["default/web"]
    assert [(ep.pod, ep.address, ep.ready) for ep in cluster.endpoints_for(web, web.ports[0])] == [
        ("default/old", "10.244.0.2:8080", True),
        ("default/new", "10.244.0.3:9090", True),
        ("default/slow", "10.244.0.4:8080", False),
    ]


def test_down_pods_and_labels() -> None:
    cluster = load("""
nodes: [{name: n1, labels: {zone: a}, pods: [{name: p, down: true, labels: {tier: web, enabled: true}}]}]
""")
    assert cluster.down_pods == frozenset({"default/p"})
    assert cluster.pod_by_key["default/p"].labels == (("enabled", "true"), ("tier", "web"))
    assert cluster.nodes[0].labels == (("zone", "a"),)


def test_kind_cluster_marker_is_accepted() -> None:
    cluster = load("kind: Cluster\napiVersion: k8s-netviz/v1\nname: marked\nnodes: [{name: n1}]\n")
    assert cluster.name == "marked"


def test_network_settings_are_read() -> None:
    cluster = load("""
network:
  overlay: flannel-host-gw
  bridge: cbr0
  kubeProxy: ipvs
  clusterDomain: k8s.example
  mtu: 9000
  ipMasq: false
  vxlanVNI: 4
  nodeNetwork: 10.0.0.0/24
nodes: [{name: n1}]
""")
    s = cluster.settings
    assert (s.overlay, s.bridge, s.kube_proxy_mode, s.cluster_domain, s.mtu, s.ip_masq, s.vxlan_vni) == (
        Overlay.FLANNEL_HOST_GW, Bridge.CBR0, KubeProxyMode.IPVS, "k8s.example", 9000, False, 4
    )
    assert s.overlay_mtu == 9000
    assert cluster.nodes[0].internal_ip == IPv4Address("10.0.0.11")


@pytest.mark.parametrize(("text", "expected"), [
    ("nodes: [{name: n1, ip: 300.1.1.1}]",
     "c.yaml:1:24: error: expected an IPv4 address, got '300.1.1.1' (nodes[0].ip)"),
    ("network: {podCIDR: 10.244.1.0/16}",
     "c.yaml:1:20: error: expected an IPv4 CIDR such as 10.244.0.0/16, got '10.244.1.0/16' (network.podCIDR)"),
    ("network: {nodePortRange: 32000-31000}",
     "c.yaml:1:26: error: expected a range such as 30000-32767, got '32000-31000' (network.nodePortRange)"),
    ("network: {mtu: 100}",
     "c.yaml:1:16: error: expected an integer (576-9216), got 100 (network.mtu)"),
    ("network: {podCIDR: 10.244.0.0/24, nodeCIDRMask: 16}\nnodes: [{name: n1}]",
     "c.yaml:1:49: error: nodeCIDRMask /16 is wider than the pod network 10.244.0.0/24 (network.nodeCIDRMask)"),
    ("nodes: [{ip: 10.0.0.1}]",
     "c.yaml:1:9: error: node needs 'name' (nodes[0])"),
    ("nodes: {name: n1}",
     "c.yaml:1:8: error: expected a list, got a mapping (nodes)"),
    ("services: [{name: s, ports: [70000]}]",
     "c.yaml:1:30: error: expected a port number (1-65535), got 70000 (services[0].ports[0])"),
    ("network: {overlay: calico}",
     "c.yaml:1:20: error: expected one of flannel-vxlan, flannel-host-gw, ovs-vxlan, got 'calico' "
     "(network.overlay) (hint: expected one of: flannel-vxlan, flannel-host-gw, ovs-vxlan)"),
    ("nodes: [{name: n1, pods: [{name: p, hostnetwork: true}]}]",
     "c.yaml:1:37: error: unknown key 'hostnetwork' in pod (nodes[0].pods[0].hostnetwork) "
     "(hint: did you mean 'hostNetwork'?)"),
    ("nodes: [{name: n1}]\nnodes: []",
     "c.yaml:2:1: error: duplicate key 'nodes' (nodes) (hint: first defined at line 1)"),
    ("nodes: [{name: n1}, {name: n1}]",
     "c.yaml:1:21: error: node n1 is defined twice (nodes[1]) (hint: first at c.yaml:1)"),
    ("nodes: [{name: a, ip: 10.0.0.1}, {name: b, ip: 10.0.0.1}]",
     "c.yaml:1:48: error: InternalIP 10.0.0.1 of node b is already used by node a (nodes[1].ip)"),
    ("nodes: [{name: a, podCIDR: 10.244.0.0/23}, {name: b, podCIDR: 10.244.1.0/24}]",
     "c.yaml:1:63: error: podCIDR 10.244.1.0/24 of node b overlaps node a's 10.244.0.0/23 (nodes[1].podCIDR)"),
    ("network: {podCIDR: 10.244.0.0/16}\nnodes: [{name: a, podCIDR: 10.50.0.0/24}]",
     "c.yaml:2:28: error: podCIDR 10.50.0.0/24 of node a is outside the pod network 10.244.0.0/16 "
     "(nodes[0].podCIDR)"),
    ("network: {serviceCIDR: 10.96.0.0/16}\nservices: [{name: s, clusterIP: 10.100.0.5, ports: [80]}]",
     "c.yaml:2:33: error: clusterIP 10.100.0.5 of default/s is outside the service network 10.96.0.0/16 "
     "(services[0].clusterIP)"),
    ("pods: [{name: p, node: n9}]\nnodes: [{name: n1}]",
     "c.yaml:1:24: error: node 'n9' of pod default/p is not defined (pods[0].node) (hint: expected one of: n1)"),
])
def test_cluster_yaml_errors(text: str, expected: str) -> None:
    result = load_sources([("c.yaml", text.encode())])
    assert [str(p) for p in result.errors] == [expected]


def test_full_pod_cidr_is_an_error() -> None:
    pods = ", ".join(f"{{name: p{i}}}" for i in range(6))
    result = load_sources([("c.yaml", f"nodes: [{{name: n1, podCIDR: 10.1.1.0/29, pods: [{pods}]}}]".encode())])
    assert [str(p) for p in result.errors] == [
        "c.yaml:1:1: error: no free pod IP left in n1's podCIDR 10.1.1.0/29 for kube-system/coredns-868cd75d4-2mcc9",
        "c.yaml:1:1: error: no free pod IP left in n1's podCIDR 10.1.1.0/29 for kube-system/coredns-868cd75d4-9v5v2",
        "c.yaml:1:109: error: no free pod IP left in n1's podCIDR 10.1.1.0/29 for default/p5 (nodes[0].pods[5])",
    ]


def test_published_json_schema_is_generated_from_the_field_table() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()
    assert set(json_schema()["$defs"]) == set(OBJECTS) - {"cluster"}


@pytest.mark.parametrize("name", ["seed-article", "flannel-host-gw", "flannel-vxlan"])
def test_samples_validate_against_the_json_schema(name: str) -> None:
    sample = next(s for s in list_samples() if s.name == name)
    jsonschema.validate(yaml.safe_load(sample.path.read_text()), json_schema())


def test_every_field_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "cluster-yaml.md").read_text()
    for name, spec in OBJECTS.items():
        assert f"### {name}\n" in doc
        section = doc.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for key in spec.fields:
            assert f"| `{key}` |" in section, (name, key)


def test_json_schema_rejects_unknown_keys() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"nodes": [{"name": "n", "podCIRD": "10.0.0.0/24"}]}, json_schema())
