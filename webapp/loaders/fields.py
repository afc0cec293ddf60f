"""Field readers shared by the manifest readers: each returns a field's value or raises `Bad` naming where it is
and what is wrong (Kubernetes' own name, label, address and port rules)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from webapp.loaders.addresses import LEADING_ZERO_CODE, leading_zero_message, sloppy_cidr, sloppy_ipv4
from webapp.loaders.names import RULE_CODES, RULE_HINTS, NameRule, follows, shown
from webapp.loaders.schema import describe, did_you_mean
from webapp.model import labels_of


class Bad(Exception):
    """A field with a wrong value: where it is (below the object) and what is wrong."""

    def __init__(self, path: tuple[str | int, ...], code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.path = path
        self.code = code
        self.message = message
        self.hint = hint


class Lenient(Bad):
    """A field read the way kube-proxy reads it, though the API server would not write it so today (an address
    with leading zeros): `value` is what was read; the problem is a warning where a reader takes it
    (manifests' `field`), an error elsewhere."""

    def __init__(self, path: tuple[str | int, ...], code: str, message: str, hint: str, value: Any):
        super().__init__(path, code, message, hint)
        self.value = value


@dataclass(frozen=True)
class Meta:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    controller: str | None


NAME_RULES = {"Service": NameRule.DNS1035_LABEL}
"""The API server's rule for `metadata.name` by kind (ValidateServiceName is DNS-1035); others: DNS-1123
subdomain."""


def read_name(value: Any, at: tuple[str | int, ...], rule: NameRule, what: str = "name") -> str:
    """`value` when it follows the API server's `rule`; else Bad with the rule in the hint."""
    if not follows(rule, value):
        raise Bad(at, RULE_CODES[rule], f"invalid {what} {shown(value)}: not a valid {rule}", RULE_HINTS[rule])
    return value  # type: ignore[no-any-return]


def read_labels(value: Any, at: tuple[str | int, ...]) -> tuple[tuple[str, str], ...]:
    """A label map (or a selector) whose keys and values follow the label rules."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise Bad(at, "E-TYPE", f"expected a map of labels, got {describe(value)}")
    for key, item in value.items():
        read_name(key, at + (str(key),), NameRule.LABEL_KEY, "label key")
        read_name(item, at + (key,), NameRule.LABEL_VALUE, f"value of label {key}")
    return labels_of(value)


def read_meta(data: dict[str, Any]) -> Meta:
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        raise Bad(("metadata",), "E-METADATA-MISSING", "object has no metadata")
    name = meta.get("name")
    if not name or not isinstance(name, str):
        raise Bad(("metadata",), "E-METADATA-MISSING", "object has no metadata.name")
    read_name(name, ("metadata", "name"), NAME_RULES.get(data["kind"], NameRule.DNS1123_SUBDOMAIN))
    namespace = meta.get("namespace") or "default"
    read_name(namespace, ("metadata", "namespace"), NameRule.DNS1123_LABEL, "namespace")
    labels = read_labels(meta.get("labels"), ("metadata", "labels"))
    controller = None
    for i, ref in enumerate(meta.get("ownerReferences") or ()):
        if isinstance(ref, dict) and ref.get("controller"):
            at = ("metadata", "ownerReferences", i)
            kind = read_name(ref.get("kind"), at + ("kind",), NameRule.KIND, "owner kind")
            controller = f"{kind}/{read_name(ref.get('name'), at + ('name',), NameRule.DNS1123_SUBDOMAIN, 'owner name')}"
    return Meta(name, namespace, labels, controller)


def mapping_of(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def list_of(data: dict[str, Any], key: str, at: tuple[str | int, ...]) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Bad(at + (key,), "E-TYPE", f"expected a list, got {describe(value)}")
    return value


def is_ipv4(text: Any) -> bool:
    return isinstance(text, str) and text.count(".") == 3 and ":" not in text


def read_ip(text: Any, at: tuple[str | int, ...]) -> IPv4Address:
    """An IPv4 address; one with leading zeros raises `Lenient` with its decimal reading."""
    try:
        return parse_ip(text)
    except (ValueError, TypeError, OSError):
        sloppy = sloppy_ipv4(text) if isinstance(text, str) else None
        if sloppy is not None:
            raise Lenient(at, LEADING_ZERO_CODE, *leading_zero_message(text, sloppy), sloppy) from None
        raise Bad(at, "E-VALUE-IPV4", f"expected an IPv4 address, got {describe(text)}") from None


@lru_cache(maxsize=131072)
def parse_ip(text: str) -> IPv4Address:
    """Dotted-quad IPv4 (inet_pton is strict: four decimal octets), cached: a dump repeats each pod IP."""
    return IPv4Address(socket.inet_pton(socket.AF_INET, text))


def read_cidr(text: Any, at: tuple[str | int, ...], strict: bool = True) -> IPv4Network:
    """An IPv4 CIDR; one with leading zeros raises `Lenient` with its decimal reading."""
    try:
        if not isinstance(text, str) or "/" not in text:
            raise ValueError
        return ipaddress.IPv4Network(text, strict=strict)
    except ValueError:
        sloppy = sloppy_cidr(text, strict) if isinstance(text, str) else None
        if sloppy is not None:
            raise Lenient(at, LEADING_ZERO_CODE, *leading_zero_message(text, sloppy), sloppy) from None
        raise Bad(at, "E-VALUE-CIDR",
                  f"expected an IPv4 CIDR such as 10.244.0.0/16, got {describe(text)}") from None


def read_port(value: Any, at: tuple[str | int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Bad(at, "E-VALUE-PORT", f"expected a port number (1-65535), got {describe(value)}")
    return value


def read_enum(value: Any, at: tuple[str | int, ...], enum: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = [str(v) for v in enum]
        raise Bad(at, "E-VALUE-ENUM", f"expected one of {', '.join(choices)}, got {describe(value)}",
                  did_you_mean(str(value), choices)) from None


def read_number(value: Any, at: tuple[str | int, ...], what: str, low: int, high: int) -> int:
    """An integer from `low` to `high` (flannel's net-conf.json numbers)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Bad(at, "E-VALUE-INTEGER", f"expected {what} from {low} to {high}, got {describe(value)}")
    return value
