"""The lab on issue 17's kernel questions: SCTP where the kernel has it (and said so where it has not), a pod
connecting to a load balancer's IP on a port it does not forward, outside servers the cluster does not declare,
an ExternalName to an undeclared name, a ClusterIP reached from outside — each agreeing with the engine, every
time. Needs root and `ip netns`; skipped (with the reason) elsewhere."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.runner import prepare, up, verify
from webapp.lab.verify import DISAGREE, NOT_VERIFIABLE, OK, FlowSpec
from webapp.loaders import load_sample

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_fidelity import SCTP_CLUSTER, _load  # noqa: E402

SKIP = nx.lab_support()
pytestmark = [pytest.mark.lab, pytest.mark.skipif(SKIP is not None, reason=f"lab: {SKIP}")]
_ids = itertools.count()


@pytest.fixture
def lab_id():
    lab = f"f{os.getpid() % 100000}z{next(_ids)}"
    try:
        yield lab
    finally:
        build.lab_down(lab)
        assert not [n for n in nx.existing_netns() if n.startswith(f"knv{lab}-")]


def _verify(cluster, lab, flows=None, timeout=1.0):
    prepared = prepare(cluster, lab, flows)
    up(prepared)
    return verify(prepared, timeout=timeout)


def test_sctp_flows_are_verified_where_the_kernel_has_sctp_and_said_not_verifiable_where_not(lab_id) -> None:
    cluster = _load(SCTP_CLUSTER)
    report = _verify(cluster, lab_id)
    sctp = [r for r in report.results if r.spec.proto == "sctp"]
    assert len(sctp) == 20
    reason = nx.sctp_support()
    if reason is None:
        assert {r.status for r in sctp} == {OK}
    else:
        assert reason == ("this kernel has no SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): Protocol not "
                          "supported)")
        assert {(r.status, r.problems) for r in sctp} == {(NOT_VERIFIABLE, (reason,))}
    others = [r for r in report.results if r.spec.proto != "sctp"]
    assert [f"{r.spec}: {r.problems}" for r in others if r.status != OK] == []
