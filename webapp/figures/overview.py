"""The overview of a big cluster: nodes gathered into groups by what the cluster itself offers (its zones, its node
pools), else by the name's prefix, and big groups cut into name ranges; each group (and each node tile) coloured by
its share of pods not ready, a NotReady node being the strongest signal."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from webapp.engine.memo import cluster_cached
from webapp.figures.canvas import BoxStyle
from webapp.model import Cluster, Node

GROUP_FROM_NODES = 200
"""A cluster with at least this many nodes opens as groups (fewer: every node is a tile)."""
GROUPS_WANTED = 30
"""About this many groups at most: a group holds at most max(GROUP_MIN_SIZE, nodes / GROUPS_WANTED) nodes."""
GROUP_MIN_SIZE = 20

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
POOL_LABELS = (
    "cloud.google.com/gke-nodepool", "eks.amazonaws.com/nodegroup", "alpha.eksctl.io/nodegroup-name",
    "kubernetes.azure.com/agentpool", "karpenter.sh/nodepool", "node.kubernetes.io/pool", "nodepool",
    "node.kubernetes.io/instance-type",
)
"""Node-pool labels of the common clouds and tools (GKE, EKS, eksctl, AKS, Karpenter), then the instance type."""


@dataclass(frozen=True)
class NodeGroup:
    """Nodes shown together in the overview: `key` is what the view opens (`group:KEY` when clicked)."""

    key: str
    title: str
    nodes: tuple[str, ...]
    by: str
    """`zone`, `pool`, `zone+pool`, `prefix` or `range` (`zone+range` …: a big one cut into name ranges)."""
    span: str = ""
    """The first and last node's names (`worker-0000 – 0099`) when the title does not say them."""

    @property
    def label(self) -> str:
        return f"{self.title} · {self.span}" if self.span else self.title


@dataclass(frozen=True)
class Health:
    """What the colour of a tile says: nodes NotReady, pods not ready, out of how many."""

    nodes: int
    nodes_not_ready: int
    pods: int
    pods_not_ready: int

    @property
    def share(self) -> float:
        """The share of pods not ready (0 without pods)."""
        return self.pods_not_ready / self.pods if self.pods else 0.0


SHARE_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#dcfce7"),
    (0.02, "#fef9c3"),
    (0.10, "#fde68a"),
    (0.25, "#fdba74"),
    (1.0, "#fca5a5"),
)
"""(upper bound of the share of pods not ready, fill): none, up to 2 %, 10 %, 25 %, more (red)."""
SHARE_BORDER = "#64748b"
NOT_READY_BORDER = "#7f1d1d"
NOT_READY_NODE = BoxStyle("#7f1d1d", NOT_READY_BORDER, 1.4)
"""A NotReady node's tile: the darkest, strongest mark (white text on it)."""


def share_fill(share: float) -> str:
    """The fill for a share of pods not ready (SHARE_SCALE)."""
    for bound, fill in SHARE_SCALE:
        if share <= bound:
            return fill
    return SHARE_SCALE[-1][1]


def health_style(health: Health) -> BoxStyle:
    """A group's or node's box: filled by the share of pods not ready; a thick dark-red border when any of its
    nodes is NotReady (a NotReady node alone: dark red all over, `NOT_READY_NODE`)."""
    if health.nodes == 1 and health.nodes_not_ready:
        return NOT_READY_NODE
    if health.nodes_not_ready:
        return BoxStyle(share_fill(health.share), NOT_READY_BORDER, 3.0)
    return BoxStyle(share_fill(health.share), SHARE_BORDER, 1.0)


def legend_entries() -> tuple[tuple[str, str, str], ...]:
    """(fill, border, what) of the legend, `what` a words key (webapp/figures/words.py)."""
    return (
        (SHARE_SCALE[0][1], SHARE_BORDER, "legend.share.none"),
        (SHARE_SCALE[1][1], SHARE_BORDER, "legend.share.2"),
        (SHARE_SCALE[2][1], SHARE_BORDER, "legend.share.10"),
        (SHARE_SCALE[3][1], SHARE_BORDER, "legend.share.25"),
        (SHARE_SCALE[4][1], SHARE_BORDER, "legend.share.more"),
        ("#ffffff", NOT_READY_BORDER, "legend.group_not_ready"),
        (NOT_READY_NODE.fill, NOT_READY_BORDER, "legend.node_not_ready"),
    )


def is_grouped(cluster: Cluster) -> bool:
    return len(cluster.nodes) >= GROUP_FROM_NODES


def _natural(name: str) -> tuple:
    """`node-9` before `node-10`."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _prefix(name: str) -> str:
    """A node name's stem without its number: `gke-prod-pool-1-abcd` keeps `gke-prod-pool-`, `worker-0042` gives
    `worker-`."""
    match = re.match(r"^(.*?)[\d]", name)
    return match.group(1) if match and match.group(1) else name


def _label(node: Node, keys: tuple[str, ...]) -> str | None:
    labels = dict(node.labels)
    return next((labels[k] for k in keys if labels.get(k)), None)


def _by(nodes: tuple[Node, ...], value) -> dict[str, list[Node]]:
    groups: dict[str, list[Node]] = {}
    for node in nodes:
        groups.setdefault(value(node), []).append(node)
    return groups


def _first_grouping(nodes: tuple[Node, ...], max_size: int) -> tuple[str, dict[str, list[Node]]]:
    """The first grouping that says something: zone and pool, zone, pool, name prefix; else one group."""
    zones = _by(nodes, lambda n: _label(n, ZONE_LABELS) or "—")
    pools = _by(nodes, lambda n: _label(n, POOL_LABELS) or "—")
    if len(zones) > 1 and len(pools) > 1:
        both = _by(nodes, lambda n: f"{_label(n, ZONE_LABELS) or '—'} · {_label(n, POOL_LABELS) or '—'}")
        if len(both) <= GROUPS_WANTED:
            return "zone+pool", both
    if len(zones) > 1:
        return "zone", zones
    if len(pools) > 1:
        return "pool", pools
    prefixes = _by(nodes, lambda n: _prefix(n.name))
    if 1 < len(prefixes) <= GROUPS_WANTED:
        return "prefix", prefixes
    return "range", {"": list(nodes)}


def _build_groups(cluster: Cluster) -> tuple[NodeGroup, ...]:
    nodes = cluster.nodes
    max_size = max(GROUP_MIN_SIZE, math.ceil(len(nodes) / GROUPS_WANTED))
    by, found = _first_grouping(nodes, max_size)
    groups: list[NodeGroup] = []
    for name in sorted(found, key=_natural):
        members = sorted(found[name], key=lambda n: _natural(n.name))
        parts = max(1, math.ceil(len(members) / max_size))
        size = math.ceil(len(members) / parts)
        for index in range(parts):
            chunk = members[index * size:(index + 1) * size]
            if not chunk:
                continue
            key = f"{name or 'nodes'}#{index + 1}" if parts > 1 else (name or "nodes")
            groups.append(NodeGroup(key, name or _span(chunk), tuple(n.name for n in chunk),
                                    by if parts == 1 else (f"{by}+range" if name else "range"),
                                    _span(chunk) if name else ""))
    return tuple(groups)


def _span(nodes: list[Node]) -> str:
    """`worker-0000 – 0099`: the first name, then the last without the part they share."""
    first, last = nodes[0].name, nodes[-1].name
    if first == last:
        return first
    shared = 0
    while shared < min(len(first), len(last)) and first[shared] == last[shared]:
        shared += 1
    while shared and (first[shared - 1].isdigit() or last[shared - 1].isdigit()):
        shared -= 1  # keep the whole number
    return f"{first} – {last[shared:]}"


def node_groups(cluster: Cluster) -> tuple[NodeGroup, ...]:
    """The overview's groups of this cluster, in order (memoised per cluster)."""
    return cluster_cached(cluster, "figures.node_groups", lambda: _build_groups(cluster))


def group_of(cluster: Cluster, node: str) -> NodeGroup | None:
    """The group a node is in."""
    index = cluster_cached(cluster, "figures.group_index",
                           lambda: {n: g for g in node_groups(cluster) for n in g.nodes})
    return index.get(node)


def node_health(cluster: Cluster, nodes: tuple[str, ...], namespace: str | None) -> Health:
    """The health of these nodes and of their pods (of one namespace, when given)."""
    by_name = cluster.node_by_name
    down = cluster.down_pods
    pods = not_ready = nodes_not_ready = 0
    for name in nodes:
        node = by_name.get(name)
        if node is not None and not node.ready:
            nodes_not_ready += 1
        for pod in cluster.pods_by_node.get(name, ()):
            if namespace in (None, "", pod.namespace):
                pods += 1
                if not pod.ready or pod.key in down:
                    not_ready += 1
    return Health(len(nodes), nodes_not_ready, pods, not_ready)
