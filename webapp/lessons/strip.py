"""The header strip of one hop, for presentation mode: the inner and outer headers, what the hop rewrote, the
endpoint chosen and its probability, and the rule, route or FDB entry that decided."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.engine.trace import Alternative, NatChange, OuterHeader, Packet, Trace
from webapp.lessons.principles import hop_badges


@dataclass(frozen=True)
class HeaderStrip:
    namespace: str
    device: str
    inner: Packet
    """The packet as it leaves the hop (its `outer` is also given apart)."""
    outer: OuterHeader | None
    rewrites: tuple[NatChange, ...]
    """What this hop changed, each as field before → after (empty unless it rewrote an address or a port)."""
    chosen: Alternative | None
    """The endpoint the load-balancing choice of this hop (or of the lookup just before it, on the same device)
    picked, with its probability."""
    rule: str
    """The iptables rule, route, FDB entry, OpenFlow rule or IPVS entry that decided ("" when none)."""


def header_strip(trace: Trace, index: int, *, reply: bool = False) -> HeaderStrip:
    """The strip of request hop `index` (reply hop with `reply`)."""
    hops = trace.reply if reply else trace.hops
    hop = hops[index]
    chosen = None
    for earlier in range(index, -1, -1):  # the run of hops on this device, back to its choice
        if (hops[earlier].device, hops[earlier].netns) != (hop.device, hop.netns):
            break
        chosen = next((a for a in hops[earlier].alternatives if a.chosen), None)
        if chosen is not None:
            break
    return HeaderStrip(hop.netns, hop.device, hop.packet, hop.packet.outer,
                       hop_badges(trace, index, reply=reply).rewrites, chosen, hop.rule)
