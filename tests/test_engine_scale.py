"""The loaded cluster grown to 5,000 services for the mode comparison (webapp.engine.scale)."""

from __future__ import annotations

from ipaddress import IPv4Address

from webapp.engine.scale import SCALE_SERVICES, grown
from webapp.loaders import load_sample
from webapp.model import ServiceType


def test_the_seed_cluster_grows_to_5000_services_each_with_one_endpoint_on_its_pods():
    seed = load_sample("seed-article")
    big = grown(seed)
    added = big.services[len(seed.services):]
    assert (len(big.services), len(added), big.services[:len(seed.services)]) == (5000, 5000 - len(seed.services),
                                                                                   seed.services)
    assert (added[0].key, added[-1].key) == ("scale/svc-00001", f"scale/svc-{len(added):05d}")
    assert {s.type for s in added} == {ServiceType.CLUSTER_IP}
    addresses = [s.cluster_ip for s in big.services if s.cluster_ip is not None]
    assert len(set(addresses)) == len(addresses)
    assert all(a in seed.settings.service_cidr for a in addresses)
    assert seed.settings.cluster_dns_ip not in {s.cluster_ip for s in added}
    assert added[0].cluster_ip == IPv4Address("10.96.0.2")
    endpoints = big.endpoints[len(seed.endpoints):]
    assert [e.service for e in endpoints] == [s.key for s in added]
    assert {e.pod for e in endpoints} == {p.key for p in seed.pods if not p.host_network}
    assert grown(seed) is big and big.nodes == seed.nodes and big.pods == seed.pods


def test_a_cluster_that_already_holds_enough_services_is_kept():
    seed = load_sample("seed-article")
    assert grown(seed, len(seed.services)) is seed
    assert SCALE_SERVICES == 5000


def test_the_comparison_counts_the_rules_of_the_nodes_asked_for():
    from webapp.engine.compare import compare_modes

    rows = compare_modes(load_sample("seed-article"), "pod/default/api-1", "svc/default/api-lb:80", nodes={"node-2"})
    assert [(str(r.mode), r.rules_per_node) for r in rows] == [
        ("iptables", (("node-2", 90),)), ("ipvs", (("node-2", 43),)), ("nftables", (("node-2", 74),)),
        ("userspace", (("node-2", 32),))]
