"""Deliberate faults injected into a running lab, so a lecturer (and the tests) can watch `verify` catch a
datapath that no longer matches the engine: a wrong route, a missing VXLAN FDB entry, a missing KUBE-SEP DNAT."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from webapp.engine import datapath as dp
from webapp.lab import netns as nx
from webapp.lab.plan import LabNames
from webapp.model import Cluster, Overlay

FAULTS = ("wrong-route", "missing-fdb", "missing-sep")


@dataclass(frozen=True)
class Fault:
    kind: str
    node: str
    what: str
    """The exact change, in the words of the tool that made it."""


def _pair(cluster: Cluster, node: str | None) -> tuple[dp.Node, dp.Node]:
    if len(cluster.nodes) < 2:
        raise ValueError("a fault between nodes needs at least two nodes")
    first = cluster.node_by_name[node] if node else cluster.nodes[0]
    other = next(n for n in cluster.nodes if n.name != first.name)
    return first, other


def wrong_route(cluster: Cluster, lab_id: str, node: str | None = None) -> Fault:
    """Send `node`'s traffic for the next node's podCIDR to the underlay gateway instead of the overlay."""
    here, there = _pair(cluster, node)
    gateway = dp.underlay_gateway(cluster, here)
    args = ["route", "replace", str(there.pod_cidr), "via", str(gateway), "dev", here.nic]
    nx.run(["ip", "-n", LabNames(lab_id).node(here.name), *args])
    return Fault("wrong-route", here.name, "ip " + " ".join(args))


def missing_fdb(cluster: Cluster, lab_id: str, node: str | None = None) -> Fault:
    """Delete `node`'s VXLAN FDB entry (or entries) that lead to the next node."""
    here, there = _pair(cluster, node)
    ns = LabNames(lab_id).node(here.name)
    shown = nx.run(["bridge", "-n", ns, "fdb", "show"]).stdout.splitlines()
    gone = [line for line in shown if f" dst {there.internal_ip} " in f"{line} " and " self" in line]
    if not gone or cluster.settings.overlay == Overlay.FLANNEL_HOST_GW:
        raise ValueError(f"node {here.name} has no VXLAN FDB entry towards {there.name} (overlay "
                         f"{cluster.settings.overlay})")
    for line in gone:
        words = line.split()
        mac, dev = words[0], words[words.index("dev") + 1]
        nx.run(["bridge", "-n", ns, "fdb", "del", mac, "dev", dev, "dst", str(there.internal_ip), "self"])
    return Fault("missing-fdb", here.name, "; ".join(f"bridge fdb del {line}" for line in gone))


def missing_sep(cluster: Cluster, lab_id: str, node: str | None = None, variant: str = "iptables-nft") -> Fault:
    """Remove the DNAT rule of the first KUBE-SEP chain on `node`: that endpoint can no longer be reached."""
    here = cluster.node_by_name[node] if node else cluster.nodes[0]
    ns = LabNames(lab_id).node(here.name)
    saved = nx.run([nx.iptables_tool(variant, "save"), "-t", "nat"], netns=ns).stdout.splitlines()
    dnat = next((line for line in saved if line.startswith("-A KUBE-SEP-") and " -j DNAT " in line), None)
    if dnat is None:
        raise ValueError(f"node {here.name} has no KUBE-SEP DNAT rule")
    words = shlex.split(dnat)
    nx.run([nx.iptables_tool(variant, ""), "-t", "nat", "-D", *words[1:]], netns=ns)
    return Fault("missing-sep", here.name, f"iptables -t nat -D {dnat[3:]}")


def inject(kind: str, cluster: Cluster, lab_id: str, node: str | None = None, variant: str = "iptables-nft") -> Fault:
    if kind == "wrong-route":
        return wrong_route(cluster, lab_id, node)
    if kind == "missing-fdb":
        return missing_fdb(cluster, lab_id, node)
    if kind == "missing-sep":
        return missing_sep(cluster, lab_id, node, variant)
    raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(FAULTS)}")
