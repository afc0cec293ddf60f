"""The trace contract: Trace → Hop, with the packet as it leaves every hop (docs/trace-contract.md).

Shaped after pybatfish's trace model: closed, typed hop kinds and actions, a disposition, NAT recorded as
field diffs, `__str__` for people and `to_dict` for machines. Version 1 of the JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Address

from webapp.narration import current_language, narration_language, say

TRACE_FORMAT_VERSION = 1


class Disposition(StrEnum):
    DELIVERED = "delivered"
    DROPPED = "dropped"
    REJECTED = "rejected"
    NO_ROUTE = "no-route"


class HopKind(StrEnum):
    APP = "app"                    # the sending or receiving application (a container's socket)
    LOOPBACK = "loopback"          # lo inside a network namespace
    INTERFACE = "interface"        # a NIC, a pod's eth0, one end of a veth pair
    BRIDGE = "bridge"              # a Linux bridge: cni0, docker0, cbr0
    OVS = "ovs"                    # an Open vSwitch bridge
    VXLAN = "vxlan"                # a VXLAN device or tunnel port: flannel.1, vxlan0
    ROUTE = "route"                # a routing-table lookup
    NETFILTER = "netfilter"        # an iptables chain that decided (mark, DNAT, SNAT, drop, reject)
    POLICY = "policy"              # NetworkPolicy: a pod's filter chain on the host side of its veth
    IPVS = "ipvs"                  # an IPVS virtual server choosing a real server
    PROXY = "proxy"                # kube-proxy's userspace proxy, terminating and reopening the connection
    DNS = "dns"                    # kube-dns / CoreDNS answering a query
    LOADBALANCER = "loadbalancer"  # a cloud load balancer outside the nodes
    WIRE = "wire"                  # the physical network between hosts


class Action(StrEnum):
    SEND = "send"
    RECEIVE = "receive"
    FORWARD = "forward"
    LOOKUP = "lookup"
    ENCAPSULATE = "encapsulate"
    DECAPSULATE = "decapsulate"
    MARK = "mark"
    DNAT = "dnat"
    SNAT = "snat"
    MASQUERADE = "masquerade"
    REDIRECT = "redirect"
    UNDNAT = "un-dnat"             # conntrack reversing a DNAT on the reply
    UNSNAT = "un-snat"             # conntrack reversing an SNAT/masquerade on the reply
    RESOLVE = "resolve"
    PROXY = "proxy"
    DELIVER = "deliver"
    DROP = "drop"
    REJECT = "reject"


class NetnsKind(StrEnum):
    POD = "pod"                    # a pod's own network namespace (its pause container's): name `NS/NAME`
    HOST = "host"                  # a node's host network namespace: name = the node
    EXTERNAL = "external"          # a host outside the cluster
    UNDERLAY = "underlay"          # the node network's wire and gateway
    ROUTER = "router"              # the node network's gateway, as an ARP answer
    DNS = "dns"                    # the cluster DNS answering


_NAMED = (NetnsKind.POD, NetnsKind.HOST)


@dataclass(frozen=True)
class Netns:
    """A network namespace, written `pod/NS/NAME`, `host/NODE`, `external`, `underlay`, `router` or `dns`."""

    kind: NetnsKind
    name: str = ""
    """The pod key (`NS/NAME`) or the node name; empty for the namespaces outside the nodes."""

    def __post_init__(self) -> None:
        if (self.kind in _NAMED) != bool(self.name):
            raise ValueError(f"network namespace {self.kind}: name {self.name!r}")

    @classmethod
    def pod(cls, pod_key: str) -> Netns:
        return cls(NetnsKind.POD, pod_key)

    @classmethod
    def host(cls, node_name: str) -> Netns:
        return cls(NetnsKind.HOST, node_name)

    @classmethod
    def parse(cls, text: str) -> Netns:
        """`pod/NS/NAME` → (POD, `NS/NAME`), `host/NODE` → (HOST, `NODE`), `external` → (EXTERNAL, "")."""
        kind, _, name = text.partition("/")
        try:
            return cls(NetnsKind(kind), name)
        except ValueError:
            raise ValueError(f"not a network namespace: {text!r}") from None

    @property
    def is_host(self) -> bool:
        return self.kind == NetnsKind.HOST

    @property
    def is_pod(self) -> bool:
        return self.kind == NetnsKind.POD

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else str(self.kind)


@dataclass(frozen=True, order=True)
class SocketAddress:
    ip: IPv4Address
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> SocketAddress:
        host, _, port = text.rpartition(":")
        return cls(IPv4Address(host), int(port))


@dataclass(frozen=True)
class OuterHeader:
    """The encapsulating headers while a packet is inside a VXLAN tunnel."""

    src: SocketAddress
    dst: SocketAddress
    proto: str = "udp"
    vni: int = 1

    def to_dict(self) -> dict[str, object]:
        return {"src": str(self.src), "dst": str(self.dst), "proto": self.proto, "vni": self.vni}


@dataclass(frozen=True)
class Packet:
    src: SocketAddress
    dst: SocketAddress
    proto: str = "tcp"
    outer: OuterHeader | None = None

    def with_dst(self, dst: SocketAddress) -> Packet:
        return replace(self, dst=dst)

    def reversed(self) -> Packet:
        """The reply's headers: source and destination swapped, no tunnel."""
        return Packet(self.dst, self.src, self.proto, None)

    def to_dict(self) -> dict[str, object]:
        return {
            "src": str(self.src),
            "dst": str(self.dst),
            "proto": self.proto,
            "outer": self.outer.to_dict() if self.outer else None,
        }

    def __str__(self) -> str:
        inner = f"{self.proto} {self.src} → {self.dst}"
        if self.outer:
            return f"[{self.outer.proto} {self.outer.src} → {self.outer.dst} vni {self.outer.vni}] {inner}"
        return inner


@dataclass(frozen=True)
class Alternative:
    """One candidate of a load-balancing choice."""

    dst: SocketAddress
    probability: float
    chosen: bool = False
    rule: str = ""
    """The chain or real server that leads to this candidate (e.g. `KUBE-SEP-…`)."""

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"dst": str(self.dst), "probability": round(self.probability, 10)}
        if self.chosen:
            out["chosen"] = True
        if self.rule:
            out["rule"] = self.rule
        return out


@dataclass(frozen=True)
class PolicyCheck:
    """What a policy hop decided: one direction of one pod's NetworkPolicies, and the rule that matched."""

    direction: str
    """`egress` (leaving the source pod) or `ingress` (entering the destination pod)."""
    pod: str
    """The pod whose policies decided (`namespace/name`)."""
    allowed: bool
    basis: str
    """`rule`, `not-selected`, `default-deny` or `established` (a reply: conntrack accepted it)."""
    policy: str | None = None
    """The allowing policy (`namespace/name`) when a rule allowed it."""
    rule: str = ""
    """`spec.ingress[0].from[1]`: the rule and the peer that matched."""
    port_rule: str = ""
    """`spec.ingress[0].ports[0]`: the port entry that matched, when the rule lists ports."""
    selecting: tuple[str, ...] = ()
    """Every policy that selects the pod for this direction (`namespace/name`)."""
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"direction": self.direction, "pod": self.pod, "allowed": self.allowed, "basis": self.basis,
                "policy": self.policy, "rule": self.rule or None, "port_rule": self.port_rule or None,
                "selecting": list(self.selecting), "reason": self.reason}


@dataclass(frozen=True)
class Hop:
    node: str | None
    netns: str
    device: str
    kind: HopKind
    action: Action
    packet: Packet
    """The packet as it leaves this hop, after this hop's own changes."""
    rule: str = ""
    explain: str = ""
    alternatives: tuple[Alternative, ...] = ()
    policy: PolicyCheck | None = None
    """Set on a `policy` hop: which policy and rule decided."""

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "node": self.node,
            "netns": self.netns,
            "device": self.device,
            "kind": str(self.kind),
            "action": str(self.action),
            "packet": self.packet.to_dict(),
            "rule": self.rule or None,
            "explain": self.explain,
        }
        if self.alternatives:
            out["alternatives"] = [a.to_dict() for a in self.alternatives]
        if self.policy is not None:
            out["policy"] = self.policy.to_dict()
        return out

    def __str__(self) -> str:
        where = f"{self.node or '-'} {self.netns} {self.device}"
        rule = f"  [{self.rule}]" if self.rule else ""
        step = f"{self.kind}/{self.action}"
        return f"{where:<40} {step:<22} {self.packet}{rule}"


@dataclass(frozen=True)
class NatChange:
    """One address change: which hop made it, which field, before and after (pybatfish-style field diff)."""

    hop: int
    """Index into the hop list (request or reply) where the change happened."""
    field: str
    """`src` or `dst`."""
    before: str
    after: str
    rule: str = ""
    reply: bool = False

    @property
    def port_only(self) -> bool:
        """The address stayed, only the port changed (e.g. MASQUERADE --random-fully to the node's own IP)."""
        return self.before.rpartition(":")[0] == self.after.rpartition(":")[0]

    def __str__(self) -> str:
        return f"{self.field} {self.before} → {self.after}"

    def to_dict(self) -> dict[str, object]:
        return {"hop": self.hop, "field": self.field, "before": self.before, "after": self.after,
                "rule": self.rule or None, "reply": self.reply}


def connection_start(hops: tuple[Hop, ...]) -> int:
    """Index of the hop where the traced connection opens: the last application send.

    Hops before it belong to an earlier exchange the application made first (a DNS lookup)."""
    for index in range(len(hops) - 1, -1, -1):
        if hops[index].kind == HopKind.APP and hops[index].action == Action.SEND:
            return index
    return 0


def nat_changes(hops: tuple[Hop, ...], *, reply: bool = False) -> tuple[NatChange, ...]:
    """Every change of the connection's inner source or destination address along `hops`.

    Indexes point into `hops`; changes made to an earlier exchange (see `connection_start`) are left out."""
    start = connection_start(hops)
    if start >= len(hops):
        return ()
    changes: list[NatChange] = []
    previous = hops[start].packet
    for index in range(start + 1, len(hops)):
        hop = hops[index]
        for name in ("src", "dst"):
            before, after = getattr(previous, name), getattr(hop.packet, name)
            if before != after:
                changes.append(NatChange(index, name, str(before), str(after), hop.rule, reply))
        previous = hop.packet
    return tuple(changes)


@dataclass(frozen=True)
class Flow:
    type: str
    """A FlowType value (webapp.engine.flows): e.g. `pod-to-pod-cross-node`."""
    src: str
    dst: str
    proto: str = "tcp"

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "src": self.src, "dst": self.dst, "proto": self.proto}


@dataclass(frozen=True)
class Trace:
    flow: Flow
    disposition: Disposition
    hops: tuple[Hop, ...]
    reply: tuple[Hop, ...] = ()
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())
    """Extra sentences for people, e.g. which no-NAT principle the flow illustrates."""
    language: str = field(default_factory=current_language)
    """The language of `reason`, `notes` and every hop's `explain`: the narration language it was traced in."""

    @property
    def nat(self) -> tuple[NatChange, ...]:
        """Where the request's addresses changed — empty for pod-to-pod and node-to-pod: the seed's no-NAT
        principles. A port-only rewrite keeps the addresses and is listed in `port_rewrites` instead."""
        return tuple(change for change in nat_changes(self.hops) if not change.port_only)

    @property
    def reply_nat(self) -> tuple[NatChange, ...]:
        return tuple(change for change in nat_changes(self.reply, reply=True) if not change.port_only)

    @property
    def port_rewrites(self) -> tuple[NatChange, ...]:
        """Request and reply changes of a port alone (MASQUERADE --random-fully to the address the packet
        already had: flannel's rule for node → remote pod under host-gw)."""
        return tuple(change for change in (*nat_changes(self.hops), *nat_changes(self.reply, reply=True))
                     if change.port_only)

    @property
    def no_nat(self) -> bool:
        """True when the destination saw the addresses the source sent (the seed's principles hold)."""
        return not self.nat

    def to_dict(self) -> dict[str, object]:
        return {
            "version": TRACE_FORMAT_VERSION,
            "language": self.language,
            "flow": self.flow.to_dict(),
            "disposition": str(self.disposition),
            "reason": self.reason,
            "hops": [h.to_dict() for h in self.hops],
            "reply": [h.to_dict() for h in self.reply],
            "nat": [c.to_dict() for c in (*self.nat, *self.reply_nat)],
            "port_rewrites": [c.to_dict() for c in self.port_rewrites],
            "notes": list(self.notes),
        }

    def text(self, *, explain: bool = False) -> str:
        """The trace for people, in its own language; with `explain`, each hop's explanation under it."""
        with narration_language(self.language):
            return "\n".join(self._lines(explain))

    def _lines(self, explain: bool) -> list[str]:
        def hop_lines(hops: tuple[Hop, ...]) -> list[str]:
            lines = []
            for i, hop in enumerate(hops, 1):
                lines.append(f"  {i:>2}. {hop}")
                if explain and hop.explain:
                    lines.append(f"      {hop.explain}")
            return lines

        lines = [f"{self.flow.type}: {self.flow.src} → {self.flow.dst} ({self.flow.proto})", *hop_lines(self.hops)]
        disposition = say(_DISPOSITION_TEXT[self.disposition])
        lines.append("  " + (say("trace.text.verdict.reason", disposition=disposition, reason=self.reason)
                             if self.reason else say("trace.text.verdict", disposition=disposition)))
        nat = self.nat
        lines.append("  " + (say("trace.text.nat", changes="; ".join(str(c) for c in nat)) if nat
                             else say("trace.text.nat.none")))
        rewrites = [c for c in self.port_rewrites if not c.reply]
        if rewrites:
            lines.append("  " + say("trace.text.ports", changes="; ".join(str(c) for c in rewrites)))
        lines += ["  " + say("trace.text.note", note=note) for note in self.notes]
        if self.reply:
            lines.append("  " + say("trace.text.reply"))
            lines += hop_lines(self.reply)
        return lines

    def __str__(self) -> str:
        return self.text()


_DISPOSITION_TEXT = {
    Disposition.DELIVERED: "trace.text.disposition.delivered",
    Disposition.DROPPED: "trace.text.disposition.dropped",
    Disposition.REJECTED: "trace.text.disposition.rejected",
    Disposition.NO_ROUTE: "trace.text.disposition.no_route",
}
"""The word for each disposition in the text form."""
