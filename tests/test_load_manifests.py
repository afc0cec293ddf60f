"""Input B: real Kubernetes manifests — every form and kind of issue 2, the public fixtures, mixing with input A."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from webapp.loaders import load_paths, load_sources
from webapp.loaders.workloads import SAFE_ALPHABET, fnv32a, generated_suffix, pod_template_hash, safe_encode
from webapp.model import (
    KubeProxyMode,
    LabelSelector,
    Overlay,
    PolicyType,
    Protocol,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
)
from webapp.problems import Severity

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT.parent / "shared" / "public-manifests"
"""Real public manifests, beside the clone as on CI (`../shared`); their tests are skipped where it is absent."""
NEEDS_PUBLIC = pytest.mark.skipif(not PUBLIC.is_dir(), reason=f"{PUBLIC} is not there")
DATA = ROOT / "tests" / "data" / "manifests"
SUFFIX = f"[{SAFE_ALPHABET}]{{5}}"


def ok(result):
    assert result.errors == (), [str(p) for p in result.errors]
    assert result.cluster is not None
    return result.cluster


@pytest.mark.parametrize("name", sorted(p.name for p in PUBLIC.iterdir()) if PUBLIC.is_dir() else [])
@NEEDS_PUBLIC
def test_every_public_manifest_loads(name: str) -> None:
    ok(load_paths([PUBLIC / name]))


@NEEDS_PUBLIC
def test_public_fixtures_load_together() -> None:
    names = ["derailed-popeye__internal_lint_testdata_core_node_1.yaml", "flannel-io__Documentation_kube-flannel.yml",
             "derailed-popeye__internal_lint_testdata_core_ep_1.yaml", "derailed-k9s__internal_render_testdata_eps.json",
             "kubernetes-examples__web_guestbook_all-in-one_guestbook-all-in-one.yaml"]
    cluster = ok(load_paths([PUBLIC / name for name in names]))
    assert [n.name for n in cluster.nodes] == ["n1", "n2", "n3", "n4", "n5"]
    assert len([p for p in cluster.pods if p.owner == "DaemonSet/kube-flannel-ds"]) == 5


@NEEDS_PUBLIC
def test_the_same_service_in_two_files_is_an_error() -> None:
    names = ["kubernetes-examples__web_guestbook-go_redis-master-service.yaml",
             "kubernetes-examples__web_guestbook_all-in-one_guestbook-all-in-one.yaml"]
    result = load_paths([PUBLIC / name for name in names])
    assert [(p.line, p.message, p.hint) for p in result.errors] == [
        (1, "service default/redis-master is defined twice",
         f"first at {PUBLIC / names[0]}:1"),
    ]


@NEEDS_PUBLIC
def test_node_fixture_is_read_with_ips_cidrs_and_readiness() -> None:
    result = load_paths([PUBLIC / "derailed-popeye__internal_lint_testdata_core_node_1.yaml"])
    cluster = ok(result)
    assert [(n.name, str(n.internal_ip), str(n.pod_cidr), n.ready) for n in cluster.nodes] == [
        ("n1", "192.168.228.3", "10.244.0.0/24", True),
        ("n2", "192.168.228.2", "10.244.1.0/24", True),
        ("n3", "192.168.228.11", "10.244.2.0/24", True),
        ("n4", "192.168.228.12", "10.244.3.0/24", False),
        ("n5", "192.168.228.13", "10.244.4.0/24", True),
    ]
    assert ("node-role.kubernetes.io/control-plane", "") in cluster.nodes[0].labels
    assert [p.message for p in result.notices][:3] == [
        "node n3 has no InternalIP: gave it 192.168.228.11",
        "node n4 has no InternalIP: gave it 192.168.228.12",
        "node n5 has no InternalIP: gave it 192.168.228.13",
    ]
    # n2 is tainted NoSchedule and n4 unschedulable: the CoreDNS pods go elsewhere
    assert sorted(p.node for p in cluster.pods) == ["n1", "n3"]
    assert cluster.nodes[0].source is not None and cluster.nodes[0].source.line == 4


@NEEDS_PUBLIC
def test_endpoints_fixture_is_read_with_ips_node_names_and_pods() -> None:
    cluster = ok(load_paths([PUBLIC / "derailed-popeye__internal_lint_testdata_core_ep_1.yaml"]))
    rows = [(e.service, e.port_name, e.address, e.node, e.pod, e.ready) for e in cluster.endpoints
            if e.service.startswith("default/svc")]
    assert rows == [
        ("default/svc-none", "service", "10.244.1.19:3000", "n1", "default/p4", True),
        ("default/svc-none", "service", "10.244.1.19:3000", "n1", "default/p5", True),
        ("default/svc1", "http", "10.244.1.27:4000", "n1", "default/p1", True),
        ("default/svc2", "service", "10.244.1.19:3000", "n1", "default/p2", True),
    ]


@NEEDS_PUBLIC
def test_endpointslice_fixture_is_read_with_ips_node_names_and_conditions() -> None:
    result = load_paths([PUBLIC / "derailed-k9s__internal_render_testdata_eps.json"])
    cluster = ok(result)
    rows = [(e.service, e.port_name, e.address, e.protocol, e.node, e.pod, e.ready, e.serving, e.terminating)
            for e in cluster.endpoints if e.service == "blee/fred"]
    assert rows == [
        ("blee/fred", "peer-service", "172.20.0.2:4244", Protocol.TCP, "n-1", "kube-system/zorg", True, True, False),
        ("blee/fred", "peer-service", "172.20.0.3:4244", Protocol.TCP, "n-1", "kube-system/zorg", True, True, False),
    ]
    assert "EndpointSlice of blee/fred kept, though there is no Service blee/fred" in [
        p.message for p in result.notices
    ]


@NEEDS_PUBLIC
def test_flannel_manifest_sets_the_overlay_and_runs_its_daemonset_on_every_node() -> None:
    result = load_paths([PUBLIC / "flannel-io__Documentation_kube-flannel.yml"])
    cluster = ok(result)
    s = cluster.settings
    assert (s.cni, s.overlay, s.pod_cidr, s.vxlan_port) == ("flannel", Overlay.FLANNEL_VXLAN,
                                                            IPv4Network("10.244.0.0/16"), 8472)
    flannel = [p for p in cluster.pods if p.namespace == "kube-flannel"]
    assert [(p.node, p.host_network, p.pod_ip, p.owner) for p in flannel] == [
        ("node-2", True, IPv4Address("192.168.0.12"), "DaemonSet/kube-flannel-ds"),
        ("node-1", True, IPv4Address("192.168.0.11"), "DaemonSet/kube-flannel-ds"),
    ]
    assert all(re.fullmatch(f"kube-flannel-ds-{SUFFIX}", p.name) for p in flannel)
    assert flannel[0].containers[0].ports[0].name == "healthz"
    assert [p.message for p in result.notices if p.message.startswith("skipped")] == [
        "skipped a ClusterRole: not part of the network model",
        "skipped a ClusterRoleBinding: not part of the network model",
        "skipped a ServiceAccount: not part of the network model",
    ]


@pytest.mark.parametrize(("backend", "overlay"), [("host-gw", Overlay.FLANNEL_HOST_GW),
                                                  ("vxlan", Overlay.FLANNEL_VXLAN)])
def test_flannel_configmap_backends(backend: str, overlay: Overlay) -> None:
    text = f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: kube-flannel-cfg, namespace: kube-flannel}}
data:
  net-conf.json: |
    {{"Network": "10.50.0.0/16", "Backend": {{"Type": "{backend}", "VNI": 7, "Port": 4789}}}}
"""
    cluster = ok(load_sources([("f.yaml", text.encode())]))
    s = cluster.settings
    assert (s.overlay, s.pod_cidr, s.vxlan_vni, s.vxlan_port) == (overlay, IPv4Network("10.50.0.0/16"), 7, 4789)
    assert cluster.nodes[0].pod_cidr == IPv4Network("10.50.0.0/24")


def test_flannel_configmap_with_an_unsupported_backend() -> None:
    text = b"""apiVersion: v1
kind: ConfigMap
metadata: {name: kube-flannel-cfg}
data:
  net-conf.json: '{"Network": "10.50.0.0/16", "Backend": {"Type": "wireguard"}}'
"""
    assert [str(p) for p in load_sources([("f.yaml", text)]).errors] == [
        "f.yaml:5:18: error: flannel backend 'wireguard' is not supported (data.net-conf.json) "
        "(hint: use vxlan or host-gw)"
    ]


@NEEDS_PUBLIC
def test_guestbook_deployments_expand_into_pods_named_like_their_controllers() -> None:
    cluster = ok(load_paths([PUBLIC / "kubernetes-examples__web_guestbook_all-in-one_guestbook-all-in-one.yaml"]))
    app = [p for p in cluster.pods if p.namespace == "default"]
    assert [p.name.rsplit("-", 2)[0] for p in app] == ["frontend"] * 3 + ["redis-master"] + ["redis-replica"] * 2
    for pod in app:
        deployment, template_hash, suffix = pod.name.rsplit("-", 2)
        assert re.fullmatch(SUFFIX, suffix)
        assert set(template_hash) <= set(SAFE_ALPHABET) and 1 <= len(template_hash) <= 10
        assert pod.owner == f"ReplicaSet/{deployment}-{template_hash}"
        assert dict(pod.labels)["pod-template-hash"] == template_hash
    frontend = cluster.service_by_key["default/frontend"]
    assert frontend.type == ServiceType.NODE_PORT and frontend.ports[0].node_port == 30000
    assert len(cluster.endpoints_for(frontend, frontend.ports[0])) == 3


def test_statefulset_daemonset_replicaset_and_headless_service() -> None:
    result = load_paths([DATA / "workloads.yaml"])
    cluster = ok(result)
    names = {p.key: (p.node, str(p.pod_ip), p.owner) for p in cluster.pods if p.namespace != "kube-system"}
    exporters = sorted(k for k in names if k.startswith("monitoring/"))
    assert names["data/db-0"] == ("w1", "10.42.0.2", "StatefulSet/db")
    assert names["data/db-1"] == ("w2", "10.42.1.2", "StatefulSet/db")
    assert [names[k][:2] for k in exporters] == [("w2", "172.18.0.3"), ("w1", "172.18.0.2")]
    (cache,) = [k for k in names if k.startswith("default/cache-7d4b9c-")]
    assert re.fullmatch(f"default/cache-7d4b9c-{SUFFIX}", cache) and names[cache][2] == "ReplicaSet/cache-7d4b9c"
    assert cluster.pod_by_key["data/db-1"].labels == (("app", "db"), ("statefulset.kubernetes.io/pod-name", "db-1"))
    db = cluster.service_by_key["data/db"]
    assert db.headless and [e.address for e in cluster.endpoints_for(db, db.ports[0])] == [
        "10.42.0.2:5432", "10.42.1.2:5432"
    ]
    assert cluster.nodes[1].external_ip == IPv4Address("198.51.100.7")
    assert cluster.settings.pod_cidr == IPv4Network("10.42.0.0/16")
    assert "skipped 2 Secret objects: not part of the network model" in [p.message for p in result.notices]


def test_kubectl_list_json_with_owned_pods_slices_and_kube_proxy_config() -> None:
    result = load_paths([DATA / "kubectl-list.json"])
    cluster = ok(result)
    assert [p.key for p in cluster.pods if p.namespace == "shop"] == ["shop/web-5d8f7c9b4-abcde"]  # not re-expanded
    web = cluster.service_by_key["shop/web"]
    assert (web.type, str(web.cluster_ip), web.load_balancer_ips, web.external_traffic_policy,
            web.health_check_node_port, web.session_affinity, web.session_affinity_timeout) == (
        ServiceType.LOAD_BALANCER, "10.2.0.20", (IPv4Address("203.0.113.50"),), TrafficPolicy.LOCAL, 32000,
        SessionAffinity.CLIENT_IP, 600)
    assert web.ports[0].node_port == 31080 and web.ports[0].target_port == "http"
    # the EndpointSlice wins over the Endpoints object of the same service
    assert [(e.address, e.ready, e.serving, e.terminating) for e in cluster.endpoints_for(web, web.ports[0])] == [
        ("10.1.0.5:80", True, True, False), ("10.1.0.9:80", False, True, True)
    ]
    s = cluster.settings
    assert (s.kube_proxy_mode, s.pod_cidr, s.service_cidr) == (
        KubeProxyMode.IPVS, IPv4Network("10.1.0.0/16"), IPv4Network("10.2.0.0/16"))
    (policy,) = cluster.network_policies
    assert (policy.namespace, policy.name, policy.pod_selector, policy.policy_types, policy.ingress,
            policy.egress) == ("shop", "deny-all", LabelSelector((("app", "web"),)), (PolicyType.INGRESS,), (), ())
    assert [p.message for p in result.notices] == [
        "service network taken as 10.2.0.0/16, the range holding the services' clusterIPs",
        "no nodes given: made nodes k1, named by the pods",
        "added Service default/kubernetes (10.2.0.1:443 → the API server at 192.168.0.11:6443), as every "
        "cluster has it",
        "added Service kube-system/kube-dns (10.2.0.10), as every cluster has it",
        "added 2 CoreDNS pods (kube-system, k8s-app=kube-dns), as every cluster has them",
        "skipped a Succeeded Pod: a finished pod holds no IP",
    ]
    assert cluster.pod_by_key["shop/web-5d8f7c9b4-abcde"].source.line == 5


def test_a_given_kube_dns_service_sets_the_cluster_dns_ip() -> None:
    text = b"""apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.53
  selector: {k8s-app: kube-dns}
  ports: [{name: dns, port: 53, protocol: UDP}]
"""
    cluster = ok(load_sources([("dns.yaml", text)]))
    assert cluster.settings.cluster_dns_ip == IPv4Address("10.96.0.53")
    dns = cluster.service_by_key["kube-system/kube-dns"]
    assert [e.address for e in cluster.endpoints_for(dns, dns.ports[0])] == ["10.244.0.2:53", "10.244.1.2:53"]


def test_kube_proxy_configmap_of_kubeadm() -> None:
    text = b"""apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system}
data:
  config.conf: |
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    mode: ""
    clusterCIDR: 10.60.0.0/16
"""
    cluster = ok(load_sources([("kp.yaml", text)]))
    assert (cluster.settings.kube_proxy_mode, str(cluster.settings.pod_cidr)) == (KubeProxyMode.IPTABLES,
                                                                                 "10.60.0.0/16")


def test_same_objects_as_multidoc_yaml_list_and_json_give_the_same_cluster() -> None:
    objects = [
        '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}, "spec": {"podCIDR": "10.9.0.0/24"}, '
        '"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}',
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "x"}}, '
        '"spec": {"nodeName": "a", "containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}',
        '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, '
        '"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}',
    ]
    forms = {
        "multi.yaml": "\n---\n".join(objects),
        "list.yaml": '{"apiVersion": "v1", "kind": "List", "items": [' + ", ".join(objects) + "]}",
        "list.json": '{"apiVersion": "v1", "kind": "List", "items": [' + ",\n".join(objects) + "]}",
        "stream.json": "\n".join(objects),
    }
    shapes = set()
    for name, text in forms.items():
        cluster = ok(load_sources([(name, text.encode())]))
        shapes.add(tuple((p.key, p.node, str(p.pod_ip)) for p in cluster.pods)
                   + tuple((s.key, str(s.cluster_ip)) for s in cluster.services)
                   + tuple((e.service, e.address) for e in cluster.endpoints))
    assert len(shapes) == 1
    assert ("default/p", "a", "10.9.0.2") in next(iter(shapes))


def test_cluster_yaml_and_manifests_mix_in_one_load() -> None:
    cluster_yaml = b"network: {overlay: flannel-host-gw, kubeProxy: ipvs}\nnodes: [{name: n1}, {name: n2}]\n"
    pod = b"apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {nodeName: n2, containers: [{name: c}]}\n"
    cluster = ok(load_sources([("cluster.yaml", cluster_yaml), ("pod.yaml", pod)]))
    assert cluster.settings.overlay == Overlay.FLANNEL_HOST_GW
    assert (cluster.pod_by_key["default/web"].node, str(cluster.pod_by_key["default/web"].pod_ip)) == (
        "n2", "10.244.1.2")


def test_folder_is_read_recursively_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "nodes.yml").write_text("nodes: [{name: second}]\n")
    (tmp_path / "a.yaml").write_text("nodes: [{name: first}]\n")
    (tmp_path / "notes.txt").write_text("not read")
    cluster = ok(load_paths([tmp_path]))
    assert [n.name for n in cluster.nodes] == ["first", "second"]


def test_pods_on_unknown_nodes_are_errors() -> None:
    text = b"""nodes: [{name: n1}]
---
apiVersion: v1
kind: Pod
metadata: {name: lost}
spec: {nodeName: n7, containers: [{name: c}]}
"""
    assert [str(p) for p in load_sources([("x.yaml", text)]).errors] == [
        "x.yaml:6:18: error: node 'n7' of pod default/lost is not defined (spec.nodeName) "
        "(hint: expected one of: n1)"
    ]


def test_cluster_api_cluster_objects_are_not_our_format() -> None:
    text = b"apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: prod}\nspec: {}\n"
    result = load_sources([("capi.yaml", text)])
    assert result.ok
    assert "skipped a Cluster: not part of the network model" in [p.message for p in result.notices]


def test_a_multi_port_service_needs_port_names() -> None:
    text = b"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}, {port: 81}]\n"
    assert [str(p) for p in load_sources([("s.yaml", text)]).errors] == [
        "s.yaml:5:10: error: Service default/s has 2 ports: each needs a name (spec.ports)"
    ]


def test_unknown_kinds_are_notices_not_errors() -> None:
    text = b"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
    result = load_sources([("w.yaml", text)])
    assert result.ok
    assert [(p.severity, p.message) for p in result.problems if p.message.startswith("skipped")] == [
        (Severity.NOTICE, "skipped a Widget: not part of the network model")
    ]


def test_naming_helpers_follow_kubernetes() -> None:
    assert fnv32a(b"") == 0x811C9DC5 and fnv32a(b"a") == 0xE40C292C  # FNV-1a 32-bit test vectors
    assert safe_encode("0123456789") == "456789bcdf"
    assert generated_suffix("x") == generated_suffix("x") != generated_suffix("y")
    assert len(generated_suffix("x")) == 5
    assert pod_template_hash({"a": 1}) == safe_encode(str(fnv32a(b'{"a":1}')))


def test_two_containers_of_a_pod_on_one_port_are_an_error() -> None:
    """Per pod and per controller template (once, not per replica); 53/UDP beside 53/TCP is fine."""
    result = load_paths([DATA / "container-port-clash.yaml"])
    shared = "containers of a pod share one network namespace (the pause container's), so only one can listen on it"
    assert [str(p).replace(str(DATA) + "/", "") for p in result.errors + result.warnings] == [
        "container-port-clash.yaml:11:27: error: port 8080/TCP of pod default/clash is declared by containers one "
        f"and two; {shared} (spec.containers[1].ports[1].containerPort)",
        "container-port-clash.yaml:32:49: error: port 80/TCP of the pods of Deployment shop/web is declared by "
        f"containers nginx and envoy; {shared} (spec.template.spec.containers[1].ports[0].containerPort)",
    ]
    assert result.cluster is None


def test_a_broken_fifth_document_hides_no_clash_of_the_others() -> None:
    result = load_paths([DATA / "broken-fifth-document.yaml"])
    assert [str(p).replace(str(DATA) + "/", "") for p in result.problems] == [
        "broken-fifth-document.yaml:18:17: error: pod IP 10.244.1.5 of default/web-2 is already used by "
        "default/web-1 (status.podIP)",
        "broken-fifth-document.yaml:26:32: error: nodePort 30080 is already used by default/api "
        "(spec.ports[0].nodePort)",
        "broken-fifth-document.yaml:32:13: error: syntax error: mapping values are not allowed here",
    ]
    assert result.cluster is None
