"""End-to-end sweep of the path engine: every sample × kube-proxy mode × overlay (webapp.variants), every
(src, dst) pair `candidate_flows` offers, traced in text and JSON, and checked against invariants that any
correct trace must satisfy (docs/trace-contract.md). The whole file runs in a few seconds: the engine traces
~3,000 flows per second, so no pair needs to be skipped.

THE INVARIANTS (`violations()` checks each; its messages start with the invariant's tag):

I1  first hop: kind app, action send.
I2  disposition delivered ⇔ reason is None.
I3  delivered: the last hop is app/deliver, has no outer header, sits in the destination's namespace
    (pod/NS/NAME for pod/…, host/NODE for node/… and hostNetwork pods, `external` for an outside address or
    an ExternalName's host, a ready endpoint's namespace for a service), and its packet is what that
    destination sees: dst = the pod's IP:port, the node's InternalIP:port, the outside IP:port, or one ready
    endpoint's IP:port of the service.
I4  reply is empty unless delivered; a request that is not delivered ends in a drop or reject hop.
I5  delivered: reply[0] is app/send in the last hop's namespace with the last hop's packet reversed;
    reply[-1] is app/deliver back in the namespace of the request's last app/send hop (the connection's
    opener — after a DNS exchange, the real connection) with exactly that hop's packet reversed (conntrack
    restores every address).
I6  pod-to-pod (same / cross node), container-to-container and node-to-pod: an empty NAT list in either
    direction, and the destination sees exactly the addresses that were sent (the seed's three no-NAT
    principles). The one change allowed is a source-port rewrite by a `--random-fully` rule, listed in
    `port_rewrites` (flannel masquerades node → remote pod under host-gw to the node's own address).
I7  every outer header: UDP, VNI = network.vxlanVNI, dst port 8472 for flannel-vxlan / 4789 for ovs-vxlan,
    src port in Linux's local port range 32768–60999, src and dst the InternalIPs of two different nodes;
    none at all under flannel-host-gw. A cross-node pod-to-pod trace under a VXLAN overlay carries the
    request from the source pod's node to the destination pod's node, and the reply the other way.
I8  every dnat/snat/masquerade/redirect/mark/drop/reject hop of kind netfilter names in `rule` an iptables
    rule (`TABLE -A CHAIN …`) whose chain exists in that node's ruleset (or a built-in chain's DROP policy);
    IPVS hops name the virtual server (`TCP VIP:PORT rr … -> RIP:PORT Masq`); the load balancer's hop names
    its frontend; conntrack's un-dnat/un-snat hops name the request's rule (`conntrack (request: …)`).
I9  the inner addresses change only at a hop whose action rewrites them (dnat, snat, masquerade, redirect,
    un-dnat, un-snat, proxy) or where a new packet starts (app/send, kube-proxy's proxy/send relaying the
    reply onto the client's connection, dns/resolve); the outer header appears only at vxlan/encapsulate and
    disappears only at vxlan/decapsulate.
I10 alternatives: probabilities in (0, 1], summing to 1 (±1e-9), distinct destinations, exactly one chosen;
    the chosen destination is where the packet goes next (this hop's dst, or the next dnat/redirect hop's dst).
I11 every hop's device is a device of its namespace (webapp.engine.datapath.node_datapath/pod_datapath)
    or one of the named non-device components in COMPONENTS, with a hop kind that component can have.
I12 `node` agrees with `netns`: host/N → N; pod/NS/NAME → the pod's node; external and underlay → null.
I13 every hop carries the flow's protocol, except the udp hops of a DNS exchange.
I14 the JSON form (`to_dict`) round-trips through json, has version 1, the flow's type, one object per
    hop, closed kind/action values; the text form prints one line per hop and per reply hop.
I15 a node never puts a packet for one of its own addresses on the wire: the kernel's local routing table
    delivers it through lo (so it never meets POSTROUTING either).

Besides the samples, a small cluster with a hostNetwork endpoint and ClientIP affinity
(tests/data/qa/host-network.yaml) is swept the same way, and each sample again with externalTrafficPolicy
Local and with a backend marked down. The bugs these sweeps found are written up in docs/qa-findings.md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import replace
from functools import lru_cache
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from factories import TRACED_MODES
from webapp.engine import commands, nft, rulesets
from webapp.engine.datapath import node_datapath, pod_datapath, underlay_network
from webapp.engine.flows import FlowType, candidate_flows, resolve_flow, trace_flow
from webapp.engine.node_listeners import node_listeners
from webapp.engine.trace import Action, Disposition, Hop, HopKind, Trace
from webapp.loaders import load_sample
from webapp.model import Cluster, KubeProxyMode, Overlay, TrafficPolicy
from webapp.variants import ViewSettings, apply_view_settings

SAMPLES = ("seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook")
MODES = TRACED_MODES                  # iptables, ipvs, userspace, nftables
OVERLAYS = tuple(Overlay)             # flannel-vxlan, flannel-host-gw, ovs-vxlan
VXLAN_PORT = {Overlay.FLANNEL_VXLAN: 8472, Overlay.OVS_VXLAN: 4789}
"""flannel: the Linux kernel's VXLAN default 8472 (flannel Documentation/backends.md); OVS: IANA 4789."""
LOCAL_PORT_RANGE = range(32768, 61000)
"""net.ipv4.ip_local_port_range default (32768 60999): Linux hashes VXLAN source ports into it."""

COMPONENTS: dict[str, frozenset[HopKind]] = {
    "socket": frozenset({HopKind.APP}),                     # a node's own client (a source)
    "iptables": frozenset({HopKind.NETFILTER}),             # a rule that decided
    "nftables": frozenset({HopKind.NETFILTER}),             # an nftables rule or map element that decided
    "conntrack": frozenset({HopKind.NETFILTER, HopKind.IPVS}),  # NAT undone on the reply
    "kube-proxy": frozenset({HopKind.PROXY, HopKind.APP}),  # the userspace proxy; its health servers
    "kube-dns": frozenset({HopKind.DNS}),                   # CoreDNS answering
    "cloud-load-balancer": frozenset({HopKind.LOADBALANCER}),
    "gateway": frozenset({HopKind.WIRE}),                   # the node network's router
}
"""The named non-device components the engine uses (docs/trace-contract.md, `device`). Besides these: a
container's name for an app hop in a pod (or a hostNetwork pod's container on its node) and for a dns hop of its
own resolver (an ExternalName whose host has no known address), a node's listening process for an app hop on a
node (webapp.engine.node_listeners: kubelet, kube-apiserver, a hostNetwork pod's container), the external host's
name (or address) for an app hop outside, and the node network's CIDR for a wire hop."""

NO_NAT_TYPES = (FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_POD_CROSS_NODE, FlowType.CONTAINER_TO_CONTAINER,
                FlowType.NODE_TO_POD)
REWRITING = frozenset({Action.DNAT, Action.SNAT, Action.MASQUERADE, Action.REDIRECT, Action.UNDNAT,
                       Action.UNSNAT, Action.PROXY})
RULED = frozenset({Action.DNAT, Action.SNAT, Action.MASQUERADE, Action.REDIRECT, Action.MARK, Action.DROP,
                   Action.REJECT})
IPTABLES_RULE = re.compile(r"^(nat|filter) -A (\S+) ")
NFT_RULE = re.compile(r"^kube-proxy (\S+): (.+)$")
CHAIN_POLICY = re.compile(r"^(nat|filter) :([A-Z]+) DROP$")
IPVS_RULE = re.compile(r"^(TCP|UDP) \d+\.\d+\.\d+\.\d+:\d+ rr( persistent \d+)? -> \d+\.\d+\.\d+\.\d+:\d+ Masq$")


# --- the clusters ------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def sample(name: str) -> Cluster:
    return load_sample(name)


@lru_cache(maxsize=None)
def variant(name: str, mode: KubeProxyMode, overlay: Overlay, policy: TrafficPolicy | None = None,
            down: tuple[str, ...] = ()) -> Cluster:
    return apply_view_settings(sample(name), ViewSettings(mode, overlay, policy, frozenset(down)))


def sweep_params() -> list:
    params = []
    for name in SAMPLES:
        for mode in MODES:
            for overlay in OVERLAYS:
                for kind in candidate_flows(variant(name, mode, overlay)):
                    params.append(pytest.param(name, mode, overlay, kind, id=f"{name}-{mode}-{overlay}-{kind}"))
    return params


# --- the invariants ----------------------------------------------------------------------------------------

def netns_of_pod(cluster: Cluster, key: str) -> str:
    """A pod's network namespace; a hostNetwork pod shares its node's."""
    pod = cluster.pod_by_key[key]
    return f"host/{pod.node}" if pod.host_network else f"pod/{pod.key}"


def endpoint_pod_addresses(cluster: Cluster, service_keys: set[str]) -> set[tuple[str, str]]:
    """(netns, IP:port) of every ready endpoint of these services (a node's address: its host namespace)."""
    out = set()
    for key in service_keys:
        for ep in cluster.endpoints_by_service.get(key, ()):
            if not ep.ready:
                continue
            if ep.pod and ep.pod in cluster.pod_by_key:
                out.add((netns_of_pod(cluster, ep.pod), f"{ep.ip}:{ep.port}"))
            elif ep.ip in cluster.node_by_ip:  # e.g. the API server behind default/kubernetes
                out.add((f"host/{cluster.node_by_ip[ep.ip].name}", f"{ep.ip}:{ep.port}"))
    return out


def services_of(cluster: Cluster, dst: str) -> set[str]:
    """The services a destination spec can reach: `svc/…`, or an address/nodePort a service owns."""
    if dst.startswith("svc/"):
        path = dst[4:].partition(":")[0]
        namespace, _, name = path.rpartition("/")
        return {f"{namespace or 'default'}/{name}"}
    host, _, port = dst.rpartition(":")
    found = set()
    for svc in cluster.services:
        for sport in svc.ports:
            addresses = {str(a) for a in (svc.cluster_ip, *svc.external_ips, *svc.load_balancer_ips) if a}
            if host in addresses and str(sport.port) == port:
                found.add(svc.key)
            if sport.node_port is not None and str(sport.node_port) == port and (
                    host.startswith("node/") or IPv4Address(host) in cluster.node_by_ip):
                found.add(svc.key)
    return found


def expected_destination(cluster: Cluster, kind: FlowType, src: str, dst: str) -> set[tuple[str, str]]:
    """(netns, dst IP:port) pairs the request may be delivered to (I3)."""
    host, _, port = dst.rpartition(":")
    if kind == FlowType.CONTAINER_TO_CONTAINER:
        source = resolve_flow(cluster, src, dst).source
        return {(source.socket.netns, f"127.0.0.1:{port}")}
    if kind == FlowType.EXTERNALNAME:  # the external host behind the CNAME, on the port asked for (any, if none)
        service = cluster.service_by_key[services_of(cluster, dst).pop()]
        target = next(h for h in cluster.external_hosts if h.dns_name and h.dns_name.rstrip(".") ==
                      (service.external_name or "").rstrip("."))
        wanted = dst.rpartition(":")[2] if dst.count(":") else "*"
        return {("external", f"{target.ip}:{wanted}")}
    if kind in (FlowType.POD_TO_SERVICE, FlowType.NODE_TO_SERVICE, FlowType.NODEPORT, FlowType.LOADBALANCER,
                FlowType.EXTERNALIPS):
        return endpoint_pod_addresses(cluster, services_of(cluster, dst))
    if dst.startswith("pod/"):
        pod = cluster.pod_by_key[(lambda p: p if "/" in p else f"default/{p}")(host[4:])]
        if pod.host_network:
            return {(f"host/{pod.node}", f"{cluster.node_by_name[pod.node].internal_ip}:{port}")}
        return {(f"pod/{pod.key}", f"{pod.pod_ip}:{port}")}
    if dst.startswith("node/"):
        node = cluster.node_by_name[host[5:]]
        return {(f"host/{node.name}", f"{node.internal_ip}:{port}")}
    address = IPv4Address(host)
    if address in cluster.pod_by_ip:  # IP:PORT of a pod or a hostNetwork pod's node
        return {(netns_of_pod(cluster, cluster.pod_by_ip[address].key), dst)}
    owner = next((n for n in cluster.nodes if node_datapath(cluster, n.name).is_local(address)), None)
    if owner is not None:  # any address of a node: its InternalIP, its bridge's, flannel.1's
        return {(f"host/{owner.name}", dst)}
    return {("external", dst)}


def in_dns_exchange(trace: Trace) -> int:
    """Index of the hop that opens the traced connection: the last app/send of the request (a DNS exchange comes
    before it); len(hops) when the trace never gets past its DNS exchange (its last DNS hop comes after it)."""
    sends = [i for i, h in enumerate(trace.hops) if h.kind == HopKind.APP and h.action == Action.SEND]
    last_dns = max((i for i, h in enumerate(trace.hops) if h.kind == HopKind.DNS), default=-1)
    if not sends:
        return 0
    return sends[-1] if sends[-1] > last_dns else len(trace.hops)


def device_violations(cluster: Cluster, hop: Hop, where: str) -> list[str]:
    """I11 and I12 for one hop."""
    out = []
    netns, device, kind = hop.netns, hop.device, hop.kind
    if device in COMPONENTS:
        if kind not in COMPONENTS[device]:
            out.append(f"I11 {where}: component {device} cannot be a {kind} hop")
    elif netns.startswith("host/"):
        node = netns[5:]
        names = {d.name for d in node_datapath(cluster, node).devices}
        containers = {c.name for p in cluster.pods_by_node.get(node, ()) if p.host_network for c in p.containers}
        containers |= {lis.app for lis in node_listeners(cluster, node)}  # kubelet, kube-apiserver…
        if device not in names and not (kind == HopKind.APP and device in containers):
            out.append(f"I11 {where}: {device} is not a device of {netns}")
    elif netns.startswith("pod/"):
        pod = cluster.pod_by_key[netns[4:]]
        names = {d.name for d in pod_datapath(cluster, pod.key).devices}
        if device not in names and not (kind in (HopKind.APP, HopKind.DNS) and device in pod.container_names):
            out.append(f"I11 {where}: {device} is not a device or container of {netns}")
    elif netns == "external":
        hosts = {h.name for h in cluster.external_hosts}
        if kind != HopKind.APP or not (device in hosts or _is_ip(device)):
            out.append(f"I11 {where}: {kind} hop {device} outside the cluster is neither a host nor a component")
    elif netns == "underlay":
        networks = {str(underlay_network(cluster, n)) for n in cluster.nodes}
        if kind != HopKind.WIRE or device not in networks:
            out.append(f"I11 {where}: underlay hop {kind} {device} is not the node network")
    else:
        out.append(f"I11 {where}: unknown netns {netns}")
    # I12
    if netns.startswith("host/"):
        expected = netns[5:]
    elif netns.startswith("pod/"):
        expected = cluster.pod_by_key[netns[4:]].node
    else:
        expected = None
    if hop.node != expected:
        out.append(f"I12 {where}: node {hop.node!r} for netns {netns} (expected {expected!r})")
    return out


def _is_ip(text: str) -> bool:
    try:
        IPv4Address(text)
    except ValueError:
        return False
    return True


def _nft_rule_problems(cluster: Cluster, hop: Hop, where: str) -> list[str]:
    """I8 for an nftables hop: `kube-proxy CHAIN: RULE` names a rule of that chain of the node's table
    ip kube-proxy, `kube-proxy MAP: ELEMENT` an element of that map."""
    match = NFT_RULE.match(hop.rule)
    if match is None:
        return [f"I8 {where}: {hop.action} rule {hop.rule!r} names no nftables chain or map"]
    name, text = match.groups()
    assert hop.node is not None
    table = rulesets.node_nft_table(cluster, hop.node)
    if name in table.chains:
        written = {r.text + (f' comment "{r.comment}"' if r.comment else "") for r in table.chains[name].rules}
        return [] if text in written else [f"I8 {where}: {text!r} is no rule of chain {name} on {hop.node}"]
    if name in table.sets:
        target = table.sets[name]
        listed = {nft.element_line(k, v, target.element_comments.get(k)) for k, v in target.elements.items()}
        return [] if text in listed else [f"I8 {where}: {text!r} is no element of map {name} on {hop.node}"]
    return [f"I8 {where}: {name} is neither a chain nor a map of {hop.node}'s table ip kube-proxy"]


def rule_violations(cluster: Cluster, hop: Hop, where: str) -> list[str]:
    """I8 for one hop."""
    if hop.action in (Action.UNDNAT, Action.UNSNAT):
        if not (hop.rule.startswith("conntrack (request: ") and len(hop.rule) > len("conntrack (request: )")):
            return [f"I8 {where}: {hop.action} hop's rule {hop.rule!r} does not name the request's rule"]
        return []
    if hop.action not in RULED:
        return []
    if hop.kind == HopKind.NETFILTER and hop.device == "nftables":
        return _nft_rule_problems(cluster, hop, where)
    if hop.kind == HopKind.NETFILTER:
        match = IPTABLES_RULE.match(hop.rule)
        if match is None:
            policy = CHAIN_POLICY.match(hop.rule)
            if policy is None or hop.action != Action.DROP:
                return [f"I8 {where}: {hop.action} rule {hop.rule!r} names no chain"]
            return []
        table, chain = match.groups()
        assert hop.node is not None
        ruleset = rulesets.node_ruleset(cluster, hop.node)
        if ruleset.chain(table, chain) is None:
            return [f"I8 {where}: chain {table} {chain} is not in {hop.node}'s ruleset"]
        return []
    if hop.kind == HopKind.IPVS:
        if hop.action == Action.REJECT and hop.rule:
            return []
        if IPVS_RULE.match(hop.rule) is None:
            return [f"I8 {where}: IPVS {hop.action} rule {hop.rule!r} is not a virtual server line"]
        return []
    if hop.kind == HopKind.LOADBALANCER and not hop.rule:
        return [f"I8 {where}: the load balancer's {hop.action} hop has no rule"]
    if hop.action in (Action.DNAT, Action.SNAT, Action.MASQUERADE, Action.REDIRECT) and not hop.rule:
        return [f"I8 {where}: {hop.kind}/{hop.action} hop has no rule"]
    return []


def sequence_violations(cluster: Cluster, hops: tuple[Hop, ...], label: str) -> list[str]:
    """I9, I10 and I7's per-header checks along one direction."""
    out = []
    overlay = cluster.settings.overlay
    for i, hop in enumerate(hops):
        where = f"{label}[{i}] {hop.netns} {hop.device} {hop.kind}/{hop.action}"
        outer = hop.packet.outer
        if outer is not None:
            if overlay == Overlay.FLANNEL_HOST_GW:
                out.append(f"I7 {where}: an outer header under host-gw")
            elif not (outer.proto == "udp" and outer.vni == cluster.settings.vxlan_vni
                      and outer.dst.port == VXLAN_PORT[overlay] and outer.src.port in LOCAL_PORT_RANGE
                      and outer.src.ip in cluster.node_by_ip and outer.dst.ip in cluster.node_by_ip
                      and outer.src.ip != outer.dst.ip):
                out.append(f"I7 {where}: bad outer header {outer}")
        if i:
            prev = hops[i - 1]
            restart = (hop.kind in (HopKind.APP, HopKind.PROXY) and hop.action == Action.SEND) \
                or hop.kind == HopKind.DNS or prev.kind == HopKind.DNS
            inner = (hop.packet.src, hop.packet.dst, hop.packet.proto)
            before = (prev.packet.src, prev.packet.dst, prev.packet.proto)
            if inner != before and hop.action not in REWRITING and not restart:
                out.append(f"I9 {where}: inner {prev.packet} → {hop.packet} without a NAT action")
            if outer != prev.packet.outer and not restart:
                ok = (prev.packet.outer is None and hop.action == Action.ENCAPSULATE) or \
                     (outer is None and hop.action == Action.DECAPSULATE)
                if not ok:
                    out.append(f"I9 {where}: outer {prev.packet.outer} → {outer} at {hop.action}")
        if hop.kind == HopKind.WIRE and i and hops[i - 1].netns.startswith("host/") \
                and hops[i - 1].action == Action.SEND:
            sender = hops[i - 1].netns[5:]
            routed_by = (outer or hop.packet).dst.ip
            if node_datapath(cluster, sender).is_local(routed_by):
                out.append(f"I15 {where}: {sender} sends a packet for its own address {routed_by} over the wire")
        if hop.alternatives:
            alts = hop.alternatives
            total = sum(a.probability for a in alts)
            if not math.isclose(total, 1.0, abs_tol=1e-9):
                out.append(f"I10 {where}: probabilities sum to {total}")
            if any(not 0 < a.probability <= 1 for a in alts):
                out.append(f"I10 {where}: a probability outside (0, 1]")
            if len({a.dst for a in alts}) != len(alts):
                out.append(f"I10 {where}: duplicate candidates")
            chosen = [a for a in alts if a.chosen]
            if len(chosen) != 1:
                out.append(f"I10 {where}: {len(chosen)} candidates chosen")
            else:
                goes = hop.packet.dst
                if hop.kind == HopKind.NETFILTER:  # the KUBE-SVC ladder: the KUBE-SEP's DNAT follows
                    nxt = next((h for h in hops[i + 1:] if h.action in (Action.DNAT, Action.REDIRECT)), None)
                    goes = nxt.packet.dst if nxt else None
                if goes != chosen[0].dst:
                    out.append(f"I10 {where}: chose {chosen[0].dst} but the packet goes to {goes}")
    return out


def violations(cluster: Cluster, kind: FlowType, src: str, dst: str, trace: Trace) -> list[str]:
    """Every broken invariant of one trace, as `I<n> …` messages (empty when the trace is sound)."""
    out: list[str] = []
    hops, reply = trace.hops, trace.reply
    first, last = hops[0], hops[-1]
    # I1
    if (first.kind, first.action) != (HopKind.APP, Action.SEND):
        out.append(f"I1 first hop is {first.kind}/{first.action}")
    # I2
    delivered = trace.disposition == Disposition.DELIVERED
    if delivered != (trace.reason is None):
        out.append(f"I2 {trace.disposition} with reason {trace.reason!r}")
    if trace.flow.type != kind:
        out.append(f"flow type {trace.flow.type} != {kind}")
    opener = hops[min(in_dns_exchange(trace), len(hops) - 1)]
    if delivered:
        # I3
        if (last.kind, last.action) != (HopKind.APP, Action.DELIVER):
            out.append(f"I3 last hop is {last.kind}/{last.action}")
        if last.packet.outer is not None:
            out.append("I3 the destination sees an outer header")
        expected = expected_destination(cluster, kind, src, dst)
        seen = (last.netns, str(last.packet.dst))
        if ("external", f"{last.packet.dst.ip}:*") in expected:
            seen = ("external", f"{last.packet.dst.ip}:*")
        if expected and seen not in expected:
            out.append(f"I3 delivered to {last.netns} as {last.packet.dst}, expected one of {sorted(expected)}")
        # I5
        if not reply:
            out.append("I5 delivered without a reply")
        else:
            r0, rn = reply[0], reply[-1]
            if (r0.kind, r0.action, r0.netns, r0.packet) != (HopKind.APP, Action.SEND, last.netns,
                                                             last.packet.reversed()):
                out.append(f"I5 reply starts {r0.netns} {r0.kind}/{r0.action} {r0.packet}, expected "
                           f"{last.netns} app/send {last.packet.reversed()}")
            if (rn.kind, rn.action, rn.netns, rn.packet) != (HopKind.APP, Action.DELIVER, opener.netns,
                                                             opener.packet.reversed()):
                out.append(f"I5 reply ends {rn.netns} {rn.kind}/{rn.action} {rn.packet}, expected "
                           f"{opener.netns} app/deliver {opener.packet.reversed()}")
    else:
        # I4
        if reply:
            out.append(f"I4 {trace.disposition} trace has {len(reply)} reply hops")
        if last.action not in (Action.DROP, Action.REJECT):
            out.append(f"I4 {trace.disposition} trace ends with {last.kind}/{last.action}")
    # I6
    if kind in NO_NAT_TYPES:
        if trace.nat or trace.reply_nat:
            out.append(f"I6 NAT in a no-NAT flow: {[c.to_dict() for c in (*trace.nat, *trace.reply_nat)]}")
        if any("--random-fully" not in c.rule for c in trace.port_rewrites):
            out.append(f"I6 a port rewritten by a rule without --random-fully: {trace.port_rewrites}")
        sent = first.packet
        if any(not c.reply for c in trace.port_rewrites):
            sent = replace(sent, src=replace(sent.src, port=last.packet.src.port))
        if delivered and last.packet != sent:
            out.append(f"I6 sent {first.packet}, delivered {last.packet}")
    # I7: the tunnel's direction for cross-node pod-to-pod
    src_pod, dst_pod = cluster.pod_by_ip.get(first.packet.src.ip), cluster.pod_by_ip.get(last.packet.dst.ip)
    if kind == FlowType.POD_TO_POD_CROSS_NODE and delivered and src_pod and dst_pod:
        src_node = cluster.node_by_name[src_pod.node].internal_ip
        dst_node = cluster.node_by_name[dst_pod.node].internal_ip
        for label, direction, a, b in (("request", hops, src_node, dst_node), ("reply", reply, dst_node, src_node)):
            outers = {(h.packet.outer.src.ip, h.packet.outer.dst.ip) for h in direction if h.packet.outer}
            if cluster.settings.overlay in VXLAN_PORT:
                if outers != {(a, b)}:
                    out.append(f"I7 {label} tunnel {sorted(outers)}, expected {a} → {b}")
                actions = [h.action for h in direction if h.kind == HopKind.VXLAN]
                if Action.ENCAPSULATE not in actions or Action.DECAPSULATE not in actions:
                    out.append(f"I7 {label} vxlan hops {actions} lack encapsulate/decapsulate")
            elif outers:
                out.append(f"I7 {label} tunnel under host-gw: {sorted(outers)}")
    # I8, I11, I12, I13 per hop; I9, I10, I7 along each direction
    dns_end = in_dns_exchange(trace)
    for label, direction in (("hops", hops), ("reply", reply)):
        for i, hop in enumerate(direction):
            where = f"{label}[{i}] {hop.netns} {hop.device} {hop.kind}/{hop.action}"
            out += rule_violations(cluster, hop, where)
            out += device_violations(cluster, hop, where)
            in_dns = label == "hops" and i < dns_end
            if hop.packet.proto != trace.flow.proto and not (in_dns and hop.packet.proto == "udp"):
                out.append(f"I13 {where}: proto {hop.packet.proto}")
        out += sequence_violations(cluster, direction, label)
    # I14
    data = json.loads(json.dumps(trace.to_dict()))
    if data["version"] != 1 or data["flow"]["type"] != str(kind) or len(data["hops"]) != len(hops) \
            or len(data["reply"]) != len(reply) or data["disposition"] != str(trace.disposition):
        out.append("I14 the JSON form does not match the trace")
    for h in (*data["hops"], *data["reply"]):
        if h["kind"] not in set(HopKind) or h["action"] not in set(Action):
            out.append(f"I14 open kind/action {h['kind']}/{h['action']}")
    text = str(trace).splitlines()
    if len([line for line in text if re.match(r"^\s+\d+\. ", line)]) != len(hops) + len(reply):
        out.append("I14 the text form does not print one line per hop")
    return out


# --- the sweep ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, mode, overlay, kind", sweep_params())
def test_every_candidate_satisfies_the_invariants(name, mode, overlay, kind):
    cluster = variant(name, mode, overlay)
    assert (cluster.settings.kube_proxy_mode, cluster.settings.overlay) == (mode, overlay)
    problems = []
    for src, dst in candidate_flows(cluster)[kind]:
        trace = trace_flow(cluster, src, dst)
        problems += [f"{src} → {dst}: {p}" for p in violations(cluster, kind, src, dst, trace)]
    assert problems == []


POLICY_KINDS = (FlowType.NODEPORT, FlowType.LOADBALANCER, FlowType.EXTERNALIPS, FlowType.POD_TO_SERVICE,
                FlowType.NODE_TO_SERVICE)


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("mode", MODES)
def test_external_traffic_policy_local_and_a_down_backend_keep_the_invariants(name, mode):
    """The other live settings: externalTrafficPolicy Local everywhere, then each backend pod marked down."""
    base = variant(name, mode, sample(name).settings.overlay)
    clusters = [variant(name, mode, base.settings.overlay, TrafficPolicy.LOCAL)]
    backends = sorted({ep.pod for ep in base.endpoints if ep.pod and ep.ready})
    clusters += [variant(name, mode, base.settings.overlay, None, (pod,)) for pod in backends[:3]]
    problems, seen = [], set()
    for cluster in clusters:
        for kind, pairs in candidate_flows(cluster).items():
            if kind not in POLICY_KINDS:
                continue
            for src, dst in pairs:
                trace = trace_flow(cluster, src, dst)
                seen.add(str(trace.disposition))
                problems += [f"{sorted(cluster.down_pods)} {src} → {dst}: {p}"
                             for p in violations(cluster, kind, src, dst, trace)]
    assert problems == []
    # iptables and IPVS cannot retry a down backend they chose: some of these traces end dropped (the seed's point)
    assert seen >= ({"delivered"} if mode == KubeProxyMode.USERSPACE else {"delivered", "dropped"})


HOST_NETWORK_CLUSTER = Path(__file__).parent / "data" / "qa" / "host-network.yaml"
"""hostNetwork endpoints (a Service backed by the node's own address, like default/kubernetes) and ClientIP
affinity, which the samples do not have."""
HOST_NETWORK_PAIRS = (
    ("pod/default/other", "svc/default/agent"), ("pod/default/client", "svc/default/agent"),
    ("pod/default/agent", "svc/default/web"), ("pod/default/agent", "pod/default/web:80"),
    ("pod/default/other", "pod/default/agent:9100"), ("node/node-2", "pod/default/agent:9100"),
    ("pod/default/agent", "203.0.113.10:443"), ("203.0.113.10", "pod/default/agent:9100"),
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_host_network_endpoints_and_affinity_keep_the_invariants(mode, overlay):
    from webapp.loaders import load_paths

    result = load_paths([str(HOST_NETWORK_CLUSTER)])
    assert result.errors == () and result.cluster is not None
    cluster = apply_view_settings(result.cluster, ViewSettings(mode, overlay))
    pairs = [p for found in candidate_flows(cluster).values() for p in found] + list(HOST_NETWORK_PAIRS)
    problems = []
    for src, dst in pairs:
        trace = trace_flow(cluster, src, dst)
        problems += [f"{src} → {dst}: {p}" for p in violations(cluster, FlowType(trace.flow.type), src, dst, trace)]
    assert problems == []


@pytest.mark.parametrize("name", SAMPLES)
def test_no_node_sends_itself_a_packet_over_the_wire(name):
    """F6's regression test: I15 alone, on every sample in IPVS mode, where default/kubernetes's real server is
    node-1 itself (docs/qa-findings.md)."""
    problems = []
    for overlay in OVERLAYS:
        cluster = variant(name, KubeProxyMode.IPVS, overlay)
        for kind, pairs in candidate_flows(cluster).items():
            for src, dst in pairs:
                trace = trace_flow(cluster, src, dst)
                problems += [f"{overlay} {src} → {dst}: {p}" for p in violations(cluster, kind, src, dst, trace)
                             if p.startswith("I15")]
    assert problems == []


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="k8s-netviz")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.run(args)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out


@pytest.mark.parametrize("name", SAMPLES)
def test_cli_text_and_json_agree_with_the_api_for_one_flow_of_each_type(name, capsys):
    cluster = sample(name)
    for kind, pairs in candidate_flows(cluster).items():
        src, dst = pairs[-1]
        trace = trace_flow(cluster, src, dst)
        code, out = run_cli(["trace", "--sample", name, "--from", src, "--to", dst, "--json"], capsys)
        assert code == 0
        assert json.loads(out) == json.loads(json.dumps(trace.to_dict())), (kind, src, dst)
        code, out = run_cli(["trace", "--sample", name, "--from", src, "--to", dst], capsys)
        assert (code, out) == (0, trace.text(explain=True) + "\n"), (kind, src, dst)  # each hop explained


def test_the_sweep_covers_every_flow_type_and_combination():
    """The sweep is only as good as what candidate_flows offers: make sure it is broad."""
    kinds = {p.values[3] for p in sweep_params()}
    assert kinds == set(FlowType)
    combos = {(p.values[0], p.values[1], p.values[2]) for p in sweep_params()}
    assert len(combos) == len(SAMPLES) * len(MODES) * len(OVERLAYS) == 48
    seen = {str(trace_flow(variant(name, mode, overlay), *pair).disposition)
            for name, mode, overlay in combos for pairs in candidate_flows(variant(name, mode, overlay)).values()
            for pair in pairs}
    assert seen == {"delivered", "no-route"}  # no-route: outside clients to pod IPs (external-to-pod)


def test_the_invariant_checker_catches_broken_traces():
    """The checker itself: a sound trace passes; tampered ones are caught by the right invariant."""

    cluster = variant("flannel-vxlan", KubeProxyMode.IPTABLES, Overlay.FLANNEL_VXLAN)
    kind, (src, dst) = FlowType.POD_TO_POD_CROSS_NODE, candidate_flows(cluster)[FlowType.POD_TO_POD_CROSS_NODE][0]
    trace = trace_flow(cluster, src, dst)
    assert violations(cluster, kind, src, dst, trace) == []

    def tags(t: Trace) -> set[str]:
        return {p.split()[0] for p in violations(cluster, kind, src, dst, t)}

    assert "I1" in tags(replace(trace, hops=trace.hops[1:]))
    assert "I4" in tags(replace(trace, disposition=Disposition.DROPPED, reason="x"))
    assert "I5" in tags(replace(trace, reply=trace.reply[:-1]))
    moved = replace(trace.hops[-1], packet=trace.hops[-1].packet.with_dst(trace.hops[-1].packet.src))
    assert {"I3", "I6", "I9"} <= tags(replace(trace, hops=(*trace.hops[:-1], moved)))
    encap = next(i for i, h in enumerate(trace.hops) if h.action == Action.ENCAPSULATE)
    bad = replace(trace.hops[encap], device="flannel.9")
    assert "I11" in tags(replace(trace, hops=(*trace.hops[:encap], bad, *trace.hops[encap + 1:])))
    host_gw = variant("flannel-vxlan", KubeProxyMode.IPTABLES, Overlay.FLANNEL_HOST_GW)
    assert any(p.startswith("I7") for p in violations(host_gw, kind, src, dst, trace))


def test_show_takes_sample_like_trace_and_rules(capsys):
    """`show --sample NAME --node N` (as `trace --sample` and `rules --sample`) prints what `show NAME` does."""
    from webapp.cli import main

    assert main(["show", "flannel-vxlan", "--node", "node-2"]) == 0
    by_path = capsys.readouterr().out
    assert main(["show", "--sample", "flannel-vxlan", "--node", "node-2"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (by_path, "")
    assert "10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink" in out.splitlines()
    assert main(["show", "--sample", "flannel-vxlan", "seed-article"]) == 1
    assert capsys.readouterr().err == "give PATHs or --sample, not both\n"
