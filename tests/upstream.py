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
    SessionAffinity, TrafficPolicy,
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
    """`runPacketFlowTests`' reading of one new connection on `node` (from elsewhere: PREROUTING, then filter
    FORWARD for a packet DNATed away or INPUT for one still addressed to the node; from the node itself: OUTPUT):
    the endpoints it may end at ("10.0.1.1:80, 10.0.1.2:80"), "DROP" / "REJECT", or "" when no rule took it; and
    whether it was marked for masquerade."""
    ruleset = node_ruleset(cluster, node)
    packet = Packet(SocketAddress.parse(f"{src}:40000"), SocketAddress.parse(dst))
    if packet.src.ip in ruleset.local_addresses or packet.src.ip.is_loopback:  # the node's own socket: OUTPUT
        out_dev = "lo" if packet.dst.ip.is_loopback else "eth0"
        pre = traverse(ruleset, Hook.OUTPUT, PacketContext(packet, node, None, out_dev))
        after = pre
    else:
        pre = traverse(ruleset, Hook.PREROUTING, PacketContext(packet, node, in_dev, None))
        after = pre
        if pre.verdict == Verdict.ACCEPT:
            local = pre.packet.dst.ip in ruleset.local_addresses
            hook, out_dev = (Hook.INPUT, None) if local else (Hook.FORWARD, "cni0")
            after = traverse(ruleset, hook, PacketContext(pre.packet, node, in_dev, out_dev, pre.mark))
    masq = bool(after.mark & 0x4000)
    if after.verdict != Verdict.ACCEPT:
        return after.verdict.upper(), masq
    lookups = [h for h in pre.hops if h.action == Action.LOOKUP]
    if lookups:
        return ", ".join(sorted(str(a.dst) for a in lookups[-1].alternatives)), masq
    return (str(pre.packet.dst) if pre.packet.dst != packet.dst else ""), masq  # "": no rule took it (upstream)


def svc(ns: str, name: str, kind: ServiceType, ip: str, node_port: int | None = None, **extra: object) -> Service:
    """makeTestService: one TCP port `p80` (80 → 80)."""
    return Service(ns, name, kind, IPv4Address(ip), (ServicePort(80, 80, Protocol.TCP, "p80", node_port),), **extra)


def overall_cluster(**settings: object) -> Cluster:
    """TestOverallIPTablesRules' Services and EndpointSlices (the same as TestOverallNFTablesRules')."""
    services = (
        svc("ns1", "svc1", ServiceType.CLUSTER_IP, "172.30.0.41"),
        svc("ns2", "svc2", ServiceType.LOAD_BALANCER, "172.30.0.42", 3001,
            external_traffic_policy=TrafficPolicy.LOCAL, load_balancer_ips=(IPv4Address("1.2.3.4"),),
            external_ips=(IPv4Address("192.168.99.22"),), health_check_node_port=30000),
        svc("ns3", "svc3", ServiceType.NODE_PORT, "172.30.0.43", 3003),
        svc("ns4", "svc4", ServiceType.NODE_PORT, "172.30.0.44", external_ips=(IPv4Address("192.168.99.33"),)),
        svc("ns5", "svc5", ServiceType.LOAD_BALANCER, "172.30.0.45", 3002,
            load_balancer_ips=(IPv4Address("5.6.7.8"),), health_check_node_port=30000,
            load_balancer_source_ranges=(IPv4Network("203.0.113.0/25"),),
            session_affinity=SessionAffinity.CLIENT_IP, session_affinity_timeout=10800),
        svc("ns6", "svc6", ServiceType.CLUSTER_IP, "172.30.0.46"),
    )
    endpoints = (endpoint("ns1/svc1", "10.180.0.1", None, port_name="p80"),
                 endpoint("ns2/svc2", "10.180.0.2", None, port_name="p80"),
                 endpoint("ns3/svc3", "10.180.0.3", None, port_name="p80"),
                 endpoint("ns4/svc4", "10.180.0.4", None, port_name="p80"),
                 endpoint("ns4/svc4", "10.180.0.5", port_name="p80"),
                 endpoint("ns5/svc5", "10.180.0.3", None, port_name="p80"))
    return upstream_cluster(services, endpoints, name="overall", **settings)


def with_nfacct(cluster: Cluster) -> Cluster:
    """The fake proxier's nodes have both nfacct counters (NewFakeProxier: nfAcctCounters true)."""
    return replace(cluster, nodes=tuple(replace(n, nfacct=True) for n in cluster.nodes))


def health_check_cluster(**settings: object) -> Cluster:
    """TestHealthCheckNodePort's ns1/svc1: a LoadBalancer with externalTrafficPolicy Local, nodePort 3001,
    healthCheckNodePort 30000, no endpoints; kube-proxy runs with nodePortAddresses [127.0.0.0/8]."""
    service = svc("ns1", "svc1", ServiceType.LOAD_BALANCER, "172.30.0.42", 3001,
                  external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=30000)
    settings.setdefault("node_port_addresses", (IPv4Network("127.0.0.0/8"),))
    return upstream_cluster((service,), (), name="health-check", **settings)


NODE_PORTS_CASES: dict[str, dict[str, object]] = {
    # iptables TestNodePorts' IPv4 cases: localhostNodePorts and nodePortAddresses (its flows use the node's
    # InternalIP and loopback only; the nftables TestNodePorts, NFT_NODE_PORTS_CASES, checks the second address)
    "ipv4, localhost-nodeports enabled": {"localhost_node_ports": True},
    "ipv4, localhost-nodeports disabled": {"localhost_node_ports": False},
    "ipv4, localhost-nodeports disabled, localhost in nodeport-addresses": {
        "localhost_node_ports": False,
        "node_port_addresses": (IPv4Network("192.168.0.0/24"), IPv4Network("127.0.0.1/32"))},
}


def node_ports_cluster(case: str) -> Cluster:
    """TestNodePorts' ns1/svc1: NodePort 3001 → 10.180.0.1 (no node) and 10.180.2.1 (on test-node)."""
    service = svc("ns1", "svc1", ServiceType.NODE_PORT, "172.30.0.41", 3001)
    endpoints = (endpoint("ns1/svc1", "10.180.0.1", None, port_name="p80"),
                 endpoint("ns1/svc1", "10.180.2.1", port_name="p80"))
    return upstream_cluster((service,), endpoints, name="node-ports", **NODE_PORTS_CASES[case])


NFT_NODE_PORTS_CASES: dict[str, tuple[IPv4Network, ...]] = {
    # pkg/proxy/nftables/proxier_test.go TestNodePorts' IPv4 cases: NewFakeProxier's nodePortAddresses
    # [192.168.0.2/32] ("ipv4") and a list that selects the node's second IP too; plus the other shapes
    # setupNFTables writes: a list that matches all (0.0.0.0/0), and one that holds only the bridge's and
    # flannel.1's addresses and loopback (left out of the set).
    "ipv4": (IPv4Network("192.168.0.2/32"),),
    "ipv4, multiple nodeport-addresses": (IPv4Network("192.168.0.0/24"), IPv4Network("192.168.1.0/24")),
    "match all": (IPv4Network("0.0.0.0/0"),),
    "pod network only": (IPv4Network("10.0.1.0/24"), IPv4Network("127.0.0.0/8")),
}


TEST_NODE_IP_ALT = "192.168.1.2"  # proxier_test.go testNodeIPAlt: the fake node's second address on eth0


def nft_node_ports_cluster(case: str) -> Cluster:
    """TestNodePorts (nftables) ns1/svc1 on test-node in nftables mode, with the case's nodePortAddresses; the
    node holds testNodeIPAlt besides its InternalIP, as NewFakeProxier's eth0 does."""
    cluster = node_ports_cluster("ipv4, localhost-nodeports enabled")
    test_node = replace(cluster.nodes[0], addresses=(IPv4Address(TEST_NODE_IP_ALT),))
    return replace(cluster, name=f"nft-node-ports-{case}", nodes=(test_node, *cluster.nodes[1:]),
                   settings=upstream_settings(kube_proxy_mode=KubeProxyMode.NFTABLES,
                                              node_port_addresses=NFT_NODE_PORTS_CASES[case]))


UPSTREAM_CASES: dict[str, Callable[[], tuple[Cluster, str]]] = {
    **{f"TestNodePorts/{case}": (lambda case=case: (node_ports_cluster(case), TEST_NODE)) for case in NODE_PORTS_CASES},
    "TestOverallIPTablesRules": lambda: (with_nfacct(overall_cluster()), TEST_NODE),
    "TestOverallIPTablesRules/without nfacct": lambda: (overall_cluster(), TEST_NODE),
    "TestHealthCheckNodePort": lambda: (health_check_cluster(), TEST_NODE),
    "TestHealthCheckNodePort/nfacct": lambda: (with_nfacct(health_check_cluster()), TEST_NODE),
    "nodePortAddresses primary": lambda: (overall_cluster(node_port_addresses_primary=True), TEST_NODE),
    "nodePortAddresses 192.168.0.0/16 with nfacct": lambda: (
        with_nfacct(overall_cluster(node_port_addresses=(IPv4Network("192.168.0.0/16"),))), TEST_NODE),
    "localhostNodePorts false with nfacct": lambda: (
        with_nfacct(overall_cluster(localhost_node_ports=False)), TEST_NODE),
    "masqueradeAll": lambda: (overall_cluster(masquerade_all=True), TEST_NODE),
    "masqueradeAll in IPVS mode": lambda: (
        overall_cluster(masquerade_all=True, kube_proxy_mode=KubeProxyMode.IPVS), TEST_NODE),
    **{f"TestTerminatingEndpointsTrafficPolicyLocal/{case}":
       (lambda case=case: (terminating_cluster(TrafficPolicy.LOCAL, case), TEST_NODE))
       for case in TERMINATING_LOCAL_CASES},
    **{f"TestTerminatingEndpointsTrafficPolicyCluster/{case}":
       (lambda case=case: (terminating_cluster(TrafficPolicy.CLUSTER, case), TEST_NODE))
       for case in TERMINATING_CLUSTER_CASES},
}
"""Every upstream-shaped case: its cluster and the node whose rules it checks."""
