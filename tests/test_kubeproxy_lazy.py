"""The walk's rulesets in iptables mode render a service port's rules only when a packet to one of its
destinations reaches the node (rulesets.node_path_ruleset, kubeproxy.iptables.ServicePortRules): the same rules,
chain by chain, as the whole ruleset once every destination has been asked for, and far fewer before."""

from __future__ import annotations

from dataclasses import replace

import pytest

from upstream import UPSTREAM_CASES
from webapp.engine.flows import trace_flow
from webapp.engine.kubeproxy.iptables import ServicePortRules, render_rules, service_port_index
from webapp.engine.rulesets import node_path_ruleset, node_ruleset
from webapp.engine.trace import Packet, SocketAddress
from webapp.loaders import list_samples, load_sample, load_sources
from webapp.model import Cluster, KubeProxyMode


def iptables_mode(cluster: Cluster) -> Cluster:
    return replace(cluster, settings=replace(cluster.settings, kube_proxy_mode=KubeProxyMode.IPTABLES))


def chains(ruleset) -> dict[tuple[str, str], list[str]]:
    return {(table, name): list(chain.lines) for table, names in ruleset.tables.items()
            for name, chain in names.items()}


def ask_for_everything(cluster: Cluster, node: str):
    lazy = node_path_ruleset(cluster, node)
    index = service_port_index(cluster)
    for address, port, proto in index.destinations():
        lazy.admit(Packet(SocketAddress.parse("10.99.0.1:40000"), SocketAddress(address, port), proto))
    for port, proto in index.node_ports():
        lazy.admit(Packet(SocketAddress.parse("10.99.0.1:40000"), SocketAddress.parse(f"192.0.2.1:{port}"), proto))
    return lazy


CASES = [(s.name, n.name) for s in list_samples() for n in load_sample(s.name).nodes]


@pytest.mark.parametrize(("sample", "node"), CASES)
def test_every_destination_asked_for_gives_the_whole_ruleset(sample, node):
    cluster = iptables_mode(load_sample(sample))
    lazy = ask_for_everything(cluster, node)
    full = node_ruleset(cluster, node)
    assert chains(lazy) == chains(full)
    assert lazy.notes == full.notes
    assert (lazy.local_addresses, lazy.interface_addresses) == (full.local_addresses, full.interface_addresses)


@pytest.mark.parametrize("case", sorted(UPSTREAM_CASES))
def test_every_upstream_case_asked_for_gives_the_whole_ruleset(case):
    cluster, node = UPSTREAM_CASES[case]()
    assert chains(ask_for_everything(cluster, node)) == chains(node_ruleset(cluster, node))


def test_skeleton_and_blocks_are_the_whole_render():
    """The pieces ServicePortRules renders are render_rules' lines, every one, none twice."""
    cluster = iptables_mode(load_sample("guestbook"))
    rules = ServicePortRules(cluster, "node-1")
    pieces = [rules.skeleton().text] + [rules.block(i).text for i in range(len(rules.index.ports))]
    ours = sorted(line for text in pieces for line in text.splitlines() if line.startswith(("-A", ":")))
    whole = sorted(line for line in render_rules(cluster, "node-1").text.splitlines() if line.startswith(("-A", ":")))
    assert ours == whole


def test_a_trace_on_a_generated_cluster_renders_only_the_services_it_meets():
    """A pod → service trace on a generated 100-node cluster renders, on each node it
    crosses, the rules of the one service port it meets; the trace is the same again (from the memo)."""
    from benchmarks.generate_cluster import dump_json, generate_dump

    cluster = load_sources([("dump.json", dump_json(generate_dump(100, pods_per_node=5,
                                                                  services_per_node=3)).encode())]).cluster
    pod = next(p for p in cluster.pods if not p.host_network and p.namespace.startswith("team-"))
    service = next(s for s in cluster.services if s.namespace.startswith("team-") and s.ports)
    to = f"{service.cluster_ip}:{service.ports[0].port}"
    trace = trace_flow(cluster, f"pod/{pod.key}", to)
    assert str(trace.disposition) == "delivered"
    crossed = sorted({hop.node for hop in trace.hops if hop.node})
    assert len(service_port_index(cluster).ports) == 303  # 299 apps, kubernetes, kube-dns (3 ports)
    assert [len(node_path_ruleset(cluster, node).rendered) for node in crossed] == [1] * len(crossed)
    assert trace_flow(cluster, f"pod/{pod.key}", to) == trace


@pytest.mark.parametrize("count", [1000, 1001])
def test_large_cluster_mode_is_decided_alike(count):
    """kube-proxy's large-cluster mode (more than 1,000 endpoints: no per-endpoint comments) is decided the same
    way when a service port is rendered alone as when the whole ruleset is."""
    from ipaddress import IPv4Address

    from factories import service_cluster
    from webapp.model import Endpoint

    base = service_cluster(endpoints=1)
    many = tuple(Endpoint("default/web", "http", IPv4Address("10.244.0.3") + i, 80, node="node-1")
                 for i in range(count - 1)) + tuple(e for e in base.endpoints if e.service != "default/web")
    cluster = replace(base, endpoints=many)
    assert service_port_index(cluster).large is (count > 1000)
    assert chains(ask_for_everything(cluster, "node-1")) == chains(node_ruleset(cluster, "node-1"))


def test_the_scan_and_the_index_find_the_same_service_ports():
    """The first destinations are found by scanning the service ports, later ones by the index: alike."""
    from webapp.engine.kubeproxy.iptables import ServicePortIndex

    cluster = iptables_mode(load_sample("seed-article"))
    keys = [*ServicePortIndex(cluster).destinations(),
            *((address, port, proto) for port, proto in ServicePortIndex(cluster).node_ports()
              for address in (cluster.nodes[0].internal_ip,)),
            (cluster.nodes[0].internal_ip, 22, "tcp"), (cluster.nodes[0].internal_ip, 53, "udp")]
    scanned, indexed = ServicePortIndex(cluster), ServicePortIndex(cluster)
    indexed.lookup(*keys[0])
    for _ in range(ServicePortIndex.SCANS_BEFORE_INDEX):
        indexed.lookup(*keys[0])
    assert indexed._by_destination is not None
    for key in keys:
        scanned._scans = 0
        assert scanned.lookup(*key) == indexed.lookup(*key), key
    assert any(scanned.lookup(*key) for key in keys) and scanned._by_destination is None
