"""The lab's steps end to end: trace every flow, plan the namespaces from the engine's tables, bring them up,
verify, take them down. The CLI (`commands.py`), the tests and the benchmark all go through here."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from webapp.engine.trace import Disposition, SocketAddress, Trace
from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.from_engine import plan_for_cluster
from webapp.lab.plan import LabPlan
from webapp.lab.verify import FlowSpec, VerifyReport, all_flows, trace_for, verify_lab
from webapp.model import Cluster, Protocol


def flow_protocol(cluster: Cluster, dst: str) -> str:
    """The protocol of a destination: a service port's or a pod's declared protocol; TCP otherwise."""
    if dst.startswith("svc/"):
        path, _, port = dst[4:].partition(":")
        namespace, _, name = path.rpartition("/")
        service = cluster.service_by_key.get(f"{namespace or 'default'}/{name}")
        sport = service.port_named(int(port) if port.isdigit() else port) if service and port else None
        return str(sport.protocol).lower() if sport else "tcp"
    path, _, port = dst.rpartition(":")
    if path.startswith("pod/") and port.isdigit():
        pod = cluster.pod_by_key.get(path[4:] if "/" in path[4:] else f"default/{path[4:]}")
        if pod and pod.find_port(int(port), Protocol.TCP) is None and pod.find_port(int(port), Protocol.UDP):
            return "udp"
        return "tcp"
    try:
        address = SocketAddress.parse(dst)
    except ValueError:
        return "tcp"
    for service in cluster.services:
        if address.ip in (service.cluster_ip, *service.external_ips, *service.load_balancer_ips):
            sport = service.port_named(address.port)
            if sport is not None:
                return str(sport.protocol).lower()
    return "tcp"


def lab_flows(cluster: Cluster) -> list[FlowSpec]:
    """Every candidate flow of the engine, each with its destination's protocol."""
    return [FlowSpec(f.type, f.src, f.dst, flow_protocol(cluster, f.dst)) for f in all_flows(cluster)]


@dataclass
class PreparedLab:
    cluster: Cluster
    plan: LabPlan
    flows: list[FlowSpec]
    traces: dict[FlowSpec, Trace]


def prepare(cluster: Cluster, lab_id: str, flows: list[FlowSpec] | None = None) -> PreparedLab:
    """Trace the flows, and plan a lab with a client address and a listener for each of them."""
    flows = lab_flows(cluster) if flows is None else flows
    traces: dict[FlowSpec, Trace] = {}
    for spec in flows:
        try:
            traces[spec] = trace_for(cluster, spec)
        except (ValueError, KeyError):
            continue
    outside: set[IPv4Address] = set()
    receivers: set[tuple[str, str, int, str]] = set()
    for trace in traces.values():
        if not trace.hops:
            continue
        first, last = trace.hops[0], trace.hops[-1]
        if first.netns == "external":
            outside.add(first.packet.src.ip)
        if trace.disposition == Disposition.DELIVERED:
            receivers.add((last.netns, trace.flow.proto, last.packet.dst.port, last.device))
    plan = plan_for_cluster(cluster, lab_id, outside=sorted(outside), receivers=sorted(receivers))
    return PreparedLab(cluster, plan, flows, traces)


def up(prepared: PreparedLab, *, sources: tuple[str, ...] = ()) -> build.UpReport:
    return build.lab_up(prepared.plan, sources=sources)


def verify(prepared: PreparedLab, flows: list[FlowSpec] | None = None, *, timeout: float = 1.0) -> VerifyReport:
    """Verify flows in the running lab built from `prepared` (its state names the iptables variant)."""
    state = build.read_state(prepared.plan.lab_id) or {}
    variant = state.get("iptables") or nx.pick_iptables_variant()
    report = verify_lab(prepared.cluster, prepared.plan.lab_id, variant,
                        prepared.flows if flows is None else flows, timeout=timeout)
    report.notes = prepared.plan.notes
    return report
