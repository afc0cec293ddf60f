"""What happens to a Service's traffic outside netfilter proper: IPVS virtual servers and the userspace proxy
on local delivery in a node (`local_service`), and the steps before the walk reaches a node — the cloud load
balancer choosing a node's nodePort, DNS resolution through kube-dns, ExternalName's CNAME.

The walk (webapp.engine.walk / flows) calls these; they never walk devices themselves.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network

from webapp.engine.datapath import host_netns
from webapp.engine.kubeproxy import ipvs, userspace
from webapp.engine.kubeproxy.chains import no_endpoints_text, no_local_endpoint_text
from webapp.engine.netfilter import PacketContext, Verdict
from webapp.engine.sockets import EXTERNAL_NETNS, ephemeral_port, external_name, source_address
from webapp.engine.trace import Action, Alternative, Hop, HopKind, Netns, NetnsKind, Packet, SocketAddress
from webapp.model import (
    Cluster, ExternalHost, KubeProxyMode, LoadBalancerMode, Service, ServicePort, ServiceType, SessionAffinity,
    TrafficPolicy,
)
from webapp.narration import say

LB_DEVICE = "cloud-load-balancer"
DNS_DEVICE = "kube-dns"
DNS_NETNS = str(Netns(NetnsKind.DNS))


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
    dial: ProxyDial | None = None
    """The userspace proxy's TCP connection: what it does when the connection to `packet`'s backend fails."""


USERSPACE_DIAL_ATTEMPTS = 4
"""Backends the userspace proxy dials for one client connection before it gives up: one per step of
`EndpointDialTimeouts` (250 ms, 500 ms, 1 s, 2 s) in the removed pkg/proxy/userspace proxysocket.go, whose
`TryConnectEndpoints` asks the round-robin for the next endpoint after every failed dial."""


@dataclass(frozen=True)
class ProxyAttempt:
    """A backend the userspace proxy dials after the one before failed: the hops that lead to it (backends
    skipped as down, then its `proxy` hop) and the proxy's new connection."""

    hops: tuple[Hop, ...]
    packet: Packet


@dataclass(frozen=True)
class ProxyDial:
    """The userspace proxy's TCP dial (a connection can fail, and kube-proxy notices): the next backends it
    tries, the hops of backends skipped as down after the last of them, and where it sits."""

    retries: tuple[ProxyAttempt, ...]
    exhausted: tuple[Hop, ...]
    service: str
    rule: str


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
        why = (no_endpoints_text(vs.info.name, vs.info.service) if not vs.info.endpoints else
               no_local_endpoint_text(vs.info.name))
        reason = say("services.ipvs.no_real_servers", address=vs.ip, port=vs.port, node=node_name, why=why)
        hop = Hop(node_name, host_netns(node_name), ipvs.DUMMY_DEVICE, HopKind.IPVS, Action.REJECT, packet,
                  rule=vs_text, explain=reason)
        return LocalServiceOutcome((hop,), packet, False, Verdict.REJECT, reason)
    candidates = [SocketAddress(rs.ip, rs.port) for rs in vs.real_servers]
    chosen = _preferred(candidates, ctx.backend)
    new = packet.with_dst(candidates[chosen])
    explain = say("services.ipvs.dnat", address=vs.ip, kind=vs.kind, real_server=candidates[chosen])
    if vs.persistent:
        explain += say("services.ipvs.affinity", timeout=vs.persistent)
    hop = Hop(node_name, host_netns(node_name), ipvs.DUMMY_DEVICE, HopKind.IPVS, Action.DNAT, new,
              rule=f"{vs_text} -> {candidates[chosen]} Masq",
              explain=explain,
              alternatives=_equal_alternatives(candidates, chosen, rule=vs_text))
    return LocalServiceOutcome((hop,), new, False)


def _userspace(cluster: Cluster, node_name: str, ctx: PacketContext) -> LocalServiceOutcome | None:
    packet = ctx.packet
    portal = userspace.portal_for_proxy_port(cluster, node_name, packet.proto, packet.dst.port)
    if portal is None:
        return None
    info = portal.info
    where = (node_name, host_netns(node_name), "kube-proxy", HopKind.PROXY)
    if not info.endpoints:
        reason = say("services.userspace.no_endpoints", port=portal.proxy_port,
                     why=no_endpoints_text(info.name, info.service))
        return LocalServiceOutcome((Hop(*where, Action.REJECT, packet, rule=f"proxy port {portal.proxy_port}",
                                        explain=reason),), packet, True, Verdict.REJECT, reason)
    candidates = [SocketAddress(ep.ip, ep.port) for ep in info.endpoints]
    first = _preferred(candidates, ctx.backend)
    sticky = info.service.session_affinity == SessionAffinity.CLIENT_IP
    rule = f"{info.name} proxy port {portal.proxy_port} (round-robin{', sessionAffinity ClientIP' if sticky else ''})"
    attempts: list[ProxyAttempt] = []
    pending: list[Hop] = []
    for attempt in range(min(len(candidates), USERSPACE_DIAL_ATTEMPTS)):
        index = (first + attempt) % len(candidates)
        backend, endpoint = candidates[index], info.endpoints[index]
        src = SocketAddress(source_address(cluster, host_netns(node_name), backend.ip),
                            ephemeral_port("kube-proxy", node_name, str(packet.src), str(backend)))
        new = Packet(src, backend, packet.proto)
        if endpoint.pod in cluster.down_pods and packet.proto == "tcp":
            # (UDP: the datagram goes to the chosen backend, down or not — the walk drops it at the pod)
            pending.append(Hop(*where, Action.PROXY, new, rule=rule, alternatives=_equal_alternatives(candidates, index),
                               explain=say("services.userspace.backend_down", backend=backend, pod=endpoint.pod)))
            continue
        explain = say("services.userspace.proxy", port=portal.proxy_port, src=src.ip, backend=backend)
        if sticky:
            explain += say("services.userspace.affinity", client=packet.src.ip, backend=backend,
                           timeout=info.service.session_affinity_timeout)
        pending.append(Hop(*where, Action.PROXY, new, rule=rule, alternatives=_equal_alternatives(candidates, index),
                           explain=explain))
        attempts.append(ProxyAttempt(tuple(pending), new))
        pending = []
    if attempts:
        # TCP: a dial that fails (a NetworkPolicy drops the SYN, a REJECT) sends kube-proxy to the next backend.
        # UDP has no connection to fail: the datagram goes to the first live backend, answered or not.
        dial = ProxyDial(tuple(attempts[1:]), tuple(pending), info.name, rule) if packet.proto == "tcp" else None
        return LocalServiceOutcome(attempts[0].hops, attempts[0].packet, True, dial=dial)
    # Every backend down: a TCP client's connection, accepted, is closed (REJECT); a UDP datagram goes unanswered.
    reason = say("services.userspace.all_down.reason", service=info.name)
    tcp = packet.proto == "tcp"
    pending.append(Hop(*where, Action.REJECT if tcp else Action.DROP, pending[-1].packet, rule=rule,
                       explain=say("services.userspace.all_down", reason=reason)))
    return LocalServiceOutcome(tuple(pending), packet, True, Verdict.REJECT if tcp else Verdict.DROP, reason)


# ---------------------------------------------------------------------------------------------------------
# Before the walk: cloud load balancer, DNS, ExternalName

@dataclass(frozen=True)
class LoadBalancerPrelude:
    """The cloud load balancer's hop and the packet it sends to `node`'s NIC (its nodePort in proxy mode, the LB
    IP unchanged in passthrough mode), or why it cannot."""

    hops: tuple[Hop, ...]
    packet: Packet
    node: str | None
    reason: str | None = None
    mode: LoadBalancerMode = LoadBalancerMode.PROXY


def load_balancer_mode(cluster: Cluster, service: Service) -> LoadBalancerMode:
    """The Service's own load balancer model, else the cluster's (`loadBalancer.mode`, default passthrough)."""
    return service.load_balancer_mode or cluster.settings.load_balancer_mode


def load_balancer_prelude(cluster: Cluster, client: SocketAddress, service: Service, port: ServicePort,
                          proto: str, node: str | None = None) -> LoadBalancerPrelude:
    """External client → the service's load-balancer IP → a healthy node's nodePort.

    With externalTrafficPolicy Local only nodes with a local ready endpoint pass the health check
    (healthCheckNodePort); with Cluster every ready node does. `node` picks one; default: the first healthy.
    """
    lb_ip = service.load_balancer_ips[0] if service.load_balancer_ips else None
    vip = SocketAddress(lb_ip, port.port) if lb_ip else None
    request = Packet(client, vip or client, proto)
    mode = load_balancer_mode(cluster, service)
    if lb_ip is None:
        reason = say("services.lb.no_ingress", service=service.key)
        return LoadBalancerPrelude((), request, None, reason, mode)
    if port.node_port is None and mode == LoadBalancerMode.PROXY:
        reason = say("services.lb.no_node_port", service=service.key, port=port.port)
        return LoadBalancerPrelude((), request, None, reason, mode)
    ready = [n for n in cluster.nodes if n.ready]
    local = service.external_traffic_policy == TrafficPolicy.LOCAL
    if local:
        with_endpoint = {ep.node for ep in cluster.endpoints_for(service, port) if ep.ready}
        healthy = [n for n in ready if n.name in with_endpoint]
        check = say("services.lb.check.local", port=service.health_check_node_port)
    else:
        healthy = ready
        check = say("services.lb.check.cluster")
    app = Hop(None, EXTERNAL_NETNS, external_name(cluster, client.ip), HopKind.APP, Action.SEND, request,
              explain=say("services.lb.client", address=vip))
    ranges = service.load_balancer_source_ranges
    # A passthrough load balancer leaves loadBalancerSourceRanges to the nodes (kube-proxy's KUBE-FW chain).
    if ranges and mode == LoadBalancerMode.PROXY and not any(client.ip in net for net in ranges):
        allowed = ", ".join(str(net) for net in ranges)
        reason = say("services.lb.source_ranges", service=service.key, allowed=allowed, client=client.ip)
        drop = Hop(None, EXTERNAL_NETNS, LB_DEVICE, HopKind.LOADBALANCER, Action.DROP, request,
                   rule=f"loadBalancerSourceRanges {allowed}", explain=reason)
        return LoadBalancerPrelude((app, drop), request, None, reason)
    where = f"nodePort {port.node_port}" if mode == LoadBalancerMode.PROXY else "destination unchanged (passthrough)"
    if not healthy:
        reason = say("services.lb.unhealthy", service=service.key, check=check)
        drop = Hop(None, EXTERNAL_NETNS, LB_DEVICE, HopKind.LOADBALANCER, Action.DROP, request,
                   rule=f"{lb_ip}:{port.port} → {where} on 0 healthy node(s)", explain=reason)
        return LoadBalancerPrelude((app, drop), request, None, reason, mode)
    chosen = 0
    if node is not None:
        chosen = next((i for i, n in enumerate(healthy) if n.name == node), 0)
    if mode == LoadBalancerMode.PASSTHROUGH:
        target = healthy[chosen]
        lb = Hop(None, EXTERNAL_NETNS, LB_DEVICE, HopKind.LOADBALANCER, Action.FORWARD, request,
                 rule=f"{lb_ip}:{port.port} → node {target.name} ({target.internal_ip}), {where}, of "
                      f"{len(healthy)} healthy node(s)",
                 explain=say("services.lb.passthrough", node=target.name, address=vip, check=check))
        return LoadBalancerPrelude((app, lb), request, target.name, None, mode)
    candidates = [SocketAddress(n.internal_ip, port.node_port) for n in healthy]
    forwarded = request.with_dst(candidates[chosen])
    lb = Hop(None, EXTERNAL_NETNS, LB_DEVICE, HopKind.LOADBALANCER, Action.DNAT, forwarded,
             rule=f"{lb_ip}:{port.port} → nodePort {port.node_port} on {len(healthy)} healthy node(s)",
             explain=say("services.lb.forward", node=healthy[chosen].name, node_port=port.node_port, check=check),
             alternatives=_equal_alternatives(candidates, chosen))
    return LoadBalancerPrelude((app, lb), forwarded, healthy[chosen].name, None, mode)


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
        explain = say("services.dns.cname", name=service.external_name)
    elif service.cluster_ip is None:
        pods = [str(ep.ip) for ep in cluster.endpoints_by_service.get(service.key, ()) if ep.ready]
        answer = f"{fqdn}. A " + ", ".join(sorted(set(pods)))
        explain = say("services.dns.headless")
    else:
        answer = f"{fqdn}. A {service.cluster_ip}"
        explain = say("services.dns.cluster_ip", address=service.cluster_ip)
    return Hop(None, DNS_NETNS, DNS_DEVICE, HopKind.DNS, Action.RESOLVE, query.with_dst(server), rule=answer,
               explain=explain)


def external_name_target(cluster: Cluster, service: Service) -> ExternalHost | None:
    """The ExternalHost whose dns_name is the service's externalName."""
    name = (service.external_name or "").rstrip(".")
    for host in cluster.external_hosts:
        if host.dns_name and host.dns_name.rstrip(".") == name:
            return host
    return None


UNKNOWN_MARK = "(address unknown)"
"""How an outside host whose address the cluster does not know is named in a trace (its `device`), in every
language: an identifier, like a device name."""
UNKNOWN_ADDRESSES = IPv4Network("192.0.2.0/24")
"""Where a name the cluster does not declare stands in a trace: TEST-NET-1 (RFC 5737), documentation only."""


def unknown_host(cluster: Cluster, name: str) -> ExternalHost:
    """The outside host an ExternalName's undeclared name resolves to: its address is unknown here, so a
    TEST-NET-1 address stands for it, chosen from the name (CRC-32) and different from every address the
    cluster uses. Its name says so: `db.example.com (address unknown)`."""
    name = name.rstrip(".")
    used = {h.ip for h in cluster.external_hosts} | {n.internal_ip for n in cluster.nodes} | {
        ip for s in cluster.services for ip in (*s.external_ips, *s.load_balancer_ips)}
    size = UNKNOWN_ADDRESSES.num_addresses - 2
    start = zlib.crc32(name.encode()) % size
    for step in range(size):
        address = UNKNOWN_ADDRESSES.network_address + 1 + (start + step) % size
        if address not in used:
            break
    return ExternalHost(f"{name} {UNKNOWN_MARK}", address, name)


def down_pod_reason(cluster: Cluster, pod_key: str, via_service: bool) -> str:
    """Why a connection to a pod the user marked down fails, and what each kube-proxy mode does about it."""
    if not via_service:
        return say("services.down.direct", pod=pod_key)
    how = {KubeProxyMode.IPTABLES: "services.down.phrase.iptables",
           KubeProxyMode.IPVS: "services.down.phrase.ipvs"}.get(cluster.settings.kube_proxy_mode,
                                                                "services.down.phrase.other")
    return say("services.down.via_service", pod=pod_key, how=say(how))


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
        reason = say("services.dns.no_service", address=cluster.settings.cluster_dns_ip)
        return DnsExchange((), False, reason)
    query = trace(cluster, src, f"{dns[0].cluster_ip}:53", "udp")
    if str(query.disposition) != "delivered":
        return DnsExchange(query.hops, False, say("services.dns.failed", reason=query.reason))
    last = query.hops[-1]
    answer = dns_answer(cluster, service, query.hops[0].packet, SocketAddress(dns[0].cluster_ip, 53))
    answer = replace(answer, node=last.node, netns=last.netns, packet=last.packet)
    return DnsExchange((*query.hops, answer, *query.reply), True)
