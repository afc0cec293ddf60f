"""The enforcing plugin's filter rules (webapp.engine.policy_rules): their exact shape, their metadata, and that
a real kernel loads them for every sample."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
import pytest

from tests.test_policy import DENY_BACKEND, EXCEPT, NAMED, ONE_PEER, RANGE, TWO_PEERS, cluster, policy
from webapp.engine.datapath import veth_name
from webapp.engine.policy import Direction, with_network_plugin
from webapp.engine.policy_rules import NodePolicyRules, RuleMeta, policy_chain, render_policy_rules, rule_meta
from webapp.loaders import list_samples, load_sample
from webapp.model import Cluster, NetworkPlugin


def chains(rules: NodePolicyRules) -> dict[str, tuple[str, ...]]:
    return dict(rules.chains)


def shop_policy(cluster: Cluster, key: str):
    return next(p for p in cluster.network_policies if p.key == key)


def test_flannel_programs_no_policy_rules() -> None:
    rules = render_policy_rules(load_sample("flannel-vxlan"), "node-1")
    assert (rules, rules.restore_text()) == (NodePolicyRules(()), "")


def test_an_isolated_pods_ingress_chain_jumps_to_each_selecting_policy_in_order() -> None:
    shop = load_sample("policy-shop")
    rules = render_policy_rules(shop, "node-1")
    veth = veth_name("backend/api-1")
    assert veth == "veth7d0cfced"
    names = [policy_chain(shop_policy(shop, k), Direction.INGRESS)
             for k in ("backend/allow-dns", "backend/api", "backend/default-deny")]
    assert names == ["cali-pi-_ldifRJgSW7ZEKi2UXMR", "cali-pi-_3jpCtMRAshFGx3mjx4N", "cali-pi-_Cv4N5e2jZdPUC3uqoSG"]
    tw = f"cali-tw-{veth}"
    jumps = []
    for name in names:
        jumps += [f"-A {tw} -m mark --mark 0x0/0x20000 -j {name}",
                  f'-A {tw} -m mark --mark 0x10000/0x10000 -m comment --comment "Return if policy accepted" -j RETURN']
    assert chains(rules)[tw] == (
        f"-A {tw} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A {tw} -m conntrack --ctstate INVALID -j DROP",
        f"-A {tw} -j MARK --set-xmark 0x0/0x10000",
        f'-A {tw} -m comment --comment "Start of policies" -j MARK --set-xmark 0x0/0x20000',
        *jumps,
        f'-A {tw} -m mark --mark 0x0/0x20000 -m comment --comment "Drop if no policies passed packet" -j DROP',
        f'-A {tw} -m comment --comment "Drop if no profiles matched" -j DROP',
    )
    assert ("cali-tw-veth7d0cfced", "backend/api-1") in rules.endpoints
    assert chains(rules)["cali-pi-_Cv4N5e2jZdPUC3uqoSG"] == ()  # the default deny has no rule


def test_a_policy_chain_expands_selectors_and_named_ports_and_carries_its_references() -> None:
    shop = load_sample("policy-shop")
    api = shop_policy(shop, "backend/api")
    meta = '-m comment --comment "np=backend/api rule=spec.ingress[0].from[0] ports=spec.ingress[0].ports[0]"'
    # from web-1 (10.244.0.2) and web-2 (10.244.1.2) to the named port http-api of api-1 (10.244.0.3) on node-1
    assert chains(render_policy_rules(shop, "node-1"))[policy_chain(api, Direction.INGRESS)] == (
        f"-A cali-pi-_3jpCtMRAshFGx3mjx4N -s 10.244.0.2/32 -d 10.244.0.3/32 -p tcp -m tcp --dport 8080 {meta} "
        "-j MARK --set-xmark 0x10000/0x10000",
        f"-A cali-pi-_3jpCtMRAshFGx3mjx4N -s 10.244.1.2/32 -d 10.244.0.3/32 -p tcp -m tcp --dport 8080 {meta} "
        "-j MARK --set-xmark 0x10000/0x10000",
        "-A cali-pi-_3jpCtMRAshFGx3mjx4N -m mark --mark 0x10000/0x10000 -j RETURN",
    )
    assert chains(render_policy_rules(shop, "node-1"))[policy_chain(api, Direction.EGRESS)] == (
        "-A cali-po-_3jpCtMRAshFGx3mjx4N -d 10.244.1.4/32 -p tcp -m tcp --dport 5432 -m comment --comment "
        '"np=backend/api rule=spec.egress[0].to[0] ports=spec.egress[0].ports[0]" -j MARK --set-xmark 0x10000/0x10000',
        "-A cali-po-_3jpCtMRAshFGx3mjx4N -m mark --mark 0x10000/0x10000 -j RETURN",
    )


def test_except_uses_the_scratch_mark_and_ranges_and_protocols_render_as_iptables_matches() -> None:
    c = cluster(EXCEPT, RANGE)
    found = chains(render_policy_rules(c, "node-1"))
    outside = policy_chain(shop_policy(c, "backend/outside"), Direction.INGRESS)
    assert found[outside] == (
        f"-A {outside} -j MARK --set-xmark 0x0/0x40000",
        f"-A {outside} -s 203.0.113.128/25 -j MARK --set-xmark 0x40000/0x40000",
        f"-A {outside} -s 203.0.113.0/24 -m mark --mark 0x0/0x40000 -m comment --comment "
        '"np=backend/outside rule=spec.ingress[0].from[0] ports=" -j MARK --set-xmark 0x10000/0x10000',
        f"-A {outside} -m mark --mark 0x10000/0x10000 -j RETURN",
    )
    ranged = policy_chain(shop_policy(c, "backend/range"), Direction.INGRESS)
    assert [r.split(" -m comment")[0] for r in found[ranged][:2]] == [
        f"-A {ranged} -p udp -m udp --dport 9000:9010", f"-A {ranged} -p sctp"]


def test_a_pod_no_policy_selects_goes_to_its_namespace_profile_which_allows_all() -> None:
    shop = load_sample("policy-shop")
    dns = "kube-system/coredns-868cd75d4-2mcc9"
    assert shop.pod_by_key[dns].node == "node-1"
    found = chains(render_policy_rules(shop, "node-1"))
    tw = f"cali-tw-{veth_name(dns)}"
    assert found[tw][3:] == (
        f"-A {tw} -j cali-pri-kns.kube-system",
        f'-A {tw} -m mark --mark 0x10000/0x10000 -m comment --comment "Return if profile accepted" -j RETURN',
        f'-A {tw} -m comment --comment "Drop if no profiles matched" -j DROP',
    )
    assert found["cali-pri-kns.kube-system"] == (
        "-A cali-pri-kns.kube-system -j MARK --set-xmark 0x10000/0x10000",
        "-A cali-pri-kns.kube-system -m mark --mark 0x10000/0x10000 -j RETURN",
    )


def test_forward_and_input_hooks_and_dispatch() -> None:
    rules = render_policy_rules(load_sample("policy-shop"), "node-2")
    assert rules.forward_first == ('-A FORWARD -m comment --comment "cali:policy" -j cali-FORWARD',)
    assert rules.forward_last == ('-A FORWARD -m mark --mark 0x10000/0x10000 -m comment --comment '
                                  '"Policy explicitly accepted packet." -j ACCEPT',)
    assert rules.input_first == ('-A INPUT -m comment --comment "cali:policy" -j cali-INPUT',)
    found = chains(rules)
    assert found["cali-FORWARD"] == (
        '-A cali-FORWARD -m comment --comment "Clear the policy marks" -j MARK --set-xmark 0x0/0x60000',
        "-A cali-FORWARD -i cni0 -j cali-from-wl-dispatch",
        "-A cali-FORWARD -o cni0 -j cali-to-wl-dispatch",
    )
    assert found["cali-to-wl-dispatch"][0] == (  # in pod order
        f"-A cali-to-wl-dispatch -d 10.244.1.3/32 -g cali-tw-{veth_name('backend/api-2')}")
    assert found["cali-to-wl-dispatch"][-1] == '-A cali-to-wl-dispatch -m comment --comment "Unknown interface" -j DROP'
    assert found["cali-wl-to-host"] == (
        "-A cali-wl-to-host -j cali-from-wl-dispatch",
        '-A cali-wl-to-host -m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT',
    )


def test_rule_meta_reads_the_policy_and_references_back() -> None:
    rule = ('-A cali-pi-_x -s 10.244.0.2/32 -m comment --comment "np=backend/api rule=spec.ingress[0].from[1] '
            'ports=spec.ingress[0].ports[0]" -j MARK --set-xmark 0x10000/0x10000')
    assert rule_meta(rule) == RuleMeta("backend/api", Direction.INGRESS, "spec.ingress[0].from[1]",
                                       "spec.ingress[0].ports[0]")
    assert rule_meta('-A c -m comment --comment "np=a/b rule=spec.egress[2] ports=" -j MARK') == RuleMeta(
        "a/b", Direction.EGRESS, "spec.egress[2]", "")
    assert rule_meta("-A cali-tw-x -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT") is None


# --- the kernel ------------------------------------------------------------------------------------------------

KERNEL = os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("iptables-restore") is not None


def kernel_clusters() -> list[tuple[str, Cluster]]:
    found = [(s.name, with_network_plugin(load_sample(s.name), NetworkPlugin.CANAL)) for s in list_samples()]
    egress = policy("frontend", "egress", "podSelector: {matchLabels: {app: admin}}\n"
                    "egress: [{ports: [{port: pg}]}, {to: [{podSelector: {}, namespaceSelector: {}}],"
                    " ports: [{port: pg}]}]\n")
    return [*found, ("every-field", cluster(DENY_BACKEND, ONE_PEER, TWO_PEERS, NAMED, EXCEPT, RANGE, egress))]


@pytest.mark.skipif(not KERNEL, reason="needs root, ip and iptables-restore")
@pytest.mark.parametrize(("name", "c"), kernel_clusters(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_kernel_loads_every_nodes_policy_rules(name: str, c: Cluster) -> None:
    netns = f"np-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        for node in c.nodes:
            text = render_policy_rules(c, node.name).restore_text()
            assert text.startswith("*filter\n:cali-FORWARD - [0:0]\n"), name
            for args in (["iptables-restore", "--test"], ["iptables-restore"]):
                done = subprocess.run(["ip", "netns", "exec", netns, *args], input=text, text=True,
                                      capture_output=True)
                assert done.returncode == 0, (name, node.name, done.stderr)
            saved = subprocess.run(["ip", "netns", "exec", netns, "iptables-save", "-t", "filter"], text=True,
                                   capture_output=True, check=True).stdout
            assert sum(line.startswith("-A ") for line in saved.splitlines()) == sum(
                line.startswith("-A ") for line in text.splitlines()), (name, node.name)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=True)


def test_endpoint_chains_are_named_after_the_host_side_veth() -> None:
    from webapp.engine.policy_rules import endpoint_chain

    api = load_sample("policy-shop").pod_by_key["backend/api-1"]
    assert (endpoint_chain(api, Direction.EGRESS), endpoint_chain(api, Direction.INGRESS)) == (
        "cali-fw-veth7d0cfced", "cali-tw-veth7d0cfced")
