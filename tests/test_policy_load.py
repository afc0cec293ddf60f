"""Reading NetworkPolicies, Namespaces and the network plugin: manifests, the concise cluster YAML form, and the
`policy` command."""

from __future__ import annotations

import json
import textwrap
from ipaddress import IPv4Network

from webapp.cli import main
from webapp.loaders import load_sources
from webapp.model import (
    IPBlock,
    LabelRequirement,
    LabelSelector,
    NetworkPlugin,
    NetworkPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    PolicyType,
    Protocol,
    SelectorOperator,
)
from webapp.problems import Severity

FULL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: backend}
spec:
  podSelector:
    matchLabels: {app: api}
    matchExpressions:
      - {key: track, operator: NotIn, values: [canary]}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: shop}}
          podSelector: {matchExpressions: [{key: app, operator: Exists}]}
        - ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}
      ports:
        - {port: http}
        - {protocol: UDP, port: 9000, endPort: 9010}
    - {}
  egress:
    - to: [{namespaceSelector: {}}]
"""


def load(*texts: str):
    return load_sources([(f"f{i}.yaml", textwrap.dedent(t).encode()) for i, t in enumerate(texts)])


def test_a_manifest_policy_keeps_every_field_and_defaults_policy_types() -> None:
    result = load(FULL)
    assert result.errors == ()
    (policy,) = result.cluster.network_policies
    assert policy == NetworkPolicy(
        namespace="backend", name="api",
        pod_selector=LabelSelector((("app", "api"),), (LabelRequirement("track", SelectorOperator.NOT_IN,
                                                                         ("canary",)),)),
        policy_types=(PolicyType.INGRESS, PolicyType.EGRESS),
        ingress=(
            PolicyRule(
                peers=(PolicyPeer(pod_selector=LabelSelector((), (LabelRequirement("app", SelectorOperator.EXISTS),)),
                                  namespace_selector=LabelSelector((("team", "shop"),))),
                       PolicyPeer(ip_block=IPBlock(IPv4Network("203.0.113.0/24"),
                                                   (IPv4Network("203.0.113.128/25"),)))),
                ports=(PolicyPort(Protocol.TCP, "http"), PolicyPort(Protocol.UDP, 9000, 9010))),
            PolicyRule(),
        ),
        egress=(PolicyRule(peers=(PolicyPeer(namespace_selector=LabelSelector()),)),),
        source=policy.source,
    )
    assert (policy.source.file, policy.source.line) == ("f0.yaml", 1)


def test_bad_policy_fields_are_reported_at_their_place() -> None:
    bad = FULL.replace("operator: NotIn, values: [canary]", "operator: Near, values: [canary]").replace(
        "except: [203.0.113.128/25]", "except: [198.51.100.0/24]").replace(
        "port: 9000, endPort: 9010", "port: web, endPort: 9010").replace(
        "    - {}\n", "    - {}\n    - from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]\n")
    result = load(bad)
    assert result.cluster is None
    assert [str(p) for p in result.errors] == [
        "f0.yaml:8:32: error: expected one of In, NotIn, Exists, DoesNotExist, got 'Near' "
        "(spec.podSelector.matchExpressions[0].operator) (hint: expected one of: In, NotIn, Exists, DoesNotExist)",
        "f0.yaml:13:52: error: except 198.51.100.0/24 is not a strict subset of cidr 203.0.113.0/24 "
        "(spec.ingress[0].from[1].ipBlock.except[0])",
        "f0.yaml:16:47: error: endPort needs a numeric port (spec.ingress[0].ports[1].endPort) "
        "(hint: give port as the first port of the range)",
        "f0.yaml:18:24: error: ipBlock cannot be combined with podSelector or namespaceSelector in one peer "
        "(spec.ingress[2].from[0].ipBlock) (hint: write it as a peer of its own)",
    ]


def test_namespaces_get_the_metadata_name_label_given_or_only_named() -> None:
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: backend, labels: {team: shop}}\n"
    cluster = load(FULL, namespace).cluster
    assert [(n.name, n.labels) for n in cluster.namespace_objects] == [
        ("backend", (("kubernetes.io/metadata.name", "backend"), ("team", "shop"))),
        ("default", (("kubernetes.io/metadata.name", "default"),)),
        ("kube-system", (("kubernetes.io/metadata.name", "kube-system"),)),
    ]


def configmap(name: str, data: str = "{}") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: kube-system}}\ndata: {data}\n"


def test_the_network_plugin_as_manifests_declare_it() -> None:
    flannel = configmap("kube-flannel-cfg", "{net-conf.json: '{\"Network\": \"10.42.0.0/16\"}'}")
    assert load(flannel).cluster.settings.network_plugin == NetworkPlugin.FLANNEL
    canal = load(configmap("canal-config", "{net-conf.json: '{\"Network\": \"10.42.0.0/16\", "
                                           "\"Backend\": {\"Type\": \"host-gw\"}}'}"))
    settings = canal.cluster.settings
    assert (settings.network_plugin, str(settings.pod_cidr), settings.overlay, canal.warnings) == (
        NetworkPlugin.CANAL, "10.42.0.0/16", "flannel-host-gw", ())
    daemonset = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: canal, namespace: kube-system}\n"
                 "spec: {template: {metadata: {labels: {k8s-app: canal}}, spec: {hostNetwork: true, "
                 "containers: [{name: calico-node}]}}}\n")
    assert load(daemonset).cluster.settings.network_plugin == NetworkPlugin.CANAL
    calico = load(configmap("calico-config", "{calico_backend: bird}"))
    assert calico.cluster.settings.network_plugin == NetworkPlugin.CANAL
    assert [(p.severity, p.line, p.col, p.message) for p in calico.warnings] == [(
        Severity.WARNING, 3, 18, "calico-config declares Calico: its own datapath (cali veths, /32 routes, "
        "IPIP/VXLAN/BGP) is not modelled yet, so the cluster is drawn as Canal (flannel's datapath with Calico's "
        "policy enforcement)")]


def test_canal_cannot_draw_the_ovs_overlay() -> None:
    result = load("network: {overlay: ovs-vxlan, plugin: canal}\n")
    assert [str(p) for p in result.errors] == [
        "f0.yaml:1:39: error: canal runs flannel's datapath: it cannot draw the ovs-vxlan overlay (network.plugin) "
        "(hint: use overlay flannel-vxlan or flannel-host-gw, or network plugin flannel)"]


def test_the_concise_form_reports_a_peer_the_api_would_reject() -> None:
    result = load("policies:\n  - name: p\n    ingress:\n      - from: [{cidr: 10.0.0.0/8, except: [10.0.0.0/8]}]\n")
    assert [str(p) for p in result.errors] == [
        "f0.yaml:4:44: error: except 10.0.0.0/8 is not a strict subset of cidr 10.0.0.0/8 "
        "(policies[0].ingress[0].from[0].except[0])"]


def test_the_policy_command_prints_the_matrix(capsys) -> None:
    assert main(["policy", "--sample", "policy-shop", "--port", "5432", "--namespace", "database"]) == 0
    assert capsys.readouterr().out == (
        "port 5432/TCP · canal enforces NetworkPolicy · 1 pods: 1 allowed, 0 denied, 0 not-enforced\n"
        "rows: from, columns: to · + allowed, x denied, ~ would be denied, not enforced\n"
        "\n"
        "                 1\n"
        "1 database/db-0  +\n")
    assert main(["policy", "--sample", "policy-shop", "--port", "8080", "--namespace", "backend", "--json",
                 "--network-plugin", "flannel"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["plugin"], out["enforced"], out["pods"]) == ("flannel", False, ["backend/api-1", "backend/api-2"])
    assert out["cells"][0][1] == {
        "state": "not-enforced", "direction": "egress", "policy": None, "rule": "",
        "reason": "selected by backend/allow-dns, backend/api, backend/default-deny (default deny): no rule allows "
                  "port 8080/TCP to backend/api-2; but flannel does not implement NetworkPolicy: would be denied, "
                  "not enforced"}
