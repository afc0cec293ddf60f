"""`k8s-netviz rules`: a node's kube-proxy rules from a cluster file, in each mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.cli import main
from webapp.paths import SAMPLES_DIR

SAMPLE = Path(SAMPLES_DIR) / "flannel-vxlan.yaml"


@pytest.fixture
def node_name():
    from webapp.loaders import load_paths

    return load_paths([str(SAMPLE)]).cluster.nodes[0].name


def test_rules_iptables(capsys, node_name):
    assert main(["rules", str(SAMPLE), "--node", node_name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# jump rules kube-proxy inserts into the built-in chains, in this order (each goes "
                          "first)\n# iptables -t filter -I INPUT -m conntrack --ctstate NEW -m comment --comment "
                          '"kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES\n')
    assert "\n*filter\n:KUBE-SERVICES - [0:0]\n" in out and "\n*nat\n:KUBE-SERVICES - [0:0]\n" in out
    assert out.endswith("COMMIT\n")


def test_rules_ipvs_and_userspace(capsys, node_name):
    assert main(["rules", str(SAMPLE), "--node", node_name, "--mode", "ipvs"]) == 0
    out = capsys.readouterr().out
    assert "# ipvsadm -Ln\nIP Virtual Server version 1.2.1 (size=4096)\n" in out
    assert "Name: KUBE-CLUSTER-IP\nType: hash:ip,port\n" in out
    assert main(["rules", str(SAMPLE), "--node", node_name, "--mode", "userspace"]) == 0
    out = capsys.readouterr().out
    assert ":KUBE-PORTALS-CONTAINER - [0:0]" in out and "-j REDIRECT --to-ports " in out


def test_rules_unknown_node(capsys):
    assert main(["rules", str(SAMPLE), "--node", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no node named 'nope' (nodes: ")


def test_trace_json_lists_the_endpoint_choice(capsys):
    """`trace --json` through kube-proxy: the load-balancing hop carries every endpoint and its probability."""
    import json

    assert main(["trace", str(SAMPLE), "--from", "pod/default/backend-1", "--to", "svc/default/frontend:80",
                 "--backend", "10.244.1.2", "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    (choice,) = [h for h in trace["hops"] if "alternatives" in h]
    assert (choice["kind"], choice["action"], choice["device"]) == ("netfilter", "lookup", "iptables")
    assert [(a["dst"], a["probability"], a.get("chosen", False)) for a in choice["alternatives"]] == [
        ("10.244.0.2:80", 0.3333333333, False), ("10.244.1.2:80", 0.3333333333, True),
        ("10.244.2.2:80", 0.3333333333, False)]
    assert all(a["rule"].startswith("KUBE-SEP-") for a in choice["alternatives"])
    assert trace["hops"][-1]["packet"]["dst"] == "10.244.1.2:80"
    assert [n["field"] for n in trace["nat"]] == ["dst", "src"]  # the DNAT, and its reversal on the reply
