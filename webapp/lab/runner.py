"""The lab's steps end to end: trace every flow, plan the namespaces from the engine's tables, bring them up,
verify, take them down. The CLI (`commands.py`), the tests and the benchmark all go through here."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from webapp.engine.trace import Disposition, Trace
from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.from_engine import plan_for_cluster
from webapp.lab.matrix import probe_matrix
from webapp.lab.plan import LabPlan
from webapp.lab.verify import FlowSpec, VerifyReport, lab_flows, trace_for, verify_lab
from webapp.model import Cluster


@dataclass
class PreparedLab:
    cluster: Cluster
    plan: LabPlan
    flows: list[FlowSpec]


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
            if last.netns == "external":  # an outside server the cluster does not declare: the lab holds it too
                outside.add(last.packet.dst.ip)
    plan = plan_for_cluster(cluster, lab_id, outside=sorted(outside), receivers=sorted(receivers))
    return PreparedLab(cluster, plan, flows)


def up(prepared: PreparedLab, *, sources: tuple[str, ...] = ()) -> build.UpReport:
    return build.lab_up(prepared.plan, sources=sources)


def verify(prepared: PreparedLab, flows: list[FlowSpec] | None = None, *, timeout: float = 1.0,
           matrix: bool = False) -> VerifyReport:
    """Verify flows in the running lab built from `prepared` (its state names the iptables variant); with `matrix`,
    also probe the NetworkPolicy matrix on the policies' ports (webapp.lab.matrix)."""
    state = build.read_state(prepared.plan.lab_id) or {}
    variant = state.get("iptables") or nx.pick_iptables_variant()
    report = verify_lab(prepared.cluster, prepared.plan.lab_id, variant,
                        prepared.flows if flows is None else flows, timeout=timeout)
    if matrix:
        report.cells = probe_matrix(prepared.cluster, prepared.plan.lab_id)
    report.notes = prepared.plan.notes
    return report
