"""The cluster YAML format, declared once: field table → validation (unknown keys with a "did you mean" hint,
types, ranges) and → the published JSON Schema (`webapp/schema/cluster.schema.json`)."""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Callable

from webapp.loaders.addresses import LEADING_ZERO_CODE, has_leading_zero, leading_zero_message, sloppy_cidr, \
    sloppy_ipv4
from webapp.loaders.drafts import Origin
from webapp.loaders.names import RULE_CODES, RULE_HINTS, NameRule, follows, json_pattern, shown
from webapp.model import (
    Bridge,
    KubeProxyMode,
    LoadBalancerMode,
    NetworkPlugin,
    Overlay,
    PolicyType,
    Protocol,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
)
from webapp.problems import Problem, Severity

SCHEMA_FILE = FsPath(__file__).resolve().parent.parent / "schema" / "cluster.schema.json"
SCHEMA_ID = "https://k8s-netviz.invalid/schema/cluster.schema.json"


@dataclass(frozen=True)
class Scalar:
    kind: str
    """string, name, integer, boolean, ipv4, cidr, port, target-port, port-range, cluster-ip, enum, labels."""
    doc: str
    values: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None
    rule: NameRule | None = None
    """For `name`: the Kubernetes name rule the string follows."""


def _named(rule: NameRule, doc: str, default: Any = None) -> Scalar:
    return Scalar("name", doc, default=default, rule=rule)


@dataclass(frozen=True)
class ListOf:
    item: "Spec"
    doc: str


@dataclass(frozen=True)
class Obj:
    name: str
    doc: str
    shorthand: Scalar | None = None
    """A scalar that may stand for the whole object (e.g. a port number for a port)."""
    shorthand_key: str = ""


Spec = Scalar | ListOf | Obj


@dataclass(frozen=True)
class ObjectSpec:
    title: str
    fields: dict[str, Spec]
    required: tuple[str, ...] = ()
    doc: str = ""


def _enum(enum: type, doc: str, default: Any = None) -> Scalar:
    return Scalar("enum", doc, tuple(str(v) for v in enum), default=default)


_PORT = Scalar("port", "A TCP/UDP port number, 1-65535.")
_PROTOCOL = _enum(Protocol, "Transport protocol.", "TCP")
_LABELS = Scalar("labels", "Labels: a map of strings.")
_NAMESPACE = _named(NameRule.DNS1123_LABEL, "Namespace (inherited: cluster → node → pod).", "default")

OBJECTS: dict[str, ObjectSpec] = {
    "cluster": ObjectSpec("cluster", {
        "kind": Scalar("enum", "Optional marker of the format.", ("Cluster",)),
        "apiVersion": Scalar("enum", "Optional marker of the format.", ("k8s-netviz/v1",)),
        "name": Scalar("string", "Cluster name shown in the app.", default="cluster"),
        "title": Scalar("string", "Short title in the sample picker (default: the name)."),
        "description": Scalar("string", "One line shown in the sample list.", default=""),
        "namespace": _NAMESPACE,
        "network": Obj("network", "Cluster-wide network settings."),
        "nodes": ListOf(Obj("node", "A node."), "The nodes, in display order (default: node-1 and node-2)."),
        "pods": ListOf(Obj("pod", "A pod."), "Pods not placed under a node: scheduled onto the nodes."),
        "services": ListOf(Obj("service", "A Service."), "Services."),
        "external": ListOf(Obj("external", "An outside host."), "Hosts outside the cluster (clients)."),
        "namespaces": ListOf(Obj("namespaceObject", "A namespace and its labels."),
                             "Namespaces with labels (every namespace has kubernetes.io/metadata.name anyway)."),
        "policies": ListOf(Obj("policy", "A NetworkPolicy."), "NetworkPolicies, in a concise form."),
        "loadBalancer": Obj("loadBalancer", "How the load balancer reaches the nodes."),
    }, doc="A whole cluster in the project's short authoring format."),
    "network": ObjectSpec("network", {
        "cni": _named(NameRule.DNS1123_LABEL, "CNI name (default follows the overlay: flannel, or ovs)."),
        "overlay": _enum(Overlay, "How pod traffic crosses nodes.", "flannel-vxlan"),
        "bridge": _enum(Bridge, "The node bridge pods attach to.", "cni0"),
        "podCIDR": Scalar("cidr", "Cluster pod network; node podCIDRs are carved from it.", default="10.244.0.0/16"),
        "nodeCIDRMask": Scalar("integer", "Prefix length of each node's podCIDR.", minimum=8, maximum=30, default=24),
        "serviceCIDR": Scalar("cidr", "Service (clusterIP) range.", default="10.96.0.0/12"),
        "clusterDNS": Scalar("ipv4", "kube-dns clusterIP (default: 10th address of serviceCIDR)."),
        "clusterDomain": _named(NameRule.DNS1123_SUBDOMAIN, "DNS domain of the cluster.", "cluster.local"),
        "kubeProxy": _enum(KubeProxyMode, "kube-proxy mode.", "iptables"),
        "nodePortRange": Scalar("port-range", "NodePort range, `FIRST-LAST`.", default="30000-32767"),
        "nodeNetwork": Scalar("cidr", "The underlay the nodes' NICs sit on (default: the /24 or wider holding them)."),
        "nic": _named(NameRule.INTERFACE, "Default node NIC name.", "eth0"),
        "mtu": Scalar("integer", "NIC MTU.", minimum=576, maximum=9216, default=1500),
        "vxlanVNI": Scalar("integer", "VXLAN network identifier.", minimum=0, maximum=16777215),
        "vxlanPort": Scalar("port", "VXLAN UDP port (flannel 8472, OVS 4789)."),
        "ipMasq": Scalar("boolean", "Masquerade pod traffic leaving the pod network.", default=True),
        "plugin": _enum(NetworkPlugin, "Network plugin: flannel enforces no NetworkPolicy, canal does.", "flannel"),
        "nodePortAddresses": ListOf(
            Scalar("nodeport-address", "A CIDR, or `primary` alone: the node's InternalIP."),
            "kube-proxy's nodePortAddresses: the node addresses nodePorts answer on (default: every one)."),
        "masqueradeAll": Scalar("boolean", "kube-proxy's masqueradeAll: SNAT every connection to a cluster IP.",
                                default=False),
        "localhostNodePorts": Scalar("boolean", "kube-proxy's iptables.localhostNodePorts: nodePorts answer on "
                                                "127.0.0.0/8 (iptables mode).", default=True),
        "serviceCIDRRoute": Scalar("string", "`via NODE`: the network outside the cluster routes serviceCIDR to that "
                                             "node, so outside clients reach cluster IPs (default: not routed)."),
    }, doc="Cluster-wide network settings."),
    "loadBalancer": ObjectSpec("loadBalancer", {
        "mode": _enum(LoadBalancerMode, "passthrough: the LB delivers packets still addressed to its IP (GCE, "
                                        "MetalLB); proxy: it connects to a node's nodePort itself.", "passthrough"),
    }, doc="The cloud load balancer in front of LoadBalancer Services."),
    "node": ObjectSpec("node", {
        "name": _named(NameRule.DNS1123_SUBDOMAIN, "Node name."),
        "ip": Scalar("ipv4", "InternalIP (default: next free address of nodeNetwork from .11)."),
        "podCIDR": Scalar("cidr", "Node pod subnet (default: next free /nodeCIDRMask of podCIDR)."),
        "nic": _named(NameRule.INTERFACE, "NIC name (default: network.nic)."),
        "externalIP": Scalar("ipv4", "ExternalIP."),
        "addresses": ListOf(Scalar("ipv4", "An address."),
                            "More addresses on the node's NIC besides ip (each /32; the outside network routes it to "
                            "the node), e.g. a second IP kube-proxy's nodePortAddresses may select."),
        "labels": _LABELS,
        "ready": Scalar("boolean", "Node Ready condition.", default=True),
        "schedulable": Scalar("boolean", "Pods without a node may be scheduled here.", default=True),
        "version": Scalar("k8s-version", "Kubernetes version of the node (e.g. v1.31.2)."),
        "nfacct": Scalar("boolean", "kube-proxy counts with nfacct (-m nfacct in its rules; default: on from "
                                    "v1.31)."),
        "namespace": _named(NameRule.DNS1123_LABEL, "Default namespace of this node's pods (inherits cluster "
                                                    "namespace)."),
        "pods": ListOf(Obj("pod", "A pod."), "Pods running on this node."),
    }, required=("name",), doc="A node and the pods on it."),
    "pod": ObjectSpec("pod", {
        "name": _named(NameRule.DNS1123_SUBDOMAIN, "Pod name."),
        "namespace": _named(NameRule.DNS1123_LABEL, "Namespace (default: node's, then cluster's)."),
        "node": _named(NameRule.DNS1123_SUBDOMAIN, "Node (only for top-level pods; default: scheduled)."),
        "ip": Scalar("ipv4", "Pod IP (default: host-local allocation, .2 upwards)."),
        "labels": _LABELS,
        "ready": Scalar("boolean", "Readiness (not-ready pods are not-ready endpoints).", default=True),
        "hostNetwork": Scalar("boolean", "Share the node's network namespace and IP.", default=False),
        "down": Scalar("boolean", "The pod stops answering though still listed as ready.", default=False),
        "containers": ListOf(
            Obj("container", "A container.", _named(NameRule.DNS1123_LABEL, "Container name."), "name"),
            "Containers besides the implicit pause container (default: one named after the pod).",
        ),
    }, required=("name",), doc="A pod."),
    "container": ObjectSpec("container", {
        "name": _named(NameRule.DNS1123_LABEL, "Container name."),
        "image": Scalar("string", "Image.", default=""),
        "ports": ListOf(
            Obj("containerPort", "A port.", _PORT, "port"),
            "Ports it listens on: numbers or {port, name, protocol, hostPort}.",
        ),
    }, required=("name",), doc="A container."),
    "containerPort": ObjectSpec("containerPort", {
        "port": _PORT,
        "name": _named(NameRule.PORT_NAME, "Port name, referenced by a service's targetPort."),
        "protocol": _PROTOCOL,
        "hostPort": _PORT,
    }, required=("port",), doc="A container port."),
    "service": ObjectSpec("service", {
        "name": _named(NameRule.DNS1035_LABEL, "Service name."),
        "namespace": _named(NameRule.DNS1123_LABEL, "Namespace (default: cluster's)."),
        "type": _enum(ServiceType, "Service type.", "ClusterIP"),
        "clusterIP": Scalar("cluster-ip", "clusterIP, or `None` for a headless service (default: allocated)."),
        "selector": _LABELS,
        "ports": ListOf(
            Obj("servicePort", "A port.", _PORT, "port"),
            "Ports: numbers or {name, port, targetPort, nodePort, protocol}.",
        ),
        "externalIPs": ListOf(Scalar("ipv4", "An address."), "spec.externalIPs."),
        "loadBalancerIP": ListOf(Scalar("ipv4", "An address."), "Load-balancer ingress IPs."),
        "loadBalancerSourceRanges": ListOf(Scalar("cidr", "A range."), "Allowed client ranges."),
        "externalName": _named(NameRule.DNS1123_SUBDOMAIN, "DNS name of an ExternalName service."),
        "externalTrafficPolicy": _enum(TrafficPolicy, "externalTrafficPolicy.", "Cluster"),
        "internalTrafficPolicy": _enum(TrafficPolicy, "internalTrafficPolicy.", "Cluster"),
        "sessionAffinity": _enum(SessionAffinity, "sessionAffinity.", "None"),
        "sessionAffinityTimeout": Scalar("integer", "ClientIP affinity timeout, s.", minimum=1, maximum=86400,
                                         default=10800),
        "healthCheckNodePort": Scalar("port", "kube-proxy's health-check port of a LoadBalancer with "
                                              "externalTrafficPolicy Local, in nodePortRange (default: allocated)."),
        "allocateLoadBalancerNodePorts": Scalar("boolean", "A LoadBalancer gets nodePorts (false: none, unless "
                                                           "given).", default=True),
        "loadBalancerMode": _enum(LoadBalancerMode, "This LoadBalancer's load balancer model (default: the "
                                                    "cluster's loadBalancer.mode)."),
    }, required=("name",), doc="A Service."),
    "servicePort": ObjectSpec("servicePort", {
        "name": _named(NameRule.DNS1123_LABEL, "Port name (needed when there are several)."),
        "port": _PORT,
        "targetPort": Scalar("target-port", "Container port number or name (default: port)."),
        "nodePort": _PORT,
        "protocol": _PROTOCOL,
    }, required=("port",), doc="A service port."),
    "namespaceObject": ObjectSpec("namespace", {
        "name": Scalar("string", "Namespace name."),
        "labels": _LABELS,
    }, required=("name",), doc="A namespace and its labels."),
    "policy": ObjectSpec("policy", {
        "name": Scalar("string", "Policy name."),
        "namespace": Scalar("string", "Namespace (default: cluster's)."),
        "podSelector": Scalar("labels", "matchLabels of the pods it selects (default {}: every pod of the namespace)."),
        "policyTypes": ListOf(_enum(PolicyType, "A direction."),
                              "Directions it isolates (default: Ingress, and Egress when egress is given)."),
        "ingress": ListOf(Obj("policyIngressRule", "An ingress rule."),
                          "Ingress rules (empty or absent with Ingress in policyTypes: deny all)."),
        "egress": ListOf(Obj("policyEgressRule", "An egress rule."),
                         "Egress rules (empty or absent with Egress in policyTypes: deny all)."),
    }, required=("name",), doc="A NetworkPolicy (matchExpressions: write a NetworkPolicy manifest)."),
    "policyIngressRule": ObjectSpec("ingress rule", {
        "from": ListOf(Obj("policyPeer", "A peer."), "Sources (absent or empty: every source)."),
        "ports": ListOf(Obj("policyPort", "A port.", Scalar("target-port", "A port number or name."), "port"),
                        "Destination ports (absent or empty: every port)."),
    }, doc="An ingress rule: {} allows everything."),
    "policyEgressRule": ObjectSpec("egress rule", {
        "to": ListOf(Obj("policyPeer", "A peer."), "Destinations (absent or empty: every destination)."),
        "ports": ListOf(Obj("policyPort", "A port.", Scalar("target-port", "A port number or name."), "port"),
                        "Destination ports (absent or empty: every port)."),
    }, doc="An egress rule: {} allows everything."),
    "policyPeer": ObjectSpec("peer", {
        "pods": Scalar("labels", "podSelector matchLabels ({}: every pod)."),
        "namespaces": Scalar("labels", "namespaceSelector matchLabels ({}: every namespace)."),
        "cidr": Scalar("cidr", "ipBlock.cidr (stands alone: no pods or namespaces with it)."),
        "except": ListOf(Scalar("cidr", "A range."), "ipBlock.except: ranges inside cidr left out."),
    }, doc="pods alone: in the policy's namespace; namespaces alone: all their pods; both: those pods there."),
    "policyPort": ObjectSpec("port", {
        "port": Scalar("target-port", "Port number or container port name (absent: every port)."),
        "endPort": _PORT,
        "protocol": _PROTOCOL,
    }, doc="A destination port, a named container port, or a range port-endPort."),
    "external": ObjectSpec("external", {
        "name": _named(NameRule.DNS1123_SUBDOMAIN, "Host name shown in the app."),
        "ip": Scalar("ipv4", "Its address."),
        "dnsName": _named(NameRule.DNS1123_SUBDOMAIN, "DNS name (e.g. the target of an ExternalName service)."),
    }, required=("name", "ip"), doc="A host outside the cluster."),
}

_KIND_WORDS = {
    "string": "a string", "name": "a string", "integer": "an integer", "boolean": "true or false", "ipv4": "an IPv4 address",
    "cidr": "an IPv4 CIDR such as 10.244.0.0/16", "port": "a port number (1-65535)",
    "target-port": "a port number or a port name", "port-range": "a range such as 30000-32767",
    "cluster-ip": "an IPv4 address or None", "labels": "a map of label names to strings",
    "nodeport-address": "an IPv4 CIDR such as 127.0.0.0/8, or primary",
    "k8s-version": "a Kubernetes version such as v1.31.2",
}


def did_you_mean(word: str, choices: list[str]) -> str:
    """The "did you mean" hint, or the list of choices when nothing is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "expected one of: " + ", ".join(choices)


@dataclass
class Validator:
    """Checks one document against a field table (the cluster YAML's OBJECTS unless told), collecting problems;
    returns cleaned values."""

    origin: Origin
    problems: list[Problem] = field(default_factory=list)
    objects: dict[str, ObjectSpec] = field(default_factory=lambda: OBJECTS)

    def error(self, path: tuple[str | int, ...], code: str, message: str, hint: str = "", key: bool = False) -> None:
        self.problems.append(self.origin.problem(Severity.ERROR, code, message, *path, hint=hint, key=key))

    def object(self, name: str, value: Any, path: tuple[str | int, ...]) -> dict[str, Any] | None:
        spec = self.objects[name]
        if not isinstance(value, dict):
            self.error(path, "E-TYPE", f"expected a {spec.title} mapping, got {describe(value)}")
            return None
        cleaned: dict[str, Any] = {}
        ok = True
        for key, item in value.items():
            if not isinstance(key, str) or key not in spec.fields:
                self.error(path + (str(key),), "E-UNKNOWN-KEY", f"unknown key '{key}' in {spec.title}",
                           did_you_mean(str(key), list(spec.fields)), key=True)
                ok = False
                continue
            checked = self.value(spec.fields[key], item, path + (key,))
            if checked is _INVALID:
                ok = False
            else:
                cleaned[key] = checked
        for key in spec.required:
            if key not in value:
                self.error(path, "E-MISSING-KEY", f"{spec.title} needs '{key}'")
                ok = False
        return cleaned if ok else None

    def value(self, spec: Spec, item: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(spec, Obj):
            if spec.shorthand is not None and not isinstance(item, dict):
                short = self.value(spec.shorthand, item, path)
                return _INVALID if short is _INVALID else {spec.shorthand_key: short}
            result = self.object(spec.name, item, path)
            return _INVALID if result is None else result
        if isinstance(spec, ListOf):
            if item is None:
                return []
            if not isinstance(item, list):
                self.error(path, "E-TYPE", f"expected a list, got {describe(item)}")
                return _INVALID
            out = [self.value(spec.item, element, path + (i,)) for i, element in enumerate(item)]
            return _INVALID if any(o is _INVALID for o in out) else out
        return self.scalar(spec, item, path)

    def scalar(self, spec: Scalar, item: Any, path: tuple[str | int, ...]) -> Any:
        parse = _SCALARS.get(spec.kind)
        try:
            if spec.kind == "enum":
                if isinstance(item, str) and item in spec.values:
                    return item
                self.error(path, "E-VALUE-ENUM", f"expected one of {', '.join(spec.values)}, got {describe(item)}",
                           did_you_mean(str(item), list(spec.values)) if isinstance(item, str) else "")
                return _INVALID
            if spec.kind == "name":
                return self.name(spec, item, path)
            if spec.kind == "labels":
                return self.labels(item, path)
            assert parse is not None
            result = parse(item)
            if spec.kind in ("ipv4", "cidr", "cluster-ip") and has_leading_zero(item):
                message, hint = leading_zero_message(item, result)
                self.problems.append(self.origin.problem(Severity.WARNING, LEADING_ZERO_CODE, message, *path,
                                                         hint=hint))
            if spec.kind == "integer" and (
                (spec.minimum is not None and result < spec.minimum)
                or (spec.maximum is not None and result > spec.maximum)
            ):
                raise ValueError(f"{spec.minimum}-{spec.maximum}")
            return result
        except (ValueError, TypeError):
            if spec.kind == "integer":
                what = f"an integer ({spec.minimum}-{spec.maximum})" if spec.minimum is not None else "an integer"
            else:
                what = _KIND_WORDS[spec.kind]
            self.error(path, f"E-VALUE-{spec.kind.upper()}", f"expected {what}, got {describe(item)}")
            return _INVALID


    def name(self, spec: Scalar, item: Any, path: tuple[str | int, ...]) -> Any:
        assert spec.rule is not None
        if not isinstance(item, str):
            raise TypeError
        if not follows(spec.rule, item):
            self.error(path, RULE_CODES[spec.rule], f"invalid name {shown(item)}: not a valid {spec.rule}",
                       RULE_HINTS[spec.rule])
            return _INVALID
        return item

    def labels(self, item: Any, path: tuple[str | int, ...]) -> Any:
        labels = _labels(item)
        bad = False
        for key, value in labels.items():
            for rule, text, what in ((NameRule.LABEL_KEY, key, "label key"),
                                     (NameRule.LABEL_VALUE, value, f"value of label {key}")):
                if not follows(rule, text):
                    self.error(path + (key,), RULE_CODES[rule], f"invalid {what} {shown(text)}: not a valid {rule}",
                               RULE_HINTS[rule], key=rule == NameRule.LABEL_KEY)
                    bad = True
        return _INVALID if bad else labels


_INVALID = object()


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _string(value: Any) -> str:
    if isinstance(value, (bool, dict, list)) or value is None:
        raise TypeError
    return str(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _ipv4(value: Any) -> ipaddress.IPv4Address:
    """An address; one with leading zeros read in decimal (the validator warns)."""
    if not isinstance(value, str):
        raise TypeError
    return sloppy_ipv4(value) or ipaddress.IPv4Address(value)


def _cidr(value: Any) -> ipaddress.IPv4Network:
    """A CIDR with no host bits; one with leading zeros read in decimal (the validator warns)."""
    if not isinstance(value, str) or "/" not in value:
        raise TypeError
    return sloppy_cidr(value) or ipaddress.IPv4Network(value, strict=True)


def _port(value: Any) -> int:
    port = _integer(value)
    if not 1 <= port <= 65535:
        raise ValueError
    return port


def _target_port(value: Any) -> int | str:
    if isinstance(value, str):
        if value.isdigit():
            return _port(int(value))
        if not value or len(value) > 15:
            raise ValueError
        return value
    return _port(value)


def _port_range(value: Any) -> tuple[int, int]:
    if not isinstance(value, str) or value.count("-") != 1:
        raise TypeError
    first, last = (_port(int(part)) for part in value.split("-"))
    if first > last:
        raise ValueError
    return first, last


def _cluster_ip(value: Any) -> ipaddress.IPv4Address | None:
    if value is None or value == "None":
        return None
    return _ipv4(value)


def _nodeport_address(value: Any) -> ipaddress.IPv4Network | str:
    """KubeProxyConfiguration's nodePortAddresses entry: `primary`, or a CIDR (host bits allowed, as Go's
    ParseCIDR allows them)."""
    if value == "primary":
        return value
    if not isinstance(value, str) or "/" not in value:
        raise TypeError
    return ipaddress.IPv4Network(value, strict=False)


def _k8s_version(value: Any) -> str:
    """A Kubernetes version: v1.31.2, 1.31, v1.32.0-eks-1."""
    if not isinstance(value, str) or not re.fullmatch(r"v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]*)?", value):
        raise TypeError
    return value


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError
    return {_string(k): str(v).lower() if isinstance(v, bool) else _string(v) for k, v in value.items()}


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "string": _string, "integer": _integer, "boolean": _boolean, "ipv4": _ipv4, "cidr": _cidr, "port": _port,
    "target-port": _target_port, "port-range": _port_range, "cluster-ip": _cluster_ip, "labels": _labels,
    "nodeport-address": _nodeport_address, "k8s-version": _k8s_version,
}


# ------------------------------------------------------------------------------------------- JSON Schema


def json_schema(objects: dict[str, ObjectSpec] = OBJECTS, root_name: str = "cluster", schema_id: str = SCHEMA_ID,
                title: str = "k8s-netviz cluster YAML") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a field table (the cluster YAML format's OBJECTS unless told)."""
    defs = {name: _object_schema(spec) for name, spec in objects.items() if name != root_name}
    root = _object_schema(objects[root_name])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **root,
        "$defs": defs,
    }


def _object_schema(spec: ObjectSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "description": spec.doc,
        "additionalProperties": False,
        "properties": {key: _spec_schema(value) for key, value in spec.fields.items()},
    }
    if spec.required:
        out["required"] = list(spec.required)
    return out


def _spec_schema(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, Obj):
        ref = {"$ref": f"#/$defs/{spec.name}"}
        if spec.shorthand is not None:
            return {"description": spec.doc, "oneOf": [_spec_schema(spec.shorthand), ref]}
        return {"description": spec.doc, **ref}
    if isinstance(spec, ListOf):
        return {"description": spec.doc, "type": "array", "items": _spec_schema(spec.item)}
    base: dict[str, Any] = {"description": spec.doc}
    if spec.default is not None:
        base["default"] = spec.default
    kind = spec.kind
    if kind == "enum":
        base["enum"] = list(spec.values)
    elif kind == "string":
        base["type"] = "string"
    elif kind == "name":
        assert spec.rule is not None
        base.update(json_pattern(spec.rule))
    elif kind == "integer":
        base["type"] = "integer"
        if spec.minimum is not None:
            base["minimum"] = spec.minimum
        if spec.maximum is not None:
            base["maximum"] = spec.maximum
    elif kind == "boolean":
        base["type"] = "boolean"
    elif kind == "ipv4":
        base.update(type="string", format="ipv4")
    elif kind == "cidr":
        base.update(type="string", pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")
    elif kind == "port":
        base.update(type="integer", minimum=1, maximum=65535)
    elif kind == "target-port":
        base["oneOf"] = [{"type": "integer", "minimum": 1, "maximum": 65535},
                         {"type": "string", "maxLength": 15}]
    elif kind == "nodeport-address":
        base["oneOf"] = [{"const": "primary"},
                         {"type": "string", "pattern": r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"}]
    elif kind == "k8s-version":
        base.update(type="string", pattern=r"^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]*)?$")
    elif kind == "port-range":
        base.update(type="string", pattern=r"^\d{1,5}-\d{1,5}$")
    elif kind == "cluster-ip":
        base["oneOf"] = [{"type": "string", "format": "ipv4"}, {"const": "None"}]
    elif kind == "labels":
        base.update(type="object", additionalProperties=json_pattern(NameRule.LABEL_VALUE))
    return base
