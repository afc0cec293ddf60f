"""Loader robustness as a property (issue 14): every input, in YAML or JSON, of every kind the loader reads,
with wrong types, missing and extra keys, aliases, unicode, huge numbers and cut-off text, either loads or
yields problems that each name the file and a 1-based line and column — it never raises.

Structure-aware: each example starts from a valid object of one kind and mutates it (a value replaced, a key
dropped or added, a subtree shared so that YAML writes it as an anchor and aliases), then writes it as YAML
or JSON and, sometimes, cuts the text short. Derandomized and database-free, so CI runs the same examples
every time."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.loaders import load_sources

EXAMPLES = 3000

_META = {"name": "web-1", "namespace": "default", "labels": {"app": "web"}}
_CONTAINERS = [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}]
_TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": _CONTAINERS, "nodeName": "node-1"}}
BASES: dict[str, dict[str, Any]] = {
    "Node": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"a": "b"}},
             "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "taints": [{"effect": "NoSchedule"}]},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.11"}],
                        "conditions": [{"type": "Ready", "status": "True"}]}},
    "Pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {**_META, "ownerReferences": [
                {"kind": "ReplicaSet", "name": "web-5d8f", "controller": True}]},
            "spec": {"nodeName": "node-1", "containers": _CONTAINERS, "hostNetwork": False},
            "status": {"podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}], "phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True"}]}},
    "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "selector": {"app": "web"},
                         "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080}],
                         "externalIPs": ["203.0.113.9"], "externalName": "example.com",
                         "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                         "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                         "loadBalancerSourceRanges": ["10.0.0.0/8"]},
                "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.100"}]}}},
    "Endpoints": {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
                  "subsets": [{"addresses": [{"ip": "10.244.0.5", "nodeName": "node-1",
                                              "targetRef": {"kind": "Pod", "name": "web-1"}}],
                               "notReadyAddresses": [{"ip": "10.244.0.6"}], "ports": [{"name": "http", "port": 80}]}]},
    "EndpointSlice": {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                      "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                      "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": True}, "nodeName": "node-1",
                                     "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}]},
    "NetworkPolicy": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny"},
                      "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                               "ingress": [{"from": [{"podSelector": {}}]}]}},
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-flannel-cfg"},
                  "data": {"net-conf.json": '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1}}'}},
    "KubeProxyConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy"},
                           "data": {"config.conf": "kind: KubeProxyConfiguration\nmode: ipvs\n"}},
    "KubeProxyConfiguration": {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
                               "mode": "iptables", "clusterCIDR": "10.244.0.0/16"},
    **{kind: {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"},
              "spec": {"replicas": 2, "template": _TEMPLATE}}
       for kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")},
    "cluster": {"name": "c", "namespace": "default",
                "network": {"overlay": "flannel-vxlan", "podCIDR": "10.244.0.0/16", "nic": "eth0", "mtu": 1500},
                "nodes": [{"name": "node-1", "ip": "192.168.0.11", "labels": {"a": "b"},
                           "pods": [{"name": "web-1", "labels": {"app": "web"},
                                     "containers": [{"name": "web", "ports": [80, {"port": 81, "name": "alt"}]}]}]}],
                "pods": [{"name": "free", "node": "node-1"}],
                "services": [{"name": "web", "selector": {"app": "web"}, "ports": [80, {"port": 81, "targetPort": "alt"}],
                              "type": "ExternalName", "externalName": "example.com"},
                             {"name": "lb", "type": "LoadBalancer", "externalTrafficPolicy": "Local",
                              "ports": [{"port": 80, "nodePort": 30080}], "healthCheckNodePort": 30081}],
                "external": [{"name": "client", "ip": "203.0.113.10", "dnsName": "example.com"}]},
}
BASES["List"] = {"apiVersion": "v1", "kind": "List", "items": [BASES["Pod"], BASES["Service"], BASES["Node"]]}

WEIRD = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=False), st.text(max_size=40), st.text(alphabet="<>\"'&;$()\n \t/.:-*!#", max_size=20),
    st.just("x" * 300), st.just("None"), st.just(""), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), st.builds(lambda: {"kind": "List", "items": []}),
)
KEYS = st.one_of(st.sampled_from(["name", "kind", "apiVersion", "items", "spec", "metadata", "ports", "nodeName",
                                  "containers", "labels", "selector", "podCIDR", "ip", "type", "data", "nodes",
                                  "pods", "services", "network", "template", "externalName", "<<"]),
                 st.text(max_size=8))


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside `data`."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, prefix + (i,))
    return out


def _at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "drop", "add", "share"]))
        if not path:
            if action == "replace":
                data = draw(WEIRD)
            continue
        parent, last = _at(data, path[:-1]), path[-1]
        if action == "replace":
            parent[last] = draw(WEIRD)
        elif action == "drop":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(WEIRD)
        elif action == "share":  # the same object twice (YAML writes an anchor and an alias), or inside itself
            parent[last] = _at(data, draw(st.sampled_from(paths)))
            break  # the data may be circular now: no more walking it
    return data


def _text(data: Any, fmt: str) -> str:
    if fmt == "json":
        try:
            return json.dumps(data, ensure_ascii=False)
        except ValueError:  # a structure that contains itself (shared into its own subtree)
            return "{" + '"a": ' * 3
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=mutated(), fmt=st.sampled_from(["yaml", "json"]), cut=st.none() | st.floats(0, 1), multi=st.booleans())
def test_every_input_loads_or_yields_located_problems(data: Any, fmt: str, cut: float | None, multi: bool) -> None:
    text = _text(data, fmt)
    if multi and fmt == "yaml":
        text = text + "---\n" + yaml.safe_dump(BASES["Pod"])
    if cut is not None:
        text = text[: int(len(text) * cut)]
    name = f"input.{fmt}"
    result = load_sources([(name, text.encode())])
    assert result.cluster is not None or result.errors
    for problem in result.problems:
        assert problem.file == name and problem.line >= 1 and problem.col >= 1, problem
        assert "Error:" not in problem.message and "Traceback" not in problem.message, problem
        assert re.fullmatch(r"[EWN]-[A-Z0-9]+(?:-[A-Z0-9]+)*", problem.code), problem
        assert problem.code[0] == str(problem.severity)[0].upper(), problem
