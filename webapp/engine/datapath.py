"""Per-node datapath tables: the devices, addresses, routes, bridge FDB, VXLAN FDB, neighbours and OVS flows
the CNI (flannel, the bridge plugin, or the seed article's Open vSwitch design) programs on every node and
inside every pod's network namespace. The walk reads these tables; the lab builds them in real namespaces;
`show --node` prints them the way `ip`, `bridge` and `ovs-ofctl` would. See docs/datapath.md for sources.

Names and addresses are deterministic: the same cluster always gives the same MACs and veth names.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Iterable, TypeVar

from webapp.engine.memo import cluster_cached
from webapp.engine.trace import Netns
from webapp.model import OVS_VXLAN_PORT, VXLAN_OVERHEAD, Cluster, KubeProxyMode, Node, Overlay, Pod, ServiceType

LOOPBACK_MTU = 65536
VXLAN_DEVICE_PREFIX = "flannel."          # flannel: device name `flannel.<VNI>` (pkg/backend/vxlan/vxlan.go)
OVS_BRIDGE = "obr0"                       # Kubernetes OVS networking doc + cluster/vagrant/provision-network.sh
IPVS_DUMMY = "kube-ipvs0"                 # kube-proxy pkg/proxy/ipvs/proxier.go defaultDummyDevice
MAX_IFNAME = 15                           # IFNAMSIZ - 1
FIRST_VETH_IFINDEX = 10
POD_ETH0_IFINDEX = 2


class DeviceKind(StrEnum):
    VETH = "veth"
    BRIDGE = "bridge"
    VXLAN = "vxlan"
    OVS_BRIDGE = "ovs-bridge"
    OVS_VXLAN_PORT = "ovs-vxlan-port"
    DUMMY = "dummy"
    NIC = "nic"
    LOOPBACK = "loopback"


def host_netns(node_name: str) -> str:
    return str(Netns.host(node_name))


def pod_netns(pod_key: str) -> str:
    return str(Netns.pod(pod_key))


def mac_address(*parts: str) -> str:
    """A deterministic, locally administered unicast MAC derived from a SHA-256 of `parts`."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return bytes(((digest[0] & 0xFC) | 0x02,)).hex() + ":" + digest[1:6].hex(":")


def veth_name(pod_key: str) -> str:
    """Host-side veth name as the CNI makes it: `veth` + 8 hex characters (here from a hash of the pod key)."""
    return "veth" + hashlib.sha256(pod_key.encode()).hexdigest()[:8]


def ovs_vxlan_port_name(remote_ip: IPv4Address) -> str:
    """OVS tunnel port towards one remote node: `vxlan` + the remote node IP in hex (13 characters)."""
    return f"vxlan{int(remote_ip):08x}"


@dataclass(frozen=True)
class PeerRef:
    """The other end of a veth pair."""

    netns: str
    name: str
    ifindex: int

    def __str__(self) -> str:
        return f"{self.netns}:{self.name}"


@dataclass(frozen=True)
class VxlanParams:
    vni: int
    dstport: int
    local: IPv4Address | None
    learning: bool = False
    dev: str | None = None
    """The underlay device (flannel: the node's external interface)."""
    remote: IPv4Address | None = None
    """Fixed remote endpoint (OVS tunnel ports); None for flannel.1, which uses its FDB."""

    def __str__(self) -> str:
        parts = [f"id {self.vni}"]
        if self.remote:
            parts.append(f"remote {self.remote}")
        if self.local:
            parts.append(f"local {self.local}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        parts.append(f"dstport {self.dstport}")
        parts.append("learning" if self.learning else "nolearning")
        return "vxlan " + " ".join(parts)


@dataclass(frozen=True)
class Device:
    name: str
    kind: DeviceKind
    mtu: int
    mac: str
    ifindex: int
    addresses: tuple[IPv4Interface, ...] = ()
    master: str | None = None
    peer: PeerRef | None = None
    vxlan: VxlanParams | None = None
    state: str = "UP"

    @property
    def brief_name(self) -> str:
        """`ip -br` style: a veth shows its peer's ifindex (`eth0@if12`)."""
        return f"{self.name}@if{self.peer.ifindex}" if self.peer else self.name


@dataclass(frozen=True)
class Route:
    """One routing-table entry, printed as `ip route` prints it."""

    dst: IPv4Network
    dev: str
    via: IPv4Address | None = None
    onlink: bool = False
    scope: str | None = None
    src: IPv4Address | None = None
    proto: str | None = None

    def __str__(self) -> str:
        text = "default" if self.dst.prefixlen == 0 else str(self.dst)
        if self.via is not None:
            text += f" via {self.via}"
        text += f" dev {self.dev}"
        if self.proto:
            text += f" proto {self.proto}"
        if self.scope:
            text += f" scope {self.scope}"
        if self.src is not None:
            text += f" src {self.src}"
        if self.onlink:
            text += " onlink"
        return text


@dataclass(frozen=True)
class FdbEntry:
    """A forwarding-database entry, printed as `bridge fdb show` prints it."""

    mac: str
    dev: str
    master: str | None = None
    dst: IPv4Address | None = None
    self_entry: bool = False
    permanent: bool = False

    def __str__(self) -> str:
        text = f"{self.mac} dev {self.dev}"
        if self.dst is not None:
            text += f" dst {self.dst}"
        if self.self_entry:
            text += " self"
        if self.master:
            text += f" master {self.master}"
        if self.permanent:
            text += " permanent"
        return text


@dataclass(frozen=True)
class Neighbour:
    """A neighbour (ARP) entry, printed as `ip neigh show` prints it."""

    ip: IPv4Address
    lladdr: str
    dev: str
    state: str = "PERMANENT"

    def __str__(self) -> str:
        return f"{self.ip} dev {self.dev} lladdr {self.lladdr} {self.state}"


@dataclass(frozen=True)
class OvsFlow:
    """One OpenFlow entry of the OVS bridge, printed as `ovs-ofctl dump-flows` prints its match and actions."""

    priority: int
    output: str
    """The port the packet leaves by (`LOCAL` = the bridge's internal port)."""
    nw_dst: IPv4Network | None = None
    in_port: str | None = None
    protocol: str = "ip"
    table: int = 0

    def matches(self, in_port: str, dst: IPv4Address) -> bool:
        return (self.in_port is None or self.in_port == in_port) and (self.nw_dst is None or dst in self.nw_dst)

    def __str__(self) -> str:
        match = [f"table={self.table}", f"priority={self.priority}", self.protocol]
        if self.in_port:
            match.append(f"in_port={self.in_port}")
        if self.nw_dst is not None:
            match.append(("arp_tpa=" if self.protocol == "arp" else "nw_dst=") + str(self.nw_dst))
        return ",".join(match) + f" actions=output:{self.output}"


@dataclass(frozen=True)
class PodDatapath:
    """A pod's network namespace (the pause container's): lo and eth0, its routes."""

    pod: str
    node: str
    netns: str
    devices: tuple[Device, ...]
    routes: tuple[Route, ...]

    @cached_property
    def device_by_name(self) -> dict[str, Device]:
        return {d.name: d for d in self.devices}

    @cached_property
    def local_addresses(self) -> frozenset[IPv4Address]:
        return frozenset(a.ip for d in self.devices for a in d.addresses)

    @cached_property
    def route_table(self) -> RouteTable:
        return RouteTable(self.routes)

    def is_local(self, address: IPv4Address) -> bool:
        return address in self.local_addresses or address.is_loopback


@dataclass(frozen=True)
class NodeDatapath:
    """A node's host network namespace: every device, route and forwarding entry the CNI programs."""

    node: str
    netns: str
    devices: tuple[Device, ...]
    routes: tuple[Route, ...]
    bridge_fdb: tuple[FdbEntry, ...]
    vxlan_fdb: tuple[FdbEntry, ...]
    neighbours: tuple[Neighbour, ...]
    ovs_flows: tuple[OvsFlow, ...] = ()
    service_vips: frozenset[IPv4Address] = frozenset()
    """IPVS mode: every Service VIP, bound as /32 to kube-ipvs0, so local addresses of the node."""
    local_routes: tuple[Route, ...] = field(default=(), repr=False, compare=False)
    """The routes that are not per remote lease (lookups index these, and share `leases` across nodes)."""
    leases: RemoteLeases | None = field(default=None, repr=False, compare=False)

    @cached_property
    def device_by_name(self) -> dict[str, Device]:
        return {d.name: d for d in self.devices}

    @cached_property
    def local_addresses(self) -> frozenset[IPv4Address]:
        """Addresses of the node's own devices (kube-ipvs0's VIPs are in `service_vips`, shared by all nodes)."""
        return frozenset(a.ip for d in self.devices if d.name != IPVS_DUMMY for a in d.addresses)

    @cached_property
    def route_table(self) -> RouteTable:
        if self.leases is None:
            return RouteTable(self.routes)
        return RouteTable(self.local_routes, self.leases.route_table)

    @cached_property
    def _bridge_fdb_index(self) -> dict[tuple[str, str], FdbEntry]:
        return {(e.master or e.dev, e.mac): e for e in reversed(self.bridge_fdb)}

    def fdb_lookup(self, dev: str, mac: str) -> FdbEntry | None:
        """The FDB entry for `mac` on a bridge (by bridge name) or on a VXLAN device."""
        entry = self._bridge_fdb_index.get((dev, mac))
        if entry is None and self.leases is not None:
            owner, entry = self.leases.fdb_index.get((dev, mac), (self.node, None))
            if owner == self.node:
                return None
        return entry

    def neighbour_lookup(self, dev: str, address: IPv4Address) -> Neighbour | None:
        """The permanent neighbour entry for `address` on `dev`."""
        if self.leases is None:
            return None
        owner, entry = self.leases.neighbour_index.get((dev, address), (self.node, None))
        return None if owner == self.node else entry

    def is_local(self, address: IPv4Address) -> bool:
        return address in self.local_addresses or address in self.service_vips or address.is_loopback


class RouteTable:
    """Longest-prefix-match lookup over routes (indexed by prefix length). `fallback` holds entries shared
    by many nodes (one per remote lease); on equal prefix length this table's own entry wins."""

    __slots__ = ("routes", "_by_len", "_lengths", "_fallback")

    def __init__(self, routes: Iterable[Route], fallback: RouteTable | None = None):
        self.routes = tuple(routes)
        by_len: dict[int, dict[int, Route]] = {}
        for route in self.routes:
            by_len.setdefault(route.dst.prefixlen, {}).setdefault(int(route.dst.network_address), route)
        self._by_len = by_len
        self._lengths = sorted(by_len, reverse=True)
        self._fallback = fallback

    def lookup(self, address: IPv4Address) -> Route | None:
        value = int(address)
        found = None
        for length in self._lengths:
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            found = self._by_len[length].get(value & mask)
            if found is not None:
                break
        if self._fallback is not None:
            shared = self._fallback.lookup(address)
            if shared is not None and (found is None or shared.dst.prefixlen > found.dst.prefixlen):
                return shared
        return found


LOOPBACK = Device("lo", DeviceKind.LOOPBACK, LOOPBACK_MTU, "00:00:00:00:00:00", 1, (IPv4Interface("127.0.0.1/8"),),
                  state="UNKNOWN")
DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


# --- cluster-wide pieces, computed once per Cluster object (webapp.engine.memo) ----------------------------

_T = TypeVar("_T")


def underlay_network(cluster: Cluster, node: Node) -> IPv4Network:
    """The network the node's NIC sits on: `network.nodeNetwork` when it holds the node, else one segment
    shared by all nodes — the smallest network (at most /24) that holds every node IP and a free address
    for the gateway."""
    net = cluster.settings.node_network
    if net is not None and node.internal_ip in net:
        return net
    return cluster_cached(cluster, "inferred-node-network", lambda: _inferred_node_network(cluster))


def _inferred_node_network(cluster: Cluster) -> IPv4Network:
    addresses = [int(n.internal_ip) for n in cluster.nodes]
    low, high = min(addresses), max(addresses)
    prefix = 24
    while prefix > 8:
        network = IPv4Network((low, prefix), strict=False)
        if high in range(int(network.network_address), int(network.broadcast_address) + 1) \
                and network.num_addresses - 2 > len(addresses):
            return network
        prefix -= 1
    return IPv4Network((low, 8), strict=False)


def underlay_gateway(cluster: Cluster, node: Node) -> IPv4Address:
    """The default gateway of the node's network: its first address that is no node's (an assumption; the
    model does not say where the router is)."""
    network = underlay_network(cluster, node)
    taken = cluster.node_by_ip
    candidate = network.network_address + 1
    while candidate in taken and candidate + 1 in network:
        candidate += 1
    return candidate


def vtep_mac(node: Node) -> str:
    """flannel.1's MAC on a node (flannel publishes it as VtepMAC in the node's backend-data annotation)."""
    return mac_address("vtep", node.name)


def pod_mac(pod: Pod) -> str:
    return mac_address("pod", pod.key)


def node_nic_mac(node: Node) -> str:
    return mac_address("nic", node.name)


def bridge_mac(cluster: Cluster, node: Node) -> str:
    return mac_address("bridge", str(cluster.settings.bridge), node.name)


@dataclass(frozen=True)
class RemoteLeases:
    """What every other node's lease adds to a node — one route, neighbour and FDB entry per remote node —
    built once per cluster and shared by all nodes (each node leaves out its own lease)."""

    owners: tuple[str, ...]
    """Node names, in cluster order; `neighbours` and `fdb` follow it (empty for host-gw and OVS)."""
    routes: tuple[Route, ...]
    neighbours: tuple[Neighbour, ...]
    fdb: tuple[FdbEntry, ...]

    @cached_property
    def position(self) -> dict[str, int]:
        return {owner: i for i, owner in enumerate(self.owners)}

    @cached_property
    def route_table(self) -> RouteTable:
        return RouteTable(self.routes)

    @cached_property
    def neighbour_index(self) -> dict[tuple[str, IPv4Address], tuple[str, Neighbour]]:
        return {(n.dev, n.ip): (owner, n) for owner, n in zip(self.owners, self.neighbours)}

    @cached_property
    def fdb_index(self) -> dict[tuple[str, str], tuple[str, FdbEntry]]:
        return {(e.dev, e.mac): (owner, e) for owner, e in zip(self.owners, self.fdb)}

    @cached_property
    def _sorted_routes(self) -> tuple[list[tuple[int, int, int]], list[Route], dict[str, int]]:
        ordered = sorted((_route_order(r), i) for i, r in enumerate(self.routes))  # each route's order once
        return ([key for key, _ in ordered], [self.routes[i] for _, i in ordered],
                {self.owners[i]: at for at, (_, i) in enumerate(ordered)})

    def without(self, entries: tuple[_T, ...], owner: str) -> tuple[_T, ...]:
        """`entries` (in owner order) minus `owner`'s own."""
        i = self.position.get(owner)
        return entries if i is None or not entries else entries[:i] + entries[i + 1:]

    def merged_routes(self, owner: str, local: list[Route]) -> tuple[Route, ...]:
        """`local` routes plus every other lease's route, in `ip route` order."""
        keys, routes, where = self._sorted_routes
        i = where.get(owner)
        if i is not None:
            keys, routes = keys[:i] + keys[i + 1:], routes[:i] + routes[i + 1:]
        else:
            keys, routes = list(keys), list(routes)
        for route in sorted(local, key=_route_order):
            at = bisect.bisect_left(keys, _route_order(route))
            keys.insert(at, _route_order(route))
            routes.insert(at, route)
        return tuple(routes)


def _remote_entries(cluster: Cluster, nic: str) -> RemoteLeases:
    """Per-lease entries, shared by all nodes (each node skips its own lease)."""

    def build() -> RemoteLeases:
        settings = cluster.settings
        owners = tuple(n.name for n in cluster.nodes)
        if settings.overlay == Overlay.FLANNEL_VXLAN:
            dev = f"{VXLAN_DEVICE_PREFIX}{settings.vxlan_vni}"
            macs = [vtep_mac(node) for node in cluster.nodes]
            return RemoteLeases(
                owners,
                tuple(Route(n.pod_cidr, dev, via=n.vtep_ip, onlink=True) for n in cluster.nodes),
                tuple(Neighbour(n.vtep_ip, mac, dev) for n, mac in zip(cluster.nodes, macs)),
                tuple(FdbEntry(mac, dev, dst=n.internal_ip, self_entry=True, permanent=True)
                      for n, mac in zip(cluster.nodes, macs)))
        if settings.overlay == Overlay.FLANNEL_HOST_GW:
            return RemoteLeases(owners, tuple(Route(n.pod_cidr, nic, via=n.internal_ip) for n in cluster.nodes),
                                (), ())
        return RemoteLeases((), (), (), ())

    return cluster_cached(cluster, f"remote-entries/{nic}", build)


def service_vips(cluster: Cluster) -> frozenset[IPv4Address]:
    """IPVS mode: the addresses kube-proxy binds to kube-ipvs0 — the cluster IP, external IPs and load-balancer IPs
    of every service it proxies (one with a cluster IP and at least one port; not ExternalName)."""

    def build() -> frozenset[IPv4Address]:
        out: set[IPv4Address] = set()
        for service in cluster.services:
            if service.cluster_ip is None or service.type == ServiceType.EXTERNAL_NAME or not service.ports:
                continue
            out.add(service.cluster_ip)
            out.update(service.external_ips)
            if service.type == ServiceType.LOAD_BALANCER:
                out.update(service.load_balancer_ips)
        return frozenset(out)

    return cluster_cached(cluster, "ipvs-vips", build)


def _ipvs_vip_addresses(cluster: Cluster) -> tuple[IPv4Interface, ...]:
    """kube-ipvs0's addresses, sorted, as /32 interface addresses (shared by every node)."""
    return cluster_cached(cluster, "ipvs-vip-addresses", lambda: tuple(
        IPv4Interface(f"{ip}/32") for ip in sorted(service_vips(cluster))))


def node_owning(cluster: Cluster, address: IPv4Address) -> Node | None:
    """The node one of whose own devices holds `address`: its NIC, its bridge (the pods' gateway) or, under
    flannel VXLAN, flannel.1's /32 — as `_build_node_datapath` assigns them (kube-ipvs0's shared VIPs excluded)."""

    def build() -> dict[IPv4Address, Node]:
        vxlan = cluster.settings.overlay == Overlay.FLANNEL_VXLAN
        index: dict[IPv4Address, Node] = {}
        for node in cluster.nodes:
            for ip in (node.internal_ip, node.bridge_ip, *((node.vtep_ip,) if vxlan else ())):
                index.setdefault(ip, node)
        return index

    return cluster_cached(cluster, "node-owning", build).get(address)


def pods_with_netns(cluster: Cluster, node_name: str) -> tuple[Pod, ...]:
    """The node's pods that have their own network namespace (hostNetwork pods share the host's)."""
    return tuple(p for p in cluster.pods_by_node.get(node_name, ()) if not p.host_network)


def _node(cluster: Cluster, node_name: str) -> Node:
    try:
        return cluster.node_by_name[node_name]
    except KeyError:
        known = ", ".join(sorted(cluster.node_by_name)) or "none"
        raise ValueError(f"node {node_name!r} not found (nodes: {known})") from None


def node_datapath(cluster: Cluster, node_name: str) -> NodeDatapath:
    """Everything the CNI programs in one node's host network namespace (cached per cluster and node)."""
    return cluster_cached(cluster, f"node/{node_name}",
                          lambda: _build_node_datapath(cluster, _node(cluster, node_name)))


def _build_node_datapath(cluster: Cluster, node: Node) -> NodeDatapath:
    settings = cluster.settings
    netns = host_netns(node.name)
    bridge = str(settings.bridge)
    pod_mtu = settings.overlay_mtu
    underlay = underlay_network(cluster, node)
    devices = [
        LOOPBACK,
        Device(node.nic, DeviceKind.NIC, settings.mtu, node_nic_mac(node), 2,
               (IPv4Interface((node.internal_ip, underlay.prefixlen)),
                *(IPv4Interface((address, 32)) for address in node.addresses))),
        Device(bridge, DeviceKind.BRIDGE, pod_mtu, bridge_mac(cluster, node), 3,
               (IPv4Interface((node.bridge_ip, node.pod_cidr.prefixlen)),)),
    ]
    routes = [
        Route(DEFAULT_ROUTE, node.nic, via=underlay_gateway(cluster, node)),
        Route(underlay, node.nic, proto="kernel", scope="link", src=node.internal_ip),
        Route(node.pod_cidr, bridge, proto="kernel", scope="link", src=node.bridge_ip),
    ]
    vxlan_fdb: tuple[FdbEntry, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    ovs_flows: list[OvsFlow] = []
    bridge_fdb: list[FdbEntry] = []
    remote = _remote_entries(cluster, node.nic)
    if settings.overlay == Overlay.FLANNEL_VXLAN:
        dev = f"{VXLAN_DEVICE_PREFIX}{settings.vxlan_vni}"
        devices.append(Device(
            dev, DeviceKind.VXLAN, settings.mtu - VXLAN_OVERHEAD, vtep_mac(node), 4,
            (IPv4Interface((node.vtep_ip, 32)),),
            vxlan=VxlanParams(settings.vxlan_vni, settings.vxlan_port, node.internal_ip, False, node.nic),
            state="UNKNOWN"))
        vxlan_fdb = remote.without(remote.fdb, node.name)
        neighbours = remote.without(remote.neighbours, node.name)
    elif settings.overlay == Overlay.OVS_VXLAN:
        devices.append(Device(OVS_BRIDGE, DeviceKind.OVS_BRIDGE, pod_mtu, mac_address("ovs", node.name), 4,
                              master=bridge))
        routes.append(Route(settings.pod_cidr, bridge, scope="link", src=node.bridge_ip))
        bridge_fdb.append(FdbEntry(mac_address("ovs", node.name), OVS_BRIDGE, master=bridge, permanent=True))
        index = 5
        for other in cluster.nodes:
            if other.name == node.name:
                continue
            port = ovs_vxlan_port_name(other.internal_ip)
            devices.append(Device(port, DeviceKind.OVS_VXLAN_PORT, settings.mtu,
                                  mac_address("ovs-port", node.name, port), index, master=OVS_BRIDGE, state="UNKNOWN",
                                  vxlan=VxlanParams(settings.vxlan_vni, OVS_VXLAN_PORT, node.internal_ip,
                                                    remote=other.internal_ip)))
            index += 1
            ovs_flows.append(OvsFlow(100, port, nw_dst=other.pod_cidr, in_port="LOCAL"))
            ovs_flows.append(OvsFlow(100, port, nw_dst=other.pod_cidr, in_port="LOCAL", protocol="arp"))
            ovs_flows.append(OvsFlow(100, "LOCAL", nw_dst=node.pod_cidr, in_port=port))
            ovs_flows.append(OvsFlow(100, "LOCAL", nw_dst=node.pod_cidr, in_port=port, protocol="arp"))
        # One L2 domain across the tunnels: remote bridges and pods are learned behind the OVS port.
        for other in cluster.nodes:
            if other.name != node.name:
                bridge_fdb.append(FdbEntry(bridge_mac(cluster, other), OVS_BRIDGE, master=bridge))
        for other_pod in cluster.pods:
            if other_pod.node != node.name and not other_pod.host_network:
                bridge_fdb.append(FdbEntry(pod_mac(other_pod), OVS_BRIDGE, master=bridge))
    vips: frozenset[IPv4Address] = frozenset()
    if settings.kube_proxy_mode == KubeProxyMode.IPVS:
        vips, vip_addresses = service_vips(cluster), _ipvs_vip_addresses(cluster)
        devices.append(Device(IPVS_DUMMY, DeviceKind.DUMMY, 1500, mac_address("ipvs", node.name), len(devices) + 1,
                              vip_addresses, state="DOWN"))
    for offset, pod in enumerate(pods_with_netns(cluster, node.name)):
        name = veth_name(pod.key)
        devices.append(Device(name, DeviceKind.VETH, pod_mtu, mac_address("veth", pod.key),
                              FIRST_VETH_IFINDEX + offset, master=bridge,
                              peer=PeerRef(pod_netns(pod.key), "eth0", POD_ETH0_IFINDEX)))
        bridge_fdb.append(FdbEntry(mac_address("veth", pod.key), name, master=bridge, permanent=True))
        bridge_fdb.append(FdbEntry(pod_mac(pod), name, master=bridge))
    return NodeDatapath(node.name, netns, tuple(devices), remote.merged_routes(node.name, routes), tuple(bridge_fdb),
                        vxlan_fdb, neighbours, tuple(ovs_flows), vips, local_routes=tuple(routes), leases=remote)


def _route_order(route: Route) -> tuple[int, int, int]:
    """`ip route` order: default first, then by destination address and prefix length."""
    return (route.dst.prefixlen != 0, int(route.dst.network_address), route.dst.prefixlen)


def _veth_ifindex(cluster: Cluster, pod: Pod) -> int:
    """The host-side veth's ifindex: veths are numbered from FIRST_VETH_IFINDEX in the node's pod order."""
    index = cluster_cached(cluster, f"veth-ifindex/{pod.node}", lambda: {
        p.key: FIRST_VETH_IFINDEX + i for i, p in enumerate(pods_with_netns(cluster, pod.node))})
    return index[pod.key]


def pod_datapath(cluster: Cluster, pod_key: str) -> PodDatapath:
    """The pod's network namespace (the pause container's): lo, eth0 (veth peer of the host side), routes."""
    return cluster_cached(cluster, f"pod/{pod_key}", lambda: _build_pod_datapath(cluster, pod_key))


def _build_pod_datapath(cluster: Cluster, pod_key: str) -> PodDatapath:
    pod = cluster.pod_by_key.get(pod_key)
    if pod is None:
        raise ValueError(f"pod {pod_key!r} not found")
    if pod.host_network:
        raise ValueError(f"pod {pod_key} uses hostNetwork: it has no network namespace of its own")
    node = _node(cluster, pod.node)
    settings = cluster.settings
    devices = (
        LOOPBACK,
        Device("eth0", DeviceKind.VETH, settings.overlay_mtu, pod_mac(pod), POD_ETH0_IFINDEX,
               (IPv4Interface((pod.pod_ip, node.pod_cidr.prefixlen)),),
               peer=PeerRef(host_netns(node.name), veth_name(pod.key), _veth_ifindex(cluster, pod))),
    )
    routes = [
        Route(DEFAULT_ROUTE, "eth0", via=node.bridge_ip),
        Route(node.pod_cidr, "eth0", proto="kernel", scope="link", src=pod.pod_ip),
    ]
    if settings.cni == "flannel":
        # flannel's CNI plugin asks host-local IPAM for a route to the whole flannel network via the gateway.
        routes.append(Route(settings.pod_cidr, "eth0", via=node.bridge_ip))
    return PodDatapath(pod.key, node.name, pod_netns(pod.key), devices, tuple(sorted(routes, key=_route_order)))


# --- rendering -----------------------------------------------------------------------------------------------

def _brief_addr(devices: Iterable[Device]) -> list[str]:
    lines = []
    for dev in devices:
        addrs = " ".join(str(a) for a in dev.addresses)
        lines.append(f"{dev.brief_name:<16} {dev.state:<14} {addrs}".rstrip())
    return lines


def _links(devices: Iterable[Device]) -> list[str]:
    lines = []
    for dev in devices:
        text = f"{dev.ifindex}: {dev.name}: mtu {dev.mtu} link/ether {dev.mac} type {dev.kind}"
        if dev.master:
            text += f" master {dev.master}"
        if dev.peer:
            text += f" peer {dev.peer}"
        if dev.vxlan:
            text += f" {dev.vxlan}"
        lines.append(text)
    return lines


def render_node_tables(cluster: Cluster, node_name: str) -> str:
    """A node's tables as `ip -br addr`, `ip -d link`, `ip route`, `bridge fdb`, `ip neigh` (and
    `ovs-ofctl dump-flows`) print them, followed by each pod namespace's `ip -br addr` and `ip route`."""
    dp = node_datapath(cluster, node_name)
    out = [f"# node {node_name} ({dp.netns})", "$ ip -br addr", *_brief_addr(dp.devices)]
    out += ["", "$ ip -d link", *_links(dp.devices)]
    out += ["", "$ ip route", *(str(r) for r in dp.routes)]
    out += ["", "$ bridge fdb show", *(str(e) for e in (*dp.bridge_fdb, *dp.vxlan_fdb))]
    out += ["", "$ ip neigh show nud permanent", *(str(n) for n in dp.neighbours)]
    if dp.ovs_flows:
        out += ["", f"$ ovs-ofctl dump-flows {OVS_BRIDGE}", *(str(f) for f in dp.ovs_flows)]
    for pod in pods_with_netns(cluster, node_name):
        pdp = pod_datapath(cluster, pod.key)
        out += ["", f"# pod {pod.key} ({pdp.netns})", "$ ip -br addr", *_brief_addr(pdp.devices),
                "$ ip route", *(str(r) for r in pdp.routes)]
    return "\n".join(out) + "\n"
