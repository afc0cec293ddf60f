"""What the engine predicts for one flow, read off its Trace in the terms the lab can observe: where the client
runs, what it sends, the disposition, the backend(s), the source address the backend sees, and the packets
that must cross the underlay. Pure functions: no namespaces needed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from pathlib import Path

from webapp.engine.trace import Action, Disposition, Hop, HopKind, SocketAddress, Trace
from webapp.lab import netns as nx
from webapp.lab.plan import LabNames

GATEWAY_DEVICE = "gateway"
"""The engine's name for the node network's router (webapp.engine.walk: the `underlay gateway` hops)."""
IPVS_PROC = Path("/proc/net/ip_vs")
"""Present when the running kernel has IPVS (the ip_vs module loaded or built in)."""


def ipvs_unverifiable() -> str:
    """Why the lab cannot check an IPVS hop on this machine."""
    if not IPVS_PROC.exists():
        return "IPVS is not built into this kernel"
    return "the lab does not program IPVS virtual servers (ipvsadm): only iptables and the CNI are built"


UNVERIFIABLE_KINDS = {HopKind.IPVS: ipvs_unverifiable()}
"""Hop kinds the lab cannot build, and why. (kube-proxy's userspace proxy it runs itself: webapp/lab/listener.py.)"""
DNS_CAVEAT = ("the DNS answer (the CNAME) is the engine's: the lab's kube-dns pods answer with who they are, "
              "not with DNS; the query to kube-dns and the connection to the resolved address are verified")


@dataclass(frozen=True)
class Crossing:
    """One packet on the underlay: outer (node → node, UDP port) when encapsulated, else the plain packet."""

    src: IPv4Address
    dst: IPv4Address
    proto: str
    port: int | None = None
    """UDP destination port of the tunnel (8472 flannel, 4789 OVS); None when not encapsulated."""
    inner_src: IPv4Address | None = None
    inner_dst: IPv4Address | None = None

    def __str__(self) -> str:
        if self.port is not None:
            return f"{self.src}→{self.dst} udp/{self.port} [{self.inner_src}→{self.inner_dst}]"
        return f"{self.src}→{self.dst} {self.proto}"


@dataclass(frozen=True)
class LoadBalancerStep:
    """A cloud load balancer in front of the nodes: connections to `vip` go to `target`."""

    vip: SocketAddress
    target: SocketAddress


@dataclass(frozen=True)
class Expectation:
    trace: Trace
    client_netns: str
    """The lab namespace the client runs in."""
    sent: SocketAddress
    """The source the engine says the client's packet leaves with."""
    dst: SocketAddress
    proto: str
    disposition: str
    backend_netns: str = ""
    """The engine namespace of the receiving application (`pod/NS/NAME`, `host/NODE`, `external`)."""
    backend_app: str = ""
    """The receiving application: the container of a pod (the last hop's device)."""
    backend: SocketAddress | None = None
    alternatives: tuple[SocketAddress, ...] = ()
    saw: SocketAddress | None = None
    src_translated: bool = False
    """The engine SNATs or masquerades on the way: only the address is compared, not the port (MASQUERADE
    `--random-fully` picks a new port even when the address stays the same)."""
    crossings: tuple[Crossing, ...] = ()
    entry_node: str | None = None
    """For clients outside the cluster: the node the outside network delivers to."""
    load_balancer: LoadBalancerStep | None = None
    bind_source: bool = False
    unverifiable: str | None = None
    caveat: str | None = None
    """A part of the trace the lab takes from the engine instead of checking it (e.g. the DNS answer)."""
    dns_query: Expectation | None = None
    """ExternalName: the query to kube-dns, checked as a flow of its own before the connection."""
    first_choice: SocketAddress | None = None
    """The backend the first load-balancing hop chose — not `backend` when the userspace proxy dialled past it."""


def _on_wire(hops: tuple[Hop, ...], index: int) -> bool:
    """A WIRE hop the lab's underlay bridge carries: a node's packet on the node network, or the gateway
    handing a packet to a node. (The gateway itself is the external namespace: its drops and its deliveries
    to outside hosts stay inside that namespace.)"""
    hop = hops[index]
    if hop.kind != HopKind.WIRE or hop.action != Action.FORWARD:
        return False
    if hop.device != GATEWAY_DEVICE:
        return True
    return index + 1 < len(hops) and hops[index + 1].netns.startswith("host/")


def _crossings(trace: Trace) -> tuple[Crossing, ...]:
    """Every distinct packet that travels on the underlay: encapsulated packets (outer and inner addresses)
    and plain packets on the node network."""
    seen: list[Crossing] = []
    for hops in (trace.hops, trace.reply):
        for index, hop in enumerate(hops):
            packet = hop.packet
            crossing = None
            if packet.outer is not None and hop.kind in (HopKind.WIRE, HopKind.VXLAN, HopKind.OVS):
                crossing = Crossing(packet.outer.src.ip, packet.outer.dst.ip, packet.outer.proto,
                                    packet.outer.dst.port, packet.src.ip, packet.dst.ip)
            elif _on_wire(hops, index):
                crossing = Crossing(packet.src.ip, packet.dst.ip, packet.proto)
            if crossing is not None and crossing not in seen:
                seen.append(crossing)
    return tuple(seen)


def split_dns(trace: Trace) -> tuple[Trace | None, Trace]:
    """An ExternalName trace asks kube-dns first: (the query, up to the DNS server's socket, as a delivered
    trace of its own; the connection that follows the answer). A trace without a DNS step: (None, trace)."""
    # kube-dns's answer (not the client's own resolver step after it, for a name the cluster does not declare)
    last_dns = max((i for i, hop in enumerate(trace.hops) if hop.kind == HopKind.DNS and hop.device == "kube-dns"),
                   default=None)
    if last_dns is None:
        return None, trace
    client = trace.hops[0].netns
    query_end = max(i for i in range(last_dns) if trace.hops[i].kind == HopKind.APP)
    query = Trace(replace(trace.flow, proto=trace.hops[0].packet.proto), Disposition.DELIVERED,
                  trace.hops[:query_end + 1])
    # The connection starts after the answer reaches the client's query socket: the first send from the client
    # after that. (When the client is itself a kube-dns endpoint — hairpin — the DNS server's reply is also a
    # send from the client's namespace, and is not the connection.)
    asked = trace.hops[0].packet.src
    answered = next((i for i in range(last_dns + 1, len(trace.hops)) if trace.hops[i].netns == client
                     and trace.hops[i].kind == HopKind.APP and trace.hops[i].action == Action.DELIVER
                     and trace.hops[i].packet.dst == asked), last_dns)
    start = next((i for i in range(answered + 1, len(trace.hops)) if trace.hops[i].netns == client
                  and trace.hops[i].kind == HopKind.APP and trace.hops[i].action == Action.SEND), len(trace.hops))
    return query, replace(trace, hops=trace.hops[start:])


def expectation(trace: Trace, names: LabNames) -> Expectation:
    """Read a trace as the lab will check it."""
    query, trace = split_dns(trace)
    caveat = DNS_CAVEAT if query is not None else None
    if not trace.hops:
        return Expectation(trace, "", SocketAddress(IPv4Address(0), 0), SocketAddress(IPv4Address(0), 0),
                           trace.flow.proto, str(trace.disposition),
                           unverifiable="the engine's trace has no connection to replay", caveat=caveat)
    first = trace.hops[0]
    proto = trace.flow.proto
    unverifiable = next((why for hop in (*trace.hops, *trace.reply)
                         for kind, why in UNVERIFIABLE_KINDS.items() if hop.kind == kind), None)
    if proto == "sctp" and unverifiable is None:
        unverifiable = nx.sctp_support()
    lb_hop = next((h for h in trace.hops if h.kind == HopKind.LOADBALANCER), None)
    load_balancer = None
    if lb_hop is not None:
        load_balancer = LoadBalancerStep(first.packet.dst, lb_hop.packet.dst)
    entry_node = next((h.node for h in trace.hops if h.node is not None), None)
    try:
        client = names.for_engine(first.netns)
    except ValueError as exc:
        return Expectation(trace, "", first.packet.src, first.packet.dst, proto, str(trace.disposition),
                           unverifiable=str(exc), caveat=caveat)
    base = dict(trace=trace, client_netns=client, sent=first.packet.src, dst=first.packet.dst, proto=proto,
                disposition=str(trace.disposition), crossings=_crossings(trace), entry_node=entry_node,
                load_balancer=load_balancer, bind_source=first.netns == "external", unverifiable=unverifiable,
                caveat=caveat, dns_query=expectation(query, names) if query is not None else None)
    # every backend a load-balancing hop may choose, once (the userspace proxy's retries list them again)
    alternatives = tuple(dict.fromkeys(a.dst for hop in trace.hops for a in hop.alternatives
                                       if hop.kind != HopKind.LOADBALANCER))
    first_choice = next((a.dst for hop in trace.hops if hop.kind != HopKind.LOADBALANCER
                         for a in hop.alternatives if a.chosen), None)
    base["first_choice"] = first_choice
    if trace.disposition != Disposition.DELIVERED:
        # a drop after a load-balancing choice (a NetworkPolicy of the chosen backend): the other backends
        # may fare otherwise, and the lab checks each
        return Expectation(**base, alternatives=alternatives)
    last = trace.hops[-1]
    # The userspace proxy's own connection to the backend (a PROXY hop) has a port of its own, like a SNAT.
    src_translated = any(change.field == "src" for change in trace.nat) or any(
        hop.action in (Action.SNAT, Action.MASQUERADE, Action.PROXY) for hop in trace.hops)
    return Expectation(**base, backend_netns=last.netns, backend_app=last.device, backend=last.packet.dst,
                       alternatives=alternatives, saw=last.packet.src, src_translated=src_translated)
