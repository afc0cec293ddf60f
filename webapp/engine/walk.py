"""The hop-by-hop walk: a packet moves through network namespaces and devices, and every step is decided by
the datapath tables of the device it is on — a routing-table lookup, a bridge FDB lookup, a VXLAN neighbour
and FDB lookup, an OVS flow, the netfilter hooks of a node — never by a list of hops per flow type.

Host namespaces run netfilter in the kernel's order (`_netfilter`, the one call site):
arriving → PREROUTING → routing → INPUT → local delivery (IPVS / userspace proxy via services.local_service),
or → FORWARD → POSTROUTING → out; locally generated → OUTPUT → routing → POSTROUTING.
Bridged frames pass PREROUTING, FORWARD and POSTROUTING too (br_netfilter, bridge-nf-call-iptables=1, which
kubeadm requires). The reply walks back from the receiving application; netfilter's nat table is not consulted
again — conntrack reverses each NAT at the node that made it (un-snat at PREROUTING/OUTPUT, un-dnat at
POSTROUTING/INPUT). See docs/trace-contract.md.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import NoReturn

from webapp.engine import netfilter, policy_hops, rulesets, services
from webapp.engine.datapath import (
    IPVS_DUMMY, Device, DeviceKind, NodeDatapath, PodDatapath, Route, bridge_mac, host_netns, mac_address,
    node_nic_mac, pod_mac, pod_netns, underlay_gateway, underlay_network,
)
from webapp.engine.memo import cluster_cached
from webapp.engine.netfilter import Hook, PacketContext, Verdict
from webapp.engine.node_listeners import find_listener, node_listeners
from webapp.engine.sockets import EXTERNAL_NETNS, external_name, netns_of, netns_tables as _tables
from webapp.engine.topology import Topology, topology
from webapp.engine.trace import Action, Disposition, Hop, HopKind, Netns, NetnsKind, OuterHeader, Packet, SocketAddress
from webapp.model import Cluster, Node, Overlay, Pod, Protocol, ServiceType
from webapp.narration import say

UNDERLAY_NETNS = str(Netns(NetnsKind.UNDERLAY))
ROUTER_NETNS = str(Netns(NetnsKind.ROUTER))
OUTSIDE = "(outside)"
"""Conntrack key for NAT done outside every node (a cloud load balancer)."""
MAX_HOPS = 400
VXLAN_SPORT_MIN, VXLAN_SPORT_MAX = 32768, 60999
"""Linux picks a VXLAN outer source port from a hash of the inner flow within the local port range."""


@dataclass(frozen=True)
class Socket:
    """Where an application sits: a container of a pod, a process of a node, a host outside the cluster."""

    netns: str
    node: str | None
    app: str
    """Container name, a node's process (`kubelet`, `kube-proxy`, `kube-apiserver`; `socket` for a node's
    unnamed client), or the external host's name."""
    kind: HopKind = HopKind.APP


@dataclass
class Leg:
    """One connection of the request: the userspace proxy ends one leg and opens the next."""

    start: Socket
    sent: Packet
    end: Socket | None = None
    delivered: Packet | None = None


@dataclass(frozen=True)
class ConntrackEntry:
    """One NAT a node applied to the request: the packet before and after, and the rule that did it."""

    node: str
    before: Packet
    after: Packet
    rule: str
    kind: HopKind = HopKind.NETFILTER
    device: str = "conntrack"


@dataclass
class WalkResult:
    hops: tuple[Hop, ...]
    disposition: Disposition
    reason: str | None
    legs: list[Leg]
    conntrack: list[ConntrackEntry]
    notes: tuple[str, ...] = ()
    """What a plugin that enforces no NetworkPolicy let through that a policy would have denied."""


class _End(Exception):
    def __init__(self, disposition: Disposition, reason: str | None = None):
        super().__init__(reason)
        self.disposition = disposition
        self.reason = reason


@dataclass(frozen=True)
class _L2Peer:
    """Who answered ARP on a link: the namespace and device that own the next hop, and its MAC."""

    netns: str
    device: str
    mac: str


def vxlan_source_port(inner: Packet) -> int:
    """The outer UDP source port: a CRC-32 of the inner 5-tuple spread over 32768–60999 (as Linux hashes)."""
    key = f"{inner.proto}|{inner.src}|{inner.dst}".encode()
    return VXLAN_SPORT_MIN + zlib.crc32(key) % (VXLAN_SPORT_MAX - VXLAN_SPORT_MIN + 1)


def _is_host(netns: str) -> bool:
    return netns_of(netns).is_host


class Walker:
    """Walks one request (and then its reply) through the cluster's datapath."""

    def __init__(self, cluster: Cluster, *, backend: IPv4Address | None = None,
                 outside: Mapping[IPv4Address, str] | None = None):
        """`outside`: names of outside hosts the cluster does not declare (an ExternalName's unknown host)."""
        self.cluster = cluster
        self.outside = dict(outside or {})
        self.topology: Topology = topology(cluster)
        self.backend = backend
        self.hops: list[Hop] = []
        self.legs: list[Leg] = []
        self.conntrack: list[ConntrackEntry] = []
        self.reply = False
        self.reply_target: Socket | None = None
        self.mark = 0
        self.notes: list[str] = []

    # --- entry points ------------------------------------------------------------------------------------

    def request(self, source: Socket, packet: Packet) -> WalkResult:
        self.legs.append(Leg(source, packet))
        return self._until_end(lambda: self._send(source, packet))

    def request_via(self, source: Socket, sent: Packet, prelude: tuple[Hop, ...], arriving: Packet) -> WalkResult:
        """A request whose first steps happened outside the nodes (a cloud load balancer): `prelude` took
        `sent` to `arriving`, which the network now delivers."""
        self.hops.extend(prelude)
        self.legs.append(Leg(source, sent))
        if arriving != sent:
            rule = prelude[-1].rule if prelude else ""
            device = prelude[-1].device if prelude else "load-balancer"
            self.conntrack.append(ConntrackEntry(OUTSIDE, sent, arriving, rule, HopKind.LOADBALANCER, device))
        return self._until_end(lambda: self._router(arriving))

    def request_to_node(self, source: Socket, sent: Packet, prelude: tuple[Hop, ...], node_name: str) -> WalkResult:
        """A request a passthrough load balancer (`prelude`) hands to `node_name`'s NIC as it is, still addressed
        to the load balancer's IP: the node's kube-proxy takes it from PREROUTING on."""
        self.hops.extend(prelude)
        self.legs.append(Leg(source, sent))
        node = self.cluster.node_by_name[node_name]

        def deliver() -> None:
            self._hop(UNDERLAY_NETNS, "gateway", HopKind.WIRE, Action.FORWARD, sent, f"{sent.dst.ip} → node {node.name}",
                      say("walk.router.to_node", address=sent.dst.ip, node=node.name, node_ip=node.internal_ip))
            self.topology.ensure_node(node.name)
            self._l2_receive(host_netns(node.name), node.nic, sent, node_nic_mac(node), None)

        return self._until_end(deliver)

    def _until_end(self, step: Callable[[], None]) -> WalkResult:
        """Run the walk until it delivers, drops, rejects or finds no route (every path ends in `_End`)."""
        try:
            step()
            raise _End(Disposition.NO_ROUTE, say("walk.end.no_socket"))  # pragma: no cover
        except _End as end:
            return WalkResult(tuple(self.hops), end.disposition, end.reason, self.legs, self.conntrack,
                              tuple(dict.fromkeys(self.notes)))

    def reply_to(self, request: WalkResult) -> tuple[tuple[Hop, ...], str | None]:
        """The reply of a delivered request, leg by leg in reverse; returns (hops, problem or None)."""
        self.reply, self.hops, self.conntrack = True, [], list(request.conntrack)
        problem = None
        for leg in reversed(request.legs):
            assert leg.end is not None and leg.delivered is not None
            self.legs = [Leg(leg.end, leg.delivered.reversed())]
            self.reply_target = leg.start
            self.mark = 0
            try:
                self._send(leg.end, leg.delivered.reversed())
            except _End as end:
                if end.disposition != Disposition.DELIVERED:
                    return tuple(self.hops), end.reason
            got = self.legs[-1].delivered
            if got != leg.sent.reversed():
                problem = say("walk.reply.mismatch", netns=leg.start.netns, got=got, expected=leg.sent.reversed())
        return tuple(self.hops), problem

    # --- hops ---------------------------------------------------------------------------------------------

    def _hop(self, netns: str, device: str, kind: HopKind, action: Action, packet: Packet, rule: str = "",
             explain: str = "") -> None:
        if len(self.hops) >= MAX_HOPS:
            raise _End(Disposition.DROPPED, say("walk.loop", max_hops=MAX_HOPS))
        where = netns_of(netns)
        node = where.name if where.is_host else None
        if where.is_pod:
            pod = self.cluster.pod_by_key.get(where.name)
            node = pod.node if pod else None
        self.hops.append(Hop(node, netns, device, kind, action, packet, rule, explain))

    def _send(self, source: Socket, packet: Packet) -> NoReturn:
        key = "walk.send.reply" if self.reply else "walk.send.request"
        self._hop(source.netns, source.app, source.kind, Action.SEND, packet,
                  explain=say(key, app=source.app, src=packet.src, dst=packet.dst, proto=packet.proto))
        if source.netns == EXTERNAL_NETNS:
            self._router(packet)
        else:
            self._local_out(source.netns, packet)

    # --- IP layer -----------------------------------------------------------------------------------------

    def _route(self, netns: str, packet: Packet, address: IPv4Address) -> Route:
        tables = _tables(self.cluster, netns)
        route = tables.route_table.lookup(address)
        if route is None:
            self._hop(netns, "-", HopKind.ROUTE, Action.DROP, packet, explain=say("walk.route.none", address=address))
            raise _End(Disposition.NO_ROUTE, say("walk.route.none.reason", netns=netns, address=address))
        explain = (say("walk.route.via", address=address, dev=route.dev, via=route.via) if route.via else
                   say("walk.route.onlink", address=address, dev=route.dev))
        self._hop(netns, route.dev, HopKind.ROUTE, Action.LOOKUP, packet, str(route), explain)
        return route

    def _local_out(self, netns: str, packet: Packet) -> NoReturn:
        """A packet generated by a socket in `netns`: OUTPUT, routing, POSTROUTING, out."""
        tables = _tables(self.cluster, netns)
        if _is_host(netns):
            packet = self._netfilter(netns, Hook.OUTPUT, packet, None, None)
        if tables.is_local(packet.dst.ip):
            self._hop(netns, "lo", HopKind.LOOPBACK, Action.FORWARD, packet,
                      explain=say("walk.loopback", address=packet.dst.ip))
            if _is_host(netns):
                # IPVS also hooks LOCAL_OUT: a node's own connection to a VIP is scheduled before it loops back.
                if not self.reply:
                    self._local_service(netns, netns_of(netns).name, packet, "lo")
                packet = self._netfilter(netns, Hook.POSTROUTING, packet, None, "lo")
                packet = self._netfilter(netns, Hook.INPUT, packet, "lo", None)
            self._deliver(netns, packet, "lo")
        route = self._route(netns, packet, packet.dst.ip)
        if _is_host(netns):
            packet = self._netfilter(netns, Hook.POSTROUTING, packet, None, route.dev)
        self._output(netns, route, packet)

    def _receive(self, netns: str, device: str, packet: Packet) -> NoReturn:
        """A packet arriving on `device`: PREROUTING, then local delivery or forwarding."""
        tables = _tables(self.cluster, netns)
        host = _is_host(netns)
        if host:
            packet = self._netfilter(netns, Hook.PREROUTING, packet, device, None)
        if tables.is_local(packet.dst.ip):
            if host:
                packet = self._netfilter(netns, Hook.INPUT, packet, device, None)
            self._deliver(netns, packet, device)
        if not host:
            self._hop(netns, device, HopKind.INTERFACE, Action.DROP, packet,
                      explain=say("walk.pod.no_forward"))
            raise _End(Disposition.DROPPED, say("walk.pod.no_forward.reason", netns=netns, address=packet.dst.ip))
        route = self._route(netns, packet, packet.dst.ip)
        packet = self._netfilter(netns, Hook.FORWARD, packet, device, route.dev)
        packet = self._netfilter(netns, Hook.POSTROUTING, packet, device, route.dev)
        self._output(netns, route, packet)

    def _output(self, netns: str, route: Route, packet: Packet) -> NoReturn:
        """Send out of the route's device: neighbour resolution, then the device's own transmit."""
        tables = _tables(self.cluster, netns)
        device = tables.device_by_name[route.dev]
        next_hop = route.via or packet.dst.ip
        if device.kind == DeviceKind.VXLAN:
            self._vxlan_xmit(netns, tables, device, next_hop, packet)
        peer = self._arp(netns, device, next_hop)
        if peer is None:
            self._hop(netns, device.name, HopKind.INTERFACE, Action.DROP, packet,
                      explain=say("walk.arp.none", address=next_hop, device=device.name))
            raise _End(Disposition.DROPPED, say("walk.arp.none.reason", address=next_hop, device=device.name,
                                                netns=netns))
        self._xmit(netns, device, packet, peer)

    def _netfilter(self, netns: str, hook: Hook, packet: Packet, in_dev: str | None, out_dev: str | None) -> Packet:
        """The one place the walk meets netfilter: the request runs the node's rules; the reply meets conntrack."""
        node = netns_of(netns).name
        enforced = self.cluster.settings.enforces_policy and hook in policy_hops.POLICY_HOOKS
        if self.reply:
            if enforced:
                self.hops.extend(policy_hops.reply_hops(self.cluster, node, rulesets.node_ruleset(self.cluster, node),
                                                        hook, packet, in_dev, out_dev))
            return self._conntrack(node, netns, hook, packet, in_dev or out_dev or "")
        ruleset = rulesets.node_path_ruleset(self.cluster, node)
        ctx = PacketContext(packet, node, in_dev, out_dev, self.mark, self.backend)
        outcome = netfilter.traverse(ruleset, hook, ctx)
        if enforced:
            hops, reason = policy_hops.policy_hops(self.cluster, node, outcome)
            outcome = replace(outcome, hops=hops, reason=reason)
        elif self.cluster.network_policies:
            self.notes += policy_hops.unenforced_notes(self.cluster, node, hook, packet, in_dev, out_dev)
        self.hops.extend(outcome.hops)
        self.mark = outcome.mark
        if outcome.packet != packet:
            rule = next((h.rule for h in reversed(outcome.hops) if h.packet == outcome.packet), "")
            self.conntrack.append(ConntrackEntry(node, packet, outcome.packet, rule))
        if outcome.verdict != Verdict.ACCEPT:
            rejected = outcome.verdict == Verdict.REJECT
            raise _End(Disposition.REJECTED if rejected else Disposition.DROPPED,
                       outcome.reason or say("walk.netfilter.rejects" if rejected else "walk.netfilter.drops",
                                             hook=hook, node=node))
        return outcome.packet

    def _conntrack(self, node: str, netns: str, hook: Hook, packet: Packet, device: str) -> Packet:
        """Reverse the request's NAT on its reply: un-snat where a reply arrives (PREROUTING, OUTPUT), un-dnat
        where it leaves or is delivered (POSTROUTING, INPUT)."""
        if hook == Hook.FORWARD:
            return packet
        un_snat = hook in (Hook.PREROUTING, Hook.OUTPUT)
        for entry in reversed(self.conntrack):
            if entry.node != node or packet.src != entry.after.dst or packet.dst != entry.after.src:
                continue
            if un_snat and entry.before.src != entry.after.src:
                new = replace(packet, dst=entry.before.src)
                action, explain = Action.UNSNAT, say("walk.conntrack.unsnat", before=packet.dst, after=new.dst)
            elif not un_snat and entry.before.dst != entry.after.dst:
                new = replace(packet, src=entry.before.dst)
                action, explain = Action.UNDNAT, say("walk.conntrack.undnat", before=packet.src, after=new.src)
            else:
                continue
            self._hop(netns, entry.device, entry.kind, action, new, f"conntrack (request: {entry.rule})", explain)
            packet = new
        return packet

    # --- delivery ----------------------------------------------------------------------------------------

    def _deliver(self, netns: str, packet: Packet, device: str) -> NoReturn:
        if self.reply:
            target = self.reply_target
            if target is None or target.netns != netns:
                self._hop(netns, device, HopKind.INTERFACE, Action.DROP, packet,
                          explain=say("walk.deliver.unexpected_reply"))
                raise _End(Disposition.DROPPED, say("walk.deliver.unexpected_reply.reason", netns=netns))
            self._arrive(target, packet)
        where = netns_of(netns)
        if where.is_host:
            node = where.name
            self._local_service(netns, node, packet, device)
            self._no_virtual_server(netns, packet)
            socket = self._host_socket(node, packet, device)
        else:
            socket = self._pod_socket(where.name, packet, device)
        self._arrive(socket, packet)

    def _arrive(self, socket: Socket, packet: Packet) -> NoReturn:
        self._hop(socket.netns, socket.app, socket.kind, Action.DELIVER, packet,
                  explain=say("walk.deliver.arrives", app=socket.app, src=packet.src, dst=packet.dst))
        self.legs[-1].end, self.legs[-1].delivered = socket, packet
        raise _End(Disposition.DELIVERED)

    def _local_service(self, netns: str, node: str, packet: Packet, device: str) -> None:
        """IPVS virtual servers and the userspace proxy take local deliveries first (services.local_service); this
        returns only when neither takes the packet."""
        ctx = PacketContext(packet, node, device, None, self.mark, self.backend)
        outcome = services.local_service(self.cluster, node, ctx)
        if outcome is None:
            return
        self.hops.extend(outcome.hops)
        if outcome.verdict != Verdict.ACCEPT:
            rejected = outcome.verdict == Verdict.REJECT
            raise _End(Disposition.REJECTED if rejected else Disposition.DROPPED, outcome.reason)
        if outcome.locally_generated:
            # The userspace proxy: this connection ends at kube-proxy, which opens a new one to the backend.
            proxy = Socket(netns, node, "kube-proxy", HopKind.PROXY)
            self.legs[-1].end, self.legs[-1].delivered = proxy, packet
            if outcome.dial is not None:
                self._proxy_dial(netns, proxy, outcome.packet, outcome.dial)
            self.legs.append(Leg(proxy, outcome.packet))
            self.mark = 0
            self._local_out(netns, outcome.packet)
        # IPVS: the virtual server rewrote the destination; the packet goes on to routing and POSTROUTING.
        new = outcome.packet
        if new != packet:
            rule = next((h.rule for h in reversed(outcome.hops) if h.packet == new), "")
            self.conntrack.append(ConntrackEntry(node, packet, new, rule, HopKind.IPVS))
        if _tables(self.cluster, netns).is_local(new.dst.ip):
            # A real server on this node (the API server, a hostNetwork endpoint): ip_vs_nat_xmit's route lookup
            # finds the local table's entry and lets the packet continue to local delivery — no POSTROUTING, no
            # wire (net/netfilter/ipvs/ip_vs_xmit.c, `if (local) ... ip_vs_send_or_cont(..., 1)`).
            self._hop(netns, "lo", HopKind.ROUTE, Action.LOOKUP, new, f"local {new.dst.ip} dev lo table local",
                      say("walk.route.local_delivery", address=new.dst.ip))
            self._deliver(netns, new, "lo")
        route = self._route(netns, new, new.dst.ip)
        if self.cluster.settings.enforces_policy and device == str(self.cluster.settings.bridge):
            self._ipvs_forwarded_policy(netns, node, new, device, route.dev)
        new = self._netfilter(netns, Hook.POSTROUTING, new, None, route.dev)
        self._output(netns, route, new)

    def _proxy_dial(self, netns: str, proxy: Socket, packet: Packet, dial: services.ProxyDial) -> NoReturn:
        """The userspace proxy's TCP connection to `packet`'s backend, walked like any; when it fails (a
        NetworkPolicy of the backend drops it: the node is not its own node's pod's), kube-proxy dials the next
        backend (`TryConnectEndpoints`), and when none answers it closes the client's connection. The failed
        attempts stay in the trace: their packets did leave the node."""
        legs, conntrack = len(self.legs), len(self.conntrack)
        failed: _End | None = None
        for hops, attempt in ((), packet), *((a.hops, a.packet) for a in dial.retries):
            self.hops.extend(hops)
            del self.legs[legs:], self.conntrack[conntrack:]
            self.legs.append(Leg(proxy, attempt))
            self.mark = 0
            try:
                self._local_out(netns, attempt)
            except _End as end:
                if end.disposition == Disposition.DELIVERED:
                    raise
                failed = end
            self._hop(netns, proxy.app, HopKind.PROXY, Action.PROXY, attempt, dial.rule,
                      say("walk.proxy.dial_failed", backend=attempt.dst, reason=failed.reason if failed else ""))
        del self.legs[legs:], self.conntrack[conntrack:]
        self.hops.extend(dial.exhausted)
        reason = say("walk.proxy.all_failed.reason", service=dial.service, last=failed.reason if failed else "")
        self._hop(netns, proxy.app, HopKind.PROXY, Action.REJECT, self.hops[-1].packet, dial.rule,
                  say("walk.proxy.all_failed", reason=reason))
        raise _End(Disposition.REJECTED, reason)

    def _ipvs_forwarded_policy(self, netns: str, node: str, packet: Packet, in_dev: str, out_dev: str) -> None:
        """A pod's packet IPVS forwarded: the plugin polices it as if it had been forwarded (Felix's OUTPUT
        handling of IPVS traffic), so its pod chains run on the backend's address."""
        ruleset = rulesets.node_ruleset(self.cluster, node)
        ctx = PacketContext(packet, node, in_dev, out_dev, self.mark, self.backend)
        outcome = netfilter.run_chain(ruleset, "filter", policy_hops.FORWARD_CHAIN, Hook.FORWARD, ctx)
        hops, reason = policy_hops.policy_hops(self.cluster, node, outcome)
        self.hops.extend(hops)
        if outcome.verdict != Verdict.ACCEPT:
            raise _End(Disposition.DROPPED, reason or say("walk.netfilter.drops", hook=Hook.OUTPUT, node=node))

    def _no_virtual_server(self, netns: str, packet: Packet) -> None:
        """A Service VIP on a port no IPVS virtual server has: kube-ipvs0 holds the VIP only so that IPVS sees
        the packet at LOCAL_IN, and no process binds a Service IP, so the kernel refuses it (TCP: a RST from
        tcp_v4_send_reset; UDP: ICMP port unreachable; SCTP: an ABORT to the out-of-the-blue INIT, RFC 9260 8.4)."""
        tables = _tables(self.cluster, netns)
        assert isinstance(tables, NodeDatapath)
        ip = packet.dst.ip
        if ip not in tables.service_vips or ip in tables.local_addresses:
            return
        answer = _kernel_answer(packet.proto)
        where = f"{packet.dst.port}/{packet.proto.upper()}"
        self._hop(netns, IPVS_DUMMY, HopKind.IPVS, Action.REJECT, packet,
                  f"no virtual server {packet.proto} {packet.dst}",
                  say("walk.ipvs.no_port", address=ip, dummy=IPVS_DUMMY, port=where, answer=answer))
        raise _End(Disposition.REJECTED, say("walk.ipvs.no_port.reason", address=ip, port=where, answer=answer))

    def _pod_socket(self, pod_key: str, packet: Packet, device: str) -> Socket:
        pod = self.cluster.pod_by_key[pod_key]
        if pod_key in self.cluster.down_pods and not self.reply:  # issue 4: a backend marked down (services.py)
            reason = services.down_pod_reason(self.cluster, pod_key, via_service=bool(self.conntrack))
            self._hop(pod_netns(pod_key), device, HopKind.APP, Action.DROP, packet, explain=reason)
            raise _End(Disposition.DROPPED, reason)
        try:
            return Socket(pod_netns(pod_key), pod.node, listener(pod, packet))
        except _End as end:
            action = Action.REJECT if end.disposition == Disposition.REJECTED else Action.DROP
            self._hop(pod_netns(pod_key), device, HopKind.APP, action, packet, explain=end.reason or "")
            raise

    def _host_socket(self, node: str, packet: Packet, device: str) -> Socket:
        """The process of the node the packet's port reaches (webapp.engine.node_listeners); when none listens
        there, the kernel refuses the packet (TCP RST, ICMP port unreachable, SCTP ABORT)."""
        proto = Protocol(packet.proto.upper())
        for pod in self.cluster.pods_by_node.get(node, ()):
            if pod.host_network and pod.find_port(packet.dst.port, proto):
                return Socket(host_netns(node), node, listener(pod, packet))
        dst = packet.dst
        found = find_listener(self.cluster, node, packet.proto, dst.ip, dst.port)
        if found is not None:
            return Socket(host_netns(node), node, found.app)
        answer, where = _kernel_answer(packet.proto), f"{dst.port}/{proto}"
        listening = ", ".join(str(lis) for lis in node_listeners(self.cluster, node))
        services = ", ".join(s.key for s in self.cluster.services if s.type in (ServiceType.NODE_PORT,
                             ServiceType.LOAD_BALANCER) and any(p.node_port == dst.port and p.protocol == proto
                                                                for p in s.ports))
        hint = say("walk.node.phrase.node_port", port=where, services=services, address=dst.ip) if services else ""
        self._hop(host_netns(node), device, HopKind.APP, Action.REJECT, packet, f"no socket {packet.proto} {dst}",
                  say("walk.node.no_listener", node=node, address=dst.ip, port=where, listening=listening,
                      answer=answer, hint=hint))
        raise _End(Disposition.REJECTED, say("walk.node.no_listener.reason", node=node, address=dst.ip, port=where,
                                             answer=answer, hint=hint))

    # --- devices -----------------------------------------------------------------------------------------

    def _arp(self, netns: str, device: Device, address: IPv4Address) -> _L2Peer | None:
        """Who owns `address` on the link of `device` (answers its ARP request)."""
        cluster = self.cluster
        if device.kind == DeviceKind.NIC:
            node = cluster.node_by_ip.get(address)
            if node is not None:
                return _L2Peer(host_netns(node.name), node.nic, node_nic_mac(node))
            here = cluster.node_by_name[netns_of(netns).name]
            if address == underlay_gateway(cluster, here):
                return _L2Peer(ROUTER_NETNS, "gateway", mac_address("router", str(address)))
            return None
        here_node = self._node_of(netns)
        shared_l2 = cluster.settings.overlay == Overlay.OVS_VXLAN  # the seed's OVS design: one L2 pod network
        if address == here_node.bridge_ip and not _is_host(netns):
            bridge = str(cluster.settings.bridge)
            return _L2Peer(host_netns(here_node.name), bridge, bridge_mac(cluster, here_node))
        pod = cluster.pod_by_ip.get(address)
        if pod is not None and (pod.node == here_node.name or shared_l2):
            return _L2Peer(pod_netns(pod.key), "eth0", pod_mac(pod))
        if shared_l2:  # another node's bridge address, across the OVS tunnels
            other = cluster_cached(cluster, "node-by-bridge-ip", lambda: {n.bridge_ip: n for n in cluster.nodes}).get(
                address)
            if other is not None:
                return _L2Peer(host_netns(other.name), str(cluster.settings.bridge), bridge_mac(cluster, other))
        return None

    def _node_of(self, netns: str) -> Node:
        where = netns_of(netns)
        if where.is_host:
            return self.cluster.node_by_name[where.name]
        return self.cluster.node_by_name[self.cluster.pod_by_key[where.name].node]

    def _xmit(self, netns: str, device: Device, packet: Packet, peer: _L2Peer,
              inner_mac: str | None = None) -> NoReturn:
        """Transmit on a device by its kind: a veth hands the frame to its peer, a bridge switches it, a NIC
        puts it on the wire."""
        if device.kind == DeviceKind.BRIDGE:
            self._bridge(netns, device, packet, peer.mac, None)
        self._hop(netns, device.name, HopKind.INTERFACE, Action.SEND, packet,
                  explain=say("walk.xmit.leaves", device=device.name, mac=peer.mac))
        self.mark = 0
        if device.kind == DeviceKind.VETH:
            other_netns, other_dev = self.topology.peer(netns, device.name)
            self._l2_receive(other_netns, other_dev, packet, peer.mac, inner_mac)
        elif device.kind == DeviceKind.NIC:
            self._wire(netns, device, packet, peer, inner_mac)
        else:
            raise _End(Disposition.DROPPED, say("walk.xmit.unsupported.reason", kind=device.kind, device=device.name))

    def _l2_receive(self, netns: str, device_name: str, packet: Packet, mac: str, inner_mac: str | None) -> NoReturn:
        tables = _tables(self.cluster, netns)
        device = tables.device_by_name[device_name]
        if device.master and isinstance(tables, NodeDatapath):
            master = tables.device_by_name[device.master]
            self._hop(netns, device.name, HopKind.INTERFACE, Action.FORWARD, packet,
                      explain=say("walk.l2.bridge_port", device=device.name, bridge=master.name))
            self._bridge(netns, master, packet, mac, device.name)
        if mac != device.mac:
            self._hop(netns, device.name, HopKind.INTERFACE, Action.DROP, packet,
                      explain=say("walk.l2.other_mac", mac=mac, device=device.name, device_mac=device.mac))
            raise _End(Disposition.DROPPED, say("walk.l2.other_mac.reason", netns=netns, device=device.name, mac=mac))
        self._hop(netns, device.name, HopKind.INTERFACE, Action.RECEIVE, packet,
                  explain=say("walk.l2.arrives", device=device.name))
        if packet.outer is not None:
            self._decapsulate(netns, tables, packet, inner_mac)
        self._receive(netns, device.name, packet)

    def _bridge(self, netns: str, bridge: Device, packet: Packet, mac: str, in_port: str | None) -> NoReturn:
        """A Linux bridge: frames for its own MAC go up to the host's IP stack; others follow the FDB."""
        tables = _tables(self.cluster, netns)
        assert isinstance(tables, NodeDatapath)
        if mac == bridge.mac and in_port is not None:
            self._hop(netns, bridge.name, HopKind.BRIDGE, Action.RECEIVE, packet,
                      f"{mac} is {bridge.name}'s own address",
                      say("walk.bridge.own_address", bridge=bridge.name))
            self._receive(netns, bridge.name, packet)
        entry = tables.fdb_lookup(bridge.name, mac)
        if entry is None:
            self._hop(netns, bridge.name, HopKind.BRIDGE, Action.DROP, packet,
                      explain=say("walk.bridge.no_fdb", mac=mac))
            raise _End(Disposition.DROPPED, say("walk.bridge.no_fdb.reason", bridge=bridge.name, node=tables.node,
                                                mac=mac))
        if in_port is not None:  # bridged, not routed: br_netfilter runs the IP hooks with -i/-o = the bridge
            packet = self._netfilter(netns, Hook.PREROUTING, packet, bridge.name, None)
            packet = self._netfilter(netns, Hook.FORWARD, packet, bridge.name, bridge.name)
            packet = self._netfilter(netns, Hook.POSTROUTING, packet, bridge.name, bridge.name)
        self._hop(netns, bridge.name, HopKind.BRIDGE, Action.FORWARD, packet, str(entry),
                  say("walk.bridge.fdb", mac=mac, port=entry.dev))
        out = tables.device_by_name[entry.dev]
        if out.kind == DeviceKind.OVS_BRIDGE:
            self._ovs(netns, tables, out, packet, mac, "LOCAL")
        self._xmit(netns, out, packet, _L2Peer("", "", mac))

    def _ovs(self, netns: str, tables: NodeDatapath, ovs: Device, packet: Packet, mac: str, in_port: str) -> NoReturn:
        """The OVS bridge: the highest-priority matching OpenFlow entry picks the output port."""
        flows = [f for f in tables.ovs_flows if f.protocol == "ip" and f.matches(in_port, packet.dst.ip)]
        if not flows:
            self._hop(netns, ovs.name, HopKind.OVS, Action.DROP, packet,
                      explain=say("walk.ovs.no_flow", in_port=in_port, address=packet.dst.ip))
            raise _End(Disposition.DROPPED, say("walk.ovs.no_flow.reason", bridge=ovs.name, node=tables.node,
                                                address=packet.dst.ip))
        flow = max(flows, key=lambda f: f.priority)
        self._hop(netns, ovs.name, HopKind.OVS, Action.FORWARD, packet, str(flow),
                  say("walk.ovs.flow", nw_dst=flow.nw_dst, output=flow.output))
        if flow.output == "LOCAL":
            self._bridge(netns, tables.device_by_name[ovs.master or ""], packet, mac, ovs.name)
        port = tables.device_by_name[flow.output]
        assert port.vxlan is not None and port.vxlan.remote is not None and port.vxlan.local is not None
        self._encapsulate(netns, port, packet, port.vxlan.local, port.vxlan.remote, mac)

    def _vxlan_xmit(self, netns: str, tables: NodeDatapath | PodDatapath, device: Device, next_hop: IPv4Address,
                    packet: Packet) -> NoReturn:
        """flannel.1: the permanent neighbour entry gives the remote VTEP MAC, the FDB entry its node IP."""
        assert isinstance(tables, NodeDatapath) and device.vxlan is not None
        neighbour = tables.neighbour_lookup(device.name, next_hop)
        if neighbour is None:
            self._hop(netns, device.name, HopKind.VXLAN, Action.DROP, packet,
                      explain=say("walk.vxlan.no_neighbour", address=next_hop, device=device.name))
            raise _End(Disposition.DROPPED, say("walk.vxlan.no_neighbour.reason", device=device.name, node=tables.node,
                                                address=next_hop))
        self._hop(netns, device.name, HopKind.VXLAN, Action.LOOKUP, packet, str(neighbour),
                  say("walk.vxlan.neighbour", address=next_hop, mac=neighbour.lladdr))
        entry = tables.fdb_lookup(device.name, neighbour.lladdr)
        if entry is None or entry.dst is None:
            self._hop(netns, device.name, HopKind.VXLAN, Action.DROP, packet,
                      explain=say("walk.vxlan.no_fdb", mac=neighbour.lladdr, device=device.name))
            raise _End(Disposition.DROPPED, say("walk.vxlan.no_fdb.reason", device=device.name, node=tables.node,
                                                mac=neighbour.lladdr))
        self._hop(netns, device.name, HopKind.VXLAN, Action.LOOKUP, packet, str(entry),
                  say("walk.vxlan.fdb", mac=neighbour.lladdr, address=entry.dst))
        local = device.vxlan.local or self._node_of(netns).internal_ip
        self._encapsulate(netns, device, packet, local, entry.dst, neighbour.lladdr)

    def _encapsulate(self, netns: str, device: Device, packet: Packet, local: IPv4Address, remote: IPv4Address,
                     inner_mac: str) -> NoReturn:
        assert device.vxlan is not None
        outer = OuterHeader(SocketAddress(local, vxlan_source_port(packet)),
                            SocketAddress(remote, device.vxlan.dstport), "udp", device.vxlan.vni)
        wrapped = replace(packet, outer=outer)
        kind = HopKind.VXLAN
        self._hop(netns, device.name, kind, Action.ENCAPSULATE, wrapped, str(device.vxlan),
                  say("walk.vxlan.encapsulate", device=device.name, local=local, remote=remote,
                      port=device.vxlan.dstport, vni=device.vxlan.vni))
        # The outer UDP packet is routed by the host; kube-proxy's and flannel's rules never match it, so the
        # hooks it passes are not shown.
        route = self._route(netns, wrapped, remote)
        tables = _tables(self.cluster, netns)
        nic = tables.device_by_name[route.dev]
        peer = self._arp(netns, nic, route.via or remote)
        if peer is None:
            raise _End(Disposition.DROPPED, say("walk.arp.none.tunnel_reason", address=route.via or remote,
                                                device=nic.name))
        self._xmit(netns, nic, wrapped, peer, inner_mac)

    def _decapsulate(self, netns: str, tables: NodeDatapath | PodDatapath, packet: Packet,
                     inner_mac: str | None) -> NoReturn:
        """A VXLAN packet for this node: the device bound to its UDP port (and remote) takes it."""
        assert packet.outer is not None and isinstance(tables, NodeDatapath)
        outer = packet.outer
        for device in tables.devices:
            params = device.vxlan
            if params is None or params.dstport != outer.dst.port or params.vni != outer.vni:
                continue
            if params.remote is not None and params.remote != outer.src.ip:
                continue
            inner = replace(packet, outer=None)
            self._hop(netns, device.name, HopKind.VXLAN, Action.DECAPSULATE, inner, str(params),
                      say("walk.vxlan.decapsulate", port=outer.dst.port, vni=outer.vni, device=device.name))
            if device.kind == DeviceKind.OVS_VXLAN_PORT:
                self._ovs(netns, tables, tables.device_by_name[device.master or ""], inner, inner_mac or "",
                          device.name)
            else:
                self._receive(netns, device.name, inner)
        self._hop(netns, "-", HopKind.VXLAN, Action.DROP, packet,
                  explain=say("walk.vxlan.no_device", port=outer.dst.port, vni=outer.vni))
        raise _End(Disposition.DROPPED, say("walk.vxlan.no_device.reason", node=tables.node, port=outer.dst.port,
                                            vni=outer.vni))

    # --- outside the nodes -------------------------------------------------------------------------------

    def _wire(self, netns: str, nic: Device, packet: Packet, peer: _L2Peer, inner_mac: str | None) -> NoReturn:
        node = self.cluster.node_by_name[netns_of(netns).name]
        network = str(underlay_network(self.cluster, node))
        self._hop(UNDERLAY_NETNS, network, HopKind.WIRE, Action.FORWARD, packet,
                  explain=say("walk.wire", network=network, netns=peer.netns, mac=peer.mac))
        if peer.netns == ROUTER_NETNS:
            self._router(packet, inner_mac)
        else:
            self._l2_receive(peer.netns, peer.device, packet, peer.mac, inner_mac)

    def _router(self, packet: Packet, inner_mac: str | None = None) -> NoReturn:
        """The node network's gateway: it knows the nodes and the outside world, not the pod or service ranges.
        A tunnelled packet is routed by its outer header."""
        cluster = self.cluster
        if self.reply and packet.outer is None:
            packet = self._conntrack(OUTSIDE, EXTERNAL_NETNS, Hook.POSTROUTING, packet, "")
        dst = (packet.outer or packet).dst.ip
        node = cluster.node_by_ip.get(dst) or self._external_ip_node(dst)
        if node is not None:
            self._hop(UNDERLAY_NETNS, "gateway", HopKind.WIRE, Action.FORWARD, packet, f"{dst} → node {node.name}",
                      say("walk.router.to_node", address=dst, node=node.name, node_ip=node.internal_ip))
            self.topology.ensure_node(node.name)
            self._l2_receive(host_netns(node.name), node.nic, packet, node_nic_mac(node), inner_mac)
        settings = cluster.settings
        routed = cluster.node_by_name.get(settings.service_cidr_route or "")
        if routed is not None and dst in settings.service_cidr and packet.outer is None:
            # serviceCIDRRoute: the network's route for the service range via a node (kube-proxy's tests model an
            # outside client of a cluster IP this way); the node's kube-proxy takes it from PREROUTING on.
            self._hop(UNDERLAY_NETNS, "gateway", HopKind.WIRE, Action.FORWARD, packet,
                      f"{settings.service_cidr} via {routed.internal_ip}",
                      say("walk.router.service_route", address=dst, cidr=settings.service_cidr, node=routed.name,
                          node_ip=routed.internal_ip))
            self.topology.ensure_node(routed.name)
            self._l2_receive(host_netns(routed.name), routed.nic, packet, node_nic_mac(routed), inner_mac)
        if dst in settings.pod_cidr or dst in settings.service_cidr:
            what = say("walk.router.phrase.pod_network" if dst in settings.pod_cidr else
                       "walk.router.phrase.service_range")
            self._hop(UNDERLAY_NETNS, "gateway", HopKind.WIRE, Action.DROP, packet,
                      explain=say("walk.router.unrouted", address=dst, what=what))
            raise _End(Disposition.NO_ROUTE, say("walk.router.unrouted.reason", address=dst, what=what,
                                                 advice=self._unrouted_advice(packet)))
        self._hop(UNDERLAY_NETNS, "gateway", HopKind.WIRE, Action.FORWARD, packet, f"default route to {dst}",
                  say("walk.router.outside", address=dst))
        if packet.outer is None and not self.reply:
            self._load_balancer_listens(packet)
        self._arrive(Socket(EXTERNAL_NETNS, None, self.outside.get(dst) or external_name(cluster, dst)), packet)

    def _load_balancer_listens(self, packet: Packet) -> None:
        """A load balancer's IP reached through the gateway (from a pod or a node: their own kube-proxy takes
        only the Service's ports): the cloud load balancer forwards only the ports its Service declares — it
        has no listener (forwarding rule) for any other, so it drops the packet and the client times out.
        Returns when the packet is for a port it forwards, or for no load balancer."""
        dst = packet.dst
        owners = [s for s in self.cluster.services if dst.ip in s.load_balancer_ips]
        if not owners:
            return
        proto = Protocol(packet.proto.upper())
        if any(p.port == dst.port and p.protocol == proto for s in owners for p in s.ports):
            return
        ports = ", ".join(dict.fromkeys(f"{p.port}/{p.protocol}" for s in owners for p in s.ports))
        names = ", ".join(s.key for s in owners)
        where = f"{dst.port}/{proto}"
        self._hop(EXTERNAL_NETNS, services.LB_DEVICE, HopKind.LOADBALANCER, Action.DROP, packet,
                  f"{dst.ip}: listeners {ports}",
                  say("walk.lb.not_forwarded", address=dst.ip, services=names, ports=ports, port=where))
        raise _End(Disposition.DROPPED, say("walk.lb.not_forwarded.reason", address=dst.ip, services=names,
                                            ports=ports, port=where))

    def _unrouted_advice(self, packet: Packet) -> str:
        """What to do about a packet for the pod network or the service range that reached the gateway."""
        dst = packet.dst
        service = self.cluster.service_by_cluster_ip.get(dst.ip)
        if service is None:
            return say("walk.advice.expose")
        if self.legs and self.legs[0].start.netns != EXTERNAL_NETNS:
            return say("walk.advice.no_rule", address=dst.ip, service=service.key, proto=packet.proto, port=dst.port)
        return say("walk.advice.from_outside", address=dst.ip, service=service.key)

    def _external_ip_node(self, address: IPv4Address) -> Node | None:
        """externalIPs are routed to a node by the network's operator; here: to the first ready node."""
        if any(address in svc.external_ips for svc in self.cluster.services):
            return next((n for n in self.cluster.nodes if n.ready), None)
        return None


def _kernel_answer(proto: str) -> str:
    """What the kernel sends back for a packet no socket takes (see `_no_virtual_server`)."""
    return say({"tcp": "walk.ipvs.phrase.tcp_rst", "sctp": "walk.ipvs.phrase.sctp_abort"}.get(
        proto, "walk.ipvs.phrase.icmp_unreachable"))


def listener(pod: Pod, packet: Packet) -> str:
    """The container of `pod` that listens on the packet's destination port (see `ListenerError`)."""
    proto = Protocol(packet.proto.upper())
    owners = [c.name for c in pod.containers for p in c.ports
              if p.container_port == packet.dst.port and p.protocol == proto]
    if len(owners) > 1:
        raise _End(Disposition.DROPPED, say("walk.listen.clash", owners=say("walk.listen.phrase.and").join(owners),
                                            pod=pod.key, port=packet.dst.port, proto=proto))
    if owners:
        return owners[0]
    declared = [f"{c.name} {p.container_port}/{p.protocol}" for c in pod.containers for p in c.ports]
    if declared:
        raise _End(Disposition.REJECTED, say("walk.listen.nothing", port=packet.dst.port, proto=proto, pod=pod.key,
                                             declared=", ".join(declared)))
    return pod.containers[0].name if pod.containers else "pause"
