"""Clusters shaped as kube-proxy's own unit tests shape them (kubernetes pkg/proxy/iptables/proxier_test.go,
NewFakeProxier's conventions): one node `test-node` 192.168.0.2, pods in 10.0.0.0/8, services in
172.30.0.0/16, LoadBalancer IPs 1.2.3.4 / 5.6.7.8, external clients in 203.0.113.0/24. Facts only: the Services
and EndpointSlices of each upstream test are written here again as our model, and `UPSTREAM_CASES` lists every
case so that the kernel test (tests/test_kubeproxy_kernel.py) loads each one's rules.

Packet flows are read as upstream's `runPacketFlowTests` reads them: the endpoints a packet can end at, or DROP /
REJECT, and whether it was marked for masquerade.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from typing import Callable

from webapp.engine.netfilter import Hook, PacketContext, Verdict, traverse
from webapp.engine.rulesets import node_ruleset
from webapp.engine.trace import Action, Packet, SocketAddress
from webapp.model import (
    Cluster, Endpoint, KubeProxyMode, NetworkSettings, Node, Protocol, Service, ServicePort, ServiceType,
    TrafficPolicy,
)

TEST_NODE = "test-node"
TEST_NODE_IP = "192.168.0.2"
EXTERNAL_CLIENT = "203.0.113.2"   # proxier_test.go testExternalClient
POD_CLIENT = "10.0.0.2"
NODE_1 = "node-1"                 # the "other" node upstream's endpoints name


def upstream_settings(**changes: object) -> NetworkSettings:
    base = NetworkSettings(pod_cidr=IPv4Network("10.0.0.0/8"), service_cidr=IPv4Network("172.30.0.0/16"),
                           kube_proxy_mode=KubeProxyMode.IPTABLES)
    return replace(base, **changes)


def upstream_cluster(services: tuple[Service, ...], endpoints: tuple[Endpoint, ...], *, name: str = "upstream",
                     node: Node | None = None, **settings: object) -> Cluster:
    """The fake node (and node-1, which upstream's endpoints name) with these Services and endpoints."""
    nodes = (node or Node(TEST_NODE, IPv4Address(TEST_NODE_IP), IPv4Network("10.0.1.0/24")),
             Node(NODE_1, IPv4Address("192.168.0.3"), IPv4Network("10.0.2.0/24")))
    return Cluster(name, upstream_settings(**settings), nodes, (), services, endpoints)


def endpoint(service: str, ip: str, node: str | None = TEST_NODE, *, ready: bool = True, serving: bool = True,
             terminating: bool = False, port: int = 80, port_name: str | None = None) -> Endpoint:
    return Endpoint(service, port_name, IPv4Address(ip), port, Protocol.TCP, node=node, ready=ready,
                    serving=serving, terminating=terminating)


def svc1_load_balancer(policy: TrafficPolicy) -> Service:
    """TestTerminatingEndpointsTrafficPolicyLocal/Cluster's ns1/svc1: a LoadBalancer 172.30.1.1:80, LB IP 1.2.3.4,
    healthCheckNodePort 30000, an unnamed port (our loader allocates the nodePort upstream's fake leaves 0)."""
    return Service("ns1", "svc1", ServiceType.LOAD_BALANCER, IPv4Address("172.30.1.1"),
                   (ServicePort(80, 80, Protocol.TCP, None, 30001),), external_traffic_policy=policy,
                   load_balancer_ips=(IPv4Address("1.2.3.4"),),
                   health_check_node_port=30000 if policy == TrafficPolicy.LOCAL else None)


TERMINATING_LOCAL_CASES: dict[str, tuple[Endpoint, ...]] = {
    # TestTerminatingEndpointsTrafficPolicyLocal, each case's EndpointSlice
    "ready endpoints exist": (
        endpoint("ns1/svc1", "10.0.1.1"), endpoint("ns1/svc1", "10.0.1.2"),
        endpoint("ns1/svc1", "10.0.1.3", ready=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.4", ready=False, serving=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.5", NODE_1)),
    "only terminating endpoints exist": (
        endpoint("ns1/svc1", "10.0.1.2", ready=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.3", ready=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.4", ready=False, serving=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.5", NODE_1)),
    "terminating endpoints on remote node": (
        endpoint("ns1/svc1", "10.0.1.5", NODE_1, ready=False, terminating=True),),
    "no usable endpoints on any node": (
        endpoint("ns1/svc1", "10.0.1.5", ready=False, serving=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.5", NODE_1, ready=False, serving=False, terminating=True)),
}

TERMINATING_CLUSTER_CASES: dict[str, tuple[Endpoint, ...]] = {
    # TestTerminatingEndpointsTrafficPolicyCluster, each case's EndpointSlice
    "ready endpoints exist": (
        endpoint("ns1/svc1", "10.0.1.1"), endpoint("ns1/svc1", "10.0.1.2"),
        endpoint("ns1/svc1", "10.0.1.3", "another-node", ready=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.4", "another-node", ready=False, serving=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.5", "another-node")),
    "only terminating endpoints exist": (
        endpoint("ns1/svc1", "10.0.1.2", ready=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.3", ready=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.4", "another-node", ready=False, serving=False, terminating=True),
        endpoint("ns1/svc1", "10.0.1.5", "another-node", ready=False, terminating=True)),
}


def terminating_cluster(policy: TrafficPolicy, case: str) -> Cluster:
    cases = TERMINATING_LOCAL_CASES if policy == TrafficPolicy.LOCAL else TERMINATING_CLUSTER_CASES
    return upstream_cluster((svc1_load_balancer(policy),), cases[case], name=f"terminating-{policy}-{case}")


def flow(cluster: Cluster, src: str, dst: str, *, node: str = TEST_NODE, in_dev: str = "eth0") -> tuple[str, bool]:
    """`runPacketFlowTests`' reading of one new connection arriving on `node` (PREROUTING, then filter FORWARD
    for a packet DNATed away or INPUT for one still addressed to the node): the endpoints it may end at
    ("10.0.1.1:80, 10.0.1.2:80"), or "DROP" / "REJECT"; and whether it was marked for masquerade."""
    ruleset = node_ruleset(cluster, node)
    packet = Packet(SocketAddress.parse(f"{src}:40000"), SocketAddress.parse(dst))
    pre = traverse(ruleset, Hook.PREROUTING, PacketContext(packet, node, in_dev, None))
    if pre.verdict != Verdict.ACCEPT:
        return pre.verdict.upper(), bool(pre.mark & 0x4000)
    local = pre.packet.dst.ip in ruleset.local_addresses
    hook, out_dev = (Hook.INPUT, None) if local else (Hook.FORWARD, "cni0")
    after = traverse(ruleset, hook, PacketContext(pre.packet, node, in_dev, out_dev, pre.mark))
    if after.verdict != Verdict.ACCEPT:
        return after.verdict.upper(), bool(pre.mark & 0x4000)
    lookups = [h for h in pre.hops if h.action == Action.LOOKUP]
    if lookups:
        ends = sorted(str(a.dst) for a in lookups[-1].alternatives)
    else:
        ends = [str(pre.packet.dst)]
    return ", ".join(ends), bool(pre.mark & 0x4000)


UPSTREAM_CASES: dict[str, Callable[[], tuple[Cluster, str]]] = {
    **{f"TestTerminatingEndpointsTrafficPolicyLocal/{case}":
       (lambda case=case: (terminating_cluster(TrafficPolicy.LOCAL, case), TEST_NODE))
       for case in TERMINATING_LOCAL_CASES},
    **{f"TestTerminatingEndpointsTrafficPolicyCluster/{case}":
       (lambda case=case: (terminating_cluster(TrafficPolicy.CLUSTER, case), TEST_NODE))
       for case in TERMINATING_CLUSTER_CASES},
}
"""Every upstream-shaped case: its cluster and the node whose rules it checks."""
