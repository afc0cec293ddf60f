"""The lab plan built from the engine's own tables: `node_datapath` / `pod_datapath` for devices, addresses,
routes, FDB and neighbour entries, and kube-proxy's and the CNI's iptables-restore texts for each node.

What the lab adds around them, because a real cluster has it outside the nodes:
- the underlay: one bridge (`underlay0`) in its own namespace, a port (`port<i>`) per node NIC;
- the `external` namespace: the physical network's router. It holds the node network's gateway address (the
  engine's default route points at it) and every outside client's and outside host's address, and routes
  load-balancer IPs and externalIPs to a node (set per flow, as a cloud's routing does).

Open vSwitch is not in this kernel. An OVS overlay is emulated with Linux parts, and the plan says so in its
notes: the OVS bridge and its per-remote VXLAN tunnel ports become one Linux VXLAN device named like the OVS
bridge (`obr0`, same VNI, UDP 4789), enslaved to the pod bridge where the OVS bridge sits. Its FDB sends each
remote pod's MAC to the node the OVS flow for that pod's subnet names, and broadcasts (ARP) to every remote
node. (A Linux bridge in between would pass every frame through br_netfilter a second time — conntrack would
then see each forwarded packet twice, which OVS never causes.)
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface
from typing import Iterable

from webapp.engine import datapath as dp
from webapp.engine.node_listeners import node_listeners
from webapp.lab import netns as nx
from webapp.lab.expect import ipvs_unverifiable
from webapp.lab.plan import LabDevice, LabFdb, LabListener, LabNames, LabNeighbour, LabNetns, LabPlan, LabRoute, \
    VxlanParams, digest_text
from webapp.model import OVS_VXLAN_PORT, Cluster, KubeProxyMode, Overlay, Protocol, SessionAffinity

UNDERLAY_BRIDGE = "underlay0"
FLOOD_MAC = "00:00:00:00:00:00"
ICMP_SYSCTLS = (("net.ipv4.icmp_ratelimit", "0"),)
"""Every lab namespace answers each ICMP error it owes (port or host unreachable, kube-proxy's REJECT): the
default limit (one per second per destination, in bursts of 6) would turn some of a flow's tries into time-outs,
and a flow must never alternate between two kernel outcomes."""
NODE_SYSCTLS = (
    ("net.ipv4.ip_forward", "1"),                  # a node routes pod traffic (kubelet/CNI require it)
    ("net.bridge.bridge-nf-call-iptables", "1"),   # br_netfilter: kube-proxy needs bridged traffic in iptables
    *ICMP_SYSCTLS,
)
ROUTER_SYSCTLS = (("net.ipv4.ip_forward", "1"), *ICMP_SYSCTLS)
LOAD_BALANCER_RULES = ("*filter\n-A INPUT -d {ip}/32 -m comment --comment \"k8s-netviz lab: the cloud load balancer "
                       "drops what it does not forward (its forwarded ports are DNATed per flow)\" -j DROP\nCOMMIT\n")
"""The external namespace holds each load-balancer IP, as the cloud load balancer does: the ports it forwards are
DNATed to a node per flow (verify.py, KNV-LB); a packet for any other port is dropped, as by a load balancer with
no listener for it — the client times out (the engine's `walk.lb.not_forwarded`)."""
DOWN_POD_RULES = ("*filter\n-A INPUT -m conntrack --ctstate NEW -m comment --comment "
                  '"k8s-netviz lab: this pod is marked down, its application does not answer" -j DROP\nCOMMIT\n')
"""A pod the user marked down keeps its address but its application never answers a new connection."""
UNDERLAY_SYSCTLS = (("net.bridge.bridge-nf-call-iptables", "1"),)   # count crossings with iptables counters


def node_restore_texts(cluster: Cluster, node_name: str) -> tuple[str, ...]:
    """The iptables-restore inputs of one node, in load order — the pieces `webapp.engine.rulesets.node_ruleset`
    evaluates: an enforcing network plugin's NetworkPolicy chains with their jumps at the top of FORWARD and INPUT,
    kube-proxy's tables, then its jump rules from the built-in chains (as kube-proxy does: chains first, then
    `iptables -I` of the jumps), then the CNI's rules, and last the plugin's accept-mark rule at the end of FORWARD.
    Every chain ends up as the engine reads it."""
    from webapp.engine.cni_rules import render_cni_rules
    from webapp.engine.kubeproxy import iptables as kp_iptables
    from webapp.engine.policy_rules import render_policy_rules

    policy = render_policy_rules(cluster, node_name)

    mode = cluster.settings.kube_proxy_mode
    if mode == KubeProxyMode.IPTABLES:
        texts = [kp_iptables.render_iptables_restore(cluster, node_name), kp_iptables.base_chains_restore()]
    elif mode == KubeProxyMode.USERSPACE:
        from webapp.engine.kubeproxy import userspace

        texts = [userspace.render_iptables_restore(cluster, node_name)]
    else:
        # IPVS: not in this kernel; the node keeps only the CNI's rules and IPVS flows are reported.
        # nftables: kube-proxy's table is loaded with `nft -f` (node_nft_texts); iptables holds the CNI's rules.
        texts = []
    texts.append(render_cni_rules(cluster, node_name))
    return tuple(t for t in (policy.head_text(), *texts, policy.tail_text()) if t.strip())


def node_nft_texts(cluster: Cluster, node_name: str) -> tuple[str, ...]:
    """The `nft -f` inputs of one node: kube-proxy's table `ip kube-proxy` in nftables mode (what
    `webapp.engine.rulesets.node_nft_table` evaluates); nothing in the other modes."""
    if cluster.settings.kube_proxy_mode != KubeProxyMode.NFTABLES:
        return ()
    from webapp.engine.kubeproxy.nftables import render_nft_transaction

    return (render_nft_transaction(cluster, node_name),)


def _cidr(address: IPv4Interface) -> str:
    return str(address.with_prefixlen)


def _route(route: dp.Route) -> LabRoute:
    return LabRoute("default" if route.dst.prefixlen == 0 else str(route.dst), route.dev,
                    str(route.via) if route.via else None, str(route.src) if route.src else None,
                    route.scope, route.onlink)


def _ovs_emulation(node_dp: dp.NodeDatapath, cluster: Cluster) -> tuple[list[LabDevice], list[LabFdb]]:
    """Linux stand-ins for the OVS bridge and its tunnel ports (see the module docstring)."""
    ovs = next((d for d in node_dp.devices if d.kind == dp.DeviceKind.OVS_BRIDGE), None)
    ports = {d.name: d for d in node_dp.devices if d.kind == dp.DeviceKind.OVS_VXLAN_PORT and d.vxlan}
    if ovs is None or not ports:
        return [], []
    first = next(iter(ports.values())).vxlan
    assert first is not None
    nic = next(d.name for d in node_dp.devices if d.kind == dp.DeviceKind.NIC)
    device = LabDevice(ovs.name, "vxlan", cluster.settings.overlay_mtu, ovs.mac, ovs.master,
                       vxlan=VxlanParams(first.vni, first.dstport, str(first.local), nic, False))
    fdb: list[LabFdb] = []
    for port in ports.values():   # broadcast (ARP) goes to every remote node, as the flows' arp entries do
        fdb.append(LabFdb(FLOOD_MAC, ovs.name, dst=str(port.vxlan.remote)))
    for flow in node_dp.ovs_flows:
        if flow.protocol != "ip" or flow.output not in ports or flow.nw_dst is None:
            continue
        remote = ports[flow.output].vxlan.remote
        for pod in cluster.pods:
            if not pod.host_network and pod.pod_ip in flow.nw_dst:
                fdb.append(LabFdb(dp.pod_mac(pod), ovs.name, dst=str(remote)))
    return [device], fdb


def _node_netns(cluster: Cluster, names: LabNames, node_name: str, port: str) -> LabNetns:
    node_dp = dp.node_datapath(cluster, node_name)
    own = names.node(node_name)
    devices: list[LabDevice] = []
    for dev in node_dp.devices:
        addresses = tuple(_cidr(a) for a in dev.addresses)
        if dev.kind == dp.DeviceKind.NIC:
            devices.append(LabDevice(dev.name, "veth", dev.mtu, dev.mac, None, names.underlay, port, addresses))
        elif dev.kind == dp.DeviceKind.BRIDGE:
            devices.append(LabDevice(dev.name, "bridge", dev.mtu, dev.mac, dev.master, addresses=addresses))
        elif dev.kind == dp.DeviceKind.VXLAN and dev.vxlan is not None:
            vx = dev.vxlan
            devices.append(LabDevice(dev.name, "vxlan", dev.mtu, dev.mac, dev.master, addresses=addresses,
                                     vxlan=VxlanParams(vx.vni, vx.dstport, str(vx.local) if vx.local else None,
                                                       vx.dev, vx.learning)))
        elif dev.kind == dp.DeviceKind.VETH and dev.peer is not None:
            devices.append(LabDevice(dev.name, "veth", dev.mtu, dev.mac, dev.master,
                                     names.for_engine(dev.peer.netns), dev.peer.name, addresses,
                                     hairpin=dev.master is not None))
    ovs_devices, ovs_fdb = _ovs_emulation(node_dp, cluster)
    devices += ovs_devices
    made = {d.name for d in devices}
    fdb = [LabFdb(e.mac, e.dev, str(e.dst) if e.dst else None, master=e.master is not None)
           for e in (*node_dp.bridge_fdb, *node_dp.vxlan_fdb)
           if e.dev in made and not (e.master and e.permanent)]   # a port's own MAC: the kernel adds it
    neighbours = [LabNeighbour(str(n.ip), n.lladdr, n.dev) for n in node_dp.neighbours]
    routes = [_route(r) for r in node_dp.routes if r.proto != "kernel"]
    from webapp.engine.kubeproxy import iptables as kp_iptables

    counters = (kp_iptables.nfacct_counters(cluster, node_name)
                if cluster.settings.kube_proxy_mode == KubeProxyMode.IPTABLES else ())
    return LabNetns(own, "node", node_name, tuple(devices), tuple(routes), tuple(neighbours),
                    tuple(fdb + ovs_fdb), NODE_SYSCTLS, node_restore_texts(cluster, node_name),
                    node_nft_texts(cluster, node_name), counters)


def _pod_netns(cluster: Cluster, names: LabNames, pod_key: str) -> LabNetns:
    pod_dp = dp.pod_datapath(cluster, pod_key)
    devices = []
    for dev in pod_dp.devices:
        if dev.kind == dp.DeviceKind.VETH and dev.peer is not None:
            devices.append(LabDevice(dev.name, "veth", dev.mtu, dev.mac, None, names.for_engine(dev.peer.netns),
                                     dev.peer.name, tuple(_cidr(a) for a in dev.addresses)))
    routes = tuple(_route(r) for r in pod_dp.routes if r.proto != "kernel")
    rules = (DOWN_POD_RULES,) if pod_key in cluster.down_pods else ()
    return LabNetns(names.pod(pod_key), "pod", pod_key, tuple(devices), routes, sysctls=ICMP_SYSCTLS, iptables=rules)


def _declared_ports(pod) -> dict[tuple[str, int], str]:
    """(proto, port) → container, for every port the pod's containers declare (the first container wins)."""
    ports: dict[tuple[str, int], str] = {}
    for container in pod.containers:
        for cport in container.ports:
            if cport.protocol in (Protocol.TCP, Protocol.UDP):
                ports.setdefault((str(cport.protocol).lower(), cport.container_port), container.name)
    return ports


def _listeners(cluster: Cluster, names: LabNames,
               receivers: Iterable[tuple[str, str, int, str]]) -> tuple[LabListener, ...]:
    """One listener per (namespace, owner): each pod on its declared ports; on each node every process the engine
    says listens there (node_listeners: kubelet, kube-proxy, the API server…) — and nothing else, so a port the
    engine refuses is refused by the kernel too; plus every (engine netns, proto, port, app) where an engine
    trace delivers (an outside host, an undeclared pod port)."""
    wanted: dict[tuple[str, str], dict[tuple[str, int], str]] = {}
    bound: dict[tuple[str, str], list[tuple[str, str, int, str]]] = {}
    for pod in cluster.pods:
        netns = names.node(pod.node) if pod.host_network else names.pod(pod.key)
        wanted.setdefault((netns, pod.key), {}).update(_declared_ports(pod))

    def taken(netns: str, proto: str, port: int) -> bool:
        return any((proto, port) in ports for (ns, _), ports in wanted.items() if ns == netns)

    for node in cluster.nodes:
        key = (names.node(node.name), f"node/{node.name}")
        for lis in node_listeners(cluster, node.name):
            proto = str(lis.protocol).lower()
            if taken(key[0], proto, lis.port):
                continue
            if lis.addresses is None:
                wanted.setdefault(key, {})[(proto, lis.port)] = lis.app
            else:
                bound.setdefault(key, []).extend((proto, str(ip), lis.port, lis.app) for ip in lis.addresses)
    for engine_netns, proto, port, app in receivers:
        kind, _, rest = engine_netns.partition("/")
        if kind == "pod":
            key = (names.pod(rest), rest)
        elif engine_netns == "external":
            key = (names.external, "external")
        else:
            continue  # a node's: every listener the engine knows is there already
        if not taken(key[0], proto, port):
            wanted.setdefault(key, {})[(proto, port)] = app
    listeners = list(_userspace_proxies(cluster, names))
    sctp_ok = nx.sctp_support() is None
    for netns, owner in dict.fromkeys([*wanted, *bound]):
        ports = wanted.get((netns, owner), {})
        tcp = tuple(sorted((port, app) for (proto, port), app in ports.items() if proto == "tcp"))
        udp = tuple(sorted((port, app) for (proto, port), app in ports.items() if proto == "udp"))
        sctp = tuple(sorted((port, app) for (proto, port), app in ports.items() if proto == "sctp")) \
            if sctp_ok else ()
        at = tuple(b for b in bound.get((netns, owner), ()) if b[0] != "sctp" or sctp_ok)
        if tcp or udp or sctp or at:
            listeners.append(LabListener(netns, owner, tcp, udp, sctp, bound=at))
    return tuple(listeners)


def _userspace_proxies(cluster: Cluster, names: LabNames) -> Iterable[LabListener]:
    """kube-proxy userspace mode: on each node, a proxy on every portal's proxy port (the engine's portals),
    handing connections to the portal's endpoints round-robin (sticky per client IP with sessionAffinity ClientIP)."""
    if cluster.settings.kube_proxy_mode != KubeProxyMode.USERSPACE:
        return
    from webapp.engine.kubeproxy.userspace import portals

    for node in cluster.nodes:
        tcp, udp, affinity = [], [], []
        for portal in portals(cluster, node.name):
            backends = tuple(ep.address for ep in portal.info.endpoints)
            if backends:
                (udp if portal.info.protocol == "udp" else tcp).append((portal.proxy_port, backends))
            if backends and portal.info.service.session_affinity == SessionAffinity.CLIENT_IP:
                affinity.append((portal.proxy_port, portal.info.service.session_affinity_timeout))
        if tcp or udp:
            yield LabListener(names.node(node.name), f"kube-proxy/{node.name}", proxy_tcp=tuple(tcp),
                              proxy_udp=tuple(udp), proxy_affinity=tuple(affinity))


def cluster_digest(cluster: Cluster) -> str:
    """A short hash of the cluster, so `verify` can tell whether the running lab was built from it."""
    return digest_text(repr((cluster.settings, cluster.nodes, cluster.pods, cluster.services, cluster.endpoints)))


def plan_for_cluster(cluster: Cluster, lab_id: str, *, outside: Iterable[IPv4Address] = (),
                     receivers: Iterable[tuple[str, str, int, str]] = ()) -> LabPlan:
    """The lab for `cluster`: node, pod, underlay and external namespaces, from the engine's tables.

    `outside`: addresses of outside clients to hold in the external namespace (the cluster's external hosts
    are always added); `receivers`: (engine netns, proto, port, app) where traces deliver, to listen on."""
    names = LabNames(lab_id)
    notes: list[str] = []
    settings = cluster.settings
    if settings.overlay == Overlay.OVS_VXLAN:
        notes.append(f"Open vSwitch is not available here: the OVS bridge {dp.OVS_BRIDGE} and its VXLAN tunnel "
                     f"ports are emulated by one Linux VXLAN device {dp.OVS_BRIDGE} (VNI {settings.vxlan_vni}, UDP "
                     f"{OVS_VXLAN_PORT}) on the pod bridge, with an FDB entry per remote pod.")
    if settings.kube_proxy_mode == KubeProxyMode.IPVS:
        notes.append(f"{ipvs_unverifiable()}: service flows are not verifiable here.")
    if settings.kube_proxy_mode == KubeProxyMode.USERSPACE:
        notes.append("kube-proxy userspace mode: each node runs the lab's own round-robin proxy (webapp/lab/"
                     "listener.py) on the proxy ports of the engine's rules, in place of kube-proxy's.")
    namespaces: list[LabNetns] = []
    underlay_devices = [LabDevice(UNDERLAY_BRIDGE, "bridge")]
    gateways: dict[str, str] = {}
    for index, node in enumerate(cluster.nodes):
        port = f"port{index}"
        underlay_devices.append(LabDevice(port, "veth", master=UNDERLAY_BRIDGE, peer_netns=names.node(node.name),
                                          peer=node.nic))
        ns = _node_netns(cluster, names, node.name, port)
        namespaces.append(ns)
        gateway = dp.underlay_gateway(cluster, node)
        network = dp.underlay_network(cluster, node)
        gateways.setdefault(f"{gateway}/{network.prefixlen}", node.name)
    for node in cluster.nodes:
        for pod in dp.pods_with_netns(cluster, node.name):
            namespaces.append(_pod_netns(cluster, names, pod.key))
    underlay_devices.append(LabDevice("port-ext", "veth", master=UNDERLAY_BRIDGE, peer_netns=names.external,
                                      peer="eth0"))
    namespaces.append(LabNetns(names.underlay, "underlay", "", tuple(underlay_devices), sysctls=UNDERLAY_SYSCTLS))
    balancers = sorted({ip for svc in cluster.services for ip in svc.load_balancer_ips})
    clients = sorted({*outside, *(h.ip for h in cluster.external_hosts), *balancers})
    external_devices = (
        LabDevice("eth0", "veth", peer_netns=names.underlay, peer="port-ext", addresses=tuple(gateways)),
        LabDevice("lo", "loopback", addresses=tuple(f"{ip}/32" for ip in clients)),
    )
    # A node's further addresses (Node.addresses): the router sends each to the node, as it would a static route.
    extra_routes = tuple(LabRoute(f"{address}/32", "eth0", str(node.internal_ip))
                         for node in cluster.nodes for address in node.addresses)
    namespaces.append(LabNetns(names.external, "external", "", external_devices, extra_routes,
                               sysctls=ROUTER_SYSCTLS,
                               iptables=tuple(LOAD_BALANCER_RULES.format(ip=ip) for ip in balancers)))
    listeners = _listeners(cluster, names, receivers)
    return LabPlan(lab_id, tuple(namespaces), listeners, tuple(notes), cluster_digest(cluster))

