"""Addresses with leading zeros (`010.0.0.1`, as old API objects may hold them): read in decimal, as kube-proxy
reads them (k8s.io/utils/net ParseIPSloppy), with a warning at file:line:col (issue 17, item 6)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from webapp.engine.kubeproxy.iptables import render_iptables_restore
from webapp.loaders import load_paths
from webapp.loaders.addresses import has_leading_zero, sloppy_cidr, sloppy_ipv4

ROOT = Path(__file__).resolve().parent.parent

CLUSTER_YAML = """\
name: lz
network: {podCIDR: 010.244.0.0/16}
nodes:
  - name: node-1
    ip: 192.168.000.11
    podCIDR: 10.244.1.0/24
    pods:
      - {name: a, ip: 10.244.1.005, labels: {app: a}, containers: [{name: c, ports: [80]}]}
services:
  - {name: s, clusterIP: 10.96.0.050, selector: {app: a}, ports: [80]}
"""

MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: old, namespace: default}
spec:
  clusterIP: 010.096.000.020
  externalIPs: [192.168.0.0100]
  selector: {app: frontend}
  ports: [{port: 80}]
"""


def _warning(text: str, read_as: str) -> str:
    return (f"{text} has a leading zero: read as {read_as}, each part decimal, as kube-proxy reads it (not octal)")


@pytest.mark.parametrize(("text", "expected"), [
    ("010.0.0.1", IPv4Address("10.0.0.1")),        # decimal 10, not octal 8
    ("192.168.000.011", IPv4Address("192.168.0.11")),
    ("00.0.0.0", IPv4Address("0.0.0.0")),
    ("10.0.0.1", None),                            # nothing to forgive
    ("010.0.0.256", None),
    ("010.0.0", None),
    ("010.0.0.-1", None),
    ("０10.0.0.1", None),                           # a full-width digit is no digit
])
def test_sloppy_reading_is_decimal(text: str, expected: IPv4Address | None) -> None:
    assert sloppy_ipv4(text) == expected


def test_sloppy_cidrs() -> None:
    assert sloppy_cidr("010.244.0.0/16") == IPv4Network("10.244.0.0/16")
    assert sloppy_cidr("010.244.0.1/16") is None  # host bits
    assert sloppy_cidr("010.244.0.1/16", strict=False) == IPv4Network("10.244.0.0/16")
    assert sloppy_cidr("10.244.0.0/16") is None
    assert (has_leading_zero("10.0.0.1"), has_leading_zero("10.0.0.01"), has_leading_zero(10)) == (False, True, False)


def test_cluster_yaml_reads_leading_zeros_in_decimal_with_a_warning_each(tmp_path: Path) -> None:
    path = tmp_path / "lz.yaml"
    path.write_text(CLUSTER_YAML)
    result = load_paths([path])
    assert result.errors == ()
    assert [(p.line, p.col, p.severity, p.code, p.message, p.path, p.hint) for p in result.warnings] == [
        (2, 20, "warning", "W-IP-LEADING-ZERO", _warning("010.244.0.0/16", "10.244.0.0/16"), "network.podCIDR",
         "write 10.244.0.0/16: newer API servers refuse leading zeros in new objects"),
        (5, 9, "warning", "W-IP-LEADING-ZERO", _warning("192.168.000.11", "192.168.0.11"), "nodes[0].ip",
         "write 192.168.0.11: newer API servers refuse leading zeros in new objects"),
        (8, 23, "warning", "W-IP-LEADING-ZERO", _warning("10.244.1.005", "10.244.1.5"), "nodes[0].pods[0].ip",
         "write 10.244.1.5: newer API servers refuse leading zeros in new objects"),
        (10, 26, "warning", "W-IP-LEADING-ZERO", _warning("10.96.0.050", "10.96.0.50"), "services[0].clusterIP",
         "write 10.96.0.50: newer API servers refuse leading zeros in new objects"),
    ]
    cluster = result.cluster
    assert cluster is not None
    assert cluster.settings.pod_cidr == IPv4Network("10.244.0.0/16")
    assert cluster.node_by_name["node-1"].internal_ip == IPv4Address("192.168.0.11")
    assert cluster.pod_by_key["default/a"].pod_ip == IPv4Address("10.244.1.5")
    assert cluster.service_by_key["default/s"].cluster_ip == IPv4Address("10.96.0.50")


def test_a_manifest_with_leading_zeros_is_read_as_kube_proxy_reads_it(tmp_path: Path) -> None:
    """kube-proxy parses a Service's clusterIP and externalIPs with netutils.ParseIPSloppy: its rules carry the
    decimal address (pkg/proxy/iptables/proxier_test.go writes every address plainly; the rule shape is
    TestClusterIPGeneral's and TestNonLocalExternalIPs')."""
    path = tmp_path / "old.yaml"
    path.write_text(MANIFEST)
    result = load_paths([path, ROOT / "samples" / "flannel-vxlan.yaml"])
    assert [str(p) for p in result.warnings] == [
        f"{path}:5:14: warning: {_warning('010.096.000.020', '10.96.0.20')} (spec.clusterIP) (hint: write "
        "10.96.0.20: newer API servers refuse leading zeros in new objects)",
        f"{path}:6:17: warning: {_warning('192.168.0.0100', '192.168.0.100')} (spec.externalIPs[0]) (hint: write "
        "192.168.0.100: newer API servers refuse leading zeros in new objects)",
    ]
    cluster = result.cluster
    assert cluster is not None
    service = cluster.service_by_key["default/old"]
    assert (service.cluster_ip, service.external_ips) == (IPv4Address("10.96.0.20"), (IPv4Address("192.168.0.100"),))
    rules = render_iptables_restore(cluster, "node-1").splitlines()
    assert [r for r in rules if "default/old" in r and r.split()[1] == "KUBE-SERVICES"] == [
        '-A KUBE-SERVICES -m comment --comment "default/old cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 '
        '-j KUBE-SVC-UJBI2K64V4MA2MCH',
        '-A KUBE-SERVICES -m comment --comment "default/old external IP" -m tcp -p tcp -d 192.168.0.100 '
        '--dport 80 -j KUBE-EXT-UJBI2K64V4MA2MCH',
    ]


def test_an_address_that_is_not_one_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MANIFEST.replace("010.096.000.020", "010.096.000.256"))
    result = load_paths([path])
    assert [(p.line, p.code, p.message) for p in result.errors] == [
        (5, "E-VALUE-IPV4", "expected an IPv4 address, got '010.096.000.256'")]


def test_a_network_policy_ip_block_with_leading_zeros_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: default}\n"
                    "spec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 010.0.0.0/8}}]}]\n")
    result = load_paths([path, ROOT / "samples" / "flannel-vxlan.yaml"])
    assert [str(p) for p in result.problems if p.severity != "notice"] == [
        f"{path}:6:38: error: 010.0.0.0/8 has a leading zero: a NetworkPolicy ipBlock must be written without "
        "(spec.ingress[0].from[0].ipBlock.cidr) (hint: write 10.0.0.0/8)"]
