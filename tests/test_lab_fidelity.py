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


def test_a_pod_to_a_load_balancer_ip_on_another_port_times_out_every_time(lab_id) -> None:
    """The kernel used to say "Network is unreachable" (the lab's outside world had no route for the LB IP),
    sometimes a time-out (ICMP rate limit). The lab's load balancer now holds its IP and drops what it does not
    forward, as the engine says — the same outcome on every try; its forwarded port still reaches a backend."""
    flows = [FlowSpec("pod-to-external", "pod/default/api-1", "203.0.113.100:443"),
             FlowSpec("pod-to-external", "pod/default/web-2", "203.0.113.100:443"),
             FlowSpec("loadbalancer", "203.0.113.10", "203.0.113.100:80"),
             FlowSpec("loadbalancer", "pod/default/web-1", "203.0.113.100:80")]
    prepared = prepare(load_sample("seed-article"), lab_id, flows)
    up(prepared)
    for _ in range(5):
        report = verify(prepared, timeout=0.4)
        assert [(r.spec.dst, r.status, r.predicted.split(" saw")[0], r.observed.split(" saw")[0])
                for r in report.results] == [
            ("203.0.113.100:443", OK, "dropped", "dropped (timeout)"),
            ("203.0.113.100:443", OK, "dropped", "dropped (timeout)"),
            ("203.0.113.100:80", OK, "delivered at 10.244.1.3:8080|10.244.2.3:8080",
             "delivered at 10.244.1.3:8080|10.244.2.3:8080"),
            ("203.0.113.100:80", OK, "delivered at 10.244.1.3:8080|10.244.2.3:8080",
             "delivered at 10.244.1.3:8080|10.244.2.3:8080"),
        ]


def test_icmp_errors_are_never_rate_limited_in_the_lab(lab_id) -> None:
    """A UDP flow to a service without endpoints is REJECTed with ICMP port unreachable: 30 tries in a row, 30
    refusals (the kernel's default ICMP rate limit would turn some into time-outs)."""
    from webapp.lab.probe import probe

    cluster = _load(SCTP_CLUSTER.replace("services:\n", "services:\n  - {name: gone, selector: {app: none}, "
                                                       "ports: [{port: 53, protocol: UDP}]}\n"))
    flows = [FlowSpec("pod-to-service", "pod/default/client", "svc/default/gone:53", "udp")]
    prepared = prepare(cluster, lab_id, flows)
    up(prepared)
    report = verify(prepared, timeout=0.5)
    assert [(r.status, r.predicted) for r in report.results] == [(OK, "rejected")]
    vip = str(cluster.service_by_key["default/gone"].cluster_ip)
    client = prepared.plan.names.pod("default/client")
    seen = [probe(client, vip, 53, "udp", timeout=0.5).disposition for _ in range(30)]
    assert seen == ["rejected"] * 30


def test_an_external_name_to_an_undeclared_name_goes_out_to_the_unknown_host(lab_id) -> None:
    """The DNS query reaches kube-dns for real; the connection leaves through the node's masquerade and is
    answered by the lab's stand-in for `db.example.com (address unknown)` at the address the engine chose."""
    cluster = _load(SCTP_CLUSTER.replace("services:\n", "services:\n  - {name: db, type: ExternalName, "
                                                       "externalName: db.example.com, ports: [5432]}\n"))
    flows = [FlowSpec("externalname", "pod/default/client", "svc/default/db:5432"),
             FlowSpec("externalname", "pod/default/sig-1", "svc/default/db:5432")]
    report = _verify(cluster, lab_id, flows)
    assert [(r.status, r.predicted, r.observed) for r in report.results] == [
        (OK, "delivered at 192.0.2.170:5432 saw 192.168.0.11", "delivered at 192.0.2.170:5432 saw 192.168.0.11"),
        (OK, "delivered at 192.0.2.170:5432 saw 192.168.0.12", "delivered at 192.0.2.170:5432 saw 192.168.0.12"),
    ]
    assert all("the DNS query" not in c for r in report.results for c in r.caveats)


def test_outside_clients_reach_cluster_ips_through_the_declared_route(lab_id) -> None:
    """serviceCIDRRoute: via node-1 — the lab's router gets the route, node-1's kube-proxy DNATs and masquerades."""
    from test_engine_fidelity import ROUTED

    cluster = _load(ROUTED)
    report = _verify(cluster, lab_id, [FlowSpec("external-to-pod", "203.0.113.2", "172.30.0.41:80")])
    assert [(r.status, r.predicted, r.observed.split(" in ")[0]) for r in report.results] == [
        (OK, "delivered at 10.180.0.10:80|10.180.2.10:80 saw 10.180.0.1",
         "delivered at 10.180.0.10:80|10.180.2.10:80 saw 10.180.0.0|10.180.0.1")]


def test_the_userspace_proxys_own_connection_has_a_port_of_its_own(lab_id) -> None:
    """Userspace mode, a node to the API server through its Service: the proxy opens a new connection from the
    node's own address, so the backend sees the client's address with another port — no SNAT, but not the
    client's socket either (the engine's PROXY hop). The soak found this flow disagreeing on every overlay."""
    from dataclasses import replace

    from webapp.model import KubeProxyMode

    seed = load_sample("seed-article")
    cluster = replace(seed, settings=replace(seed.settings, kube_proxy_mode=KubeProxyMode.USERSPACE))
    flows = [FlowSpec("node-to-service", "node/node-1", "svc/default/kubernetes:https"),
             FlowSpec("node-to-service", "node/node-2", "svc/default/kubernetes:https")]
    report = _verify(cluster, lab_id, flows)
    assert [(r.status, r.predicted) for r in report.results] == [
        (OK, "delivered at 192.168.0.11:6443 saw 192.168.0.11"), (OK, "delivered at 192.168.0.11:6443 saw 192.168.0.12")]


def test_the_kernel_accepts_the_sctp_rules_in_both_modes(tmp_path) -> None:
    """An SCTP Service's rules: `iptables-restore --test` and `nft -c` accept them in a throwaway namespace."""
    import subprocess

    from webapp.engine.kubeproxy.iptables import render_iptables_restore
    from webapp.engine.kubeproxy.nftables import render_nft_transaction

    cluster = _load(SCTP_CLUSTER)
    name = f"knvf{os.getpid() % 100000}-sctp"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for node in ("node-1", "node-2"):
            rules = render_iptables_restore(cluster, node)
            assert "-m sctp -p sctp" in rules
            done = subprocess.run(["ip", "netns", "exec", name, "iptables-restore", "--test"], input=rules,
                                  capture_output=True, text=True)
            assert (done.returncode, done.stderr) == (0, "")
            table = render_nft_transaction(cluster, node)
            assert "sctp" in table
            done = subprocess.run(["ip", "netns", "exec", name, "nft", "-c", "-f", "-"], input=table,
                                  capture_output=True, text=True)
            assert (done.returncode, done.stderr) == (0, "")
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
