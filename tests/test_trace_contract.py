"""The trace contract's value objects: JSON shape, NAT field diffs, and the text form."""

from ipaddress import IPv4Address

import pytest

from factories import two_node_cluster
from webapp.engine.flows import trace_flow
from webapp.engine.trace import (
    Action, Alternative, Disposition, Flow, Hop, HopKind, Netns, NetnsKind, OuterHeader, Packet, SocketAddress, Trace,
)


def sa(text: str) -> SocketAddress:
    return SocketAddress.parse(text)


SENT = Packet(sa("10.244.1.2:40000"), sa("10.96.0.20:80"))
DNATED = Packet(sa("10.244.1.2:40000"), sa("10.244.2.3:8080"))


def hops() -> tuple[Hop, ...]:
    return (
        Hop("node-1", "pod/default/client", "eth0", HopKind.APP, Action.SEND, SENT),
        Hop("node-1", "host/node-1", "KUBE-SEP-ABC", HopKind.NETFILTER, Action.DNAT, DNATED,
            rule="KUBE-SEP-ABC", alternatives=(Alternative(sa("10.244.2.3:8080"), 0.5, chosen=True),
                                               Alternative(sa("10.244.1.9:8080"), 0.5))),
        Hop("node-1", "host/node-1", "flannel.1", HopKind.VXLAN, Action.ENCAPSULATE,
            Packet(DNATED.src, DNATED.dst, "tcp",
                   OuterHeader(sa("192.168.0.11:40001"), sa("192.168.0.12:8472"), vni=1))),
        Hop("node-2", "pod/default/web", "eth0", HopKind.APP, Action.DELIVER, DNATED),
    )


def test_socket_address_round_trip():
    assert str(sa("10.0.0.1:53")) == "10.0.0.1:53"
    assert sa("10.0.0.1:53").ip == IPv4Address("10.0.0.1")


def test_nat_is_recorded_as_field_diffs():
    trace = Trace(Flow("pod-to-service", "pod/client", "svc/web:80"), Disposition.DELIVERED, hops())
    assert [(c.hop, c.field, c.before, c.after, c.rule) for c in trace.nat] == [
        (1, "dst", "10.96.0.20:80", "10.244.2.3:8080", "KUBE-SEP-ABC"),
    ]
    assert trace.no_nat is False


def test_to_dict_has_the_contract_shape():
    trace = Trace(Flow("pod-to-service", "pod/client", "svc/web:80"), Disposition.DELIVERED, hops())
    out = trace.to_dict()
    assert out["version"] == 1
    assert out["language"] == "en"  # the language of reason, notes and explain (narration_language)
    assert list(out) == ["version", "language", "flow", "disposition", "reason", "hops", "reply", "nat",
                         "port_rewrites", "notes"]
    assert out["flow"] == {"type": "pod-to-service", "src": "pod/client", "dst": "svc/web:80", "proto": "tcp"}
    assert out["disposition"] == "delivered"
    assert out["reason"] is None
    assert out["reply"] == []
    assert out["hops"][1] == {
        "node": "node-1", "netns": "host/node-1", "device": "KUBE-SEP-ABC", "kind": "netfilter",
        "action": "dnat",
        "packet": {"src": "10.244.1.2:40000", "dst": "10.244.2.3:8080", "proto": "tcp", "outer": None},
        "rule": "KUBE-SEP-ABC", "explain": "",
        "alternatives": [{"dst": "10.244.2.3:8080", "probability": 0.5, "chosen": True},
                         {"dst": "10.244.1.9:8080", "probability": 0.5}],
    }
    assert out["hops"][2]["packet"]["outer"] == {
        "src": "192.168.0.11:40001", "dst": "192.168.0.12:8472", "proto": "udp", "vni": 1}
    assert "alternatives" not in out["hops"][0]


def test_text_form_lists_hops_and_nat():
    trace = Trace(Flow("pod-to-service", "pod/client", "svc/web:80"), Disposition.DELIVERED, hops())
    text = str(trace).splitlines()
    assert text[0] == "pod-to-service: pod/client → svc/web:80 (tcp)"
    assert len(text) == 1 + 4 + 2
    assert text[-2] == "  => delivered"
    assert text[-1] == "  NAT: dst 10.96.0.20:80 → 10.244.2.3:8080"
    assert "[udp 192.168.0.11:40001 → 192.168.0.12:8472 vni 1] tcp 10.244.1.2:40000 → 10.244.2.3:8080" in text[3]


@pytest.mark.parametrize("text, kind, name", [
    ("pod/default/web-a", NetnsKind.POD, "default/web-a"),
    ("host/node-1", NetnsKind.HOST, "node-1"),
    ("external", NetnsKind.EXTERNAL, ""),
    ("underlay", NetnsKind.UNDERLAY, ""),
    ("router", NetnsKind.ROUTER, ""),
    ("dns", NetnsKind.DNS, ""),
])
def test_netns_parses_and_prints_the_trace_strings(text, kind, name):
    netns = Netns.parse(text)
    assert (netns.kind, netns.name, str(netns)) == (kind, name, text)
    assert (netns.is_host, netns.is_pod) == (kind == NetnsKind.HOST, kind == NetnsKind.POD)


@pytest.mark.parametrize("text, message", [
    ("pods/default/web", "not a network namespace: 'pods/default/web'"),
    ("host", "not a network namespace: 'host'"),
    ("external/x", "not a network namespace: 'external/x'"),
])
def test_netns_rejects_what_is_not_one(text, message):
    with pytest.raises(ValueError) as error:
        Netns.parse(text)
    assert str(error.value) == message


def test_every_hop_of_a_trace_names_a_netns_that_round_trips():
    cluster = two_node_cluster()
    trace = trace_flow(cluster, "pod/client", "pod/web-b:80")
    assert [str(Netns.parse(hop.netns)) for hop in (*trace.hops, *trace.reply)] == [
        hop.netns for hop in (*trace.hops, *trace.reply)]
    assert {Netns.parse(hop.netns).kind for hop in trace.hops} == {NetnsKind.POD, NetnsKind.HOST, NetnsKind.UNDERLAY}
