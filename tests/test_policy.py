"""NetworkPolicy semantics (webapp.engine.policy): exact verdicts for every field of the API."""

from __future__ import annotations

import textwrap

import pytest

from webapp.engine.policy import Basis, PolicyVerdict, evaluate
from webapp.loaders import load_sources
from webapp.model import Cluster

BASE = """\
network: {plugin: canal}
namespaces:
  - {name: frontend, labels: {team: shop}}
  - {name: backend, labels: {team: shop}}
  - {name: database}
  - {name: other}
nodes:
  - name: node-1
    pods:
      - {name: web, namespace: frontend, labels: {app: web, tier: front},
         containers: [{name: web, ports: [{port: 80, name: http}]}]}
      - {name: admin, namespace: frontend, labels: {app: admin}}
      - {name: api, namespace: backend, labels: {app: api, version: v2},
         containers: [{name: api, ports: [{port: 8080, name: http-api}, {port: 9000, protocol: UDP}]}]}
  - name: node-2
    pods:
      - {name: worker, namespace: backend, labels: {app: worker}}
      - {name: db, namespace: database, labels: {app: db}, containers: [{name: db, ports: [{port: 5432, name: pg}]}]}
      - {name: webdb, namespace: database, labels: {app: web}}
      - {name: web, namespace: other, labels: {app: web}}
"""


def cluster(*manifests: str, plugin: str = "canal") -> Cluster:
    sources = [("base.yaml", BASE.replace("plugin: canal", f"plugin: {plugin}").encode())]
    sources += [(f"np{i}.yaml", textwrap.dedent(m).encode()) for i, m in enumerate(manifests)]
    result = load_sources(sources)
    assert result.errors == () and result.cluster is not None, [str(p) for p in result.problems]
    return result.cluster


def policy(namespace: str, name: str, spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec), "  ")
    return (f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: "
            f"{namespace}}}\nspec:\n{body}")


def brief(v: PolicyVerdict) -> tuple[object, ...]:
    return (v.egress.allowed, v.egress.basis, v.ingress.allowed, v.ingress.basis, v.ingress.policy,
            v.ingress.reference)


DENY_BACKEND = policy("backend", "default-deny", "podSelector: {}\n")


def test_no_policy_selects_either_pod_so_everything_is_allowed() -> None:
    v = evaluate(cluster(), "frontend/web", "backend/api", 8080)
    assert (v.allowed, v.enforced, v.delivered, v.denied_by) == (True, True, True, None)
    assert v.egress.reason == "no policy selects frontend/web for egress: allowed"
    assert v.ingress.reason == "no policy selects backend/api for ingress: allowed"


def test_default_deny_ingress_with_its_exact_reason() -> None:
    v = evaluate(cluster(DENY_BACKEND), "frontend/web", "backend/api", 81)
    assert (v.allowed, v.delivered) == (False, False)
    assert v.denied_by is v.ingress
    assert (v.ingress.basis, v.ingress.policy, v.ingress.rule, v.ingress.selecting) == (
        Basis.DEFAULT_DENY, None, "", ("backend/default-deny",))
    assert v.ingress.reason == ("selected by backend/default-deny (default deny): no rule allows port 81/TCP "
                                "from frontend/web")
    assert (v.egress.basis, v.egress.allowed) == (Basis.NOT_SELECTED, True)


def test_flannel_does_not_enforce_so_a_denied_connection_is_delivered() -> None:
    v = evaluate(cluster(DENY_BACKEND, plugin="flannel"), "frontend/web", "backend/api", 8080)
    assert (v.allowed, v.enforced, v.delivered) == (False, False, True)


ONE_PEER = policy("backend", "one-peer", """\
    podSelector: {matchLabels: {app: api}}
    ingress:
      - from:
          - namespaceSelector: {matchLabels: {team: shop}}
            podSelector: {matchLabels: {app: web}}
    """)
TWO_PEERS = policy("database", "two-peers", """\
    podSelector: {}
    ingress:
      - from:
          - namespaceSelector: {matchLabels: {team: shop}}
          - podSelector: {matchLabels: {app: web}}
    """)


@pytest.mark.parametrize(("src", "expected"), [
    ("frontend/web", (True, "spec.ingress[0].from[0]")),  # app=web in a team=shop namespace
    ("frontend/admin", (False, "")),                      # team=shop, but not app=web
    ("other/web", (False, "")),                           # app=web, but other has no team=shop
    ("backend/worker", (False, "")),
])
def test_one_peer_with_both_selectors_needs_both(src: str, expected: tuple[bool, str]) -> None:
    v = evaluate(cluster(ONE_PEER), src, "backend/api", 8080)
    assert (v.ingress.allowed, v.ingress.rule) == expected


@pytest.mark.parametrize(("src", "expected"), [
    ("frontend/admin", (True, "spec.ingress[0].from[0]")),  # any pod of a team=shop namespace
    ("backend/worker", (True, "spec.ingress[0].from[0]")),
    ("database/webdb", (True, "spec.ingress[0].from[1]")),  # app=web in the policy's own namespace
    ("other/web", (False, "")),                             # app=web elsewhere: the podSelector peer is local
])
def test_two_peers_allow_either(src: str, expected: tuple[bool, str]) -> None:
    v = evaluate(cluster(TWO_PEERS), src, "database/db", 5432)
    assert (v.ingress.allowed, v.ingress.rule) == expected


def test_an_allowing_rule_names_policy_peer_and_port() -> None:
    v = evaluate(cluster(ONE_PEER), "frontend/web", "backend/api", 8080)
    assert v.ingress.reason == "allowed by backend/one-peer spec.ingress[0].from[0]: port 8080/TCP from frontend/web"


NAMED = policy("backend", "named", """\
    podSelector: {}
    ingress:
      - ports: [{port: http-api}]
    """)


@pytest.mark.parametrize(("dst", "port", "expected"), [
    ("backend/api", 8080, (True, "spec.ingress[0]", "spec.ingress[0].ports[0]")),  # api declares http-api 8080
    ("backend/api", 8081, (False, "", "")),
    ("backend/worker", 8080, (False, "", "")),  # worker has no port named http-api
])
def test_named_port_resolves_on_the_destination_pod(dst: str, port: int, expected: tuple[bool, str, str]) -> None:
    v = evaluate(cluster(NAMED), "frontend/web", dst, port)
    assert (v.ingress.allowed, v.ingress.rule, v.ingress.port_rule) == expected


def test_named_port_in_an_egress_rule_resolves_on_the_destination() -> None:
    egress = policy("frontend", "to-pg", """\
        podSelector: {matchLabels: {app: web}}
        policyTypes: [Egress]
        egress:
          - ports: [{port: pg}]
        """)
    c = cluster(egress)
    assert evaluate(c, "frontend/web", "database/db", 5432).egress.port_rule == "spec.egress[0].ports[0]"
    assert evaluate(c, "frontend/web", "database/webdb", 5432).egress.allowed is False
    assert evaluate(c, "frontend/web", "203.0.113.10", 5432).egress.allowed is False  # no pod: no named port


RANGE = policy("backend", "range", """\
    podSelector: {}
    ingress:
      - ports: [{port: 9000, endPort: 9010, protocol: UDP}, {protocol: SCTP}]
    """)


@pytest.mark.parametrize(("port", "proto", "expected"), [
    (9000, "UDP", (True, "spec.ingress[0].ports[0]")),
    (9010, "UDP", (True, "spec.ingress[0].ports[0]")),
    (9011, "UDP", (False, "")),
    (8999, "UDP", (False, "")),
    (9005, "TCP", (False, "")),
    (7, "SCTP", (True, "spec.ingress[0].ports[1]")),  # a protocol without a port: every port of it
])
def test_end_port_ranges_and_protocols(port: int, proto: str, expected: tuple[bool, str]) -> None:
    v = evaluate(cluster(RANGE), "frontend/web", "backend/api", port, proto)
    assert (v.ingress.allowed, v.ingress.port_rule) == expected


EXCEPT = policy("backend", "outside", """\
    podSelector: {}
    ingress:
      - from: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
    """)


def test_ip_block_with_except() -> None:
    c = cluster(EXCEPT)
    allowed = evaluate(c, "203.0.113.10", "backend/api", 8080)
    assert (allowed.ingress.allowed, allowed.ingress.rule) == (True, "spec.ingress[0].from[0]")
    assert allowed.egress.reason == (
        "203.0.113.10 is not a pod on the pod network: no NetworkPolicy governs what it sends")
    denied = evaluate(c, "203.0.113.200", "backend/api", 8080)
    assert denied.ingress.reason == ("selected by backend/outside (default deny): no rule allows port 8080/TCP from "
                                     "203.0.113.200")
    assert evaluate(c, "frontend/web", "backend/api", 8080).ingress.allowed is False  # a pod is not in the block


def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() -> None:
    both = policy("frontend", "both", "podSelector: {}\negress: [{ports: [{port: 53, protocol: UDP}]}]\n")
    empty_egress = policy("backend", "empty-egress", "podSelector: {}\ningress: [{}]\negress: []\n")
    c = cluster(both, empty_egress)
    assert [p.policy_types for p in c.network_policies] == [("Ingress",), ("Ingress", "Egress")]
    v = evaluate(c, "frontend/web", "backend/api", 8080)
    assert (v.egress.allowed, v.egress.selecting) == (False, ("frontend/both",))
    assert v.egress.reason == ("selected by frontend/both (default deny): no rule allows port 8080/TCP to "
                               "backend/api")
    # backend's egress: [] left policyTypes at Ingress, so backend pods are not isolated for egress
    assert evaluate(c, "backend/api", "database/db", 5432).egress.basis == Basis.NOT_SELECTED


def test_an_empty_rule_allows_everything_and_an_empty_list_denies_everything() -> None:
    open_ingress = policy("backend", "open", "podSelector: {}\ningress: [{}]\n")
    closed_egress = policy("backend", "closed", "podSelector: {}\npolicyTypes: [Egress]\negress: []\n")
    c = cluster(open_ingress, closed_egress)
    v = evaluate(c, "other/web", "backend/api", 1234, "UDP")
    assert (v.ingress.allowed, v.ingress.rule, v.ingress.port_rule) == (True, "spec.ingress[0]", "")
    out = evaluate(c, "backend/api", "database/db", 5432)
    assert (out.egress.allowed, out.egress.selecting, out.ingress.basis) == (
        False, ("backend/closed",), Basis.NOT_SELECTED)


def test_isolation_is_per_direction() -> None:
    egress_only = policy("frontend", "egress-only", "podSelector: {}\npolicyTypes: [Egress]\n")
    c = cluster(egress_only)
    into = evaluate(c, "other/web", "frontend/web", 80)
    assert (into.ingress.basis, into.allowed) == (Basis.NOT_SELECTED, True)
    out = evaluate(c, "frontend/web", "other/web", 80)
    assert (out.egress.basis, out.allowed) == (Basis.DEFAULT_DENY, False)


@pytest.mark.parametrize(("expression", "selected"), [
    ("{key: app, operator: In, values: [api, worker]}", ["backend/api", "backend/worker"]),
    ("{key: app, operator: NotIn, values: [api]}", ["backend/worker"]),
    ("{key: version, operator: Exists}", ["backend/api"]),
    ("{key: version, operator: DoesNotExist}", ["backend/worker"]),
])
def test_match_expressions_operators(expression: str, selected: list[str]) -> None:
    c = cluster(policy("backend", "expr", f"podSelector: {{matchExpressions: [{expression}]}}\n"))
    assert [p for p in ("backend/api", "backend/worker")
            if evaluate(c, "frontend/web", p, 8080).ingress.basis == Basis.DEFAULT_DENY] == selected


def test_namespace_selector_by_the_metadata_name_label_every_namespace_has() -> None:
    by_name = policy("database", "from-backend", """\
        podSelector: {}
        ingress:
          - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: backend}}}]
        """)
    c = cluster(by_name)
    assert evaluate(c, "backend/worker", "database/db", 5432).ingress.rule == "spec.ingress[0].from[0]"
    assert evaluate(c, "frontend/web", "database/db", 5432).ingress.allowed is False
    assert c.labels_of_namespace("database") == (("kubernetes.io/metadata.name", "database"),)


def test_policies_are_additive_and_the_first_allowing_policy_decides() -> None:
    from_admin = policy("backend", "a-from-admin", """\
        podSelector: {}
        ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: admin}}}]}]
        """)
    c = cluster(DENY_BACKEND, from_admin, ONE_PEER)
    admin = evaluate(c, "frontend/admin", "backend/api", 8080).ingress
    web = evaluate(c, "frontend/web", "backend/api", 8080).ingress
    assert (admin.policy, admin.selecting) == ("backend/a-from-admin", (
        "backend/a-from-admin", "backend/default-deny", "backend/one-peer"))
    assert (web.policy, web.rule) == ("backend/one-peer", "spec.ingress[0].from[0]")


def test_nodes_own_node_is_never_filtered_other_nodes_match_ip_blocks() -> None:
    c = cluster(DENY_BACKEND)
    own = evaluate(c, "192.168.0.11", "backend/api", 8080)  # api runs on node-1
    assert (own.ingress.basis, own.allowed) == (Basis.OWN_NODE, True)
    assert own.ingress.reason == ("from node/node-1 (192.168.0.11), the node of backend/api: a pod cannot block its "
                                  "own node (Calico leaves host-to-pod traffic alone): allowed")
    other = evaluate(c, "192.168.0.12", "backend/api", 8080)
    assert other.ingress.reason == ("selected by backend/default-deny (default deny): no rule allows port 8080/TCP "
                                    "from node/node-2 (192.168.0.12)")
    vtep = evaluate(c, "10.244.1.0", "backend/api", 8080)  # node-2's flannel.1 address
    assert vtep.ingress.reason.endswith("from node/node-2 (10.244.1.0)")
    nodes = policy("backend", "nodes", "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 192.168.0.0/24}}]}]\n")
    assert evaluate(cluster(DENY_BACKEND, nodes), "192.168.0.12", "backend/api", 8080).ingress.policy == (
        "backend/nodes")


def test_to_a_node_or_outside_only_the_source_pods_egress_counts() -> None:
    c = cluster(policy("frontend", "no-egress", "podSelector: {}\npolicyTypes: [Egress]\n"))
    v = evaluate(c, "frontend/web", "192.168.0.12", 10250)
    assert (v.egress.allowed, v.ingress.basis) == (False, Basis.NOT_A_POD)
    assert v.ingress.reason == ("node/node-2 (192.168.0.12) is not a pod on the pod network: no NetworkPolicy "
                                "governs what it receives")


def test_a_pod_talking_to_itself_is_never_filtered() -> None:
    v = evaluate(cluster(DENY_BACKEND), "backend/api", "backend/api", 8080)
    assert (brief(v), v.ingress.reason) == (
        (True, Basis.SAME_POD, True, Basis.SAME_POD, None, ""),
        "backend/api talks to its own address over lo: no NetworkPolicy sees it")


# --- the matrix ------------------------------------------------------------------------------------------------

def test_every_matrix_cell_is_what_evaluate_says() -> None:
    from webapp.engine.policy_matrix import CellState, policy_matrix

    c = cluster(DENY_BACKEND, ONE_PEER, TWO_PEERS, NAMED, EXCEPT,
                policy("frontend", "egress", "podSelector: {matchLabels: {app: admin}}\n"
                                             "egress: [{ports: [{port: pg}]}]\n"))
    for port in (8080, 5432):
        matrix = policy_matrix(c, port)
        assert len(matrix.pods) == 9 and len(set(matrix.group_of.values())) == 8  # the two CoreDNS pods are alike
        for src in matrix.pods:
            for dst in matrix.pods:
                expected = evaluate(c, src, dst, port)
                assert matrix.verdict(c, src, dst) == expected, (src, dst)
                assert matrix.state(src, dst) == (CellState.ALLOWED if expected.allowed else CellState.DENIED)
    matrix = policy_matrix(c, 8080)
    assert matrix.state("frontend/web", "backend/api") == CellState.ALLOWED
    assert matrix.reason(c, "frontend/admin", "backend/api") == (  # egress is checked first
        "selected by frontend/egress (default deny): no rule allows port 8080/TCP to backend/api")
    assert matrix.reason(c, "other/web", "backend/worker") == (
        "selected by backend/default-deny, backend/named, backend/outside (default deny): no rule allows port 8080/TCP "
        "from other/web")
    assert sum(matrix.counts().values()) == 81


def test_matrix_groups_pods_alike_and_shows_that_flannel_does_not_enforce() -> None:
    from webapp.engine.policy_matrix import CellState, policy_matrix

    c = cluster(DENY_BACKEND, plugin="flannel")
    matrix = policy_matrix(c, 8080, namespace="backend")
    assert matrix.pods == ("backend/api", "backend/worker")
    assert matrix.state("backend/worker", "backend/api") == CellState.NOT_ENFORCED
    assert matrix.reason(c, "backend/worker", "backend/api") == (
        "selected by backend/default-deny (default deny): no rule allows port 8080/TCP from backend/worker; but "
        "flannel does not implement NetworkPolicy: would be denied, not enforced")
    assert matrix.counts() == {CellState.ALLOWED: 2, CellState.DENIED: 0, CellState.NOT_ENFORCED: 2}


def test_a_sample_of_the_benchmark_matrix_is_what_evaluate_says() -> None:
    import random

    from benchmarks.bench_policy import build_cluster
    from webapp.engine.policy_matrix import policy_matrix

    c = build_cluster(namespace_count=10)
    matrix = policy_matrix(c, 8080)
    assert (len(c.pods), len(c.network_policies)) == (200, 40)
    pick = random.Random(13)
    pairs = [(pick.choice(matrix.pods), pick.choice(matrix.pods)) for _ in range(300)]
    outcomes = set()
    for src, dst in pairs:
        expected = evaluate(c, src, dst, 8080)
        assert matrix.verdict(c, src, dst) == expected, (src, dst)
        outcomes.add((expected.egress.basis, expected.ingress.basis, expected.ingress.policy))
    assert len(outcomes) >= 5  # the sample meets denials and several allowing policies


def test_the_hop_explanations_the_walk_will_use() -> None:
    from webapp.engine.policy import hop_explain, not_enforced_note, reply_explain

    v = evaluate(cluster(DENY_BACKEND), "frontend/web", "backend/api", 81)
    assert hop_explain(v.ingress, "cali-tw-veth7d0cfced", "cni0") == (
        "cali-tw-veth7d0cfced on cni0, the host side of backend/api's veth, checks the pod's ingress: selected by "
        "backend/default-deny (default deny): no rule allows port 81/TCP from frontend/web.")
    assert hop_explain(v.egress, "cali-fw-veth1", "cni0") == (
        "cali-fw-veth1 on cni0, the host side of frontend/web's veth, checks the pod's egress: no policy selects "
        "frontend/web for egress: allowed.")
    assert reply_explain("cali-fw-veth7d0cfced", "cni0") == (
        "cali-fw-veth7d0cfced on cni0: the reply of an established connection; conntrack (ESTABLISHED,RELATED) "
        "accepts it before any policy.")
    assert not_enforced_note(v.ingress, "flannel") == (
        "selected by backend/default-deny (default deny): no rule allows port 81/TCP from frontend/web; but flannel "
        "does not implement NetworkPolicy: would be denied, not enforced")
