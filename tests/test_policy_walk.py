"""The policy hop in the walk: the enforcing plugin's per-pod chains, evaluated by netfilter's evaluator like
kube-proxy's rules, name the policy, the direction and the rule that decided; flannel lets through what a policy
would deny, and says so; the matrix agrees with the traces."""

from __future__ import annotations

import pytest
from test_policy import DENY_BACKEND, cluster, policy

from webapp.engine.datapath import veth_name
from webapp.engine.flows import trace_flow
from webapp.engine.netfilter import Hook, PacketContext, Ruleset, traverse
from webapp.engine.policy import with_network_plugin
from webapp.engine.policy_matrix import CellState, policy_matrix
from webapp.engine.trace import Disposition, Packet, PolicyCheck, SocketAddress
from webapp.loaders import load_sample
from webapp.narration import narration_language
from ipaddress import IPv4Address


@pytest.fixture(scope="module")
def shop():
    return load_sample("policy-shop")


def policy_hops(hops):
    return [h for h in hops if h.kind == "policy"]


def test_a_denied_ingress_names_the_selecting_policy_and_the_port_and_peer() -> None:
    trace = trace_flow(cluster(DENY_BACKEND), "pod/frontend/web", "pod/backend/api:81")
    assert (trace.disposition, trace.reason) == (
        Disposition.DROPPED, "selected by backend/default-deny (default deny): no rule allows port 81/TCP from frontend/web")
    egress, ingress = policy_hops(trace.hops)
    assert trace.hops[-1] is ingress
    veth = veth_name("backend/api")
    assert (ingress.node, ingress.netns, ingress.device, ingress.action) == ("node-1", "host/node-1", veth, "drop")
    assert ingress.rule == (f'filter -A cali-tw-{veth} -m mark --mark 0x0/0x20000 -m comment --comment "Drop if no '
                            'policies passed packet" -j DROP')
    assert ingress.explain == (
        f"cali-tw-{veth} on {veth}, the host side of backend/api's veth, checks the pod's ingress: selected by "
        "backend/default-deny (default deny): no rule allows port 81/TCP from frontend/web.")
    assert ingress.policy == PolicyCheck(
        "ingress", "backend/api", False, "default-deny", None, "", "", ("backend/default-deny",),
        "selected by backend/default-deny (default deny): no rule allows port 81/TCP from frontend/web")
    assert egress.policy == PolicyCheck("egress", "frontend/web", True, "not-selected", reason=(
        "no policy selects frontend/web for egress: allowed"))
    assert egress.rule == f"filter -A cali-fw-{veth_name('frontend/web')} -j cali-pro-kns.frontend"
    assert ingress.to_dict()["policy"] == {
        "direction": "ingress", "pod": "backend/api", "allowed": False, "basis": "default-deny", "policy": None,
        "rule": None, "port_rule": None, "selecting": ["backend/default-deny"],
        "reason": "selected by backend/default-deny (default deny): no rule allows port 81/TCP from frontend/web"}


def test_the_matching_peer_of_the_second_from_entry_is_named() -> None:
    two_peers = policy("backend", "api", """\
        podSelector: {matchLabels: {app: api}}
        ingress:
          - from: [{podSelector: {matchLabels: {app: worker}}}, {namespaceSelector: {matchLabels: {team: shop}}}]
            ports: [{port: 9000, protocol: UDP}, {port: http-api}]
        """)
    trace = trace_flow(cluster(two_peers), "pod/frontend/web", "pod/backend/api:8080")
    assert trace.disposition == Disposition.DELIVERED
    ingress = policy_hops(trace.hops)[1]
    assert (ingress.policy.policy, ingress.policy.rule, ingress.policy.port_rule, ingress.action) == (
        "backend/api", "spec.ingress[0].from[1]", "spec.ingress[0].ports[1]", "forward")
    assert ingress.policy.reason == ("allowed by backend/api spec.ingress[0].from[1] spec.ingress[0].ports[1]: port "
                                     "8080/TCP from frontend/web")
    assert ingress.rule == (  # the frontend/web pod's /32 (the namespace selector, expanded), the named port's number
        "filter -A cali-pi-_3jpCtMRAshFGx3mjx4N -s 10.244.0.2/32 -d 10.244.0.4/32 -p tcp -m tcp --dport 8080 "
        '-m comment --comment "np=backend/api rule=spec.ingress[0].from[1] ports=spec.ingress[0].ports[1]" '
        "-j MARK --set-xmark 0x10000/0x10000")


def test_a_denied_egress_on_the_shop_stops_on_the_source_node(shop) -> None:
    trace = trace_flow(shop, "pod/frontend/debug", "pod/backend/api-2:8080")
    assert trace.reason == ("selected by frontend/allow-dns, frontend/default-deny (default deny): no rule allows "
                            "port 8080/TCP to backend/api-2")
    last = trace.hops[-1]
    assert (last.kind, last.action, last.node, last.device, last.policy.direction) == (
        "policy", "drop", "node-1", veth_name("frontend/debug"), "egress")
    assert trace.reply == ()
    with narration_language("zh"):
        chinese = trace_flow(shop, "pod/frontend/debug", "pod/backend/api-2:8080")
    assert chinese.reason == ("被 frontend/allow-dns, frontend/default-deny 选中（默认拒绝）：没有规则允许端口 8080/TCP "
                              "去往 backend/api-2")
    assert chinese.hops[-1].explain == (
        f"{veth_name('frontend/debug')}（frontend/debug 的 veth 在节点一侧）上的 cali-fw-{veth_name('frontend/debug')} "
        "检查这个 Pod 的出站流量：被 frontend/allow-dns, frontend/default-deny 选中（默认拒绝）：没有规则允许端口 "
        "8080/TCP 去往 backend/api-2。")


def test_an_allowed_connection_across_nodes_and_its_reply(shop) -> None:
    trace = trace_flow(shop, "pod/frontend/web-1", "pod/backend/api-2:8080")
    assert trace.disposition == Disposition.DELIVERED
    assert [(h.node, h.policy.direction, h.policy.policy, h.policy.rule, h.policy.port_rule)
            for h in policy_hops(trace.hops)] == [
        ("node-1", "egress", "frontend/web", "spec.egress[0].to[0]", "spec.egress[0].ports[0]"),
        ("node-2", "ingress", "backend/api", "spec.ingress[0].from[0]", "spec.ingress[0].ports[0]")]
    reply = policy_hops(trace.reply)
    api, web = veth_name("backend/api-2"), veth_name("frontend/web-1")
    assert [(h.node, h.device, h.rule, h.policy.direction, h.policy.basis) for h in reply] == [
        ("node-2", api, f"filter -A cali-fw-{api} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "egress",
         "established"),
        ("node-1", web, f"filter -A cali-tw-{web} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "ingress",
         "established")]
    assert reply[0].explain == (f"cali-fw-{api} on {api}: the reply of an established connection; conntrack "
                                "(ESTABLISHED,RELATED) accepts it before any policy.")


def test_policies_see_the_service_backend_after_dnat(shop) -> None:
    trace = trace_flow(shop, "pod/frontend/web-1", "svc/backend/api:8080")
    assert trace.disposition == Disposition.DELIVERED
    ingress = policy_hops(trace.hops)[-1]
    assert ingress.policy.reason.endswith("port 8080/TCP from frontend/web-1")
    denied = trace_flow(shop, "pod/frontend/web-1", "svc/database/db:5432")
    assert denied.reason == ("selected by frontend/allow-dns, frontend/default-deny, frontend/web (default deny): no "
                             "rule allows port 5432/TCP to database/db-0")


def test_the_outside_client_reaches_web_through_the_nodeport(shop) -> None:
    node_port = next(p.node_port for s in shop.services if s.key == "frontend/web" for p in s.ports)
    trace = trace_flow(shop, "203.0.113.10", f"node/node-1:{node_port}")
    assert trace.disposition == Disposition.DELIVERED
    assert [(h.policy.direction, h.policy.policy, h.policy.rule) for h in policy_hops(trace.hops)] == [
        ("ingress", "frontend/web", "spec.ingress[0]")]


def test_flannel_delivers_what_a_policy_would_deny_and_says_so(shop) -> None:
    flannel = with_network_plugin(shop, "flannel")
    trace = trace_flow(flannel, "pod/frontend/debug", "pod/backend/api-2:8080")
    assert trace.disposition == Disposition.DELIVERED
    assert policy_hops(trace.hops) == [] and policy_hops(trace.reply) == []
    assert trace.notes[1:] == (
        "selected by frontend/allow-dns, frontend/default-deny (default deny): no rule allows port 8080/TCP to "
        "backend/api-2; but flannel does not implement NetworkPolicy: would be denied, not enforced",
        "selected by backend/allow-dns, backend/api, backend/default-deny (default deny): no rule allows port "
        "8080/TCP from frontend/debug; but flannel does not implement NetworkPolicy: would be denied, not enforced")
    assert trace_flow(flannel, "pod/frontend/web-1", "pod/backend/api-2:8080").notes[1:] == ()


def test_goto_returns_to_the_caller_of_the_chain_that_jumped() -> None:
    ruleset = Ruleset.parse("\n".join([
        "*filter", ":A - [0:0]", ":B - [0:0]", ":C - [0:0]",
        "-A FORWARD -j A",
        "-A FORWARD -m mark --mark 0x1/0x1 -j DROP",
        "-A A -g B",
        "-A A -j MARK --set-xmark 0x2/0x2",
        "-A B -p tcp -m tcp --dport 80:90 -j MARK --set-xmark 0x1/0x1",
        "-A B -j RETURN",
        "COMMIT", ""]))

    def run(port: int):
        packet = Packet(SocketAddress(IPv4Address("10.0.0.1"), 4000), SocketAddress(IPv4Address("10.0.0.2"), port))
        return traverse(ruleset, Hook.FORWARD, PacketContext(packet, "n", "a", "b"))

    inside, outside, above = run(85), run(79), run(91)
    assert (inside.verdict, inside.mark) == ("drop", 0x1)  # B returned to FORWARD, not to A: no 0x2
    assert [(m.path, m.rule.target) for m in inside.trail] == [
        (("FORWARD",), "A"), (("FORWARD", "A"), "B"), (("FORWARD", "A", "B"), "MARK"), (("FORWARD", "A", "B"), "RETURN"),
        (("FORWARD",), "DROP")]
    assert (outside.verdict, outside.mark, above.mark) == ("accept", 0, 0)


def test_every_cell_of_the_shop_matrix_is_what_its_trace_does(shop) -> None:
    """Cells compared with full traces: denied exactly when a policy hop drops it, and by the same direction and
    reason; allowed cells pass every policy hop with the matrix's rule (item: the matrix agrees with traces)."""
    compared = 0
    for plugin in ("canal", "flannel"):
        c = with_network_plugin(shop, plugin)
        for port in (80, 8080, 5432):
            matrix = policy_matrix(c, port)
            for src in matrix.pods:
                for dst in matrix.pods:
                    if src == dst:
                        continue
                    trace = trace_flow(c, f"pod/{src}", f"pod/{dst}:{port}", "tcp")
                    state, verdict = matrix.state(src, dst), matrix.verdict(c, src, dst)
                    hops = policy_hops(trace.hops)
                    dropped = [h for h in hops if h.action == "drop"]
                    if state == CellState.DENIED:
                        assert (trace.reason, dropped[0].policy.direction) == (
                            verdict.denied_by.reason, verdict.denied_by.direction), (src, dst, port)
                    else:
                        assert dropped == [], (src, dst, port)
                        expected = {(str(v.direction), v.policy, v.rule, v.port_rule)
                                    for v in (verdict.egress, verdict.ingress)}
                        assert {(h.policy.direction, h.policy.policy, h.policy.rule, h.policy.port_rule)
                                for h in hops} <= expected, (src, dst, port)
                        if state == CellState.NOT_ENFORCED:
                            assert matrix.reason(c, src, dst) in trace.notes, (src, dst, port)
                    compared += 1
    assert compared == 2 * 3 * (len(matrix.pods) ** 2 - len(matrix.pods))


def test_a_sample_of_the_benchmark_matrix_is_what_traces_do() -> None:
    """The benchmark's cluster (10 of its namespaces: 200 pods on 10 nodes, 40 policies with named ports,
    matchExpressions and ipBlocks): 30 allowed and 30 denied cells drawn at random, each traced whole."""
    import random

    from benchmarks.bench_policy import build_cluster

    c = build_cluster(namespace_count=10)
    matrix = policy_matrix(c, 8080)
    pick = random.Random(13)
    pairs = [(s, d) for s in matrix.pods for d in matrix.pods if s != d]
    allowed = [p for p in pairs if matrix.state(*p) == CellState.ALLOWED]
    denied = [p for p in pairs if matrix.state(*p) == CellState.DENIED]
    rules = set()
    for src, dst in pick.sample(allowed, 30) + pick.sample(denied, 30):
        trace = trace_flow(c, f"pod/{src}", f"pod/{dst}:8080", "tcp")
        verdict = matrix.verdict(c, src, dst)
        checks = [h.policy for h in policy_hops(trace.hops)]
        if verdict.allowed:
            assert trace.disposition == Disposition.DELIVERED, (src, dst)
            assert [(k.direction, k.policy, k.rule, k.port_rule, k.reason) for k in checks] == [
                (str(v.direction), v.policy, v.rule, v.port_rule, v.reason) for v in (verdict.egress, verdict.ingress)
            ], (src, dst)
            rules.add((verdict.ingress.policy, verdict.ingress.reference))
        else:
            assert (trace.disposition, trace.reason, checks[-1].direction) == (
                Disposition.DROPPED, verdict.denied_by.reason, str(verdict.denied_by.direction)), (src, dst)
    assert len(rules) >= 2  # several allowing policies among the allowed cells


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_every_kube_proxy_mode_polices_the_service_backend(shop, mode) -> None:
    """IPVS forwards from INPUT: Felix skips the pod's to-host policy for the virtual address and polices the
    forwarded packet as if it had been forwarded, so the verdicts are iptables mode's."""
    import dataclasses

    c = dataclasses.replace(shop, settings=dataclasses.replace(shop.settings, kube_proxy_mode=mode))
    allowed = trace_flow(c, "pod/frontend/web-1", "svc/backend/api:8080")
    assert allowed.disposition == Disposition.DELIVERED
    assert [(h.policy.direction, h.policy.policy, h.policy.rule, str(h.packet.dst)) for h in policy_hops(allowed.hops)] == [
        ("egress", "frontend/web", "spec.egress[0].to[0]", "10.244.0.3:8080"),
        ("ingress", "backend/api", "spec.ingress[0].from[0]", "10.244.0.3:8080")]
    denied = trace_flow(c, "pod/frontend/web-1", "svc/database/db:5432")
    assert (denied.disposition, denied.reason) == (Disposition.DROPPED, (
        "selected by frontend/allow-dns, frontend/default-deny, frontend/web (default deny): no rule allows port "
        "5432/TCP to database/db-0"))


def _userspace(shop, overlay: str):
    from webapp.model import KubeProxyMode, Overlay
    from webapp.variants import ViewSettings, apply_view_settings

    return apply_view_settings(shop, ViewSettings(kube_proxy_mode=KubeProxyMode.USERSPACE, overlay=Overlay(overlay)))


@pytest.mark.parametrize("overlay, node_1, node_2", [("flannel-vxlan", "10.244.0.0", "10.244.1.0"),
                                                     ("flannel-host-gw", "192.168.0.11", "192.168.0.12")])
def test_the_userspace_proxy_dials_past_a_backend_whose_policy_drops_the_node(shop, overlay, node_1, node_2) -> None:
    """Userspace mode: kube-proxy's own connection leaves the node (flannel.1's address through VXLAN, the
    InternalIP with host-gw), so a backend's ingress policy sees a node, not the client pod. A pod's own node is
    never policed (Felix leaves host → local workload alone); another node is, like any address. A dial the policy
    drops times out and kube-proxy dials the next backend (TryConnectEndpoints); when none answers it closes the
    client's connection. The lab's kernel found these flows (lab_soak.py, policy-shop userspace)."""
    c = _userspace(shop, overlay)
    api_1_denied = (f"selected by backend/allow-dns, backend/api, backend/default-deny (default deny): no rule allows "
                    f"port 8080/TCP from node/node-2 ({node_2})")
    # node-2's proxy dials api-1 on node-1 first: dropped; then api-2 on its own node: delivered
    for src in ("node/node-2", "pod/kube-system/coredns-868cd75d4-9v5v2"):
        trace = trace_flow(c, src, "svc/backend/api:8080", backend="10.244.0.3")
        assert trace.disposition == Disposition.DELIVERED, src
        drop = next(h for h in trace.hops if h.action == "drop")
        assert (drop.node, drop.kind, str(drop.packet.src.ip), str(drop.packet.dst), drop.policy.reason) == (
            "node-1", "policy", node_2, "10.244.0.3:8080", api_1_denied)
        retry = trace.hops[trace.hops.index(drop) + 1]
        assert (retry.node, retry.device, retry.action, retry.explain) == (
            "node-2", "kube-proxy", "proxy", f"kube-proxy's connection to backend 10.244.0.3:8080 is not answered "
            f"({api_1_denied}): the userspace proxy dials the next backend.")
        assert (trace.hops[-1].netns, str(trace.hops[-1].packet)) == (
            "pod/backend/api-2", f"tcp 10.244.1.1:{trace.hops[-1].packet.src.port} → 10.244.1.3:8080")
        # either backend chosen first, the client ends at api-2
        assert trace_flow(c, src, "svc/backend/api:8080").hops[-1].netns == "pod/backend/api-2", src
    # db-0, the only backend, is on node-2: node-1's proxy is dropped, and closes the client's connection
    db_denied = (f"selected by database/allow-dns, database/db, database/default-deny (default deny): no rule allows "
                 f"port 5432/TCP from node/node-1 ({node_1})")
    for src in ("node/node-1", "pod/kube-system/coredns-868cd75d4-2mcc9"):
        trace = trace_flow(c, src, "svc/database/db:5432")
        assert (trace.disposition, trace.reason) == (Disposition.REJECTED, (
            f"kube-proxy's connection to every backend of service database/db failed (the last: {db_denied}); it "
            "closes the client's connection")), src
        assert [(h.node, h.device, h.action) for h in trace.hops[-3:]] == [
            ("node-2", veth_name("database/db-0"), "drop"), ("node-1", "kube-proxy", "proxy"),
            ("node-1", "kube-proxy", "reject")], src
        assert trace.reply == ()
    # the proxy's connection to a pod of its own node is not policed: node-1 → api-1 is delivered first try
    trace = trace_flow(c, "node/node-1", "svc/backend/api:8080", backend="10.244.0.3")
    assert [h.action for h in trace.hops if h.kind == "proxy"] == ["proxy"]
    assert trace.hops[-1].netns == "pod/backend/api-1"


def test_the_userspace_proxy_does_not_retry_a_udp_datagram(shop) -> None:
    """A UDP "dial" cannot fail: kube-proxy sends the datagram to the backend it chose, and one that goes
    unanswered is lost (the lab's proxy does the same; the soak of policy-shop userspace on ovs-vxlan found the
    lab retrying). On ovs-vxlan Felix drops node-2's datagram to coredns on node-1 (it comes off cni0 from an
    address no workload has), so that choice ends there, with no retry hop."""
    c = _userspace(shop, "ovs-vxlan")
    trace = trace_flow(c, "node/node-2", "svc/kube-system/kube-dns:dns", "udp", backend="10.244.0.5")
    assert (trace.disposition, trace.reason) == (Disposition.DROPPED, "cali-from-wl-dispatch drops it: Unknown interface")
    assert [(h.node, h.action, str(h.packet.dst)) for h in trace.hops if h.kind == "proxy"] == [
        ("node-2", "proxy", "10.244.0.5:53")]
    local = trace_flow(c, "node/node-2", "svc/kube-system/kube-dns:dns", "udp", backend="10.244.1.5")
    assert (local.disposition, local.hops[-1].netns) == (Disposition.DELIVERED, "pod/kube-system/coredns-868cd75d4-9v5v2")
