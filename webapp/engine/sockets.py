"""Where an application's packets start: the datapath tables of its network namespace, the source address and
client port the kernel picks for it, and the name of a host outside the cluster. The walk (webapp.engine.walk)
and the userspace proxy (webapp.engine.services) both open connections with these.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from ipaddress import IPv4Address

from webapp.engine.datapath import DeviceKind, NodeDatapath, PodDatapath, pod_datapath
from webapp.engine.topology import topology
from webapp.engine.trace import Netns, NetnsKind
from webapp.model import Cluster

EXTERNAL_NETNS = str(Netns(NetnsKind.EXTERNAL))


@lru_cache(maxsize=1 << 14)
def netns_of(text: str) -> Netns:
    """A network namespace's name, parsed (memoised: the walk asks at every hop)."""
    return Netns.parse(text)


def ephemeral_port(*parts: str) -> int:
    """A deterministic client port in Linux's ephemeral range: 40000 + CRC-32 of the flow spec mod 20000."""
    return 40000 + zlib.crc32("|".join(parts).encode()) % 20000


def netns_tables(cluster: Cluster, netns: str) -> NodeDatapath | PodDatapath:
    """The datapath tables of a node's or a pod's network namespace (building the node's part of the topology)."""
    where = netns_of(netns)
    if where.kind == NetnsKind.HOST:
        return topology(cluster).ensure_node(where.name)
    if where.kind == NetnsKind.POD:
        datapath = pod_datapath(cluster, where.name)
        topology(cluster).ensure_node(datapath.node)
        return datapath
    raise ValueError(f"{netns} has no datapath tables")


def source_address(cluster: Cluster, netns: str, dst: IPv4Address) -> IPv4Address:
    """The source address the kernel picks for a socket in `netns` talking to `dst`: the route's `src`, else
    the first address of the route's device."""
    tables = netns_tables(cluster, netns)
    if tables.is_local(dst):
        return dst
    route = tables.route_table.lookup(dst)
    if route is None:
        raise ValueError(f"{netns} has no route to {dst}")
    if route.src is not None:
        return route.src
    device = tables.device_by_name[route.dev]
    return device.addresses[0].ip if device.addresses else _first_address(tables)


def _first_address(tables: NodeDatapath | PodDatapath) -> IPv4Address:
    return next(a.ip for d in tables.devices if d.kind != DeviceKind.LOOPBACK for a in d.addresses)


def external_name(cluster: Cluster, address: IPv4Address) -> str:
    """The name of a host outside the cluster (a declared external host, else its address)."""
    for host in cluster.external_hosts:
        if host.ip == address:
            return host.name
    return str(address)
