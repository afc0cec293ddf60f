"""What happens to a Service's traffic outside netfilter proper: IPVS virtual servers and the userspace proxy
on local delivery in a node (`local_service`), and the steps before the walk reaches a node — the cloud load
balancer choosing a node's nodePort, DNS resolution through kube-dns, ExternalName's CNAME.

The walk (webapp.engine.walk / flows) calls these; they never walk devices themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address

from webapp.engine.kubeproxy import ipvs, userspace
from webapp.engine.kubeproxy.chains import no_endpoints_text, no_local_endpoint_text
from webapp.engine.netfilter import PacketContext, Verdict
from webapp.engine.trace import Action, Alternative, Hop, HopKind, Packet, SocketAddress
from webapp.model import (
    Cluster, ExternalHost, KubeProxyMode, Service, ServicePort, ServiceType, SessionAffinity, TrafficPolicy,
)

LB_DEVICE = "cloud-load-balancer"
DNS_DEVICE = "kube-dns"


@dataclass(frozen=True)
class LocalServiceOutcome:
    """A service handled on local delivery: the hops, the packet that leaves, and how it leaves.

    `locally_generated` True: a new packet from the node's own socket (userspace proxy) → OUTPUT, routing,
    POSTROUTING. False: the same packet forwarded by IPVS → routing, POSTROUTING.
    """

    hops: tuple[Hop, ...]
    packet: Packet
    locally_generated: bool
    verdict: Verdict = Verdict.ACCEPT
    reason: str | None = None


def local_service(cluster: Cluster, node_name: str, ctx: PacketContext) -> LocalServiceOutcome | None:
    """IPVS or the userspace proxy taking a packet delivered locally on a node; None → ordinary delivery."""
    mode = cluster.settings.kube_proxy_mode
    if mode == KubeProxyMode.IPVS:
        return _ipvs(cluster, node_name, ctx)
    if mode == KubeProxyMode.USERSPACE:
        return _userspace(cluster, node_name, ctx)
    return None


def _equal_alternatives(candidates: list[SocketAddress], chosen: int, rule: str = "") -> tuple[Alternative, ...]:
    n = len(candidates)
    return tuple(Alternative(dst, round(1.0 / n, 10), chosen=(i == chosen), rule=rule)
                 for i, dst in enumerate(candidates))


def _preferred(candidates: list[SocketAddress], backend: IPv4Address | None) -> int:
    """Index of the requested backend, else 0: the round-robin scheduler's first pick."""
    for i, dst in enumerate(candidates):
        if backend is not None and dst.ip == backend:
            return i
    return 0


def _ipvs(cluster: Cluster, node_name: str, ctx: PacketContext) -> LocalServiceOutcome | None:
    packet = ctx.packet
    vs = ipvs.find_virtual_server(cluster, node_name, packet.proto, packet.dst.ip, packet.dst.port)
    if vs is None:
        return None
    persistent = f" persistent {vs.persistent}" if vs.persistent else ""
    vs_text = f"{vs.proto} {vs.ip}:{vs.port} {ipvs.SCHEDULER}{persistent}"
    if not vs.real_servers:
        reason = (f"IPVS virtual server {vs.ip}:{vs.port} has no real servers on {node_name}: "
                  + (no_endpoints_text(vs.info.name, vs.info.service) if not vs.info.endpoints else
                     no_local_endpoint_text(vs.info.name)))
        hop = Hop(node_name, f"host/{node_name}", ipvs.DUMMY_DEVICE, HopKind.IPVS, Action.REJECT, packet,
                  rule=vs_text, explain=reason)
        return LocalServiceOutcome((hop,), packet, False, Verdict.REJECT, reason)
    candidates = [SocketAddress(rs.ip, rs.port) for rs in vs.real_servers]
    chosen = _preferred(candidates, ctx.backend)
    new = packet.with_dst(candidates[chosen])
    affinity = (f" sessionAffinity ClientIP → `persistent {vs.persistent}`: this client keeps its real server."
                if vs.persistent else "")
    hop = Hop(node_name, f"host/{node_name}", ipvs.DUMMY_DEVICE, HopKind.IPVS, Action.DNAT, new,
              rule=f"{vs_text} -> {candidates[chosen]} Masq",
              explain=(f"{vs.ip} is bound to kube-ipvs0, so the packet is local; the IPVS virtual server "
                       f"({vs.kind}) hands the connection to real server {candidates[chosen]} with the rr scheduler "
                       f"(Masq forwarding = DNAT).{affinity}"),
              alternatives=_equal_alternatives(candidates, chosen, rule=vs_text))
    return LocalServiceOutcome((hop,), new, False)


def _userspace(cluster: Cluster, node_name: str, ctx: PacketContext) -> LocalServiceOutcome | None:
    packet = ctx.packet
    portal = userspace.portal_for_proxy_port(cluster, node_name, packet.proto, packet.dst.port)
    if portal is None:
        return None
    info = portal.info
    where = (node_name, f"host/{node_name}", "kube-proxy", HopKind.PROXY)
    if not info.endpoints:
        reason = (f"kube-proxy accepts on port {portal.proxy_port} and closes: "
                  + no_endpoints_text(info.name, info.service))
        return LocalServiceOutcome((Hop(*where, Action.REJECT, packet, rule=f"proxy port {portal.proxy_port}",
                                        explain=reason),), packet, True, Verdict.REJECT, reason)
    candidates = [SocketAddress(ep.ip, ep.port) for ep in info.endpoints]
    first = _preferred(candidates, ctx.backend)
    from webapp.engine.walk import ephemeral_port, source_address

    hops: list[Hop] = []
    sticky = info.service.session_affinity == SessionAffinity.CLIENT_IP
    rule = f"{info.name} proxy port {portal.proxy_port} (round-robin{', sessionAffinity ClientIP' if sticky else ''})"
    affinity = (f" sessionAffinity ClientIP: kube-proxy records client {packet.src.ip} → {{backend}}; for "
                f"{info.service.session_affinity_timeout} s this client's next connections skip the round-robin and "
                "go to it (while it answers)." if sticky else "")
    for attempt in range(len(candidates)):
        index = (first + attempt) % len(candidates)
        backend, endpoint = candidates[index], info.endpoints[index]
        src = SocketAddress(source_address(cluster, f"host/{node_name}", backend.ip),
                            ephemeral_port("kube-proxy", node_name, str(packet.src), str(backend)))
        new = Packet(src, backend, packet.proto)
        down = endpoint.pod in cluster.down_pods
        if down:
            hops.append(Hop(*where, Action.PROXY, new, rule=rule, alternatives=_equal_alternatives(candidates, index),
                            explain=(f"kube-proxy tries backend {backend} ({endpoint.pod}), which does not answer; "
                                     "the userspace proxy retries the next backend.")))
            continue
        hops.append(Hop(*where, Action.PROXY, new, rule=rule, alternatives=_equal_alternatives(candidates, index),
                        explain=(f"kube-proxy accepted the client's connection on port {portal.proxy_port} and opens a "
                                 f"new one from {src.ip} to backend {backend}: the backend sees the node, not the "
                                 "client." + affinity.format(backend=backend))))
        return LocalServiceOutcome(tuple(hops), new, True)
    reason = f"every backend of service {info.name} is down; kube-proxy's retries all failed"
    hops.append(Hop(*where, Action.DROP, hops[-1].packet, rule=rule,
                    explain=f"No backend answered: kube-proxy closes the client's connection ({reason})."))
    return LocalServiceOutcome(tuple(hops), packet, True, Verdict.DROP, reason)


# ---------------------------------------------------------------------------------------------------------
# Before the walk: cloud load balancer, DNS, ExternalName

@dataclass(frozen=True)
class LoadBalancerPrelude:
    """The cloud load balancer's hop and the packet it sends to `node`'s NIC (node port), or why it cannot."""

    hops: tuple[Hop, ...]
    packet: Packet
    node: str | None
    reason: str | None = None


def load_balancer_prelude(cluster: Cluster, client: SocketAddress, service: Service, port: ServicePort,
                          proto: str, node: str | None = None) -> LoadBalancerPrelude:
    """External client → the service's load-balancer IP → a healthy node's nodePort.

    With externalTrafficPolicy Local only nodes with a local ready endpoint pass the health check
    (healthCheckNodePort); with Cluster every ready node does. `node` picks one; default: the first healthy.
    """
    lb_ip = service.load_balancer_ips[0] if service.load_balancer_ips else None
    vip = SocketAddress(lb_ip, port.port) if lb_ip else None
    request = Packet(client, vip or client, proto)
    if lb_ip is None or port.node_port is None:
        reason = f"service {service.key} has no load-balancer ingress IP (status.loadBalancer is empty)"
        return LoadBalancerPrelude((), request, None, reason)
    ready = [n for n in cluster.nodes if n.ready]
    local = service.external_traffic_policy == TrafficPolicy.LOCAL
    if local:
        with_endpoint = {ep.node for ep in cluster.endpoints_for(service, port) if ep.ready}
        healthy = [n for n in ready if n.name in with_endpoint]
        check = (f"health check: GET http://<node>:{service.health_check_node_port}/healthz answers 200 only on nodes "
                 "with a local endpoint (externalTrafficPolicy Local)")
    else:
        healthy = ready
        check = "externalTrafficPolicy Cluster: every ready node passes the health check"
    from webapp.engine.walk import external_name

    app = Hop(None, "external", external_name(cluster, client.ip), HopKind.APP, Action.SEND, request,
              explain=f"An external client connects to the load balancer's address {vip}.")
    ranges = service.load_balancer_source_ranges
    if ranges and not any(client.ip in net for net in ranges):
        allowed = ", ".join(str(net) for net in ranges)
        reason = (f"the load balancer of {service.key} only admits loadBalancerSourceRanges {allowed}; "
                  f"{client.ip} is outside them (kube-proxy's KUBE-FW chain enforces the same on the nodes)")
        drop = Hop(None, "external", LB_DEVICE, HopKind.LOADBALANCER, Action.DROP, request,
                   rule=f"loadBalancerSourceRanges {allowed}", explain=reason)
        return LoadBalancerPrelude((app, drop), request, None, reason)
    if not healthy:
        reason = f"no node passes the load balancer's health check for {service.key}: {check}"
        drop = Hop(None, "external", LB_DEVICE, HopKind.LOADBALANCER, Action.DROP, request,
                   rule=f"{lb_ip}:{port.port} → nodePort {port.node_port} on 0 healthy node(s)", explain=reason)
        return LoadBalancerPrelude((app, drop), request, None, reason)
    candidates = [SocketAddress(n.internal_ip, port.node_port) for n in healthy]
    chosen = 0
    if node is not None:
        chosen = next((i for i, n in enumerate(healthy) if n.name == node), 0)
    forwarded = request.with_dst(candidates[chosen])
    lb = Hop(None, "external", LB_DEVICE, HopKind.LOADBALANCER, Action.DNAT, forwarded,
             rule=f"{lb_ip}:{port.port} → nodePort {port.node_port} on {len(healthy)} healthy node(s)",
             explain=(f"The cloud load balancer picks node {healthy[chosen].name} and sends the connection to its "
                      f"nodePort {port.node_port} (LoadBalancer ⊃ NodePort ⊃ ClusterIP); the client's address is "
                      f"kept. {check}."),
             alternatives=_equal_alternatives(candidates, chosen))
    return LoadBalancerPrelude((app, lb), forwarded, healthy[chosen].name)


def service_fqdn(cluster: Cluster, service: Service) -> str:
    return f"{service.name}.{service.namespace}.svc.{cluster.settings.cluster_domain}"


def dns_service(cluster: Cluster) -> tuple[Service, ServicePort] | None:
    """The cluster DNS service (clusterIP = settings.cluster_dns_ip) and its UDP 53 port."""
    service = cluster.service_by_cluster_ip.get(cluster.settings.cluster_dns_ip)
    if service is None:
        return None
    for sport in service.ports:
        if sport.port == 53 and str(sport.protocol) == "UDP":
            return service, sport
    return None


def dns_answer(cluster: Cluster, service: Service, query: Packet, server: SocketAddress) -> Hop:
    """kube-dns/CoreDNS answering for a service: an A record (cluster IP) or, for ExternalName, a CNAME."""
    fqdn = service_fqdn(cluster, service)
    if service.type == ServiceType.EXTERNAL_NAME:
        answer = f"{fqdn}. CNAME {service.external_name}."
        explain = (f"CoreDNS answers with a CNAME to {service.external_name}: an ExternalName service has no cluster "
                   "IP and nothing is proxied; the client then resolves and connects to the external name itself.")
    elif service.cluster_ip is None:
        pods = [str(ep.ip) for ep in cluster.endpoints_by_service.get(service.key, ()) if ep.ready]
        answer = f"{fqdn}. A " + ", ".join(sorted(set(pods)))
        explain = "A headless service: CoreDNS answers with the ready pods' own addresses."
    else:
        answer = f"{fqdn}. A {service.cluster_ip}"
        explain = (f"CoreDNS answers with the service's cluster IP {service.cluster_ip}, which only kube-proxy's "
                   "rules know.")
    return Hop(None, "dns", DNS_DEVICE, HopKind.DNS, Action.RESOLVE, query.with_dst(server), rule=answer,
               explain=explain)


def external_name_target(cluster: Cluster, service: Service) -> ExternalHost | None:
    """The ExternalHost whose dns_name is the service's externalName."""
    name = (service.external_name or "").rstrip(".")
    for host in cluster.external_hosts:
        if host.dns_name and host.dns_name.rstrip(".") == name:
            return host
    return None


def down_pod_reason(cluster: Cluster, pod_key: str, via_service: bool) -> str:
    """Why a connection to a pod the user marked down fails, and what each kube-proxy mode does about it."""
    if not via_service:
        return f"pod {pod_key} does not answer (marked down)"
    mode = cluster.settings.kube_proxy_mode
    how = {KubeProxyMode.IPTABLES: "kube-proxy's iptables rules DNATed the connection to it once, and iptables mode "
                                   "cannot retry another backend",
           KubeProxyMode.IPVS: "the IPVS virtual server handed the connection to it, and IPVS does not retry "
                               "another real server"}.get(mode, "the connection was sent to it")
    return (f"backend pod {pod_key} does not answer but is still a ready endpoint: {how}; the connection times out. "
            "A readiness probe would mark the pod unready and remove it from the rules (the userspace proxy "
            "would have retried another backend).")


@dataclass(frozen=True)
class DnsExchange:
    """A real DNS query through kube-dns (a ClusterIP service): the query's walk, CoreDNS's answer, the reply."""

    hops: tuple[Hop, ...]
    ok: bool
    reason: str | None = None


def dns_exchange(cluster: Cluster, src: str, service: Service, trace) -> DnsExchange:
    """Walk `src`'s UDP query to the cluster DNS IP:53 with `trace` (flows.trace_flow), then CoreDNS answers
    for `service` (an A record, or a CNAME for ExternalName) and the answer walks back through conntrack."""
    dns = dns_service(cluster)
    if dns is None:
        reason = f"no cluster DNS service has clusterIP {cluster.settings.cluster_dns_ip} with port 53/UDP"
        return DnsExchange((), False, reason)
    query = trace(cluster, src, f"{dns[0].cluster_ip}:53", "udp")
    if str(query.disposition) != "delivered":
        return DnsExchange(query.hops, False, f"the DNS query failed: {query.reason}")
    last = query.hops[-1]
    answer = dns_answer(cluster, service, query.hops[0].packet, SocketAddress(dns[0].cluster_ip, 53))
    answer = replace(answer, node=last.node, netns=last.netns, packet=last.packet)
    return DnsExchange((*query.hops, answer, *query.reply), True)


def service_for_dns_name(cluster: Cluster, dst: str) -> tuple[Service, str] | None:
    """`NAME.NAMESPACE.svc.<cluster domain>[.]:PORT` → (the service, the equivalent `svc/NS/NAME:PORT` spec)."""
    host, sep, port = dst.strip().rpartition(":")
    suffix = f".svc.{cluster.settings.cluster_domain}"
    host = host.rstrip(".")
    if not sep or not host.endswith(suffix):
        return None
    name, dot, namespace = host[: -len(suffix)].rpartition(".")
    service = cluster.service_by_key.get(f"{namespace}/{name}") if dot else None
    if service is None:
        raise ValueError(f"{dst}: the cluster DNS has no service {host} (NXDOMAIN)")
    return service, f"svc/{service.key}:{port}"
