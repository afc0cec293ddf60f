"""Name rules of the Kubernetes API server, checked at load so that no name can carry markup, whitespace or a
command into the diagram, the rules output or the lab.

Rules (k8s.io/apimachinery/pkg/util/validation, and pkg/apis/core/validation for which applies where):
- DNS-1123 subdomain (IsDNS1123Subdomain): at most 253 characters of `[a-z0-9.-]`, alphanumeric at both ends and
  around each dot — Node, Pod, Deployment, ConfigMap, Endpoints, EndpointSlice, NetworkPolicy names, nodeName,
  an ExternalName service's externalName (a trailing dot allowed);
- DNS-1123 label (IsDNS1123Label): at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends —
  namespaces, container names, service and endpoint port names;
- DNS-1035 label (IsDNS1035Label): a DNS-1123 label that starts with a letter — Service names
  (ValidateServiceName is NameIsDNS1035Label);
- IANA_SVC_NAME (IsValidPortName): 1-15 characters of `[a-z0-9-]`, at least one letter, no `--`, no `-` at
  either end — container port names and a service's named targetPort;
- label keys (IsQualifiedName): an optional DNS-1123 subdomain prefix and `/`, then at most 63 characters of
  `[A-Za-z0-9_.-]`, alphanumeric at both ends; label values (IsValidLabelValue): the same, or empty;
- interface names (the cluster YAML's `nic`): 1-15 characters (IFNAMSIZ) of `[A-Za-z0-9_.-]`, as `ip link`
  accepts without quoting;
- kinds (an ownerReference's `kind`): a CamelCase type name, letters and digits.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache


class NameRule(StrEnum):
    DNS1123_SUBDOMAIN = "DNS-1123 subdomain"
    DNS1123_LABEL = "DNS-1123 label"
    DNS1035_LABEL = "DNS-1035 label"
    PORT_NAME = "IANA_SVC_NAME"
    LABEL_KEY = "label key"
    LABEL_VALUE = "label value"
    INTERFACE = "interface name"
    KIND = "kind name"


_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_QUALIFIED = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_PATTERNS: dict[NameRule, tuple[re.Pattern[str], int]] = {
    NameRule.DNS1123_SUBDOMAIN: (re.compile(rf"{_LABEL}(?:\.{_LABEL})*"), 253),
    NameRule.DNS1123_LABEL: (re.compile(_LABEL), 63),
    NameRule.DNS1035_LABEL: (re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?"), 63),
    NameRule.PORT_NAME: (re.compile(r"(?!.*--)(?=.*[a-z])[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"), 15),
    NameRule.LABEL_VALUE: (re.compile(f"(?:{_QUALIFIED})?"), 63),
    NameRule.INTERFACE: (re.compile(r"[A-Za-z0-9_.-]+"), 15),
    NameRule.KIND: (re.compile(r"[A-Za-z][A-Za-z0-9]*"), 63),
}

RULE_HINTS: dict[NameRule, str] = {
    NameRule.DNS1123_SUBDOMAIN: "a DNS-1123 subdomain: at most 253 characters, lower-case letters, digits, '-' "
                                "and '.', starting and ending with a letter or digit",
    NameRule.DNS1123_LABEL: "a DNS-1123 label: at most 63 characters, lower-case letters, digits and '-', "
                            "starting and ending with a letter or digit",
    NameRule.DNS1035_LABEL: "a DNS-1035 label: at most 63 characters, lower-case letters, digits and '-', "
                            "starting with a letter and ending with a letter or digit",
    NameRule.PORT_NAME: "an IANA_SVC_NAME: at most 15 characters, lower-case letters, digits and '-', at least one "
                        "letter, no '--', starting and ending with a letter or digit",
    NameRule.LABEL_KEY: "a label key: an optional DNS-1123 subdomain prefix and '/', then at most 63 characters, "
                        "letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    NameRule.LABEL_VALUE: "a label value: empty, or at most 63 characters, letters, digits, '-', '_' and '.', "
                          "starting and ending with a letter or digit",
    NameRule.INTERFACE: "an interface name: 1 to 15 characters, letters, digits, '-', '_' and '.'",
    NameRule.KIND: "a kind such as ReplicaSet: at most 63 letters and digits, starting with a letter",
}


RULE_CODES: dict[NameRule, str] = {
    NameRule.DNS1123_SUBDOMAIN: "E-NAME-DNS1123-SUBDOMAIN",
    NameRule.DNS1123_LABEL: "E-NAME-DNS1123-LABEL",
    NameRule.DNS1035_LABEL: "E-NAME-DNS1035-LABEL",
    NameRule.PORT_NAME: "E-NAME-IANA-SVC-NAME",
    NameRule.LABEL_KEY: "E-NAME-LABEL-KEY",
    NameRule.LABEL_VALUE: "E-NAME-LABEL-VALUE",
    NameRule.INTERFACE: "E-NAME-INTERFACE",
    NameRule.KIND: "E-NAME-KIND",
}
"""The Problem code of a name that breaks each rule."""


def follows(rule: NameRule, value: object) -> bool:
    """True when `value` is a string that follows `rule`."""
    if not isinstance(value, str):
        return False
    return _follows(rule, value)


@lru_cache(maxsize=1 << 16)
def _follows(rule: NameRule, value: str) -> bool:
    """`follows` for a string, memoised: a dump repeats its namespaces, label keys and values thousands of times
    (a 1,000-node dump checks 420,000 names, of which a few thousand differ); the bound keeps hostile input small."""
    if rule == NameRule.LABEL_KEY:
        prefix, slash, name = value.rpartition("/")
        if slash and not follows(NameRule.DNS1123_SUBDOMAIN, prefix):
            return False
        return bool(name) and follows(NameRule.LABEL_VALUE, name)
    pattern, longest = _PATTERNS[rule]
    return len(value) <= longest and pattern.fullmatch(value) is not None


def json_pattern(rule: NameRule) -> dict[str, object]:
    """JSON Schema keywords for a string following `rule` (not LABEL_KEY: its prefix makes it two parts)."""
    pattern, longest = _PATTERNS[rule]
    return {"type": "string", "pattern": f"^(?:{pattern.pattern})$", "maxLength": longest}


def shown(value: object, limit: int = 60) -> str:
    """A name as quoted in a message: repr (newlines and quotes escaped), cut after `limit` characters."""
    if not isinstance(value, str):
        return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else str(value)
    text = value if len(value) <= limit else value[:limit] + "…"
    return repr(text) + (f" ({len(value)} characters)" if len(value) > limit else "")
