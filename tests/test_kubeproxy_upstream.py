"""kube-proxy's own unit tests (kubernetes pkg/proxy/iptables/proxier_test.go), reproduced on our rules: the
expected rules or packet flows of each named upstream test, on clusters shaped as upstream's fake proxier
(tests/upstream.py)."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from test_kubeproxy_iptables import chain, declared
from upstream import (
    EXTERNAL_CLIENT, POD_CLIENT, TEST_NODE, flow, health_check_cluster, overall_cluster, terminating_cluster,
    with_nfacct,
)
from webapp.engine.kubeproxy.iptables import render_iptables_restore
from webapp.model import TrafficPolicy

SVC1 = "KUBE-SVC-AQI2S6QIMU7PVVRP"  # ns1/svc1 tcp, as upstream's goldens name it
SVL1 = "KUBE-SVL-AQI2S6QIMU7PVVRP"


# --- issue 17 item 1: ETP Local with only serving-terminating local endpoints -----------------------------

@pytest.mark.parametrize(("case", "pod_to_cluster_ip", "external_to_node_port"), [
    # upstream: TestTerminatingEndpointsTrafficPolicyLocal, its four cases (flows "pod to clusterIP" and
    # "external to LB"; the LB reaches the node's nodePort here, the same KUBE-EXT chain)
    ("ready endpoints exist", ("10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", False), ("10.0.1.1:80, 10.0.1.2:80", False)),
    ("only terminating endpoints exist", ("10.0.1.5:80", False), ("10.0.1.2:80, 10.0.1.3:80", False)),
    ("terminating endpoints on remote node", ("10.0.1.5:80", False), ("DROP", False)),
    ("no usable endpoints on any node", ("REJECT", False), ("REJECT", False)),
])
def test_terminating_endpoints_traffic_policy_local(case, pod_to_cluster_ip, external_to_node_port):
    cluster = terminating_cluster(TrafficPolicy.LOCAL, case)
    assert flow(cluster, POD_CLIENT, "172.30.1.1:80") == pod_to_cluster_ip
    assert flow(cluster, EXTERNAL_CLIENT, "192.168.0.2:30001") == external_to_node_port


@pytest.mark.parametrize(("case", "ends"), [
    # upstream: TestTerminatingEndpointsTrafficPolicyCluster (external traffic is masqueraded under Cluster)
    ("ready endpoints exist", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80"),
    ("only terminating endpoints exist", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80"),
])
def test_terminating_endpoints_traffic_policy_cluster(case, ends):
    cluster = terminating_cluster(TrafficPolicy.CLUSTER, case)
    assert flow(cluster, POD_CLIENT, "172.30.1.1:80") == (ends, False)
    assert flow(cluster, EXTERNAL_CLIENT, "192.168.0.2:30001") == (ends, True)


def test_only_terminating_local_endpoints_declare_every_chain_the_local_policy_jumps_to():
    """The bug of issue 17 item 1: KUBE-SVL jumped to KUBE-SEP chains of the terminating local endpoints that were
    never declared, so a real iptables-restore refused the whole ruleset. The endpoint chains now are the union
    of the cluster's ready endpoints and the local serving-terminating ones (allLocallyReachableEndpoints)."""
    text = render_iptables_restore(terminating_cluster(TrafficPolicy.LOCAL, "only terminating endpoints exist"),
                                   TEST_NODE)
    local_terminating = ["KUBE-SEP-IO5XOSKPAXIFQXAJ", "KUBE-SEP-XGJFVO3L2O5SRFNT"]  # 10.0.1.2:80, 10.0.1.3:80
    remote_ready = "KUBE-SEP-EQCHZ7S2PJ72OHAY"                                      # 10.0.1.5:80 on node-1
    assert [line.rsplit(" -j ", 1)[1] for line in chain(text, "nat", SVL1)] == local_terminating
    assert [line.rsplit(" -j ", 1)[1] for line in chain(text, "nat", SVC1)] == ["KUBE-MARK-MASQ", remote_ready]
    assert [name for name in declared(text, "nat") if name.startswith("KUBE-SEP-")] == [
        remote_ready, *local_terminating]


# --- rule comparison as upstream's assertIPTablesRulesEqual does it: chains as sets, each chain's rules in order --

def by_chain(text: str) -> dict[str, tuple[set[str], dict[str, list[str]]]]:
    """table → (declared chains, chain → its `-A` lines in order)."""
    out: dict[str, tuple[set[str], dict[str, list[str]]]] = {}
    table = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:]
            out[table] = (set(), {})
        elif line.startswith(":"):
            out[table][0].add(line.split()[0][1:])
        elif line.startswith("-A "):
            out[table][1].setdefault(line.split()[1], []).append(line)
    return out


# TestOverallIPTablesRules' expected restore input (NewFakeProxier: both nfacct counters present, localhost
# nodePorts on). One difference, by design: our MASQUERADE has --random-fully, which kube-proxy adds whenever the
# iptables binary has it (TestMasqueradeRule checks both forms); upstream's fake iptables has not.
UPSTREAM_OVERALL = """\
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
"""


# --- issue 17 item 7: nfacct counters as a node property ------------------------------------------------------

def test_overall_iptables_rules_with_nfacct_match_upstream():
    """upstream: TestOverallIPTablesRules (its fake node has both nfacct counters)."""
    ours = render_iptables_restore(with_nfacct(overall_cluster()), TEST_NODE)
    assert by_chain(ours) == by_chain(UPSTREAM_OVERALL)


def test_a_node_without_nfacct_writes_no_counter():
    """The same cluster on a node without nfacct (before v1.31, or no kernel support): the two kinds of
    `-m nfacct` rule are gone, and nothing else changes."""
    ours = render_iptables_restore(overall_cluster(), TEST_NODE)
    expected = "\n".join(line.replace(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", "")
                         for line in UPSTREAM_OVERALL.splitlines() if "localhost_nps_accepted_pkts" not in line)
    assert "nfacct" not in ours
    assert by_chain(ours) == by_chain(expected)


def test_nfacct_counts_without_changing_a_decision():
    """`-m nfacct` only counts: the traces through a node with counters are those of a node without them."""
    cases = [(POD_CLIENT, "172.30.0.41:80"), (EXTERNAL_CLIENT, "192.168.0.2:3003"), ("127.0.0.1", "127.0.0.1:3003"),
             (EXTERNAL_CLIENT, "5.6.7.8:80"), (POD_CLIENT, "172.30.0.46:80")]
    for src, dst in cases:
        assert flow(with_nfacct(overall_cluster()), src, dst, in_dev="lo" if src == "127.0.0.1" else "eth0") == \
            flow(overall_cluster(), src, dst, in_dev="lo" if src == "127.0.0.1" else "eth0"), (src, dst)


@pytest.mark.parametrize(("version", "nfacct"), [("v1.31.0", True), ("v1.32.4-eks-1", True), ("v1.30.9", False),
                                                 (None, False)])
def test_nfacct_is_on_by_default_from_1_31(version, nfacct):
    from webapp.loaders import load_sources

    node = f"  - name: node-1\n    version: {version}\n" if version else "  - name: node-1\n"
    loaded = load_sources([("c.yaml", f"nodes:\n{node}".encode())]).cluster
    assert loaded is not None
    assert (loaded.nodes[0].version, loaded.nodes[0].nfacct) == (version, nfacct)
    text = render_iptables_restore(loaded, "node-1")
    assert ("-m nfacct --nfacct-name ct_state_invalid_dropped_pkts" in text) == nfacct


def test_nfacct_from_a_node_manifest_and_its_override():
    from webapp.loaders import load_sources

    def node(annotations: str = "") -> bytes:
        return ("apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n" + annotations +
                "status:\n  addresses: [{type: InternalIP, address: 192.168.0.11}]\n"
                "  nodeInfo: {kubeletVersion: v1.31.2, kubeProxyVersion: ''}\n").encode()

    assert load_sources([("n.yaml", node())]).cluster.nodes[0].nfacct is True
    off = node("  annotations: {k8s-netviz.io/nfacct: 'false'}\n")
    assert load_sources([("n.yaml", off)]).cluster.nodes[0].nfacct is False
    bad = load_sources([("n.yaml", node("  annotations: {k8s-netviz.io/nfacct: 'yes'}\n"))])
    assert [str(p) for p in bad.problems] == [
        "n.yaml:5:39: error: expected \"true\" or \"false\", got 'yes' (metadata.annotations.k8s-netviz.io/nfacct)"]


# --- issue 17 item 2: KubeProxyConfiguration fields that shape the rules ------------------------------------

FIREWALL = ('-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 '
            "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
LAST = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'


@pytest.mark.parametrize(("case", "localhost", "firewall", "last"), [
    # upstream: TestNodePorts (IPv4 cases; its flows "pod to cluster IP", "external to nodePort", "node to
    # nodePort", "localhost to nodePort gets masqueraded" / "is ignored", and the KUBE-FIREWALL check)
    ("ipv4, localhost-nodeports enabled", ("10.180.0.1:80, 10.180.2.1:80", True), [FIREWALL],
     f"{LAST} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"),
    ("ipv4, localhost-nodeports disabled", ("", False), [],
     f"{LAST} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS"),
    ("ipv4, localhost-nodeports disabled, localhost in nodeport-addresses", ("", False), [],
     f"{LAST} -d 192.168.0.2 -j KUBE-NODEPORTS"),
])
def test_node_ports(case, localhost, firewall, last):
    from upstream import node_ports_cluster

    cluster = node_ports_cluster(case)
    both = "10.180.0.1:80, 10.180.2.1:80"
    assert flow(cluster, POD_CLIENT, "172.30.0.41:80") == (both, False)
    assert flow(cluster, EXTERNAL_CLIENT, "192.168.0.2:3001") == (both, True)
    assert flow(cluster, "192.168.0.2", "192.168.0.2:3001") == (both, True)
    assert flow(cluster, "127.0.0.1", "127.0.0.1:3001") == localhost
    text = render_iptables_restore(cluster, TEST_NODE)
    assert chain(text, "filter", "KUBE-FIREWALL") == firewall
    assert chain(text, "nat", "KUBE-SERVICES")[-1] == last


def test_health_check_node_port_with_node_port_addresses_of_localhost():
    """upstream: TestHealthCheckNodePort — nodePortAddresses [127.0.0.0/8]: the last KUBE-SERVICES rule is
    `-d 127.0.0.1 -j KUBE-NODEPORTS` (the node's one address in that range), not `--dst-type LOCAL`."""
    ours = render_iptables_restore(health_check_cluster(), TEST_NODE)
    expected = """\
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 127.0.0.1 -j KUBE-NODEPORTS
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
COMMIT
"""
    assert by_chain(ours) == by_chain(expected)


def test_node_port_addresses_primary_is_the_node_ip():
    """`nodePortAddresses: [primary]` → the node's InternalIP/32 (cmd/kube-proxy server.go); it holds no loopback
    address, so kube-proxy turns localhostNodePorts off: no KUBE-FIREWALL, no localhost nfacct rules."""
    cluster = with_nfacct(overall_cluster(node_port_addresses_primary=True))
    text = render_iptables_restore(cluster, TEST_NODE)
    assert chain(text, "nat", "KUBE-SERVICES")[-1] == f"{LAST} -d 192.168.0.2 -j KUBE-NODEPORTS"
    assert chain(text, "filter", "KUBE-FIREWALL") == [] and "localhost_nps_accepted_pkts" not in text
    assert flow(cluster, EXTERNAL_CLIENT, "192.168.0.2:3003") == ("10.180.0.3:80", True)
    assert flow(cluster, "127.0.0.1", "127.0.0.1:3003") == ("", False)


def test_node_port_addresses_from_a_kube_proxy_configuration():
    from webapp.loaders import load_sources

    conf = (b"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n"
            b"nodePortAddresses: [127.0.0.0/8]\niptables: {masqueradeAll: true, localhostNodePorts: true}\n")
    settings = load_sources([("kp.yaml", conf)]).cluster.settings
    assert (settings.node_port_addresses, settings.masquerade_all, settings.localhost_node_ports) == (
        (IPv4Network("127.0.0.0/8"),), True, True)
    primary = conf.replace(b"[127.0.0.0/8]", b"[primary]").replace(b"localhostNodePorts: true",
                                                                   b"localhostNodePorts: false")
    settings = load_sources([("kp.yaml", primary)]).cluster.settings
    assert (settings.node_port_addresses_primary, settings.localhost_node_ports) == (True, False)
    bad = load_sources([("kp.yaml", conf.replace(b"[127.0.0.0/8]", b"[primary, 10.0.0.0/8]"))])
    assert [str(p) for p in bad.problems if p.severity == "error"] == [
        "kp.yaml:4:20: error: nodePortAddresses: primary stands alone, not beside 10.0.0.0/8 (nodePortAddresses) "
        "(hint: write [primary], or list CIDRs only)"]


def test_masquerade_all():
    """masqueradeAll: every connection to a cluster IP is marked for SNAT (proxier.go writes the internal chain's
    KUBE-MARK-MASQ rule without `! -s <clusterCIDR>`), so a pod's connection is masqueraded too; without it only
    off-cluster sources are (upstream TestOverallIPTablesRules' `! -s 10.0.0.0/8` rules)."""
    cluster = overall_cluster(masquerade_all=True)
    text = render_iptables_restore(cluster, TEST_NODE)
    assert chain(text, "nat", "KUBE-SVC-XPGD46QRK7WJZT7O")[0] == (
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ")
    assert flow(cluster, POD_CLIENT, "172.30.0.41:80") == ("10.180.0.1:80", True)
    assert flow(overall_cluster(), POD_CLIENT, "172.30.0.41:80") == ("10.180.0.1:80", False)


def test_allocate_load_balancer_node_ports_false():
    """spec.allocateLoadBalancerNodePorts: false — no nodePort is allocated, so kube-proxy writes no KUBE-NODEPORTS
    rule for the port (`if svcInfo.NodePort() != 0`, as for TestOverallIPTablesRules' nodePort-less ns4/svc4),
    while the LB IP is still captured; a nodePort given explicitly is kept (the API allows it)."""
    from webapp.loaders import load_sources

    yaml_text = b"""\
nodes: [{name: node-1}]
pods: [{name: web-1, node: node-1, labels: {app: web}, containers: [{name: web, ports: [80]}]}]
services:
- {name: web, type: LoadBalancer, selector: {app: web}, ports: [80], loadBalancerIP: [203.0.113.100],
   allocateLoadBalancerNodePorts: false}
- {name: pinned, type: LoadBalancer, selector: {app: web}, ports: [{port: 81, targetPort: 80, nodePort: 30081}],
   allocateLoadBalancerNodePorts: false}
- {name: usual, type: LoadBalancer, selector: {app: web}, ports: [{port: 82, targetPort: 80}]}
"""
    cluster = load_sources([("c.yaml", yaml_text)]).cluster
    ports = {s.name: s.ports[0].node_port for s in cluster.services if s.namespace == "default"}
    assert ports == {"kubernetes": None, "web": None, "pinned": 30081, "usual": 30000}
    text = render_iptables_restore(cluster, "node-1")
    assert [line.split(" --dport ")[1].split()[0] for line in chain(text, "nat", "KUBE-NODEPORTS")] == [
        "30081", "30000"]
    assert '"default/web loadbalancer IP" -m tcp -p tcp -d 203.0.113.100 --dport 80' in text


# --- issue 17 item 5: the load balancer's model -------------------------------------------------------------

def lb_trace_cluster(mode=None, **service):
    """TestExternalTrafficPolicyLocal's shape on our two-node factory: default/web as a LoadBalancer 198.51.100.10
    with nodePort 30080, endpoints web-a (node-1) and web-b (node-2)."""
    from dataclasses import replace
    from ipaddress import IPv4Address

    from factories import service_cluster
    from webapp.model import ServiceType

    cluster = service_cluster(type=ServiceType.LOAD_BALANCER, node_port=30080,
                              load_balancer_ips=(IPv4Address("198.51.100.10"),), **service)
    if mode is not None:
        cluster = replace(cluster, settings=replace(cluster.settings, load_balancer_mode=mode))
    return cluster


def test_passthrough_is_the_default_and_the_node_captures_the_lb_ip():
    """upstream: TestExternalTrafficPolicyLocal, "external to LB IP hits only local endpoint, unmasqueraded" — the
    packet reaches the node still addressed to the LB IP; KUBE-SERVICES' "loadbalancer IP" rule takes it to
    KUBE-EXT and KUBE-SVL, the client's address is kept. The proxy model instead reaches the nodePort."""
    from webapp.engine.flows import trace_flow
    from webapp.engine.trace import Action, HopKind
    from webapp.model import LoadBalancerMode, TrafficPolicy

    local = dict(external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000)
    trace = trace_flow(lb_trace_cluster(**local), "203.0.113.7", "198.51.100.10:80")
    lb = next(h for h in trace.hops if h.kind == HopKind.LOADBALANCER)
    assert (lb.action, str(lb.packet.dst), lb.alternatives) == (Action.FORWARD, "198.51.100.10:80", ())
    assert lb.rule == ("198.51.100.10:80 → node node-1 (192.168.0.11), destination unchanged (passthrough), of 2 "
                       "healthy node(s)")
    choice = next(h for h in trace.hops if h.alternatives)
    assert choice.explain.startswith("PREROUTING → KUBE-SERVICES → KUBE-EXT-CDGGSHYLG3RE2FKL → "
                                     "KUBE-SVL-CDGGSHYLG3RE2FKL")
    assert [str(a.dst) for a in choice.alternatives] == ["10.244.0.3:80"]  # only the local endpoint
    assert (str(trace.disposition), str(trace.hops[-1].packet.dst)) == ("delivered", "10.244.0.3:80")
    assert str(trace.hops[-1].packet.src.ip) == "203.0.113.7"  # unmasqueraded
    assert str(trace.reply[-1].packet.src) == "198.51.100.10:80"  # the reply leaves the node from the LB IP
    proxy = trace_flow(lb_trace_cluster(LoadBalancerMode.PROXY, **local), "203.0.113.7", "198.51.100.10:80")
    lb = next(h for h in proxy.hops if h.kind == HopKind.LOADBALANCER)
    assert (lb.action, str(lb.packet.dst)) == (Action.DNAT, "192.168.0.11:30080")


def test_passthrough_with_source_ranges_is_filtered_by_the_node():
    """upstream: TestLoadBalancer's source-range flows — a passthrough load balancer hands every client to a node;
    KUBE-FW-… admits 203.0.113.0/25 and KUBE-PROXY-FIREWALL drops the rest, on the node."""
    from ipaddress import IPv4Network

    from webapp.engine.flows import trace_flow
    from webapp.engine.trace import HopKind

    cluster = lb_trace_cluster(load_balancer_source_ranges=(IPv4Network("203.0.113.0/25"),))
    assert str(trace_flow(cluster, "203.0.113.7", "198.51.100.10:80").disposition) == "delivered"
    trace = trace_flow(cluster, "203.0.113.200", "198.51.100.10:80")
    assert str(trace.disposition) == "dropped"
    last = trace.hops[-1]
    assert (last.node, last.kind, last.rule.split(" -m ")[0]) == ("node-1", HopKind.NETFILTER,
                                                                  "filter -A KUBE-PROXY-FIREWALL")


def test_a_lb_without_node_ports_is_reachable_only_through_passthrough():
    """allocateLoadBalancerNodePorts: false — no nodePort: the passthrough load balancer still delivers (the
    node captures the LB IP); a proxying one has nowhere to send the connection."""
    from webapp.engine.flows import trace_flow
    from webapp.model import LoadBalancerMode

    cluster = lb_trace_cluster(allocate_load_balancer_node_ports=False)
    cluster = replace_port(cluster)
    assert str(trace_flow(cluster, "203.0.113.7", "198.51.100.10:80").disposition) == "delivered"
    from dataclasses import replace

    proxy = replace(cluster, settings=replace(cluster.settings, load_balancer_mode=LoadBalancerMode.PROXY))
    trace = trace_flow(proxy, "203.0.113.7", "198.51.100.10:80")
    assert (str(trace.disposition), trace.reason) == (
        "dropped", "the load balancer of default/web proxies to a nodePort (loadBalancer mode proxy), but port 80 "
                   "has none (allocateLoadBalancerNodePorts: false)")


def replace_port(cluster):
    """default/web's port without its nodePort (as the loader leaves it with allocateLoadBalancerNodePorts false)."""
    from dataclasses import replace

    web = cluster.services[0]
    return replace(cluster, services=(replace(web, ports=(replace(web.ports[0], node_port=None),)),
                                      *cluster.services[1:]))


def test_load_balancer_mode_from_yaml_and_annotation():
    from webapp.loaders import load_sources
    from webapp.model import LoadBalancerMode

    yaml_text = (b"loadBalancer: {mode: proxy}\nservices:\n- {name: a, type: LoadBalancer, ports: [80]}\n"
                 b"- {name: b, type: LoadBalancer, ports: [80], loadBalancerMode: passthrough}\n")
    cluster = load_sources([("c.yaml", yaml_text)]).cluster
    assert cluster.settings.load_balancer_mode == LoadBalancerMode.PROXY
    assert {s.name: s.load_balancer_mode for s in cluster.services if s.namespace == "default"} == {
        "a": None, "b": LoadBalancerMode.PASSTHROUGH, "kubernetes": None}
    manifest = (b"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n"
                b"    k8s-netviz.io/load-balancer-mode: proxy\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n")
    loaded = load_sources([("s.yaml", manifest)]).cluster
    assert loaded.settings.load_balancer_mode == LoadBalancerMode.PASSTHROUGH  # the default
    assert loaded.service_by_key["default/web"].load_balancer_mode == LoadBalancerMode.PROXY
    bad = load_sources([("s.yaml", manifest.replace(b"mode: proxy", b"mode: dsr"))])
    assert [str(p) for p in bad.problems if p.severity == "error"] == [
        "s.yaml:6:39: error: expected one of passthrough, proxy, got 'dsr' "
        "(metadata.annotations.k8s-netviz.io/load-balancer-mode) (hint: expected one of: passthrough, proxy)"]


@pytest.mark.parametrize(("nfacct", "drop"), [
    (False, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"),
    (True, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts "
           "-j DROP"),
])
def test_drop_invalid_rule(nfacct, drop):
    """upstream: TestDropInvalidRule (its cases without and with the nfacct counter; tcpLiberal is not modelled)."""
    cluster = with_nfacct(overall_cluster()) if nfacct else overall_cluster()
    assert chain(render_iptables_restore(cluster, TEST_NODE), "filter", "KUBE-FORWARD") == [
        drop,
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate '
        "RELATED,ESTABLISHED -j ACCEPT",
    ]
