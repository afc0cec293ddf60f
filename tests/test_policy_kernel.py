"""The kernel agrees with the semantics: node-1 of the policy-shop sample built in real network namespaces (its
pods on a cni0 bridge with br_netfilter, a second host standing for node-2), Felix's chains from
webapp.engine.policy_rules loaded, and TCP connects between every pair compared with webapp.engine.policy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from webapp.engine.datapath import veth_name
from webapp.engine.policy import evaluate
from webapp.engine.policy_rules import render_policy_rules
from webapp.loaders import load_sample

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables-restore") is None
    or not os.path.exists("/proc/sys/net/bridge"), reason="needs root, ip, iptables-restore and br_netfilter")

PORTS = (80, 8080)
LISTEN = ("import socket, sys, threading\n"
          "def serve(port):\n"
          "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "    s.bind(('0.0.0.0', port)); s.listen(64)\n"
          "    while True: s.accept()[0].close()\n"
          "for p in sys.argv[1:]: threading.Thread(target=serve, args=(int(p),), daemon=True).start()\n"
          "threading.Event().wait()\n")
CONNECT = ("import socket, sys\n"
           "try: socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0).close(); print('open')\n"
           "except OSError: print('closed')\n")


def sh(*argv: str, netns: str | None = None, stdin: str | None = None) -> str:
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    done = subprocess.run(full, input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, (full, done.stderr)
    return done.stdout


def test_tcp_connects_on_node_1_match_evaluate() -> None:
    shop = load_sample("policy-shop")
    node = shop.node_by_name["node-1"]
    pods = [p for p in shop.pods_by_node["node-1"] if not p.host_network]
    tag = uuid.uuid4().hex[:6]
    host, peer = f"npk-{tag}-n1", f"npk-{tag}-n2"
    names = {p.key: f"npk-{tag}-p{i}" for i, p in enumerate(pods)}
    created: list[str] = []
    listeners: list[subprocess.Popen[str]] = []
    try:
        for netns in (host, peer, *names.values()):
            sh("ip", "netns", "add", netns)
            created.append(netns)
        sh("ip", "link", "add", "cni0", "type", "bridge", netns=host)
        sh("ip", "addr", "add", f"{node.bridge_ip}/{node.pod_cidr.prefixlen}", "dev", "cni0", netns=host)
        sh("ip", "link", "set", "cni0", "up", netns=host)
        sh("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer, netns=host)
        sh("ip", "addr", "add", f"{node.internal_ip}/24", "dev", "eth0", netns=host)
        sh("ip", "link", "set", "eth0", "up", netns=host)
        sh("ip", "addr", "add", "192.168.0.12/24", "dev", "eth0", netns=peer)
        sh("ip", "link", "set", "eth0", "up", netns=peer)
        sh("ip", "route", "add", str(node.pod_cidr), "via", str(node.internal_ip), netns=peer)
        for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"):
            sh("sysctl", "-qw", f"{key}=1", netns=host)
        for pod in pods:
            veth, netns = veth_name(pod.key), names[pod.key]
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns, netns=host)
            sh("ip", "link", "set", veth, "master", "cni0", "up", netns=host)
            sh("ip", "addr", "add", f"{pod.pod_ip}/{node.pod_cidr.prefixlen}", "dev", "eth0", netns=netns)
            sh("ip", "link", "set", "eth0", "up", netns=netns)
            sh("ip", "link", "set", "lo", "up", netns=netns)
            sh("ip", "route", "add", "default", "via", str(node.bridge_ip), netns=netns)
            listeners.append(subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", LISTEN,
                                               *map(str, PORTS)], text=True))
        sh("iptables-restore", netns=host, stdin=render_policy_rules(shop, "node-1").restore_text())
        time.sleep(0.5)  # the listeners bind

        probes = [(src, str(dst.pod_ip), dst, port) for port in PORTS for dst in pods
                  for src in [*pods, "192.168.0.12", str(node.internal_ip)] if src is not dst]

        def probe(item):
            src, address, dst, port = item
            where = names[src.key] if not isinstance(src, str) else peer if src == "192.168.0.12" else host
            return sh(sys.executable, "-c", CONNECT, address, str(port), netns=where).strip() == "open"

        with ThreadPoolExecutor(8) as pool:
            seen = list(pool.map(probe, probes))
        expected = [evaluate(shop, src if isinstance(src, str) else src, dst, port).allowed
                    for src, _, dst, port in probes]
        labels = [f"{src if isinstance(src, str) else src.key} → {dst.key}:{port}" for src, _, dst, port in probes]
        assert [(label, s) for label, s in zip(labels, seen)] == [(label, e) for label, e in zip(labels, expected)]
        assert (expected.count(True), expected.count(False)) == (13, 27)  # both allowed and denied cells
    finally:
        for process in listeners:
            process.kill()
            process.wait()
        for netns in created:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
