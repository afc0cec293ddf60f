"""Input A: the project's short cluster YAML, canonicalized early into drafts (defaults layered
cluster network settings → node → pod)."""

from __future__ import annotations

from typing import Any

from webapp.loaders.documents import Document
from webapp.loaders.drafts import Inputs, NodeDraft, Origin, PodDraft, ServiceDraft
from webapp.loaders.fields import Bad
from webapp.loaders.policies import ip_block, namespace_labels, policy_port
from webapp.loaders.schema import OBJECTS, Validator
from webapp.model import (
    Container,
    ContainerPort,
    ExternalHost,
    LabelSelector,
    LoadBalancerMode,
    Namespace,
    NetworkPolicy,
    PolicyPeer,
    PolicyRule,
    PolicyType,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
    default_policy_types,
    labels_of,
)
from webapp.problems import Severity

API_VERSION = "k8s-netviz/v1"
CLUSTER_KEYS = frozenset(OBJECTS["cluster"].fields)
"""A document with any of these keys and no Kubernetes `kind` is cluster YAML (or `kind: Cluster`)."""

# network key → NetworkSettings field
_SETTING_FIELDS = {
    "cni": "cni", "overlay": "overlay", "bridge": "bridge", "podCIDR": "pod_cidr", "nodeCIDRMask": "node_cidr_mask",
    "serviceCIDR": "service_cidr", "clusterDNS": "cluster_dns_ip", "clusterDomain": "cluster_domain",
    "kubeProxy": "kube_proxy_mode", "nodePortRange": "node_port_range", "nodeNetwork": "node_network",
    "mtu": "mtu", "vxlanVNI": "vxlan_vni", "vxlanPort": "vxlan_port", "ipMasq": "ip_masq", "nic": "nic",
    "plugin": "network_plugin", "nodePortAddresses": "node_port_addresses", "masqueradeAll": "masquerade_all",
    "localhostNodePorts": "localhost_node_ports", "serviceCIDRRoute": "service_cidr_route",
}


def is_cluster_yaml(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if data.get("kind") == "Cluster":  # ours, not Cluster API's `cluster.x-k8s.io` Cluster
        return data.get("apiVersion", API_VERSION) == API_VERSION
    return "kind" not in data and "apiVersion" not in data and any(k in CLUSTER_KEYS for k in data)


def read_cluster_yaml(doc: Document, inputs: Inputs) -> None:
    """Validate one cluster YAML document and add what it describes to `inputs`."""
    origin = Origin(doc)
    validator = Validator(origin)
    cluster = validator.object("cluster", doc.data, ())
    inputs.problems.extend(validator.problems)
    if cluster is None:
        if "network" in doc.data:
            inputs.settings_lost = True
        return
    if "name" in cluster:
        inputs.name = cluster["name"]
    if "description" in cluster:
        inputs.description = cluster["description"]
    namespace = cluster.get("namespace", "default")
    network = cluster.get("network", {})
    for key, value in network.items():
        inputs.settings.set(_SETTING_FIELDS[key], value, origin.child("network", key))
    if "mode" in cluster.get("loadBalancer", {}):
        inputs.settings.set("load_balancer_mode", cluster["loadBalancer"]["mode"],
                            origin.child("loadBalancer", "mode"))
    for i, node in enumerate(cluster.get("nodes", [])):
        node_origin = origin.child("nodes", i)
        inputs.nodes.append(NodeDraft(
            name=node["name"],
            origin=node_origin,
            internal_ip=node.get("ip"),
            pod_cidr=node.get("podCIDR"),
            nic=node.get("nic"),
            labels=labels_of(node.get("labels")),
            ready=node.get("ready", True),
            schedulable=node.get("schedulable", True),
            external_ip=node.get("externalIP"),
            version=node.get("version"),
            nfacct=node.get("nfacct"),
            addresses=tuple(node.get("addresses", ())),
            addresses_at=tuple(("addresses", j) for j in range(len(node.get("addresses", ())))),
        ))
        node_namespace = node.get("namespace", namespace)
        for j, pod in enumerate(node.get("pods", [])):
            inputs.pods.append(_pod(pod, node_origin.child("pods", j), node_namespace, node["name"]))
    for i, pod in enumerate(cluster.get("pods", [])):
        inputs.pods.append(_pod(pod, origin.child("pods", i), namespace, pod.get("node")))
    for i, service in enumerate(cluster.get("services", [])):
        inputs.services.append(_service(service, origin.child("services", i), namespace))
    for host in cluster.get("external", []):
        inputs.external_hosts.append(ExternalHost(host["name"], host["ip"], host.get("dnsName")))
    for i, entry in enumerate(cluster.get("namespaces", [])):
        inputs.namespaces.append(Namespace(entry["name"], namespace_labels(entry["name"], entry.get("labels", {})),
                                           origin.child("namespaces", i).source_ref()))
    for i, entry in enumerate(cluster.get("policies", [])):
        try:
            inputs.network_policies.append(_policy(entry, origin.child("policies", i), namespace))
        except Bad as bad:
            inputs.problems.append(origin.problem(Severity.ERROR, bad.code, bad.message, "policies", i, *bad.path,
                                                  hint=bad.hint))


def _policy(entry: dict[str, Any], origin: Origin, namespace: str) -> NetworkPolicy:
    """The concise policy form (docs/cluster-yaml.md) → a NetworkPolicy; Bad for a peer or port the API rejects."""
    ingress = tuple(_policy_rule(rule, "ingress", i, "from") for i, rule in enumerate(entry.get("ingress", [])))
    egress = tuple(_policy_rule(rule, "egress", i, "to") for i, rule in enumerate(entry.get("egress", [])))
    return NetworkPolicy(
        namespace=entry.get("namespace", namespace), name=entry["name"],
        pod_selector=LabelSelector(labels_of(entry.get("podSelector"))),
        policy_types=default_policy_types(tuple(PolicyType(t) for t in entry.get("policyTypes", [])), bool(egress)),
        ingress=ingress, egress=egress, source=origin.source_ref(),
    )


def _policy_rule(rule: dict[str, Any], direction: str, i: int, peers_key: str) -> PolicyRule:
    at = (direction, i)
    return PolicyRule(
        peers=tuple(_policy_peer(peer, at + (peers_key, j)) for j, peer in enumerate(rule.get(peers_key, []))),
        ports=tuple(policy_port(Protocol(p.get("protocol", "TCP")), p.get("port"), p.get("endPort"), at + ("ports", k))
                    for k, p in enumerate(rule.get("ports", []))),
    )


def _policy_peer(peer: dict[str, Any], at: tuple[str | int, ...]) -> PolicyPeer:
    if "cidr" in peer:
        if "pods" in peer or "namespaces" in peer:
            raise Bad(at + ("cidr",), "E-POLICY-PEER", "cidr cannot be combined with pods or namespaces in one peer",
                      "write it as a peer of its own")
        return PolicyPeer(ip_block=ip_block(peer["cidr"], tuple(peer.get("except", ())), at))
    if "except" in peer:
        raise Bad(at + ("except",), "E-POLICY-PEER", "except needs a cidr")
    if not peer:
        raise Bad(at, "E-POLICY-PEER", "a peer needs pods, namespaces or cidr")
    return PolicyPeer(
        pod_selector=LabelSelector(labels_of(peer["pods"])) if "pods" in peer else None,
        namespace_selector=LabelSelector(labels_of(peer["namespaces"])) if "namespaces" in peer else None,
    )


def _pod(pod: dict[str, Any], origin: Origin, namespace: str, node: str | None) -> PodDraft:
    containers = pod.get("containers") or [{"name": pod["name"]}]
    return PodDraft(
        namespace=pod.get("namespace", namespace),
        name=pod["name"],
        origin=origin,
        containers=tuple(
            Container(
                name=c["name"],
                image=c.get("image", ""),
                ports=tuple(
                    ContainerPort(
                        container_port=p["port"],
                        protocol=Protocol(p.get("protocol", "TCP")),
                        name=p.get("name"),
                        host_port=p.get("hostPort"),
                    )
                    for p in c.get("ports", [])
                ),
            )
            for c in containers
        ),
        node=node,
        pod_ip=pod.get("ip"),
        labels=labels_of(pod.get("labels")),
        ready=pod.get("ready", True),
        host_network=pod.get("hostNetwork", False),
        down=pod.get("down", False),
    )


def _service(service: dict[str, Any], origin: Origin, namespace: str) -> ServiceDraft:
    ports = service.get("ports", [])
    several = len(ports) > 1  # Kubernetes requires a name on each port then: unnamed ones get `tcp-80` …
    return ServiceDraft(
        Service(
            namespace=service.get("namespace", namespace),
            name=service["name"],
            type=ServiceType(service.get("type", "ClusterIP")),
            cluster_ip=service.get("clusterIP"),
            ports=tuple(
                ServicePort(
                    port=p["port"],
                    target_port=p.get("targetPort", p["port"]),
                    protocol=Protocol(p.get("protocol", "TCP")),
                    name=p.get("name") or (f"{p.get('protocol', 'TCP').lower()}-{p['port']}" if several else None),
                    node_port=p.get("nodePort"),
                )
                for p in ports
            ),
            selector=labels_of(service.get("selector")),
            external_ips=tuple(service.get("externalIPs", ())),
            load_balancer_ips=tuple(service.get("loadBalancerIP", ())),
            load_balancer_source_ranges=tuple(service.get("loadBalancerSourceRanges", ())),
            external_name=service.get("externalName"),
            external_traffic_policy=TrafficPolicy(service.get("externalTrafficPolicy", "Cluster")),
            internal_traffic_policy=TrafficPolicy(service.get("internalTrafficPolicy", "Cluster")),
            session_affinity=SessionAffinity(service.get("sessionAffinity", "None")),
            session_affinity_timeout=service.get("sessionAffinityTimeout", 10800),
            health_check_node_port=service.get("healthCheckNodePort"),
            source=origin.source_ref(),
            allocate_load_balancer_node_ports=service.get("allocateLoadBalancerNodePorts", True),
            load_balancer_mode=LoadBalancerMode(service["loadBalancerMode"]) if "loadBalancerMode" in service else None,
        ),
        origin,
        headless="clusterIP" in service and service["clusterIP"] is None,
    )
