"""nftables as the path engine evaluates it: an `nft -f` transaction (`add table|chain|set|map|rule|element`
lines) → a typed ruleset, and one packet's walk through the base chains of one hook in priority order.

Only the expressions and statements kube-proxy's nftables proxier writes are understood (see `parse_rule`);
a rule with anything else is kept with `unknown` set and never matches, so an unknown rule cannot change a
trace silently. Sets and maps are dictionaries keyed by the concatenated key (`10.96.0.10 . udp . 53`), so a
verdict-map lookup is one dictionary lookup, as in the kernel.

An `NftRuleset` is a `netfilter.HostRules`: `traverse(ruleset, hook, ctx) -> HookOutcome` is netfilter's, and a
node's iptables `Ruleset` runs an attached nftables table's base chains in the same hooks, by priority
(docs/kube-proxy.md, "nftables mode"). What a drop is about comes from the ruleset's notes (keyed by the rule's
text or the map element's line) and its explainer, as for iptables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, collapse_addresses

from webapp.engine.netfilter import (
    BaseChain, Hook, HookOutcome, HookState, HostRules, PacketContext, Stop, Verdict, choose_endpoint, dnat,
    masquerade,
)
from webapp.engine.netfilter import traverse as _traverse
from webapp.engine.trace import Action, Alternative, Hop, HopKind, Packet, SocketAddress
from webapp.narration import say

DEVICE = "nftables"
"""The `device` of the hops nftables decides (iptables hops say `iptables`)."""


class Selector(StrEnum):
    """A packet field an expression reads."""

    IP_SADDR = "ip saddr"
    IP_DADDR = "ip daddr"
    L4PROTO = "meta l4proto"
    TH_DPORT = "th dport"
    FIB_SADDR_TYPE = "fib saddr type"
    FIB_DADDR_TYPE = "fib daddr type"
    CT_STATE = "ct state"


class VerdictKind(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"
    RETURN = "return"
    JUMP = "jump"
    GOTO = "goto"


@dataclass(frozen=True)
class NftVerdict:
    """`accept`, `drop`, `reject`, `return`, `jump CHAIN`, `goto CHAIN`."""

    kind: VerdictKind
    chain: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.chain}" if self.chain else str(self.kind)

    @classmethod
    def parse(cls, text: str) -> NftVerdict:
        kind, _, chain = text.strip().partition(" ")
        return cls(VerdictKind(kind), chain or None)


@dataclass(frozen=True)
class Compare:
    """`SELECTOR [!=] VALUE`: a literal, a prefix, `@set`, or an anonymous set `{ a , b }`."""

    selector: Selector
    negate: bool
    values: tuple[str, ...] = ()
    set_name: str | None = None
    anonymous: bool = False


@dataclass(frozen=True)
class MarkTest:
    """`mark and MASK == VALUE`."""

    mask: int
    value: int


@dataclass(frozen=True)
class MapLookup:
    """`KEY . KEY … vmap @map`: the concatenated key looked up in a verdict map."""

    keys: tuple[Selector, ...]
    map_name: str


@dataclass(frozen=True)
class NumgenMap:
    """`numgen random mod N vmap { 0 : goto A , 1 : goto B }`: one of N verdicts, each equally likely."""

    modulus: int
    branches: tuple[NftVerdict, ...]


@dataclass(frozen=True)
class MarkSet:
    """`mark set mark or|xor VALUE`."""

    op: str
    value: int


@dataclass(frozen=True)
class Masquerade:
    """`masquerade [fully-random]`."""

    random_port: bool


@dataclass(frozen=True)
class Dnat:
    """`dnat to IP:PORT`."""

    to: SocketAddress


@dataclass(frozen=True)
class SetUpdate:
    """`update @set { ip saddr }`: a dynamic set learns the packet's field (session affinity)."""

    set_name: str
    selector: Selector


Expression = Compare | MarkTest | MapLookup | NumgenMap | MarkSet | Masquerade | Dnat | SetUpdate | NftVerdict


@dataclass(frozen=True)
class NftRule:
    """One rule: `text` as written (without its comment), its typed expressions in order, its comment."""

    chain: str
    text: str
    expressions: tuple[Expression, ...]
    comment: str = ""
    unknown: bool = False


@dataclass
class NftChain:
    """A chain; a base chain has a type, a hook and a priority. Rules are parsed from `lines` on first use."""

    name: str
    type: str | None = None
    hook: str | None = None
    priority: int | None = None
    comment: str = ""
    lines: list[str] = field(default_factory=list)
    _rules: list[NftRule] | None = field(default=None, repr=False, compare=False)

    @property
    def rules(self) -> list[NftRule]:
        if self._rules is None:
            self._rules = [parse_rule(self.name, line) for line in self.lines]
        return self._rules


@dataclass
class NftSet:
    """A named set or (verdict) map: its key types and, for a map, the element → verdict dictionary."""

    name: str
    key_types: tuple[str, ...]
    is_map: bool = False
    value_type: str = ""
    flags: tuple[str, ...] = ()
    timeout: int | None = None
    comment: str = ""
    elements: dict[tuple[str, ...], NftVerdict | None] = field(default_factory=dict)
    element_comments: dict[tuple[str, ...], str] = field(default_factory=dict)


class NftRuleset(HostRules):
    """One nftables table as an `nft -f` transaction creates it (`local_addresses` are what
    `fib saddr|daddr type local` holds for)."""

    def __init__(self, family: str = "ip", name: str = "kube-proxy") -> None:
        super().__init__()
        self.family = family
        self.name = name
        self.comment = ""
        self.chains: dict[str, NftChain] = {}
        self.sets: dict[str, NftSet] = {}
        self._hooks: dict[str, list[NftChain]] = {}

    def hook_chains(self, hook: Hook) -> list[NftChain]:
        """The base chains of `hook` in the order the kernel runs them (priority, then creation)."""
        found = self._hooks.get(str(hook).lower(), [])
        return sorted(found, key=lambda c: c.priority or 0)

    def base_chains(self, hook: Hook) -> list[BaseChain]:
        return [_NftBaseChain(self, chain) for chain in self.hook_chains(hook)]

    @classmethod
    def parse(cls, text: str) -> NftRuleset:
        """Read `add …` lines (comments and blank lines skipped); ValueError names the line it cannot read."""
        ruleset: NftRuleset | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] == "#":
                continue
            try:
                ruleset = _parse_line(ruleset, line)
            except (ValueError, KeyError, IndexError) as error:
                raise ValueError(f"line {number}: cannot read {line!r}: {error}") from None
        return ruleset or cls()


_ADD = re.compile(r"^add (?P<what>table|chain|set|map|rule|element) (?P<family>ip6?|inet) (?P<table>\S+)"
                  r"(?: (?P<name>\S+))?(?: (?P<rest>.*))?$")
_COMMENT = re.compile(r'\s*comment "(?P<text>[^"]*)"\s*$')


def _parse_line(ruleset: NftRuleset | None, line: str) -> NftRuleset:
    found = _ADD.match(line)
    if found is None:
        raise ValueError("not an `add` command")
    what, rest = found["what"], found["rest"] or ""
    if what == "table":
        ruleset = NftRuleset(found["family"], found["table"])
        ruleset.comment = _spec(found["name"] and f"{found['name']} {rest}" or "").get("comment", "")
        return ruleset
    if ruleset is None:
        raise ValueError("no table added yet")
    name = found["name"]
    if what == "chain":
        spec = _spec(rest)
        chain = ruleset.chains[name] = NftChain(name, spec.get("type"), spec.get("hook"),
                                                int(spec["priority"]) if "priority" in spec else None,
                                                spec.get("comment", ""))
        if chain.hook is not None:
            ruleset._hooks.setdefault(chain.hook, []).append(chain)
    elif what in ("set", "map"):
        spec = _spec(rest)
        key, _, value = spec["type"].partition(" : ")
        timeout = spec.get("timeout")
        ruleset.sets[name] = NftSet(name, tuple(k.strip() for k in key.split(" . ")), what == "map", value.strip(),
                                    tuple(spec["flags"].split(",")) if "flags" in spec else (),
                                    int(timeout.rstrip("s")) if timeout else None, spec.get("comment", ""))
    elif what == "rule":
        ruleset.chains[name].lines.append(rest)
    else:
        _add_elements(ruleset.sets[name], rest)
    return ruleset


def _spec(text: str) -> dict[str, str]:
    """`{ type filter hook prerouting priority -110 ; comment "x" ; }` → {"type": "filter", "hook": …}."""
    body = text.strip()
    if not body:
        return {}
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"expected {{ … }}, got {body!r}")
    out: dict[str, str] = {}
    for statement in body[1:-1].split(";"):
        words = statement.strip()
        if not words:
            continue
        keyword, _, value = words.partition(" ")
        if keyword == "type" and " hook " in value:  # base chain: type T hook H priority P
            kind, hook, priority = re.match(r"(\S+) hook (\S+) priority (\S+)", value).groups()
            out.update(type=kind, hook=hook, priority=priority)
        elif keyword == "comment":
            out["comment"] = value.strip().strip('"')
        else:
            out[keyword] = value.strip()
    return out


def _add_elements(target: NftSet, text: str) -> None:
    """`{ KEY [comment "c"] [: VERDICT] , … }` into the set or map."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError("elements must be in { … }")
    inner = body[1:-1]
    for item in (_split_top(inner, ",") if '"' in inner else inner.split(",")):
        item = item.strip()
        if not item:
            continue
        key_text, _, value = item.partition(" : ") if target.is_map else (item, "", "")
        comment = _COMMENT.search(key_text)
        if comment:
            key_text = key_text[: comment.start()]
        key = tuple(part.strip() for part in key_text.split(" . "))
        if len(key) != len(target.key_types):
            raise ValueError(f"element {key_text.strip()!r} does not fit {' . '.join(target.key_types)}")
        target.elements[key] = NftVerdict.parse(value) if target.is_map else None
        if comment:
            target.element_comments[key] = comment["text"]


def _split_top(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


_SELECTORS = {tuple(s.value.split()): s for s in Selector}


def parse_rule(chain: str, text: str) -> NftRule:
    """A rule's text → typed expressions. Unknown syntax gives a rule with `unknown` set (it never matches)."""
    comment = ""
    found = _COMMENT.search(text)
    if found:
        comment, text = found["text"], text[: found.start()]
    text = text.strip()
    try:
        if '"' in text:
            raise ValueError("quotes outside a trailing comment")
        expressions = tuple(_expressions(text.split()))
    except (ValueError, KeyError, IndexError):
        return NftRule(chain, text, (), comment, unknown=True)
    return NftRule(chain, text, expressions, comment)


def _expressions(words: list[str]):
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        if word in ("jump", "goto"):
            yield NftVerdict(VerdictKind(word), words[i + 1])
            i += 2
        elif word in ("accept", "drop", "reject", "return"):
            yield NftVerdict(VerdictKind(word))
            i += 1
        elif word == "mark" and words[i + 1] == "and":  # mark and MASK == VALUE
            if words[i + 3] != "==":
                raise ValueError("mark test")
            yield MarkTest(int(words[i + 2], 0), int(words[i + 4], 0))
            i += 5
        elif word == "mark" and words[i + 1] == "set":  # mark set mark or|xor VALUE
            if words[i + 2] != "mark" or words[i + 3] not in ("or", "xor"):
                raise ValueError("mark statement")
            yield MarkSet(words[i + 3], int(words[i + 4], 0))
            i += 5
        elif word == "numgen":  # numgen random mod N vmap { 0 : goto A , 1 : goto B }
            if words[i + 1:i + 3] != ["random", "mod"] or words[i + 4:i + 6] != ["vmap", "{"]:
                raise ValueError("numgen")
            end = words.index("}", i)
            branches = [b.strip() for b in " ".join(words[i + 6:end]).split(",")]
            verdicts: list[NftVerdict] = []
            for position, branch in enumerate(branches):
                number, _, verdict = branch.partition(" : ")
                if int(number) != position:
                    raise ValueError("numgen branches out of order")
                verdicts.append(NftVerdict.parse(verdict))
            yield NumgenMap(int(words[i + 3]), tuple(verdicts))
            i = end + 1
        elif word == "masquerade":
            fully = i + 1 < n and words[i + 1] == "fully-random"
            yield Masquerade(fully)
            i += 2 if fully else 1
        elif word == "dnat" and words[i + 1] == "to":
            yield Dnat(SocketAddress.parse(words[i + 2]))
            i += 3
        elif word == "update":  # update @set { ip saddr }
            if not words[i + 1].startswith("@") or words[i + 2] != "{" or words[i + 5] != "}":
                raise ValueError("update")
            yield SetUpdate(words[i + 1][1:], _SELECTORS[(words[i + 3], words[i + 4])])
            i += 6
        else:
            i = yield from _selector_expression(words, i)


def _selector_expression(words: list[str], i: int):
    """`SEL [!=] VALUE`, or a concatenation `SEL . SEL … vmap @map`."""
    width = 3 if tuple(words[i:i + 3]) in _SELECTORS else 2
    selector = _SELECTORS[tuple(words[i:i + width])]
    i += width
    if words[i] == ".":  # a concatenated key: SEL . SEL … vmap @map
        keys = [selector]
        while words[i] == ".":
            width = 3 if tuple(words[i + 1:i + 4]) in _SELECTORS else 2
            keys.append(_SELECTORS[tuple(words[i + 1:i + 1 + width])])
            i += 1 + width
        if words[i] != "vmap" or not words[i + 1].startswith("@"):
            raise ValueError("concatenation without vmap")
        yield MapLookup(tuple(keys), words[i + 1][1:])
        return i + 2
    negate = words[i] == "!="
    if negate:
        i += 1
    value = words[i]
    if value.startswith("@"):
        yield Compare(selector, negate, set_name=value[1:])
        return i + 1
    if value == "{":
        end = words.index("}", i)
        values = tuple(v for v in " ".join(words[i + 1:end]).replace(",", " ").split())
        yield Compare(selector, negate, values, anonymous=True)
        return end + 1
    if words[i + 1:i + 2] == ["."]:  # meta l4proto . th dport vmap @map after a plain compare
        raise ValueError("unexpected concatenation")
    yield Compare(selector, negate, (value,))
    return i + 1


# ---------------------------------------------------------------------------------------------------------
# Evaluation

def traverse(ruleset: NftRuleset, hook: Hook, ctx: PacketContext) -> HookOutcome:
    """Run the packet through the table's base chains of `hook` (priority order): `netfilter.traverse`."""
    return _traverse(ruleset, hook, ctx)


@dataclass(frozen=True, eq=False)
class _NftBaseChain:
    """A base chain of an nftables table, as a hook calls it."""

    ruleset: NftRuleset
    chain: NftChain

    @property
    def priority(self) -> int:
        return self.chain.priority or 0

    @property
    def nat(self) -> bool:
        return self.chain.type == "nat"

    def run(self, state: HookState) -> None:
        state.enter(self.ruleset, self.chain.name)
        state.caller = NftRule(self.chain.name, "", ())
        _run_chain(state, self.chain, depth=0)


class _Return(Exception):
    """`return`: back to the chain that jumped here."""


def _run_chain(state: HookState, chain: NftChain, depth: int) -> None:
    """Evaluate one chain; returns normally at its end or on `return`, raises Stop on a terminal verdict."""
    if depth > 32:
        raise Stop(Verdict.DROP, say("netfilter.loop.reason", chain=chain.name))
    for rule in chain.rules:
        if rule.unknown:
            continue
        try:
            if _run_rule(state, rule, depth):
                return
        except _Return:
            return


def _run_rule(state: HookState, rule: NftRule, depth: int) -> bool:
    """Evaluate a rule's expressions left to right; True when the chain ends here (`return`, or `goto` done)."""
    for expression in rule.expressions:
        if isinstance(expression, Compare):
            if not _compare(state, expression):
                return False
        elif isinstance(expression, MarkTest):
            if (state.mark & expression.mask) != expression.value:
                return False
        elif isinstance(expression, MapLookup):
            found = _lookup(state, expression)
            if found is None:
                return False
            key, verdict = found
            target = state.ruleset.sets[expression.map_name]
            element = NftRule(expression.map_name, element_line(key, verdict, target.element_comments.get(key)), ())
            if verdict.chain is not None and verdict.chain != "reject-chain":
                state.hops.append(_hop(state, Action.LOOKUP, state.packet, element, say(
                    "netfilter.nft.vmap", chain=rule.chain, key=" . ".join(key), map=expression.map_name,
                    count=len(target.elements), target=verdict.chain)))
            return _verdict(state, verdict, element, depth)
        elif isinstance(expression, NumgenMap):
            return _choose(state, rule, expression, depth)
        elif isinstance(expression, MarkSet):
            _mark(state, rule, expression)
        elif isinstance(expression, Masquerade):
            state.packet, explain = masquerade(state, rule.chain, "fully-random" if expression.random_port else None)
            state.hops.append(_hop(state, Action.MASQUERADE, state.packet, rule, explain))
            raise Stop(Verdict.ACCEPT)
        elif isinstance(expression, Dnat):
            state.packet, explain = dnat(state, rule.chain, expression.to)
            state.hops.append(_hop(state, Action.DNAT, state.packet, rule, explain))
            raise Stop(Verdict.ACCEPT)
        elif isinstance(expression, SetUpdate):
            continue  # the affinity set learns this client; a traced first connection has no entry yet
        else:
            return _verdict(state, expression, rule, depth)
    return False


def _hop_rule(state: HookState, rule: NftRule) -> str:
    """`kube-proxy CHAIN: RULE [comment "…"]`, or `kube-proxy MAP: ELEMENT` for a map element."""
    comment = f' comment "{rule.comment}"' if rule.comment else ""
    return f"{state.ruleset.name} {rule.chain}: {rule.text}{comment}"


def element_line(key: tuple[str, ...], verdict: NftVerdict | None, comment: str | None) -> str:
    """An element (of a set, or of a map with its verdict) as `nft` writes it:
    `10.96.0.10 . udp . 53 : goto service-…`."""
    text = " . ".join(key) + (f' comment "{comment}"' if comment else "")
    return f"{text} : {verdict}" if verdict is not None else text


def _verdict(state: HookState, verdict: NftVerdict, decided: NftRule, depth: int) -> bool:
    """Apply a verdict that `decided` (a rule, or a map element) gave; True when the calling chain ends."""
    kind = verdict.kind
    if kind == VerdictKind.RETURN:
        raise _Return
    if kind == VerdictKind.ACCEPT:
        raise Stop(Verdict.ACCEPT)
    if kind in (VerdictKind.DROP, VerdictKind.REJECT):
        _refuse(state, Verdict.DROP if kind == VerdictKind.DROP else Verdict.REJECT, decided)
    sub = state.ruleset.chains[verdict.chain]
    caller, state.caller = state.caller, decided
    state.path.append(sub.name)
    try:
        _run_chain(state, sub, depth + 1)
    finally:
        state.caller = caller
        state.path.pop()
    return kind == VerdictKind.GOTO  # after a goto, the calling chain does not resume


def _compare(state: HookState, compare: Compare) -> bool:
    value = _field(state, compare.selector)
    if compare.set_name is not None:
        found = (str(value),) in state.ruleset.sets[compare.set_name].elements
    elif compare.selector in (Selector.IP_SADDR, Selector.IP_DADDR):
        found = any(value in IPv4Network(v) for v in compare.values)
    elif compare.selector == Selector.CT_STATE:
        found = "new" in compare.values  # every traced request opens a new connection
    else:
        found = str(value) in compare.values
    return found != compare.negate


def _field(state: HookState, selector: Selector) -> object:
    packet = state.packet
    if selector == Selector.IP_SADDR:
        return packet.src.ip
    if selector == Selector.IP_DADDR:
        return packet.dst.ip
    if selector == Selector.L4PROTO:
        return packet.proto
    if selector == Selector.TH_DPORT:
        return packet.dst.port
    if selector == Selector.FIB_SADDR_TYPE:
        local = packet.src.ip in state.ruleset.local_addresses or (state.hook == Hook.OUTPUT
                                                                   and state.ctx.in_dev is None)
        return "local" if local else "unicast"
    if selector == Selector.FIB_DADDR_TYPE:
        return "local" if packet.dst.ip in state.ruleset.local_addresses else "unicast"
    return "new"


def _lookup(state: HookState, lookup: MapLookup) -> tuple[tuple[str, ...], NftVerdict] | None:
    key = tuple(str(_field(state, k)) for k in lookup.keys)
    verdict = state.ruleset.sets[lookup.map_name].elements.get(key)
    return None if verdict is None else (key, verdict)


def _hop(state: HookState, action: Action, packet: Packet, decided: NftRule, explain: str,
         alternatives: tuple[Alternative, ...] = ()) -> Hop:
    return Hop(node=state.ctx.node, netns=f"host/{state.ctx.node}", device=DEVICE, kind=HopKind.NETFILTER,
               action=action, packet=packet, rule=_hop_rule(state, decided), explain=explain,
               alternatives=alternatives)


def _mark(state: HookState, rule: NftRule, statement: MarkSet) -> None:
    before = state.mark
    state.mark = before | statement.value if statement.op == "or" else before ^ statement.value
    if state.mark & ~before:
        decided = state.caller if state.caller.text else rule
        chain = state.path[-2] if len(state.path) > 1 else rule.chain
        state.hops.append(_hop(state, Action.MARK, state.packet, decided,
                               say("netfilter.nft.mark", chain=chain, target=rule.chain, mark=state.mark)))


def _choose(state: HookState, rule: NftRule, numgen: NumgenMap, depth: int) -> bool:
    """`numgen random mod N vmap`: one hop listing every endpoint chain's DNAT target, then the chosen one."""
    options = [(verdict, to, 1.0 / numgen.modulus) for verdict in numgen.branches
               if (to := _dnat_target(state.ruleset.chains.get(verdict.chain or ""))) is not None]
    if not options:
        return False
    chosen, alternatives, suffix = choose_endpoint(state, [(v.chain or "", to, p) for v, to, p in options])
    explain = say("netfilter.nft.choose", path=" → ".join(state.path), chain=rule.chain, count=numgen.modulus,
                  chosen=alternatives[chosen].dst) + suffix
    chain = state.ruleset.chains[rule.chain]
    if any(isinstance(e, Compare) and e.set_name and e.set_name.startswith("affinity-")
           for r in chain.rules for e in r.expressions):
        explain += say("netfilter.nft.choose.affinity")
    state.hops.append(_hop(state, Action.LOOKUP, state.packet, rule, explain, alternatives))
    return _verdict(state, options[chosen][0], rule, depth)


def _dnat_target(chain: NftChain | None) -> SocketAddress | None:
    """The `dnat to` address of an endpoint chain."""
    for rule in chain.rules if chain else ():
        for expression in rule.expressions:
            if isinstance(expression, Dnat):
                return expression.to
    return None


def _refuse(state: HookState, verdict: Verdict, decided: NftRule) -> None:
    """A drop or reject: a hop naming the rule or map element that decided, and why. `reject-chain` only
    serves the no-endpoint maps, so its hop shows the element that sent the packet there."""
    if decided.chain == "reject-chain" and state.caller.text:
        decided = state.caller
    reason = state.ruleset.explainer.drop(state.ruleset, decided, verdict, state.packet) or say(
        "netfilter.rule.drops" if verdict == Verdict.DROP else "netfilter.rule.rejects", chain=decided.chain,
        why=decided.comment or decided.text)
    action = Action.DROP if verdict == Verdict.DROP else Action.REJECT
    state.hops.append(_hop(state, action, state.packet, decided, reason))
    raise Stop(verdict, reason)


# ---------------------------------------------------------------------------------------------------------
# `nft list table` — how nft (1.0.x) prints the table back

_STANDARD_PRIORITIES = (("raw", -300, None), ("mangle", -150, None), ("dstnat", -100, "prerouting"),
                        ("filter", 0, None), ("security", 50, None), ("srcnat", 100, "postrouting"))
"""nft's named priorities for the ip family; dstnat and srcnat are named only on their NAT hook."""


def nft_priority(hook: str, priority: int) -> str:
    """`dstnat - 10`, `filter`, `-110`: a named priority (± up to 10) where nft names it, else the number."""
    for name, value, only in _STANDARD_PRIORITIES:
        if only not in (None, hook) or abs(priority - value) > 10:
            continue
        offset = priority - value
        return name if offset == 0 else f"{name} {'-' if offset < 0 else '+'} {abs(offset)}"
    return str(priority)


def nft_duration(seconds: int) -> str:
    """`3h`, `1m30s`: nft's time format."""
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


def list_table(ruleset: NftRuleset) -> str:
    """What `nft list table FAMILY NAME` prints for the ruleset: sets and maps, then chains, in creation order."""
    blocks = [_list_set(s) for s in ruleset.sets.values()] + [_list_chain(c) for c in ruleset.chains.values()]
    head = f"table {ruleset.family} {ruleset.name} {{\n"
    if ruleset.comment:
        head += f'\tcomment "{ruleset.comment}"\n'
    return head + "\n".join(blocks) + "}\n"


def _list_set(target: NftSet) -> str:
    kind = "map" if target.is_map else "set"
    key = " . ".join(target.key_types) + (f" : {target.value_type}" if target.is_map else "")
    lines = [f"\t{kind} {target.name} {{", f"\t\ttype {key}"]
    if "dynamic" in target.flags:
        lines.append("\t\tsize 65535")
    if target.flags:
        lines.append(f"\t\tflags {','.join(target.flags)}")
    if target.timeout is not None:
        lines.append(f"\t\ttimeout {nft_duration(target.timeout)}")
    if target.comment:
        lines.append(f'\t\tcomment "{target.comment}"')
    if target.elements:
        keys = list(target.elements)
        per_line = 1
        if target.key_types == ("ipv4_addr",):  # nft sorts address sets and prints two per line
            keys.sort(key=lambda k: int(IPv4Address(k[0])))
            per_line = 2
        items = [element_line(k, target.elements[k], target.element_comments.get(k)) for k in keys]
        rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        lines.append("\t\telements = { " + ",\n\t\t\t     ".join(rows) + " }")
    return "\n".join(lines) + "\n\t}\n"


def _list_chain(chain: NftChain) -> str:
    lines = [f"\tchain {chain.name} {{"]
    if chain.comment:
        lines.append(f'\t\tcomment "{chain.comment}"')
    if chain.hook is not None:
        lines.append(f"\t\ttype {chain.type} hook {chain.hook} priority "
                     f"{nft_priority(chain.hook, chain.priority or 0)}; policy accept;")
    for rule in chain.rules:
        text = rule.text if rule.unknown else " ".join(listed_expression(e) for e in rule.expressions)
        lines.append(f"\t\t{text}" + (f' comment "{rule.comment}"' if rule.comment else ""))
    return "\n".join(lines) + "\n\t}\n"


def listed_expression(expression: Expression) -> str:
    """One expression as nft lists it (marks in full width, one-element anonymous sets as plain values)."""
    if isinstance(expression, Compare):
        op = "!= " if expression.negate else ""
        if expression.set_name is not None:
            value = f"@{expression.set_name}"
        elif expression.anonymous and expression.selector in (Selector.IP_SADDR, Selector.IP_DADDR):
            # An anonymous address set is an interval set: nft merges covered and adjacent ranges and lists them
            # in address order, a lone element without braces.
            merged = [str(n.network_address) if n.prefixlen == 32 else str(n)
                      for n in collapse_addresses(IPv4Network(v) for v in expression.values)]
            value = merged[0] if len(merged) == 1 else "{ " + ", ".join(merged) + " }"
        else:
            value = expression.values[0]
        return f"{expression.selector} {op}{value}"
    if isinstance(expression, MarkTest):
        return f"meta mark & {expression.mask:#010x} == {expression.value:#010x}"
    if isinstance(expression, MarkSet):
        return f"meta mark set meta mark {'|' if expression.op == 'or' else '^'} {expression.value:#010x}"
    if isinstance(expression, MapLookup):
        return " . ".join(str(k) for k in expression.keys) + f" vmap @{expression.map_name}"
    if isinstance(expression, NumgenMap):
        branches = ", ".join(f"{i} : {v}" for i, v in enumerate(expression.branches))
        return f"numgen random mod {expression.modulus} vmap {{ {branches} }}"
    if isinstance(expression, Masquerade):
        return "masquerade fully-random" if expression.random_port else "masquerade"
    if isinstance(expression, Dnat):
        return f"dnat to {expression.to}"
    if isinstance(expression, SetUpdate):
        return f"update @{expression.set_name} {{ {expression.selector} }}"
    return str(expression)
