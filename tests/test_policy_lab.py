"""NetworkPolicy in the lab: `lab up` installs the enforcing plugin's chains in the node namespaces, `lab verify`
probes the matrix (TCP connect, UDP echo) on the policies' ports and agrees with the engine cell by cell, and one
policy changed flips the same cells in the engine and in the kernel. Needs root and `ip netns`."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from webapp.engine.policy_matrix import CellState, policy_matrix
from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.matrix import policy_ports, probe_matrix
from webapp.lab.plan import LabNames
from webapp.lab.runner import prepare, up, verify
from webapp.lab.verify import OK
from webapp.loaders import load_sample
from webapp.model import PolicyRule, Protocol

SKIP = nx.lab_support()
pytestmark = [pytest.mark.lab, pytest.mark.skipif(SKIP is not None, reason=f"lab: {SKIP}")]


@pytest.fixture
def lab_id():
    lab = "np" + uuid.uuid4().hex[:4]
    yield lab
    build.lab_down(lab)


def states(cluster, ports):
    return {(src, dst, port, proto): policy_matrix(cluster, port, proto).state(src, dst)
            for port, proto in ports for src in policy_matrix(cluster, port, proto).pods
            for dst in policy_matrix(cluster, port, proto).pods if src != dst}


def test_the_kernel_agrees_with_every_flow_and_every_matrix_cell_and_flips_with_a_policy(lab_id):
    shop = load_sample("policy-shop")
    prepared = prepare(shop, lab_id)
    up(prepared)
    names = LabNames(lab_id)
    forward = [line for line in nx.run(["iptables-save", "-t", "filter"], netns=names.node("node-1")).stdout
               .splitlines() if line.startswith("-A FORWARD ")]
    assert forward[0] == '-A FORWARD -m comment --comment "cali:policy" -j cali-FORWARD'
    assert forward[-1] == ('-A FORWARD -m mark --mark 0x10000/0x10000 -m comment --comment "Policy explicitly '
                           'accepted packet." -j ACCEPT')

    report = verify(prepared, timeout=1.0, matrix=True)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    assert report.count(OK) == len(prepared.flows)
    ports = policy_ports(shop)
    assert ports == ((53, Protocol.TCP), (53, Protocol.UDP), (80, Protocol.TCP), (5432, Protocol.TCP),
                     (8080, Protocol.TCP))
    assert [str(c) for c in report.cell_disagreements] == []
    assert len(report.cells) == 5 * 8 * 7
    predicted = {c.predicted for c in report.cells}
    assert predicted == {CellState.ALLOWED, CellState.DENIED}
    assert {c.observed for c in report.cells if c.predicted == CellState.DENIED} == {"dropped"}
    assert {c.observed for c in report.cells if c.predicted == CellState.ALLOWED} <= {"delivered", "rejected"}

    # One policy changed: frontend's allow-dns now allows every egress (an empty rule), and Felix reprograms it.
    policies = tuple(dataclasses.replace(p, egress=(PolicyRule(),)) if p.key == "frontend/allow-dns" else p
                     for p in shop.network_policies)
    changed = dataclasses.replace(shop, network_policies=policies)
    assert build.reload_policy_rules(changed, lab_id) == 2
    before, after = states(shop, ports), states(changed, ports)
    flipped = {cell for cell in before if before[cell] != after[cell]}
    assert {(src, dst) for src, dst, port, _ in flipped if port == 80} == {
        ("frontend/debug", "frontend/web-1"), ("frontend/debug", "frontend/web-2"),
        ("frontend/web-1", "frontend/web-2"), ("frontend/web-2", "frontend/web-1"),
        ("frontend/debug", "kube-system/coredns-868cd75d4-2mcc9"),
        ("frontend/debug", "kube-system/coredns-868cd75d4-9v5v2"),
        ("frontend/web-1", "kube-system/coredns-868cd75d4-2mcc9"),
        ("frontend/web-1", "kube-system/coredns-868cd75d4-9v5v2"),
        ("frontend/web-2", "kube-system/coredns-868cd75d4-2mcc9"),
        ("frontend/web-2", "kube-system/coredns-868cd75d4-9v5v2")}
    assert all(after[cell] == CellState.ALLOWED for cell in flipped)
    kernel_before = {(c.src, c.dst, c.port, c.protocol): c.observed != "dropped" for c in report.cells}
    checks = probe_matrix(changed, lab_id)
    assert [str(c) for c in checks if not c.agrees] == []
    kernel_after = {(c.src, c.dst, c.port, c.protocol): c.observed != "dropped" for c in checks}
    assert {cell for cell in kernel_before if kernel_before[cell] != kernel_after[cell]} == flipped



@pytest.mark.parametrize("overlay", ["flannel-vxlan", "flannel-host-gw"])
def test_the_userspace_proxy_dials_past_a_backend_whose_policy_drops_the_node(lab_id, overlay):
    """Userspace mode on Canal: kube-proxy's own connection comes from the node, which a backend's policy polices
    unless the backend is on that node. The kernel (Felix's chains, the lab's proxy) dials past api-1 from node-2
    and ends at api-2, and closes node-1's clients' connections to the database (the engine's reasons:
    tests/test_policy_walk.py). The soak found these six flows disagreeing before the engine modelled the retry."""
    from webapp.model import KubeProxyMode, Overlay
    from webapp.variants import ViewSettings, apply_view_settings

    shop = apply_view_settings(load_sample("policy-shop"), ViewSettings(kube_proxy_mode=KubeProxyMode.USERSPACE,
                                                                        overlay=Overlay(overlay)))
    prepared = prepare(shop, lab_id)
    flows = [f for f in prepared.flows if f.dst in ("svc/backend/api:8080", "svc/database/db:5432")
             and (f.src.startswith("node/") or "coredns" in f.src)]
    up(prepared)
    report = verify(prepared, flows, timeout=1.0)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    c1, c2 = "pod/kube-system/coredns-868cd75d4-2mcc9", "pod/kube-system/coredns-868cd75d4-9v5v2"
    api, db = "svc/backend/api:8080", "svc/database/db:5432"
    at_api_1 = ("delivered at 10.244.0.3:8080|10.244.1.3:8080 saw 10.244.0.1", "delivered at 10.244.0.3:8080 saw 10.244.0.1")
    at_api_2 = ("delivered at 10.244.0.3:8080|10.244.1.3:8080 saw 10.244.1.1", "delivered at 10.244.1.3:8080 saw 10.244.1.1")
    at_db = ("delivered at 10.244.1.4:5432 saw 10.244.1.1", "delivered at 10.244.1.4:5432 saw 10.244.1.1")
    closed = ("rejected", "rejected (accepted, then closed with no answer)")
    assert {(r.spec.src, r.spec.dst): (r.predicted, r.observed) for r in report.results} == {
        (c1, api): at_api_1, ("node/node-1", api): at_api_1, (c2, api): at_api_2, ("node/node-2", api): at_api_2,
        (c1, db): closed, ("node/node-1", db): closed, (c2, db): at_db, ("node/node-2", db): at_db}
