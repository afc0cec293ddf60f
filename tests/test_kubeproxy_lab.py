"""The generated kube-proxy rules in a real kernel: `lab verify` builds the nodes in network namespaces, loads
the rules with iptables-restore, sends real traffic and compares with the engine's traces."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from webapp.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from factories import node_listeners_cluster  # noqa: E402

POLICIES = """\
name: policies
title: kube-proxy policies
description: Local and Cluster traffic policies, affinity, externalIPs, no endpoints.
network: {overlay: flannel-vxlan, bridge: cni0, podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12, kubeProxy: iptables}
nodes:
  - name: node-1
    ip: 192.168.0.11
    pods:
      - {name: web-1, labels: {app: web}, containers: [{name: nginx, ports: [{port: 80, name: http}]}]}
      - {name: client, containers: [{name: shell}]}
  - name: node-2
    ip: 192.168.0.12
    pods:
      - {name: web-2, labels: {app: web}, containers: [{name: nginx, ports: [{port: 80, name: http}]}]}
      - {name: only-2, labels: {app: only2}, containers: [{name: nginx, ports: [{port: 80, name: http}]}]}
services:
  - {name: web-local, type: NodePort, externalTrafficPolicy: Local, selector: {app: web}, ports: [{port: 80, targetPort: http, nodePort: 30081}]}
  - {name: only2-local, type: NodePort, externalTrafficPolicy: Local, selector: {app: only2}, ports: [{port: 80, targetPort: http, nodePort: 30082}]}
  - {name: sticky, selector: {app: web}, sessionAffinity: ClientIP, ports: [{port: 80, targetPort: http}]}
  - {name: empty, selector: {app: nothing}, ports: [{port: 80}]}
  - {name: eip, selector: {app: web}, externalIPs: [192.168.0.100], ports: [{port: 8080, targetPort: http}]}
  - {name: itp, selector: {app: only2}, internalTrafficPolicy: Local, ports: [{port: 80, targetPort: http}]}
external:
  - {name: client, ip: 203.0.113.10}
"""


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables-restore") is None,
                    reason="needs root, ip netns and iptables-restore")
def test_kernel_agrees_with_every_service_trace(tmp_path, capsys):
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES)
    code = main(["lab", "verify", str(path), "--lab", "44", "--type", "pod-to-service", "--type", "nodeport",
                 "--type", "externalips"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "65 flows: 65 agree, 0 disagree, 0 not verifiable here" in out
    # what the kernel did, line by line: Local keeps the client address, Local without an endpoint drops,
    # no endpoints rejects, internalTrafficPolicy Local drops off-node, affinity sticks to one backend
    assert "203.0.113.10 → node/node-2:30082" in out and "saw 203.0.113.10" in out
    assert "rejected (connection refused)" in out and "dropped (timeout)" in out


LOAD_BALANCERS = """\
name: lb-lab
nodes:
  - name: node-1
    pods:
      - {name: web-1, labels: {app: web}, containers: [{name: web, ports: [80]}]}
  - name: node-2
    pods:
      - {name: web-2, labels: {app: web}, containers: [{name: web, ports: [80]}]}
      - {name: api-2, labels: {app: api}, containers: [{name: api, ports: [8080]}]}
services:
  - {name: web, type: LoadBalancer, selector: {app: web}, ports: [80], loadBalancerIP: [203.0.113.100]}
  - {name: api, type: LoadBalancer, selector: {app: api}, ports: [{port: 80, targetPort: 8080}],
     loadBalancerIP: [203.0.113.101], externalTrafficPolicy: Local}
  - {name: ranged, type: LoadBalancer, selector: {app: web}, ports: [{port: 81, targetPort: 80}],
     loadBalancerIP: [203.0.113.102], loadBalancerSourceRanges: [198.51.100.0/24]}
external:
  - {name: client, ip: 203.0.113.10}
"""


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables-restore") is None,
                    reason="needs root, ip netns and iptables-restore")
@pytest.mark.parametrize("mode", ["passthrough", "proxy"])
def test_kernel_agrees_with_both_load_balancer_models(tmp_path, capsys, mode):
    """Issue 17 item 5: a passthrough load balancer (the lab's external namespace routes the LB IP and port to the
    chosen node, unchanged) and a proxying one (DNAT to the nodePort): Cluster and Local policies, and source
    ranges — enforced by the node's KUBE-FW chain in passthrough, by the load balancer in proxy mode."""
    path = tmp_path / "lb.yaml"
    path.write_text(LOAD_BALANCERS + f"loadBalancer: {{mode: {mode}}}\n")
    code = main(["lab", "verify", str(path), "--lab", "46", "--type", "loadbalancer"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 flows: 3 agree, 0 disagree, 0 not verifiable here" in out
    assert "203.0.113.10 → 203.0.113.101:80  tcp    delivered at 10.244.1.3:8080 saw 203.0.113.10" in out


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nfacct") is None,
                    reason="needs root, ip netns and Debian's nfacct")
def test_kernel_agrees_on_nodes_that_count_with_nfacct(tmp_path, capsys):
    """Issue 17 item 7: v1.31 nodes write `-m nfacct` rules; the lab creates the counters first, as kube-proxy
    does, and the kernel's decisions are the engine's."""
    path = tmp_path / "lb.yaml"
    path.write_text(LOAD_BALANCERS.replace("  - name: node-1\n", "  - name: node-1\n    version: v1.31.2\n")
                    .replace("  - name: node-2\n", "  - name: node-2\n    version: v1.31.2\n"))
    code = main(["lab", "verify", str(path), "--lab", "46", "--type", "loadbalancer", "--type", "nodeport"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "9 flows: 9 agree, 0 disagree, 0 not verifiable here" in out


SECOND_NODE_IP = """\
name: second-ip
network: {overlay: flannel-vxlan, kubeProxy: nftables, nodePortAddresses: [192.168.0.0/24, 192.168.1.0/24]}
nodes:
  - name: node-1
    ip: 192.168.0.11
    addresses: [192.168.1.11]
    pods:
      - {name: web-1, labels: {app: web}, containers: [{name: web, ports: [80]}]}
  - name: node-2
    ip: 192.168.0.12
    pods:
      - {name: web-2, labels: {app: web}, containers: [{name: web, ports: [80]}]}
services:
  - {name: web, type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 30081}]}
external:
  - {name: client, ip: 203.0.113.10}
"""


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
                    reason="needs root, ip netns and nft")
def test_kernel_agrees_on_a_node_port_at_a_nodes_second_address(tmp_path, capsys):
    """Issue 17: a node's further address (`addresses`) is on its NIC in the lab and routed to it by the outside
    router; nodePortAddresses that select it (nftables TestNodePorts "external to nodePort on secondary IP") make
    kube-proxy's nodeport-ips hold it, and the kernel DNATs and masquerades as the engine says."""
    path = tmp_path / "second-ip.yaml"
    path.write_text(SECOND_NODE_IP)
    code = main(["lab", "verify", str(path), "--lab", "47", "--from", "203.0.113.10", "--to", "192.168.1.11:30081"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert ("1  nodeport   203.0.113.10 → 192.168.1.11:30081  tcp    delivered at 10.244.0.2:80|10.244.1.2:80 saw "
            "10.244.0.1") in out
    assert "1 flows: 1 agree, 0 disagree, 0 not verifiable here" in out


def _verify_flows(cluster, lab: str, flows) -> list[tuple[str, str, str, str]]:
    """Build the lab, verify `flows`, take it down: (to, proto, status, what the kernel did) per flow."""
    from webapp.lab import build
    from webapp.lab.runner import prepare, up, verify

    prepared = prepare(cluster, lab, flows)
    try:
        up(prepared)
        report = verify(prepared, flows)
    finally:
        build.lab_down(lab)
    return [(r.spec.dst, r.spec.proto, r.status, r.observed) for r in report.results]


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None
                    or shutil.which("iptables-restore") is None, reason="needs root, ip netns, nft and iptables")
@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_a_node_refuses_what_no_process_listens_on_as_the_engine_says(mode):
    """Issue 17, traces and the kernel: a nodePort on the address nodePortAddresses leaves out is refused (TCP RST),
    kube-proxy's health-check server (healthCheckNodePort 30000, the range's first) answers on the selected
    address only, kubelet and kube-proxy's healthz answer on every node, and a port nothing listens on is refused
    (UDP: ICMP port unreachable)."""
    from webapp.lab.verify import FlowSpec

    cluster = node_listeners_cluster(mode)
    flows = [FlowSpec("nodeport", "203.0.113.10", "192.168.1.11:30081"),
             FlowSpec("nodeport", "203.0.113.10", "192.168.0.11:30081"),
             FlowSpec("host-network", "203.0.113.10", "192.168.0.11:30000"),
             FlowSpec("host-network", "203.0.113.10", "192.168.1.11:30000"),
             FlowSpec("host-network", "203.0.113.10", "192.168.1.11:10256"),
             FlowSpec("pod-to-node", "pod/default/web-1", "node/node-2:10250"),
             FlowSpec("host-network", "203.0.113.10", "192.168.0.12:30099", "udp")]
    rows = _verify_flows(cluster, "48", flows)
    assert [(dst, proto, status) for dst, proto, status, _ in rows] == [
        (f.dst, f.proto, "ok") for f in flows], rows
    assert [observed.split(" saw ")[0] for _, _, _, observed in rows] == [
        "rejected (connection refused)", "delivered at 10.244.0.2:80", "delivered at 192.168.0.11:30000",
        "rejected (connection refused)", "delivered at 192.168.1.11:10256", "delivered at 192.168.0.12:10250",
        "rejected (connection refused)"]


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables-restore") is None,
                    reason="needs root, ip netns and iptables-restore")
def test_the_seed_articles_node_refuses_a_port_that_is_no_node_port():
    """203.0.113.10 → node-1:30099 (no Service has that nodePort): the kernel refuses TCP and UDP alike."""
    from webapp.lab.verify import FlowSpec
    from webapp.loaders import load_sample

    flows = [FlowSpec("host-network", "203.0.113.10", "192.168.0.11:30099", proto) for proto in ("tcp", "udp")]
    assert _verify_flows(load_sample("seed-article"), "49", flows) == [
        ("192.168.0.11:30099", "tcp", "ok", "rejected (connection refused)"),
        ("192.168.0.11:30099", "udp", "ok", "rejected (connection refused)")]
