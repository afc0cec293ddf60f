"""The mode comparison's core (webapp.engine.compare): one flow under iptables, IPVS, nftables and userspace —
the trace, the hop that decided, each node's rule count and the cost of finding the service."""

from __future__ import annotations

import pytest

from webapp.engine.compare import LookupKind, ScaleLookup, ServiceLookup, compare_modes
from webapp.engine.trace import Action, Disposition
from webapp.loaders import load_sample, load_sources


def summary(comparisons):
    return [(str(c.mode), c.trace.disposition, c.decided.action if c.decided else None,
             c.decided.rule if c.decided else None, c.rules_per_node, c.lookup) for c in comparisons]


def test_pod_to_a_cluster_ip_in_every_mode_on_the_seed_sample():
    rows = summary(compare_modes(load_sample("seed-article"), "pod/default/api-1", "svc/default/api-lb:80"))
    nodes = lambda n: (("node-1", n), ("node-2", n))  # noqa: E731 — both nodes hold the same rules
    assert rows == [
        ("iptables", Disposition.DELIVERED, Action.LOOKUP,
         'nat -A KUBE-SVC-VTPBR73ZU62SOII5 -m comment --comment "default/api-lb -> 10.244.1.3:8080" -m statistic '
         "--mode random --probability 0.5000000000 -j KUBE-SEP-CZJKISAGLOYXZJX4",
         nodes(90), ServiceLookup(LookupKind.LINEAR, 0)),
        ("ipvs", Disposition.DELIVERED, Action.DNAT, "TCP 10.96.0.11:80 rr -> 10.244.1.3:8080 Masq",
         nodes(43), ServiceLookup(LookupKind.HASH, 1)),
        ("nftables", Disposition.DELIVERED, Action.LOOKUP,
         "kube-proxy service-ips: 10.96.0.11 . tcp . 80 : goto service-RI7FT74Q-default/api-lb/tcp/",
         nodes(74), ServiceLookup(LookupKind.HASH, 1)),
        ("userspace", Disposition.DELIVERED, Action.REDIRECT,
         'nat -A KUBE-PORTALS-CONTAINER -m comment --comment "default/api-lb" -p tcp -m tcp --dport 80 '
         "-d 10.96.0.11/32 -j REDIRECT --to-ports 59269",
         nodes(32), ServiceLookup(LookupKind.LINEAR, 0)),
    ]


def test_the_linear_walk_grows_with_the_position_of_the_service_and_the_maps_do_not():
    """kube-dns is the 8th cluster-IP rule of KUBE-SERVICES and of KUBE-PORTALS-HOST; a nodePort is found after
    every KUBE-SERVICES rule (10, then the KUBE-NODEPORTS jump) in iptables mode, in nftables' second map."""
    cluster = load_sample("seed-article")
    lookups = lambda src, dst: [(str(c.mode), c.lookup) for c in compare_modes(cluster, src, dst)]  # noqa: E731
    assert lookups("node/node-1", "svc/kube-system/kube-dns:dns") == [
        ("iptables", ServiceLookup(LookupKind.LINEAR, 7)), ("ipvs", ServiceLookup(LookupKind.HASH, 1)),
        ("nftables", ServiceLookup(LookupKind.HASH, 1)), ("userspace", ServiceLookup(LookupKind.LINEAR, 7))]
    assert lookups("203.0.113.10", "node/node-1:30081") == [
        ("iptables", ServiceLookup(LookupKind.LINEAR, 10)), ("ipvs", ServiceLookup(LookupKind.HASH, 1)),
        ("nftables", ServiceLookup(LookupKind.HASH, 2)), ("userspace", ServiceLookup(LookupKind.LINEAR, 0))]


def test_a_flow_without_a_service_has_no_lookup():
    (iptables, *_) = compare_modes(load_sample("seed-article"), "pod/default/api-1", "pod/default/api-2:8080")
    assert (iptables.decided, iptables.lookup, iptables.scale) == (None, None, None)
    assert iptables.trace.disposition == Disposition.DELIVERED


@pytest.mark.slow
def test_on_a_5000_service_cluster_iptables_walks_thousands_of_rules_and_nftables_makes_one_lookup():
    from benchmarks.generate_cluster import dump_json, generate_dump

    big = load_sources([("big.json", dump_json(generate_dump(50, pods_per_node=102, services_per_node=100)).encode())],
                       max_bytes=50_000_000).cluster
    assert len(big.services) == 5001
    scale = {str(c.mode): c.scale for c in compare_modes(load_sample("seed-article"), "pod/default/api-1",
                                                          "svc/default/api-lb:80", scale=big)}
    assert scale == {
        "iptables": ScaleLookup(4952, 100, LookupKind.LINEAR, 2522.53, 4951),
        "ipvs": ScaleLookup(4952, 100, LookupKind.HASH, 1.0, 1),
        "nftables": ScaleLookup(4952, 100, LookupKind.HASH, 1.0, 1),
        "userspace": ScaleLookup(4952, 100, LookupKind.LINEAR, 2549.88, 5002),
    }
