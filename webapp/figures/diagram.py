"""The cluster diagram: nodes as boxes with their NIC, bridge, overlay device and kube-proxy; pods with
their containers and veth links; the services band; the outside world; the physical network underneath.

Big clusters start as an overview: nodes are tiles with pod counts and health, services are aggregated by
namespace, and only the nodes in `DiagramView.expanded` (clicked, searched, or on a flow's path) are drawn in
detail. Every drawn device has a position, so the browser-side player can move a packet marker along a
trace's hops (see `webapp.figures.player`).
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from dataclasses import dataclass, field

from webapp.engine.policy import Direction, selecting_policies
from webapp.figures.canvas import BoxStyle, Canvas, LineStyle, Point, TextStyle
from webapp.model import OVS_VXLAN_PORT
from webapp.figures.devices import HOST_NETNS, NodeDevices, node_devices
from webapp.figures.overview import NodeGroup, health_style, is_grouped, node_groups, node_health
from webapp.figures.words import word
from webapp.model import Cluster, KubeProxyMode, Node, Overlay, Pod, Service, ServiceType

# Sizes in diagram units. A detail node is about POD_W wide per pod column.
POD_W, POD_H, POD_GAP = 3.6, 2.1, 0.35
DEVICE_W = 4.2
"""Width of the kube-proxy and overlay boxes."""
TARGET_PIXELS = 1000
"""The plot width the fonts are sized for (a 1366-px projector minus the side panel)."""
TARGET_HEIGHT_PIXELS = 560
PIXELS_PER_UNIT = 34
NODE_PAD, NODE_GAP = 0.35, 1.4
SVC_W, SVC_H, SVC_GAP = 3.4, 1.6, 0.25
TILE_W, TILE_H, TILE_GAP = 4.0, 2.0, 0.3
"""A collapsed node: three lines at TILE_TEXT's size, which the browser never draws under MIN_LABEL_PX."""
EXT_W = 4.2
NIC_W = 4.0
MAX_CONTAINER_LINES = 3
POD_NAME_CHARS = 16
"""A pod's bold name is cut to this many characters (… included), so two neighbours' names never touch."""

PATH_NODE_MAX_PODS = 8
"""See `DiagramView.path_pods`."""

OVERVIEW_MIN_NODES = 5
OVERVIEW_MIN_PODS = 60
"""A cluster at least this big opens as an overview (either threshold)."""

MAX_DETAIL_SERVICES = 12
"""More services than this (after filtering) are aggregated by namespace in the band."""

PACKET_TRACES = ("highlight", "envelope", "packet")
"""Names of the three last traces of every diagram, which the player moves: they are always present."""

NODE_FILL = BoxStyle("#eef2f7", "#52606d", 1.6)
NODE_DOWN_FILL = BoxStyle("#fde8e8", "#b91c1c", 1.6)
POD_FILL = BoxStyle("#ffffff", "#3e4c59", 1.2)
POD_DOWN_FILL = BoxStyle("#fee2e2", "#b91c1c", 1.4, "dot")
MORE_FILL = BoxStyle("#f8fafc", "#52606d", 1.2, "dash")
BRIDGE_FILL = BoxStyle("#d1fae5", "#047857", 1.2)
OVERLAY_FILL = BoxStyle("#ffedd5", "#c2410c", 1.2)
PROXY_FILL = BoxStyle("#ede9fe", "#6d28d9", 1.2)
POLICY_FILL = BoxStyle("#fee2e2", "#b91c1c", 1.0)
POLICY_OFF_FILL = BoxStyle("#fef3c7", "#b45309", 1.0, "dot")
"""A pod's NetworkPolicy mark: enforced (the plugin implements NetworkPolicy), or not (flannel alone)."""
NIC_FILL = BoxStyle("#e0f2fe", "#0369a1", 1.2)
SVC_FILL = BoxStyle("#fef9c3", "#a16207", 1.1)
DNS_FILL = BoxStyle("#fde68a", "#a16207", 1.6)
SVC_BAND = BoxStyle("rgba(254,249,195,0.35)", "#d6c27a", 1.0, "dot")
EXT_FILL = BoxStyle("#f1f5f9", "#334155", 1.2)
LB_FILL = BoxStyle("#e0e7ff", "#3730a3", 1.2)
TILE_FILL = BoxStyle("#eef2f7", "#52606d", 1.0)
TILE_NOTREADY = BoxStyle("#fde8e8", "#b91c1c", 1.2)
TILE_TEXT = TextStyle(14, "#1f2933")
TILE_BAD_TEXT = TextStyle(14, "#b91c1c")
TILE_DARK_TEXT = TextStyle(14, "#ffffff")
GROUP_W, GROUP_H, GROUP_GAP = 6.4, 3.3, 0.35
GROUP_LINES = 4
GROUP_COLUMNS = 6
GROUP_TITLE = TextStyle(14, "#111827")
GROUP_TEXT = TextStyle(14, "#1f2933")
GROUP_BAD = TextStyle(14, "#7f1d1d")
GROUP_HEADER = TextStyle(14, "#334155", position="middle right")
NS_TITLE = TextStyle(14, "#1f2933")
NS_COUNT = TextStyle(14, "#713f12")
"""A namespace's box of aggregated services."""
OVERVIEW_LABEL = TextStyle(14, "#1f2933")
OVERVIEW_NETWORK = TextStyle(14, "#334155")
"""An overview's outside world and physical network: one line each, never under MIN_LABEL_PX."""
MIN_LABEL_PX = 10
"""In an overview, a label the browser would draw smaller than this is not drawn (its box's tooltip says it):
assets/netviz.js fitFonts. Labels of 14 are never below it (the browser's smallest scale is 0.72)."""

TITLE = TextStyle(13, "#111827")
LABEL = TextStyle(11, "#1f2933")
SMALL = TextStyle(10, "#52606d")
BRIDGE_TEXT = TextStyle(11, "#065f46", position="middle right")
OVERLAY_TEXT = TextStyle(11, "#9a3412")
PROXY_TEXT = TextStyle(11, "#5b21b6")
POLICY_TEXT = TextStyle(9, "#b91c1c")
POLICY_OFF_TEXT = TextStyle(9, "#b45309")
NIC_TEXT = TextStyle(11, "#075985")
SVC_TEXT = TextStyle(10, "#713f12")
VETH_TEXT = TextStyle(9, "#047857", mode="normal")
VETH_ROW_TEXT = TextStyle(9, "#047857", position="middle right", mode="normal")
MINOR = TextStyle(10, "#52606d", mode="normal")
"""Detail dropped in presentation mode (containers, `lo`, `routes`, a device's second line)."""

# Presentation mode (assets/netviz.css shows these and hides the "normal" ones): fewer, larger labels, each sized
# to stay inside its box at the same geometry, so the packet's points are the same in both modes.
P_TITLE = TextStyle(18, "#111827", mode="present")
P_POD = TextStyle(15, "#1f2933", mode="present")
P_NAME = TextStyle(15, "#1f2933", mode="present")
P_TEXT = TextStyle(15, "#1f2933", mode="present")
P_SMALL = TextStyle(13, "#334155", mode="present")
P_DOWN = TextStyle(15, "#b91c1c", mode="present")
P_BRIDGE = TextStyle(13, "#065f46", position="middle right", mode="present")
P_OVERLAY = TextStyle(15, "#9a3412", mode="present")
P_OVERLAY_SMALL = TextStyle(13, "#9a3412", mode="present")
P_PROXY = TextStyle(15, "#5b21b6", mode="present")
P_PROXY_SMALL = TextStyle(13, "#5b21b6", mode="present")
P_NIC = TextStyle(13, "#075985", mode="present")
P_SVC = TextStyle(13, "#713f12", mode="present")
P_SVC_NAME = TextStyle(14, "#1f2933", mode="present")
P_NETWORK = TextStyle(16, "#334155", mode="present")
P_TUNNEL = TextStyle(13, "#c2410c", mode="present")
P_ETH = TextStyle(13, "#075985", mode="present")
ETH_TEXT = TextStyle(9, "#075985", mode="normal")
INSIDE_STEP = 0.37
"""Line spacing of the containers of a pod drawn with its shared namespace (`DiagramView.inside`)."""
N_TITLE = dataclasses.replace(TITLE, mode="normal")
N_LABEL = dataclasses.replace(LABEL, mode="normal")
N_SMALL = dataclasses.replace(SMALL, mode="normal")
N_BRIDGE = dataclasses.replace(BRIDGE_TEXT, mode="normal")
N_OVERLAY = dataclasses.replace(OVERLAY_TEXT, mode="normal")
N_PROXY = dataclasses.replace(PROXY_TEXT, mode="normal")
N_NIC = dataclasses.replace(NIC_TEXT, mode="normal")
N_SVC = dataclasses.replace(SVC_TEXT, mode="normal")
N_DOWN = TextStyle(10, "#b91c1c", mode="normal")
N_BAND = TextStyle(11, "#a16207", mode="normal")
P_BAND = TextStyle(13, "#a16207", position="middle right", mode="present")

_NARROW, _DIGITS, _WIDE = set(".,:;!|'ijlft ()[]/-·"), set("0123456789"), set("mwMW…→▣▢")
BOLD_WIDTH = 1.1
"""Bold DejaVu Sans is about this much wider than regular."""
_FULL_WIDTH = 1.0
"""The advance of a wide or full-width character (Unicode East_Asian_Width W or F: Han, kana, hangul, full-width
punctuation): one em in Noto Sans CJK SC, the page's CJK font — about two Latin letters."""

VETH = LineStyle("#047857", 2.0, name="veth")
UPLINK = LineStyle("#64748b", 1.5, name="uplink")
UNDERLAY = LineStyle("#334155", 4.0, name="physical network")
TUNNEL = LineStyle("#ea580c", 2.5, "dash", name="overlay tunnel")
SVC_LINK = LineStyle("#ca8a04", 1.0, "dot", name="service")


@dataclass(frozen=True)
class DiagramView:
    """What the viewer chose to see: expanded nodes, a namespace filter, a pod to centre, services on a path."""

    expanded: frozenset[str] = frozenset()
    namespace: str | None = None
    focus: str | None = None
    """A pod key to centre the view on (search result)."""
    services: frozenset[str] = frozenset()
    """Services always drawn individually (the ones on the current flow's path)."""
    overview: bool | None = None
    """None: decided by the cluster's size (`is_big`)."""
    path_nodes: frozenset[str] = frozenset()
    """Nodes a traced flow crosses: expanded in the overview like clicked ones."""
    path_pods: frozenset[str] = frozenset()
    inside: frozenset[str] = frozenset()
    """Pod keys whose shared network namespace — the pause container, the containers, `lo` — is drawn in
    presentation mode too (a container-to-container flow's pod)."""
    """Pod keys a traced flow passes through. When given, a path node (not also clicked open) with more than
    PATH_NODE_MAX_PODS pods draws only these and a `+N more pods` box that expands it when clicked."""
    groups: frozenset[str] = frozenset()
    """Groups of a grouped overview (`overview.NodeGroup.key`) opened into their node tiles."""


@dataclass
class Diagram:
    """A plotly figure (as a JSON-ready dict) and where every device is drawn."""

    figure: dict
    positions: dict[str, Point] = field(default_factory=dict)
    overview: bool = False
    detail_nodes: tuple[str, ...] = ()

    def to_plotly(self):
        """The same figure as a `plotly.graph_objects.Figure` (validated)."""
        import plotly.graph_objects as go

        return go.Figure(self.figure)


def position_key(node: str | None, netns: str, device: str) -> str:
    """Key of a drawn device in `Diagram.positions`: `node|netns|device` (netns canonical, see devices.netns_key)."""
    return f"{node or ''}|{netns}|{device}"


def is_big(cluster: Cluster) -> bool:
    return len(cluster.nodes) >= OVERVIEW_MIN_NODES or len(cluster.pods) >= OVERVIEW_MIN_PODS


def _vxlan_port(cluster: Cluster) -> int:
    return OVS_VXLAN_PORT if cluster.settings.overlay == Overlay.OVS_VXLAN else cluster.settings.vxlan_port


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated width in diagram units of `text` at font `size` (DejaVu Sans advance widths, rounded up; a size s
    is s / PIXELS_PER_UNIT units tall wherever it is drawn, assets/netviz.js fitFonts)."""
    em = sum(_FULL_WIDTH if unicodedata.east_asian_width(c) in "WF" else 0.34 if c in _NARROW else
             0.64 if c in _DIGITS else 0.98 if c in _WIDE else 0.72 if c.isupper() else 0.62 for c in text)
    return em * size / PIXELS_PER_UNIT * (BOLD_WIDTH if bold else 1.0)


def _fit(text: str, width: float, style: TextStyle, bold: bool = False) -> str:
    """`text` cut (with …) to what fits in `width` units at `style`'s size."""
    limit = len(text)
    while limit > 4 and _text_width(_short(text, limit), style.size, bold) > width:
        limit -= 1
    return _short(text, limit)


def _fit_pod_name(name: str, width: float, style: TextStyle) -> str:
    """A bold pod name cut by `_short_pod_name` to what fits in `width` units."""
    limit = len(name)
    while limit > 6 and _text_width(_short_pod_name(name, limit), style.size, True) > width:
        limit -= 1
    return _short_pod_name(name, limit)


def _address(svc: Service, width: float, style: TextStyle) -> str:
    """`VIP:port,port` with each port once (kube-dns's 53/UDP and 53/TCP are one 53), as many as fit in `width`
    units, `…` standing for the rest."""
    ports = list(dict.fromkeys(str(p.port) for p in svc.ports))
    text = str(svc.cluster_ip)
    for index, port in enumerate(ports):
        more = ",…" if index < len(ports) - 1 else ""
        candidate = f"{text}{':' if index == 0 else ','}{port}"
        if index > 0 and _text_width(candidate + more, style.size) > width:
            return text + ",…"
        text = candidate
    return text


def _short_pod_name(name: str, limit: int = POD_NAME_CHARS) -> str:
    """A pod name cut to `limit` characters keeping its end, the part that tells replicas apart: the ReplicaSet hash
    of `deploy-<hash>-<suffix>` gives way first, else the middle."""
    if len(name) <= limit:
        return name
    parts = name.split("-")
    if len(parts) >= 3 and parts[-2].isalnum() and any(c.isdigit() for c in parts[-2]):
        dropped = f"{'-'.join(parts[:-2])}-…-{parts[-1]}"
        if len(dropped) <= limit:
            return dropped
    tail = min(6, len(parts[-1]) + 1) if len(parts) > 1 else 6
    return name[: limit - 1 - tail] + "…" + name[-tail:]


def _visible_pods(cluster: Cluster, node: str, namespace: str | None) -> list[Pod]:
    return [p for p in cluster.pods_by_node.get(node, ()) if namespace in (None, "", p.namespace)]


SIDE_BY_SIDE_NARROW = 3
"""From this many detailed nodes side by side, a node with up to 4 pods puts them 2 per row: one row of 4 pods per
node makes a diagram about 4:1 that a 16:9 projector can only draw with unreadably small labels."""


def _pod_columns(count: int, nodes: int = 1) -> int:
    """Pods per row inside a node: up to 4 in one row (2 when `nodes` >= SIDE_BY_SIDE_NARROW), then a roughly
    1.6:1 grid."""
    if count <= 4:
        return max(1, min(count, 2) if nodes >= SIDE_BY_SIDE_NARROW else count)
    return max(3, math.ceil(math.sqrt(count * 1.6)))


@dataclass(frozen=True)
class _NodeFrame:
    node: Node
    x0: float
    width: float
    pod_rows: int
    pods: tuple[Pod, ...]
    columns: int
    more: int = 0
    """Pods of this node left out (`DiagramView.path_pods`), drawn as one `+N more pods` box."""


def _node_width(cols: int) -> float:
    """Wide enough for `cols` pod columns, and for kube-proxy and the overlay device side by side."""
    return max(max(2, cols) * (POD_W + POD_GAP) + 2 * NODE_PAD - POD_GAP + 0.4, 2 * DEVICE_W + 2 * NODE_PAD + 1.2)


def _draw_pod(canvas: Canvas, cluster: Cluster, pod: Pod, x0: float, top: float, positions: dict[str, Point],
              node_name: str, eth: str, inside: bool = False) -> Point:
    """A pod box with name, IP and containers (pause first). Returns its eth0 point (bottom centre). `inside`: the
    pause container, the containers and `lo` are drawn in presentation mode too, a little further apart."""
    down = pod.key in cluster.down_pods or not pod.ready
    canvas.box(x0, top - POD_H, x0 + POD_W, top, POD_DOWN_FILL if down else POD_FILL)
    cx = x0 + POD_W / 2
    canvas.text(cx, top - 0.3, f"<b>{_short_pod_name(pod.name)}</b>", N_LABEL)
    status = word("pod.down") if pod.key in cluster.down_pods else ("" if pod.ready else word("pod.not_ready"))
    canvas.text(cx, top - 0.65, f"{pod.pod_ip}{status}", N_DOWN if down else N_SMALL)
    names = pod.container_names
    shown = list(names[:MAX_CONTAINER_LINES])
    more = len(names) - len(shown)
    first, step = (0.92, INSIDE_STEP) if inside else (1.0, 0.34)
    lo = (x0 + POD_W - 0.35, top - first - step) if inside else (x0 + POD_W - 0.3, top - 1.17)
    for i, name in enumerate(shown):
        y = top - first - i * step
        label = "▢ pause" if i == 0 else f"▣ {_short(name, 20)}"
        canvas.text(cx, y, label, MINOR)
        positions[position_key(node_name, pod.key, name)] = (cx, y)
        if inside:  # presentation: the shared namespace at projector size, clear of `lo`
            canvas.text(cx - 0.25, y, _fit(label, POD_W - 0.9, P_SMALL), P_SMALL)
    if not pod.host_network:
        canvas.text(lo[0], lo[1], "lo", TextStyle(9, "#075985", mode="normal"))
        positions[position_key(node_name, pod.key, "lo")] = lo
        if inside:
            canvas.text(lo[0], lo[1], "lo", P_ETH)
    if more:
        canvas.text(cx, top - first - len(shown) * step, word("pod.more_containers", count=more), MINOR)
    # Presentation: name, IP and the app containers, larger (a box's whole width: no `lo` beside them).
    inner = POD_W - 0.12
    canvas.text(cx, top - (0.36 if inside else 0.4), f"<b>{_fit_pod_name(pod.name, inner, P_POD)}</b>", P_POD)
    if not inside:
        canvas.text(cx, top - 0.98, _fit(f"{pod.pod_ip}{status}", inner, P_TEXT), P_DOWN if down else P_TEXT)
    apps = [c.name for c in pod.containers]
    if apps and not inside:
        extra = f" +{len(apps) - 1}" if len(apps) > 1 else ""
        app = _fit(f"▣ {apps[0]}", inner - _text_width(extra, P_SMALL.size), P_SMALL)
        canvas.text(cx, top - 1.52, app + extra, P_SMALL)
    eth_point = (cx, top - POD_H)
    canvas.box(cx - 0.46, top - POD_H - 0.14, cx + 0.46, top - POD_H + 0.2, NIC_FILL)
    canvas.text(cx, top - POD_H + 0.03, eth, ETH_TEXT)
    canvas.text(cx, top - POD_H + 0.03, _fit(eth, 0.9, P_ETH), P_ETH)
    positions[position_key(node_name, pod.key, eth)] = eth_point
    positions[position_key(node_name, pod.key, "")] = (cx, top - 1.0)
    hover = word("pod.hover.host_network" if pod.host_network else "pod.hover", pod=pod.key, ip=pod.pod_ip,
                 node=node_name)
    policies = () if pod.host_network else selecting(cluster, pod)
    if policies:
        enforced = cluster.settings.enforces_policy
        canvas.box(x0 + 0.06, top - POD_H + 0.06, x0 + 0.86, top - POD_H + 0.38,
                   POLICY_FILL if enforced else POLICY_OFF_FILL)
        canvas.text(x0 + 0.46, top - POD_H + 0.22, word("pod.policies", count=len(policies)),
                    POLICY_TEXT if enforced else POLICY_OFF_TEXT)
        caveat = "" if enforced else word("pod.policies.not_enforced", plugin=cluster.settings.network_plugin)
        hover += "<br>" + word("pod.policies.hover", policies=", ".join(policies), enforced=caveat)
    canvas.target(cx, top - 0.5, f"pod:{pod.key}", hover)
    return eth_point


def selecting(cluster: Cluster, pod: Pod) -> tuple[str, ...]:
    """The NetworkPolicies (namespace/name) that select `pod`, for ingress or egress, in namespace/name order."""
    found = {p.key for direction in Direction for p in selecting_policies(cluster, pod, direction)}
    return tuple(p.key for p in cluster.network_policies if p.key in found)


def _draw_detail_node(canvas: Canvas, cluster: Cluster, frame: _NodeFrame, top: float, namespace: str | None,
                      positions: dict[str, Point], inside: frozenset[str] = frozenset()) -> float:
    """One node in detail. Returns the y of the node's bottom edge."""
    node, x0, width = frame.node, frame.x0, frame.width
    devices: NodeDevices = node_devices(cluster, node)
    veth_of = {d.pod: d for d in devices.pods}
    settings = cluster.settings
    pods_top = top - 0.75
    pods_bottom = pods_top - frame.pod_rows * (POD_H + 0.55) + 0.55
    bridge_y = pods_bottom - 1.05
    lower_y = bridge_y - 1.2
    nic_y = lower_y - 1.15
    bottom = nic_y - 0.35
    canvas.box(x0, bottom, x0 + width, top, NODE_FILL if node.ready else NODE_DOWN_FILL)
    ready = "" if node.ready else word("node.not_ready")
    canvas.text(x0 + width / 2, top - 0.32, f"<b>{node.name}</b>  podCIDR {node.pod_cidr}{ready}", N_TITLE)
    title = f"<b>{_short(node.name, 20)}</b>  {node.pod_cidr}{' NotReady' if not node.ready else ''}"
    canvas.text(x0 + width / 2, top - 0.36, title, P_TITLE)
    canvas.target(x0 + 0.4, top - 0.32, f"node:{node.name}", word("node.hover", node=node.name, ip=node.internal_ip))
    positions[position_key(node.name, HOST_NETNS, "")] = (x0 + width / 2, lower_y)

    # Bridge bar across the pods.
    bx0, bx1 = x0 + NODE_PAD, x0 + width - NODE_PAD
    canvas.box(bx0, bridge_y - 0.2, bx1, bridge_y + 0.2, BRIDGE_FILL)
    bridge_label = f"{devices.bridge}  {node.bridge_ip}/{node.pod_cidr.prefixlen}"
    if settings.overlay == Overlay.OVS_VXLAN:
        bridge_label += word("bridge.ovs_port")
    canvas.text(bx0 + 0.1, bridge_y, bridge_label, N_BRIDGE)
    canvas.text(bx0 + 0.1, bridge_y, f"{devices.bridge}  {node.bridge_ip}/{node.pod_cidr.prefixlen}", P_BRIDGE)
    positions[position_key(node.name, HOST_NETNS, devices.bridge)] = ((bx0 + bx1) / 2, bridge_y)

    pods = frame.pods
    cols = frame.columns
    hidden = len(cluster.pods_by_node.get(node.name, ())) - len(pods) - frame.more
    for index, pod in enumerate(pods):
        row, col = divmod(index, cols)
        px = x0 + NODE_PAD + 0.2 + col * (POD_W + POD_GAP)
        ptop = pods_top - row * (POD_H + 0.55)
        devs = veth_of.get(pod.key)
        eth = devs.eth if devs else "eth0"
        ex, ey = _draw_pod(canvas, cluster, pod, px, ptop, positions, node.name, eth, pod.key in inside)
        if pod.host_network:
            continue
        veth = devs.host_veth if devs else "veth"
        # veth pair: pod eth0 → host veth (on the bridge). A pod with another pod under it routes its veth through
        # the gap between the rows and down the gap between the columns, never across the pod below.
        vy = bridge_y + 0.2
        if index + cols < len(pods):
            vx, jog_y = px + POD_W + POD_GAP / 2, ey - 0.48
            canvas.line([(ex, ey - 0.14), (ex, jog_y), (vx, jog_y), (vx, vy)], VETH)
            canvas.text(ex + 0.45, ey - 0.3, _short(veth, 15), VETH_ROW_TEXT)
        else:
            vx = ex + 0.55
            canvas.line([(ex, ey - 0.14), (ex, vy + 0.25), (vx, vy + 0.25), (vx, vy)], VETH)
            canvas.text(vx + 0.05, (ey + vy) / 2 - 0.02, _short(veth, 15), VETH_TEXT)
        positions[position_key(node.name, HOST_NETNS, veth)] = (vx, vy + 0.12)
    if hidden:
        canvas.text(x0 + width / 2, top - 0.62, word("node.hidden", count=hidden), N_SMALL)
    if frame.more:
        row, col = divmod(len(pods), cols)
        px = x0 + NODE_PAD + 0.2 + col * (POD_W + POD_GAP)
        ptop = pods_top - row * (POD_H + 0.55)
        canvas.box(px, ptop - POD_H, px + POD_W, ptop, MORE_FILL)
        canvas.text(px + POD_W / 2, ptop - 0.75, f"<b>{word('node.more_pods', count=frame.more)}</b>", LABEL)
        canvas.text(px + POD_W / 2, ptop - 1.2, word("node.show_all"), SMALL)
        canvas.target(px + POD_W / 2, ptop - POD_H / 2, f"node:{node.name}",
                      word("node.more_pods.hover", node=node.name, count=frame.more))

    # kube-proxy with its iptables or IPVS box, the routing table, the overlay device.
    mode = settings.kube_proxy_mode
    kx0 = x0 + NODE_PAD
    canvas.box(kx0, lower_y - 0.45, kx0 + DEVICE_W, lower_y + 0.45, PROXY_FILL)
    rules = {KubeProxyMode.IPTABLES: "iptables: KUBE-SERVICES", KubeProxyMode.IPVS: "IPVS: kube-ipvs0",
             KubeProxyMode.USERSPACE: word("proxy.userspace"), KubeProxyMode.NFTABLES: word("proxy.nftables")}[mode]
    canvas.text(kx0 + DEVICE_W / 2, lower_y + 0.17, f"<b>kube-proxy</b> ({mode})", N_PROXY)
    canvas.text(kx0 + DEVICE_W / 2, lower_y - 0.2, rules, N_PROXY)
    canvas.text(kx0 + DEVICE_W / 2, lower_y + 0.2, "<b>kube-proxy</b>", P_PROXY)
    canvas.text(kx0 + DEVICE_W / 2, lower_y - 0.22, str(mode), P_PROXY_SMALL)
    proxy_point = (kx0 + DEVICE_W / 2, lower_y)
    for name in ("kube-proxy", "iptables", "nftables", "netfilter", "KUBE-SERVICES", "ipvs", "userspace"):
        positions[position_key(node.name, HOST_NETNS, name)] = proxy_point
    if devices.ipvs:
        positions[position_key(node.name, HOST_NETNS, devices.ipvs)] = proxy_point
    route_x = x0 + width / 2
    canvas.text(route_x, lower_y + 0.62, word("routes"), MINOR)
    positions[position_key(node.name, HOST_NETNS, "route")] = (route_x, lower_y)

    nic_x = x0 + width / 2
    canvas.box(nic_x - NIC_W / 2, nic_y - 0.22, nic_x + NIC_W / 2, nic_y + 0.22, NIC_FILL)
    canvas.text(nic_x, nic_y, f"{devices.nic}  {node.internal_ip}", N_NIC)
    canvas.text(nic_x, nic_y, _fit(f"{devices.nic}  {node.internal_ip}", NIC_W - 0.1, P_NIC), P_NIC)
    positions[position_key(node.name, HOST_NETNS, devices.nic)] = (nic_x, nic_y)
    canvas.line([((bx0 + bx1) / 2, bridge_y - 0.2), (nic_x, nic_y + 0.22)], UPLINK)

    overlay_point: Point | None = None
    if devices.overlay:
        ox = x0 + width - NODE_PAD - DEVICE_W / 2
        canvas.box(ox - DEVICE_W / 2, lower_y - 0.45, ox + DEVICE_W / 2, lower_y + 0.45, OVERLAY_FILL)
        if settings.overlay == Overlay.OVS_VXLAN:
            canvas.text(ox, lower_y + 0.17, f"<b>OVS {devices.overlay}</b>", N_OVERLAY)
            canvas.text(ox, lower_y - 0.2, word("overlay.ovs_ports", port=OVS_VXLAN_PORT), N_OVERLAY)
            canvas.text(ox, lower_y + 0.2, f"<b>OVS {devices.overlay}</b>", P_OVERLAY)
            canvas.text(ox, lower_y - 0.22, f"VXLAN, UDP {OVS_VXLAN_PORT}", P_OVERLAY_SMALL)
            for port in devices.tunnel_ports:
                positions[position_key(node.name, HOST_NETNS, port)] = (ox, lower_y)
        else:
            canvas.text(ox, lower_y + 0.17, f"<b>{devices.overlay}</b>  {node.vtep_ip}/32", N_OVERLAY)
            canvas.text(ox, lower_y - 0.2, f"VNI {settings.vxlan_vni}, UDP {settings.vxlan_port}", N_OVERLAY)
            canvas.text(ox, lower_y + 0.2, f"<b>{devices.overlay}</b>", P_OVERLAY)
            canvas.text(ox, lower_y - 0.22, f"VNI {settings.vxlan_vni} · UDP {settings.vxlan_port}", P_OVERLAY_SMALL)
        overlay_point = (ox, lower_y)
        positions[position_key(node.name, HOST_NETNS, devices.overlay)] = overlay_point
        canvas.line([(ox, lower_y - 0.45), (ox, nic_y), (nic_x + NIC_W / 2, nic_y)], UPLINK)
        if settings.overlay == Overlay.OVS_VXLAN:
            canvas.line([(bx1 - 0.5, bridge_y - 0.2), (ox, lower_y + 0.45)], UPLINK)
    positions[f"{node.name}|overlay-drop"] = (overlay_point[0] if overlay_point else nic_x, bottom)
    return bottom


BIG_TEXT_GROWTH = 1.25
"""A big diagram's labels are drawn at the browser's smallest font scale (assets/netviz.js FONT_MIN), larger than
its geometry: texts fitted into boxes there leave this much room."""


def _draw_service(canvas: Canvas, cluster: Cluster, svc: Service, x0: float, y0: float,
                  positions: dict[str, Point], big: bool = False) -> None:
    dns = svc.cluster_ip is not None and svc.cluster_ip == cluster.settings.cluster_dns_ip
    canvas.box(x0, y0, x0 + SVC_W, y0 + SVC_H, DNS_FILL if dns else SVC_FILL)
    cx = x0 + SVC_W / 2
    inner = (SVC_W - 0.2) / (BIG_TEXT_GROWTH if big else 1.0)
    suffix = " (DNS)" if dns else ""
    if _text_width(svc.name + suffix, LABEL.size, True) > inner:
        suffix = ""  # the box's colour still says DNS
    name = _fit(svc.name, inner - _text_width(suffix, LABEL.size), LABEL, True)
    if not big:
        canvas.text(cx, y0 + SVC_H - 0.25, f"<b>{name}</b>{suffix}", N_LABEL)
        canvas.text(cx, y0 + SVC_H - 0.53, f"{svc.type}", N_SVC)
    lines: list[str] = []
    if svc.type == ServiceType.EXTERNAL_NAME:
        lines.append(f"→ {svc.external_name or '?'}")
    elif svc.cluster_ip is None:
        lines.append("headless")
    else:
        lines.append(_address(svc, inner, SVC_TEXT))
    node_ports = list(dict.fromkeys(str(p.node_port) for p in svc.ports if p.node_port))
    if node_ports:
        lines.append("NodePort " + ",".join(node_ports))
    extra = [f"LB {ip}" for ip in svc.load_balancer_ips[:1]] + [f"extIP {ip}" for ip in svc.external_ips[:1]]
    lines += extra
    if big:  # an overview's box: two legible lines (MIN_LABEL_PX), as the namespaces' boxes beside it
        canvas.text(cx, y0 + SVC_H / 2 + 0.3, f"<b>{_fit(svc.name, SVC_W - 0.2, NS_TITLE, True)}</b>", NS_TITLE)
        canvas.text(cx, y0 + SVC_H / 2 - 0.3, _fit(lines[0], SVC_W - 0.2, NS_COUNT), NS_COUNT)
    else:
        for i, line in enumerate(lines[:3]):
            canvas.text(cx, y0 + SVC_H - 0.81 - i * 0.27, _fit(line, inner, SVC_TEXT), N_SVC)
    # Presentation: the name, the address, and the NodePort / LB / external address if any, else the type.
    inner = (SVC_W - 0.12) / (BIG_TEXT_GROWTH if big else 1.0)
    canvas.text(cx, y0 + SVC_H - 0.3, f"<b>{_fit(svc.name, inner, P_SVC_NAME, True)}</b>", P_SVC_NAME)
    first = _address(svc, inner, P_SVC) if svc.cluster_ip is not None else lines[0]
    canvas.text(cx, y0 + SVC_H - 0.8, _fit(first, inner, P_SVC), P_SVC)
    canvas.text(cx, y0 + SVC_H - 1.22, _fit(lines[1] if len(lines) > 1 else str(svc.type), inner, P_SVC), P_SVC)
    point = (cx, y0 + SVC_H / 2)
    positions[f"svc|{svc.key}"] = point
    if svc.cluster_ip is not None:
        positions[f"vip|{svc.cluster_ip}"] = point
    for ipaddr in (*svc.load_balancer_ips, *svc.external_ips):
        positions.setdefault(f"vip|{ipaddr}", point)
    canvas.target(cx, y0 + SVC_H / 2, f"svc:{svc.key}", word("service.hover", service=svc.key, type=svc.type))


MAX_UNKNOWN_HOSTS = 4
"""At most this many outside hosts of undeclared ExternalName targets are drawn."""


def _unknown_hosts(cluster: Cluster) -> list:
    """The outside hosts ExternalName services point at that the cluster does not declare — drawn as
    `NAME (address unknown)`, where their traces end (services.unknown_host)."""
    from webapp.engine import services

    found = {}
    for svc in cluster.services:
        if svc.type == ServiceType.EXTERNAL_NAME and svc.external_name and \
                services.external_name_target(cluster, svc) is None:
            host = services.unknown_host(cluster, svc.external_name)
            found.setdefault(host.name, host)
    return list(found.values())[:MAX_UNKNOWN_HOSTS]


def _services_band(canvas: Canvas, cluster: Cluster, view: DiagramView, x0: float, width: float, bottom: float,
                   positions: dict[str, Point], big: bool) -> None:
    services = [s for s in cluster.services if view.namespace in (None, "", s.namespace)]
    detailed = services if (not big and len(services) <= MAX_DETAIL_SERVICES) else \
        [s for s in services if s.key in view.services or s.cluster_ip == cluster.settings.cluster_dns_ip]
    aggregated: dict[str, int] = {}
    shown = {s.key for s in detailed}
    for svc in services:
        if svc.key not in shown:
            aggregated[svc.namespace] = aggregated.get(svc.namespace, 0) + 1
    per_row = max(1, int((width + SVC_GAP) // (SVC_W + SVC_GAP)))
    cells = len(detailed) + len(aggregated)
    rows = max(1, math.ceil(cells / per_row))
    band_top = bottom + 0.5 + rows * (SVC_H + SVC_GAP) + 0.2
    canvas.box(x0, bottom + 0.3, x0 + width, band_top, SVC_BAND)
    canvas.text(x0 + 1.3, band_top - 0.2, f"<b>{word('services')}</b>", N_BAND)
    canvas.text(x0 + 0.2, band_top - 0.2, f"<b>{word('services')}</b>", P_BAND)
    for index in range(cells):
        row, col = divmod(index, per_row)
        sx = x0 + 0.2 + col * (SVC_W + SVC_GAP)
        sy = bottom + 0.5 + (rows - 1 - row) * (SVC_H + SVC_GAP)
        if index < len(detailed):
            _draw_service(canvas, cluster, detailed[index], sx, sy, positions, big)
        else:
            namespace = list(aggregated)[index - len(detailed)]
            canvas.box(sx, sy, sx + SVC_W, sy + SVC_H, SVC_FILL)
            count = aggregated[namespace]
            # Large enough to stay over an overview's 10 px least label size (MIN_LABEL_PX) at the smallest scale.
            canvas.text(sx + SVC_W / 2, sy + SVC_H / 2 + 0.3,
                        f"<b>{_fit(namespace, SVC_W - 0.2, NS_TITLE, True)}</b>", NS_TITLE)
            count_text = word("services.count.one") if count == 1 else word("services.count", count=count)
            canvas.text(sx + SVC_W / 2, sy + SVC_H / 2 - 0.3, _fit(count_text, SVC_W - 0.2, NS_COUNT), NS_COUNT)
            canvas.target(sx + SVC_W / 2, sy + SVC_H / 2, f"ns:{namespace}",
                          word("services.namespace.hover", namespace=namespace, count=aggregated[namespace]))


def _pod_count(count: int) -> str:
    return word("tile.pods.one") if count == 1 else word("tile.pods", count=count)


def _tile_health(ready: bool, not_ready: int) -> str:
    """A tile's third line: what is wrong with the node, if anything (fits a tile at TILE_TEXT's size)."""
    if not ready:
        return "✖ NotReady"
    return word("tile.not_ready", count=not_ready) if not_ready else ""


def _draw_tiles(canvas: Canvas, cluster: Cluster, nodes: list[Node], namespace: str | None, x0: float, top: float,
                width: float, positions: dict[str, Point]) -> float:
    """Collapsed nodes as tiles (pod count, health). Returns the bottom y."""
    per_row = max(1, int((width + TILE_GAP) // (TILE_W + TILE_GAP)))
    rows = math.ceil(len(nodes) / per_row) if nodes else 0
    for index, node in enumerate(nodes):
        row, col = divmod(index, per_row)
        tx = x0 + col * (TILE_W + TILE_GAP)
        ty = top - row * (TILE_H + TILE_GAP)
        pods = _visible_pods(cluster, node.name, namespace)
        not_ready = sum(1 for p in pods if not p.ready)
        canvas.box(tx, ty - TILE_H, tx + TILE_W, ty, health_style(node_health(cluster, (node.name,), namespace)))
        dark = not node.ready  # white on the NotReady node's dark red
        style = TILE_DARK_TEXT if dark else TILE_TEXT
        canvas.text(tx + TILE_W / 2, ty - 0.45, f"<b>{_fit(node.name, TILE_W - 0.2, TILE_TEXT, True)}</b>", style)
        canvas.text(tx + TILE_W / 2, ty - 1.0, _fit(_pod_count(len(pods)), TILE_W - 0.2, TILE_TEXT), style)
        health = _tile_health(node.ready, not_ready)
        if health:
            canvas.text(tx + TILE_W / 2, ty - 1.55, _fit(health, TILE_W - 0.2, TILE_TEXT),
                        TILE_DARK_TEXT if dark else TILE_BAD_TEXT)
        center = (tx + TILE_W / 2, ty - TILE_H / 2)
        positions[position_key(node.name, HOST_NETNS, "")] = center
        canvas.target(center[0], center[1], f"node:{node.name}",
                      word("tile.hover", node=node.name, ip=node.internal_ip, pods=_pod_count(len(pods)),
                           health=(word("tile.hover.health", health=health[2:]) if node.ready else
                                   word("tile.hover.node_not_ready")) if health else ""))
    return top - rows * (TILE_H + TILE_GAP)


def _group_lines(cluster: Cluster, group: NodeGroup, namespace: str | None) -> tuple[str, str, str, str]:
    """A group tile's title (with its name range), counts, health line and tooltip."""
    health = node_health(cluster, group.nodes, namespace)
    counts = word("group.counts", nodes=health.nodes, pods=health.pods)
    percent = f"{health.share * 100:.0f}" if health.share >= 0.01 or not health.pods_not_ready else "<1"
    unready = word("group.unready", percent=percent) if health.pods_not_ready else word("group.all_ready")
    if health.nodes_not_ready:
        unready = word("group.nodes_not_ready", count=health.nodes_not_ready) + " · " + unready
    hover = word("group.hover", title=group.label, nodes=health.nodes, pods=health.pods,
                 unready=health.pods_not_ready, percent=percent, not_ready=health.nodes_not_ready)
    return group.label, counts, unready, hover


def _draw_groups(canvas: Canvas, cluster: Cluster, nodes: list[Node], view: DiagramView, top: float,
                 width: float, positions: dict[str, Point]) -> float:
    """A grouped overview: closed groups as tiles (click: open), then each open group's node tiles under a header
    (click: close). Returns the bottom y."""
    shown = {n.name for n in nodes}
    groups = [g for g in node_groups(cluster) if any(n in shown for n in g.nodes)]
    closed = [g for g in groups if g.key not in view.groups]
    columns = max(1, min(GROUP_COLUMNS, len(closed)))
    y = top
    for index, group in enumerate(closed):
        row, col = divmod(index, columns)
        gx = col * (GROUP_W + GROUP_GAP)
        gy = top - row * (GROUP_H + GROUP_GAP)
        canvas.box(gx, gy - GROUP_H, gx + GROUP_W, gy, health_style(node_health(cluster, group.nodes, view.namespace)))
        _, _, _, hover = _group_lines(cluster, group, view.namespace)
        health = node_health(cluster, group.nodes, view.namespace)
        inner = GROUP_W - 0.3
        # At most 4 lines (the node count is in the range and the tooltip): at the browser's smallest scale a
        # 10 px line, Chinese too, needs about 0.75 units of the tile.
        lines = [(f"<b>{_fit(group.title, inner, GROUP_TITLE, True)}</b>", GROUP_TITLE)]
        if group.span:
            lines.append((_fit(group.span, inner, GROUP_TEXT), GROUP_TEXT))
        percent = f"{health.share * 100:.0f}" if health.share >= 0.01 or not health.pods_not_ready else "<1"
        pods = (word("group.pods_unready", pods=health.pods, percent=percent) if health.pods_not_ready
                else word("group.pods_ready", pods=health.pods))
        lines.append((_fit(pods, inner, GROUP_TEXT), GROUP_TEXT))
        if health.nodes_not_ready:
            lines.append((_fit(word("group.nodes_not_ready", count=health.nodes_not_ready), inner, GROUP_BAD),
                          GROUP_BAD))
        step = (GROUP_H - 0.3) / GROUP_LINES
        offset = (GROUP_LINES - len(lines)) * step / 2
        for number, (line, style) in enumerate(lines):
            canvas.text(gx + GROUP_W / 2, gy - 0.15 - offset - step * (number + 0.5), line, style)
        center = (gx + GROUP_W / 2, gy - GROUP_H / 2)
        positions[f"group|{group.key}"] = center
        for name in group.nodes:
            positions.setdefault(position_key(name, HOST_NETNS, ""), center)
        canvas.target(center[0], center[1], f"group:{group.key}", hover)
        y = gy - GROUP_H - GROUP_GAP
    for group in groups:
        if group.key not in view.groups:
            continue
        title, counts, unready, hover = _group_lines(cluster, group, view.namespace)
        y -= 0.4
        canvas.text(0.0, y - 0.3, f"<b>▾ {title}</b> · {counts} · {unready}", GROUP_HEADER)
        canvas.target(0.4, y - 0.3, f"group:{group.key}", word("group.close", title=title))
        members = [n for n in nodes if n.name in set(group.nodes)]
        y = _draw_tiles(canvas, cluster, members, view.namespace, 0.0, y - 0.9, width, positions)
    return y


def build_diagram(cluster: Cluster, view: DiagramView = DiagramView()) -> Diagram:
    """The whole diagram of `cluster` as seen through `view`."""
    canvas = Canvas()
    positions: dict[str, Point] = {}
    big = is_big(cluster) if view.overview is None else view.overview
    shown = view.expanded | view.path_nodes
    if big:
        detail = [n for n in cluster.nodes if n.name in shown]
        tiles = [n for n in cluster.nodes if n.name not in shown]
    else:
        detail, tiles = list(cluster.nodes), []

    frames: list[_NodeFrame] = []
    x = 0.0
    for node in detail:
        pods = tuple(_visible_pods(cluster, node.name, view.namespace))
        more = 0
        if view.path_pods and node.name not in view.expanded and len(pods) > PATH_NODE_MAX_PODS:
            kept = tuple(p for p in pods if p.key in view.path_pods)
            pods, more = kept, len(pods) - len(kept)
        cells = len(pods) + (1 if more else 0)
        cols = _pod_columns(cells, len(detail))
        width = _node_width(cols)
        frames.append(_NodeFrame(node, x, width, max(1, math.ceil(cells / cols)), pods, cols, more))
        x += width + NODE_GAP
    rows = max((f.pod_rows for f in frames), default=1)
    frames = [dataclasses.replace(f, pod_rows=rows) for f in frames]
    detail_width = max(x - NODE_GAP, 0.0)
    if tiles and is_grouped(cluster):
        tile_width = max(detail_width, GROUP_COLUMNS * (GROUP_W + GROUP_GAP) - GROUP_GAP)
    else:
        tile_width = max(detail_width, 12.0 if not tiles else
                         min(60.0, math.sqrt(len(tiles)) * 1.5 * (TILE_W + TILE_GAP)))
    width = max(detail_width, tile_width if tiles else 0.0, 8.0)

    top = 0.0
    bottom = top
    for frame in frames:
        bottom = min(bottom, _draw_detail_node(canvas, cluster, frame, top, view.namespace, positions, view.inside))
    underlay_y = bottom - 1.3
    tunnel_y = bottom - 0.6

    # The physical network underneath and the overlay tunnel between nodes.
    canvas.line([(0.0, underlay_y), (width, underlay_y)], UNDERLAY)
    network = cluster.settings.node_network
    network_label = word("network.cidr", cidr=network) if network else word("network")
    if big:
        canvas.text(width / 2, underlay_y - 0.4, network_label, OVERVIEW_NETWORK)
    else:
        canvas.text(width / 2, underlay_y - 0.3, network_label, TextStyle(11, "#334155", mode="normal"))
        canvas.text(width / 2, underlay_y - 0.36, network_label, P_NETWORK)
    for frame in frames:
        nic = positions.get(position_key(frame.node.name, HOST_NETNS, node_devices(cluster, frame.node).nic))
        if nic:
            canvas.line([(nic[0], nic[1] - 0.22), (nic[0], underlay_y)], UPLINK)
            positions[f"wire|{frame.node.name}"] = (nic[0], underlay_y)
    drops = [positions[f"{f.node.name}|overlay-drop"] for f in frames if f"{f.node.name}|overlay-drop" in positions]
    if len(drops) >= 2 and cluster.settings.overlay != Overlay.FLANNEL_HOST_GW:
        canvas.line([(drops[0][0], tunnel_y), (drops[-1][0], tunnel_y)], TUNNEL)
        canvas.text(drops[0][0] + 2.6, tunnel_y + 0.22,
                    word("tunnel", vni=cluster.settings.vxlan_vni, port=_vxlan_port(cluster)),
                    TextStyle(10, "#c2410c", mode="normal"))
        canvas.text(drops[0][0] + 0.15, tunnel_y + 0.26, word("tunnel.present", port=_vxlan_port(cluster)),
                    dataclasses.replace(P_TUNNEL, position="middle right"))
        for px, _ in drops:
            canvas.line([(px, tunnel_y + 0.6), (px, tunnel_y)], TUNNEL)
        # Where an encapsulated packet is drawn: on the tunnel line, under its node's tunnel end.
        for frame in frames:
            drop = positions.get(f"{frame.node.name}|overlay-drop")
            if drop is not None:
                positions[f"tunnel|{frame.node.name}"] = (drop[0], tunnel_y)
        positions["tunnel|"] = ((drops[0][0] + drops[-1][0]) / 2, tunnel_y)

    tiles_bottom = underlay_y
    grouped = bool(tiles) and is_grouped(cluster)
    if grouped:
        canvas.text(width / 2, underlay_y - 2.2, word("overview.groups", count=len(cluster.nodes)), GROUP_TITLE)
        tiles_bottom = _draw_groups(canvas, cluster, tiles, view, underlay_y - 2.8, width, positions)
    elif tiles:
        canvas.text(width / 2, underlay_y - 2.2, _fit(word("overview", count=len(tiles)), width, OVERVIEW_NETWORK),
                    OVERVIEW_NETWORK)
        tiles_bottom = _draw_tiles(canvas, cluster, tiles, view.namespace, 0.0, underlay_y - 2.55, width, positions)
    for node in tiles:
        tile = positions[position_key(node.name, HOST_NETNS, "")]
        positions[f"wire|{node.name}"] = tile

    # The outside world, under the physical network: external hosts from the left, the cloud LB on the right.
    ext_y = underlay_y - 1.25
    unknown = _unknown_hosts(cluster)
    hosts = [*(cluster.external_hosts or [None]), *unknown]
    for offset, host in enumerate(hosts):
        hx = offset * (EXT_W + 0.4) + EXT_W / 2
        canvas.box(hx - EXT_W / 2, ext_y - 0.55, hx + EXT_W / 2, ext_y + 0.55, EXT_FILL)
        title = word("external.client") if offset == 0 else host.dns_name or host.name
        about = (word("external.unknown") if host in unknown else f"{host.name} {host.ip}"
                 if host and offset == 0 else str(host.ip) if host else word("external.internet"))
        if big:  # an overview's boxes hold one legible line (MIN_LABEL_PX)
            canvas.text(hx, ext_y, f"<b>{_fit(title, EXT_W - 0.2, OVERVIEW_LABEL, True)}</b>", OVERVIEW_LABEL)
        else:
            canvas.text(hx, ext_y + 0.22, f"<b>{_fit(title, EXT_W - 0.2, LABEL, True)}</b>", N_LABEL)
            canvas.text(hx, ext_y - 0.18, _fit(about, EXT_W - 0.2, SMALL), N_SMALL)
            canvas.text(hx, ext_y + 0.2, f"<b>{_fit(title, EXT_W - 0.2, P_NAME, True)}</b>", P_NAME)
            canvas.text(hx, ext_y - 0.25, _fit(about, EXT_W - 0.2, P_SMALL), P_SMALL)
        canvas.line([(hx, ext_y + 0.55), (hx, underlay_y)], UPLINK)
        if offset == 0:
            positions["external|client"] = (hx, ext_y)
        if host is None:
            continue
        for alias in {host.name, str(host.ip), host.dns_name or host.name}:
            positions[f"external|{alias}"] = (hx, ext_y)
        canvas.target(hx, ext_y, f"ext:{host.name}", word("external.hover", host=host.name, ip=host.ip))
    lb_ips = [str(ip) for s in cluster.services for ip in s.load_balancer_ips]
    lx = width - EXT_W / 2
    canvas.box(lx - EXT_W / 2, ext_y - 0.55, lx + EXT_W / 2, ext_y + 0.55, LB_FILL)
    lb_detail = ", ".join(lb_ips[:2]) if lb_ips else word("lb.no_ip")
    modes = {str(s.load_balancer_mode or cluster.settings.load_balancer_mode) for s in cluster.services
             if s.load_balancer_ips}
    # How the load balancer reaches a node — the difference between the two models — on a line of its own.
    lb_mode = (word(f"lb.mode.{modes.pop()}") if len(modes) == 1 else word("lb.mode.mixed")) if modes else ""
    up = 0.08 if lb_mode else 0.0
    if big:
        canvas.text(lx, ext_y, f"<b>{_fit(word('lb.present'), EXT_W - 0.2, OVERVIEW_LABEL, True)}</b>",
                    OVERVIEW_LABEL)
    else:
        canvas.text(lx, ext_y + 0.22 + up, f"<b>{word('lb')}</b>", N_LABEL)
        canvas.text(lx, ext_y - 0.18 + up, _fit(lb_detail, EXT_W - 0.2, SMALL), N_SMALL)
        canvas.text(lx, ext_y + 0.2, f"<b>{word('lb.present')}</b>", P_NAME)
        canvas.text(lx, ext_y - 0.25, _fit(lb_detail, EXT_W - 0.2, P_SMALL), P_SMALL)
    if lb_mode and not big:  # normal labels only: at projector size a third line does not fit the box
        canvas.text(lx, ext_y - 0.4, _fit(lb_mode, EXT_W - 0.2, SMALL), N_SMALL)
    canvas.line([(lx, ext_y + 0.55), (lx, underlay_y)], UPLINK)
    positions["external|loadbalancer"] = (lx, ext_y)
    positions["wire|"] = (width / 2, underlay_y)

    _services_band(canvas, cluster, view, 0.0, width, top, positions, big)

    x_span = max(canvas.max_x - canvas.min_x, 1.0)
    y_span = max(canvas.max_y - min(canvas.min_y, tiles_bottom), 1.0)
    font_scale = max(0.72, min(1.15, TARGET_PIXELS / x_span / PIXELS_PER_UNIT,
                               TARGET_HEIGHT_PIXELS / y_span / PIXELS_PER_UNIT))
    traces = canvas.traces(font_scale)
    traces += [
        # The path walked so far (assets/netviz.js draws it up to the current hop; it stays when playback ends).
        {"type": "scatter", "mode": "lines", "x": [None], "y": [None], "name": "trail", "hoverinfo": "skip",
         "showlegend": False, "line": {"width": 5, "color": "rgba(37,99,235,0.45)"}},
        {"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": "highlight", "hoverinfo": "skip",
         "showlegend": False, "marker": {"size": 34, "symbol": "square-open", "color": "#f59e0b",
                                         "line": {"width": 4, "color": "#f59e0b"}}},
        {"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": "envelope", "hoverinfo": "skip",
         "showlegend": False, "marker": {"size": 30, "symbol": "square", "color": "rgba(234,88,12,0.35)",
                                         "line": {"width": 2.5, "color": "#c2410c"}}},
        {"type": "scatter", "mode": "markers+text", "x": [None], "y": [None], "name": "packet", "hoverinfo": "skip",
         "showlegend": False, "text": [""], "textposition": "top center",
         "textfont": {"size": 14, "color": "#1d4ed8"},
         "marker": {"size": 18, "symbol": "circle", "color": "#2563eb", "line": {"width": 2, "color": "#ffffff"}}},
    ]
    pad = 0.6
    x_range = [round(canvas.min_x - pad, 2), round(canvas.max_x + pad, 2)]
    y_range = [round(min(canvas.min_y, tiles_bottom) - pad, 2), round(canvas.max_y + pad, 2)]
    if view.focus:
        point = _focus_point(cluster, view.focus, positions)
        if point:
            x_range = [round(point[0] - 12, 2), round(point[0] + 12, 2)]
            y_range = [round(point[1] - 7, 2), round(point[1] + 7, 2)]
    figure = {
        "data": traces,
        "layout": {
            "shapes": canvas.shapes,
            "xaxis": {"visible": False, "range": x_range, "fixedrange": False},
            "yaxis": {"visible": False, "range": y_range, "fixedrange": False},
            "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
            "plot_bgcolor": "#ffffff",
            "paper_bgcolor": "#ffffff",
            "hovermode": "closest",
            "dragmode": "pan",
            "showlegend": False,
            "uirevision": f"{cluster.name}|{view.focus}|{','.join(n.name for n in detail)}|{','.join(sorted(view.groups))}",
            # The browser rescales the labels to the plot's real size: a font of size s is drawn at
            # s / font_scale * (pixels per diagram unit) / pixels_per_unit (assets/netviz.js, fitFonts).
            "meta": {"font_scale": round(font_scale, 4), "pixels_per_unit": PIXELS_PER_UNIT,
                     **({"min_label_px": MIN_LABEL_PX} if big else {})},
        },
    }
    rounded = {key: (round(x, 3), round(y, 3)) for key, (x, y) in positions.items()}
    return Diagram(figure, rounded, big, tuple(n.name for n in detail))


def _focus_point(cluster: Cluster, focus: str, positions: dict[str, Point]) -> Point | None:
    """Where the searched thing is drawn: a pod (`ns/name`), `node:NAME` or `svc:ns/name`."""
    if focus.startswith("node:"):
        return positions.get(position_key(focus[5:], HOST_NETNS, ""))
    if focus.startswith("svc:"):
        return positions.get(f"svc|{focus[4:]}")
    pod = cluster.pod_by_key.get(focus)
    return positions.get(position_key(pod.node, focus, "")) if pod else None
