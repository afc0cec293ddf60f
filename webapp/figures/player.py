"""Where each hop of a trace is drawn: the bridge between a `Trace` and the diagram's device positions.

The browser-side player (assets/netviz.js) receives `Trace.to_dict()` plus one point per hop; it only
interpolates between those points. No path is computed here: hops come from the engine.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import dataclasses

from webapp.engine.specs import End, SpecKind, parse_spec
from webapp.engine.trace import Hop, HopKind, Trace
from webapp.figures.canvas import Point
from webapp.figures.devices import HOST_NETNS, netns_key
from webapp.figures.diagram import Diagram, DiagramView, position_key
from webapp.model import Cluster
from webapp.figures.words import word

_PROXY_KINDS = frozenset({HopKind.NETFILTER, HopKind.IPVS, HopKind.PROXY})


def hop_point(positions: Mapping[str, Point], hop: Hop, previous: Point | None) -> Point | None:
    """The drawn point of one hop, most specific first: the device itself, its pod, its node's device of that
    kind, the service VIP it addressed, the outside world; None when nothing fits."""
    node = hop.node
    netns = netns_key(hop.netns)
    device = hop.device or ""
    kind = hop.kind
    candidates: list[str] = [position_key(node, netns, device)]
    if node:
        if netns != HOST_NETNS:
            candidates.append(position_key(node, netns, "eth0"))
            candidates.append(position_key(node, netns, ""))
        candidates.append(position_key(node, HOST_NETNS, device))
        if kind in _PROXY_KINDS:
            candidates.append(position_key(node, HOST_NETNS, "kube-proxy"))
        if kind == HopKind.ROUTE:
            candidates.append(position_key(node, HOST_NETNS, "route"))
        if kind == HopKind.WIRE:
            candidates.append(f"wire|{node}")
        candidates.append(position_key(node, HOST_NETNS, ""))
    else:
        if kind == HopKind.LOADBALANCER:
            candidates.append("external|loadbalancer")
        if kind == HopKind.DNS:
            candidates += [f"svc|{device}", f"vip|{hop.packet.dst.ip}"]
        candidates += [f"external|{device}", f"external|{netns}", f"external|{hop.packet.src.ip}",
                       f"external|{hop.packet.dst.ip}"]
        if kind == HopKind.WIRE:
            candidates.append("wire|")
        if kind != HopKind.LOADBALANCER:
            candidates.append("external|client")
    for key in candidates:
        if key in positions:
            return positions[key]
    return previous


def _tunnel_point(positions: Mapping[str, Point], hop: Hop) -> Point | None:
    """An encapsulated packet between its two VXLAN devices rides the drawn tunnel line (under its node's tunnel end,
    in the middle on the wire), not the physical network it really crosses inside the outer headers."""
    if hop.packet.outer is None or hop.kind in (HopKind.VXLAN, HopKind.OVS):
        return None
    return positions.get(f"tunnel|{hop.node}" if hop.node else "tunnel|")


def hop_points(diagram: Diagram, hops: Iterable[Hop]) -> list[Point]:
    """One point per hop. Wire hops sit on the physical network between their neighbours' x; inside a VXLAN tunnel
    hops sit on the tunnel line."""
    hop_list = list(hops)
    points: list[Point | None] = []
    previous: Point | None = None
    for hop in hop_list:
        point = _tunnel_point(diagram.positions, hop) or hop_point(diagram.positions, hop, previous)
        points.append(point)
        previous = point or previous
    resolved: list[Point] = []
    fallback = diagram.positions.get("wire|", (0.0, 0.0))
    for index, (hop, point) in enumerate(zip(hop_list, points)):
        if hop.kind == HopKind.WIRE and not hop.node and _tunnel_point(diagram.positions, hop) is None:
            before = next((p for p in reversed(points[:index]) if p), None)
            after = next((p for p in points[index + 1:] if p), None)
            wire_y = fallback[1]
            if before and after:
                point = ((before[0] + after[0]) / 2, wire_y)
        resolved.append(point or (resolved[-1] if resolved else fallback))
    return [(round(x, 3), round(y, 3)) for x, y in resolved]


def playback(diagram: Diagram, trace: Trace) -> dict[str, Any]:
    """What the browser player needs (a dcc.Store's data): `trace.to_dict()`, the points of its hops, and the
    packet marker's worded labels in the current language (by hop action; `reply` on the reply's first hop)."""
    return {
        "trace": trace.to_dict(),
        "points": hop_points(diagram, trace.hops),
        "reply_points": hop_points(diagram, trace.reply),
        "labels": {name: word(f"packet.{name}") for name in ("encapsulate", "decapsulate", "proxy", "reply")},
    }


def path_nodes(trace: Trace) -> frozenset[str]:
    return frozenset(h.node for h in (*trace.hops, *trace.reply) if h.node)


def path_pods(cluster: Cluster, trace: Trace) -> frozenset[str]:
    """Pods a hop runs in, plus the pods behind a load-balancing hop's alternatives (the other backends)."""
    hops = (*trace.hops, *trace.reply)
    pods = {key for h in hops if (key := netns_key(h.netns)) in cluster.pod_by_key}
    for hop in hops:
        for alternative in hop.alternatives:
            pod = cluster.pod_by_ip.get(alternative.dst.ip)
            if pod is not None:
                pods.add(pod.key)
    return frozenset(pods)


def path_services(cluster: Cluster, trace: Trace) -> frozenset[str]:
    """Services whose VIP, LB IP or external IP a hop addressed, plus the one the flow's destination names."""
    addresses = {h.packet.dst.ip for h in trace.hops}
    try:
        named = parse_spec(trace.flow.dst, End.DESTINATION)
    except ValueError:
        named = None
    found = {named.key} if named is not None and named.kind == SpecKind.SERVICE else set()
    for svc in cluster.services:
        if addresses.intersection((svc.cluster_ip, *svc.load_balancer_ips, *svc.external_ips)):
            found.add(svc.key)
    return frozenset(found & set(cluster.service_by_key))


def trace_view(cluster: Cluster, trace: Trace, view: DiagramView = DiagramView()) -> DiagramView:
    """`view` with the trace's nodes, pods and services drawn in detail (what the page shows for a flow; a service
    the view already draws on its own, a searched one, stays), and a container-to-container flow's pod with its
    shared namespace (`DiagramView.inside`)."""
    inside = frozenset(netns_key(h.netns) for h in trace.hops if h.kind == HopKind.LOOPBACK) & set(cluster.pod_by_key)
    return dataclasses.replace(view, services=view.services | path_services(cluster, trace),
                               path_nodes=path_nodes(trace), path_pods=path_pods(cluster, trace),
                               inside=frozenset(inside))
