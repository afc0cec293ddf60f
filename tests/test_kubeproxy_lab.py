"""The generated kube-proxy rules in a real kernel: `lab verify` builds the nodes in network namespaces, loads
the rules with iptables-restore, sends real traffic and compares with the engine's traces."""

from __future__ import annotations

import os
import shutil

import pytest

from webapp.cli import main

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
