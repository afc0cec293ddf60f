"""kube-proxy iptables mode: chain names, and the rules of one node compared chain by chain with text written
from kube-proxy's own rule shapes (pkg/proxy/iptables/proxier.go, proxier_test.go goldens)."""

from __future__ import annotations

import shutil
from dataclasses import replace
import subprocess
import uuid
from ipaddress import IPv4Address, IPv4Network

import pytest

from factories import service_cluster
from webapp.engine.kubeproxy.chains import port_proto_hash, probability
from webapp.engine.kubeproxy.iptables import base_chains_restore, render_iptables_restore
from webapp.engine.netfilter import Hook, PacketContext, Ruleset, traverse
from webapp.engine.rulesets import node_ruleset
from webapp.engine.trace import Packet, SocketAddress
from webapp.model import KubeProxyMode, ServiceType, SessionAffinity, TrafficPolicy

SVC = "KUBE-SVC-CDGGSHYLG3RE2FKL"   # default/web:http tcp
SVL = "KUBE-SVL-CDGGSHYLG3RE2FKL"
EXT = "KUBE-EXT-CDGGSHYLG3RE2FKL"
FW = "KUBE-FW-CDGGSHYLG3RE2FKL"
SEP_A = "KUBE-SEP-UF6OOORCMXPJJDSV"  # 10.244.0.3:80 (web-a, node-1)
SEP_B = "KUBE-SEP-PBQ62IOVWGYEN623"  # 10.244.1.2:80 (web-b, node-2)
SEP_C = "KUBE-SEP-BHMTFEMIGCOTLSJP"  # 10.244.1.3:80 (web-c, node-2)

# externalTrafficPolicy Local: pods and the node itself bypass the policy (proxier.go, "short-circuit" rules)
LOCAL_SHORT_CIRCUIT = [
    f'-A {EXT} -m comment --comment "pod traffic for default/web:http external destinations" '
    f"-s 10.244.0.0/16 -j {SVC}",
    f'-A {EXT} -m comment --comment "masquerade LOCAL traffic for default/web:http external destinations" '
    "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
    f'-A {EXT} -m comment --comment "route LOCAL traffic for default/web:http external destinations" '
    f"-m addrtype --src-type LOCAL -j {SVC}",
]


def chain(text: str, table: str, name: str) -> list[str]:
    """The `-A name …` lines of one table, in order."""
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith(f"-A {name} "):
            out.append(line)
    return out


def declared(text: str, table: str) -> list[str]:
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith(":"):
            out.append(line.split()[0][1:])
    return out


def test_known_hash_vectors():
    assert "KUBE-SVC-" + port_proto_hash("default/kubernetes:https", "tcp") == "KUBE-SVC-NPX46M4PTMTKRN6Y"
    assert "KUBE-SVC-" + port_proto_hash("kube-system/kube-dns:dns", "udp") == "KUBE-SVC-TCOU7JCQXEZGVUNU"
    # proxier_test.go: ns1/svc1:p80 endpoint 10.180.0.1:80 → KUBE-SEP-SXIVWICOYRO3J4NJ; ns5/svc5:p80 → NUKIZ6OKUXPJNT4C
    assert port_proto_hash("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "SXIVWICOYRO3J4NJ"
    assert port_proto_hash("ns5/svc5:p80", "tcp") == "NUKIZ6OKUXPJNT4C"
    # an unnamed port has no trailing ':' (real-node dump, default/nodeport-service → QATUYZLPU4I4HE4S)
    assert port_proto_hash("default/nodeport-service", "tcp") == "QATUYZLPU4I4HE4S"


def test_probability_format():
    assert [probability(n) for n in (2, 3, 4)] == ["0.5000000000", "0.3333333333", "0.2500000000"]


def test_clusterip_one_endpoint():
    text = render_iptables_restore(service_cluster(endpoints=1), "node-1")
    assert chain(text, "nat", SVC) == [
        f'-A {SVC} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 '
        f"! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.3:80" -j {SEP_A}',
    ]
    assert chain(text, "nat", SEP_A) == [
        f"-A {SEP_A} -m comment --comment default/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ",
        f"-A {SEP_A} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:80",
    ]
    assert chain(text, "nat", "KUBE-SERVICES") == [
        f'-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 '
        f"--dport 80 -j {SVC}",
        '-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 '
        "--dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU",
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in '
        'this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ]
    # the ExternalName service gets no rules at all
    assert "default/ext" not in text


def test_clusterip_two_endpoints():
    text = render_iptables_restore(service_cluster(endpoints=2), "node-1")
    assert chain(text, "nat", SVC)[1:] == [
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.3:80" -m statistic --mode random '
        f"--probability 0.5000000000 -j {SEP_A}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.1.2:80" -j {SEP_B}',
    ]


def test_clusterip_three_endpoints():
    text = render_iptables_restore(service_cluster(endpoints=3), "node-2")
    assert chain(text, "nat", SVC)[1:] == [
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.3:80" -m statistic --mode random '
        f"--probability 0.3333333333 -j {SEP_A}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.1.2:80" -m statistic --mode random '
        f"--probability 0.5000000000 -j {SEP_B}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.1.3:80" -j {SEP_C}',
    ]
    assert declared(text, "nat") == ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", SVC,
                                     SEP_A, SEP_B, SEP_C, "KUBE-SVC-TCOU7JCQXEZGVUNU", "KUBE-SEP-222YD7DQOUNKFRLL"]


def test_fixed_chains():
    text = render_iptables_restore(service_cluster(), "node-1")
    assert chain(text, "nat", "KUBE-POSTROUTING") == [
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        # --random-fully: kube-proxy appends it when iptables supports it (every node today; see
        # /work/shared/reference/real-node-iptables-save.md)
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
        "--random-fully",
    ]
    assert chain(text, "nat", "KUBE-MARK-MASQ") == ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    assert chain(text, "filter", "KUBE-FORWARD") == [
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate '
        "RELATED,ESTABLISHED -j ACCEPT",
    ]
    assert declared(text, "filter") == ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
                                        "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]


def test_jump_rules_in_builtin_chains():
    base = base_chains_restore()
    assert chain(base, "nat", "PREROUTING") == [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']
    assert chain(base, "nat", "POSTROUTING") == [
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING']
    assert chain(base, "filter", "INPUT") == [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
    ]


def test_nodeport_cluster_policy():
    text = render_iptables_restore(service_cluster(type=ServiceType.NODE_PORT, node_port=30080), "node-1")
    assert chain(text, "nat", "KUBE-NODEPORTS") == [
        f"-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j {EXT}"]
    assert chain(text, "nat", EXT) == [
        f'-A {EXT} -m comment --comment "masquerade traffic for default/web:http external destinations" '
        "-j KUBE-MARK-MASQ",
        f"-A {EXT} -j {SVC}",
    ]


def lb(**extra):
    return service_cluster(endpoints=3, type=ServiceType.LOAD_BALANCER, node_port=30080,
                           load_balancer_ips=(IPv4Address("198.51.100.10"),), **extra)


def test_loadbalancer_cluster_policy():
    text = render_iptables_restore(lb(), "node-1")
    assert chain(text, "nat", "KUBE-SERVICES")[1] == (
        f'-A KUBE-SERVICES -m comment --comment "default/web:http loadbalancer IP" -m tcp -p tcp -d 198.51.100.10 '
        f"--dport 80 -j {EXT}")
    assert chain(text, "nat", EXT)[0].endswith("-j KUBE-MARK-MASQ")
    assert SVL not in text


def test_loadbalancer_local_policy_node_with_endpoint():
    text = render_iptables_restore(lb(external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000),
                                   "node-2")
    assert chain(text, "nat", EXT) == [*LOCAL_SHORT_CIRCUIT, f"-A {EXT} -j {SVL}"]
    assert chain(text, "nat", SVL) == [
        f'-A {SVL} -m comment --comment "default/web:http -> 10.244.1.2:80" -m statistic --mode random '
        f"--probability 0.5000000000 -j {SEP_B}",
        f'-A {SVL} -m comment --comment "default/web:http -> 10.244.1.3:80" -j {SEP_C}',
    ]
    assert chain(text, "filter", "KUBE-NODEPORTS") == [
        '-A KUBE-NODEPORTS -m comment --comment "default/web:http health check node port" -m tcp -p tcp '
        "--dport 32000 -j ACCEPT"]
    assert chain(text, "filter", "KUBE-EXTERNAL-SERVICES") == []


def without_web_a(cluster):
    return replace(cluster, endpoints=tuple(ep for ep in cluster.endpoints if ep.pod != "default/web-a"))


def test_loadbalancer_local_policy_node_without_endpoint():
    text = render_iptables_restore(without_web_a(lb(external_traffic_policy=TrafficPolicy.LOCAL)), "node-1")
    # no KUBE-SVL chain on node-1, the EXT chain keeps only the short-circuit rules, external traffic is dropped
    assert SVL not in text
    assert chain(text, "nat", EXT) == LOCAL_SHORT_CIRCUIT
    assert chain(text, "filter", "KUBE-EXTERNAL-SERVICES") == [
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/web:http has no local endpoints" -m tcp -p tcp '
        "-d 198.51.100.10 --dport 80 -j DROP",
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/web:http has no local endpoints" -m addrtype '
        "--dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP",
    ]


def test_load_balancer_source_ranges():
    text = render_iptables_restore(lb(load_balancer_source_ranges=(IPv4Network("203.0.113.0/24"),)), "node-1")
    assert chain(text, "nat", "KUBE-SERVICES")[1].endswith(f"-d 198.51.100.10 --dport 80 -j {FW}")
    assert chain(text, "nat", FW) == [
        f'-A {FW} -m comment --comment "default/web:http loadbalancer IP" -s 203.0.113.0/24 -j {EXT}',
        f'-A {FW} -m comment --comment "other traffic to default/web:http will be dropped by KUBE-PROXY-FIREWALL"',
    ]
    assert chain(text, "filter", "KUBE-PROXY-FIREWALL") == [
        f'-A KUBE-PROXY-FIREWALL -m comment --comment "default/web:http traffic not accepted by {FW}" -m tcp -p tcp '
        "-d 198.51.100.10 --dport 80 -j DROP"]


def test_source_ranges_that_hold_the_node_admit_the_lb_ip_as_source():
    """proxier.go: when a range contains the node IP, a request from the node to a VIP routed locally loops back
    with the VIP as source; `-s <LB IP> -j KUBE-EXT-…` lets it through."""
    ranges = (IPv4Network("203.0.113.0/24"), IPv4Network("192.168.0.0/24"))
    text = render_iptables_restore(lb(load_balancer_source_ranges=ranges), "node-1")
    head = f'-A {FW} -m comment --comment "default/web:http loadbalancer IP"'
    assert chain(text, "nat", FW) == [
        f"{head} -s 203.0.113.0/24 -j {EXT}", f"{head} -s 192.168.0.0/24 -j {EXT}",
        f"{head} -s 198.51.100.10 -j {EXT}",
        f'-A {FW} -m comment --comment "other traffic to default/web:http will be dropped by KUBE-PROXY-FIREWALL"',
    ]


def test_both_traffic_policies_local_keep_the_cluster_chain_the_short_circuit_needs():
    """UsesClusterEndpoints is `!InternalPolicyLocal() || ExternallyAccessible()`: under internal and external
    policy Local, KUBE-EXT's pod short-circuit still jumps to KUBE-SVC, so KUBE-SVC and every KUBE-SEP exist —
    the real iptables-restore refuses a jump to a chain that is not there."""
    cluster = lb(external_traffic_policy=TrafficPolicy.LOCAL, internal_traffic_policy=TrafficPolicy.LOCAL)
    text = render_iptables_restore(cluster, "node-1")
    assert chain(text, "nat", EXT)[0] == LOCAL_SHORT_CIRCUIT[0]
    assert {SVC, SVL, SEP_A, SEP_B, SEP_C} <= set(declared(text, "nat"))
    assert [line.rsplit(" ", 1)[1] for line in chain(text, "nat", SVC)] == [SEP_A, SEP_B, SEP_C]
    assert chain(text, "nat", SVL) == [  # the internal chain: off-cluster sources masqueraded, then node-1's endpoint
        f'-A {SVL} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 '
        "! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        f'-A {SVL} -m comment --comment "default/web:http -> 10.244.0.3:80" -j {SEP_A}']
    saved = kernel_round_trip(text, base_chains_restore())
    assert f"-A {EXT} -s 10.244.0.0/16 -m comment" in saved


def test_external_ips():
    text = render_iptables_restore(service_cluster(external_ips=(IPv4Address("192.168.0.100"),)), "node-1")
    assert chain(text, "nat", "KUBE-SERVICES")[1] == (
        '-A KUBE-SERVICES -m comment --comment "default/web:http external IP" -m tcp -p tcp -d 192.168.0.100 '
        f"--dport 80 -j {EXT}")
    assert chain(text, "nat", EXT)[0].endswith('external destinations" -j KUBE-MARK-MASQ')


def test_no_endpoints_rejects_in_filter():
    text = render_iptables_restore(service_cluster(endpoints=0, type=ServiceType.NODE_PORT, node_port=30080),
                                   "node-1")
    assert chain(text, "filter", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" -m tcp -p tcp -d 10.96.0.20 '
        "--dport 80 -j REJECT"]
    assert chain(text, "filter", "KUBE-EXTERNAL-SERVICES") == [
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/web:http has no endpoints" -m addrtype '
        "--dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT"]
    assert SVC not in text and EXT not in text
    assert chain(text, "nat", "KUBE-NODEPORTS") == []


def test_session_affinity_client_ip():
    text = render_iptables_restore(service_cluster(session_affinity=SessionAffinity.CLIENT_IP), "node-1")
    assert chain(text, "nat", SVC)[1:] == [
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.3:80" -m recent --name {SEP_A} --rcheck '
        f"--seconds 10800 --reap -j {SEP_A}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.1.2:80" -m recent --name {SEP_B} --rcheck '
        f"--seconds 10800 --reap -j {SEP_B}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.3:80" -m statistic --mode random '
        f"--probability 0.5000000000 -j {SEP_A}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.1.2:80" -j {SEP_B}',
    ]
    assert chain(text, "nat", SEP_A)[1] == (
        f"-A {SEP_A} -m comment --comment default/web:http -m recent --name {SEP_A} --set -m tcp -p tcp -j DNAT "
        "--to-destination 10.244.0.3:80")


def test_internal_traffic_policy_local():
    text = render_iptables_restore(service_cluster(internal_traffic_policy=TrafficPolicy.LOCAL), "node-1")
    assert chain(text, "nat", "KUBE-SERVICES")[0].endswith(f"-d 10.96.0.20 --dport 80 -j {SVL}")
    assert chain(text, "nat", SVL) == [
        f'-A {SVL} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 '
        f"! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        f'-A {SVL} -m comment --comment "default/web:http -> 10.244.0.3:80" -j {SEP_A}',
    ]
    assert SVC not in text and SEP_B not in text
    # a node without a local endpoint drops cluster-IP traffic
    text = render_iptables_restore(without_web_a(service_cluster(internal_traffic_policy=TrafficPolicy.LOCAL)),
                                   "node-1")
    assert chain(text, "filter", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -m comment --comment "default/web:http has no local endpoints" -m tcp -p tcp '
        "-d 10.96.0.20 --dport 80 -j DROP"]


def kernel_round_trip(*texts: str) -> str:
    """Load restore texts into a throwaway network namespace with the real iptables-restore; return
    `iptables-save` of it (skips the test where namespaces or iptables are unavailable)."""
    if shutil.which("iptables-restore") is None or shutil.which("ip") is None:
        pytest.skip("needs iptables-restore and ip netns")
    netns = f"kpt-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", netns], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.decode().strip()}")
    try:
        for text in texts:
            restore = subprocess.run(["ip", "netns", "exec", netns, "iptables-restore", "--noflush"],
                                     input=text.encode(), capture_output=True)
            assert restore.returncode == 0, restore.stderr.decode()
        return subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], capture_output=True,
                              check=True).stdout.decode()
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_real_iptables_restore_accepts_the_rules():
    """The kernel's iptables-restore loads what we generate; iptables-save prints its canonical form."""
    text = render_iptables_restore(lb(external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000,
                                      session_affinity=SessionAffinity.CLIENT_IP,
                                      load_balancer_source_ranges=(IPv4Network("203.0.113.0/24"),)), "node-2")
    saved = kernel_round_trip(text)
    # iptables-save's canonical form of our KUBE-SVL ladder (11 decimals)
    assert (f'-A {SVL} -m comment --comment "default/web:http -> 10.244.1.2:80" -m statistic --mode random '
            f"--probability 0.50000000000 -j {SEP_B}") in saved
    assert (f'-A {SEP_B} -p tcp -m comment --comment "default/web:http" -m recent --set --name {SEP_B} '
            "--mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.2:80") in saved


def test_kernel_canonical_form_gives_the_same_decisions():
    """Trace packets through the generated text and through what the real kernel saved from it: same result."""
    cluster = lb(external_ips=(IPv4Address("192.168.0.100"),))
    saved = kernel_round_trip(render_iptables_restore(cluster, "node-1"), base_chains_restore())
    generated = node_ruleset(cluster, "node-1")
    kernel = Ruleset.parse(saved)
    kernel.local_addresses = generated.local_addresses
    kernel.interface_addresses, kernel.primary_address = generated.interface_addresses, generated.primary_address
    cases = [
        (Hook.PREROUTING, "10.244.0.2:40000", "10.96.0.20:80", "cni0", None, "10.244.1.3"),
        (Hook.PREROUTING, "10.244.0.3:40000", "10.96.0.20:80", "cni0", None, "10.244.0.3"),
        (Hook.PREROUTING, "203.0.113.7:50000", "192.168.0.11:30080", "eth0", None, "10.244.1.2"),
        (Hook.PREROUTING, "203.0.113.7:50000", "198.51.100.10:80", "eth0", None, None),
        (Hook.PREROUTING, "203.0.113.7:50000", "192.168.0.100:80", "eth0", None, None),
        (Hook.OUTPUT, "192.168.0.11:40000", "10.96.0.20:80", None, "eth0", None),
        (Hook.POSTROUTING, "10.244.0.3:40000", "10.244.0.3:80", "cni0", "cni0", None),
    ]
    for hook, src, dst, in_dev, out_dev, backend in cases:
        packet = Packet(SocketAddress.parse(src), SocketAddress.parse(dst))
        mark = 0x4000 if hook == Hook.POSTROUTING else 0
        ctx = PacketContext(packet, "node-1", in_dev, out_dev, mark, IPv4Address(backend) if backend else None)
        ours, theirs = traverse(generated, hook, ctx), traverse(kernel, hook, ctx)
        assert (theirs.packet, theirs.verdict, theirs.mark) == (ours.packet, ours.verdict, ours.mark), (src, dst)
        assert [h.action for h in theirs.hops] == [h.action for h in ours.hops]
        assert [[(a.dst, a.chosen) for a in h.alternatives] for h in theirs.hops] == \
            [[(a.dst, a.chosen) for a in h.alternatives] for h in ours.hops]


def test_real_iptables_restore_accepts_the_userspace_portals():
    from webapp.engine.kubeproxy import userspace
    from webapp.model import KubeProxyMode

    cluster = service_cluster(mode=KubeProxyMode.USERSPACE, type=ServiceType.NODE_PORT, node_port=30080)
    saved = kernel_round_trip(userspace.render_iptables_restore(cluster, "node-1"))
    port = next(p.proxy_port for p in userspace.portals(cluster, "node-1") if p.info.name == "default/web:http")
    assert (f'-A KUBE-PORTALS-CONTAINER -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http" -m tcp '
            f"--dport 80 -j REDIRECT --to-ports {port}") in saved


def test_endpoints_are_ordered_as_strings_like_kube_proxy():
    """endpointslicecache.go byEndpoint: `e[i].String() < e[j].String()`, so 10.244.0.10:80 precedes 10.244.0.9:80
    and takes the first KUBE-SVC rule with probability 0.5."""
    from webapp.model import Endpoint

    base = service_cluster(endpoints=1)
    two = tuple(Endpoint("default/web", "http", IPv4Address(ip), 80, node="node-1")
                for ip in ("10.244.0.9", "10.244.0.10"))
    text = render_iptables_restore(replace(base, endpoints=two), "node-1")
    sep = {ip: f"KUBE-SEP-{port_proto_hash('default/web:http', 'tcp', f'{ip}:80')}"
           for ip in ("10.244.0.9", "10.244.0.10")}
    assert chain(text, "nat", SVC)[1:] == [
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.10:80" -m statistic --mode random '
        f"--probability 0.5000000000 -j {sep['10.244.0.10']}",
        f'-A {SVC} -m comment --comment "default/web:http -> 10.244.0.9:80" -j {sep["10.244.0.9"]}']


def test_serving_terminating_endpoints_are_used_only_when_none_is_ready():
    """proxy.CategorizeEndpoints (ProxyTerminatingEndpoints, GA v1.28): no ready endpoint → the ones that still
    serve while terminating; the same per node for the local endpoints of externalTrafficPolicy Local."""
    cluster = lb(external_traffic_policy=TrafficPolicy.LOCAL)
    a, b, c = cluster.endpoints[:3]   # web-a (node-1), web-b, web-c (node-2)
    leaving = dict(ready=False, serving=True, terminating=True)
    # all three terminating: KUBE-SVC keeps them all
    text = render_iptables_restore(replace(cluster, endpoints=(replace(a, **leaving), replace(b, **leaving),
                                                               replace(c, **leaving), *cluster.endpoints[3:])),
                                   "node-1")
    assert [line.rsplit(" ", 1)[1] for line in chain(text, "nat", SVC)[1:]] == [SEP_A, SEP_B, SEP_C]
    # web-a terminating, web-b and web-c ready: the cluster chain takes only the ready ones, while node-1's local
    # chain falls back to web-a, its only (terminating) endpoint
    mixed = replace(cluster, endpoints=(replace(a, **leaving), b, c, *cluster.endpoints[3:]))
    text = render_iptables_restore(mixed, "node-1")
    assert [line.rsplit(" ", 1)[1] for line in chain(text, "nat", SVC)[1:]] == [SEP_B, SEP_C]
    assert [line.rsplit(" ", 1)[1] for line in chain(text, "nat", SVL)] == [SEP_A]
    # terminating and no longer serving: never used
    gone = replace(cluster, endpoints=(replace(a, ready=False, serving=False, terminating=True), b, c,
                                       *cluster.endpoints[3:]))
    assert chain(render_iptables_restore(gone, "node-1"), "nat", SVL) == []


def test_large_cluster_mode_leaves_endpoint_comments_out():
    """Above 1,000 endpoints kube-proxy drops the per-endpoint comments (largeClusterEndpointsThreshold)."""
    from webapp.model import Endpoint

    base = service_cluster(endpoints=1)
    many = tuple(Endpoint("default/web", "http", IPv4Address("10.244.0.3") + i, 80, node="node-1")
                 for i in range(1001))
    text = render_iptables_restore(replace(base, endpoints=many), "node-1")
    sep = f"KUBE-SEP-{port_proto_hash('default/web:http', 'tcp', '10.244.0.3:80')}"
    assert chain(text, "nat", sep) == [
        f"-A {sep} -s 10.244.0.3 -j KUBE-MARK-MASQ",
        f"-A {sep} -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:80",
    ]
    # kube-proxy orders endpoints by the string IP:port: of 10.244.0.3 … 10.244.3.235, 10.244.0.100:80 is first
    first = f"KUBE-SEP-{port_proto_hash('default/web:http', 'tcp', '10.244.0.100:80')}"
    assert chain(text, "nat", SVC)[1] == (f"-A {SVC} -m statistic --mode random --probability 0.0009990010 "
                                          f"-j {first}")
    # the service-level rules keep theirs
    assert chain(text, "nat", "KUBE-SERVICES")[0].startswith(
        '-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" ')


HOSTILE = 'we b"\n-A KUBE-SERVICES -j ACCEPT\\\''
"""A service name that would end a rule (newline), close its comment (quote) and split a token (space)."""


def hostile_cluster(**service):
    cluster = service_cluster(type=ServiceType.NODE_PORT, node_port=30080, **service)
    web = replace(cluster.services[0], name=HOSTILE)
    endpoints = tuple(replace(ep, service=web.key) if ep.service == "default/web" else ep for ep in cluster.endpoints)
    return replace(cluster, services=(web, *cluster.services[1:]), endpoints=endpoints)


def test_a_hostile_service_name_cannot_break_a_rule_or_a_token():
    from webapp.engine.kubeproxy.rules_command import render_node_rules

    cluster = hostile_cluster()
    name = f"default/{HOSTILE}:http"
    hashed = port_proto_hash(name, "tcp")
    sep_a = f"KUBE-SEP-{port_proto_hash(name, 'tcp', '10.244.0.3:80')}"
    quoted = 'default/we b\\" -A KUBE-SERVICES -j ACCEPT\\\\\\\':http'  # iptables-save's escapes, newline → space
    text = render_iptables_restore(cluster, "node-1")
    assert chain(text, "nat", "KUBE-NODEPORTS") == [
        f'-A KUBE-NODEPORTS -m comment --comment "{quoted}" -m tcp -p tcp --dport 30080 -j KUBE-EXT-{hashed}']
    assert chain(text, "nat", sep_a) == [
        f'-A {sep_a} -m comment --comment "{quoted}" -s 10.244.0.3 -j KUBE-MARK-MASQ',
        f'-A {sep_a} -m comment --comment "{quoted}" -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:80']
    assert not any(line.startswith("-A KUBE-SERVICES -j ACCEPT") for line in text.splitlines())
    plain = service_cluster(type=ServiceType.NODE_PORT, node_port=30080)
    for mode in KubeProxyMode:
        assert len(render_node_rules(cluster, "node-1", mode).splitlines()) == len(
            render_node_rules(plain, "node-1", mode).splitlines()), mode
    # Read back, every comment is the name with the newline made a space; the rules still decide as before.
    ruleset = node_ruleset(cluster, "node-1")
    spaced = name.replace("\n", " ")
    assert {rule.comment for rule in ruleset.chain("nat", f"KUBE-SVC-{hashed}").rules} == {
        f"{spaced} cluster IP", f"{spaced} -> 10.244.0.3:80", f"{spaced} -> 10.244.1.2:80"}
    assert all(not rule.unknown for chains in ruleset.tables.values() for c in chains.values() for rule in c.rules)
    ctx = PacketContext(Packet(SocketAddress.parse("10.244.0.2:40000"), SocketAddress.parse("10.96.0.20:80")),
                        "node-1", "cni0", None)
    assert traverse(ruleset, Hook.PREROUTING, ctx).packet.dst == SocketAddress.parse("10.244.0.3:80")


def test_a_hostile_service_name_in_the_userspace_portals():
    from webapp.engine.kubeproxy import userspace

    text = userspace.render_iptables_restore(hostile_cluster(), "node-1")
    portal = [line for line in text.splitlines() if line.startswith("-A KUBE-PORTALS-CONTAINER -m")]
    assert [line.split(" -p ")[0] for line in portal] == [
        '-A KUBE-PORTALS-CONTAINER -m comment --comment "default/we b\\" -A KUBE-SERVICES -j ACCEPT\\\\\\\':http"',
        '-A KUBE-PORTALS-CONTAINER -m comment --comment "kube-system/kube-dns:dns"']
    assert Ruleset.parse(text).chain("nat", "KUBE-PORTALS-CONTAINER").rules[0].comment == (
        f"default/{HOSTILE}:http".replace("\n", " "))
