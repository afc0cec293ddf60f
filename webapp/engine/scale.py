"""The loaded cluster grown to many services, for the mode comparison's cost at scale: the same nodes and pods,
plus plain ClusterIP services (one TCP port each, one endpoint on one of the cluster's pods) until there are
`SCALE_SERVICES` in all. kube-proxy then programs what it would for that many services, and
`webapp.engine.compare.scale_lookup` measures how many rules a packet meets before its service is found."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

from webapp.engine.memo import cluster_cached
from webapp.model import Cluster, Endpoint, Service, ServicePort, ServiceType

SCALE_SERVICES = 5000
"""The size the comparison grows a cluster to (the seed article's point: iptables rules grow with services)."""
SCALE_NAMESPACE = "scale"
"""The namespace of the added services (`scale/svc-00001` …)."""
SCALE_PORT, SCALE_TARGET_PORT = 80, 8080


def grown(cluster: Cluster, services: int = SCALE_SERVICES) -> Cluster:
    """`cluster` with ClusterIP services added until it holds `services` (itself when it already does, or when
    it has no pod on the pod network to back them); memoised per cluster object."""
    return cluster_cached(cluster, f"grown/{services}", lambda: _grow(cluster, services))


def _grow(cluster: Cluster, services: int) -> Cluster:
    backends = [p for p in cluster.pods if not p.host_network and p.node]
    missing = services - len(cluster.services)
    if missing <= 0 or not backends:
        return cluster
    used = {s.cluster_ip for s in cluster.services} | {cluster.settings.cluster_dns_ip}
    cidr = cluster.settings.service_cidr
    addresses = (IPv4Address(int(cidr.network_address) + offset) for offset in range(2, cidr.num_addresses - 1))
    added: list[Service] = []
    endpoints: list[Endpoint] = []
    for index, address in enumerate(a for a in addresses if a not in used):
        if index >= missing:
            break
        name = f"svc-{index + 1:05d}"
        service = Service(SCALE_NAMESPACE, name, ServiceType.CLUSTER_IP, address,
                          (ServicePort(SCALE_PORT, SCALE_TARGET_PORT),))
        pod = backends[index % len(backends)]
        added.append(service)
        endpoints.append(Endpoint(service.key, None, pod.pod_ip, SCALE_TARGET_PORT, node=pod.node, pod=pod.key))
    return replace(cluster, services=(*cluster.services, *added), endpoints=(*cluster.endpoints, *endpoints))
