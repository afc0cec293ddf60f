"""The device names the diagram draws for each node and pod, read from the engine's datapath
(`webapp.engine.datapath`), so that every hop's (node, netns, device) lands on a drawn device."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.engine.datapath import DeviceKind, node_datapath
from webapp.model import Cluster, Node

HOST_NETNS = "host"
"""The key the diagram uses for a node's root network namespace."""


def netns_key(netns: str | None) -> str:
    """Canonical netns key: `host` for a node's root namespace, `namespace/name` for a pod's namespace.

    Accepts the trace contract's spellings (`host/node-1`, `pod/default/web`) and bare pod keys.
    """
    text = (netns or "").strip()
    if text in ("", "host", "root") or text.startswith("host/"):
        return HOST_NETNS
    if text.startswith("pod/"):
        return text[4:]
    return text


@dataclass(frozen=True)
class PodDevices:
    """A pod's interface and the host end of its veth pair."""

    pod: str
    eth: str
    host_veth: str


@dataclass(frozen=True)
class NodeDevices:
    """The devices of one node's root namespace that the diagram draws."""

    nic: str
    bridge: str
    overlay: str | None
    """`flannel.1`, the OVS bridge, or None for host-gw (no tunnel device)."""
    tunnel_ports: tuple[str, ...]
    """The VXLAN ports of an OVS bridge (one per remote node); empty otherwise."""
    ipvs: str | None
    """`kube-ipvs0` in IPVS mode."""
    pods: tuple[PodDevices, ...]


def node_devices(cluster: Cluster, node: Node) -> NodeDevices:
    """The drawn devices of `node`, as the engine's datapath names them."""
    datapath = node_datapath(cluster, node.name)
    first = {kind: None for kind in DeviceKind}
    for dev in datapath.devices:
        if first.get(dev.kind) is None:
            first[dev.kind] = dev.name
    ports = tuple(d.name for d in datapath.devices if d.kind == DeviceKind.OVS_VXLAN_PORT)
    pods = tuple(PodDevices(netns_key(d.peer.netns), d.peer.name, d.name)
                 for d in datapath.devices if d.kind == DeviceKind.VETH and d.peer is not None)
    return NodeDevices(
        nic=first[DeviceKind.NIC] or node.nic,
        bridge=first[DeviceKind.BRIDGE] or str(cluster.settings.bridge),
        overlay=first[DeviceKind.OVS_BRIDGE] or first[DeviceKind.VXLAN],
        tunnel_ports=ports,
        ipvs=first[DeviceKind.DUMMY],
        pods=pods,
    )
