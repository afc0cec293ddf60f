"""The narration catalogue: every sentence the path engine tells about a trace — each hop's `explain`, the
trace's `reason` and its `notes` — as a template keyed by a stable message id.

`MESSAGES[language][key]` is a `str.format` template; `say(key, **fields)` formats it in the current narration
language: English unless the caller runs the engine inside `narration_language("zh")` (a context variable, so each
thread or task of the web server narrates in its own language). Every language has the same keys and fields
(docs/architecture.md, "Narration catalogue"); the terms of the Chinese one follow docs/glossary.md. Keys are
`<module>.<topic>.<case>`. A template that starts with a space is a suffix the engine appends to a sentence; a
`*.phrase.*` key is a fragment the engine passes into another template as a field. Addresses, ports, device and
chain names arrive as fields already formatted; rule text (`Hop.rule`) is not narration and is not here. Core
module: no dash.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from string import Formatter
from typing import Iterator

LANGUAGE = "en"
"""The default narration language (and the reference catalogue every other language is checked against)."""

LANGUAGES = ("en", "zh")
"""Every language the product speaks: English and Simplified Chinese."""

_current: ContextVar[str] = ContextVar("narration_language", default=LANGUAGE)

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
    "walk.node.no_listener": ("No process of node {node} listens on {address} port {port} (listening: {listening}), "
                              "so the kernel answers {answer}{hint}."),
    "walk.node.no_listener.reason": ("nothing listens on {address}:{port} on node {node}, so the kernel answers "
                                     "{answer}{hint}"),
    "walk.node.phrase.node_port": ("; {port} is a nodePort of {services}, but kube-proxy does not answer it on "
                                   "{address}"),
    # --- walk.py: routing, netfilter fallback, conntrack ----------------------------------------------------
    "walk.route.none": "No route to {address}.",
    "walk.route.none.reason": "{netns} has no route to {address}",
    "walk.route.via": "Routing table: {address} goes out {dev} via {via}.",
    "walk.route.onlink": "Routing table: {address} goes out {dev} directly (on-link).",
    "walk.route.local_delivery": "Routing table: {address} is this node's own address; delivered locally.",
    "walk.loopback": "{address} is an address of this namespace: the packet loops back over lo.",
    "walk.proxy.dial_failed": ("kube-proxy's connection to backend {backend} is not answered ({reason}): the "
                               "userspace proxy dials the next backend."),
    "walk.proxy.all_failed.reason": ("kube-proxy's connection to every backend of service {service} failed (the "
                                     "last: {last}); it closes the client's connection"),
    "walk.proxy.all_failed": "No backend answered: kube-proxy closes the client's connection ({reason}).",
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
    "walk.ipvs.phrase.sctp_abort": "an SCTP ABORT",
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
    "walk.router.service_route": ("The network routes the service range {cidr} via node {node} ({node_ip}) "
                                  "(serviceCIDRRoute): {address} goes to that node, whose kube-proxy translates it."),
    "walk.router.unrouted": "{address} is in the cluster's {what}, which is not routed outside the cluster.",
    "walk.router.unrouted.reason": ("the network outside the nodes has no route to {address}: the cluster's {what} "
                                    "is not routed outside the cluster; {advice}"),
    "walk.router.phrase.pod_network": "pod network",
    "walk.router.phrase.service_range": "service range",
    "walk.router.outside": "The gateway sends the packet on towards {address}, outside the cluster.",
    "walk.lb.not_forwarded": ("{address} is the cloud load balancer of {services}, which forwards only {ports}: it "
                              "has no listener for {port} and drops the packet."),
    "walk.lb.not_forwarded.reason": ("{address} belongs to the cloud load balancer of {services}, which forwards only "
                                     "{ports}; nothing takes {port}, so the load balancer drops the packet and the "
                                     "connection times out (on the node the load-balancer IP is not local and "
                                     "kube-proxy has no rule for that port: the packet left by the default route)"),
    "walk.advice.expose": "expose the pod through a Service",
    "walk.advice.no_rule": ("{address} is service {service}'s cluster IP, but no rule of kube-proxy matched "
                            "{proto}/{port}"),
    "walk.advice.from_outside": ("{address} is service {service}'s cluster IP, which only kube-proxy on a node "
                                 "translates; from outside use a NodePort, LoadBalancer or externalIPs, or route "
                                 "the service range to a node (network.serviceCIDRRoute: via NODE)"),
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
    "services.lb.passthrough": ("The cloud load balancer (passthrough, as GCE's network load balancer or MetalLB) "
                                "picks node {node} and delivers the packet to it unchanged: still addressed to "
                                "{address}, which kube-proxy's KUBE-SERVICES captures on the node ('loadbalancer "
                                "IP'). {check}."),
    "services.lb.no_node_port": ("the load balancer of {service} proxies to a nodePort (loadBalancer mode proxy), "
                                 "but port {port} has none (allocateLoadBalancerNodePorts: false)"),
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
    "flows.note.external_to_cluster_ip": ("The network routes the service range via node {node} "
                                          "(serviceCIDRRoute): that node's kube-proxy DNATs the cluster IP and, the "
                                          "client being outside the pod network, marks it for masquerade "
                                          "(KUBE-MARK-MASQ), so the backend sees the node's address; conntrack "
                                          "undoes both on the reply."),
    "flows.note.external_to_pod": ("Pod IPs and cluster IPs are not routed outside the cluster: reach pods from "
                                   "outside through a Service's NodePort, LoadBalancer or externalIPs."),
    "flows.note.pod_to_node.nat": ("flannel's ipMasq masquerades pod traffic to every address outside the cluster "
                                   "CIDR — another node's IP included — so that node sees the pod's node address: "
                                   "real flannel departs here from the seed's second principle."),
    "flows.note.node_to_pod.nat": ("The node's address was rewritten on the way: see the NAT steps (the seed's "
                                   "second principle does not hold for this datapath)."),
    "flows.note.reply_mismatch": "The reply does not come back as sent: {problem}.",
    "flows.external_name.unknown": ("The client now resolves {name} (its resolver asks kube-dns, which forwards "
                                    "the question upstream). The cluster does not declare that host, so its address "
                                    "is unknown here: {address} stands for it."),
    "flows.note.external_name_unknown": ("{service} points at {name}, which the cluster does not declare: its address "
                                         "is unknown, and {address} (TEST-NET-1) stands for it — the path out of the "
                                         "cluster, the masquerade included, is the same for any outside address. "
                                         "Declare the host under the cluster's external hosts to show its address."),
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
    "policy.established": "the reply of an established connection: conntrack accepts it",
    # --- trace.py: the text form for people -------------------------------------------------------------------
    "trace.text.verdict": "=> {disposition}",
    "trace.text.verdict.reason": "=> {disposition}: {reason}",
    "trace.text.disposition.delivered": "delivered",
    "trace.text.disposition.dropped": "dropped",
    "trace.text.disposition.rejected": "rejected",
    "trace.text.disposition.no_route": "no-route",
    "trace.text.nat.none": "NAT: none (pod addresses seen end to end)",
    "trace.text.nat": "NAT: {changes}",
    "trace.text.ports": "ports: {changes} (the address is kept)",
    "trace.text.note": "note: {note}",
    "trace.text.reply": "reply:",
    # --- load problems (webapp.problems.worded) ---
    "load.pod_ip_is_bridge": "pod IP {ip} of {pod} is {node}'s bridge address: {bridge} holds the first address "
                             "of the podCIDR {cidr} as the pods' gateway, and host-local never gives it to a pod",
    "load.iptables_only.localhost_node_ports": "iptables.localhostNodePorts applies to kube-proxy's iptables mode "
                                               "only: in {mode} mode it is ignored",
    "load.iptables_only.nfacct": "nfacct on node {node} has no effect: kube-proxy writes nfacct counters in "
                                 "iptables mode only, and this cluster runs it in {mode} mode",
    "load.health_check_node_port.range": "healthCheckNodePort {port} is outside the range {low}-{high}",
    "load.health_check_node_port.used": "healthCheckNodePort {port} is already used by {owner}",
    "load.health_check_node_port.not_local": "healthCheckNodePort may only be set when `type` is 'LoadBalancer' "
                                             "and `externalTrafficPolicy` is 'Local'",
}

_ZH: dict[str, str] = {
    # Terms follow docs/glossary.md (the seed article's own words: 容器, Pod, 网桥, 隧道, 封装, 节点 …);
    # identifiers (devices, chains, fields, addresses) stay as the engine passes them.
    # --- walk.py: applications and sockets ------------------------------------------------------------------
    "walk.send.request": "{app} 发起一个新连接：从 {src} 到 {dst}（{proto}）。",
    "walk.send.reply": "{app} 回应：应答包从 {src} 发往 {dst}（{proto}）。",
    "walk.deliver.arrives": "{app} 在 {dst} 上收到来自 {src} 的数据包。",
    "walk.deliver.unexpected_reply": "这里没有哪个套接字在等这个应答。",
    "walk.deliver.unexpected_reply.reason": "应答到达的是 {netns}，而不是客户端",
    "walk.reply.mismatch": "应答到达 {netns} 时是 {got}，而不是 {expected}",
    "walk.end.no_socket": "数据包走完了路径，却没有到达任何套接字",
    "walk.loop": "路由环路：超过 {max_hops} 跳",
    "walk.listen.clash": ("Pod {pod} 的容器 {owners} 都监听 {port}/{proto}：它们共享 pause 容器的网络命名空间，"
                          "所以只有一个能绑定这个端口"),
    "walk.listen.phrase.and": " 和 ",
    "walk.listen.nothing": "Pod {pod} 中没有进程监听 {port}/{proto}（它的容器声明的端口是 {declared}）",
    "walk.node.no_listener": "节点 {node} 上没有进程监听 {address} 的端口 {port}（在监听的有：{listening}），所以内核回以 {answer}{hint}。",
    "walk.node.no_listener.reason": "节点 {node} 上没有进程监听 {address}:{port}，所以内核回以 {answer}{hint}",
    "walk.node.phrase.node_port": "；{port} 是 {services} 的 nodePort，但 kube-proxy 不在 {address} 上应答它",
    # --- walk.py: routing, netfilter fallback, conntrack ----------------------------------------------------
    "walk.route.none": "没有去往 {address} 的路由。",
    "walk.route.none.reason": "{netns} 没有去往 {address} 的路由",
    "walk.route.via": "路由表：去往 {address} 的数据包从 {dev} 发出，下一跳 {via}。",
    "walk.route.onlink": "路由表：去往 {address} 的数据包直接从 {dev} 发出（on-link，直连）。",
    "walk.route.local_delivery": "路由表：{address} 是本节点自己的地址，交给本机。",
    "walk.loopback": "{address} 是本命名空间自己的地址：数据包经 lo 环回。",
    "walk.proxy.dial_failed": "kube-proxy 到后端 {backend} 的连接没有得到响应（{reason}）：userspace 代理改连下一个后端。",
    "walk.proxy.all_failed.reason": "kube-proxy 到 Service {service} 每个后端的连接都失败了（最后一次：{last}）；它关闭客户端的连接",
    "walk.proxy.all_failed": "没有后端响应：kube-proxy 关闭客户端的连接（{reason}）。",
    "walk.pod.no_forward": "Pod 不转发目的地址不是它自己的数据包。",
    "walk.pod.no_forward.reason": "{netns} 收到一个发往 {address} 的数据包，而这个地址不属于它",
    "walk.netfilter.drops": "{node} 上的 {hook} 丢弃了数据包",
    "walk.netfilter.rejects": "{node} 上的 {hook} 拒绝了数据包",
    "walk.conntrack.unsnat": "conntrack 认出这是应答，撤销请求经过的 NAT：目的地址 {before} → {after}。",
    "walk.conntrack.undnat": "conntrack 认出这是应答，撤销请求经过的 NAT：源地址 {before} → {after}。",
    # --- walk.py: IPVS on local delivery ----------------------------------------------------------------------
    "walk.ipvs.no_port": ("{address} 挂在 {dummy} 上，只是为了让 IPVS 看到发往它的数据包；没有虚拟服务器使用端口 "
                          "{port}，也没有进程绑定 Service IP，所以内核回以 {answer}。"),
    "walk.ipvs.no_port.reason": ("{address}:{port} 上没有监听者：没有哪个 IPVS 虚拟服务器使用这个 Service IP 的该端口，"
                                 "所以内核回以 {answer}"),
    "walk.ipvs.phrase.tcp_rst": "TCP RST",
    "walk.ipvs.phrase.icmp_unreachable": "ICMP 端口不可达",
    "walk.ipvs.phrase.sctp_abort": "SCTP ABORT",
    # --- walk.py: links, bridges, OVS -------------------------------------------------------------------------
    "walk.arp.none": "{device} 上没有主机应答 {address} 的 ARP 请求。",
    "walk.arp.none.reason": "{netns} 中，{device} 上没有主机应答 {address} 的 ARP 请求",
    "walk.arp.none.tunnel_reason": "{device} 上没有主机应答 {address} 的 ARP 请求",
    "walk.xmit.leaves": "从 {device} 发出，发往 {mac}。",
    "walk.xmit.unsupported.reason": "无法从 {kind} 类型的设备 {device} 发送",
    "walk.l2.bridge_port": "{device} 是 {bridge} 的一个端口：帧进入网桥。",
    "walk.l2.other_mac": "这个帧发往 {mac}，不是 {device}（{device_mac}）。",
    "walk.l2.other_mac.reason": "{netns} 的 {device} 收到一个发往其他 MAC（{mac}）的帧",
    "walk.l2.arrives": "到达 {device}。",
    "walk.bridge.own_address": "帧的目的地址是 {bridge} 自己（Pod 的网关）：交给主机的 IP 协议栈。",
    "walk.bridge.no_fdb": "FDB 中没有 {mac} 的表项：帧被泛洪，没有端口应答。",
    "walk.bridge.no_fdb.reason": "{node} 上的 {bridge} 没有 {mac} 的 FDB 表项",
    "walk.bridge.fdb": "网桥 FDB：{mac} 在端口 {port} 后面。",
    "walk.ovs.no_flow": "没有 OpenFlow 流表项匹配 in_port={in_port}, nw_dst={address}。",
    "walk.ovs.no_flow.reason": "{node} 上的 {bridge} 没有去往 {address} 的流表项",
    "walk.ovs.flow": "OpenFlow：去往 {nw_dst} 的数据包从 {output} 发出。",
    # --- walk.py: VXLAN ---------------------------------------------------------------------------------------
    "walk.vxlan.no_neighbour": "{device} 上没有 {address} 的邻居表项。",
    "walk.vxlan.no_neighbour.reason": "{node} 上的 {device} 没有 {address} 的邻居表项",
    "walk.vxlan.neighbour": "邻居表：网关 {address} 就是远端 VTEP {mac}。",
    "walk.vxlan.no_fdb": "{device} 上没有 {mac} 的 FDB 表项。",
    "walk.vxlan.no_fdb.reason": "{node} 上的 {device} 没有 {mac} 的 FDB 表项",
    "walk.vxlan.fdb": "VXLAN FDB：{mac} 位于节点 {address}。",
    "walk.vxlan.encapsulate": "{device} 把帧封装进 UDP {local} → {remote}:{port}，VNI {vni}。",
    "walk.vxlan.decapsulate": "UDP 端口 {port}，VNI {vni}：{device} 剥去外层头部（解封装）。",
    "walk.vxlan.no_device": "没有 VXLAN 设备在 UDP {port} 上监听 VNI {vni}。",
    "walk.vxlan.no_device.reason": "{node}：没有对应 UDP {port}、VNI {vni} 的 VXLAN 设备",
    # --- walk.py: outside the nodes ---------------------------------------------------------------------------
    "walk.wire": "经节点网络 {network} 送往 {netns}（{mac}）。",
    "walk.router.to_node": "网络把 {address} 交给节点 {node}（{node_ip}）。",
    "walk.router.service_route": ("网络把 Service 网段 {cidr} 经节点 {node}（{node_ip}）路由（serviceCIDRRoute）："
                                  "{address} 送到这个节点，由它的 kube-proxy 转换。"),
    "walk.router.unrouted": "{address} 属于集群的{what}，集群外不路由这个网段。",
    "walk.router.unrouted.reason": "节点之外的网络没有去往 {address} 的路由：集群的{what}在集群外不路由；{advice}",
    "walk.router.phrase.pod_network": " Pod 网络",
    "walk.router.phrase.service_range": " Service 网段",
    "walk.router.outside": "网关把数据包继续发往集群外的 {address}。",
    "walk.lb.not_forwarded": "{address} 是 {services} 的云负载均衡器，它只转发 {ports}：{port} 没有监听器，数据包被丢弃。",
    "walk.lb.not_forwarded.reason": ("{address} 属于 {services} 的云负载均衡器，它只转发 {ports}；{port} 无人接收，"
                                     "负载均衡器丢弃数据包，连接超时（在节点上，负载均衡 IP 不是本机地址，kube-proxy "
                                     "也没有该端口的规则：数据包走默认路由离开了节点）"),
    "walk.advice.expose": "请通过 Service 暴露这个 Pod",
    "walk.advice.no_rule": "{address} 是 Service {service} 的 ClusterIP，但 kube-proxy 没有哪条规则匹配 {proto}/{port}",
    "walk.advice.from_outside": ("{address} 是 Service {service} 的 ClusterIP，只有节点上的 kube-proxy 会转换它；"
                                 "从集群外请使用 NodePort、LoadBalancer 或 externalIPs，或者把 Service 网段路由到一个节点"
                                 "（network.serviceCIDRRoute: via NODE）"),
    # --- netfilter.py -----------------------------------------------------------------------------------------
    "netfilter.policy.drop": "{chain} 中没有规则接受这个数据包：链的默认策略丢弃了它。",
    "netfilter.policy.drop.reason": "{table} {chain} 策略 {policy}",
    "netfilter.loop.reason": "iptables 链在 {chain} 处形成环路",
    "netfilter.mark": "{chain} 把数据包交给 {target}，打上标记 {mark:#x}：它在发出时将被伪装（KUBE-POSTROUTING）。",
    "netfilter.choose": ("{path}：{chain} 用 -m statistic --mode random 从 {count} 个端点中选一个（机会均等）；"
                         "本次追踪走 {chosen}。"),
    "netfilter.choose.not_candidate": "指定的后端 {backend} 不在候选之列。",
    "netfilter.choose.affinity": ("sessionAffinity ClientIP：选中的 KUBE-SEP 记下这个客户端（-m recent --set）；"
                                  "它之后的连接匹配上面的 --rcheck 规则，不再随机抽选。"),
    "netfilter.dnat": "{chain} 改写目的地址 {before} → {after}。",
    "netfilter.dnat.cluster_ip": "{address} 是 {service} 的 ClusterIP：一个没有任何网卡拥有的虚拟 IP，只存在于这些规则里。",
    "netfilter.redirect": "{chain} 把数据包重定向到本节点的端口 {port}（kube-proxy 在那里监听）。",
    "netfilter.snat": "{chain} 改写源地址 {before} → {after}。",
    "netfilter.masquerade": "{chain} 做地址伪装：源地址变为 {device} 的地址 {address}；conntrack 会在应答时撤销它。",
    "netfilter.phrase.outgoing_interface": "出口网卡",
    "netfilter.random_port": ("{flag}：内核为每个连接重新分配源端口（{low}–{high}）；本次追踪显示的 {before} → {after} "
                              "只是其中一次的结果。"),
    "netfilter.rule.drops": "{chain} 丢弃了它：{why}",
    "netfilter.rule.rejects": "{chain} 拒绝了它：{why}",
    "netfilter.rule.rejects_unreachable": "{chain} 拒绝了它（icmp-port-unreachable）：{why}",
    "netfilter.source_ranges": ("{service} 只允许 loadBalancerSourceRanges {allowed} 访问它的负载均衡器 IP {address}，"
                                "而 {src} 不在其中"),
    "netfilter.ipvs_filter": ("{address} 是 kube-ipvs0 上的 Service 地址，而它的 Service 都不监听 {port}/{proto}："
                              "kube-proxy 拒绝经 VIP 访问节点其他端口的新连接"),
    # --- kubeproxy/chains.py ----------------------------------------------------------------------------------
    "kubeproxy.no_endpoints": "Service {port_name} 没有就绪的端点——没有就绪的 Pod 匹配它的选择器 {selector}",
    "kubeproxy.phrase.no_selector": "（无）",
    "kubeproxy.no_local_endpoint": "Service {port_name} 在本节点上没有端点，而它的流量策略是 Local",
    # --- services.py: IPVS and the userspace proxy ------------------------------------------------------------
    "services.ipvs.no_real_servers": "{node} 上的 IPVS 虚拟服务器 {address}:{port} 没有真实服务器：{why}",
    "services.ipvs.dnat": ("{address} 绑定在 kube-ipvs0 上，所以数据包属于本机；IPVS 虚拟服务器（{kind}）用 rr 调度器"
                           "把连接交给真实服务器 {real_server}（Masq 转发 = DNAT）。"),
    "services.ipvs.affinity": "sessionAffinity ClientIP → `persistent {timeout}`：这个客户端始终使用同一个真实服务器。",
    "services.userspace.no_endpoints": "kube-proxy 在端口 {port} 上接受连接，随即关闭：{why}",
    "services.userspace.backend_down": "kube-proxy 尝试后端 {backend}（{pod}），它没有响应；userspace 代理改试下一个后端。",
    "services.userspace.proxy": ("kube-proxy 在端口 {port} 上接受了客户端的连接，再从 {src} 向后端 {backend} 新建一个连接："
                                 "后端看到的是节点，而不是客户端。"),
    "services.userspace.affinity": ("sessionAffinity ClientIP：kube-proxy 记下客户端 {client} → {backend}；{timeout} 秒内，"
                                    "这个客户端之后的连接不再轮询，直接发往它（只要它还响应）。"),
    "services.userspace.all_down.reason": "Service {service} 的所有后端都已宕机；kube-proxy 的重试全部失败",
    "services.userspace.all_down": "没有后端响应：kube-proxy 关闭客户端的连接（{reason}）。",
    # --- services.py: the cloud load balancer -----------------------------------------------------------------
    "services.lb.no_ingress": "Service {service} 没有负载均衡器入口 IP（status.loadBalancer 为空）",
    "services.lb.check.local": ("健康检查：GET http://<node>:{port}/healthz 只在有本地端点的节点上返回 200"
                                "（externalTrafficPolicy Local）"),
    "services.lb.check.cluster": "externalTrafficPolicy Cluster：每个就绪的节点都能通过健康检查",
    "services.lb.client": "一个外部客户端连接负载均衡器的地址 {address}。",
    "services.lb.source_ranges": ("{service} 的负载均衡器只允许 loadBalancerSourceRanges {allowed}；{client} 不在其中"
                                  "（节点上 kube-proxy 的 KUBE-FW 链也做同样的限制）"),
    "services.lb.unhealthy": "没有节点通过 {service} 的负载均衡器健康检查：{check}",
    "services.lb.forward": ("云负载均衡器选中节点 {node}，把连接发往它的 nodePort {node_port}"
                            "（LoadBalancer ⊃ NodePort ⊃ ClusterIP）；客户端的地址保持不变。{check}。"),
    "services.lb.passthrough": ("云负载均衡器（直通模式，如 GCE 的网络负载均衡器或 MetalLB）选中节点 {node}，把数据包原样"
                                "交给它：目的地址仍是 {address}，由节点上 kube-proxy 的 KUBE-SERVICES 链截获"
                                "（'loadbalancer IP'）。{check}。"),
    "services.lb.no_node_port": ("{service} 的负载均衡器转发到 nodePort（loadBalancer 模式 proxy），但端口 {port} 没有 "
                                 "nodePort（allocateLoadBalancerNodePorts: false）"),
    # --- services.py: DNS and backends marked down ------------------------------------------------------------
    "services.dns.cname": ("CoreDNS 用一条指向 {name} 的 CNAME 记录应答：ExternalName 类型的 Service 没有 ClusterIP，"
                           "也不经过任何代理；客户端随后自己解析这个外部域名并连接它。"),
    "services.dns.headless": "这是一个 headless Service：CoreDNS 直接用就绪 Pod 自己的地址应答。",
    "services.dns.cluster_ip": "CoreDNS 用这个 Service 的 ClusterIP {address} 应答，这个地址只有 kube-proxy 的规则认识。",
    "services.dns.no_service": "没有哪个集群 DNS Service 的 clusterIP 是 {address} 且带有端口 53/UDP",
    "services.dns.failed": "DNS 查询失败：{reason}",
    "services.down.direct": "Pod {pod} 没有响应（被标记为宕机）",
    "services.down.via_service": ("后端 Pod {pod} 没有响应，却仍是就绪的端点：{how}；连接超时。就绪探针（readiness probe）"
                                  "会把这个 Pod 标为未就绪并把它从规则中移除（userspace 代理则会改试另一个后端）。"),
    "services.down.phrase.iptables": "kube-proxy 的 iptables 规则已经把连接 DNAT 到它，而 iptables 模式无法改试其他后端",
    "services.down.phrase.ipvs": "IPVS 虚拟服务器已经把连接交给它，而 IPVS 不会改试其他真实服务器",
    "services.down.phrase.other": "连接已发往它",
    # --- flows.py: notes and ExternalName ---------------------------------------------------------------------
    "flows.note.container_to_container": ("这些容器共享 pause 容器的网络命名空间：它们经 lo 在 127.0.0.1 上通信，"
                                          "就像同一台虚拟机上的多个进程；各容器的端口不能冲突。"),
    "flows.note.pod_to_pod_same_node": ("没有 NAT：目的 Pod 看到的就是源 Pod 自己的 IP（原文的第一、第三条原则）；"
                                        "由节点的网桥转发这个帧。"),
    "flows.note.pod_to_pod_cross_node": ("没有 NAT：目的 Pod 看到的就是源 Pod 自己的 IP（原文的第一、第三条原则）；"
                                         "由 overlay 网络在节点之间传送。"),
    "flows.note.node_to_pod": "节点和 Pod 之间没有 NAT（原文的第二条原则）。",
    "flows.note.pod_to_node": "Pod 和节点之间没有 NAT（原文的第二条原则）。",
    "flows.note.pod_to_external": "离开集群时，Pod 的地址被伪装成节点的地址（CNI 的 ipMasq 规则）；conntrack 在应答时撤销它。",
    "flows.note.external_to_cluster_ip": ("网络把 Service 网段经节点 {node} 路由（serviceCIDRRoute）：该节点的 "
                                          "kube-proxy 对 ClusterIP 做 DNAT；客户端在 Pod 网络之外，所以它被标记为需要"
                                          "地址伪装（KUBE-MARK-MASQ），后端看到的是节点的地址；应答时 conntrack "
                                          "撤销这两次转换。"),
    "flows.note.external_to_pod": ("Pod IP 和 ClusterIP 在集群外不路由：要从集群外访问 Pod，请通过 Service 的 NodePort、"
                                   "LoadBalancer 或 externalIPs。"),
    "flows.note.pod_to_node.nat": ("flannel 的 ipMasq 会伪装 Pod 发往集群 CIDR 之外任何地址的流量——包括其他节点的 IP——"
                                   "所以那个节点看到的是 Pod 所在节点的地址：真实的 flannel 在这里偏离了原文的第二条原则。"),
    "flows.note.node_to_pod.nat": "节点的地址在途中被改写了：见 NAT 各步（对这条数据路径，原文的第二条原则不成立）。",
    "flows.note.reply_mismatch": "应答没有按原样回来：{problem}。",
    "flows.external_name.unknown": ("客户端接着解析 {name}（它的解析器询问 kube-dns，kube-dns 再向上游转发）。"
                                    "集群没有声明这个主机，所以这里不知道它的地址：用 {address} 代表它。"),
    "flows.note.external_name_unknown": ("{service} 指向 {name}，集群没有声明这个主机：它的地址未知，这里用 {address}"
                                         "（TEST-NET-1）代表它——离开集群的路径（包括地址伪装）对任何集群外地址都一样。"
                                         "在集群的外部主机中声明它，就能显示它的地址。"),
    # --- trace.py: the text form for people -------------------------------------------------------------------
    "trace.text.verdict": "=> {disposition}",
    "trace.text.verdict.reason": "=> {disposition}：{reason}",
    "trace.text.disposition.delivered": "已送达",
    "trace.text.disposition.dropped": "被丢弃",
    "trace.text.disposition.rejected": "被拒绝",
    "trace.text.disposition.no_route": "无路由",
    "trace.text.nat.none": "NAT：无（Pod 地址端到端保持不变）",
    "trace.text.nat": "NAT：{changes}",
    "trace.text.ports": "端口：{changes}（地址保持不变）",
    "trace.text.note": "说明：{note}",
    "trace.text.reply": "应答：",
    # --- nft.py (kube-proxy 的 nftables 模式) ---
    "netfilter.nft.mark": "{chain} 把数据包交给 {target}，打上标记 {mark:#x}：它在发出时将被伪装（masquerading 链）。",
    "netfilter.nft.vmap": ("{chain} 在判决映射 {map}（{count} 个元素）中查找 {key}：无论有多少个 Service，都只是一次哈希"
                           "查找；这个元素把数据包交给 {target}。"),
    "netfilter.nft.choose": ("{path}：{chain} 用 numgen random mod {count} 从 {count} 条端点链中选一条（机会均等）；"
                             "本次追踪走 {chosen}。"),
    "netfilter.nft.choose.affinity": ("sessionAffinity ClientIP：选中的端点链把这个客户端加入它的亲和集合"
                                      "（update @affinity-…）；它之后的连接匹配上面的 ip saddr @affinity-… 规则，不再随机抽选。"),
    "netfilter.nft.cluster_ip_port": "{address} 是一个 ClusterIP，但它的 Service 端口里没有 {port}/{proto}（集合 cluster-ips）",
    "netfilter.nft.unallocated": "{address} 在 Service 网段内，但没有哪个 Service 以它为 ClusterIP",
    # --- policy.py, policy_matrix.py：网络策略（NetworkPolicy） ---
    "policy.same_pod": "{pod} 通过 lo 访问自己的地址：任何 NetworkPolicy 都看不到它",
    "policy.egress.not_a_pod": "{end} 不是 Pod 网络上的 Pod：它发出的流量不受任何 NetworkPolicy 约束",
    "policy.ingress.not_a_pod": "{end} 不是 Pod 网络上的 Pod：它收到的流量不受任何 NetworkPolicy 约束",
    "policy.ingress.own_node": "来自 {peer}，即 {pod} 所在的节点：Pod 不能阻挡自己的节点（Calico 不过滤节点到 Pod 的流量）：允许",
    "policy.egress.not_selected": "没有策略为出站（egress）选中 {pod}：允许",
    "policy.ingress.not_selected": "没有策略为入站（ingress）选中 {pod}：允许",
    "policy.egress.allowed": "{policy} 的 {reference} 允许：端口 {port}，去往 {peer}",
    "policy.ingress.allowed": "{policy} 的 {reference} 允许：端口 {port}，来自 {peer}",
    "policy.egress.denied": "被 {policies} 选中（默认拒绝）：没有规则允许端口 {port} 去往 {peer}",
    "policy.ingress.denied": "被 {policies} 选中（默认拒绝）：没有规则允许端口 {port} 来自 {peer}",
    "policy.hop.egress": "{device}（{pod} 的 veth 在节点一侧）上的 {chain} 检查这个 Pod 的出站流量：{reason}。",
    "policy.hop.ingress": "{device}（{pod} 的 veth 在节点一侧）上的 {chain} 检查这个 Pod 的入站流量：{reason}。",
    "policy.hop.reply": "{device} 上的 {chain}：这是已建立连接的应答；conntrack（ESTABLISHED,RELATED）在任何策略之前就放行它。",
    "policy.not_enforced": "{reason}；但 {plugin} 并不实现 NetworkPolicy：本应被拒绝，却没有执行",
    "policy.established": "已建立连接的应答：conntrack 放行它",
    # --- load problems (webapp.problems.worded) ---
    "load.pod_ip_is_bridge": "{pod} 的 Pod IP {ip} 是节点 {node} 的网桥地址：{bridge} 以 podCIDR {cidr} 的第一个地址作为 "
                             "Pod 的网关，host-local 从不把它分给 Pod",
    "load.iptables_only.localhost_node_ports": "iptables.localhostNodePorts 只对 kube-proxy 的 iptables 模式有效："
                                               "{mode} 模式忽略它",
    "load.iptables_only.nfacct": "节点 {node} 的 nfacct 不起作用：kube-proxy 只在 iptables 模式下写 nfacct 计数器，"
                                 "而本集群以 {mode} 模式运行它",
    "load.health_check_node_port.range": "healthCheckNodePort {port} 不在范围 {low}-{high} 内",
    "load.health_check_node_port.used": "healthCheckNodePort {port} 已被 {owner} 使用",
    "load.health_check_node_port.not_local": "只有 `type` 为 'LoadBalancer' 且 `externalTrafficPolicy` 为 'Local' "
                                             "时才能设置 healthCheckNodePort",
}

MESSAGES: dict[str, dict[str, str]] = {"en": _EN, "zh": _ZH}
"""Language → message id → template. Every language has the same keys, and each template the same fields."""


def current_language() -> str:
    """The language `say` formats in this thread or task."""
    return _current.get()


@contextmanager
def narration_language(language: str) -> Iterator[str]:
    """Narrate in `language` inside the block (ValueError for a language the catalogue lacks)."""
    if language not in MESSAGES:
        raise ValueError(f"no narration in language {language!r} (known: {', '.join(MESSAGES)})")
    token = _current.set(language)
    try:
        yield language
    finally:
        _current.reset(token)


@cache
def fields(key: str, language: str = LANGUAGE) -> frozenset[str]:
    """The field names a template expects."""
    return frozenset(name for _, name, _, _ in Formatter().parse(MESSAGES[language][key]) if name)


def say(key: str, /, **values: object) -> str:
    """The sentence of message `key` in the current language with `values` filled in. KeyError for an unknown
    key, a missing field or an unexpected one."""
    language = _current.get()
    template = MESSAGES[language][key]
    unexpected = set(values) - fields(key, language)
    if unexpected:
        raise KeyError(f"{key}: unexpected field(s) {', '.join(sorted(unexpected))}")
    return template.format(**values)
