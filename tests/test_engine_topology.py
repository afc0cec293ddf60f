"""The device graph: vertices, links, and lazy per-node building."""

from factories import big_cluster, two_node_cluster
from webapp.engine.datapath import veth_name
from webapp.engine.flows import trace_flow
from webapp.engine.topology import LinkKind, Topology, topology
from webapp.model import Overlay


def links(topo, vertex):
    return sorted((other, data["link"]) for other, data in topo.graph[vertex].items())


def test_one_node_graph_links_veths_bridge_vxlan_and_wire():
    topo = Topology(two_node_cluster())
    topo.ensure_node("node-1")
    client = veth_name("default/client")
    assert links(topo, ("host/node-1", client)) == [
        (("host/node-1", "cni0"), LinkKind.PORT), (("pod/default/client", "eth0"), LinkKind.VETH)]
    assert links(topo, ("host/node-1", "flannel.1")) == [(("host/node-1", "eth0"), LinkKind.UNDERLAY)]
    assert links(topo, ("host/node-1", "eth0")) == [
        (("host/node-1", "flannel.1"), LinkKind.UNDERLAY), (("underlay", "192.168.0.0/24"), LinkKind.WIRE)]
    assert topo.peer("pod/default/client", "eth0") == ("host/node-1", client)
    assert topo.ports("host/node-1", "cni0") == sorted(veth_name(k) for k in (
        "default/client", "default/web-a", "default/duo", "default/clash"))
    assert topo.graph.nodes[("host/node-1", "cni0")]["kind"] == "bridge"
    assert topo.built_nodes == {"node-1"}


def test_ovs_ports_hang_off_obr0():
    topo = Topology(two_node_cluster(Overlay.OVS_VXLAN)).build_all()
    assert links(topo, ("host/node-1", "obr0")) == [
        (("host/node-1", "cni0"), LinkKind.PORT), (("host/node-1", "vxlanc0a8000c"), LinkKind.PORT)]
    assert topo.device("host/node-1", "vxlanc0a8000c").vxlan.remote.exploded == "192.168.0.12"


def test_a_trace_builds_only_the_nodes_it_crosses():
    cluster = big_cluster(50, 4)
    trace = trace_flow(cluster, "pod/ns-0/pod-3-0", "pod/ns-1/pod-7-1:8080")
    assert trace.disposition == "delivered"
    assert topology(cluster).built_nodes == {"node-3", "node-7"}
    topology(cluster).build_all()
    assert len(topology(cluster).built_nodes) == 50
    # 50 hosts × (lo, eth0, cni0, flannel.1, 4 veths) + 200 pod eth0 + one underlay segment
    assert topology(cluster).graph.number_of_nodes() == 50 * 8 + 200 + 1


def test_threads_tracing_one_fresh_cluster_all_get_complete_graphs():
    from concurrent.futures import ThreadPoolExecutor

    cluster = big_cluster(60, 3)
    flows = [(f"pod/ns-0/pod-{n}-0", f"pod/ns-1/pod-{(n * 7 + 3) % 60}-1:8080") for n in range(60)]
    with ThreadPoolExecutor(8) as pool:
        traces = list(pool.map(lambda f: trace_flow(cluster, *f), flows))
    assert {t.disposition for t in traces} == {"delivered"}
    assert all(t.reply[-1].packet == t.hops[0].packet.reversed() for t in traces)
