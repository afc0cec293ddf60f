"""`lab verify`: real traffic for every flow the engine can trace, compared with the engine's prediction —
disposition, which backend answered, the source address it saw, and the packets that crossed the underlay.

Flows run one after another (the underlay counters then belong to one flow). A load-balanced flow is repeated
until every alternative the engine lists has answered (at most COVERAGE_TRIES × alternatives attempts): a
backend that never answers is a disagreement (e.g. a missing KUBE-SEP rule). With ClientIP session affinity
every attempt must reach the same backend instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address

from webapp.engine.trace import Disposition, SocketAddress, Trace
from webapp.lab import netns as nx
from webapp.lab.expect import Crossing, Expectation, expectation
from webapp.lab.matrix import CellCheck, render_matrix_checks
from webapp.lab.plan import LabNames
from webapp.lab.probe import DEFAULT_TIMEOUT, Observation, probe
from webapp.lab.underlay import ANY_ENCAPSULATED, UnderlayCounters
from webapp.model import OVS_VXLAN_PORT, Cluster, KubeProxyMode, SessionAffinity, Service

SETTLE_S = 2.0
"""Longest wait for the previous flow's closing connections in the nodes (userspace mode: the proxy's own)."""
COVERAGE_TRIES = 12
"""Attempts per alternative: a backend chosen with probability 1/n is missed in 12n tries with p ≈ e^-12."""
AFFINITY_TRIES = 4
LB_CHAIN = "KNV-LB"
OUTSIDE_ROUTE_PROTO = "99"
"""Routes the lab sets per flow in the external namespace carry this protocol number (flushed per flow)."""
PASSTHROUGH_TABLE = "77"
"""The external namespace's routing table for a passthrough load balancer's flow (the LB IP via the node)."""
PASSTHROUGH_PREF = "50"
LOCAL_RULE_PREF = "100"
"""Where the local table's rule moves to, behind the passthrough rule (it is rule 0 in a new namespace)."""

OK, DISAGREE, NOT_VERIFIABLE = "ok", "DISAGREE", "not verifiable here"


@dataclass(frozen=True)
class FlowSpec:
    type: str
    src: str
    dst: str
    proto: str = "tcp"


@dataclass(frozen=True)
class FlowResult:
    spec: FlowSpec
    status: str
    predicted: str
    observed: str
    problems: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()


@dataclass
class VerifyReport:
    results: list[FlowResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    cells: list[CellCheck] = field(default_factory=list)
    """The NetworkPolicy matrix probed (webapp.lab.matrix), when it was."""

    @property
    def cell_disagreements(self) -> list[CellCheck]:
        return [c for c in self.cells if not c.agrees]

    @property
    def disagreements(self) -> list[FlowResult]:
        return [r for r in self.results if r.status == DISAGREE]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def trace_for(cluster: Cluster, spec: FlowSpec, backend: IPv4Address | None = None) -> Trace:
    """The engine's trace of one flow (optionally for a given backend of a load-balancing choice)."""
    from webapp.engine.flows import trace_flow

    if backend is None:
        return trace_flow(cluster, spec.src, spec.dst, spec.proto)
    return trace_flow(cluster, spec.src, spec.dst, spec.proto, backend=backend)


def lab_flows(cluster: Cluster) -> list[FlowSpec]:
    """Every flow `candidate_flows` offers, each with the protocol the engine traces it with by default
    (`destination_protocol`: UDP only where the port is declared only as UDP)."""
    from webapp.engine.flows import candidate_flows, destination_protocol

    return [FlowSpec(str(flow_type), src, dst, destination_protocol(cluster, dst))
            for flow_type, pairs in candidate_flows(cluster).items() for src, dst in pairs]


def service_for(cluster: Cluster, dst: SocketAddress) -> Service | None:
    """The service a destination address belongs to (clusterIP, externalIP, LB IP, or a node's nodePort)."""
    for svc in cluster.services:
        if dst.ip == svc.cluster_ip or dst.ip in svc.external_ips or dst.ip in svc.load_balancer_ips:
            return svc
        if dst.ip in cluster.node_by_ip and any(p.node_port == dst.port for p in svc.ports):
            return svc
    return None


def port_clash(cluster: Cluster, names: LabNames, exp: Expectation) -> str | None:
    """Why a flow to a pod port that two of its containers declare cannot be built (only one can bind it)."""
    if exp.dst.ip.is_loopback:
        pod = next((p for p in cluster.pods if names.pod(p.key) == exp.client_netns), None)
    else:
        pod = cluster.pod_by_ip.get(exp.dst.ip)
    if pod is None or not any(hop.netns == f"pod/{pod.key}" for hop in exp.trace.hops):
        return None
    owners = [c.name for c in pod.containers for p in c.ports
              if p.container_port == exp.dst.port and str(p.protocol).lower() == exp.proto]
    if len(owners) < 2:
        return None
    return (f"containers {' and '.join(owners)} of pod {pod.key} both declare {exp.dst.port}/{exp.proto}; a real "
            "pod cannot bind it twice, so the lab cannot build this pod as declared")


def _addr(text: str) -> SocketAddress | None:
    try:
        return SocketAddress.parse(text)
    except ValueError:
        return None


def describe_prediction(exp: Expectation) -> str:
    if exp.unverifiable:
        return f"{exp.disposition}"
    if exp.disposition != Disposition.DELIVERED:
        return exp.disposition
    backends = exp.alternatives or ((exp.backend,) if exp.backend else ())
    return f"delivered at {'|'.join(str(b) for b in backends)} saw {exp.saw.ip if exp.saw else '?'}"


def describe_observations(observations: list[Observation]) -> str:
    """What the kernel did over all tries of one flow: where it delivered, and how often it failed how."""
    if not observations:
        return "-"
    parts = []
    delivered = [o for o in observations if o.disposition == Disposition.DELIVERED]
    if delivered:
        ats = sorted({o.at for o in delivered if o.at})
        saws = sorted({o.saw.rpartition(":")[0] for o in delivered if o.saw})
        parts.append(f"delivered at {'|'.join(ats)} saw {'|'.join(saws)}")
    failures: dict[str, int] = {}
    for obs in observations:
        if obs.disposition != Disposition.DELIVERED:
            what = f"{obs.disposition} ({obs.error})" if obs.error else obs.disposition
            failures[what] = failures.get(what, 0) + 1
    for what, count in failures.items():
        parts.append(what if count == 1 and len(observations) == 1 else f"{what} ×{count}")
    tries = f" in {len(observations)} tries" if len(observations) > 1 else ""
    return "; ".join(parts) + tries


class LabVerifier:
    """Runs flows in a lab that is up, one at a time."""

    def __init__(self, cluster: Cluster, lab_id: str, variant: str, *, timeout: float = DEFAULT_TIMEOUT):
        self.cluster, self.names, self.variant, self.timeout = cluster, LabNames(lab_id), variant, timeout
        ports = {cluster.settings.vxlan_port, OVS_VXLAN_PORT}
        self.counters = UnderlayCounters(self.names.underlay, variant, tuple(ports))
        nx.ensure_jump(self.names.external, variant, "nat", "OUTPUT", LB_CHAIN)

    # --- the outside world, per flow ---------------------------------------------------------------------

    def _route_outside(self, exp: Expectation) -> None:
        """For a client outside the cluster: route its destination to the node the engine says the outside
        network delivers to, with the cloud load balancer's DNAT in front when the flow has one. Routes of the
        previous flow are flushed first (they carry their own protocol number)."""
        nx.run(["ip", "-n", self.names.external, "route", "flush", "proto", OUTSIDE_ROUTE_PROTO])
        nx.run(["ip", "-n", self.names.external, "route", "flush", "table", PASSTHROUGH_TABLE], check=False)
        while nx.run(["ip", "-n", self.names.external, "rule", "del", "pref", PASSTHROUGH_PREF],
                     check=False).returncode == 0:
            pass
        lines = ["*nat", f":{LB_CHAIN} - [0:0]"]
        if exp.client_netns == self.names.external and exp.load_balancer is not None:
            vip, target = exp.load_balancer.vip, exp.load_balancer.target
            if target == vip and exp.entry_node is not None:
                self._pass_through(vip, exp.proto, self.cluster.node_by_name[exp.entry_node].internal_ip)
            else:
                lines.append(f"-A {LB_CHAIN} -d {vip.ip}/32 -p {exp.proto} -m {exp.proto} --dport {vip.port} "
                             f"-j DNAT --to-destination {target}")
        lines.append("COMMIT")
        nx.run([nx.iptables_tool(self.variant, "restore"), "--noflush"], netns=self.names.external,
               stdin="\n".join(lines) + "\n")
        if exp.client_netns != self.names.external or exp.entry_node is None:
            return
        if exp.dst.ip not in self.cluster.node_by_ip:
            node = self.cluster.node_by_name[exp.entry_node]
            nx.run(["ip", "-n", self.names.external, "route", "replace", f"{exp.dst.ip}/32", "via",
                    str(node.internal_ip), "proto", OUTSIDE_ROUTE_PROTO])

    def _pass_through(self, vip: SocketAddress, proto: str, node_ip: IPv4Address) -> None:
        """A passthrough load balancer: the flow's packets to the LB IP and port leave the external namespace,
        which holds that IP, for the node unchanged — a policy route ahead of the local table (moved behind it
        once), so only the forwarded port passes and any other still meets the load balancer's drop."""
        ext = self.names.external
        if nx.run(["ip", "-n", ext, "rule", "show", "pref", "0"], check=False).stdout.strip():
            nx.run(["ip", "-n", ext, "rule", "add", "pref", LOCAL_RULE_PREF, "lookup", "local"])
            nx.run(["ip", "-n", ext, "rule", "del", "pref", "0"])
        nx.run(["ip", "-n", ext, "route", "replace", f"{vip.ip}/32", "via", str(node_ip), "table", PASSTHROUGH_TABLE])
        nx.run(["ip", "-n", ext, "rule", "add", "pref", PASSTHROUGH_PREF, "to", f"{vip.ip}/32", "ipproto", proto,
                "dport", str(vip.port), "lookup", PASSTHROUGH_TABLE])

    def _settle(self) -> None:
        """Userspace mode: wait (at most SETTLE_S) until no node has a TCP connection still closing (our FIN not yet
        acknowledged). The probe waits for its own connection's FIN, but the proxy's connection to the backend is
        torn down on its own; flushing conntrack under it would make its last packets INVALID (Felix drops them)
        and their retransmissions would cross the underlay during the next flows."""
        if self.cluster.settings.kube_proxy_mode != KubeProxyMode.USERSPACE:
            return
        deadline = time.monotonic() + SETTLE_S
        for node in self.cluster.nodes:
            while time.monotonic() < deadline and nx.run(
                    ["ss", "-Htn", "state", "fin-wait-1", "state", "closing", "state", "last-ack"],
                    netns=self.names.node(node.name), check=False).stdout.strip():
                time.sleep(0.01)

    def _forget_connections(self) -> None:
        """Every flow starts from empty conntrack tables in the nodes and the outside world, as a flow on a quiet
        cluster would: an entry an earlier flow left (a masqueraded connection whose random port equals this
        flow's client port) would make the kernel remap this flow's source port — an outcome of the order the
        lab runs its flows in, not of the cluster."""
        for node in self.cluster.nodes:
            nx.flush_conntrack(self.names.node(node.name))
        nx.flush_conntrack(self.names.external)

    # --- one flow --------------------------------------------------------------------------------------------

    def _send(self, exp: Expectation) -> Observation:
        return probe(exp.client_netns, str(exp.dst.ip), exp.dst.port, exp.proto,
                     src_ip=str(exp.sent.ip) if exp.bind_source else None, timeout=self.timeout)

    def _check_one(self, exp: Expectation, by_backend: dict[SocketAddress, Expectation],
                   obs: Observation) -> tuple[list[str], Expectation, set[SocketAddress]]:
        """Problems with one observation, the prediction it was checked against (the engine's trace for the
        backend that answered — or, for a load-balanced flow that failed, for the backends the engine says
        fail that way), and the alternatives the observation accounts for."""
        failing = {alt for alt, variant in by_backend.items() if variant.disposition == obs.disposition}
        if obs.disposition != Disposition.DELIVERED and failing:
            # which backend was chosen does not show: the crossings every failing one makes are required
            common = [c for c in by_backend[min(failing)].crossings
                      if all(c in by_backend[alt].crossings for alt in failing)]
            return [], replace(by_backend[min(failing)], crossings=tuple(common)), failing
        if obs.disposition != exp.disposition and not (obs.disposition == Disposition.DELIVERED and by_backend):
            return [f"engine says {exp.disposition}, kernel: {obs.disposition}"
                    + (f" ({obs.error})" if obs.error else "")], exp, set()
        if obs.disposition != Disposition.DELIVERED:
            return [], exp, set()
        if obs.error:
            return [obs.error], exp, set()
        at = _addr(obs.at)
        if at is None:
            return [f"listener answered from {obs.at!r}"], exp, set()
        if by_backend and at not in by_backend:
            return [f"backend {at} ({obs.pod}) is not one of the engine's alternatives "
                    f"{', '.join(str(a) for a in by_backend)}"], exp, set()
        exp = by_backend.get(at, exp)
        problems: list[str] = []
        if exp.disposition != Disposition.DELIVERED:
            problems.append(f"backend {at} ({obs.pod}) answered; the engine says {exp.disposition} for it")
        elif exp.backend is not None and at != exp.backend:
            problems.append(f"engine delivers to {exp.backend}, kernel to {at} ({obs.pod})")
        backend_ns = exp.backend_netns
        if backend_ns.startswith("pod/") and obs.pod != backend_ns[4:]:
            problems.append(f"engine delivers to pod {backend_ns[4:]}, pod {obs.pod} answered")
        elif backend_ns.startswith("pod/") and exp.backend_app and obs.container != exp.backend_app:
            problems.append(f"engine delivers to container {exp.backend_app}, container {obs.container} answered")
        elif backend_ns.startswith("host/") and exp.backend_app and obs.container != exp.backend_app:
            problems.append(f"engine delivers to {exp.backend_app} on node {backend_ns[5:]}, {obs.container} "
                            f"answered")
        saw = _addr(obs.saw)
        if exp.saw is not None and saw is not None:
            if saw.ip != exp.saw.ip:
                problems.append(f"backend saw source {saw.ip}, engine says {exp.saw.ip}")
            elif not exp.src_translated and obs.local and saw != _addr(obs.local):
                problems.append(f"backend saw {saw}, the client sent from {obs.local} and the engine has no SNAT")
        local = _addr(obs.local)
        if local is not None and local.ip != exp.sent.ip:
            problems.append(f"client sent from {local.ip}, engine says {exp.sent.ip}")
        # A backend the engine says hands over to this one (the userspace proxy retrying past a dead backend)
        # is accounted for as well.
        handed_over = {alt for alt, variant in by_backend.items()
                       if variant.disposition == Disposition.DELIVERED and variant.backend == at}
        return problems, exp, {at} | handed_over

    def _check_query(self, query: Expectation) -> list[str]:
        """ExternalName's DNS query: it must reach one of kube-dns's endpoints, from the source the engine says."""
        obs = self._send(query)
        if obs.disposition != query.disposition:
            return [f"DNS query to {query.dst}: engine says {query.disposition}, kernel: {obs.disposition}"]
        at, saw = _addr(obs.at), _addr(obs.saw)
        if at is None or at not in (query.alternatives or (query.backend,)):
            return [f"DNS query to {query.dst} answered by {obs.at} ({obs.pod}), not by a kube-dns endpoint "
                    f"of the trace"]
        if at == query.backend and query.saw is not None and saw is not None and saw.ip != query.saw.ip:
            return [f"DNS query: kube-dns saw source {saw.ip}, engine says {query.saw.ip}"]
        return []

    def _crossing_problems(self, predicted: list[Crossing], counts: dict[str, int], order: list[Crossing],
                           possible: list[Crossing] = ()) -> list[str]:
        """Every predicted crossing must show; encapsulated packets only where a prediction (or a `possible` one:
        a backend that failed the way the kernel did) has them."""
        problems = []
        for crossing in predicted:
            if counts.get(f"c{order.index(crossing)}", 0) == 0:
                problems.append(f"no packet {crossing} crossed the underlay")
        encapsulated = [c for c in (*predicted, *possible) if c.port is not None]
        if not encapsulated and counts.get(ANY_ENCAPSULATED, 0) > 0:
            problems.append(f"{counts[ANY_ENCAPSULATED]} encapsulated packet(s) crossed the underlay; "
                            "the engine predicts none")
        return problems

    def _arm_counters(self, spec: FlowSpec, exp: Expectation) -> tuple[dict[SocketAddress, Expectation], list[Crossing]]:
        """The engine's trace for each backend a load-balancing hop may choose, and the underlay counters
        armed for every crossing any of them makes."""
        # (the flow's own trace stands for its backend unless the userspace proxy reached it by dialling past
        # the one it chose first)
        same = exp.first_choice in (None, exp.backend)
        by_backend = {alt: exp if alt == exp.backend and same else
                      expectation(trace_for(self.cluster, spec, alt.ip), self.names)
                      for alt in exp.alternatives}
        variants = [exp, *by_backend.values()]
        order: list[Crossing] = []
        for variant in variants:
            order += [c for c in variant.crossings if c not in order]
        addresses = {a.ip for v in variants for a in (v.sent, v.dst, v.backend, v.saw) if a is not None}
        self.counters.arm(tuple(order), tuple(addresses))
        return by_backend, order

    def _probe(self, exp: Expectation, by_backend: dict[SocketAddress, Expectation],
               affinity: bool) -> tuple[list[Observation], list[str], list[Crossing], list[Crossing]]:
        """Send the flow until every alternative has answered (or the affinity tries are done, or a problem
        shows); the observations, the problems, the crossings the answering backends imply, and those a backend
        that failed the way the kernel did may have made."""
        distinct = set(by_backend)
        tries = 1
        if len(distinct) > 1:
            tries = AFFINITY_TRIES if affinity else COVERAGE_TRIES * len(distinct)
        observations: list[Observation] = []
        problems: list[str] = []
        predicted: list[Crossing] = []
        possible: list[Crossing] = []
        answered: set[SocketAddress] = set()
        for _ in range(tries):
            obs = self._send(exp)
            observations.append(obs)
            found, used, covered = self._check_one(exp, by_backend, obs)
            problems += [p for p in found if p not in problems]
            predicted += [c for c in used.crossings if c not in predicted]
            if obs.disposition != Disposition.DELIVERED:
                possible += [c for alt in covered for c in by_backend[alt].crossings if c not in possible]
            else:
                # a backend the engine says hands over to the one that answered (the userspace proxy dialled it
                # first, and its packets crossed before the retry) may have been tried too
                possible += [c for alt in covered - {used.backend} for c in by_backend[alt].crossings
                             if c not in possible]
            answered |= covered
            if found or (not affinity and distinct and answered >= distinct):
                break
        if not problems and len(distinct) > 1:
            if affinity and len(answered) > 1:
                problems.append(f"session affinity ClientIP: the client reached {len(answered)} backends")
            missing = distinct - answered
            if not affinity and missing:
                problems.append(f"backend(s) {', '.join(str(m) for m in sorted(missing))} never answered in "
                                f"{len(observations)} tries")
        return observations, problems, predicted, possible

    def run(self, spec: FlowSpec) -> FlowResult:
        """Verify one flow: the engine's trace, real traffic, the comparison."""
        try:
            trace = trace_for(self.cluster, spec)
        except (ValueError, KeyError) as exc:
            return FlowResult(spec, NOT_VERIFIABLE, "-", "-", (f"the engine cannot trace it: {exc}",))
        exp = expectation(trace, self.names)
        clash = port_clash(self.cluster, self.names, exp)
        if exp.unverifiable or clash:
            return FlowResult(spec, NOT_VERIFIABLE, describe_prediction(exp), "-", (exp.unverifiable or clash,))
        self._settle()
        self._forget_connections()
        self._route_outside(exp)
        # ExternalName: the DNS query first, before the counters are armed for the connection.
        query = exp.dns_query
        caveats = [exp.caveat] if exp.caveat else []
        problems: list[str] = []
        if query is not None and query.unverifiable:
            caveats.append(f"the DNS query to {query.dst} is not sent: {query.unverifiable}")
        elif query is not None:
            problems += self._check_query(query)
        by_backend, order = self._arm_counters(spec, exp)
        service = service_for(self.cluster, exp.dst)
        affinity = service is not None and service.session_affinity == SessionAffinity.CLIENT_IP
        observations, found, predicted, possible = self._probe(exp, by_backend, affinity)
        problems += found
        if not problems:
            problems += self._crossing_problems(predicted, self.counters.read(), order, possible)
        return FlowResult(spec, DISAGREE if problems else OK, describe_prediction(exp),
                          describe_observations(observations), tuple(problems), tuple(caveats))


def verify_lab(cluster: Cluster, lab_id: str, variant: str, flows: list[FlowSpec] | None = None, *,
               timeout: float = DEFAULT_TIMEOUT) -> VerifyReport:
    """Run `flows` (default: every candidate flow) in the running lab and compare."""
    started = time.monotonic()
    verifier = LabVerifier(cluster, lab_id, variant, timeout=timeout)
    report = VerifyReport()
    for spec in flows if flows is not None else lab_flows(cluster):
        report.results.append(verifier.run(spec))
    report.seconds = time.monotonic() - started
    return report


def render_report(report: VerifyReport) -> str:
    """One row per flow: predicted against observed, and the verdict; problems listed under the row."""
    header = ("#", "flow type", "from → to", "proto", "engine predicts", "kernel did", "result")
    rows = []
    for index, result in enumerate(report.results, 1):
        spec = result.spec
        rows.append((str(index), spec.type, f"{spec.src} → {spec.dst}", spec.proto, result.predicted,
                     result.observed, result.status))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for result, row in zip(report.results, rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        for problem in result.problems:
            lines.append(f"      - {problem}")
        for caveat in result.caveats:
            lines.append(f"      · {caveat}")
    lines.append(f"{len(report.results)} flows: {report.count(OK)} agree, {report.count(DISAGREE)} disagree, "
                 f"{report.count(NOT_VERIFIABLE)} not verifiable here ({report.seconds:.1f} s)")
    if report.cells:
        lines.append(render_matrix_checks(report.cells))
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
