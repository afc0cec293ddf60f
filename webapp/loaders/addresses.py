"""IPv4 addresses and CIDRs written with leading zeros (`010.0.0.1`, as old API objects may hold them), read as
kube-proxy reads them: every part in decimal (k8s.io/utils/net `ParseIPSloppy` / `ParseCIDRSloppy`, Go 1.16's
parser kept for compatibility), with a warning. Not octal, as C's `inet_aton` would read `010` (8)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

LEADING_ZERO_CODE = "W-IP-LEADING-ZERO"


def _decimal_parts(text: str) -> list[int] | None:
    parts = text.split(".")
    if len(parts) != 4 or not all(p and p.isascii() and p.isdigit() for p in parts):
        return None
    values = [int(p) for p in parts]
    return values if all(v <= 255 for v in values) else None


def has_leading_zero(text: object) -> bool:
    """Whether `text` is an IPv4 address (or CIDR) one of whose parts has a leading zero (`010`, `00`)."""
    if not isinstance(text, str):
        return False
    address = text.partition("/")[0]
    return _decimal_parts(address) is not None and any(len(p) > 1 and p[0] == "0" for p in address.split("."))


def sloppy_ipv4(text: str) -> IPv4Address | None:
    """The address of a dotted quad with leading zeros, each part decimal; None for anything else."""
    if not has_leading_zero(text) or "/" in text:
        return None
    parts = _decimal_parts(text)
    return None if parts is None else IPv4Address(".".join(map(str, parts)))


def sloppy_cidr(text: str, strict: bool = True) -> IPv4Network | None:
    """A CIDR whose address has leading zeros (`010.244.0.0/16`), each part decimal; None for anything else (and,
    when `strict`, for one with host bits set). Raises nothing."""
    address, slash, prefix = text.partition("/") if isinstance(text, str) else ("", "", "")
    base = sloppy_ipv4(address)
    if base is None or not slash or not (prefix.isascii() and prefix.isdigit()) or len(prefix) > 2:
        return None
    try:
        return IPv4Network(f"{base}/{int(prefix)}", strict=strict)
    except ValueError:
        return None


def leading_zero_message(text: str, read_as: object) -> tuple[str, str]:
    """(message, hint) of the warning for an address or CIDR written with leading zeros."""
    return (f"{text} has a leading zero: read as {read_as}, each part decimal, as kube-proxy reads it (not octal)",
            f"write {read_as}: newer API servers refuse leading zeros in new objects")
