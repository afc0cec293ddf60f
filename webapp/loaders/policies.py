"""NetworkPolicy and Namespace objects (networking.k8s.io/v1, v1) → the model, with each bad field reported at
its place (the field names of `kubectl explain networkpolicy.spec`)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any, Callable

from webapp.loaders.drafts import Origin
from webapp.loaders.fields import Bad, Lenient, list_of, mapping_of, read_cidr, read_enum, read_meta, read_port
from webapp.loaders.schema import describe
from webapp.model import (
    NAMESPACE_NAME_LABEL,
    IPBlock,
    LabelRequirement,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    PolicyType,
    Protocol,
    SelectorOperator,
    default_policy_types,
    labels_of,
)

At = tuple[str | int, ...]
Check = Callable[..., Any]


def read_network_policy(check: Check, data: dict[str, Any], origin: Origin) -> NetworkPolicy:
    """A NetworkPolicy; `check(reader, value, at, *extra)` records a bad field and goes on (None for it)."""
    meta = read_meta(data)
    spec = mapping_of(data, "spec")
    if "podSelector" not in spec:
        raise Bad(("spec",), "E-POLICY-SELECTOR-MISSING",
                  "a NetworkPolicy needs spec.podSelector ({} selects every pod of its namespace)")
    selector = check(read_selector, spec["podSelector"], ("spec", "podSelector"))
    given = tuple(check(read_enum, t, ("spec", "policyTypes", i), PolicyType)
                  for i, t in enumerate(list_of(spec, "policyTypes", ("spec",))))
    ingress = _rules(check, spec, "ingress", "from")
    egress = _rules(check, spec, "egress", "to")
    return NetworkPolicy(
        namespace=meta.namespace, name=meta.name, pod_selector=selector or LabelSelector(),
        policy_types=default_policy_types(tuple(t for t in given if t is not None), bool(egress)),
        ingress=ingress, egress=egress, source=origin.source_ref(),
    )


def read_namespace(data: dict[str, Any], origin: Origin) -> Namespace:
    """A Namespace with its labels; the API server's `kubernetes.io/metadata.name` label is set to its name."""
    meta = read_meta(data)
    return Namespace(meta.name, namespace_labels(meta.name, meta.labels), origin.source_ref())


def namespace_labels(name: str, labels: Any) -> tuple[tuple[str, str], ...]:
    """Labels of namespace `name` as the API server keeps them: `kubernetes.io/metadata.name` is always its name."""
    return labels_of({**dict(labels), NAMESPACE_NAME_LABEL: name})


def read_selector(value: Any, at: At) -> LabelSelector:
    """A metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    if value is None:
        return LabelSelector()
    if not isinstance(value, dict):
        raise Bad(at, "E-TYPE", f"expected a label selector mapping, got {describe(value)}")
    unknown = sorted(set(value) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise Bad(at + (unknown[0],), "E-UNKNOWN-KEY", f"unknown key '{unknown[0]}' in a label selector",
                  "use matchLabels or matchExpressions")
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, dict):
        raise Bad(at + ("matchLabels",), "E-TYPE", f"expected a map of labels, got {describe(labels)}")
    for key, label in labels.items():
        if not isinstance(label, (str, int, float)) or isinstance(label, bool):
            raise Bad(at + ("matchLabels", key), "E-TYPE", f"expected a label value, got {describe(label)}")
    requirements = []
    for i, entry in enumerate(list_of(value, "matchExpressions", at)):
        here = at + ("matchExpressions", i)
        if not isinstance(entry, dict):
            raise Bad(here, "E-TYPE", f"expected a requirement mapping (key, operator, values), got {describe(entry)}")
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            raise Bad(here, "E-POLICY-SELECTOR", "a requirement needs a key")
        operator = read_enum(entry.get("operator"), here + ("operator",), SelectorOperator)
        values = list_of(entry, "values", here)
        if operator in (SelectorOperator.IN, SelectorOperator.NOT_IN) and not values:
            raise Bad(here + ("values",) if "values" in entry else here, "E-POLICY-SELECTOR",
                      f"operator {operator} needs a non-empty values list")
        if operator in (SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST) and values:
            raise Bad(here + ("values",), "E-POLICY-SELECTOR", f"operator {operator} takes no values")
        requirements.append(LabelRequirement(key, operator, tuple(str(v) for v in values)))
    return LabelSelector(labels_of(labels), tuple(requirements))


def _rules(check: Check, spec: dict[str, Any], direction: str, peers_key: str) -> tuple[PolicyRule, ...]:
    rules = []
    for i, rule in enumerate(list_of(spec, direction, ("spec",))):
        here: At = ("spec", direction, i)
        if rule is None:
            rule = {}
        if not isinstance(rule, dict):
            raise Bad(here, "E-TYPE", f"expected a rule mapping ({peers_key}, ports), got {describe(rule)}")
        peers = tuple(check(_peer, p, here + (peers_key, j)) for j, p in enumerate(list_of(rule, peers_key, here)))
        ports = tuple(check(_policy_port, p, here + ("ports", k)) for k, p in enumerate(list_of(rule, "ports", here)))
        rules.append(PolicyRule(peers, ports))
    return tuple(rules)


def _peer(value: Any, at: At) -> PolicyPeer:
    if not isinstance(value, dict):
        raise Bad(at, "E-TYPE",
                  f"expected a peer mapping (podSelector, namespaceSelector or ipBlock), got {describe(value)}")
    known = {"podSelector", "namespaceSelector", "ipBlock"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise Bad(at + (unknown[0],), "E-UNKNOWN-KEY", f"unknown key '{unknown[0]}' in a peer",
                  "use podSelector, namespaceSelector or ipBlock")
    if not value:
        raise Bad(at, "E-POLICY-PEER", "a peer needs podSelector, namespaceSelector or ipBlock")
    if "ipBlock" in value:
        if len(value) > 1:
            raise Bad(at + ("ipBlock",), "E-POLICY-PEER",
                      "ipBlock cannot be combined with podSelector or namespaceSelector "
                      "in one peer", "write it as a peer of its own")
        return PolicyPeer(ip_block=_ip_block(value["ipBlock"], at + ("ipBlock",)))
    return PolicyPeer(
        pod_selector=read_selector(value["podSelector"], at + ("podSelector",)) if "podSelector" in value else None,
        namespace_selector=(read_selector(value["namespaceSelector"], at + ("namespaceSelector",))
                            if "namespaceSelector" in value else None),
    )


def _ip_block(value: Any, at: At) -> IPBlock:
    if not isinstance(value, dict):
        raise Bad(at, "E-TYPE", f"expected an ipBlock mapping (cidr, except), got {describe(value)}")
    cidr = _strict_cidr(value.get("cidr"), at + ("cidr",))
    excepted = tuple(_strict_cidr(e, at + ("except", i)) for i, e in enumerate(list_of(value, "except", at)))
    return ip_block(cidr, excepted, at)


def _strict_cidr(value: Any, at: At) -> IPv4Network:
    """An ipBlock CIDR: leading zeros are an error here (Go's net.ParseCIDR, which policy plugins use, refuses them)."""
    try:
        return read_cidr(value, at, False)
    except Lenient as lenient:
        raise Bad(at, "E-VALUE-CIDR", f"{value} has a leading zero: a NetworkPolicy ipBlock must be written without",
                  f"write {lenient.value}") from None


def ip_block(cidr: IPv4Network, excepted: tuple[IPv4Network, ...], at: At) -> IPBlock:
    """An ipBlock whose every `except` lies strictly inside its cidr (as the API server validates it)."""
    for i, net in enumerate(excepted):
        if not net.subnet_of(cidr) or net == cidr:
            raise Bad(at + ("except", i), "E-POLICY-IPBLOCK-EXCEPT",
                      f"except {net} is not a strict subset of cidr {cidr}")
    return IPBlock(cidr, excepted)


def _policy_port(value: Any, at: At) -> PolicyPort:
    if not isinstance(value, dict):
        raise Bad(at, "E-TYPE", f"expected a port mapping (protocol, port, endPort), got {describe(value)}")
    protocol = read_enum(value.get("protocol", "TCP"), at + ("protocol",), Protocol)
    port = value.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, int) and not isinstance(port, bool):
        port = read_port(port, at + ("port",))
    elif port is not None and (not isinstance(port, str) or not port or len(port) > 15):
        raise Bad(at + ("port",), "E-TYPE", f"expected a port number or a container port name, got {describe(port)}")
    end = value.get("endPort")
    return policy_port(protocol, port, read_port(end, at + ("endPort",)) if end is not None else None, at)


def policy_port(protocol: Protocol, port: int | str | None, end: int | None, at: At) -> PolicyPort:
    """A policy port whose `endPort` follows a numeric port, not below it (as the API server validates it)."""
    if end is not None:
        if not isinstance(port, int):
            raise Bad(at + ("endPort",), "E-POLICY-END-PORT",
                      "endPort needs a numeric port", "give port as the first port of the range")
        if end < port:
            raise Bad(at + ("endPort",), "E-POLICY-END-PORT", f"endPort {end} is below port {port}")
    return PolicyPort(protocol, port, end)
