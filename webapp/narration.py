"""The narration catalogue: every sentence the path engine tells about a trace — each hop's `explain`, the
trace's `reason` and its `notes` — as a template keyed by a stable message id.

`MESSAGES[language][key]` is a `str.format` template; `say(key, **fields)` formats the English one. A second
language is added as another `MESSAGES` entry with the same keys and fields (docs/architecture.md, "Narration
catalogue"). Keys are `<module>.<topic>.<case>`. A template that starts with a space is a suffix the engine
appends to a sentence; a `*.phrase.*` key is a fragment the engine passes into another template as a field.
Addresses, ports, device and chain names arrive as fields already formatted; rule text (`Hop.rule`) is not
narration and is not here. Core module: no dash.
"""

from __future__ import annotations

from functools import cache
from string import Formatter

LANGUAGE = "en"
"""The language `say` formats."""

_EN: dict[str, str] = {
    # --- walk.py: applications and sockets ------------------------------------------------------------------
    "walk.send.request": "{app} sends: a new connection from {src} to {dst} ({proto}).",
    "walk.send.reply": "{app} answers: the reply from {src} to {dst} ({proto}).",
    "walk.deliver.arrives": "{app} receives it from {src} on {dst}.",
    "walk.deliver.unexpected_reply": "No socket here expects this reply.",
    "walk.deliver.unexpected_reply.reason": "the reply arrived in {netns}, not at the client",
    "walk.reply.mismatch": "the reply reached {netns} as {got}, not as {expected}",
    "walk.end.no_socket": "the walk ended without reaching a socket",
    "walk.loop": "routing loop: more than {max_hops} hops",
    "walk.listen.clash": ("containers {owners} of pod {pod} both listen on {port}/{proto}: they share the pause "
                          "container's network namespace, so only one can bind the port"),
    "walk.listen.phrase.and": " and ",
    "walk.listen.nothing": "nothing listens on {port}/{proto} in pod {pod} (its containers declare {declared})",
    # --- walk.py: routing, netfilter fallback, conntrack ----------------------------------------------------
    "walk.route.none": "No route to {address}.",
    "walk.route.none.reason": "{netns} has no route to {address}",
    "walk.route.via": "Routing table: {address} goes out {dev} via {via}.",
    "walk.route.onlink": "Routing table: {address} goes out {dev} directly (on-link).",
    "walk.route.local_delivery": "Routing table: {address} is this node's own address; delivered locally.",
    "walk.loopback": "{address} is an address of this namespace: the packet loops back over lo.",
    "walk.pod.no_forward": "A pod does not forward packets that are not addressed to it.",
    "walk.pod.no_forward.reason": "{netns} received a packet for {address}, which it does not own",
    "walk.netfilter.drops": "{hook} on {node} drops the packet",
    "walk.netfilter.rejects": "{hook} on {node} rejects the packet",
    "walk.conntrack.unsnat": ("conntrack recognises the reply and undoes the request's NAT: destination {before} → "
                              "{after}."),
    "walk.conntrack.undnat": ("conntrack recognises the reply and undoes the request's NAT: source {before} → "
                              "{after}."),
    # --- walk.py: IPVS on local delivery ----------------------------------------------------------------------
    "walk.ipvs.no_port": ("{address} sits on {dummy} only so that IPVS sees packets for it; no virtual server has port "
                          "{port} and no process binds a Service IP, so the kernel answers {answer}."),
    "walk.ipvs.no_port.reason": ("nothing listens on {address}:{port}: no IPVS virtual server has that port of the "
                                 "Service IP, so the kernel answers {answer}"),
    "walk.ipvs.phrase.tcp_rst": "a TCP RST",
    "walk.ipvs.phrase.icmp_unreachable": "ICMP port unreachable",
    # --- walk.py: links, bridges, OVS -------------------------------------------------------------------------
    "walk.arp.none": "Nobody answers ARP for {address} on {device}.",
    "walk.arp.none.reason": "no host answers ARP for {address} on {device} in {netns}",
    "walk.arp.none.tunnel_reason": "no host answers ARP for {address} on {device}",
    "walk.xmit.leaves": "Leaves by {device} towards {mac}.",
    "walk.xmit.unsupported.reason": "cannot transmit on {kind} device {device}",
    "walk.l2.bridge_port": "{device} is a port of {bridge}: the frame enters the bridge.",
    "walk.l2.other_mac": "The frame is for {mac}, not {device} ({device_mac}).",
    "walk.l2.other_mac.reason": "{netns} {device} received a frame for another MAC ({mac})",
    "walk.l2.arrives": "Arrives on {device}.",
    "walk.bridge.own_address": ("The frame is addressed to {bridge} itself (the pods' gateway): up to the host's IP "
                                "stack."),
    "walk.bridge.no_fdb": "No FDB entry for {mac}: flooded, and no port answers.",
    "walk.bridge.no_fdb.reason": "{bridge} on {node} has no FDB entry for {mac}",
    "walk.bridge.fdb": "Bridge FDB: {mac} is behind port {port}.",
    "walk.ovs.no_flow": "No OpenFlow entry matches in_port={in_port}, nw_dst={address}.",
    "walk.ovs.no_flow.reason": "{bridge} on {node} has no flow for {address}",
    "walk.ovs.flow": "OpenFlow: packets for {nw_dst} leave by {output}.",
    # --- walk.py: VXLAN ---------------------------------------------------------------------------------------
    "walk.vxlan.no_neighbour": "No neighbour entry for {address} on {device}.",
    "walk.vxlan.no_neighbour.reason": "{device} on {node} has no neighbour entry for {address}",
    "walk.vxlan.neighbour": "Neighbour table: the gateway {address} is the remote VTEP {mac}.",
    "walk.vxlan.no_fdb": "No FDB entry for {mac} on {device}.",
    "walk.vxlan.no_fdb.reason": "{device} on {node} has no FDB entry for {mac}",
    "walk.vxlan.fdb": "VXLAN FDB: {mac} lives on node {address}.",
    "walk.vxlan.encapsulate": "{device} wraps the frame in UDP {local} → {remote}:{port}, VNI {vni}.",
    "walk.vxlan.decapsulate": "UDP port {port}, VNI {vni}: {device} strips the outer headers.",
    "walk.vxlan.no_device": "No VXLAN device listens on UDP {port} with VNI {vni}.",
    "walk.vxlan.no_device.reason": "{node}: no VXLAN device for UDP {port} VNI {vni}",
    # --- walk.py: outside the nodes ---------------------------------------------------------------------------
    "walk.wire": "On the node network {network}, to {netns} ({mac}).",
    "walk.router.to_node": "The network delivers {address} to node {node} ({node_ip}).",
    "walk.router.unrouted": "{address} is in the cluster's {what}, which is not routed outside the cluster.",
    "walk.router.unrouted.reason": ("the network outside the nodes has no route to {address}: the cluster's {what} "
                                    "is not routed outside the cluster; {advice}"),
    "walk.router.phrase.pod_network": "pod network",
    "walk.router.phrase.service_range": "service range",
    "walk.router.outside": "The gateway sends the packet on towards {address}, outside the cluster.",
    "walk.advice.expose": "expose the pod through a Service",
    "walk.advice.no_rule": ("{address} is service {service}'s cluster IP, but no rule of kube-proxy matched "
                            "{proto}/{port}"),
    "walk.advice.from_outside": ("{address} is service {service}'s cluster IP, which only kube-proxy on a node "
                                 "translates; from outside use a NodePort, LoadBalancer or externalIPs"),
    # --- netfilter.py -----------------------------------------------------------------------------------------
    "netfilter.policy.drop": "No rule of {chain} accepts the packet: the chain's policy drops it.",
    "netfilter.policy.drop.reason": "{table} {chain} policy {policy}",
    "netfilter.loop.reason": "iptables chain loop at {chain}",
    "netfilter.mark": ("{chain} sends the packet to {target}, which sets mark {mark:#x}: it will be masqueraded on "
                       "the way out (KUBE-POSTROUTING)."),
    "netfilter.choose": ("{path}: {chain} picks one of {count} endpoint(s) with -m statistic --mode random (each "
                         "equally likely); this trace follows {chosen}."),
    "netfilter.choose.not_candidate": " The requested backend {backend} is not a candidate here.",
    "netfilter.choose.affinity": (" sessionAffinity ClientIP: the chosen KUBE-SEP records this client (-m recent "
                                  "--set); its next connections match the --rcheck rules above and skip the draw."),
    "netfilter.dnat": "{chain} rewrites the destination {before} → {after}.",
    "netfilter.dnat.cluster_ip": (" {address} is the cluster IP of {service}: a virtual address no interface owns, "
                                  "which exists only in these rules."),
    "netfilter.redirect": "{chain} redirects the packet to port {port} on this node (kube-proxy listens there).",
    "netfilter.snat": "{chain} rewrites the source {before} → {after}.",
    "netfilter.masquerade": ("{chain} masquerades: the source becomes {address}, the address of {device}; conntrack "
                             "will undo it on the reply."),
    "netfilter.phrase.outgoing_interface": "the outgoing interface",
    "netfilter.random_port": (" {flag}: the kernel maps the source port anew for every connection ({low}–{high}); "
                              "this trace shows {before} → {after}, one such draw."),
    "netfilter.rule.drops": "{chain} drops it: {why}",
    "netfilter.rule.rejects": "{chain} rejects it: {why}",
    "netfilter.rule.rejects_unreachable": "{chain} rejects it (icmp-port-unreachable): {why}",
    "netfilter.source_ranges": ("{service} admits only loadBalancerSourceRanges {allowed} to its load balancer IP "
                                "{address}, and {src} is outside them"),
    "netfilter.ipvs_filter": ("{address} is a Service address on kube-ipvs0, and no Service of it listens on "
                              "{port}/{proto}: kube-proxy refuses new connections to the node's other ports through "
                              "a VIP"),
    # --- nft.py (kube-proxy's nftables mode) -----------------------------------------------------------------
    "netfilter.nft.mark": ("{chain} sends the packet to {target}, which sets mark {mark:#x}: it will be masqueraded "
                           "on the way out (chain masquerading)."),
    "netfilter.nft.vmap": ("{chain} looks {key} up in verdict map {map} ({count} element(s)): one hash lookup, "
                           "however many services there are; the element sends the packet to {target}."),
    "netfilter.nft.choose": ("{path}: {chain} picks one of {count} endpoint chain(s) with numgen random mod {count} "
                             "(each equally likely); this trace follows {chosen}."),
    "netfilter.nft.choose.affinity": (" sessionAffinity ClientIP: the chosen endpoint chain adds this client to its "
                                      "affinity set (update @affinity-…); its next connections match the "
                                      "ip saddr @affinity-… rules above and skip the draw."),
    "netfilter.nft.cluster_ip_port": ("{address} is a cluster IP, but none of its service ports is {port}/{proto} "
                                      "(set cluster-ips)"),
    "netfilter.nft.unallocated": "{address} is in the service CIDR, but no service has it as its cluster IP",
    # --- kubeproxy/chains.py ----------------------------------------------------------------------------------
    "kubeproxy.no_endpoints": ("service {port_name} has no ready endpoints — no ready pod matches its selector "
                               "{selector}"),
    "kubeproxy.phrase.no_selector": "(none)",
    "kubeproxy.no_local_endpoint": "service {port_name} has no endpoint on this node and its traffic policy is Local",
    # --- services.py: IPVS and the userspace proxy ------------------------------------------------------------
    "services.ipvs.no_real_servers": "IPVS virtual server {address}:{port} has no real servers on {node}: {why}",
    "services.ipvs.dnat": ("{address} is bound to kube-ipvs0, so the packet is local; the IPVS virtual server "
                           "({kind}) hands the connection to real server {real_server} with the rr scheduler (Masq "
                           "forwarding = DNAT)."),
    "services.ipvs.affinity": (" sessionAffinity ClientIP → `persistent {timeout}`: this client keeps its real "
                               "server."),
    "services.userspace.no_endpoints": "kube-proxy accepts on port {port} and closes: {why}",
    "services.userspace.backend_down": ("kube-proxy tries backend {backend} ({pod}), which does not answer; the "
                                        "userspace proxy retries the next backend."),
    "services.userspace.proxy": ("kube-proxy accepted the client's connection on port {port} and opens a new one from "
                                 "{src} to backend {backend}: the backend sees the node, not the client."),
    "services.userspace.affinity": (" sessionAffinity ClientIP: kube-proxy records client {client} → {backend}; for "
                                    "{timeout} s this client's next connections skip the round-robin and go to it "
                                    "(while it answers)."),
    "services.userspace.all_down.reason": ("every backend of service {service} is down; kube-proxy's retries all "
                                           "failed"),
    "services.userspace.all_down": "No backend answered: kube-proxy closes the client's connection ({reason}).",
    # --- services.py: the cloud load balancer -----------------------------------------------------------------
    "services.lb.no_ingress": "service {service} has no load-balancer ingress IP (status.loadBalancer is empty)",
    "services.lb.check.local": ("health check: GET http://<node>:{port}/healthz answers 200 only on nodes with a "
                                "local endpoint (externalTrafficPolicy Local)"),
    "services.lb.check.cluster": "externalTrafficPolicy Cluster: every ready node passes the health check",
    "services.lb.client": "An external client connects to the load balancer's address {address}.",
    "services.lb.source_ranges": ("the load balancer of {service} only admits loadBalancerSourceRanges {allowed}; "
                                  "{client} is outside them (kube-proxy's KUBE-FW chain enforces the same on the "
                                  "nodes)"),
    "services.lb.unhealthy": "no node passes the load balancer's health check for {service}: {check}",
    "services.lb.forward": ("The cloud load balancer picks node {node} and sends the connection to its nodePort "
                            "{node_port} (LoadBalancer ⊃ NodePort ⊃ ClusterIP); the client's address is kept. "
                            "{check}."),
    # --- services.py: DNS and backends marked down ------------------------------------------------------------
    "services.dns.cname": ("CoreDNS answers with a CNAME to {name}: an ExternalName service has no cluster IP and "
                           "nothing is proxied; the client then resolves and connects to the external name itself."),
    "services.dns.headless": "A headless service: CoreDNS answers with the ready pods' own addresses.",
    "services.dns.cluster_ip": ("CoreDNS answers with the service's cluster IP {address}, which only kube-proxy's "
                                "rules know."),
    "services.dns.no_service": "no cluster DNS service has clusterIP {address} with port 53/UDP",
    "services.dns.failed": "the DNS query failed: {reason}",
    "services.down.direct": "pod {pod} does not answer (marked down)",
    "services.down.via_service": ("backend pod {pod} does not answer but is still a ready endpoint: {how}; the "
                                  "connection times out. A readiness probe would mark the pod unready and remove it "
                                  "from the rules (the userspace proxy would have retried another backend)."),
    "services.down.phrase.iptables": ("kube-proxy's iptables rules DNATed the connection to it once, and iptables "
                                      "mode cannot retry another backend"),
    "services.down.phrase.ipvs": ("the IPVS virtual server handed the connection to it, and IPVS does not retry "
                                  "another real server"),
    "services.down.phrase.other": "the connection was sent to it",
    # --- flows.py: notes and ExternalName ---------------------------------------------------------------------
    "flows.note.container_to_container": ("The containers share the pause container's network namespace: they talk "
                                          "over lo on 127.0.0.1, like processes on one VM; their ports must not "
                                          "clash."),
    "flows.note.pod_to_pod_same_node": ("No NAT: the destination pod sees the source pod's own IP (the seed's first "
                                        "and third principles); the node's bridge switches the frame."),
    "flows.note.pod_to_pod_cross_node": ("No NAT: the destination pod sees the source pod's own IP (the seed's first "
                                         "and third principles); the overlay carries it between nodes."),
    "flows.note.node_to_pod": "No NAT between a node and a pod (the seed's second principle).",
    "flows.note.pod_to_node": "No NAT between a pod and a node (the seed's second principle).",
    "flows.note.pod_to_external": ("Leaving the cluster, the pod's address is masqueraded to the node's (the CNI's "
                                   "ipMasq rule); conntrack undoes it on the reply."),
    "flows.note.external_to_pod": ("Pod IPs and cluster IPs are not routed outside the cluster: reach pods from "
                                   "outside through a Service's NodePort, LoadBalancer or externalIPs."),
    "flows.note.pod_to_node.nat": ("flannel's ipMasq masquerades pod traffic to every address outside the cluster "
                                   "CIDR — another node's IP included — so that node sees the pod's node address: "
                                   "real flannel departs here from the seed's second principle."),
    "flows.note.node_to_pod.nat": ("The node's address was rewritten on the way: see the NAT steps (the seed's "
                                   "second principle does not hold for this datapath)."),
    "flows.note.reply_mismatch": "The reply does not come back as sent: {problem}.",
    "flows.external_name.unknown": ("The client now resolves {name}, but the cluster declares no host with that "
                                    "name: there is no address to connect to."),
    "flows.external_name.unknown.reason": ("ExternalName service {service} points at {name}, which resolves to no "
                                           "known host (declare it under the cluster's external hosts)"),
    # --- policy.py, policy_matrix.py: NetworkPolicy -------------------------------------------------------------
    "policy.same_pod": "{pod} talks to its own address over lo: no NetworkPolicy sees it",
    "policy.egress.not_a_pod": ("{end} is not a pod on the pod network: no NetworkPolicy governs what it sends"),
    "policy.ingress.not_a_pod": ("{end} is not a pod on the pod network: no NetworkPolicy governs what it "
                                 "receives"),
    "policy.ingress.own_node": ("from {peer}, the node of {pod}: a pod cannot block its own node (Calico leaves "
                                "host-to-pod traffic alone): allowed"),
    "policy.egress.not_selected": "no policy selects {pod} for egress: allowed",
    "policy.ingress.not_selected": "no policy selects {pod} for ingress: allowed",
    "policy.egress.allowed": "allowed by {policy} {reference}: port {port} to {peer}",
    "policy.ingress.allowed": "allowed by {policy} {reference}: port {port} from {peer}",
    "policy.egress.denied": "selected by {policies} (default deny): no rule allows port {port} to {peer}",
    "policy.ingress.denied": "selected by {policies} (default deny): no rule allows port {port} from {peer}",
    "policy.hop.egress": "{chain} on {device}, the host side of {pod}'s veth, checks the pod's egress: {reason}.",
    "policy.hop.ingress": "{chain} on {device}, the host side of {pod}'s veth, checks the pod's ingress: {reason}.",
    "policy.hop.reply": ("{chain} on {device}: the reply of an established connection; conntrack "
                         "(ESTABLISHED,RELATED) accepts it before any policy."),
    "policy.not_enforced": ("{reason}; but {plugin} does not implement NetworkPolicy: would be denied, not "
                            "enforced"),
}

MESSAGES: dict[str, dict[str, str]] = {"en": _EN}
"""Language → message id → template. Every language has the same keys, and each template the same fields."""


@cache
def fields(key: str, language: str = LANGUAGE) -> frozenset[str]:
    """The field names a template expects."""
    return frozenset(name for _, name, _, _ in Formatter().parse(MESSAGES[language][key]) if name)


def say(key: str, /, **values: object) -> str:
    """The English sentence of message `key` with `values` filled in. KeyError for an unknown key, a missing
    field or an unexpected one."""
    template = MESSAGES[LANGUAGE][key]
    unexpected = set(values) - fields(key)
    if unexpected:
        raise KeyError(f"{key}: unexpected field(s) {', '.join(sorted(unexpected))}")
    return template.format(**values)
