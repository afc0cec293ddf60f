"""The one SRC/DST grammar (webapp.engine.specs): what `parse_spec` reads, what the `Spec` constructors write, that
nothing else in webapp/ parses a spec, and that every pair the picker offers (`candidate_flows`) traces — over the
samples and over small generated clusters with awkward names and addresses (Hypothesis)."""

import ast
import json
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from factories import two_node_cluster
from webapp.engine.flows import FlowType, candidate_flows, destination_protocol, offers, resolve_flow, trace_flow
from webapp.engine.specs import End, Spec, SpecKind, parse_spec
from webapp.engine.trace import SocketAddress
from webapp.loaders import load_sample, load_sources
from webapp.model import KubeProxyMode

WEBAPP = Path(__file__).resolve().parents[1] / "webapp"
SAMPLES = ("seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook")


@pytest.mark.parametrize(("text", "end", "expected"), [
    ("pod/client", End.SOURCE, Spec(SpecKind.POD, "pod/client", "client")),
    ("pod/kube-system/dns:coredns", End.SOURCE,
     Spec(SpecKind.POD, "pod/kube-system/dns:coredns", "dns", "kube-system", container="coredns")),
    (" node/node-1 ", End.SOURCE, Spec(SpecKind.NODE, " node/node-1 ", "node-1")),
    ("203.0.113.10", End.SOURCE, Spec(SpecKind.ADDRESS, "203.0.113.10", ip=IPv4Address("203.0.113.10"))),
    ("pod/web-a:http", End.DESTINATION, Spec(SpecKind.POD, "pod/web-a:http", "web-a", port="http")),
    ("pod/default/web-a:080", End.DESTINATION, Spec(SpecKind.POD, "pod/default/web-a:080", "web-a", "default",
                                                    port="80")),
    ("svc/web", End.DESTINATION, Spec(SpecKind.SERVICE, "svc/web", "web")),
    ("svc/kube-system/kube-dns:dns", End.DESTINATION,
     Spec(SpecKind.SERVICE, "svc/kube-system/kube-dns:dns", "kube-dns", "kube-system", port="dns")),
    ("node/node-2:10250", End.DESTINATION, Spec(SpecKind.NODE, "node/node-2:10250", "node-2", port="10250")),
    ("localhost:9090", End.DESTINATION,
     Spec(SpecKind.LOCALHOST, "localhost:9090", ip=IPv4Address("127.0.0.1"), port="9090")),
    ("10.96.0.10:53", End.DESTINATION,
     Spec(SpecKind.ADDRESS, "10.96.0.10:53", ip=IPv4Address("10.96.0.10"), port="53")),
    ("web.default.svc.cluster.local.:80", End.DESTINATION,
     Spec(SpecKind.DNS_NAME, "web.default.svc.cluster.local.:80", "web.default.svc.cluster.local", port="80")),
])
def test_parse_spec_reads_every_form_of_the_contract(text, end, expected):
    assert parse_spec(text, end) == expected


def test_one_default_namespace_rule_for_pods_and_services():
    """`[NS/]NAME`: the namespace is what comes before the last `/`; omitted or empty, it is `default` — for a
    source, a destination and the protocol look-up alike (destination_protocol used to look `pod//x` up as `/x`)."""
    assert [parse_spec(t, End.DESTINATION).key for t in ("pod/web:80", "pod//web:80", "pod/team/web:80",
                                                           "svc/web", "svc//web:80")] == [
        "default/web", "default/web", "team/web", "default/web", "default/web"]
    assert parse_spec("pod//client", End.SOURCE).key == "default/client"
    cluster = load_sample("seed-article")
    assert destination_protocol(cluster, "pod//coredns-868cd75d4-2mcc9:dns") == "tcp"  # not in default
    assert destination_protocol(cluster, "pod/kube-system/coredns-868cd75d4-2mcc9:dns") == "udp"
    assert trace_flow(two_node_cluster(), "pod//client", "pod//web-a:80").flow.type == FlowType.POD_TO_POD_SAME_NODE


@pytest.mark.parametrize(("text", "end", "message"), [
    ("banana", End.SOURCE, "banana: not a source; use pod/[NS/]NAME[:CONTAINER], node/NAME or an IP address"),
    ("10.0.0.1:80", End.SOURCE,
     "10.0.0.1:80: not a source; use pod/[NS/]NAME[:CONTAINER], node/NAME or an IP address"),
    ("pod/web-a", End.DESTINATION, "pod/web-a: a destination needs a port (e.g. pod/web-a:80)"),
    ("node/node-1:http", End.DESTINATION, "node/node-1:http: 'http' is not a port number (1-65535)"),
    ("localhost:0", End.DESTINATION, "localhost:0: '0' is not a port number (1-65535)"),
    ("banana:80", End.DESTINATION, "banana:80: not a destination; use IP:PORT, pod/[NS/]NAME:PORT, "
                                   "svc/[NS/]NAME[:PORT], node/NAME:PORT or localhost:PORT"),
])
def test_parse_spec_says_what_is_wrong_with_the_text(text, end, message):
    with pytest.raises(ValueError) as raised:
        parse_spec(text, end)
    assert str(raised.value) == message


def test_dns_names_resolve_through_the_cluster_domain():
    cluster = load_sample("seed-article")
    flow = resolve_flow(cluster, "pod/default/web-1", "api-lb.default.svc.cluster.local:80")
    assert (flow.type, flow.target.spec.text, flow.destination.kind) == (
        FlowType.POD_TO_SERVICE, "svc/default/api-lb:80", SpecKind.DNS_NAME)
    with pytest.raises(ValueError, match=r"^nope\.default\.svc\.cluster\.local:80: the cluster DNS has no service "
                                         r"nope\.default\.svc\.cluster\.local \(NXDOMAIN\)$"):
        resolve_flow(cluster, "pod/default/web-1", "nope.default.svc.cluster.local:80")
    with pytest.raises(ValueError, match=r"^example\.org:443: not a destination; use IP:PORT"):
        resolve_flow(cluster, "pod/default/web-1", "example.org:443")


def test_the_constructors_write_what_the_parser_reads():
    cluster = two_node_cluster()
    pod, node, service = cluster.pod_by_key["default/duo"], cluster.nodes[1], cluster.services[0]
    assert [s.text for s in (Spec.of_pod(pod), Spec.of_pod(pod, "metrics"), Spec.of_node(node),
                             Spec.of_address(IPv4Address("198.51.100.7")), Spec.to_pod(pod, 8080),
                             Spec.to_node(node, 10250), Spec.to_service(service, service.ports[0]),
                             Spec.to_service(service), Spec.to_address(SocketAddress(IPv4Address("10.96.0.20"), 80)),
                             Spec.to_localhost(9090))] == [
        "pod/default/duo", "pod/default/duo:metrics", "node/node-2", "198.51.100.7", "pod/default/duo:8080",
        "node/node-2:10250", "svc/default/web:http", "svc/default/web", "10.96.0.20:80", "localhost:9090"]


def test_a_name_the_grammar_cannot_write_is_refused_by_the_constructors():
    from dataclasses import replace

    cluster = two_node_cluster()
    odd = replace(cluster.services[0], name="we:b")
    with pytest.raises(ValueError, match=r"^svc/default/we:b:http: cannot be written as a destination spec"):
        Spec.to_service(odd, odd.ports[0])
    with pytest.raises(ValueError, match=r"^pod/default/a:b: cannot be written as a source spec"):
        Spec.of_pod(replace(cluster.pods[0], name="a:b"))


def _functions_and_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))} | {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
        node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_only_one_function_parses_a_spec():
    """The old entry points (flows.parse_source/parse_target, services.service_for_dns_name, the app's own
    splitting in state.flow_type_of) are gone; `parse_spec` is defined once; neither the flows nor the app spell a
    spec's head (`pod/`, `svc/`, `node/`, `localhost`) themselves: they build specs with `Spec`'s constructors."""
    old = {"parse_source", "parse_target", "service_for_dns_name", "trace_dict"}
    definitions = []
    for path in WEBAPP.rglob("*.py"):
        assert not old & _functions_and_names(path), (path, old & _functions_and_names(path))
        tree = ast.parse(path.read_text())
        definitions += [path.name for node in ast.walk(tree)
                        if isinstance(node, ast.FunctionDef) and node.name == "parse_spec"]
        if path.parent.name == "app" or path.name == "flows.py":
            found = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Constant)
                     and node.value in ("pod/", "svc/", "node/", "localhost")]
            assert found == [], (path, found)
    assert definitions == ["specs.py"]


def test_offers_rejects_what_the_resolver_rejects_or_types_otherwise():
    cluster = two_node_cluster()
    client, web = Spec.of_pod(cluster.pod_by_key["default/client"]), cluster.pod_by_key["default/web-b"]
    assert offers(cluster, FlowType.POD_TO_POD_CROSS_NODE, client, Spec.to_pod(web, 80))
    assert not offers(cluster, FlowType.POD_TO_POD_SAME_NODE, client, Spec.to_pod(web, 80))
    inside = Spec.of_address(IPv4Address("10.244.0.99"))  # a "client" inside the pod network: no pod has it
    assert not offers(cluster, FlowType.EXTERNAL_TO_POD, inside, Spec.to_pod(web, 80))


def test_an_outside_host_inside_the_pod_network_is_not_offered():
    """Issue 14's fuzz finding: the cluster's external host at 10.244.0.77 (inside the pod CIDR, held by no pod) was
    offered as the outside client (the engine refuses it) and as pod-to-external's server (it traces as
    pod-to-pod-cross-node). Neither is offered now; the other types keep their choices."""
    from dataclasses import replace

    cluster = two_node_cluster()
    inside = replace(cluster, external_hosts=(replace(cluster.external_hosts[0], ip=IPv4Address("10.244.0.77")),))
    offered = candidate_flows(inside)
    assert FlowType.EXTERNAL_TO_POD not in offered and FlowType.POD_TO_EXTERNAL not in offered
    assert {kind: len(pairs) for kind, pairs in offered.items()} == {
        kind: len(pairs) for kind, pairs in candidate_flows(cluster).items()
        if kind not in (FlowType.EXTERNAL_TO_POD, FlowType.POD_TO_EXTERNAL)}


def _assert_every_candidate_traces(cluster) -> int:
    count = 0
    for kind, pairs in candidate_flows(cluster).items():
        for src, dst in pairs:
            assert trace_flow(cluster, src, dst).flow.type == kind, (kind, src, dst)
            count += 1
    return count


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_offered_pair_of_every_sample_traces(sample):
    assert _assert_every_candidate_traces(load_sample(sample)) > 0


# --- small generated clusters: awkward names and addresses, through the real loader ------------------------

# Names the API server refuses (`a:b`, `x/y`, `we b`, `Web`, a list as a namespace) are refused at load since
# issue 14 (tests/test_load_hostile.py), so they never reach the picker; the names drawn here are the awkward ones
# that load: dots, dashes, a service named like a pod, one name in several namespaces.
NAMES = st.sampled_from(["web", "api", "db", "dns", "web-1", "a.b", "a-b", "x.y.z"])
NAMESPACES = st.sampled_from(["default", "team", "kube-system", "a-b"])
LABELS = st.sampled_from(["web", "api", "db", "dns", "web-1", "a-b"])
"""Container and port names: DNS-1123 labels and IANA service names (no dots)."""
PORTS = st.sampled_from([53, 80, 443, 8080, 9090])
EXTERNAL_IPS = st.sampled_from(["203.0.113.10", "10.244.0.77", "10.244.1.5", "10.96.0.99", "192.168.0.11",
                                "192.168.0.200", "198.51.100.7"])


@st.composite
def containers(draw):
    ports = draw(st.lists(st.fixed_dictionaries(
        {"port": PORTS}, optional={"name": LABELS, "protocol": st.sampled_from(["TCP", "UDP"])}), max_size=2))
    return {"name": draw(LABELS), "ports": ports}


@st.composite
def pods(draw, nodes):
    pod = {"name": draw(NAMES), "labels": {"app": draw(st.sampled_from(["web", "api"]))},
           "containers": draw(st.lists(containers(), min_size=1, max_size=2)), "node": draw(st.sampled_from(nodes))}
    if draw(st.booleans()):
        pod["namespace"] = draw(NAMESPACES)
    if draw(st.integers(0, 5)) == 0:
        pod["hostNetwork"] = True
    return pod


@st.composite
def services(draw):
    kind = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]))
    service = {"name": draw(NAMES), "type": kind, "selector": {"app": draw(st.sampled_from(["web", "api"]))},
               "ports": draw(st.lists(st.fixed_dictionaries(
                   {"port": PORTS}, optional={"name": LABELS, "protocol": st.sampled_from(["TCP", "UDP"])}),
                   max_size=2))}
    if draw(st.booleans()):
        service["namespace"] = draw(NAMESPACES)
    if kind == "LoadBalancer":
        service["loadBalancerIP"] = [draw(EXTERNAL_IPS)]
    if kind == "ExternalName":
        service["externalName"] = "example.org"
    if kind == "ClusterIP" and draw(st.integers(0, 3)) == 0:
        service["clusterIP"] = "None"
    if draw(st.integers(0, 3)) == 0:
        service["externalIPs"] = [draw(EXTERNAL_IPS)]
    return service


@st.composite
def clusters(draw):
    names = draw(st.lists(st.sampled_from(["node-1", "node-2", "n.3", "node-4"]), min_size=1, max_size=3,
                          unique=True))
    return {
        "name": "generated",
        "network": {"kubeProxy": draw(st.sampled_from(list(map(str, KubeProxyMode)))),
                    "overlay": draw(st.sampled_from(["flannel-vxlan", "flannel-host-gw", "ovs-vxlan"]))},
        "nodes": [{"name": n} for n in names],
        "pods": draw(st.lists(pods(names), max_size=5)),
        "services": draw(st.lists(services(), max_size=3)),
        "external": [{"name": "outside", "ip": draw(EXTERNAL_IPS), "dnsName": "example.org"}],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_every_offered_pair_of_a_generated_cluster_traces(document):
    """Whatever loads, the picker offers only pairs that trace, each to the flow type it is offered under."""
    result = load_sources([("generated.json", json.dumps(document).encode())])
    assume(result.cluster is not None)
    _assert_every_candidate_traces(result.cluster)
