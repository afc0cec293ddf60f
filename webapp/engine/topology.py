"""The cluster's network as a graph (networkx): one vertex per device `(netns, name)` and one edge per link —
veth pairs, bridge ports, OVS ports, a VXLAN device's underlay NIC, and every NIC's cable to the node network.

Built lazily, one node at a time (`ensure_node`), so a trace on a 1,000-node cluster only builds the nodes it
crosses; `build_all()` builds everything (the diagram, the benchmark).
"""

from __future__ import annotations

import threading

import networkx as nx

from webapp.engine.datapath import (
    Device, DeviceKind, NodeDatapath, node_datapath, underlay_network,
)
from webapp.engine.memo import cluster_cached
from webapp.model import Cluster


class LinkKind:
    VETH = "veth"          # the two ends of a veth pair
    PORT = "port"          # a device enslaved to a bridge (Linux or OVS)
    UNDERLAY = "underlay"  # a VXLAN device and the NIC it sends through
    WIRE = "wire"          # a NIC and the node network it is cabled to


def underlay_vertex(network: str) -> tuple[str, str]:
    return ("underlay", network)


class Topology:
    """The device graph of one cluster. Vertices `(netns, device)` carry `kind`, `node` and, for host
    devices, the `device` record; edges carry `link` (a LinkKind)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.graph = nx.Graph()
        self._built: set[str] = set()
        self._lock = threading.Lock()

    def ensure_node(self, node_name: str) -> NodeDatapath:
        """Add one node's host namespace, its pods' eth0 ends and their links (once)."""
        datapath = node_datapath(self.cluster, node_name)
        if node_name in self._built:
            return datapath
        with self._lock:
            if node_name not in self._built:
                self._add_node(node_name, datapath)
                self._built.add(node_name)  # only once its devices and links are in the graph
        return datapath

    def _add_node(self, node_name: str, datapath: NodeDatapath) -> None:
        graph = self.graph
        netns = datapath.netns
        node = self.cluster.node_by_name[node_name]
        wire = underlay_vertex(str(underlay_network(self.cluster, node)))
        graph.add_node(wire, kind="underlay", node=None)
        add_vertex = graph.add_node
        add_link = graph.add_edge
        for dev in datapath.devices:
            vertex = (netns, dev.name)
            add_vertex(vertex, kind=str(dev.kind), node=node_name, device=dev)
            if dev.master:
                add_link(vertex, (netns, dev.master), link=LinkKind.PORT)
            if dev.peer:
                peer = (dev.peer.netns, dev.peer.name)
                add_vertex(peer, kind=str(DeviceKind.VETH), node=node_name)
                add_link(vertex, peer, link=LinkKind.VETH)
            if dev.kind == DeviceKind.NIC:
                add_link(vertex, wire, link=LinkKind.WIRE)
            if dev.vxlan is not None:
                add_link(vertex, (netns, dev.vxlan.dev or node.nic), link=LinkKind.UNDERLAY)

    def build_all(self) -> Topology:
        for node in self.cluster.nodes:
            self.ensure_node(node.name)
        return self

    @property
    def built_nodes(self) -> frozenset[str]:
        return frozenset(self._built)

    def peer(self, netns: str, device: str) -> tuple[str, str]:
        """The other end of a veth pair."""
        vertex = (netns, device)
        for other, link in self.graph[vertex].items():
            if link["link"] == LinkKind.VETH:
                return other
        raise KeyError(f"{netns} {device} has no veth peer")

    def ports(self, netns: str, bridge: str) -> list[str]:
        """The devices enslaved to a bridge."""
        return sorted(other[1] for other, link in self.graph[(netns, bridge)].items()
                      if link["link"] == LinkKind.PORT and self.graph.nodes[other].get("device") is not None
                      and self.graph.nodes[other]["device"].master == bridge)

    def device(self, netns: str, name: str) -> Device | None:
        data = self.graph.nodes.get((netns, name))
        return data.get("device") if data else None


def topology(cluster: Cluster) -> Topology:
    """The (lazily built) topology of a cluster, one per Cluster object."""
    return cluster_cached(cluster, "topology", lambda: Topology(cluster))
