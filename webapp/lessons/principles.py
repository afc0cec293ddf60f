"""The why of a trace: the seed article's three no-NAT principles judged on it, and each hop's badges (whose
namespace it is in, and whether it rewrote an address or a port)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from webapp.engine.trace import Action, Disposition, Hop, HopKind, NatChange, Trace, connection_start, nat_changes
from webapp.lessons.catalog import text


class Principle(StrEnum):
    """The seed article's three principles (its Pod-to-Pod section), in its order."""

    POD_TO_POD = "pod_to_pod"      # 所有容器和其他容器的通信不需要NAT
    NODE_TO_POD = "node_to_pod"    # 所有node和容器间的通信不需要NAT
    OWN_IP = "own_ip"              # 容器自己看到的IP就是对外呈现的IP


class Verdict(StrEnum):
    HOLDS = "holds"
    BROKEN = "broken"
    NOT_APPLICABLE = "not_applicable"
    NOT_DELIVERED = "not_delivered"


@dataclass(frozen=True)
class PrincipleResult:
    principle: Principle
    verdict: Verdict
    broken_at: NatChange | None = None
    """BROKEN: the first source-address change (its `hop` indexes `trace.hops`)."""
    port_rewrites: tuple[NatChange, ...] = ()
    """HOLDS: port-only rewrites on the way (the addresses were kept)."""
    disposition: Disposition = Disposition.DELIVERED

    @property
    def ok(self) -> bool | None:
        """✓ True, ✗ False, None when there is nothing to judge (does not apply, or not delivered)."""
        return {Verdict.HOLDS: True, Verdict.BROKEN: False}.get(self.verdict)

    def name(self, language: str = "en") -> str:
        return text(f"principle.{self.principle}", language)

    def says(self, language: str = "en") -> str:
        """The verdict in a sentence: holds, or where it broke (hop numbers 1-based, as printed)."""
        if self.verdict == Verdict.BROKEN:
            assert self.broken_at is not None
            change = self.broken_at
            return text("principle.status.broken", language, hop=change.hop + 1, field=change.field,
                        before=change.before, after=change.after)
        if self.verdict == Verdict.NOT_DELIVERED:
            return text("principle.status.not_delivered", language,
                        disposition=text(f"disposition.{self.disposition}", language))
        if self.verdict == Verdict.HOLDS and self.port_rewrites:
            return text("principle.status.holds_ports", language, change=str(self.port_rewrites[0]))
        return text(f"principle.status.{self.verdict}", language)


def _end(netns: str) -> str:
    """`pod`, `host` or `outside`: what kind of endpoint a hop's namespace is."""
    head = netns.partition("/")[0]
    return head if head in ("pod", "host") else "outside"


def principles(trace: Trace) -> tuple[PrincipleResult, PrincipleResult, PrincipleResult]:
    """The three principles on `trace`, in the article's order.

    Each applies to the ends it speaks of (from the connection's first send to the request's last hop): pod → pod;
    pod ↔ node; a pod source. It breaks at the first change of the request's source address — a Service's virtual
    destination being DNATed to a pod is no container's address, so it breaks none. A flow that was not delivered
    proves nothing: NOT_DELIVERED."""
    hops = trace.hops
    source = _end(hops[connection_start(hops)].netns) if hops else "outside"
    target = _end(hops[-1].netns) if hops else "outside"
    applies = {
        Principle.POD_TO_POD: source == "pod" and target == "pod",
        Principle.NODE_TO_POD: {source, target} == {"pod", "host"},
        Principle.OWN_IP: source == "pod",
    }
    first_snat = next((change for change in trace.nat if change.field == "src"), None)
    ports = tuple(change for change in trace.port_rewrites if not change.reply)

    def judge(principle: Principle) -> PrincipleResult:
        if not applies[principle]:
            return PrincipleResult(principle, Verdict.NOT_APPLICABLE, disposition=trace.disposition)
        if trace.disposition != Disposition.DELIVERED:
            return PrincipleResult(principle, Verdict.NOT_DELIVERED, disposition=trace.disposition)
        if first_snat is not None:
            return PrincipleResult(principle, Verdict.BROKEN, first_snat)
        return PrincipleResult(principle, Verdict.HOLDS, port_rewrites=ports)

    return judge(Principle.POD_TO_POD), judge(Principle.NODE_TO_POD), judge(Principle.OWN_IP)


@dataclass(frozen=True)
class HopBadges:
    namespace: str
    """Whose namespace the hop is in: `pod/NS/NAME`, `host/NODE`, or `underlay` / `external` off the nodes."""
    rewrites: tuple[NatChange, ...] = ()
    """What this hop itself rewrote (address or port); empty on every other hop."""
    verdict: Disposition | None = None
    """Set on the request's last hop when the flow was not delivered."""

    @property
    def nat(self) -> bool:
        return bool(self.rewrites)

    def labels(self, language: str = "en") -> tuple[str, ...]:
        """The badges as sentences: each rewrite, then the not-delivered verdict."""
        out = [text("badge.port" if change.port_only else "badge.nat", language, field=change.field,
                    before=change.before, after=change.after) for change in self.rewrites]
        if self.verdict is not None:
            out.append(text("badge.not_delivered", language,
                            disposition=text(f"disposition.{self.verdict}", language)))
        return tuple(out)


def _exchange_start(hops: tuple[Hop, ...], index: int) -> int:
    """Where the packet at `index` was sent: the last application send at or before it (0 if none)."""
    for i in range(index, -1, -1):
        if hops[i].kind == HopKind.APP and hops[i].action == Action.SEND:
            return i
    return 0


def hop_badges(trace: Trace, index: int, *, reply: bool = False) -> HopBadges:
    """Badges of request hop `index` (of reply hop `index` with `reply`). A hop rewrites when its packet's source
    or destination differs from the one before it *within one exchange*: a send (a DNS answer, a new connection
    after the lookup) starts a new packet and is never a rewrite."""
    hops = trace.reply if reply else trace.hops
    hop = hops[index]
    start = _exchange_start(hops, index)
    end = next((i for i in range(index + 1, len(hops))
                if hops[i].kind == HopKind.APP and hops[i].action == Action.SEND), len(hops))
    rewrites = tuple(NatChange(change.hop + start, change.field, change.before, change.after, change.rule, reply)
                     for change in nat_changes(hops[start:end], reply=reply) if change.hop + start == index)
    last = not reply and index == len(hops) - 1 and trace.disposition != Disposition.DELIVERED
    return HopBadges(hop.netns, rewrites, trace.disposition if last else None)
