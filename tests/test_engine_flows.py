"""SRC/DST grammar, flow types, picker choices, and the `trace` command (text and JSON)."""

import argparse
import json

import pytest

from factories import TRACED_MODES, big_cluster, two_node_cluster
from webapp.engine import commands
from webapp.engine.flows import CANDIDATE_LIMIT, FlowType, candidate_flows, trace_flow
from webapp.engine.trace import Disposition
from webapp.model import KubeProxyMode

SAMPLES = ("seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook")


@pytest.mark.parametrize(("src", "dst", "message"), [
    ("pod/nope", "pod/web-a:80", "pod/nope: pod default/nope not found"),
    ("pod/client:zz", "pod/web-a:80", "pod/client:zz: pod default/client has no container zz (containers: client)"),
    ("node/x", "pod/web-a:80", "node/x: node x not found (nodes: node-1, node-2)"),
    ("10.244.0.99", "pod/web-a:80", "10.244.0.99: no pod has the IP 10.244.0.99"),
    ("banana", "pod/web-a:80", "banana: not a source; use pod/[NS/]NAME[:CONTAINER], node/NAME or an IP address"),
    ("pod/client", "pod/web-a", "pod/web-a: a destination needs a port (e.g. pod/web-a:80)"),
    ("pod/client", "svc/nope", "svc/nope: service default/nope not found"),
    ("pod/client", "svc/web:99", "svc/web:99: service default/web has no port 99 (ports: http:80)"),
    ("pod/client", "pod/web-a:http2", "pod/web-a:http2: pod default/web-a has no TCP port named http2"),
    ("pod/client", "pod/web-a:70000", "pod/web-a:70000: '70000' is not a port number (1-65535)"),
    ("203.0.113.10", "localhost:80", "localhost:80: localhost needs a pod or node source"),
])
def test_bad_specs_name_what_was_not_found(src, dst, message):
    with pytest.raises(ValueError) as raised:
        trace_flow(two_node_cluster(), src, dst)
    assert str(raised.value) == message


def test_bad_protocol():
    with pytest.raises(ValueError, match=r"^protocol 'icmp': use tcp, udp or sctp$"):
        trace_flow(two_node_cluster(), "pod/client", "pod/web-a:80", "icmp")


@pytest.mark.parametrize(("src", "dst", "flow_type"), [
    ("pod/duo:app", "localhost:9090", FlowType.CONTAINER_TO_CONTAINER),
    ("pod/client", "pod/web-a:http", FlowType.POD_TO_POD_SAME_NODE),
    ("pod/default/client", "10.244.1.2:80", FlowType.POD_TO_POD_CROSS_NODE),
    ("node/node-2", "pod/web-a:80", FlowType.NODE_TO_POD),
    ("192.168.0.12", "pod/web-a:80", FlowType.NODE_TO_POD),
    ("pod/client", "192.168.0.12:10250", FlowType.POD_TO_NODE),
    ("pod/client", "svc/web:http", FlowType.POD_TO_SERVICE),
    ("10.244.0.2", "10.96.0.20:80", FlowType.POD_TO_SERVICE),
    ("node/node-1", "svc/web", FlowType.NODE_TO_SERVICE),
    ("pod/client", "203.0.113.10:443", FlowType.POD_TO_EXTERNAL),
    ("203.0.113.10", "pod/web-a:80", FlowType.EXTERNAL_TO_POD),
    ("node/node-1", "node/node-2:10250", FlowType.HOST_NETWORK),
])
def test_flow_types(src, dst, flow_type):
    trace = trace_flow(two_node_cluster(), src, dst)
    assert trace.flow.type == flow_type
    assert (trace.flow.src, trace.flow.dst, trace.flow.proto) == (src, dst, "tcp")


def test_udp_flows_keep_their_protocol():
    trace = trace_flow(two_node_cluster(), "pod/client", "pod/web-b:80", "udp")
    assert trace.disposition == Disposition.REJECTED  # nginx declares 80/TCP only
    assert trace.reason == "nothing listens on 80/UDP in pod default/web-b (its containers declare nginx 80/TCP)"
    assert {h.packet.proto for h in trace.hops} == {"udp"}


def test_json_has_the_contract_shape():
    out = trace_flow(two_node_cluster(), "pod/client", "pod/web-b:80").to_dict()
    assert list(out) == ["version", "language", "flow", "disposition", "reason", "hops", "reply", "nat", "port_rewrites",
                         "notes"]
    assert out["flow"] == {"type": "pod-to-pod-cross-node", "src": "pod/client", "dst": "pod/web-b:80",
                           "proto": "tcp"}
    encap = out["hops"][8]
    assert encap == {
        "node": "node-1", "netns": "host/node-1", "device": "flannel.1", "kind": "vxlan", "action": "encapsulate",
        "packet": {"src": "10.244.0.2:46057", "dst": "10.244.1.2:80", "proto": "tcp",
                   "outer": {"src": "192.168.0.11:51546", "dst": "192.168.0.12:8472", "proto": "udp", "vni": 1}},
        "rule": "vxlan id 1 local 192.168.0.11 dev eth0 dstport 8472 nolearning",
        "explain": "flannel.1 wraps the frame in UDP 192.168.0.11 → 192.168.0.12:8472, VNI 1.",
    }
    assert out["hops"][0]["kind"] == "app" and out["hops"][-1]["action"] == "deliver"
    assert out["nat"] == []


def test_candidates_are_capped_and_valid():
    cluster = two_node_cluster()
    flows = candidate_flows(cluster)
    assert flows[FlowType.CONTAINER_TO_CONTAINER] == [
        ("pod/default/duo:app", "localhost:9090"), ("pod/default/duo:metrics", "localhost:8080"),
        ("pod/default/clash:one", "localhost:8080"), ("pod/default/clash:two", "localhost:8080")]
    # every pod, default/web's own backends web-a and web-b included (hairpin), in cluster order
    assert flows[FlowType.POD_TO_SERVICE] == [("pod/default/client", "svc/default/web:http"),
                                              ("pod/default/web-a", "svc/default/web:http"),
                                              ("pod/default/duo", "svc/default/web:http"),
                                              ("pod/default/clash", "svc/default/web:http"),
                                              ("pod/default/web-b", "svc/default/web:http")]
    # complete on a small cluster: 4 pods on node-1 and 1 on node-2, 4 of them with a port
    assert {str(kind): len(pairs) for kind, pairs in flows.items()} == {
        "container-to-container": 4, "pod-to-pod-same-node": 9, "pod-to-pod-cross-node": 7, "node-to-pod": 8,
        "pod-to-node": 10, "pod-to-service": 5, "node-to-service": 2, "pod-to-external": 5, "external-to-pod": 4,
        "host-network": 2}
    for kind, pairs in flows.items():
        for src, dst in pairs:
            assert trace_flow(cluster, src, dst).flow.type == kind, (src, dst)
    big = candidate_flows(big_cluster(40, 10))
    assert all(len(pairs) <= CANDIDATE_LIMIT for pairs in big.values())
    assert len(big[FlowType.POD_TO_POD_CROSS_NODE]) == CANDIDATE_LIMIT


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("mode", TRACED_MODES)
def test_every_candidate_of_every_sample_traces_and_its_reply_returns(sample, mode):
    from dataclasses import replace

    from webapp.loaders import load_sample

    base = load_sample(sample)
    cluster = replace(base, settings=replace(base.settings, kube_proxy_mode=mode))
    flows = candidate_flows(cluster)
    assert {FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_POD_CROSS_NODE, FlowType.NODE_TO_POD,
            FlowType.POD_TO_NODE, FlowType.POD_TO_EXTERNAL, FlowType.POD_TO_SERVICE} <= set(flows)
    for kind, pairs in flows.items():
        for src, dst in pairs:
            trace = trace_flow(cluster, src, dst)
            if kind == FlowType.EXTERNAL_TO_POD:
                assert trace.disposition == Disposition.NO_ROUTE
                continue
            assert trace.disposition == Disposition.DELIVERED, (kind, src, dst, trace.reason)
            assert not any("does not come back" in n for n in trace.notes), (src, dst, trace.notes)
            if kind in (FlowType.POD_TO_POD_SAME_NODE, FlowType.POD_TO_POD_CROSS_NODE,
                        FlowType.CONTAINER_TO_CONTAINER):
                assert trace.nat == () and trace.reply_nat == (), (src, dst)


def run_cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="k8s-netviz")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.run(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_command_text_and_json(capsys):
    code, out, _ = run_cli(["trace", "--sample", "flannel-host-gw", "--from", "pod/client-1",
                            "--to", "203.0.113.10:443"], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "pod-to-external: pod/client-1 → 203.0.113.10:443 (tcp)"
    assert "  => delivered" in lines and any(line.startswith("  NAT: src 10.244.") for line in lines)
    assert "  reply:" in lines
    code, out, _ = run_cli(["trace", "--sample", "flannel-host-gw", "--from", "pod/client-1",
                            "--to", "203.0.113.10:443", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["version"] == 1 and data["disposition"] == "delivered"
    assert data["flow"]["type"] == "pod-to-external"


def test_trace_command_reports_bad_specs(capsys):
    code, out, err = run_cli(["trace", "--sample", "flannel-vxlan", "--from", "pod/ghost", "--to", "pod/x:1"], capsys)
    assert (code, out) == (2, "")
    assert err == "k8s-netviz trace: pod/ghost: pod default/ghost not found\n"
    code, _, err = run_cli(["trace", "--sample", "nope", "--from", "pod/a", "--to", "pod/b:1"], capsys)
    assert code == 1 and err.startswith("no sample named 'nope'")


def test_trace_command_loads_paths(capsys, tmp_path):
    from webapp.paths import SAMPLES_DIR

    code, out, _ = run_cli(["trace", str(SAMPLES_DIR / "flannel-vxlan.yaml"), "--from", "node/node-1",
                            "--to", "node/node-2:10250"], capsys)
    assert code == 0 and out.startswith("host-network: node/node-1 → node/node-2:10250 (tcp)\n")


def test_rules_command_is_registered_next_to_trace():
    parser = argparse.ArgumentParser(prog="k8s-netviz")
    sub = parser.add_subparsers(dest="command", required=True)
    commands.register(sub)
    assert {"trace", "rules"} <= set(sub.choices)


def test_the_seed_articles_choices_are_complete():
    """Every pod × every port of every service with a cluster IP, the service's own backends included (13 of the
    56 pairs are such hairpin candidates); web-1 → api-lb is among them."""
    from webapp.loaders import load_sample

    cluster = load_sample("seed-article")
    flows = candidate_flows(cluster)
    expected = [(f"pod/{pod.key}", f"svc/{svc.key}:{sport.name or sport.port}")
                for svc in cluster.services if svc.cluster_ip is not None for sport in svc.ports
                for pod in cluster.pods]
    assert sorted(flows[FlowType.POD_TO_SERVICE]) == sorted(expected)
    assert len(expected) == 56
    hairpins = [(pod.key, svc.key) for svc in cluster.services for sport in svc.ports for pod in cluster.pods
                if pod.key in {ep.pod for ep in cluster.endpoints_for(svc, sport)}]
    assert len(hairpins) == 13
    assert ("pod/default/web-1", "svc/default/api-lb:80") in flows[FlowType.POD_TO_SERVICE]
    assert len(flows[FlowType.POD_TO_POD_SAME_NODE]) + len(flows[FlowType.POD_TO_POD_CROSS_NODE]) == 7 * 6


def test_the_protocol_follows_the_destination_port_unless_given():
    from webapp.engine.flows import destination_protocol
    from webapp.loaders import load_sample

    cluster = load_sample("seed-article")
    assert [destination_protocol(cluster, dst) for dst in (
        "svc/kube-system/kube-dns:dns", "svc/kube-system/kube-dns:dns-tcp", "svc/kube-system/kube-dns:53",
        "10.96.0.10:53", "svc/default/web", "localhost:53", "203.0.113.10:53")] == [
        "udp", "tcp", "tcp", "tcp", "tcp", "tcp", "tcp"]
    assert trace_flow(cluster, "pod/default/web-1", "svc/kube-system/kube-dns:dns").flow.proto == "udp"
    assert trace_flow(cluster, "pod/default/web-1", "svc/kube-system/kube-dns:dns", "tcp").flow.proto == "tcp"
