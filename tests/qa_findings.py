"""Bugs found by QA that were still open at the QA deadline, in files QA may not edit (walk.py, flows.py) or left
for a decision (F2). Each is written up in /work/team/qa-findings.md. Tests that such a bug breaks are marked
xfail(strict=True): when the bug is fixed the test passes, strict xfail fails, and the entry must go."""

from __future__ import annotations

import pytest

OPEN_FINDINGS: dict[str, str] = {
    "F2": "F2: MASQUERADE --random-fully keeps the source port; the kernel picks a random one (netfilter.py; "
          "left open: port-only NAT would change the no-NAT contract of node-to-pod under host-gw)",
    "F3": "F3: IPVS mode delivers a packet for a Service VIP on a port no service has to a node process "
          "(walk.py Walker._host_socket)",
    "F4": "F4: a Service cluster IP on another port is classified pod-to-external (flows.py classify)",
    "F5": "F5: a UDP-only Service port offered by candidate_flows is traced as TCP and ends no-route "
          "(flows.py candidate_flows / trace_flow)",
    "F7": "F7: an ExternalName to an undeclared host ends no-route on the DNS answer's app/deliver hop, with no "
          "hop that says where it stopped (flows.py _trace_external_name)",
    "F8": "F8: node-owned pod-CIDR addresses (cni0, flannel.1) are classified pod-to-pod-cross-node and an outside "
          "client to a cluster IP node-to-service (flows.py classify)",
    "F6": "F6: IPVS sends a packet for a real server on the node itself (the API server behind default/kubernetes, "
          "a hostNetwork endpoint) out on the wire and back instead of through lo (walk.py Walker._local_service)",
}


def open_finding(finding: str, applies: bool = True) -> tuple:
    """The xfail mark for a case that an open finding breaks; nothing once the finding is fixed (removed above)."""
    if applies and finding in OPEN_FINDINGS:
        return (pytest.mark.xfail(strict=True, reason=OPEN_FINDINGS[finding]),)
    return ()


def xfail_while_open(finding: str):
    """Decorator form of `open_finding` for a whole test."""
    def mark(test):
        for m in open_finding(finding):
            test = m(test)
        return test
    return mark
