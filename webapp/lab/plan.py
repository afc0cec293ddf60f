"""The lab plan: every namespace the lab makes, with its devices, addresses, routes, neighbours, FDB
entries, sysctls and iptables rules — typed tables, rendered to `ip`/`bridge` batch commands.

The plan is filled from the engine's datapath tables (webapp.lab.from_engine); tests also write small
plans by hand. Nothing here runs a command.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from webapp.lab.netns import IFNAMSIZ

DEFAULT_LAB_ID = "0"
MAX_LAB_ID = 12
"""Namespace names may be long (they are file names); device names never carry the lab id."""
MAX_NETNS_NAME = 64
"""Longest namespace name the lab makes (a file under /run/netns; NAME_MAX is 255)."""
NETNS_NAME = re.compile(r"knv[A-Za-z0-9]{1,12}-[a-z0-9][a-z0-9._-]*")
"""Every lab namespace name: the lab prefix, then lower-case letters, digits, '.', '-' and '_' only."""
DEVICE_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.-]{1,15}")
"""A device name `ip` takes as one word (at most IFNAMSIZ characters; not `.` or `..`)."""
MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
"""A MAC address as the plan writes it."""
_READABLE = re.compile(r"[a-z0-9][a-z0-9.-]*")
"""A node name or pod key part that can stand in a namespace name as it is."""


def bounded_name(head: str, name: str, longest: int = MAX_NETNS_NAME) -> str:
    """`head + name` when `name` is plain (lower-case letters, digits, '.', '-') and the result fits `longest`;
    else `head + '_' +` a hash of `name` ('_' is in no Kubernetes name, so the two forms never meet)."""
    if _READABLE.fullmatch(name) and len(head) + len(name) <= longest:
        return head + name
    return f"{head}_{hashlib.sha256(name.encode()).hexdigest()[:20]}"


class PlanError(ValueError):
    """A plan the kernel would refuse (a device name too long, a veth without its peer)."""


def lab_prefix(lab_id: str) -> str:
    """The prefix of every namespace of one lab: `knv<id>-`."""
    if not lab_id or not all(c.isascii() and c.isalnum() for c in lab_id) or len(lab_id) > MAX_LAB_ID:
        raise PlanError(f"lab id {lab_id!r} must be 1 to {MAX_LAB_ID} letters or digits")
    return f"knv{lab_id}-"


@dataclass(frozen=True)
class LabNames:
    """Namespace names of one lab. Kubernetes namespaces have no dots, so `<ns>.<pod>` is unambiguous."""

    lab_id: str

    @property
    def prefix(self) -> str:
        return lab_prefix(self.lab_id)

    def node(self, node: str) -> str:
        return bounded_name(f"{self.prefix}node-", node)

    def pod(self, pod_key: str) -> str:
        namespace, _, name = pod_key.partition("/")
        return bounded_name(f"{self.prefix}pod-", f"{namespace}.{name}")

    @property
    def underlay(self) -> str:
        return f"{self.prefix}underlay"

    @property
    def external(self) -> str:
        return f"{self.prefix}external"

    def for_engine(self, engine_netns: str) -> str:
        """The lab namespace of an engine namespace: `pod/NS/NAME`, `host/NODE` or `external`."""
        kind, _, rest = engine_netns.partition("/")
        if kind == "pod":
            return self.pod(rest)
        if kind == "host":
            return self.node(rest)
        if engine_netns == "external":
            return self.external
        raise ValueError(f"no lab namespace for engine namespace {engine_netns!r}")


@dataclass(frozen=True)
class VxlanParams:
    vni: int
    port: int
    local: str | None = None
    dev: str | None = None
    learning: bool = False


@dataclass(frozen=True)
class LabDevice:
    """One device in one namespace. A veth names its peer (namespace and name); the pair is made once."""

    name: str
    kind: str
    """`veth`, `bridge`, `vxlan` or `loopback`."""
    mtu: int | None = None
    mac: str | None = None
    master: str | None = None
    peer_netns: str | None = None
    peer: str | None = None
    addresses: tuple[str, ...] = ()
    """CIDR strings, e.g. `10.244.1.1/24`."""
    vxlan: VxlanParams | None = None
    hairpin: bool = False


@dataclass(frozen=True)
class LabRoute:
    dst: str
    dev: str | None = None
    via: str | None = None
    src: str | None = None
    scope: str | None = None
    onlink: bool = False

    def ip_args(self) -> str:
        words = [self.dst]
        if self.via:
            words += ["via", self.via]
        if self.dev:
            words += ["dev", self.dev]
        if self.onlink:
            words.append("onlink")
        if self.scope:
            words += ["scope", self.scope]
        if self.src:
            words += ["src", self.src]
        return " ".join(words)


@dataclass(frozen=True)
class LabNeighbour:
    ip: str
    mac: str
    dev: str


@dataclass(frozen=True)
class LabFdb:
    """A forwarding entry: on a VXLAN device (`self`, with the remote VTEP `dst`) or a bridge port (`master`)."""

    mac: str
    dev: str
    dst: str | None = None
    master: bool = False


@dataclass(frozen=True)
class LabNetns:
    name: str
    role: str
    """`node`, `pod`, `underlay` or `external`."""
    owner: str = ""
    """The node name or pod key this namespace stands for."""
    devices: tuple[LabDevice, ...] = ()
    routes: tuple[LabRoute, ...] = ()
    neighbours: tuple[LabNeighbour, ...] = ()
    fdb: tuple[LabFdb, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    iptables: tuple[str, ...] = ()
    """iptables-restore inputs (kube-proxy's and the CNI's rules), loaded in order with `--noflush`."""
    nftables: tuple[str, ...] = ()
    """`nft -f` inputs (kube-proxy's table in nftables mode), loaded before the iptables rules."""
    nfacct: tuple[str, ...] = ()
    """nfacct counters kube-proxy creates before its rules name them (a node with nfacct, iptables mode)."""


@dataclass(frozen=True)
class LabListener:
    """The listener of one pod (or of a node or the external namespace): ports → container names; on a node of
    a userspace-mode cluster also kube-proxy's proxy ports."""

    netns: str
    owner: str
    tcp: tuple[tuple[int, str], ...] = ()
    udp: tuple[tuple[int, str], ...] = ()
    sctp: tuple[tuple[int, str], ...] = ()
    """Only where the kernel has SCTP (netns.sctp_support)."""
    bound: tuple[tuple[str, str, int, str], ...] = ()
    """(protocol, address, port, app): a socket bound to one local address, not 0.0.0.0 (kube-proxy's
    health-check server under nodePortAddresses)."""
    proxy_tcp: tuple[tuple[int, tuple[str, ...]], ...] = ()
    """kube-proxy userspace mode: proxy port → backends (`ip:port`, kube-proxy's order)."""
    proxy_udp: tuple[tuple[int, tuple[str, ...]], ...] = ()
    proxy_affinity: tuple[tuple[int, int], ...] = ()
    """Proxy ports of services with sessionAffinity ClientIP → the affinity timeout in seconds."""


@dataclass(frozen=True)
class LabPlan:
    lab_id: str
    namespaces: tuple[LabNetns, ...]
    listeners: tuple[LabListener, ...] = ()
    notes: tuple[str, ...] = ()
    """What the lab emulates or cannot build (e.g. OVS emulated by a Linux VXLAN device)."""
    cluster_digest: str = ""

    @property
    def names(self) -> LabNames:
        return LabNames(self.lab_id)

    def netns(self, name: str) -> LabNetns:
        for ns in self.namespaces:
            if ns.name == name:
                return ns
        raise KeyError(name)

    def by_owner(self, role: str, owner: str) -> LabNetns:
        for ns in self.namespaces:
            if ns.role == role and ns.owner == owner:
                return ns
        raise KeyError(f"{role} {owner}")


def digest_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_plan(plan: LabPlan) -> None:
    """Raise PlanError for a name the kernel would refuse or a veth whose peer is missing, and for any word
    of a batch line that is not a plain name, address or MAC: the `ip`/`bridge -batch` lines the plan renders
    are built only from checked, length-bounded words."""
    prefix = lab_prefix(plan.lab_id)
    devices = {(ns.name, d.name): d for ns in plan.namespaces for d in ns.devices}
    for ns in plan.namespaces:
        if not ns.name.startswith(prefix):
            raise PlanError(f"namespace {ns.name} lacks the lab prefix {prefix}")
        for dev in ns.devices:
            if len(dev.name) > IFNAMSIZ:
                raise PlanError(f"device name {dev.name!r} in {ns.name} is longer than {IFNAMSIZ} characters")
            if dev.kind == "veth":
                other = devices.get((dev.peer_netns or "", dev.peer or ""))
                if other is None or (other.peer_netns, other.peer) != (ns.name, dev.name):
                    raise PlanError(f"veth {dev.name} in {ns.name} has no matching peer "
                                    f"{dev.peer} in {dev.peer_netns}")
        _check_words(ns)


def _check_words(ns: LabNetns) -> None:
    """Every name, address and MAC of one namespace that goes into a batch line."""
    words: list[tuple[str, str | None, re.Pattern[str] | None]] = [("namespace", ns.name, NETNS_NAME)]
    for dev in ns.devices:
        words += [("device", dev.name, DEVICE_NAME), ("master", dev.master, DEVICE_NAME),
                  ("peer", dev.peer, DEVICE_NAME), ("peer namespace", dev.peer_netns, NETNS_NAME),
                  ("MAC", dev.mac, MAC)]
        words += [("address", a, None) for a in dev.addresses]
        if dev.vxlan is not None:
            words += [("VXLAN local", dev.vxlan.local, None), ("VXLAN device", dev.vxlan.dev, DEVICE_NAME)]
    for route in ns.routes:
        words += [("route", route.dst, None), ("route device", route.dev, DEVICE_NAME),
                  ("gateway", route.via, None), ("source", route.src, None)]
        if route.scope not in (None, "link", "host", "global"):
            raise PlanError(f"route scope {route.scope!r} in {ns.name} is not link, host or global")
    for neigh in ns.neighbours:
        words += [("neighbour", neigh.ip, None), ("MAC", neigh.mac, MAC), ("device", neigh.dev, DEVICE_NAME)]
    for entry in ns.fdb:
        words += [("MAC", entry.mac, MAC), ("device", entry.dev, DEVICE_NAME), ("VTEP", entry.dst, None)]
    for what, word, pattern in words:
        if word is None:
            continue
        if pattern is None:
            if not _is_address(word):
                raise PlanError(f"{what} {word!r} in {ns.name} is not an IPv4 address or network")
        elif len(word) > MAX_NETNS_NAME or not pattern.fullmatch(word):
            raise PlanError(f"{what} {word!r} in {ns.name} is not a plain name")


def _is_address(word: str) -> bool:
    """An IPv4 address, CIDR or `default`, as written in a route, an address or an FDB entry."""
    if word == "default":
        return True
    try:
        ipaddress.IPv4Interface(word)
    except ValueError:
        return False
    return True


def _creates_pair(ns: LabNetns, dev: LabDevice) -> bool:
    """Each veth pair is created once, from the end that sorts first."""
    return (ns.name, dev.name) < (dev.peer_netns or "", dev.peer or "")


def link_commands(ns: LabNetns) -> list[str]:
    """`ip -batch` lines that create this namespace's bridges, veth pairs (one end) and loopback state."""
    lines = ["link set lo up"]
    for dev in ns.devices:
        if dev.kind == "bridge":
            lines.append(f"link add {dev.name} type bridge")
        elif dev.kind == "veth" and _creates_pair(ns, dev):
            lines.append(f"link add {dev.name} type veth peer name {dev.peer} netns {dev.peer_netns}")
    return lines


def config_commands(ns: LabNetns) -> list[str]:
    """`ip -batch` lines, after every veth exists: VXLAN devices, MAC, MTU, master, addresses, up, routes,
    neighbours."""
    lines: list[str] = []
    for dev in ns.devices:
        if dev.kind == "vxlan" and dev.vxlan is not None:
            vx = dev.vxlan
            words = [f"link add {dev.name} type vxlan id {vx.vni} dstport {vx.port}"]
            if vx.local:
                words.append(f"local {vx.local}")
            if vx.dev:
                words.append(f"dev {vx.dev}")
            words.append("learning" if vx.learning else "nolearning")
            lines.append(" ".join(words))
    for dev in ns.devices:
        if dev.kind == "loopback":
            continue
        if dev.mac:
            lines.append(f"link set {dev.name} address {dev.mac}")
        if dev.mtu:
            lines.append(f"link set {dev.name} mtu {dev.mtu}")
        if dev.master:
            lines.append(f"link set {dev.name} master {dev.master}")
    for dev in ns.devices:
        for address in dev.addresses:
            lines.append(f"address add {address} dev {dev.name}")
    for dev in ns.devices:
        if dev.kind != "loopback":
            lines.append(f"link set {dev.name} up")
    for route in ns.routes:
        lines.append(f"route replace {route.ip_args()}")
    for neigh in ns.neighbours:
        lines.append(f"neigh replace {neigh.ip} lladdr {neigh.mac} dev {neigh.dev} nud permanent")
    return lines


def bridge_commands(ns: LabNetns) -> list[str]:
    """`bridge -batch` lines: hairpin ports, VXLAN FDB entries (`self permanent`), static bridge entries."""
    lines = [f"link set dev {dev.name} hairpin on" for dev in ns.devices if dev.hairpin]
    for entry in ns.fdb:
        if entry.master:
            lines.append(f"fdb replace {entry.mac} dev {entry.dev} master static")
        else:
            dst = f" dst {entry.dst}" if entry.dst else ""
            lines.append(f"fdb append {entry.mac} dev {entry.dev}{dst} self permanent")
    return lines
