"""The lab for real: every sample built in network namespaces and verified against the kernel, faults caught,
clean-up after a crash, the host left alone. Needs root and `ip netns`; skipped (with the reason) elsewhere."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.expect import Crossing, expectation
from webapp.lab.faults import inject
from webapp.lab.plan import LabNames
from webapp.lab.runner import prepare, up, verify
from webapp.lab.underlay import ANY_ENCAPSULATED, UnderlayCounters
from webapp.lab.verify import DISAGREE, NOT_VERIFIABLE, OK, FlowSpec, trace_for
from webapp.loaders import load_sample
from webapp.model import (
    Endpoint, KubeProxyMode, Overlay, Protocol, Service, ServicePort, ServiceType, SessionAffinity, TrafficPolicy,
    labels_of,
)

sys.path.insert(0, str(Path(__file__).parent))
from factories import make_container, make_pod, service_cluster  # noqa: E402

SKIP = nx.lab_support()
pytestmark = [pytest.mark.lab, pytest.mark.skipif(SKIP is not None, reason=f"lab: {SKIP}")]
TIMEOUT = 1.0
"""Seconds before a probe counts as dropped; where many flows are expected to time out (faults, a pod marked
down) FAULT_TIMEOUT keeps the test short."""
FAULT_TIMEOUT = 0.5
_ids = itertools.count()
REPO = Path(__file__).resolve().parent.parent


def _base35(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxy"
    out = ""
    while True:
        number, rest = divmod(number, 35)
        out = digits[rest] + out
        if not number:
            return out


def _new_id() -> str:
    """A lab id no other test of this process, nor another test process, uses: the pid and a counter in base
    35, joined by `z` (not a base-35 digit)."""
    return f"t{_base35(os.getpid())}z{_base35(next(_ids))}"


@pytest.fixture
def lab_id():
    """A fresh lab id; the lab is always taken down."""
    lab = _new_id()
    try:
        yield lab
    finally:
        build.lab_down(lab)
        assert not [n for n in nx.existing_netns() if n.startswith(f"knv{lab}-")]


def _running(cluster, lab):
    prepared = prepare(cluster, lab)
    up(prepared)
    return prepared


def _rows(report, status):
    return {(r.spec.src, r.spec.dst) for r in report.results if r.status == status}


@pytest.mark.parametrize("sample", ["seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook"])
def test_every_sample_agrees_with_the_kernel(sample, lab_id):
    prepared = _running(load_sample(sample), lab_id)
    report = verify(prepared, timeout=TIMEOUT)
    problems = [f"{r.spec}: {r.problems}" for r in report.disagreements]
    assert problems == []
    assert report.count(NOT_VERIFIABLE) == 0
    assert report.count(OK) == len(prepared.flows) > 50


@pytest.mark.parametrize("sample", ["seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook", "policy-shop"])
def test_every_sample_in_nftables_mode_agrees_with_the_kernel(sample, lab_id):
    """kube-proxy's table loaded with `nft -f` in each node namespace, flannel's rules with iptables: every flow
    of the sample (its service flows among them) goes where the engine's trace says."""
    base = load_sample(sample)
    prepared = _running(replace(base, settings=replace(base.settings, kube_proxy_mode=KubeProxyMode.NFTABLES)),
                        lab_id)
    tables = nx.run(["nft", "list", "tables"], netns=prepared.plan.namespaces[0].name).stdout
    assert "table ip kube-proxy" in tables
    report = verify(prepared, timeout=TIMEOUT)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    assert report.count(NOT_VERIFIABLE) == 0
    assert report.count(OK) == len(prepared.flows) > 50


@pytest.mark.parametrize(("sample", "overlay"), [("seed-article", Overlay.FLANNEL_VXLAN),
                                                 ("seed-article", Overlay.FLANNEL_HOST_GW),
                                                 ("flannel-vxlan", Overlay.OVS_VXLAN)])
def test_a_sample_on_another_overlay_agrees_with_the_kernel(sample, overlay, lab_id):
    base = load_sample(sample)
    prepared = _running(replace(base, settings=replace(base.settings, overlay=overlay)), lab_id)
    report = verify(prepared, timeout=TIMEOUT)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    assert report.count(OK) == len(prepared.flows)


def test_seed_article_runs_the_ovs_overlay_on_udp_4789_and_names_the_emulation(lab_id):
    prepared = _running(load_sample("seed-article"), lab_id)
    assert "emulated by one Linux VXLAN device obr0" in prepared.plan.notes[0]
    shown = nx.run(["ip", "-d", "-n", LabNames(lab_id).node("node-1"), "link", "show", "obr0"]).stdout
    assert "vxlan id 1" in shown and "dstport 4789" in shown and "master docker0" in shown
    cross = [f for f in prepared.flows if f.type == "pod-to-pod-cross-node"]
    report = verify(prepared, cross, timeout=TIMEOUT)
    assert report.count(OK) == len(cross) > 5


def test_flannel_devices_are_built_as_the_engine_says(lab_id):
    _running(load_sample("flannel-vxlan"), lab_id)
    node = LabNames(lab_id).node("node-1")
    link = nx.run(["ip", "-d", "-n", node, "link", "show", "flannel.1"]).stdout
    assert re.search(r"vxlan id 1 local 192\.168\.0\.11 dev eth0 .*dstport 8472 nolearning", link)
    routes = nx.run(["ip", "-n", node, "route", "show", "dev", "flannel.1"]).stdout.splitlines()
    assert routes == ["10.244.1.0/24 via 10.244.1.0 onlink ", "10.244.2.0/24 via 10.244.2.0 onlink "]
    fdb = nx.run(["bridge", "-n", node, "fdb", "show", "dev", "flannel.1"]).stdout
    assert "56:87:c0:a3:69:2a dst 192.168.0.12 self permanent" in fdb
    neigh = nx.run(["ip", "-n", node, "neigh", "show", "dev", "flannel.1"]).stdout
    assert "10.244.1.0 lladdr 56:87:c0:a3:69:2a PERMANENT" in neigh


SERVICE_VARIANTS = {
    "no-endpoints": dict(endpoints=0),
    "session-affinity": dict(endpoints=3, session_affinity=SessionAffinity.CLIENT_IP),
    "nodeport-local": dict(endpoints=2, type=ServiceType.NODE_PORT, node_port=30080,
                           external_traffic_policy=TrafficPolicy.LOCAL),
    "loadbalancer-local": dict(endpoints=1, type=ServiceType.LOAD_BALANCER, node_port=30081,
                               external_traffic_policy=TrafficPolicy.LOCAL,
                               load_balancer_ips=(IPv4Address("198.51.100.50"),)),
    "external-ips": dict(endpoints=3, external_ips=(IPv4Address("192.168.0.200"),)),
}


@pytest.mark.parametrize("variant", sorted(SERVICE_VARIANTS))
def test_service_edge_cases_agree_with_the_kernel(variant, lab_id):
    cluster = service_cluster(**SERVICE_VARIANTS[variant])
    prepared = _running(cluster, lab_id)
    report = verify(prepared, timeout=TIMEOUT)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    # The factory's `clash` pod declares 8080 in two containers: reported, never passed.
    unverifiable = {r.spec.dst for r in report.results if r.status == NOT_VERIFIABLE}
    assert unverifiable == {"localhost:8080", "pod/default/clash:8080"}
    rows = {(r.spec.src, r.spec.dst): r for r in report.results}
    web = rows[("pod/default/client", "svc/default/web:http")]
    if variant == "no-endpoints":
        assert (web.predicted, web.observed) == ("rejected", "rejected (connection refused)")
    elif variant == "session-affinity":
        assert web.observed.endswith("in 4 tries") and web.observed.count("|") == 0
    else:
        assert web.observed.startswith("delivered at 10.244.")


def test_userspace_mode_runs_through_the_labs_own_proxy(lab_id):
    cluster = service_cluster(mode=KubeProxyMode.USERSPACE, endpoints=2)
    prepared = _running(cluster, lab_id)
    assert "round-robin proxy" in prepared.plan.notes[0]
    flows = [f for f in prepared.flows if f.type in ("pod-to-service", "node-to-service")]
    report = verify(prepared, flows, timeout=TIMEOUT)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    assert report.count(OK) == len(flows) == 18   # 14 pod-to-service (3 of them a backend's hairpin), 4 node
    rows = {(r.spec.src, r.spec.dst): r for r in report.results}
    # kube-proxy opens a new connection: the backend sees the node (cni0's address on node-1, flannel.1's for
    # the backend on node-2), and round-robin reaches both backends in two tries.
    assert rows[("pod/default/client", "svc/default/web:http")].observed == (
        "delivered at 10.244.0.3:80|10.244.1.2:80 saw 10.244.0.0|10.244.0.1 in 2 tries")
    assert rows[("pod/default/client", "svc/kube-system/kube-dns:dns")].observed == (
        "delivered at 10.244.1.4:53 saw 10.244.0.0")


def test_the_labs_userspace_proxy_keeps_a_client_on_its_backend_with_client_ip_affinity(lab_id):
    cluster = service_cluster(mode=KubeProxyMode.USERSPACE, endpoints=3, session_affinity=SessionAffinity.CLIENT_IP)
    prepared = _running(cluster, lab_id)
    proxy = next(l for l in prepared.plan.listeners if l.owner == "kube-proxy/node-1")
    assert [seconds for _, seconds in proxy.proxy_affinity] == [10800]
    flows = [f for f in prepared.flows if f.dst == "svc/default/web:http"]
    report = verify(prepared, flows, timeout=TIMEOUT)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    # verify sends each flow 4 times and fails it when a client reaches more than one backend
    assert {r.observed.count("|") for r in report.results} == {0}
    assert {r.observed.endswith("in 4 tries") for r in report.results} == {True}


@pytest.mark.parametrize("mode", [KubeProxyMode.IPTABLES, KubeProxyMode.USERSPACE])
def test_a_backend_marked_down_times_out_or_is_retried_as_the_engine_says(mode, lab_id):
    """The seed's point: iptables mode cannot retry a dead backend, the userspace proxy can."""
    cluster = replace(service_cluster(mode=mode, endpoints=3), down_pods=frozenset({"default/web-b"}))
    prepared = _running(cluster, lab_id)
    flows = [f for f in prepared.flows if f.dst in ("svc/default/web:http", "pod/default/web-b:80")]
    report = verify(prepared, flows, timeout=FAULT_TIMEOUT)
    assert [f"{r.spec}: {r.problems}" for r in report.disagreements] == []
    rows = {(r.spec.src, r.spec.dst): r for r in report.results}
    assert rows[("pod/default/client", "pod/default/web-b:80")].observed == "dropped (timeout)"
    service = rows[("pod/default/client", "svc/default/web:http")].observed
    assert service.startswith("delivered at 10.244.0.3:80|10.244.1.3:80 saw ")
    if mode == KubeProxyMode.IPTABLES:
        assert "; dropped (timeout) ×" in service      # kube-proxy DNATed to web-b: the connection times out
    else:
        assert "dropped" not in service                 # the proxy retried the next backend


def test_ipvs_service_flows_are_reported_not_verifiable(lab_id):
    cluster = service_cluster(mode=KubeProxyMode.IPVS, endpoints=2)
    prepared = _running(cluster, lab_id)
    report = verify(prepared, timeout=TIMEOUT)
    assert report.disagreements == []
    ipvs = {(r.spec.type, r.problems) for r in report.results if r.status == NOT_VERIFIABLE
            and r.spec.dst not in ("localhost:8080", "pod/default/clash:8080")}
    assert ipvs == {("pod-to-service", ("IPVS is not built into this kernel",)),
                    ("node-to-service", ("IPVS is not built into this kernel",))}
    assert report.count(NOT_VERIFIABLE) == 18 + 10   # 18 service flows, 10 to the clash pod
    assert rows_ok(report, "pod-to-pod-cross-node") > 0
    externalname = [r for r in report.results if r.spec.type == "externalname"]
    assert [r.caveats[1] for r in externalname] == [
        "the DNS query to 10.96.0.10:53 is not sent: IPVS is not built into this kernel"] * 7   # every pod


def rows_ok(report, flow_type: str) -> int:
    return sum(1 for r in report.results if r.spec.type == flow_type and r.status == OK)


def test_a_host_network_pod_answers_from_its_nodes_namespace(lab_id):
    base = service_cluster(endpoints=2)
    exporter = make_pod("monitoring", "node-exporter-a", "node-1", "192.168.0.11", make_container("exporter", 9100),
                        labels={"app": "exporter"}, host_network=True)
    service = Service("monitoring", "exporter", ServiceType.CLUSTER_IP, IPv4Address("10.96.0.30"),
                      ports=(ServicePort(9100, 9100, Protocol.TCP, "metrics"),),
                      selector=labels_of({"app": "exporter"}))
    endpoint = Endpoint("monitoring/exporter", "metrics", IPv4Address("192.168.0.11"), 9100, node="node-1",
                        pod="monitoring/node-exporter-a")
    cluster = replace(base, pods=(*base.pods, exporter), services=(*base.services, service),
                      endpoints=(*base.endpoints, endpoint))
    prepared = _running(cluster, lab_id)
    listener = next(l for l in prepared.plan.listeners if l.owner == "monitoring/node-exporter-a")
    assert (listener.netns, listener.tcp) == (LabNames(lab_id).node("node-1"), ((9100, "exporter"),))
    flows = [f for f in prepared.flows if f.dst == "svc/monitoring/exporter:metrics"]
    report = verify(prepared, flows, timeout=TIMEOUT)
    assert [r.status for r in report.results] == [OK] * len(flows) and len(flows) >= 2
    assert all(r.observed.startswith("delivered at 192.168.0.11:9100 saw ") for r in report.results)


def _crossing_pairs(cluster, lab, spec):
    """(outer src, outer dst) of every encapsulated crossing of a flow, over all its alternatives."""
    names = LabNames(lab)
    exp = expectation(trace_for(cluster, spec), names)
    variants = [exp] + [expectation(trace_for(cluster, spec, alt.ip), names) for alt in exp.alternatives]
    return {(str(c.src), str(c.dst)) for v in variants for c in v.crossings if c.port is not None}


FAULT_FLOW_TYPES = {"pod-to-pod-cross-node", "node-to-pod", "pod-to-service", "node-to-service", "nodeport"}


@pytest.mark.parametrize("kind", ["wrong-route", "missing-fdb"])
def test_a_broken_overlay_link_is_caught(kind, lab_id):
    cluster = load_sample("flannel-vxlan")
    prepared = _running(cluster, lab_id)
    fault = inject(kind, cluster, lab_id)
    assert fault.node == "node-1"
    flows = [f for f in prepared.flows if f.type in FAULT_FLOW_TYPES]
    report = verify(prepared, flows, timeout=FAULT_TIMEOUT)
    # node-1 can no longer send to node-2's pods: exactly the flows whose request or reply the engine
    # encapsulates from node-1 (192.168.0.11) to node-2 (192.168.0.12) must disagree.
    broken = {(f.src, f.dst) for f in flows
              if ("192.168.0.11", "192.168.0.12") in _crossing_pairs(cluster, lab_id, f)}
    assert len(broken) >= 10
    assert _rows(report, DISAGREE) == broken
    rows = {(r.spec.src, r.spec.dst): r for r in report.results}
    row = rows[("pod/default/backend-1", "pod/default/backend-2:8080")]
    assert row.problems[0].startswith("engine says delivered, kernel: ")
    assert rows[("pod/default/backend-2", "pod/default/backend-3:8080")].status == OK


def test_a_missing_kube_sep_rule_is_caught(lab_id):
    cluster = load_sample("flannel-vxlan")
    prepared = _running(cluster, lab_id)
    fault = inject("missing-sep", cluster, lab_id)
    chain = re.search(r"KUBE-SEP-[A-Z0-9]+", fault.what).group(0)
    flows = [f for f in prepared.flows if f.type in FAULT_FLOW_TYPES]
    report = verify(prepared, flows, timeout=FAULT_TIMEOUT)

    def uses_chain(spec) -> bool:
        trace = trace_for(cluster, spec)
        alternatives = [a.dst.ip for hop in trace.hops for a in hop.alternatives]
        traces = [trace] + [trace_for(cluster, spec, ip) for ip in alternatives]
        return any(chain in hop.rule and hop.node == "node-1" for t in traces for hop in t.hops)

    broken = {(f.src, f.dst) for f in flows if uses_chain(f)}
    assert broken
    assert _rows(report, DISAGREE) == broken


def test_down_cleans_up_after_a_crash_halfway_through_up(lab_id, monkeypatch):
    prepared = prepare(load_sample("flannel-host-gw"), lab_id)
    node = prepared.plan.namespaces[0]
    broken = replace(node, iptables=("*nat\n-A NO-SUCH-CHAIN -j ACCEPT\nCOMMIT\n",))
    plan = replace(prepared.plan, namespaces=(broken, *prepared.plan.namespaces[1:]))
    with pytest.raises(nx.LabError, match="iptables-nft-restore --noflush` in netns knv"):
        build.lab_up(plan)
    made = [n for n in nx.existing_netns() if n.startswith(f"knv{lab_id}-")]
    assert len(made) == len(plan.namespaces)
    assert build.read_state(lab_id)["complete"] is False
    removed = build.lab_down(lab_id)
    assert sorted(removed) == sorted(made)
    assert build.read_state(lab_id) is None
    assert not [n for n in nx.existing_netns() if n.startswith(f"knv{lab_id}-")]


def _host_view() -> dict[str, str]:
    """The host namespace's links, addresses, routes, rules and iptables (both backends)."""
    view = {}
    for name, argv in {"link": ["ip", "-o", "link"], "addr": ["ip", "-o", "addr"], "route": ["ip", "route"],
                       "rule": ["ip", "rule"], "nft": ["iptables-nft-save"], "legacy": ["iptables-legacy-save"]}.items():
        text = subprocess.run(argv, capture_output=True, text=True).stdout
        view[name] = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return view


def test_a_lab_never_touches_the_host(lab_id):
    before = _host_view()
    prepared = _running(load_sample("flannel-vxlan"), lab_id)
    verify(prepared, [f for f in prepared.flows if f.type == "nodeport"], timeout=TIMEOUT)
    during = _host_view()
    build.lab_down(lab_id)
    assert during == before
    assert _host_view() == before


def test_two_labs_run_side_by_side(lab_id):
    other = _new_id()
    try:
        one = _running(load_sample("flannel-host-gw"), lab_id)
        two = _running(load_sample("flannel-host-gw"), other)
        flows = [f for f in one.flows if f.type == "pod-to-pod-cross-node"]
        assert verify(one, flows, timeout=TIMEOUT).count(OK) == len(flows)
        build.lab_down(lab_id)
        assert verify(two, flows, timeout=TIMEOUT).count(OK) == len(flows)
    finally:
        build.lab_down(other)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webapp", "lab", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_cli_up_fault_verify_down(lab_id):
    done = _cli("up", "flannel-host-gw", "--lab", lab_id)
    assert done.returncode == 0, done.stderr
    assert f"lab {lab_id} is up: 10 network namespaces" in done.stdout
    assert f"ip netns exec knv{lab_id}-node-node-1 tcpdump -ni cni0" in done.stdout
    again = _cli("up", "flannel-host-gw", "--lab", lab_id)
    assert again.returncode == 1 and f"lab {lab_id} is already up" in again.stderr
    good = _cli("verify", "flannel-host-gw", "--lab", lab_id, "--type", "pod-to-pod-cross-node")
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^\d+ flows: (\d+) agree, 0 disagree, 0 not verifiable here", good.stdout, re.M)
    broken = _cli("fault", "wrong-route", "flannel-host-gw", "--lab", lab_id)
    assert broken.stdout == "wrong-route on node node-1: ip route replace 10.244.1.0/24 via 192.168.0.1 dev eth0\n"
    bad = _cli("verify", "flannel-host-gw", "--lab", lab_id, "--type", "pod-to-pod-cross-node", "--timeout", "0.5")
    assert bad.returncode == 1
    assert "DISAGREE" in bad.stdout and "- engine says delivered, kernel: " in bad.stdout
    other = _cli("verify", "flannel-vxlan", "--lab", lab_id)
    assert other.returncode == 1 and "runs another cluster" in other.stderr
    down = _cli("down", "--lab", lab_id)
    assert down.returncode == 0 and down.stdout == f"lab {lab_id}: removed 10 network namespaces\n"


def _verify_one(prepared, src: str, dst: str):
    flow = next(f for f in prepared.flows if (f.src, f.dst) == (src, dst))
    return verify(prepared, [flow], timeout=TIMEOUT).results[0]


def test_an_unencapsulated_detour_is_caught_on_the_underlay(lab_id):
    """node-1 reaches node-2's pods by a plain route instead of flannel.1: the packet still arrives, from the
    same source — only the underlay counters see that it never was encapsulated."""
    cluster = load_sample("flannel-vxlan")
    prepared = _running(cluster, lab_id)
    src, dst = "pod/default/backend-1", "pod/default/backend-2:8080"
    assert _verify_one(prepared, src, dst).status == OK
    nx.run(["ip", "-n", LabNames(lab_id).node("node-1"), "route", "replace", "10.244.1.0/24", "via",
            "192.168.0.12", "dev", "eth0"])
    row = _verify_one(prepared, src, dst)
    assert row.status == DISAGREE
    assert row.observed.startswith("delivered at 10.244.1.3:8080 saw 10.244.0.3")
    assert row.problems == ("no packet 192.168.0.11→192.168.0.12 udp/8472 [10.244.0.3→10.244.1.3] crossed the "
                            "underlay",)


def test_a_source_address_the_engine_does_not_predict_is_caught(lab_id):
    cluster = load_sample("flannel-vxlan")
    prepared = _running(cluster, lab_id)
    nx.run(["iptables-nft", "-t", "nat", "-I", "POSTROUTING", "-d", "10.244.1.3/32", "-j", "MASQUERADE"],
           netns=LabNames(lab_id).node("node-1"))
    row = _verify_one(prepared, "pod/default/backend-1", "pod/default/backend-2:8080")
    assert row.status == DISAGREE
    assert row.problems == ("backend saw source 10.244.0.0, engine says 10.244.0.3",)


def test_a_backend_outside_the_alternatives_is_caught(lab_id):
    cluster = load_sample("flannel-vxlan")
    prepared = _running(cluster, lab_id)
    node = LabNames(lab_id).node("node-1")
    saved = nx.run(["iptables-nft-save", "-t", "nat"], netns=node).stdout.splitlines()
    dnat = [line for line in saved if '--comment "default/redis"' in line and " -j DNAT " in line]
    assert len(dnat) == 2
    # Every redis endpoint DNAT now points at CoreDNS's TCP port 53, which is no redis backend.
    for line in dnat:
        chain = line.split()[1]
        nx.run(["iptables-nft", "-t", "nat", "-F", chain], netns=node)
        nx.run(["iptables-nft", "-t", "nat", "-A", chain, "-p", "tcp", "-j", "DNAT", "--to-destination",
                "10.244.1.5:53"], netns=node)
    row = _verify_one(prepared, "pod/default/backend-1", "svc/default/redis:6379")
    assert row.status == DISAGREE
    assert row.problems == ("backend 10.244.1.5:53 (kube-system/coredns-868cd75d4-2mcc9) is not one of the engine's "
                            "alternatives 10.244.0.5:6379, 10.244.2.4:6379",)


def test_externalname_checks_the_dns_query_to_kube_dns(lab_id):
    cluster = load_sample("seed-article")
    prepared = _running(cluster, lab_id)
    flows = [f for f in prepared.flows if f.type == "externalname"]
    # From all 7 pods: the two CoreDNS pods' own queries may come back to them (hairpin)
    assert [r.status for r in verify(prepared, flows, timeout=TIMEOUT).results] == [OK] * len(flows) == [OK] * 7
    names = LabNames(lab_id)
    for pod in cluster.pods:
        if pod.key.startswith("kube-system/coredns-"):   # kube-dns stops answering
            nx.run(["iptables-nft", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP"],
                   netns=names.pod(pod.key))
    rows = verify(prepared, flows, timeout=FAULT_TIMEOUT).results
    assert [r.problems[0] for r in rows] == ["DNS query to 10.96.0.10:53: engine says delivered, kernel: dropped"] * 7


def test_multicast_flooded_over_the_tunnel_is_not_a_flows_crossing(lab_id):
    """A bridge that comes up sends IGMP reports, and the seed article's OVS VXLAN port floods multicast to the
    other node. Such packets are not a flow's: the unpredicted-crossing counter takes inner unicast only."""
    _running(load_sample("seed-article"), lab_id)
    names = LabNames(lab_id)
    variant = build.read_state(lab_id)["iptables"]
    pod = names.pod("default/web-1")
    counters = UnderlayCounters(names.underlay, variant, (4789,))
    source = IPv4Address("10.244.1.2")
    flooded = Crossing(IPv4Address("192.168.0.11"), IPv4Address("192.168.0.12"), "udp", 4789, source,
                       IPv4Address("224.0.0.251"))
    unicast = Crossing(IPv4Address("192.168.0.11"), IPv4Address("192.168.0.12"), "udp", 4789, source,
                       IPv4Address("10.244.2.2"))
    counters.arm((flooded, unicast), (source,))
    send = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1); s.sendto(b'x', ('224.0.0.251', 5353))")
    nx.run([sys.executable, "-c", send], netns=pod)
    # The first packet to the other node may wait for node-1's ARP answer for 192.168.0.12: read until it shows.
    flooded_only = _counts_once(counters, lambda counts: counts["c0"] > 0)
    assert (flooded_only["c0"], flooded_only["c1"], flooded_only.get(ANY_ENCAPSULATED, 0)) == (1, 0, 0)
    nx.run([sys.executable, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
            ".sendto(b'x', ('10.244.2.2', 9))"], netns=pod)
    both = _counts_once(counters, lambda counts: counts.get(ANY_ENCAPSULATED, 0) >= 2)
    # The datagram to web-2 and web-2's ICMP port unreachable back, both unicast.
    assert (both["c0"], both["c1"], both[ANY_ENCAPSULATED]) == (1, 1, 2)


def _counts_once(counters: UnderlayCounters, arrived, deadline: float = 3.0) -> dict[str, int]:
    """The underlay counters once `arrived(counts)` holds (or at the deadline), then 0.2 s later: a packet still
    on its way would change them."""
    stop = time.monotonic() + deadline
    counts = counters.read()
    while not arrived(counts) and time.monotonic() < stop:
        time.sleep(0.05)
        counts = counters.read()
    time.sleep(0.2)
    return counters.read()


def test_a_pod_reaches_itself_through_its_own_service_over_the_hairpin_port(lab_id):
    """Hairpin: CoreDNS asks kube-dns (its own Service) and may be sent back to itself, out of and into the same
    bridge port. kube-proxy's KUBE-SEP `-s <podIP> -j KUBE-MARK-MASQ` makes the pod see the bridge's address;
    the CNI turns hairpin mode on for every pod port. Without it the bridge drops the packet."""
    cluster = load_sample("seed-article")
    client = "pod/kube-system/coredns-868cd75d4-2mcc9"
    flows = [FlowSpec("pod-to-service", client, "svc/kube-system/kube-dns:dns", "udp"),
             FlowSpec("pod-to-service", client, "svc/kube-system/kube-dns:dns-tcp", "tcp"),
             FlowSpec("externalname", client, "svc/default/search:443", "tcp")]
    prepared = prepare(cluster, lab_id, flows)
    up(prepared)
    names = LabNames(lab_id)
    node_ns = next(ns for ns in prepared.plan.namespaces if ns.name == names.node("node-1"))
    port = next(d for d in node_ns.devices if d.peer_netns == names.pod(client[4:]))
    assert (port.master, port.hairpin) == ("docker0", True)
    shown = nx.run(["bridge", "-d", "-n", node_ns.name, "link", "show", "dev", port.name]).stdout
    assert "hairpin on" in shown
    rows = verify(prepared, timeout=TIMEOUT).results
    assert [(r.status, r.problems) for r in rows] == [(OK, ())] * 3
    assert [r.predicted for r in rows] == ["delivered at 10.244.1.4:53|10.244.1.5:53 saw 10.244.1.1"] * 2 + [
        "delivered at 198.51.100.20:443 saw 192.168.0.11"]
    assert [r.observed.partition(" saw ")[0] for r in rows[:2]] == ["delivered at 10.244.1.4:53|10.244.1.5:53"] * 2
    nx.run(["bridge", "-n", node_ns.name, "link", "set", "dev", port.name, "hairpin", "off"])
    rows = verify(prepared, flows[:2], timeout=FAULT_TIMEOUT).results
    assert [r.problems for r in rows] == [("engine says delivered, kernel: dropped (timeout)",)] * 2
