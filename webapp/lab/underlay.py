"""Counting what crosses the underlay bridge, with iptables counters in the underlay namespace (bridged IPv4
frames traverse its FORWARD chain through br_netfilter). One rule per expected crossing; encapsulated packets
are matched down to the inner addresses with `-m u32` (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14:
the inner ethertype is at byte 48, the inner source at 62, the inner destination at 66).

The catch-all for "encapsulated packets the engine did not predict" counts inner unicast only: a bridge that
comes up sends IGMPv3 membership reports (to 224.0.0.22, repeated for a second or two), and a VXLAN port that
floods multicast carries them to the other nodes; those are not a flow's packets."""

from __future__ import annotations

import re
from ipaddress import IPv4Address

from webapp.lab import netns as nx
from webapp.lab.expect import Crossing

CHAIN = "KNV-CROSSINGS"
ANY_ENCAPSULATED = "any-encapsulated"
INNER_UNICAST = "66>>28=0x0:0xD"
"""The inner destination's first nibble is below 0xE: neither multicast (224/4) nor reserved/broadcast (240/4)."""
_COUNTED = re.compile(r'^\[(\d+):(\d+)\] -A ' + CHAIN + r' .*--comment "?([\w-]+)"?')


def _hex(address: IPv4Address | None) -> str:
    return f"0x{int(address or 0):08x}"


def crossing_rule(crossing: Crossing, label: str) -> str:
    """The counting rule (no target) for one crossing."""
    if crossing.port is None:
        return f"-A {CHAIN} -s {crossing.src}/32 -d {crossing.dst}/32 -p {crossing.proto} -m comment --comment {label}"
    match = f"46&0xFFFF=0x800&&62={_hex(crossing.inner_src)}&&66={_hex(crossing.inner_dst)}"
    return (f"-A {CHAIN} -s {crossing.src}/32 -d {crossing.dst}/32 -p udp -m udp --dport {crossing.port} "
            f'-m u32 --u32 "{match}" -m comment --comment {label}')


def unpredicted_rule(address: IPv4Address, offset: int, tunnel_ports: tuple[int, ...]) -> str:
    """The ANY_ENCAPSULATED counting rule for `address` as inner source (`offset` 62) or destination (66)."""
    ports = ",".join(str(p) for p in tunnel_ports)
    match = f"46&0xFFFF=0x800&&{offset}={_hex(address)}&&{INNER_UNICAST}"
    return (f'-A {CHAIN} -p udp -m multiport --dports {ports} -m u32 --u32 "{match}" '
            f"-m comment --comment {ANY_ENCAPSULATED}")


class UnderlayCounters:
    """Arm counters for a flow's expected crossings, run the flow, then read which ones saw packets."""

    def __init__(self, netns: str, variant: str, tunnel_ports: tuple[int, ...]):
        self.netns, self.variant = netns, variant
        self.tunnel_ports = tuple(sorted(set(tunnel_ports)))
        nx.ensure_jump(netns, variant, "filter", "FORWARD", CHAIN)

    def arm(self, crossings: tuple[Crossing, ...], addresses: tuple[IPv4Address, ...] = ()) -> None:
        """Count each expected crossing, plus (as ANY_ENCAPSULATED) every encapsulated unicast IPv4 packet whose
        inner source or destination is one of the flow's `addresses`."""
        lines = ["*filter", f":{CHAIN} - [0:0]"]
        lines += [crossing_rule(c, f"c{i}") for i, c in enumerate(crossings)]
        lines += [unpredicted_rule(address, offset, self.tunnel_ports)
                  for address in sorted(set(addresses)) for offset in (62, 66)]
        lines.append("COMMIT")
        nx.run([nx.iptables_tool(self.variant, "restore"), "--noflush"], netns=self.netns,
               stdin="\n".join(lines) + "\n")

    def read(self) -> dict[str, int]:
        """Packets counted per rule label since `arm`."""
        saved = nx.run([nx.iptables_tool(self.variant, "save"), "-c", "-t", "filter"], netns=self.netns).stdout
        counts: dict[str, int] = {}
        for line in saved.splitlines():
            found = _COUNTED.match(line)
            if found:
                label = found.group(3)
                counts[label] = counts.get(label, 0) + int(found.group(1))
        return counts
