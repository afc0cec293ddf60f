"""Drafts → a complete, canonical `Cluster`: every gap filled deterministically, the way a real cluster fills it,
then the cross-object checks (IP and port clashes, selectors that match nothing).

Facts used (see /work/shared/reference/flannel-and-cidrs.md):
- node-ipam carves `--node-cidr-mask-size` (default /24) subnets of the cluster CIDR into `node.spec.podCIDR`;
- host-local IPAM: the bridge holds the subnet's first address (gateway), pods get addresses from `.2` up;
- kubeadm: service CIDR 10.96.0.0/12, the `kubernetes` Service takes its 1st address, kube-dns its 10th;
- NodePort range 30000-32767; the API server listens on the control-plane node's InternalIP:6443.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Callable, Iterable

from webapp.loaders.drafts import Inputs, NodeDraft, Origin, PodDraft, ServiceDraft, loader_origin
from webapp.loaders.policies import namespace_labels
from webapp.loaders.schema import did_you_mean
from webapp.loaders.workloads import coredns_pods
from webapp.model import (
    Bridge,
    Cluster,
    Container,
    Endpoint,
    NFACCT_SINCE,
    KubeProxyMode,
    LoadBalancerMode,
    Namespace,
    NetworkPlugin,
    NetworkSettings,
    Node,
    Overlay,
    Pod,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    TrafficPolicy,
    version_at_least,
)
from webapp.problems import Problem, Severity, worded

DEFAULT_NODE_NETWORK = IPv4Network("192.168.0.0/24")


def _unicast(address: IPv4Address) -> bool:
    """An address a NIC can hold and others reach: not 0.0.0.0, loopback, link-local, multicast or broadcast."""
    return not (address.is_unspecified or address.is_loopback or address.is_link_local or address.is_multicast
                or address == IPv4Address("255.255.255.255"))
FIRST_NODE_HOST = 11
"""Default node InternalIPs start at .11 of the node network (node-1 = 192.168.0.11)."""
DEFAULT_NODES = ("node-1", "node-2")
API_SERVER_PORT = 6443
DNS_PORTS = (("dns", 53, Protocol.UDP), ("dns-tcp", 53, Protocol.TCP), ("metrics", 9153, Protocol.TCP))
FIRST_DYNAMIC_SERVICE_OFFSET = 11
"""Allocated clusterIPs start after the addresses kubeadm pins (1st: kubernetes, 10th: kube-dns)."""

_ENUMS = {"overlay": Overlay, "bridge": Bridge, "kube_proxy_mode": KubeProxyMode, "network_plugin": NetworkPlugin,
          "load_balancer_mode": LoadBalancerMode}
_SETTINGS_FIELDS = {f.name for f in fields(NetworkSettings)}


class Filler:
    """One fill of one load: holds the problems found and a place to report load-wide notices.

    When reading found errors, the input is incomplete: the fill still runs so that every clash between the
    objects that were read is reported with the reading errors, but checks a missing object or setting could
    make wrong (references, ranges, selectors) are left out, and so are notices (no cluster is built)."""

    def __init__(self, inputs: Inputs, anchor: str):
        self.inputs = inputs
        self.anchor = anchor
        self.problems: list[Problem] = list(inputs.problems)
        self.complete = not any(p.severity == Severity.ERROR for p in inputs.problems)
        """Everything in the input was read: every check runs."""
        self.settings_known = self.complete or not inputs.settings_lost
        """The network settings were all read: checks against ranges and networks run."""
        self.unplaced: list[PodDraft] = []
        """Pods on a node that is not there."""

    def notice(self, code: str, message: str, hint: str = "") -> None:
        if self.complete:
            self.problems.append(Problem(Severity.NOTICE, self.anchor, 1, 1, message, hint=hint, code=code))

    def report(self, origin: Origin, severity: Severity, code: str, message: str, *path: str | int,
               hint: str = "", message_zh: str = "") -> None:
        self.problems.append(origin.problem(severity, code, message, *path, hint=hint, message_zh=message_zh))

    # ------------------------------------------------------------------------------------------ settings

    def _service_cidr_route(self, text: str) -> str | None:
        """`serviceCIDRRoute: via NODE` → the node's name; an error unless NODE is a node of the cluster."""
        words = text.split()
        names = [n.name for n in self.inputs.nodes]
        if len(words) == 2 and words[0] == "via" and words[1] in names:
            return words[1]
        self.report(self.inputs.settings.origins["service_cidr_route"], Severity.ERROR, "E-SERVICE-CIDR-ROUTE",
                    f"serviceCIDRRoute {text!r}: expected `via NODE`, NODE a node of the cluster",
                    hint=f"nodes: {', '.join(names[:10])}" if names else "")
        return None

    def settings(self) -> tuple[NetworkSettings, str]:
        values: dict[str, Any] = dict(self.inputs.settings.values)
        nic = values.pop("nic", "eth0")
        for key, enum in _ENUMS.items():
            if key in values:
                values[key] = enum(values[key])
        if "node_port_addresses" in values:
            given = list(values.pop("node_port_addresses"))
            if "primary" in given:
                values["node_port_addresses_primary"] = True
                if len(given) > 1 and self.settings_known:
                    self.report(self.inputs.settings.origins["node_port_addresses"], Severity.ERROR,
                                "E-NODEPORT-ADDRESSES", "nodePortAddresses: primary stands alone, "
                                f"not beside {', '.join(str(g) for g in given if g != 'primary')}",
                                hint="write [primary], or list CIDRs only")
            else:
                values["node_port_addresses"] = tuple(IPv4Network(g, strict=False) for g in given)
        if "service_cidr_route" in values:
            values["service_cidr_route"] = self._service_cidr_route(str(values["service_cidr_route"]))
        overlay = values.get("overlay", Overlay.FLANNEL_VXLAN)
        values.setdefault("cni", "ovs" if overlay == Overlay.OVS_VXLAN else "flannel")
        values.setdefault("vxlan_port", Overlay(overlay).default_vxlan_port)
        if "pod_cidr" not in values:
            inferred = _supernet(n.pod_cidr for n in self.inputs.nodes if n.pod_cidr is not None)
            if inferred is not None and not inferred.subnet_of(NetworkSettings.pod_cidr):
                values["pod_cidr"] = inferred
                self.notice("N-POD-CIDR-INFERRED",
                            f"pod network taken as {inferred}, the range holding the nodes' podCIDRs")
        if "node_cidr_mask" not in values:
            first = next((n.pod_cidr for n in self.inputs.nodes if n.pod_cidr is not None), None)
            if first is not None:
                values["node_cidr_mask"] = first.prefixlen
        if "service_cidr" not in values:
            inferred = _supernet(IPv4Network(d.service.cluster_ip) for d in self.inputs.services
                               if d.service.cluster_ip)
            if inferred is not None and not inferred.subnet_of(NetworkSettings.service_cidr):
                values["service_cidr"] = inferred
                self.notice("N-SERVICE-CIDR-INFERRED",
                            f"service network taken as {inferred}, the range holding the services' clusterIPs")
        service_cidr = values.get("service_cidr", NetworkSettings.service_cidr)
        given_dns = next((d.service.cluster_ip for d in self.inputs.services if d.key == "kube-system/kube-dns"), None)
        values.setdefault("cluster_dns_ip", given_dns or service_cidr.network_address + 10)
        settings = NetworkSettings(**{k: v for k, v in values.items() if k in _SETTINGS_FIELDS})
        if settings.node_cidr_mask < settings.pod_cidr.prefixlen:
            if self.settings_known:
                origin = self.inputs.settings.origins.get("node_cidr_mask") or self.inputs.settings.origins["pod_cidr"]
                self.report(origin, Severity.ERROR, "E-NODE-CIDR-MASK",
                            f"nodeCIDRMask /{settings.node_cidr_mask} is wider than the "
                                                    f"pod network {settings.pod_cidr}")
            settings = replace(settings, node_cidr_mask=settings.pod_cidr.prefixlen)
        origin = self.inputs.settings.origins.get("localhost_node_ports")
        if origin is not None and settings.kube_proxy_mode != KubeProxyMode.IPTABLES:
            # KubeProxyIPTablesConfiguration.LocalhostNodePorts: only the iptables proxier reads it (the flag's
            # help: "This only applies to iptables mode and ipv4").
            english, chinese = worded("load.iptables_only.localhost_node_ports", mode=settings.kube_proxy_mode)
            self.report(origin, Severity.WARNING, "W-IPTABLES-ONLY", english, message_zh=chinese)
        if settings.enforces_policy and settings.overlay == Overlay.OVS_VXLAN and self.settings_known:
            origin = self.inputs.settings.origins["network_plugin"]
            self.report(origin, Severity.ERROR, "E-CANAL-OVS-OVERLAY", "canal runs flannel's datapath: it cannot draw the ovs-vxlan overlay",
                        hint="use overlay flannel-vxlan or flannel-host-gw, or network plugin flannel")
        return settings, nic

    # --------------------------------------------------------------------------------------------- nodes

    def nodes(self, settings: NetworkSettings, nic: str) -> list[Node]:
        drafts = self._unique(self.inputs.nodes, lambda n: n.name, "node")
        if not drafts:
            named = list(dict.fromkeys(p.node for p in self.inputs.pods if p.node))
            names = named or list(DEFAULT_NODES)
            drafts = [NodeDraft(name=name, origin=loader_origin(self.anchor)) for name in names]
            if named:
                self.notice("N-NODES-FROM-PODS", f"no nodes given: made nodes {', '.join(names)}, named by the pods")
            else:
                self.notice("N-DEFAULT-NODES", f"no nodes given: using the default nodes {', '.join(names)}")
        given_ip = next((n.internal_ip for n in drafts if n.internal_ip is not None), None)
        node_network = settings.node_network or (
            IPv4Network(f"{given_ip}/24", strict=False) if given_ip is not None else DEFAULT_NODE_NETWORK
        )
        used_ips = {n.internal_ip for n in drafts if n.internal_ip is not None}
        free_ips = (node_network.network_address + i for i in range(FIRST_NODE_HOST, node_network.num_addresses - 1))
        used_cidrs = [n.pod_cidr for n in drafts if n.pod_cidr is not None]
        free_cidrs = (c for c in settings.pod_cidr.subnets(new_prefix=settings.node_cidr_mask)
                      if not any(c.overlaps(u) for u in used_cidrs))
        nodes: list[Node] = []
        for draft in drafts:
            internal_ip = draft.internal_ip
            if internal_ip is None:
                internal_ip = next((a for a in free_ips if a not in used_ips), None)
                if internal_ip is None:
                    self._node_problem(draft, "E-NODE-NO-FREE-IP",
                                       f"no free address left in the node network {node_network}")
                    continue
                if not draft.origin.added_by_loader and given_ip is not None:
                    self.notice("N-NODE-IP-ASSIGNED", f"node {draft.name} has no InternalIP: gave it {internal_ip}")
            pod_cidr = draft.pod_cidr
            if pod_cidr is None:
                pod_cidr = next(free_cidrs, None)
                if pod_cidr is None:
                    self._node_problem(draft, "E-NODE-NO-FREE-CIDR",
                                       f"no free /{settings.node_cidr_mask} left in {settings.pod_cidr}")
                    continue
            nodes.append(Node(
                name=draft.name,
                internal_ip=internal_ip,
                pod_cidr=pod_cidr,
                nic=draft.nic or nic,
                labels=draft.labels,
                ready=draft.ready,
                external_ip=draft.external_ip,
                source=draft.origin.source_ref(),
                version=draft.version,
                nfacct=draft.nfacct if draft.nfacct is not None else version_at_least(draft.version, NFACCT_SINCE),
                addresses=tuple(IPv4Address(a) for a in draft.addresses),
            ))
        self._check_nodes(nodes, {d.name: d for d in drafts}, settings)
        if settings.kube_proxy_mode != KubeProxyMode.IPTABLES:
            for draft in drafts:
                if draft.nfacct:  # pkg/proxy/iptables only: no other proxier writes nfacct counters
                    english, chinese = worded("load.iptables_only.nfacct", node=draft.name,
                                              mode=settings.kube_proxy_mode)
                    self.report(draft.origin, Severity.WARNING, "W-IPTABLES-ONLY", english, *draft.nfacct_at,
                                message_zh=chinese)
        return nodes

    def _check_nodes(self, nodes: list[Node], drafts: dict[str, NodeDraft], settings: NetworkSettings) -> None:
        """Node addresses must be unique, podCIDRs inside the pod network and disjoint (sorted: O(n log n))."""
        owner_of_ip: dict[IPv4Address, str] = {}
        for node in nodes:
            first = owner_of_ip.setdefault(node.internal_ip, node.name)
            if first != node.name:
                self.report(drafts[node.name].origin, Severity.ERROR, "E-DUP-NODE-IP",
                            f"InternalIP {node.internal_ip} of node {node.name} is already used by node {first}",
                            *drafts[node.name].ip_at)
            if not node.pod_cidr.subnet_of(settings.pod_cidr) and self.settings_known:
                self.report(drafts[node.name].origin, Severity.ERROR, "E-NODE-CIDR-OUTSIDE",
                            f"podCIDR {node.pod_cidr} of node {node.name} is outside the pod network "
                            f"{settings.pod_cidr}", *drafts[node.name].pod_cidr_at)
        for node in nodes:  # its further addresses: unique too, and a unicast address outside the cluster's ranges
            draft = drafts[node.name]
            for address, at in zip(node.addresses, draft.addresses_at):
                first = owner_of_ip.get(address)
                if address == node.internal_ip or first is not None:
                    owner = "its InternalIP" if address == node.internal_ip else f"node {first}"
                    self.report(draft.origin, Severity.ERROR, "E-DUP-NODE-IP",
                                f"address {address} of node {node.name} is already used by {owner}", *at)
                    continue
                owner_of_ip[address] = node.name
                inside = next((f"in the {what} network {net}" for what, net in (("pod", settings.pod_cidr),
                                                                            ("service", settings.service_cidr))
                               if address in net and self.settings_known), None)
                if inside is not None or not _unicast(address):
                    self.report(draft.origin, Severity.ERROR, "E-NODE-ADDRESS",
                                f"address {address} of node {node.name} is {inside or 'not a unicast address'}", *at,
                                hint="a node's address is on its NIC, outside the pod and service networks")
        reach: tuple[int, Node] | None = None
        for node in sorted(nodes, key=lambda n: (int(n.pod_cidr.network_address), -n.pod_cidr.num_addresses)):
            start = int(node.pod_cidr.network_address)
            if reach is not None and start <= reach[0]:
                self.report(drafts[node.name].origin, Severity.ERROR, "E-NODE-CIDR-OVERLAP",
                            f"podCIDR {node.pod_cidr} of node {node.name} overlaps node {reach[1].name}'s "
                            f"{reach[1].pod_cidr}", *drafts[node.name].pod_cidr_at)
            end = int(node.pod_cidr.broadcast_address)
            if reach is None or end > reach[0]:
                reach = (end, node)

    def _node_problem(self, draft: NodeDraft, code: str, message: str) -> None:
        if self.settings_known:
            self.report(draft.origin, Severity.ERROR, code, f"node {draft.name}: {message}")

    def _unique(self, drafts: list[Any], key: Any, what: str) -> list[Any]:
        seen: dict[str, Any] = {}
        out = []
        for draft in drafts:
            k = key(draft)
            if k in seen:
                first = seen[k].origin.source_ref()
                where = f"first at {first.file}:{first.line}" if first else ""
                self.report(draft.origin, Severity.ERROR, f"E-DUP-{what.upper()}", f"{what} {k} is defined twice",
                            hint=where)
                continue
            seen[k] = draft
            out.append(draft)
        return out

    # ---------------------------------------------------------------------------------------------- pods

    def container_ports(self) -> None:
        """No two containers of a pod (or of a controller's pod template) declare one port and protocol."""
        for draft in self.inputs.pods:
            self._check_container_ports(draft.containers, draft.origin, draft.port_at, f"pod {draft.key}")
        for controller in self.inputs.controllers:
            at = ("spec", "template", "spec", "containers")
            self._check_container_ports(controller.template.containers, controller.origin,
                                        lambda c, p: (*at, c, "ports", p, "containerPort"),
                                        f"the pods of {controller.kind} {controller.namespace}/{controller.name}")

    def _check_container_ports(self, containers: tuple[Container, ...], origin: Origin,
                               port_at: Callable[[int, int], tuple[str | int, ...]], what: str) -> None:
        if len(containers) < 2:
            return
        first: dict[tuple[int, Protocol], str] = {}
        for c, container in enumerate(containers):
            for p, port in enumerate(container.ports):
                owner = first.setdefault((port.container_port, port.protocol), container.name)
                if owner != container.name:
                    self.report(origin, Severity.ERROR, "E-DUP-CONTAINER-PORT",
                                f"port {port.container_port}/{port.protocol} of {what} is declared by containers "
                                f"{owner} and {container.name}; containers of a pod share one network namespace "
                                f"(the pause container's), so only one can listen on it", *port_at(c, p))

    def pods(self, nodes: list[Node], schedulable: set[str], bridge: str = "cni0") -> list[Pod]:
        by_name = {n.name: n for n in nodes}
        drafts = self._unique(self.inputs.pods, lambda p: p.key, "pod")
        load: dict[str, int] = {n.name: 0 for n in nodes}
        placed: list[tuple[PodDraft, str]] = []
        waiting: list[PodDraft] = []
        for draft in drafts:
            if draft.node is None:
                waiting.append(draft)
            elif draft.node not in by_name:
                self.unplaced.append(draft)
                if self.complete:  # else the node may be in what was not read
                    self.report(draft.origin, Severity.ERROR, "E-POD-NODE-UNDEFINED",
                                f"node '{draft.node}' of pod {draft.key} is not defined",
                                *draft.node_at, hint=did_you_mean(draft.node, list(by_name)))
            else:
                load[draft.node] += 1
                placed.append((draft, draft.node))
        targets = [n.name for n in nodes if n.name in schedulable and n.ready] or [n.name for n in nodes]
        for draft in sorted(waiting, key=lambda d: d.key):
            target = min(targets, key=lambda name: load[name])  # least loaded, ties: node order
            load[target] += 1
            placed.append((draft, target))
        return self._address(placed, by_name, bridge)

    def _address(self, placed: list[tuple[PodDraft, str]], by_name: dict[str, Node], bridge: str) -> list[Pod]:
        """Pod IPs: hostNetwork pods share the node IP; others keep theirs or get host-local's next free one."""
        used: dict[str, set[int]] = defaultdict(set)
        for draft, node in placed:
            if draft.pod_ip is not None and not draft.host_network:
                used[node].add(int(draft.pod_ip))
        cursor: dict[str, int] = {}
        pods: list[Pod] = []
        for draft, node_name in placed:  # host-local hands out addresses in the order pods arrive
            node = by_name[node_name]
            if draft.host_network:
                pod_ip = node.internal_ip
            elif draft.pod_ip is not None:
                pod_ip = draft.pod_ip
            else:
                cidr = node.pod_cidr
                last = int(cidr.broadcast_address) - 1
                candidate = cursor.get(node_name, int(cidr.network_address) + 2)
                while candidate in used[node_name]:
                    candidate += 1
                if candidate > last:
                    if self.settings_known:
                        self.report(draft.origin, Severity.ERROR, "E-POD-NO-FREE-IP",
                                    f"no free pod IP left in {node_name}'s podCIDR {cidr} for {draft.key}")
                    continue
                used[node_name].add(candidate)
                cursor[node_name] = candidate + 1
                pod_ip = IPv4Address(candidate)
            pods.append(Pod(
                namespace=draft.namespace,
                name=draft.name,
                node=node_name,
                pod_ip=pod_ip,
                containers=draft.containers,
                labels=draft.labels,
                ready=draft.ready,
                host_network=draft.host_network,
                owner=draft.owner,
                source=draft.origin.source_ref(),
            ))
        self._check_pod_ips(pods, placed, by_name, bridge)
        return pods

    def _check_pod_ips(self, pods: list[Pod], placed: list[tuple[PodDraft, str]], by_name: dict[str, Node],
                       bridge: str) -> None:
        drafts = {d.key: d for d, _ in placed}
        given_cidr = {d.name for d in self.inputs.nodes if d.pod_cidr is not None}
        owner_of_ip: dict[IPv4Address, str] = {}
        for pod in pods:
            if pod.host_network:
                continue
            draft = drafts[pod.key]
            node = by_name[pod.node]
            # with input missing, a podCIDR the fill chose or a node the scheduler chose may differ: not judged
            sure = self.complete or (draft.node is not None and node.name in given_cidr)
            if pod.pod_ip not in node.pod_cidr and sure:
                self.report(draft.origin, Severity.ERROR, "E-POD-IP-OUTSIDE",
                            f"pod IP {pod.pod_ip} of {pod.key} is outside {node.name}'s podCIDR {node.pod_cidr}",
                            *draft.ip_at)
            if pod.pod_ip == node.bridge_ip and draft.pod_ip is not None and sure:
                # The bridge (cni0, docker0, cbr0) holds the podCIDR's first address as the pods' gateway; host-local
                # IPAM never hands it out, so a pod with it would answer for its own node's gateway.
                english, chinese = worded("load.pod_ip_is_bridge", ip=pod.pod_ip, pod=pod.key, node=node.name,
                                          bridge=bridge, cidr=node.pod_cidr)
                self.report(draft.origin, Severity.ERROR, "E-POD-IP-BRIDGE", english, *draft.ip_at,
                            message_zh=chinese)
            first = owner_of_ip.setdefault(pod.pod_ip, pod.key)
            if first != pod.key:
                self.report(draft.origin, Severity.ERROR, "E-DUP-POD-IP",
                            f"pod IP {pod.pod_ip} of {pod.key} is already used by {first}", *draft.ip_at)
        for draft in self.unplaced:  # on a node that is not there: its IP may still clash
            if draft.pod_ip is not None and not draft.host_network:
                first = owner_of_ip.setdefault(draft.pod_ip, draft.key)
                if first != draft.key:
                    self.report(draft.origin, Severity.ERROR, "E-DUP-POD-IP",
                                f"pod IP {draft.pod_ip} of {draft.key} is already used by {first}", *draft.ip_at)

    # ------------------------------------------------------------------------------------------ services

    def well_known(self, settings: NetworkSettings, nodes: list[Node]) -> None:
        """Add what every real cluster has when the input lacks it: default/kubernetes, kube-dns and CoreDNS."""
        keys = {s.key for s in self.inputs.services}
        anchor = loader_origin(self.anchor)
        if "default/kubernetes" not in keys and nodes:
            kubernetes = Service("default", "kubernetes", ServiceType.CLUSTER_IP, None,
                                 (ServicePort(443, API_SERVER_PORT, name="https"),))
            self.inputs.services.append(ServiceDraft(kubernetes, anchor))
            self.notice("N-ADDED-KUBERNETES-SERVICE",
                        f"added Service default/kubernetes ({settings.service_cidr.network_address + 1}:443 → "
                        f"the API server at {nodes[0].internal_ip}:{API_SERVER_PORT}), as every cluster has it")
        if "kube-system/kube-dns" not in keys:
            kube_dns = Service("kube-system", "kube-dns", ServiceType.CLUSTER_IP, settings.cluster_dns_ip,
                               tuple(ServicePort(port, port, proto, name) for name, port, proto in DNS_PORTS),
                               selector=(("k8s-app", "kube-dns"),))
            self.inputs.services.append(ServiceDraft(kube_dns, anchor))
            self.notice("N-ADDED-KUBE-DNS",
                        f"added Service kube-system/kube-dns ({settings.cluster_dns_ip}), as every cluster has it")
        has_dns_pods = any(
            p.namespace == "kube-system" and dict(p.labels).get("k8s-app") == "kube-dns" for p in self.inputs.pods
        ) or any(c.makes_dns_pods() for c in self.inputs.controllers)
        if not has_dns_pods:
            self.inputs.pods.extend(coredns_pods(anchor, DNS_PORTS))
            self.notice("N-ADDED-COREDNS",
                        "added 2 CoreDNS pods (kube-system, k8s-app=kube-dns), as every cluster has them")

    def services(self, settings: NetworkSettings) -> list[Service]:
        drafts = sorted(self._unique(self.inputs.services, lambda s: s.key, "service"), key=lambda s: s.key)
        cidr = settings.service_cidr
        pinned = {"default/kubernetes": cidr.network_address + 1, "kube-system/kube-dns": settings.cluster_dns_ip}
        used_ips = {int(d.service.cluster_ip) for d in drafts if d.service.cluster_ip is not None}
        used_ips |= {int(a) for a in pinned.values()}
        next_ip = int(cidr.network_address) + FIRST_DYNAMIC_SERVICE_OFFSET
        low, high = settings.node_port_range
        used_ports = {p.node_port for d in drafts for p in d.service.ports if p.node_port is not None}
        used_ports |= {d.service.health_check_node_port for d in drafts if d.service.health_check_node_port}
        next_port = low
        owner_of_ip: dict[IPv4Address, str] = {}
        owner_of_port: dict[int, str] = {}
        services = []
        for draft in drafts:
            service = draft.service
            cluster_ip = service.cluster_ip
            if service.type == ServiceType.EXTERNAL_NAME:
                cluster_ip = None
            elif cluster_ip is None and not draft.headless:
                if draft.key in pinned:
                    cluster_ip = pinned[draft.key]
                else:
                    while next_ip in used_ips:
                        next_ip += 1
                    if next_ip >= int(cidr.broadcast_address):
                        if self.settings_known:
                            self.report(draft.origin, Severity.ERROR, "E-SERVICE-NO-FREE-IP",
                                        f"no free clusterIP left in {cidr}")
                        continue
                    cluster_ip = IPv4Address(next_ip)
                    used_ips.add(next_ip)
            if cluster_ip is not None:
                if cluster_ip not in cidr and self.settings_known:
                    self.report(draft.origin, Severity.ERROR, "E-SERVICE-IP-OUTSIDE",
                                f"clusterIP {cluster_ip} of {draft.key} is outside the service network {cidr}",
                                *draft.cluster_ip_at)
                first = owner_of_ip.setdefault(cluster_ip, draft.key)
                if first != draft.key:
                    self.report(draft.origin, Severity.ERROR, "E-DUP-CLUSTER-IP",
                                f"clusterIP {cluster_ip} of {draft.key} is already used by {first}",
                                *draft.cluster_ip_at)
            if len(service.ports) > 1 and any(p.name is None for p in service.ports):
                self.report(draft.origin, Severity.ERROR, "E-SERVICE-PORT-NAMES",
                            f"Service {draft.key} has {len(service.ports)} ports: each needs a name", *draft.ports_at)
            wants_node_ports = service.type == ServiceType.NODE_PORT or (
                service.type == ServiceType.LOAD_BALANCER and service.allocate_load_balancer_node_ports)
            ports = []
            own_ports: dict[int, Protocol] = {}
            for i, port in enumerate(service.ports):
                node_port = port.node_port
                if node_port is not None:
                    at = (*draft.ports_at, i, "nodePort")
                    if not low <= node_port <= high and self.settings_known:
                        self.report(draft.origin, Severity.ERROR, "E-NODE-PORT-RANGE",
                                    f"nodePort {node_port} is outside the range {low}-{high}", *at,
                                    hint="pick a port in the range, or change network.nodePortRange")
                    first = owner_of_port.setdefault(node_port, draft.key)
                    if first != draft.key or own_ports.get(node_port) == port.protocol:
                        self.report(draft.origin, Severity.ERROR, "E-DUP-NODE-PORT",
                                    f"nodePort {node_port} is already used by {first}", *at)
                    own_ports[node_port] = port.protocol
                elif wants_node_ports:
                    while next_port in used_ports:
                        next_port += 1
                    node_port = next_port
                    used_ports.add(node_port)
                    owner_of_port[node_port] = draft.key
                    own_ports[node_port] = port.protocol
                ports.append(replace(port, node_port=node_port) if node_port != port.node_port else port)
            health_port = service.health_check_node_port
            wants_health_port = (service.type == ServiceType.LOAD_BALANCER
                                 and service.external_traffic_policy == TrafficPolicy.LOCAL)
            if health_port is not None:
                self._given_health_port(draft, health_port, wants_health_port, (low, high), owner_of_port, own_ports)
            elif wants_health_port:
                while next_port in used_ports:
                    next_port += 1
                health_port = next_port
                used_ports.add(health_port)
            services.append(replace(service, cluster_ip=cluster_ip, ports=tuple(ports),
                                    health_check_node_port=health_port))
        return services

    def _given_health_port(self, draft: ServiceDraft, port: int, wanted: bool, node_port_range: tuple[int, int],
                           owner_of_port: dict[int, str], own_ports: dict[int, Protocol]) -> None:
        """Check a given healthCheckNodePort as the API server does. pkg/apis/core/validation/validation.go
        (ValidateService): it "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is
        'Local'"; pkg/registry/core/service/storage/alloc.go (allocHealthCheckNodePort) takes it from the nodePort
        allocator (pkg/registry/core/service/portallocator), so it lies in the nodePort range and no nodePort or
        other healthCheckNodePort may hold it."""
        at = draft.health_check_node_port_at
        if not wanted:
            english, chinese = worded("load.health_check_node_port.not_local")
            self.report(draft.origin, Severity.ERROR, "E-HEALTH-CHECK-NODE-PORT-TYPE", english, *at,
                        message_zh=chinese)
            return
        low, high = node_port_range
        if not low <= port <= high and self.settings_known:
            english, chinese = worded("load.health_check_node_port.range", port=port, low=low, high=high)
            self.report(draft.origin, Severity.ERROR, "E-NODE-PORT-RANGE", english, *at,
                        hint="pick a port in the range, or change network.nodePortRange", message_zh=chinese)
        first = owner_of_port.setdefault(port, draft.key)
        if first != draft.key or port in own_ports:
            english, chinese = worded("load.health_check_node_port.used", port=port, owner=first)
            self.report(draft.origin, Severity.ERROR, "E-DUP-NODE-PORT", english, *at, message_zh=chinese)

    # ----------------------------------------------------------------------------------------- endpoints

    def endpoints(self, services: list[Service], pods: list[Pod], nodes: list[Node]) -> list[Endpoint]:
        given: dict[str, tuple[str, list[Endpoint]]] = {}
        for draft in self.inputs.endpoints:
            kind, eps = given.get(draft.service, (draft.kind, []))
            if kind == "Endpoints" and draft.kind == "EndpointSlice":
                kind, eps = draft.kind, []  # kube-proxy reads EndpointSlices: they win over Endpoints
            if kind == draft.kind:
                eps = eps + draft.endpoints
            given[draft.service] = (kind, eps)
        service_drafts = {s.key: s for s in self.inputs.services}
        index = _LabelIndex(pods)
        endpoints: list[Endpoint] = []
        for service in services:
            draft = service_drafts[service.key]
            selected = index.select(service.namespace, service.selector) if service.selector else []
            if service.selector and not selected and service.type != ServiceType.EXTERNAL_NAME:
                self.report(draft.origin, Severity.WARNING, "W-SELECTOR-MATCHES-NOTHING",
                            f"selector {_selector_text(service.selector)} of Service {service.key} matches no pod",
                            *draft.selector_at)
            for i, port in enumerate(service.ports):
                if isinstance(port.target_port, str) and selected and not any(
                    p.find_port(port.target_port, port.protocol) for p in selected
                ):
                    self.report(draft.origin, Severity.WARNING, "W-TARGET-PORT-UNKNOWN",
                                f"no pod selected by Service {service.key} has a port named '{port.target_port}'",
                                *draft.ports_at, i, "targetPort")
            if service.key in given:
                endpoints.extend(given.pop(service.key)[1])
            elif service.key == "default/kubernetes" and nodes:
                endpoints.extend(
                    Endpoint(service.key, p.name, nodes[0].internal_ip, API_SERVER_PORT, p.protocol, nodes[0].name)
                    for p in service.ports
                )
            elif service.type != ServiceType.EXTERNAL_NAME:
                endpoints.extend(_derive(service, selected))
        for key, (kind, eps) in given.items():
            endpoints.extend(eps)  # endpoints of a service not in the input: kept as read
            self.notice("N-ENDPOINTS-WITHOUT-SERVICE", f"{kind} of {key} kept, though there is no Service {key}")
        return endpoints


def _derive(service: Service, selected: list[Pod]) -> Iterable[Endpoint]:
    """The endpoints the EndpointSlice controller would write: one per selected pod and port it serves."""
    for port in service.ports:
        for pod in selected:
            if isinstance(port.target_port, int):
                number = port.target_port
            else:
                found = pod.find_port(port.target_port, port.protocol)
                if found is None:
                    continue
                number = found[1].container_port
            yield Endpoint(
                service=service.key, port_name=port.name, ip=pod.pod_ip, port=number, protocol=port.protocol,
                node=pod.node, pod=pod.key, ready=pod.ready, serving=pod.ready,
            )


class _LabelIndex:
    """Pods by (namespace, label, value), for selector matching in large clusters."""

    def __init__(self, pods: list[Pod]):
        self.pods = pods
        self.by_label: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for i, pod in enumerate(pods):
            for key, value in pod.labels:
                self.by_label[(pod.namespace, key, value)].append(i)

    def select(self, namespace: str, selector: tuple[tuple[str, str], ...]) -> list[Pod]:
        sets = sorted((self.by_label.get((namespace, k, v), []) for k, v in selector), key=len)
        if not sets or not sets[0]:
            return []
        chosen = set(sets[0])
        for other in sets[1:]:
            chosen.intersection_update(other)
        return [self.pods[i] for i in sorted(chosen)]


def _selector_text(selector: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector)


def _supernet(networks: Iterable[IPv4Network], widest_prefix: int = 16) -> IPv4Network | None:
    """The smallest network holding all of `networks`, at least a /`widest_prefix`."""
    result: IPv4Network | None = None
    for net in networks:
        if result is None:
            result = net
        while not net.subnet_of(result):
            result = result.supernet()
    if result is not None and result.prefixlen > widest_prefix:
        result = result.supernet(new_prefix=widest_prefix)
    return result


def build_cluster(inputs: Inputs, anchor: str) -> tuple[Cluster | None, list[Problem]]:
    """Fill every gap of `inputs` and check the result; the cluster is None when there are errors."""
    filler = Filler(inputs, anchor)
    filler.container_ports()
    settings, nic = filler.settings()
    nodes = filler.nodes(settings, nic)
    if settings.node_network is None and nodes:
        covering = _supernet((IPv4Network(n.internal_ip) for n in nodes), widest_prefix=24)
        settings = replace(settings, node_network=covering)  # the underlay: the /24 (or more) holding the nodes
    for controller in inputs.controllers:
        if (controller.namespace, f"{controller.kind}/{controller.name}") not in inputs.owned:
            inputs.pods.extend(controller.expand([n.name for n in nodes]))
    if filler.complete:  # else what the loader would add might clash with what was not read
        filler.well_known(settings, nodes)
    schedulable = {d.name for d in inputs.nodes if d.schedulable} if inputs.nodes else {n.name for n in nodes}
    pods = filler.pods(nodes, schedulable, settings.bridge)
    services = filler.services(settings)
    # endpoints only warn (a selector matching nothing, a port name no pod has): not judged with input missing
    endpoints = filler.endpoints(services, pods, nodes) if filler.complete else []
    problems = filler.problems
    down = frozenset(d.key for d in inputs.pods if d.down)
    if any(p.severity == Severity.ERROR for p in problems):
        return None, problems
    cluster = Cluster(
        name=inputs.name or "cluster",
        settings=settings,
        nodes=tuple(nodes),
        pods=tuple(sorted(pods, key=lambda p: (p.namespace, p.name))),
        services=tuple(sorted(services, key=lambda s: (s.namespace, s.name))),
        endpoints=tuple(sorted(endpoints, key=_endpoint_order)),
        network_policies=tuple(sorted(inputs.network_policies, key=lambda n: (n.namespace, n.name))),
        namespace_objects=_namespaces(inputs, pods, services),
        external_hosts=tuple(inputs.external_hosts),
        description=inputs.description,
        down_pods=down,
    )
    return cluster, problems


def _namespaces(inputs: Inputs, pods: list[Pod], services: list[Service]) -> tuple[Namespace, ...]:
    """The Namespace objects given, plus one for every namespace only named by an object, by name; each holds
    `kubernetes.io/metadata.name` (the API server sets it on every namespace)."""
    given = {n.name: n for n in inputs.namespaces}  # a later object of the same name wins
    named = {o.namespace for o in (*pods, *services, *inputs.network_policies)} | {"default", "kube-system"}
    for name in named - set(given):
        given[name] = Namespace(name, namespace_labels(name, ()))
    return tuple(given[name] for name in sorted(given))


def _endpoint_order(ep: Endpoint) -> tuple[Any, ...]:
    return (ep.service, ep.port_name or "", int(ep.ip), ep.port, str(ep.protocol), ep.pod or "")

