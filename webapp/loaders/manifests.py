"""Input B: real Kubernetes objects (as `kubectl get -o yaml|json` prints them, or as applied) → drafts.

The fields read are listed in docs/kubernetes-fields.md. Kinds not read are skipped with one notice per kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from webapp.loaders.documents import Document
from webapp.loaders.fields import (
    Bad, Lenient, is_ipv4, list_of, mapping_of, read_cidr, read_enum, read_ip, read_labels, read_meta, read_name, read_number,
    read_port,
)
from webapp.loaders.drafts import EndpointsDraft, Inputs, NodeDraft, Origin, PodDraft, ServiceDraft
from webapp.loaders.names import NameRule
from webapp.loaders.policies import read_namespace, read_network_policy
from webapp.loaders.schema import describe
from webapp.loaders.workloads import PodTemplate, Workload
from webapp.model import (
    Container,
    ContainerPort,
    Endpoint,
    KubeProxyMode,
    LoadBalancerMode,
    NetworkPlugin,
    Overlay,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
)
from webapp.problems import Severity

WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
FLANNEL_CONFIGMAP = "kube-flannel-cfg"
KUBE_PROXY_CONFIGMAP = "kube-proxy"
PLUGIN_CONFIGMAPS = ("canal-config", "calico-config")
PLUGIN_DAEMONSETS = ("canal", "calico-node")
"""kube-system objects that Canal's and Calico's install manifests leave: the cluster enforces NetworkPolicy."""
SETTINGS_KINDS = ("ConfigMap", "KubeProxyConfiguration")
"""Kinds that carry network settings."""
FINISHED_PHASES = ("Succeeded", "Failed")
"""Pods in these phases hold no IP any more (kubelet tore their sandbox down); they are left out."""



@dataclass
class _Skipped:
    origin: Origin
    reason: str
    count: int = 0


@dataclass
class ManifestReader:
    inputs: Inputs
    skipped: dict[str, _Skipped] = field(default_factory=dict)
    origin: Origin | None = None
    """The object being read (field problems are located below it)."""

    def field(self, reader: Callable[..., Any], value: Any, at: tuple[str | int, ...], *extra: Any) -> Any:
        """`reader(value, at)`, or None after recording its problem: one object can have several bad fields. A
        value read leniently (`Lenient`: an address with leading zeros) is kept, with a warning."""
        try:
            return reader(value, at, *extra)
        except Lenient as lenient:
            assert self.origin is not None
            self.inputs.problems.append(self.origin.problem(Severity.WARNING, lenient.code, lenient.message,
                                                            *lenient.path, hint=lenient.hint))
            return lenient.value
        except Bad as bad:
            assert self.origin is not None
            self.inputs.problems.append(self.origin.problem(Severity.ERROR, bad.code, bad.message, *bad.path,
                                                            hint=bad.hint))
            return None

    def read(self, data: Any, origin: Origin) -> None:
        if not isinstance(data, dict):
            self.inputs.problems.append(origin.problem(
                Severity.ERROR, "E-DOC-NOT-OBJECT",
                f"expected a Kubernetes object or cluster YAML mapping, got {describe(data)}"))
            return
        kind = data.get("kind")
        if kind is None or "apiVersion" not in data:
            missing = "kind" if kind is None else "apiVersion"
            self.inputs.problems.append(origin.problem(
                Severity.ERROR, "E-DOC-NO-KIND",
                f"document has no '{missing}': neither a Kubernetes object nor cluster YAML",
                hint="cluster YAML has nodes, network, services, pods or external at the top"))
            return
        if not isinstance(kind, str):
            self.inputs.problems.append(origin.problem(
                Severity.ERROR, "E-TYPE", f"expected a kind name, got {describe(kind)}", "kind"))
            return
        if kind == "List" or (kind.endswith("List") and isinstance(data.get("items"), list)):
            items = data.get("items") or []
            if not isinstance(items, list):
                self.inputs.problems.append(origin.problem(
                    Severity.ERROR, "E-TYPE", f"expected a list, got {describe(items)}", "items"))
                return
            for i, item in enumerate(items):
                self.read(item, origin.child("items", i))
            return
        handler = _HANDLERS.get(kind)
        if handler is None or (kind == "ConfigMap" and not _is_read_configmap(data)):
            self._skip(kind, origin)
            return
        self.origin = origin
        inputs = self.inputs
        before = (len(inputs.problems), len(inputs.nodes), len(inputs.pods), len(inputs.services),
                  len(inputs.endpoints), len(inputs.network_policies), len(inputs.controllers))
        settings = (dict(inputs.settings.values), dict(inputs.settings.origins)) if kind in SETTINGS_KINDS else None
        try:
            handler(self, data, origin)
        except Bad as bad:
            self.inputs.problems.append(origin.problem(Severity.ERROR, bad.code, bad.message, *bad.path, hint=bad.hint))
        except (TypeError, ValueError, AttributeError, KeyError):  # a shape no reader expected
            self.inputs.problems.append(origin.problem(
                Severity.ERROR, "E-OBJECT-SHAPE",
                f"{kind} could not be read: a field has a type or shape Kubernetes does not allow",
                hint=f"compare it with `kubectl explain {kind.lower()}`"))
        found = inputs.problems[before[0]:] if len(inputs.problems) > before[0] else ()
        if any(p.severity == Severity.ERROR for p in found):
            self._take_out(before, settings)

    def _take_out(self, before: tuple[int, ...], settings: tuple[dict[str, Any], dict[str, Origin]] | None) -> None:
        """An object with a bad field stays out of the model (its problems stay); `owned` is kept: at worst a
        controller is not expanded."""
        inputs = self.inputs
        for kept, objects in zip(before[1:], (inputs.nodes, inputs.pods, inputs.services, inputs.endpoints,
                                              inputs.network_policies, inputs.controllers)):
            del objects[kept:]
        if settings is not None:
            inputs.settings.values, inputs.settings.origins = settings
            inputs.settings_lost = True

    def _skip(self, kind: str, origin: Origin, reason: str = "not part of the network model") -> None:
        entry = self.skipped.setdefault(kind, _Skipped(origin, reason))
        entry.count += 1

    def finish(self) -> None:
        """One notice per skipped kind, at its first object."""
        for kind, entry in self.skipped.items():
            what = f"{entry.count} {kind} objects" if entry.count > 1 else f"a {kind}"
            self.inputs.problems.append(entry.origin.problem(Severity.NOTICE, "N-SKIPPED-KIND",
                                                             f"skipped {what}: {entry.reason}"))
        self.skipped.clear()

    # ----------------------------------------------------------------------------------------- kinds

    def node(self, data: dict[str, Any], origin: Origin) -> None:
        meta = read_meta(data)
        spec = mapping_of(data, "spec")
        status = mapping_of(data, "status")
        internal = external = None
        internal_at: tuple[str | int, ...] = ("status", "addresses")
        more: list[IPv4Address] = []
        more_at: list[tuple[str | int, ...]] = []
        for i, address in enumerate(list_of(status, "addresses", ("status",))):
            if not isinstance(address, dict):
                continue
            kind = address.get("type")
            if kind == "InternalIP" and internal is not None and is_ipv4(address.get("address")):
                extra = self.field(read_ip, address.get("address"), ("status", "addresses", i, "address"))
                if extra is not None and extra != internal and extra not in more:
                    more.append(extra)
                    more_at.append(("status", "addresses", i, "address"))
            elif kind == "InternalIP" and internal is None and is_ipv4(address.get("address")):
                internal = self.field(read_ip, address.get("address"), ("status", "addresses", i, "address"))
                internal_at = ("status", "addresses", i, "address")
            elif kind == "ExternalIP" and external is None and is_ipv4(address.get("address")):
                external = self.field(read_ip, address.get("address"), ("status", "addresses", i, "address"))
        cidr_at: tuple[str | int, ...] = ("spec", "podCIDR")
        pod_cidr = self.field(read_cidr, spec.get("podCIDR"), cidr_at) if spec.get("podCIDR") else None
        if pod_cidr is None:
            for i, text in enumerate(list_of(spec, "podCIDRs", ("spec",))):
                if isinstance(text, str) and ":" not in text:
                    cidr_at = ("spec", "podCIDRs", i)
                    pod_cidr = self.field(read_cidr, text, cidr_at)
                    break
        ready = True
        for condition in list_of(status, "conditions", ("status",)):
            if isinstance(condition, dict) and condition.get("type") == "Ready":
                ready = condition.get("status") == "True"
        info = mapping_of(status, "nodeInfo")
        version = info.get("kubeletVersion") or info.get("kubeProxyVersion")  # kubeProxyVersion: empty from 1.31
        self.inputs.nodes.append(NodeDraft(
            name=meta.name, origin=origin, internal_ip=internal, pod_cidr=pod_cidr, labels=meta.labels,
            ready=ready, schedulable=not spec.get("unschedulable", False) and not _no_schedule(spec),
            external_ip=external, version=version if isinstance(version, str) else None,
            nfacct=self.field(_annotated_bool, _annotation(data, NFACCT_ANNOTATION),
                              ("metadata", "annotations", NFACCT_ANNOTATION)),
            ip_at=internal_at, pod_cidr_at=cidr_at, nfacct_at=("metadata", "annotations", NFACCT_ANNOTATION),
            addresses=tuple(more), addresses_at=tuple(more_at),
        ))

    def pod(self, data: dict[str, Any], origin: Origin) -> None:
        meta = read_meta(data)
        spec = mapping_of(data, "spec")
        status = mapping_of(data, "status")
        if status.get("phase") in FINISHED_PHASES:
            self._skip(f"{status['phase']} Pod", origin, "a finished pod holds no IP")
            return
        pod_ip = None
        ip_at: tuple[str | int, ...] = ("status", "podIP")
        if status.get("podIP"):
            if is_ipv4(status["podIP"]):
                pod_ip = self.field(read_ip, status["podIP"], ip_at)
            else:
                for i, entry in enumerate(list_of(status, "podIPs", ("status",))):
                    if isinstance(entry, dict) and is_ipv4(entry.get("ip")):
                        ip_at = ("status", "podIPs", i, "ip")
                        pod_ip = self.field(read_ip, entry["ip"], ip_at)
                        break
                if pod_ip is None:
                    raise Bad(ip_at, "E-VALUE-IPV4", f"expected an IPv4 address, got {describe(status['podIP'])}")
        ready = True
        for condition in list_of(status, "conditions", ("status",)):
            if isinstance(condition, dict) and condition.get("type") == "Ready":
                ready = condition.get("status") == "True"
        containers, host_network, node = _pod_spec(self.field, spec, ("spec",))
        self.inputs.pods.append(PodDraft(
            namespace=meta.namespace, name=meta.name, origin=origin, containers=containers, node=node,
            pod_ip=pod_ip, labels=meta.labels, ready=ready, host_network=host_network, owner=meta.controller,
            ip_at=ip_at, node_at=("spec", "nodeName"), containers_at=("spec", "containers"), port_key="containerPort",
        ))
        if meta.controller:
            self.inputs.owned.add((meta.namespace, meta.controller))

    def service(self, data: dict[str, Any], origin: Origin) -> None:
        meta = read_meta(data)
        spec = mapping_of(data, "spec")
        status = mapping_of(data, "status")
        kind = self.field(read_enum, spec.get("type", "ClusterIP"), ("spec", "type"), ServiceType)
        cluster_ip_text = spec.get("clusterIP")
        headless = cluster_ip_text == "None"
        cluster_ip = None
        if cluster_ip_text and not headless and kind != ServiceType.EXTERNAL_NAME:
            cluster_ip = self.field(read_ip, cluster_ip_text, ("spec", "clusterIP"))
        ports = []
        for i, port in enumerate(list_of(spec, "ports", ("spec",))):
            at = ("spec", "ports", i)
            if not isinstance(port, dict):
                raise Bad(at, "E-TYPE", f"expected a port mapping, got {describe(port)}")
            number = self.field(read_port, port.get("port"), at + ("port",))
            target = port.get("targetPort", number)
            if isinstance(target, str) and target.isdigit():
                target = int(target)
            if isinstance(target, int):
                target = self.field(read_port, target, at + ("targetPort",))
            elif not isinstance(target, str) or not target:
                raise Bad(at + ("targetPort",), "E-VALUE-TARGET-PORT",
                          f"expected a port number or a port name, got {describe(target)}")
            else:
                target = self.field(read_name, target, at + ("targetPort",), NameRule.PORT_NAME, "port name")
            node_port = port.get("nodePort")
            ports.append(ServicePort(
                port=number,
                target_port=target,
                protocol=self.field(read_enum, port.get("protocol", "TCP"), at + ("protocol",), Protocol),
                name=_optional_name(self.field, port.get("name"), at + ("name",), NameRule.DNS1123_LABEL,
                                    "port name"),
                node_port=self.field(read_port, node_port, at + ("nodePort",)) if node_port is not None else None,
            ))
        lb_ips = [
            self.field(read_ip, entry["ip"], ("status", "loadBalancer", "ingress", i, "ip"))
            for i, entry in enumerate(list_of(mapping_of(status, "loadBalancer"), "ingress", ("status", "loadBalancer")))
            if isinstance(entry, dict) and entry.get("ip")
        ]
        if not lb_ips and spec.get("loadBalancerIP"):
            lb_ips = [self.field(read_ip, spec["loadBalancerIP"], ("spec", "loadBalancerIP"))]
        affinity = mapping_of(mapping_of(spec, "sessionAffinityConfig"), "clientIP")
        health = spec.get("healthCheckNodePort")
        self.inputs.services.append(ServiceDraft(
            Service(
                namespace=meta.namespace, name=meta.name, type=kind, cluster_ip=cluster_ip, ports=tuple(ports),
                selector=self.field(read_labels, spec.get("selector"), ("spec", "selector")),
                external_ips=tuple(self.field(read_ip, a, ("spec", "externalIPs", i))
                                   for i, a in enumerate(list_of(spec, "externalIPs", ("spec",)))),
                load_balancer_ips=tuple(lb_ips),
                load_balancer_source_ranges=tuple(
                    self.field(read_cidr, c, ("spec", "loadBalancerSourceRanges", i), False)
                    for i, c in enumerate(list_of(spec, "loadBalancerSourceRanges", ("spec",)))),
                external_name=self.field(_external_name, spec.get("externalName"), ("spec", "externalName")),
                external_traffic_policy=self.field(_policy, spec.get("externalTrafficPolicy"),
                                                   ("spec", "externalTrafficPolicy")),
                internal_traffic_policy=self.field(_policy, spec.get("internalTrafficPolicy"),
                                                   ("spec", "internalTrafficPolicy")),
                session_affinity=self.field(read_enum, spec.get("sessionAffinity", "None"), ("spec", "sessionAffinity"),
                                            SessionAffinity),
                session_affinity_timeout=self.field(_affinity_timeout, affinity.get("timeoutSeconds", 10800),
                                                    ("spec", "sessionAffinityConfig", "clientIP", "timeoutSeconds")),
                health_check_node_port=self.field(read_port, health, ("spec", "healthCheckNodePort")) if health else None,
                source=origin.source_ref(),
                allocate_load_balancer_node_ports=self.field(
                    _bool, spec.get("allocateLoadBalancerNodePorts", True), ("spec", "allocateLoadBalancerNodePorts")),
                load_balancer_mode=self.field(
                    _lb_mode, _annotation(data, LB_MODE_ANNOTATION), ("metadata", "annotations", LB_MODE_ANNOTATION)),
            ),
            origin, headless=headless, cluster_ip_at=("spec", "clusterIP"), ports_at=("spec", "ports"),
            selector_at=("spec", "selector"), health_check_node_port_at=("spec", "healthCheckNodePort"),
        ))

    def endpoints(self, data: dict[str, Any], origin: Origin) -> None:
        meta = read_meta(data)
        service = f"{meta.namespace}/{meta.name}"
        endpoints = []
        for s, subset in enumerate(list_of(data, "subsets", ())):
            if not isinstance(subset, dict):
                continue
            ports = _endpoint_ports(self.field, subset, ("subsets", s))
            for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
                for a, address in enumerate(list_of(subset, field_name, ("subsets", s))):
                    at = ("subsets", s, field_name, a)
                    if not isinstance(address, dict):
                        raise Bad(at, "E-TYPE", f"expected an address mapping, got {describe(address)}")
                    ip = self.field(read_ip, address.get("ip"), at + ("ip",))
                    node = _optional_name(self.field, address.get("nodeName"), at + ("nodeName",),
                                          NameRule.DNS1123_SUBDOMAIN, "node name")
                    target = self.field(_target, address.get("targetRef"), at + ("targetRef",))
                    for name, port, proto in ports:
                        endpoints.append(Endpoint(service, name, ip, port, proto, node, target, ready, ready))
        self.inputs.endpoints.append(EndpointsDraft(service, "Endpoints", origin, endpoints))

    def endpoint_slice(self, data: dict[str, Any], origin: Origin) -> None:
        meta = read_meta(data)
        if data.get("addressType", "IPv4") != "IPv4":
            self._skip(f"{data.get('addressType')} EndpointSlice", origin, "only IPv4 is modelled")
            return
        owner = dict(meta.labels).get("kubernetes.io/service-name") or meta.name
        service = f"{meta.namespace}/{owner}"
        ports = _endpoint_ports(self.field, data, ())
        endpoints = []
        for e, entry in enumerate(list_of(data, "endpoints", ())):
            at = ("endpoints", e)
            if not isinstance(entry, dict):
                raise Bad(at, "E-TYPE", f"expected an endpoint mapping, got {describe(entry)}")
            conditions = mapping_of(entry, "conditions")
            ready = conditions.get("ready") is not False  # nil means ready
            serving = conditions.get("serving", ready) is not False
            terminating = conditions.get("terminating") is True
            node = _optional_name(self.field, entry.get("nodeName"), at + ("nodeName",), NameRule.DNS1123_SUBDOMAIN,
                                  "node name")
            target = self.field(_target, entry.get("targetRef"), at + ("targetRef",))
            for a, address in enumerate(list_of(entry, "addresses", at)):
                ip = self.field(read_ip, address, at + ("addresses", a))
                for name, port, proto in ports:
                    endpoints.append(Endpoint(service, name, ip, port, proto, node, target, ready, serving,
                                              terminating))
        self.inputs.endpoints.append(EndpointsDraft(service, "EndpointSlice", origin, endpoints))

    def network_policy(self, data: dict[str, Any], origin: Origin) -> None:
        self.inputs.network_policies.append(read_network_policy(self.field, data, origin))

    def namespace(self, data: dict[str, Any], origin: Origin) -> None:
        self.inputs.namespaces.append(read_namespace(data, origin))

    def workload(self, data: dict[str, Any], origin: Origin) -> None:
        meta = read_meta(data)
        spec = mapping_of(data, "spec")
        template = mapping_of(spec, "template")
        labels = self.field(read_labels, mapping_of(template, "metadata").get("labels"),
                            ("spec", "template", "metadata", "labels"))
        containers, host_network, node = _pod_spec(self.field, mapping_of(template, "spec"), ("spec", "template", "spec"))
        replicas = spec.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise Bad(("spec", "replicas"), "E-VALUE-REPLICAS",
                      f"expected a number of replicas, got {describe(replicas)}")
        self.inputs.controllers.append(Workload(
            kind=data["kind"], namespace=meta.namespace, name=meta.name, origin=origin,
            template=PodTemplate(labels, containers, host_network, node, raw=template), replicas=replicas,
        ))
        if meta.controller:
            self.inputs.owned.add((meta.namespace, meta.controller))
        if data["kind"] == "DaemonSet" and meta.namespace == "kube-system" and meta.name in PLUGIN_DAEMONSETS:
            self._network_plugin(meta.name, origin.child("metadata", "name"))

    def _network_plugin(self, name: str, origin: Origin) -> None:
        """Canal's or Calico's object in kube-system: the cluster enforces NetworkPolicy (Calico drawn as Canal)."""
        self.inputs.settings.set("network_plugin", NetworkPlugin.CANAL, origin)
        if name.startswith("calico"):
            self.inputs.problems.append(origin.problem(
                Severity.WARNING, "W-CALICO-DRAWN-AS-CANAL", f"{name} declares Calico: its own datapath (cali veths, /32 routes, IPIP/VXLAN/BGP) "
                "is not modelled yet, so the cluster is drawn as Canal (flannel's datapath with Calico's policy "
                "enforcement)"))

    def configmap(self, data: dict[str, Any], origin: Origin) -> None:
        values = mapping_of(data, "data")
        name = read_meta(data).name
        if name in PLUGIN_CONFIGMAPS:
            self._network_plugin(name, origin.child("metadata", "name"))
            if "net-conf.json" in values:  # Canal's ConfigMap carries flannel's configuration too
                self._flannel(values, origin)
        elif name == FLANNEL_CONFIGMAP:
            self._flannel(values, origin)
        else:
            self._kube_proxy_conf(values.get("config.conf"), origin.child("data", "config.conf"), ("data",))

    def _flannel(self, values: dict[str, Any], origin: Origin) -> None:
        at = ("data", "net-conf.json")
        try:
            conf = json.loads(values.get("net-conf.json") or "{}")
        except json.JSONDecodeError as exc:
            raise Bad(at, "E-FLANNEL-CONF",
                      f"net-conf.json is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        if not isinstance(conf, dict):
            raise Bad(at, "E-FLANNEL-CONF", "net-conf.json is not a JSON object")
        settings = self.inputs.settings
        here = origin.child(*at)
        settings.set("cni", "flannel", here)
        if "Network" in conf:
            settings.set("pod_cidr", self.field(read_cidr, conf["Network"], at), here)
        backend = conf.get("Backend") or {}
        if not isinstance(backend, dict):
            raise Bad(at, "E-FLANNEL-CONF", f"net-conf.json's Backend is {describe(backend)}, not a JSON object")
        backend_type = str(backend.get("Type", "vxlan")).lower()
        overlays = {"vxlan": Overlay.FLANNEL_VXLAN, "host-gw": Overlay.FLANNEL_HOST_GW}
        if backend_type not in overlays:
            raise Bad(at, "E-FLANNEL-BACKEND", f"flannel backend '{backend_type}' is not supported",
                      hint="use vxlan or host-gw")
        settings.set("overlay", overlays[backend_type], here)
        if "VNI" in backend:
            settings.set("vxlan_vni", read_number(backend["VNI"], at, "Backend.VNI", 0, 16777215), here)
        if backend.get("Port"):
            settings.set("vxlan_port", read_number(backend["Port"], at, "Backend.Port", 1, 65535), here)

    def kubeconfig(self, data: dict[str, Any], origin: Origin) -> None:
        """A kubeconfig (`kubectl config view --minify`): its current context names the cluster, unless a cluster
        YAML's `name` or an earlier kubeconfig did. Nothing else in it is read (credentials stay unread)."""
        context = data.get("current-context")
        if context in (None, "") or self.inputs.name is not None:
            return
        if not isinstance(context, str) or len(context) > 253 or not context.isprintable():
            self.inputs.problems.append(origin.problem(
                Severity.WARNING, "W-CONTEXT-NAME",
                f"current-context ignored: expected at most 253 printable characters, got {describe(context)}",
                "current-context"))
            return
        self.inputs.name = context

    def kube_proxy_configuration(self, data: dict[str, Any], origin: Origin) -> None:
        mode = data.get("mode") or "iptables"
        modes = [str(m) for m in KubeProxyMode]
        if mode not in modes:
            raise Bad(("mode",), "E-KUBE-PROXY-MODE", f"kube-proxy mode '{mode}' is not supported",
                      hint="use " + ", ".join(modes))
        settings = self.inputs.settings
        settings.set("kube_proxy_mode", KubeProxyMode(mode), origin.child("mode"))
        addresses = data.get("nodePortAddresses")
        if addresses:  # a list of CIDRs, or [primary] (nftables mode's default, which its renderer applies)
            read = [self.field(_nodeport_address, a, ("nodePortAddresses", i))
                    for i, a in enumerate(list_of(data, "nodePortAddresses", ()))]
            settings.set("node_port_addresses", [a for a in read if a is not None], origin.child("nodePortAddresses"))
        # masqueradeAll: v1alpha1 under iptables (iptables, IPVS) or nftables; v1alpha2 under linux
        section = "nftables" if mode == KubeProxyMode.NFTABLES else "iptables"
        for at in ((section, "masqueradeAll"), ("linux", "masqueradeAll")):
            value = mapping_of(data, at[0]).get(at[1])
            if value is not None:
                settings.set("masquerade_all", self.field(_bool, value, at), origin.child(*at))
        localhost = mapping_of(data, "iptables").get("localhostNodePorts")
        if localhost is not None:
            settings.set("localhost_node_ports", self.field(_bool, localhost, ("iptables", "localhostNodePorts")),
                         origin.child("iptables", "localhostNodePorts"))
        if data.get("clusterCIDR"):
            cidr = str(data["clusterCIDR"]).split(",")[0]
            self.inputs.settings.set("pod_cidr", self.field(read_cidr, cidr, ("clusterCIDR",)),
                                     origin.child("clusterCIDR"))

    def _kube_proxy_conf(self, text: Any, origin: Origin, at: tuple[str, ...]) -> None:
        """kubeadm's `kube-proxy` ConfigMap: its `config.conf` holds a KubeProxyConfiguration."""
        try:
            conf = yaml.safe_load(text) if isinstance(text, str) else None
        except yaml.YAMLError:
            conf = None
        if not isinstance(conf, dict) or conf.get("kind") != "KubeProxyConfiguration":
            raise Bad(at, "E-KUBE-PROXY-CONF",
                      "config.conf of the kube-proxy ConfigMap holds no KubeProxyConfiguration")
        self.kube_proxy_configuration(conf, origin)


_HANDLERS: dict[str, Callable[[ManifestReader, dict[str, Any], Origin], None]] = {
    "Node": ManifestReader.node,
    "Pod": ManifestReader.pod,
    "Service": ManifestReader.service,
    "Endpoints": ManifestReader.endpoints,
    "EndpointSlice": ManifestReader.endpoint_slice,
    "NetworkPolicy": ManifestReader.network_policy,
    "Namespace": ManifestReader.namespace,
    "ConfigMap": ManifestReader.configmap,
    "KubeProxyConfiguration": ManifestReader.kube_proxy_configuration,
    "Config": ManifestReader.kubeconfig,
    **{kind: ManifestReader.workload for kind in WORKLOAD_KINDS},
}


def _is_read_configmap(data: dict[str, Any]) -> bool:
    meta = data.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    values = data.get("data")
    return name == FLANNEL_CONFIGMAP or name in PLUGIN_CONFIGMAPS or (
        name == KUBE_PROXY_CONFIGMAP and isinstance(values, dict) and "config.conf" in values)


def read_manifest(doc: Document, reader: ManifestReader) -> None:
    """Add one manifest document (a single object or a List) to the reader's inputs."""
    reader.read(doc.data, Origin(doc))


# ----------------------------------------------------------------------------------------- field readers


def _no_schedule(spec: dict[str, Any]) -> bool:
    """A NoSchedule/NoExecute taint keeps the loader's scheduler away (tolerations are not modelled)."""
    return any(isinstance(t, dict) and t.get("effect") in ("NoSchedule", "NoExecute")
               for t in spec.get("taints") or ())


def _affinity_timeout(value: Any, at: tuple[str | int, ...]) -> int:
    """sessionAffinityConfig.clientIP.timeoutSeconds: 1 to 86400 (ValidateClientIPAffinityConfig)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86400:
        raise Bad(at, "E-VALUE-INTEGER", f"expected a timeout of 1 to 86400 seconds, got {describe(value)}")
    return value


LB_MODE_ANNOTATION = "k8s-netviz.io/load-balancer-mode"
"""A Service's load balancer model in manifests (passthrough or proxy); the cluster's default otherwise."""
NFACCT_ANNOTATION = "k8s-netviz.io/nfacct"
"""A Node's nfacct counters in manifests ("true"/"false"); otherwise on from v1.31 (kubeletVersion)."""


def _annotation(data: dict[str, Any], key: str) -> Any:
    return mapping_of(mapping_of(data, "metadata"), "annotations").get(key)


def _bool(value: Any, at: tuple[str | int, ...]) -> bool:
    if not isinstance(value, bool):
        raise Bad(at, "E-VALUE-BOOLEAN", f"expected true or false, got {describe(value)}")
    return value


def _annotated_bool(value: Any, at: tuple[str | int, ...]) -> bool | None:
    """An annotation's "true"/"false" (annotations are strings); None when it is not there."""
    if value is None:
        return None
    if value not in ("true", "false"):
        raise Bad(at, "E-VALUE-BOOLEAN", f"expected \"true\" or \"false\", got {describe(value)}")
    return value == "true"


def _lb_mode(value: Any, at: tuple[str | int, ...]) -> LoadBalancerMode | None:
    return None if value is None else read_enum(value, at, LoadBalancerMode)


def _nodeport_address(value: Any, at: tuple[str | int, ...]) -> Any:
    """A nodePortAddresses entry: `primary`, or a CIDR (host bits allowed, as Go's ParseCIDR allows them)."""
    if value == "primary":
        return value
    return read_cidr(value, at, False)


def _policy(value: Any, at: tuple[str | int, ...]) -> TrafficPolicy:
    return TrafficPolicy.CLUSTER if value in (None, "") else read_enum(value, at, TrafficPolicy)


def _target(ref: Any, at: tuple[str | int, ...]) -> str | None:
    """The `namespace/name` of a targetRef to a Pod (None for other kinds or none)."""
    if isinstance(ref, dict) and ref.get("kind") == "Pod" and ref.get("name"):
        namespace = read_name(ref.get("namespace") or "default", at + ("namespace",), NameRule.DNS1123_LABEL, "namespace")
        return f"{namespace}/{read_name(ref['name'], at + ('name',), NameRule.DNS1123_SUBDOMAIN)}"
    return None


def _optional_name(check: Callable[..., Any], value: Any, at: tuple[str | int, ...], rule: NameRule,
                   what: str) -> str | None:
    """An optional name (None when absent or empty) that must follow `rule` when given."""
    return None if value in (None, "") else check(read_name, value, at, rule, what)


def _external_name(value: Any, at: tuple[str | int, ...]) -> str | None:
    """An ExternalName service's DNS name: a DNS-1123 subdomain, a trailing dot allowed (as the API server)."""
    if value in (None, ""):
        return None
    read_name(value.removesuffix(".") if isinstance(value, str) else value, at, NameRule.DNS1123_SUBDOMAIN,
          "externalName")
    return value  # type: ignore[no-any-return]


def _endpoint_ports(check: Callable[..., Any], data: dict[str, Any], at: tuple[str | int, ...]
                    ) -> list[tuple[str | None, int, Protocol]]:
    ports = []
    for p, port in enumerate(list_of(data, "ports", at)):
        here = at + ("ports", p)
        if not isinstance(port, dict):
            raise Bad(here, "E-TYPE", f"expected a port mapping, got {describe(port)}")
        ports.append((
            _optional_name(check, port.get("name"), here + ("name",), NameRule.DNS1123_LABEL, "port name"),
            check(read_port, port.get("port"), here + ("port",)),
            check(read_enum, port.get("protocol", "TCP"), here + ("protocol",), Protocol),
        ))
    return ports


def _pod_spec(check: Callable[..., Any], spec: dict[str, Any], at: tuple[str | int, ...]
              ) -> tuple[tuple[Container, ...], bool, str | None]:
    """containers (with their ports), hostNetwork and nodeName of a pod spec."""
    containers = []
    for c, container in enumerate(list_of(spec, "containers", at)):
        here = at + ("containers", c)
        if not isinstance(container, dict):
            raise Bad(here, "E-TYPE", f"expected a container mapping, got {describe(container)}")
        ports = []
        for p, port in enumerate(list_of(container, "ports", here)):
            port_at = here + ("ports", p)
            if not isinstance(port, dict):
                raise Bad(port_at, "E-TYPE", f"expected a port mapping, got {describe(port)}")
            host_port = port.get("hostPort")
            ports.append(ContainerPort(
                container_port=check(read_port, port.get("containerPort"), port_at + ("containerPort",)),
                protocol=check(read_enum, port.get("protocol", "TCP"), port_at + ("protocol",), Protocol),
                name=_optional_name(check, port.get("name"), port_at + ("name",), NameRule.PORT_NAME, "port name"),
                host_port=check(read_port, host_port, port_at + ("hostPort",)) if host_port else None,
            ))
        name = container.get("name", f"container-{c}")
        containers.append(Container(check(read_name, name, here + ("name",), NameRule.DNS1123_LABEL, "container name"),
                                    str(container.get("image", "")), tuple(ports)))
    node = _optional_name(check, spec.get("nodeName"), at + ("nodeName",), NameRule.DNS1123_SUBDOMAIN, "node name")
    return tuple(containers), spec.get("hostNetwork") is True, node

