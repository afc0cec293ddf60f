"""`lab verify`'s NetworkPolicy part: the reachability matrix probed in the running lab — a TCP connect or a UDP
datagram from every pod to every other pod on every port the policies name — against the engine's matrix
(webapp.engine.policy_matrix), allowed and denied cells alike.

A cell the engine denies must time out (the plugin's chain drops the first packet); any other cell must reach the
destination pod: its listener answers, or, where nothing listens on that port, the pod's kernel refuses (a TCP
reset, an ICMP port unreachable) — either way the packet passed the policies. Probes run in parallel: each waits
at most `timeout` seconds, and a denied cell always waits that long.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from webapp.engine.policy_matrix import CellState, policy_matrix
from webapp.lab.plan import LabNames
from webapp.lab.probe import probe
from webapp.model import Cluster, Protocol

MATRIX_TIMEOUT = 0.5
"""Seconds before a matrix probe counts as dropped: in the lab's namespaces an allowed connection takes
milliseconds."""
WORKERS = 16
PROBED = (Protocol.TCP, Protocol.UDP)
"""Protocols the lab probes (SCTP cells are left to the engine: `policy_ports` reports them skipped)."""


@dataclass(frozen=True)
class CellCheck:
    """One cell: the engine's state, what the kernel did, and whether they agree."""

    src: str
    dst: str
    port: int
    protocol: Protocol
    predicted: CellState
    observed: str
    """`delivered`, `rejected` (reached the pod, nothing listens), `dropped` (timeout) or `no-route`."""

    @property
    def agrees(self) -> bool:
        reached = self.observed in ("delivered", "rejected")
        return reached == (self.predicted != CellState.DENIED)

    def __str__(self) -> str:
        return (f"{self.src} → {self.dst} {self.port}/{self.protocol}: engine {self.predicted}, kernel "
                f"{self.observed}")


def policy_ports(cluster: Cluster) -> tuple[tuple[int, Protocol], ...]:
    """The ports the policies name, by protocol: numbers, both ends of an `endPort` range, and named ports as
    the pods that declare them number them; sorted."""
    found: set[tuple[int, Protocol]] = set()
    for policy in cluster.network_policies:
        for rule in (*policy.ingress, *policy.egress):
            for entry in rule.ports:
                if isinstance(entry.port, int):
                    found.add((entry.port, entry.protocol))
                    if entry.end_port:
                        found.add((entry.end_port, entry.protocol))
                elif isinstance(entry.port, str):
                    found |= {(declared[1].container_port, entry.protocol) for pod in cluster.pods
                              for declared in (pod.find_port(entry.port, entry.protocol),) if declared is not None}
    return tuple(sorted(found, key=lambda item: (item[0], str(item[1]))))


def probe_matrix(cluster: Cluster, lab_id: str, ports: tuple[tuple[int, Protocol], ...] | None = None, *,
                 timeout: float = MATRIX_TIMEOUT) -> list[CellCheck]:
    """Every ordered pair of pods on the pod network (a pod and itself excepted), on every port of `ports`
    (default: `policy_ports`, TCP and UDP), probed in the lab and set beside the engine's cell."""
    names = LabNames(lab_id)
    cells: list[tuple[str, str, int, Protocol, CellState]] = []
    for port, protocol in ports if ports is not None else policy_ports(cluster):
        if protocol not in PROBED:
            continue
        matrix = policy_matrix(cluster, port, protocol)
        cells += [(src, dst, port, protocol, matrix.state(src, dst))
                  for src in matrix.pods for dst in matrix.pods if src != dst]

    def run(cell: tuple[str, str, int, Protocol, CellState]) -> CellCheck:
        src, dst, port, protocol, state = cell
        target = cluster.pod_by_key[dst].pod_ip
        seen = probe(names.for_engine(f"pod/{src}"), str(target), port, str(protocol).lower(), timeout=timeout)
        return CellCheck(src, dst, port, protocol, state, seen.disposition)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(run, cells))


def render_matrix_checks(checks: list[CellCheck]) -> str:
    """A line per port with its counts, then every cell that disagrees."""
    lines = []
    by_port: dict[tuple[int, Protocol], list[CellCheck]] = {}
    for check in checks:
        by_port.setdefault((check.port, check.protocol), []).append(check)
    for (port, protocol), group in by_port.items():
        denied = sum(1 for c in group if c.predicted == CellState.DENIED)
        unenforced = sum(1 for c in group if c.predicted == CellState.NOT_ENFORCED)
        also = f", {unenforced} would be denied, not enforced" if unenforced else ""
        agree = sum(1 for c in group if c.agrees)
        lines.append(f"policy matrix {port}/{protocol}: {len(group)} cells ({denied} denied by the engine{also}), "
                     f"{agree} agree with the kernel, {len(group) - agree} disagree")
    lines += [f"  DISAGREE {c}" for c in checks if not c.agrees]
    return "\n".join(lines)
