"""Netfilter as the path engine evaluates it: iptables-restore text → indexed chains, and one packet's walk
through the tables of one hook in the kernel's order, with a hop for every rule that decided.

A pure evaluator: it knows iptables, not who wrote the rules. What a rule is about (a service, an endpoint)
comes in with the ruleset — its `notes`, keyed by rule text, and an `Explainer` that turns a drop or a DNAT
into a sentence — from the assembly that built it (webapp.engine.rulesets for a node).

Only the matches and targets kube-proxy and flannel write are understood (see `Rule`); anything else makes a
rule never match, so an unknown rule cannot change a trace silently. Big chains (a service table with a rule per
service port) are indexed by destination address, port and protocol, so a lookup does not scan them.
"""

from __future__ import annotations

import re
import zlib
from abc import ABC, abstractmethod
from bisect import insort
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from typing import Any, NamedTuple, Protocol

from webapp.engine.trace import Action, Alternative, Hop, HopKind, Netns, Packet, SocketAddress
from webapp.narration import say


class Hook(StrEnum):
    PREROUTING = "PREROUTING"
    INPUT = "INPUT"
    FORWARD = "FORWARD"
    OUTPUT = "OUTPUT"
    POSTROUTING = "POSTROUTING"


class Verdict(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"


@dataclass(frozen=True)
class PacketContext:
    """One packet at one hook of one node's host network namespace."""

    packet: Packet
    node: str
    in_dev: str | None
    out_dev: str | None
    mark: int = 0
    backend: IPv4Address | None = None
    """Preferred endpoint IP for a load-balancing choice; None → the first candidate in rule order."""
    ctstate: str = "NEW"
    """The packet's conntrack state as `-m conntrack --ctstate` sees it: a traced request opens a connection
    (NEW); its reply belongs to it (ESTABLISHED)."""


@dataclass(frozen=True)
class Matched:
    """A rule whose target was applied, and the chains from the hook's base chain down to its own."""

    path: tuple[str, ...]
    rule: Rule


@dataclass(frozen=True)
class HookOutcome:
    """The packet after the hook's NAT, the verdict, the skb mark, one hop per decisive rule, and every rule whose
    target was applied, in order (`trail`: what a ruleset's writer reads its own decisions from)."""

    packet: Packet
    verdict: Verdict
    mark: int
    hops: tuple[Hop, ...]
    reason: str | None = None
    trail: tuple[Matched, ...] = ()


# The tables a hook runs, in the kernel's priority order (raw and mangle hold nothing we generate).
HOOK_TABLES: dict[Hook, tuple[str, ...]] = {
    Hook.PREROUTING: ("nat",),
    Hook.INPUT: ("filter", "nat"),
    Hook.FORWARD: ("filter",),
    Hook.OUTPUT: ("nat", "filter"),
    Hook.POSTROUTING: ("nat",),
}

TABLE_PRIORITIES: dict[tuple[str, Hook], int] = {
    ("nat", Hook.PREROUTING): -100, ("nat", Hook.OUTPUT): -100,      # NF_IP_PRI_NAT_DST
    ("nat", Hook.INPUT): 100, ("nat", Hook.POSTROUTING): 100,        # NF_IP_PRI_NAT_SRC
    **{("filter", hook): 0 for hook in (Hook.INPUT, Hook.FORWARD, Hook.OUTPUT)},  # NF_IP_PRI_FILTER
}
"""An iptables table's priority at a hook (include/uapi/linux/netfilter_ipv4.h), to order it among nftables'
base chains, which name theirs."""

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_ESCAPED = re.compile(r"\\(.)")
_TERMINAL_NAT = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT"}


class Net(NamedTuple):
    """An address match (`-s`/`-d`) as integers: cheap to build from rule text, cheap to test."""

    value: int
    mask: int

    @classmethod
    def parse(cls, text: str) -> Net:
        address, _, length = text.partition("/")
        bits = int(length) if length else 32
        mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
        return cls(int(IPv4Address(address)) & mask, mask)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address) and int(address) & self.mask == self.value

    @property
    def host(self) -> IPv4Address | None:
        """The address when this is a /32."""
        return IPv4Address(self.value) if self.mask == 0xFFFFFFFF else None


def _mark(text: str) -> tuple[int, int]:
    value, _, mask = text.partition("/")
    return int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF


@dataclass
class Rule:
    """One parsed `-A CHAIN …` line. `text` is the line as written; `chain` the chain it belongs to."""

    chain: str
    text: str
    src: tuple[Net, bool] | None = None
    dst: tuple[Net, bool] | None = None
    proto: str | None = None
    dport: int | None = None
    dport_end: int | None = None
    """`--dport FIRST:LAST`: the range's last port (`dport` its first)."""
    in_dev: tuple[str, bool] | None = None
    out_dev: tuple[str, bool] | None = None
    comment: str = ""
    src_type: tuple[str, bool] | None = None
    dst_type: tuple[str, bool] | None = None
    mark: tuple[int, int, bool] | None = None
    probability: float | None = None
    recent: tuple[str, str] | None = None
    """(--name, "rcheck" | "set")."""
    sets: list[tuple[str, str, bool]] = field(default_factory=list)
    ctstate: tuple[frozenset[str], bool] | None = None
    target: str = ""
    goto: bool = False
    """`-g CHAIN`: when CHAIN returns, so does the chain of this rule."""
    to: str | None = None
    """--to-destination / --to-source / --to-ports."""
    mark_op: tuple[str, int, int] | None = None
    """("or" | "xor" | "xset" | "set", value, mask): --or-mark, --xor-mark, --set-xmark, --set-mark."""
    random_port: bool = False
    """SNAT/MASQUERADE `--random` or `--random-fully`: the kernel maps the source port anew."""
    unknown: bool = False

    @classmethod
    def parse(cls, chain: str, text: str) -> Rule:
        tokens = [_ESCAPED.sub(r"\1", t[1:-1]) if t.startswith('"') else t for t in _TOKEN.findall(text)]
        rule = cls(chain, text)
        neg = False
        i = 2  # skip "-A CHAIN"
        n = len(tokens)
        while i < n:
            tok = tokens[i]
            arg = tokens[i + 1] if i + 1 < n else ""
            if tok == "!":
                neg = True
                i += 1
                continue
            step = 2
            if tok == "-s":
                rule.src = (Net.parse(arg), neg)
            elif tok == "-d":
                rule.dst = (Net.parse(arg), neg)
            elif tok == "-p":
                rule.proto = arg
            elif tok == "-i":
                rule.in_dev = (arg, neg)
            elif tok == "-o":
                rule.out_dev = (arg, neg)
            elif tok == "--dport":
                first, _, last = arg.partition(":")
                rule.dport = int(first)
                rule.dport_end = int(last) if last else None
            elif tok == "-m":
                pass
            elif tok == "--comment":
                rule.comment = arg
            elif tok == "--src-type":
                rule.src_type = (arg, neg)
            elif tok == "--dst-type":
                rule.dst_type = (arg, neg)
            elif tok == "--mark":
                value, mask = _mark(arg)
                rule.mark = (value, mask, neg)
            elif tok == "--mode":
                pass
            elif tok == "--probability":
                rule.probability = float(arg)
            elif tok == "--name":
                rule.recent = (arg, rule.recent[1] if rule.recent else "")
            elif tok in ("--rcheck", "--set"):  # -m recent (the ipset match's --match-set is read whole below)
                rule.recent = (rule.recent[0] if rule.recent else "", tok[2:])
                step = 1
            elif tok in ("--random-fully", "--random"):
                rule.random_port = True
                step = 1
            elif tok in ("--reap", "--rsource", "--persistent"):
                step = 1
            elif tok in ("--seconds", "--mask"):
                pass
            elif tok == "--match-set":
                rule.sets.append((arg, tokens[i + 2], neg))
                step = 3
            elif tok in ("--ctstate", "--state"):
                rule.ctstate = (frozenset(arg.split(",")), neg)
            elif tok in ("-j", "-g"):
                rule.target = arg
                rule.goto = tok == "-g"
            elif tok in ("--to-destination", "--to-source", "--to-ports"):
                rule.to = arg
            elif tok in ("--or-mark", "--xor-mark"):
                rule.mark_op = (tok[2:-5], int(arg, 0), 0)
            elif tok in ("--set-xmark", "--set-mark"):
                value, mask = _mark(arg)
                rule.mark_op = ("xset" if tok == "--set-xmark" else "set", value, mask)
            elif tok in ("--reject-with", "--nfacct-name"):  # -m nfacct counts every packet it sees: no condition
                pass
            else:
                rule.unknown = True
                step = 1
            neg = False
            i += step
        return rule

    @property
    def index_key(self) -> tuple | None:
        """(dst ip, dport, proto) or (None, dport, proto) when a lookup table can find this rule."""
        if self.dport is None or self.dport_end is not None or self.proto is None or self.unknown:
            return None
        if self.dst is None:
            return (None, self.dport, self.proto)
        net, neg = self.dst
        if not neg and net.host is not None:
            return (net.host, self.dport, self.proto)
        return None


class Chain:
    """A chain's rule lines, parsed on first use; big chains get a lookup index."""

    INDEX_THRESHOLD = 32

    def __init__(self, name: str, policy: str | None = None) -> None:
        self.name = name
        self.policy = policy
        self.lines: list[str] = []
        self._rules: list[Rule] | None = None
        self._index: tuple[list[int], dict[tuple, list[int]]] | None = None

    @property
    def rules(self) -> list[Rule]:
        if self._rules is None:
            self._rules = [Rule.parse(self.name, line) for line in self.lines]
        return self._rules

    def set_lines(self, lines: list[str]) -> None:
        """Replace the chain's rules (a ruleset that grows as packets ask for more), forgetting what was parsed."""
        self.lines = lines
        self._rules = None
        self._index = None
        self.__dict__.pop("endpoint_dnat", None)

    @cached_property
    def endpoint_dnat(self) -> Rule | None:
        """The DNAT that ends this chain for any packet that reaches it (no address or port match, as a
        load-balanced endpoint's chain ends): what a jump here chooses; None when there is none."""
        return next((r for r in self.rules if r.target == "DNAT" and r.to and not r.unknown
                     and r.dst is None and r.dport is None and r.src is None), None)

    def build_index(self) -> tuple[list[int], dict[tuple, list[int]]]:
        generic: list[int] = []
        keyed: dict[tuple, list[int]] = {}
        for i, rule in enumerate(self.rules):
            key = rule.index_key
            if key is None:
                generic.append(i)
            else:
                keyed.setdefault(key, []).append(i)
        self._index = (generic, keyed)
        return self._index

    def candidates(self, packet: Packet) -> list[int]:
        """Indices of the rules that can match `packet`, in order (an index lookup for big chains)."""
        rules = self.rules
        if len(rules) < self.INDEX_THRESHOLD:
            return list(range(len(rules)))
        generic, keyed = self._index or self.build_index()
        out = list(generic)
        for key in ((packet.dst.ip, packet.dst.port, packet.proto), (None, packet.dst.port, packet.proto)):
            for i in keyed.get(key, ()):
                insort(out, i)
        return out


@dataclass(frozen=True)
class IPSet:
    """An ipset as `ipset list` shows it: name, type and entries (`10.96.0.1,tcp:443`, `30080`, …)."""

    name: str
    type: str
    entries: frozenset[str]
    comment: str = ""


class WrittenRule(Protocol):
    """What decided, as its writer wrote it: an iptables rule, an nftables rule or map element."""

    chain: str
    """The chain (or nftables map) it belongs to."""
    text: str
    """Its text: the key of its note."""


class Explainer(Protocol):
    """What the rules' writer says about its rules (the ruleset assembly supplies it)."""

    def drop(self, ruleset: HostRules, rule: WrittenRule, verdict: Verdict, packet: Packet) -> str | None:
        """Why `rule` drops or rejects `packet`; None → the rule's comment (or text) says it."""

    def dnat(self, before: Packet) -> str:
        """A suffix for a DNAT hop's sentence about the original destination (starts with a space), or ""."""


class PlainExplainer:
    """Rules explained by their own comments only (a ruleset read from a file)."""

    def drop(self, ruleset: HostRules, rule: WrittenRule, verdict: Verdict, packet: Packet) -> str | None:
        return None

    def dnat(self, before: Packet) -> str:
        return ""


class BaseChain(Protocol):
    """A chain a hook calls (an iptables table's built-in chain, an nftables base chain)."""

    priority: int
    nat: bool
    """A NAT chain: skipped once an earlier NAT chain of the hook has bound the connection."""

    def run(self, state: HookState) -> None:
        """Evaluate the chain for the packet in `state`; raises Stop on a terminal verdict."""


class HostRules(ABC):
    """What every ruleset of one host carries besides its rules: the host's addresses, the notes its writer
    attached to its rules, and the writer's explainer."""

    def __init__(self) -> None:
        self.local_addresses: frozenset[IPv4Address] = frozenset()
        """Addresses `-m addrtype --dst-type LOCAL` matches (node IPs; IPVS VIPs on kube-ipvs0)."""
        self.interface_addresses: dict[str, IPv4Address] = {}
        """Each device's primary universe-scope address (MASQUERADE's source, REDIRECT's destination)."""
        self.primary_address: IPv4Address | None = None
        """The host's address where a device has none of its own (a node: its InternalIP)."""
        self.notes: dict[str, object] = {}
        """Metadata the rules' writer attached to its rules, keyed by rule text (`-A CHAIN …`, an nft rule or
        map element)."""
        self.explainer: Explainer = PlainExplainer()

    def note(self, rule: WrittenRule) -> object | None:
        """The metadata the rules' writer attached to `rule`, if any."""
        return self.notes.get(rule.text)

    def admit(self, packet: Packet) -> None:
        """Make sure every rule a packet to this destination can meet is present: a ruleset may hold only the
        rules packets have asked for so far (the walk's rulesets on big clusters). Nothing to do by default."""

    @abstractmethod
    def base_chains(self, hook: Hook) -> list[BaseChain]:
        """The chains `hook` runs, in any order (`traverse` sorts them by priority, stably)."""


class Ruleset(HostRules):
    """The iptables tables of one host (table → chain name → Chain), the ipsets its rules use, nftables
    tables beside them (`attached`), and what the evaluation needs to know of the host and of the rules'
    writer."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, Chain]] = {}
        self.ipsets: dict[str, IPSet] = {}
        self.attached: list[HostRules] = []
        """Other tables of the host's netfilter (kube-proxy's nftables table): their base chains run in the
        same hooks, by priority; at equal priority before the iptables table's."""

    @classmethod
    def parse(cls, text: str, into: Ruleset | None = None) -> Ruleset:
        """Read iptables-restore/-save text; several texts may be merged into one Ruleset via `into`."""
        ruleset = into or cls()
        table: dict[str, Chain] | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] == "#" or line == "COMMIT":
                continue
            if line[0] == "*":
                table = ruleset.tables.setdefault(line[1:], {})
            elif line[0] == ":":
                name, policy = line[1:].split(" ", 2)[:2]
                chain = table.get(name)
                if chain is None:
                    table[name] = Chain(name, None if policy == "-" else policy)
                elif policy != "-":
                    chain.policy = policy
            elif line.startswith("-A "):
                name = line[3:line.index(" ", 3)] if " " in line[3:] else line[3:]
                chain = table.get(name)
                if chain is None:
                    chain = table[name] = Chain(name)
                chain.lines.append(line)
            elif line.startswith("-X "):
                table.pop(line[3:], None)
            else:
                raise ValueError(f"cannot read iptables line: {line!r}")
        return ruleset

    def prepare(self) -> Ruleset:
        """Parse and index the big chains now, so that no trace pays for it."""
        for chains in self.tables.values():
            for chain in chains.values():
                if len(chain.lines) >= Chain.INDEX_THRESHOLD:
                    chain.build_index()
        return self

    def chain(self, table: str, name: str) -> Chain | None:
        return self.tables.get(table, {}).get(name)

    def base_chains(self, hook: Hook) -> list[BaseChain]:
        chains: list[BaseChain] = [c for table in self.attached for c in table.base_chains(hook)]
        for table in HOOK_TABLES[hook]:
            chain = self.chain(table, str(hook))
            if chain is not None:
                chains.append(_TableChain(self, table, chain, TABLE_PRIORITIES[table, hook]))
        return chains


@dataclass(frozen=True, eq=False)
class _TableChain:
    """An iptables table's built-in chain at a hook."""

    ruleset: Ruleset
    table: str
    chain: Chain
    priority: int

    @property
    def nat(self) -> bool:
        return self.table == "nat"

    def run(self, state: HookState) -> None:
        state.enter(self.ruleset, self.chain.name, self.table)
        _run_chain(state, self.chain, depth=0)


# ---------------------------------------------------------------------------------------------------------
# Evaluation

@dataclass
class HookState:
    """One packet's way through one hook: what every base chain sees and changes (packet, mark, hops), and
    where the evaluation is (the ruleset and table of the chain being run, the chains jumped through)."""

    packet: Packet
    mark: int
    hops: list[Hop]
    ctx: PacketContext
    hook: Hook
    ruleset: Any = None
    """The ruleset of the chain being run (a Ruleset, or an nftables table)."""
    table: str = ""
    caller: Any = None
    """The rule that jumped into the chain being evaluated."""
    path: list[str] = field(default_factory=list)
    """The chains from the hook's base chain down to the one being evaluated."""
    trail: list[Matched] = field(default_factory=list)

    def enter(self, ruleset: HostRules, chain: str, table: str = "") -> None:
        """Start a base chain of `ruleset`."""
        self.ruleset, self.table, self.caller, self.path = ruleset, table, None, [chain]

    def outcome(self, verdict: Verdict, reason: str | None = None) -> HookOutcome:
        return HookOutcome(self.packet, verdict, self.mark, tuple(self.hops), reason, tuple(self.trail))


class Stop(Exception):
    """A terminal verdict for the hook (drop, reject) or the base chain (accept, NAT)."""

    def __init__(self, verdict: Verdict, reason: str | None = None) -> None:
        super().__init__(verdict)
        self.verdict = verdict
        self.reason = reason


def traverse(ruleset: HostRules, hook: Hook, ctx: PacketContext) -> HookOutcome:
    """Run the packet through every base chain of `hook` in priority order; stop at the first drop or reject.

    NAT chains follow the kernel's nf_nat_inet_fn: once one has bound the connection (changed the destination
    at PREROUTING/OUTPUT, the source at INPUT/POSTROUTING), the hook's later NAT chains are not run."""
    ruleset.admit(ctx.packet)
    state = HookState(ctx.packet, ctx.mark, [], ctx, hook)
    bound = False
    for chain in sorted(ruleset.base_chains(hook), key=lambda c: c.priority):
        if chain.nat and bound:
            continue
        before = state.packet
        try:
            chain.run(state)
        except Stop as stop:
            if stop.verdict != Verdict.ACCEPT:
                return state.outcome(stop.verdict, stop.reason)
        if chain.nat:
            bound = bound or (state.packet.dst != before.dst if hook in (Hook.PREROUTING, Hook.OUTPUT)
                     else state.packet.src != before.src)
    return state.outcome(Verdict.ACCEPT)


def run_chain(ruleset: Ruleset, table: str, chain: str, hook: Hook, ctx: PacketContext) -> HookOutcome:
    """One chain of `table` evaluated for the packet as if `hook` had called it (a writer that hooks a packet the
    kernel passes elsewhere: Felix's OUTPUT handling of IPVS-forwarded packets); accept when it returns."""
    state = HookState(ctx.packet, ctx.mark, [], ctx, hook)
    found = ruleset.chain(table, chain)
    if found is None:
        return state.outcome(Verdict.ACCEPT)
    state.enter(ruleset, chain, table)
    try:
        _run_chain(state, found, depth=0)
    except Stop as stop:
        if stop.verdict != Verdict.ACCEPT:
            return state.outcome(stop.verdict, stop.reason)
    return state.outcome(Verdict.ACCEPT)


def first_match(ruleset: Ruleset, table: str, chain: str, hook: Hook, ctx: PacketContext) -> int | None:
    """The index of the first rule of `table` `chain` that matches the packet — as many rules as the kernel
    compares it with before that one, walking the chain in order; None when no rule matches."""
    state = HookState(ctx.packet, ctx.mark, [], ctx, hook, ruleset, table)
    found = ruleset.chain(table, chain)
    return next((i for i, rule in enumerate(found.rules) if _matches(state, rule)), None) if found else None


def _run_chain(state: HookState, chain: Chain, depth: int) -> None:
    """Evaluate one chain; returns normally on RETURN or at its end, raises Stop on a terminal target."""
    if depth > 32:
        raise Stop(Verdict.DROP, say("netfilter.loop.reason", chain=chain.name))
    rules = chain.rules
    for i in chain.candidates(state.packet):
        rule = rules[i]
        if not _matches(state, rule):
            continue
        if _endpoint_jump(state, rule) is not None:
            _choose_endpoint(state, chain, i, depth)
            return
        if _apply(state, rule, depth):
            return
    if chain.policy is not None and chain.policy != "ACCEPT":
        reason = say("netfilter.policy.drop.reason", table=state.table, chain=chain.name, policy=chain.policy)
        state.hops.append(Hop(state.ctx.node, _host(state.ctx.node), "iptables", HopKind.NETFILTER, Action.DROP,
                              state.packet, rule=f"{state.table} :{chain.name} {chain.policy}",
                              explain=say("netfilter.policy.drop", chain=chain.name)))
        raise Stop(Verdict.DROP, reason)


def _apply(state: HookState, rule: Rule, depth: int) -> bool:
    """Apply a matched rule's target; True when the chain returns."""
    target = rule.target
    if not target:
        return False
    state.trail.append(Matched(tuple(state.path), rule))
    if target == "RETURN":
        return True
    if target == "ACCEPT":
        raise Stop(Verdict.ACCEPT)
    if target in ("DROP", "REJECT"):
        verdict = Verdict.DROP if target == "DROP" else Verdict.REJECT
        reason = state.ruleset.explainer.drop(state.ruleset, rule, verdict, state.packet) or say(
            "netfilter.rule.drops" if verdict == Verdict.DROP else "netfilter.rule.rejects", chain=rule.chain,
            why=rule.comment or rule.text)
        state.hops.append(_hop(state, Action.DROP if target == "DROP" else Action.REJECT, state.packet, rule,
                               reason))
        raise Stop(verdict, reason)
    if target == "MARK":
        op, value, mask = rule.mark_op or ("or", 0, 0)
        before = state.mark
        if op == "or":
            state.mark |= value
        elif op == "xor":
            state.mark ^= value
        elif op == "xset":  # --set-xmark value/mask: zero the mask's bits, then XOR value in
            state.mark = (state.mark & ~mask) ^ value
        else:  # --set-mark value/mask: zero the mask's bits, then OR value in
            state.mark = (state.mark & ~mask) | value
        if state.mark & ~before:
            decided = state.caller or rule
            state.hops.append(_hop(state, Action.MARK, state.packet, decided,
                                   say("netfilter.mark", chain=decided.chain, target=rule.chain, mark=state.mark)))
        return False
    if target in _TERMINAL_NAT:
        _nat(state, rule)
        raise Stop(Verdict.ACCEPT)
    sub = state.ruleset.chain(state.table, target)
    if sub is not None:  # (LOG and other non-terminating targets fall through)
        _jump(state, rule, sub, depth)
        return rule.goto  # after a goto, the chain returns where the goto target returned
    return False


def _jump(state: HookState, rule: Rule, sub: Chain, depth: int) -> None:
    """`-j CHAIN`: evaluate the chain, remembering who jumped and the path taken."""
    caller, state.caller = state.caller, rule
    state.path.append(sub.name)
    try:
        _run_chain(state, sub, depth + 1)
    finally:
        state.caller = caller
        state.path.pop()


def _matches(state: HookState, rule: Rule) -> bool:
    if rule.unknown:
        return False
    packet, ctx = state.packet, state.ctx
    if rule.proto is not None and rule.proto != packet.proto:
        return False
    if rule.dport is not None and not rule.dport <= packet.dst.port <= (rule.dport_end or rule.dport):
        return False
    if rule.dst is not None and (packet.dst.ip in rule.dst[0]) == rule.dst[1]:
        return False
    if rule.src is not None and (packet.src.ip in rule.src[0]) == rule.src[1]:
        return False
    if rule.in_dev is not None and _dev_matches(ctx.in_dev, rule.in_dev[0]) == rule.in_dev[1]:
        return False
    if rule.out_dev is not None and _dev_matches(ctx.out_dev, rule.out_dev[0]) == rule.out_dev[1]:
        return False
    local = state.ruleset.local_addresses
    if rule.dst_type is not None and ((packet.dst.ip in local) == (rule.dst_type[0] == "LOCAL")) == rule.dst_type[1]:
        return False
    if rule.src_type is not None:
        is_local = packet.src.ip in local or state.hook == Hook.OUTPUT and ctx.in_dev is None
        if (is_local == (rule.src_type[0] == "LOCAL")) == rule.src_type[1]:
            return False
    if rule.mark is not None:
        value, mask, neg = rule.mark
        if ((state.mark & mask) == value) == neg:
            return False
    if rule.ctstate is not None:
        states, neg = rule.ctstate
        if (ctx.ctstate in states) == neg:
            return False
    if rule.recent is not None and rule.recent[1] == "rcheck":
        return False  # a first connection: the affinity table has no entry for this client yet
    for name, flags, neg in rule.sets:
        if _in_set(state.ruleset.ipsets.get(name), flags, packet) == neg:
            return False
    return True


def _dev_matches(dev: str | None, pattern: str) -> bool:
    if dev is None:
        return False
    return dev.startswith(pattern[:-1]) if pattern.endswith("+") else dev == pattern


def _in_set(ipset: IPSet | None, flags: str, packet: Packet) -> bool:
    """`-m set --match-set NAME FLAGS`: the packet's fields picked by FLAGS (src/dst per dimension) form a
    member of the set; a `net` dimension (hash:ip,port,net) holds when the address is inside the entry's CIDR."""
    if ipset is None:
        return False
    parts = []
    kinds = ipset.type.split(":", 1)[1].split(",")
    for kind, flag in zip(kinds, flags.split(",")):
        addr = packet.src if flag == "src" else packet.dst
        if kind == "port":
            parts.append(f"{packet.proto}:{addr.port}" if ipset.type.startswith("hash") else str(addr.port))
        else:
            parts.append(str(addr.ip))
    if kinds[-1] != "net":
        return ",".join(parts) in ipset.entries
    prefix, address = ",".join(parts[:-1]) + ",", IPv4Address(parts[-1])
    return any(address in IPv4Network(entry[len(prefix):]) for entry in ipset.entries if entry.startswith(prefix))


def _endpoint_jump(state: HookState, rule: Rule) -> Rule | None:
    """For a load-balancing jump — into a chain that ends in an unconditional DNAT, not an affinity check
    (`-m recent`) — that chain's DNAT; else None."""
    if rule.recent is not None or not rule.target:
        return None
    sub = state.ruleset.chain(state.table, rule.target)
    return sub.endpoint_dnat if sub is not None else None


def _choose_endpoint(state: HookState, chain: Chain, start: int, depth: int) -> None:
    """The probability ladder (`-m statistic --mode random --probability p` jumps, closed by one without):
    one hop listing every endpoint, then the chosen endpoint's chain. A lone jump is a ladder of one."""
    remaining = 1.0
    options: list[tuple[Rule, SocketAddress, float]] = []
    for rule in chain.rules[start:]:
        dnat = _endpoint_jump(state, rule)
        if dnat is None:
            continue
        p = 1.0 if rule.probability is None else rule.probability
        options.append((rule, SocketAddress.parse(dnat.to or ""), remaining * p))
        remaining *= 1.0 - p
        if rule.probability is None:
            break
    chosen, alternatives, suffix = choose_endpoint(state, [(rule.target, dst, prob) for rule, dst, prob in options])
    explain = say("netfilter.choose", path=" → ".join(state.path), chain=chain.name, count=len(options),
                  chosen=alternatives[chosen].dst) + suffix
    if any(r.recent for r in chain.rules[:start]):
        explain += say("netfilter.choose.affinity")
    rule = options[chosen][0]
    state.hops.append(_hop(state, Action.LOOKUP, state.packet, rule, explain, alternatives))
    _jump(state, rule, state.ruleset.chain(state.table, rule.target), depth)


def choose_endpoint(state: HookState, options: list[tuple[str, SocketAddress, float]]
                    ) -> tuple[int, tuple[Alternative, ...], str]:
    """A load-balancing draw among (endpoint chain, its DNAT target, probability) options: the one taken (the
    context's preferred backend, else the first), the alternatives the hop lists, and a suffix for its sentence
    when the preferred backend is not among them."""
    want = state.ctx.backend
    chosen = next((i for i, o in enumerate(options) if want is not None and o[1].ip == want), 0)
    uniform = 1.0 / len(options)
    alternatives = tuple(
        # 1/(n−i) written with 10 decimals multiplies out to 1/n within 1e-9: report the uniform value
        Alternative(dst, uniform if abs(prob - uniform) < 1e-9 else round(prob, 10), chosen=(i == chosen),
                    rule=chain)
        for i, (chain, dst, prob) in enumerate(options))
    missed = want is not None and options[chosen][1].ip != want
    return chosen, alternatives, say("netfilter.choose.not_candidate", backend=want) if missed else ""


def _nat(state: HookState, rule: Rule) -> None:
    packet = state.packet
    flag = ("--random-fully" if "--random-fully" in rule.text else "--random") if rule.random_port else None
    if rule.target == "DNAT":
        new, explain = dnat(state, rule.chain, _to_address(rule.to, packet.dst))
        action = Action.DNAT
    elif rule.target == "REDIRECT":
        ip = IPv4Address("127.0.0.1") if state.hook == Hook.OUTPUT else device_address(
            state.ruleset, state.ctx.in_dev)
        new = replace(packet, dst=SocketAddress(ip, int(rule.to.split("-")[0]) if rule.to else packet.dst.port))
        action = Action.REDIRECT
        explain = say("netfilter.redirect", chain=rule.chain, port=new.dst.port)
    elif rule.target == "SNAT":
        new = replace(packet, src=_to_address(rule.to, mapped_port(flag is not None, packet)))
        action, explain = Action.SNAT, say("netfilter.snat", chain=rule.chain, before=packet.src, after=new.src)
        explain += _random_port(packet, new, flag)
    else:
        new, explain = masquerade(state, rule.chain, flag)
        action = Action.MASQUERADE
    state.packet = new
    state.hops.append(_hop(state, action, new, rule, explain))


def dnat(state: HookState, chain: str, to: SocketAddress) -> tuple[Packet, str]:
    """The packet with the destination `chain` rewrites to `to`, and the sentence saying so."""
    packet = state.packet
    new = replace(packet, dst=to)
    explain = say("netfilter.dnat", chain=chain, before=packet.dst, after=new.dst)
    return new, explain + state.ruleset.explainer.dnat(packet)


def masquerade(state: HookState, chain: str, random_flag: str | None) -> tuple[Packet, str]:
    """The packet with the source `chain` masquerades to the outgoing device's address (a new port when
    `random_flag` — `--random-fully`, `fully-random` — asks for one), and the sentence saying so."""
    packet = state.packet
    ip = device_address(state.ruleset, state.ctx.out_dev)
    new = replace(packet, src=SocketAddress(ip, mapped_port(random_flag is not None, packet).port))
    explain = say("netfilter.masquerade", chain=chain, address=ip,
                  device=state.ctx.out_dev or say("netfilter.phrase.outgoing_interface"))
    return new, explain + _random_port(packet, new, random_flag)


def _random_port(before: Packet, after: Packet, flag: str | None) -> str:
    if flag is None or after.src.port == before.src.port:
        return ""
    return say("netfilter.random_port", flag=flag, low=RANDOM_PORT_MIN, high=RANDOM_PORT_MAX,
               before=before.src.port, after=after.src.port)


RANDOM_PORT_MIN, RANDOM_PORT_MAX = 1024, 65535
"""The range a randomised source port is drawn from when the rule names no port range: the kernel's
nf_nat_l4proto_unique_tuple for a source port at or above 1024."""


def mapped_port(random_port: bool, packet: Packet) -> SocketAddress:
    """The source after a NAT rule's port mapping: unchanged unless the rule randomises it (`--random`,
    `--random-fully`, `fully-random`: NF_NAT_RANGE_PROTO_RANDOM_ALL makes the kernel pick a port even when the
    original is free). The pick is a CRC-32 of the connection, so a trace is reproducible; it never equals the
    original port."""
    if not random_port:
        return packet.src
    span = RANDOM_PORT_MAX - RANDOM_PORT_MIN + 1
    key = f"{packet.proto}|{packet.src}|{packet.dst}".encode()
    port = RANDOM_PORT_MIN + zlib.crc32(key) % span
    if port == packet.src.port:
        port = RANDOM_PORT_MIN + (port - RANDOM_PORT_MIN + 1) % span
    return SocketAddress(packet.src.ip, port)


def _to_address(to: str | None, default: SocketAddress) -> SocketAddress:
    if not to:
        return default
    host, _, port = to.partition(":")
    return SocketAddress(IPv4Address(host), int(port.split("-")[0]) if port else default.port)


def device_address(ruleset: HostRules, device: str | None) -> IPv4Address:
    """The primary address of a host device (what MASQUERADE and REDIRECT use); the host's own by default."""
    found = ruleset.interface_addresses.get(device) if device else None
    if found is None:
        if ruleset.primary_address is None:
            raise ValueError(f"the ruleset knows no address of device {device!r}")
        return ruleset.primary_address
    return found


def _host(node: str) -> str:
    return str(Netns.host(node))


def _hop(state: HookState, action: Action, packet: Packet, rule: Rule, explain: str,
         alternatives: tuple[Alternative, ...] = ()) -> Hop:
    return Hop(node=state.ctx.node, netns=_host(state.ctx.node), device="iptables", kind=HopKind.NETFILTER,
               action=action, packet=packet, rule=f"{state.table} {rule.text}", explain=explain,
               alternatives=alternatives)
