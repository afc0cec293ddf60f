"""Bugs found by QA that were still open at the QA deadline, in files QA may not edit (walk.py, flows.py) or left
for a decision (F2). Each is written up in /work/team/qa-findings.md. Tests that such a bug breaks are marked
xfail(strict=True): when the bug is fixed the test passes, strict xfail fails, and the entry must go."""

from __future__ import annotations

import pytest

OPEN_FINDINGS: dict[str, str] = {
    "F2": "F2: MASQUERADE --random-fully keeps the source port; the kernel picks a random one (netfilter.py; "
          "left open: port-only NAT would change the no-NAT contract of node-to-pod under host-gw)",
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
