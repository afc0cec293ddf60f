"""Small Cluster objects built directly from the model, for engine tests (anyone may use them).

`two_node_cluster()` is the reference layout used across the engine tests:

    node-1  192.168.0.11  podCIDR 10.244.0.0/24   pods: default/client 10.244.0.2, default/web-a 10.244.0.3,
                                                        default/duo 10.244.0.4 (app:8080 + metrics:9090),
                                                        default/clash 10.244.0.5 (two containers on 8080)
    node-2  192.168.0.12  podCIDR 10.244.1.0/24   pods: default/web-b 10.244.1.2
    service default/web  ClusterIP 10.96.0.20:80 → targetPort 80 (web-a, web-b)
    external host  example  203.0.113.10
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

from webapp.model import (
    Bridge, Cluster, Container, ContainerPort, Endpoint, ExternalHost, KubeProxyMode, NetworkSettings, Node,
    Overlay, Pod, Protocol, Service, ServicePort, ServiceType, labels_of,
)


TRACED_MODES = tuple(KubeProxyMode)
"""The kube-proxy modes the walk traces: every one (nftables through table ip kube-proxy, issue 15)."""


def make_node(name: str, ip: str, pod_cidr: str, nic: str = "eth0") -> Node:
    return Node(name=name, internal_ip=IPv4Address(ip), pod_cidr=IPv4Network(pod_cidr), nic=nic)


def make_container(name: str, *ports: int | tuple[int, str], protocol: Protocol = Protocol.TCP) -> Container:
    cports = []
    for port in ports:
        number, pname = (port, None) if isinstance(port, int) else port
        cports.append(ContainerPort(number, protocol, pname))
    return Container(name=name, image=f"example/{name}", ports=tuple(cports))


def make_pod(namespace: str, name: str, node: str, ip: str, *containers: Container,
             labels: dict[str, str] | None = None, host_network: bool = False) -> Pod:
    return Pod(namespace=namespace, name=name, node=node, pod_ip=IPv4Address(ip),
               containers=containers or (make_container(name),), labels=labels_of(labels),
               host_network=host_network)


def make_settings(overlay: Overlay = Overlay.FLANNEL_VXLAN, bridge: Bridge = Bridge.CNI0,
                  mode: KubeProxyMode = KubeProxyMode.IPTABLES, **extra: object) -> NetworkSettings:
    return NetworkSettings(overlay=overlay, bridge=bridge, kube_proxy_mode=mode,
                           node_network=IPv4Network("192.168.0.0/24"), **extra)  # type: ignore[arg-type]


def two_node_cluster(overlay: Overlay = Overlay.FLANNEL_VXLAN, bridge: Bridge = Bridge.CNI0,
                     mode: KubeProxyMode = KubeProxyMode.IPTABLES) -> Cluster:
    nodes = (make_node("node-1", "192.168.0.11", "10.244.0.0/24"),
             make_node("node-2", "192.168.0.12", "10.244.1.0/24"))
    web = {"app": "web"}
    pods = (
        make_pod("default", "client", "node-1", "10.244.0.2", make_container("client")),
        make_pod("default", "web-a", "node-1", "10.244.0.3", make_container("nginx", (80, "http")), labels=web),
        make_pod("default", "duo", "node-1", "10.244.0.4", make_container("app", 8080),
                 make_container("metrics", 9090)),
        make_pod("default", "clash", "node-1", "10.244.0.5", make_container("one", 8080),
                 make_container("two", 8080)),
        make_pod("default", "web-b", "node-2", "10.244.1.2", make_container("nginx", (80, "http")), labels=web),
    )
    service = Service("default", "web", ServiceType.CLUSTER_IP, IPv4Address("10.96.0.20"),
                      ports=(ServicePort(80, 80, Protocol.TCP, "http"),), selector=labels_of(web))
    endpoints = (
        Endpoint("default/web", "http", IPv4Address("10.244.0.3"), 80, node="node-1", pod="default/web-a"),
        Endpoint("default/web", "http", IPv4Address("10.244.1.2"), 80, node="node-2", pod="default/web-b"),
    )
    return Cluster(name="two-node", settings=make_settings(overlay, bridge, mode), nodes=nodes, pods=pods,
                   services=(service,), endpoints=endpoints,
                   external_hosts=(ExternalHost("example", IPv4Address("203.0.113.10"), "example.com"),))


def with_settings(cluster: Cluster, **changes: object) -> Cluster:
    """The same cluster with some network settings changed."""
    return replace(cluster, settings=replace(cluster.settings, **changes))


def big_cluster(nodes: int, pods_per_node: int, services: int = 0) -> Cluster:
    """A generated cluster: node-N at 10.0.x.y, podCIDR 10.(244+N//256).(N%256).0/24, pods `ns-K/pod-N-K`."""
    node_list = []
    pod_list = []
    for n in range(nodes):
        base = IPv4Address("10.244.0.0") + n * 256
        node = Node(f"node-{n}", IPv4Address("10.0.0.10") + n, IPv4Network(f"{base}/24"))
        node_list.append(node)
        for k in range(pods_per_node):
            pod_list.append(Pod(f"ns-{k % 10}", f"pod-{n}-{k}", node.name, base + 2 + k,
                                (Container("app", "example/app", (ContainerPort(8080),)),),
                                labels=(("app", f"app-{(n * pods_per_node + k) % max(services, 1)}"),)))
    settings = NetworkSettings(pod_cidr=IPv4Network("10.244.0.0/14"), node_network=IPv4Network("10.0.0.0/16"))
    return Cluster(name=f"generated-{nodes}x{pods_per_node}", settings=settings, nodes=tuple(node_list),
                   pods=tuple(pod_list))


# --- Services and kube-proxy (issue 4) ------------------------------------------------------------------------

def service_cluster(mode: KubeProxyMode = KubeProxyMode.IPTABLES, endpoints: int = 2, **service: object) -> Cluster:
    """`two_node_cluster()` plus web-c (node-2, 10.244.1.3), CoreDNS behind kube-dns 10.96.0.10 (udp 53 `dns`)
    and an ExternalName service `default/ext` → example.com. `default/web` gets the first `endpoints` of
    web-a, web-b, web-c as endpoints and any Service field overrides in `service` (type, nodePort via
    `node_port`, external IPs, policies, affinity …)."""
    base = two_node_cluster(mode=mode)
    web = {"app": "web"}
    web_c = make_pod("default", "web-c", "node-2", "10.244.1.3", make_container("nginx", (80, "http")), labels=web)
    coredns = make_pod("kube-system", "coredns-0", "node-2", "10.244.1.4", make_container("coredns", (53, "dns"),
                       protocol=Protocol.UDP), labels={"k8s-app": "kube-dns"})
    node_port = service.pop("node_port", None)
    svc = replace(base.services[0], ports=(ServicePort(80, 80, Protocol.TCP, "http", node_port),), **service)
    backends = [("default/web-a", "10.244.0.3", "node-1"), ("default/web-b", "10.244.1.2", "node-2"),
                ("default/web-c", "10.244.1.3", "node-2")][:endpoints]
    eps = [Endpoint("default/web", "http", IPv4Address(ip), 80, node=node, pod=pod) for pod, ip, node in backends]
    dns = Service("kube-system", "kube-dns", ServiceType.CLUSTER_IP, IPv4Address("10.96.0.10"),
                  ports=(ServicePort(53, 53, Protocol.UDP, "dns"),), selector=labels_of({"k8s-app": "kube-dns"}))
    eps.append(Endpoint("kube-system/kube-dns", "dns", IPv4Address("10.244.1.4"), 53, Protocol.UDP, node="node-2",
                        pod="kube-system/coredns-0"))
    ext = Service("default", "ext", ServiceType.EXTERNAL_NAME, None, external_name="example.com")
    return replace(base, pods=(*base.pods, web_c, coredns), services=(svc, dns, ext), endpoints=tuple(eps))


NODE_LISTENERS_YAML = """\
name: node-listeners
network: {overlay: flannel-vxlan, kubeProxy: MODE, nodePortAddresses: [192.168.0.0/24]}
nodes:
  - name: node-1
    ip: 192.168.0.11
    addresses: [192.168.1.11]
    pods:
      - {name: web-1, labels: {app: web}, containers: [{name: web, ports: [80]}]}
  - name: node-2
    ip: 192.168.0.12
    pods:
      - {name: web-2, labels: {app: web}, containers: [{name: web, ports: [80]}]}
      - {name: exporter, hostNetwork: true, containers: [{name: node-exporter, ports: [9100]}]}
services:
  - {name: web, type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: web},
     ports: [{port: 80, nodePort: 30081}], loadBalancerIP: [203.0.113.100]}
external:
  - {name: client, ip: 203.0.113.10}
"""
"""Node listeners (issue 17): node-1 has a second address that nodePortAddresses leaves out, node-2 a hostNetwork
node-exporter on 9100; web's healthCheckNodePort is the range's first port, 30000. `MODE`: kube-proxy's mode."""


def node_listeners_cluster(mode: str = "iptables") -> Cluster:
    """NODE_LISTENERS_YAML loaded, in kube-proxy mode `mode`."""
    from webapp.loaders import load_sources

    result = load_sources([("cluster.yaml", NODE_LISTENERS_YAML.replace("MODE", mode).encode())])
    assert result.cluster is not None, [str(p) for p in result.errors]
    return result.cluster
