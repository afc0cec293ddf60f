"""kube-proxy's own unit tests (kubernetes pkg/proxy/iptables/proxier_test.go), reproduced on our rules: the
expected rules or packet flows of each named upstream test, on clusters shaped as upstream's fake proxier
(tests/upstream.py)."""

from __future__ import annotations

import pytest

from test_kubeproxy_iptables import chain, declared
from upstream import EXTERNAL_CLIENT, POD_CLIENT, TEST_NODE, flow, terminating_cluster
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
