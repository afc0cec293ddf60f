"""Any input gives a LoadResult — problems, never an exception (uploads must not take the app down)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.loaders import LoadResult, load_sources

KINDS = ["Node", "Pod", "Service", "Endpoints", "EndpointSlice", "NetworkPolicy", "Deployment", "StatefulSet",
         "DaemonSet", "ReplicaSet", "ConfigMap", "KubeProxyConfiguration", "List", "Widget"]
KEYS = ["metadata", "spec", "status", "name", "namespace", "labels", "ports", "port", "targetPort", "nodePort",
        "clusterIP", "podIP", "nodeName", "containers", "containerPort", "addresses", "subsets", "endpoints",
        "items", "type", "selector", "replicas", "template", "data", "net-conf.json", "mode", "conditions",
        "ip", "podCIDR", "hostNetwork", "nodes", "pods", "services", "network", "external", "overlay"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.sampled_from(
    ["10.244.0.5", "10.96.0.0/12", "None", "http", "TCP", "UDP", "NodePort", "1.2.3", "", "web", '{"Network": 1}']))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)
objects = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.one_of(st.sampled_from(KINDS), values)},
    optional={key: values for key in ["metadata", "spec", "status", "items", "data", "subsets", "endpoints",
                                      "ports", "mode", "clusterCIDR"]},
)
cluster_yaml = st.dictionaries(st.sampled_from(["nodes", "pods", "services", "network", "external", "name"]),
                               values, min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(objects, cluster_yaml), min_size=1, max_size=4))
def test_random_documents_never_raise(documents: list[dict]) -> None:
    text = "\n---\n".join(json.dumps(doc) for doc in documents).encode()
    result = load_sources([("fuzz.yaml", text)])
    assert isinstance(result, LoadResult)
    assert (result.cluster is None) == bool(result.errors)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(content: bytes) -> None:
    result = load_sources([("junk.yaml", content)])
    assert isinstance(result, LoadResult)


cidrs = st.builds(lambda a, b, p: f"10.{a}.{b}.0/{p}", st.integers(0, 255), st.sampled_from([0, 128]),
                  st.integers(16, 30))  # some have host bits set: those are errors, as they should be
ips = st.builds(lambda a, b, c: f"10.{a}.{b}.{c}", st.integers(0, 3), st.integers(0, 3), st.integers(0, 255))
pods = st.fixed_dictionaries({"name": st.sampled_from(["a", "b", "c", "d"])},
                             optional={"ip": ips, "hostNetwork": st.booleans(), "labels": st.just({"app": "x"}),
                                       "node": st.sampled_from(["n1", "n2", "n9"])})
services = st.fixed_dictionaries(
    {"name": st.sampled_from(["s", "t", "kubernetes"])},
    optional={"type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]),
              "clusterIP": st.one_of(ips, st.just("None")), "selector": st.just({"app": "x"}),
              "externalTrafficPolicy": st.sampled_from(["Cluster", "Local"]),
              "healthCheckNodePort": st.integers(29990, 30010),
              "ports": st.lists(st.one_of(st.integers(1, 65535), st.fixed_dictionaries(
                  {"port": st.integers(1, 65535)}, optional={"nodePort": st.integers(29990, 30010),
                                                             "targetPort": st.sampled_from([80, "http"])})),
                  max_size=3)})
semantic = st.fixed_dictionaries({}, optional={
    "network": st.fixed_dictionaries({}, optional={"podCIDR": cidrs, "serviceCIDR": cidrs,
                                                   "nodeCIDRMask": st.integers(8, 30),
                                                   "nodePortRange": st.just("30000-30003")}),
    "nodes": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["n1", "n2", "n3"])},
                                            optional={"ip": ips, "podCIDR": cidrs, "pods": st.lists(pods, max_size=3),
                                                      "schedulable": st.booleans(), "ready": st.booleans()}),
                      max_size=3),
    "pods": st.lists(pods, max_size=4),
    "services": st.lists(services, max_size=3),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(semantic)
def test_valid_shapes_with_clashing_values_never_raise(cluster: dict) -> None:
    result = load_sources([("c.yaml", json.dumps(cluster).encode())])
    assert isinstance(result, LoadResult)
    assert (result.cluster is None) == bool(result.errors)
