"""The diagram's own words — labels and hover texts that are not names or addresses — in every language, keyed by
message id (`word(key, **fields)` speaks the current narration language, `webapp.narration.narration_language`).
Terms follow docs/glossary.md. Core module: no dash."""

from __future__ import annotations

from typing import Mapping

from webapp.narration import current_language

FIGURE_CATALOGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "pod.down": " · down",
        "pod.not_ready": " · not ready",
        "pod.more_containers": "+{count} more",
        "pod.hover": "pod {pod}<br>{ip} on {node}",
        "pod.hover.host_network": "hostNetwork pod {pod}<br>{ip} on {node}",
        "node.not_ready": "  (NotReady)",
        "node.hover": "node {node}<br>{ip}",
        "node.hidden": "{count} pods of other namespaces hidden",
        "node.more_pods": "+{count} more pods",
        "node.show_all": "click to show all",
        "node.more_pods.hover": "node {node}: {count} more pods — click to show them",
        "bridge.ovs_port": "  (port on OVS)",
        "proxy.userspace": "userspace proxy",
        "proxy.nftables": "nftables: table kube-proxy",
        "routes": "routes",
        "overlay.ovs_ports": "VXLAN ports, UDP {port}",
        "services": "Services",
        "service.hover": "service {service} ({type})",
        "services.count": "{count} services",
        "services.count.one": "1 service",
        "services.namespace.hover": "namespace {namespace}: {count} services (click to filter)",
        "tile.pods": "{count} pods",
        "tile.pods.one": "1 pod",
        "tile.not_ready": "✖ {count} not ready",
        "tile.hover": "node {node} ({ip}): {pods}{health} — click to expand",
        "tile.hover.health": ", {health}",
        "tile.hover.node_not_ready": ", node NotReady",
        "overview": "<b>{count} nodes</b> · click a tile to expand it · colour: share of pods not ready, ✖ dark red: "
                    "node NotReady",
        "overview.groups": "<b>{count} nodes in groups</b> · click a group to open it",
        "group.counts": "{nodes} nodes · {pods} pods",
        "group.unready": "{percent} % pods not ready",
        "group.all_ready": "all pods ready",
        "group.nodes_not_ready": "✖ {count} NotReady",
        "group.hover": ("{title}<br>{nodes} nodes, {pods} pods<br>{unready} pods not ready ({percent} %), "
                        "{not_ready} nodes NotReady<br>click to open"),
        "group.close": "{title}: click to close the group",
        "network": "physical network",
        "network.cidr": "physical network  {cidr}",
        "tunnel": "VXLAN tunnel (VNI {vni}, UDP {port})",
        "tunnel.present": "VXLAN tunnel, UDP {port}",
        "external.client": "external client",
        "external.internet": "internet",
        "external.hover": "external host {host} {ip}",
        "lb": "cloud load balancer",
        "lb.present": "load balancer",
        "lb.no_ip": "(no LoadBalancer IP)",
        "packet.encapsulate": "VXLAN encap",
        "packet.decapsulate": "decap",
        "packet.proxy": "proxy",
        "packet.reply": "reply",
    },
    "zh": {
        "pod.down": " · 宕机",
        "pod.not_ready": " · 未就绪",
        "pod.more_containers": "另有 {count} 个",
        "pod.hover": "Pod {pod}<br>{ip}，在 {node} 上",
        "pod.hover.host_network": "hostNetwork Pod {pod}<br>{ip}，在 {node} 上",
        "node.not_ready": "  （NotReady）",
        "node.hover": "节点 {node}<br>{ip}",
        "node.hidden": "隐藏了其他命名空间的 {count} 个 Pod",
        "node.more_pods": "另有 {count} 个 Pod",
        "node.show_all": "点击显示全部",
        "node.more_pods.hover": "节点 {node}：另有 {count} 个 Pod——点击显示",
        "bridge.ovs_port": "  （OVS 端口）",
        "proxy.userspace": "userspace 代理",
        "proxy.nftables": "nftables：kube-proxy 表",
        "routes": "路由",
        "overlay.ovs_ports": "VXLAN 端口，UDP {port}",
        "services": "Services",
        "service.hover": "Service {service}（{type}）",
        "services.count": "{count} 个 Service",
        "services.count.one": "1 个 Service",
        "services.namespace.hover": "命名空间 {namespace}：{count} 个 Service（点击筛选）",
        "tile.pods": "{count} 个 Pod",
        "tile.pods.one": "1 个 Pod",
        "tile.not_ready": "✖ {count} 个未就绪",
        "tile.hover": "节点 {node}（{ip}）：{pods}{health}——点击展开",
        "tile.hover.health": "，{health}",
        "tile.hover.node_not_ready": "，节点 NotReady",
        "overview": "<b>{count} 个节点</b> · 点击方块展开 · 颜色：未就绪 Pod 的比例，✖ 深红：节点 NotReady",
        "overview.groups": "<b>{count} 个节点，已分组</b> · 点击一个组打开它",
        "group.counts": "{nodes} 个节点 · {pods} 个 Pod",
        "group.unready": "{percent} % 的 Pod 未就绪",
        "group.all_ready": "Pod 全部就绪",
        "group.nodes_not_ready": "✖ {count} 个 NotReady",
        "group.hover": ("{title}<br>{nodes} 个节点，{pods} 个 Pod<br>{unready} 个 Pod 未就绪（{percent} %），"
                        "{not_ready} 个节点 NotReady<br>点击打开"),
        "group.close": "{title}：点击收起这个组",
        "network": "节点网络",
        "network.cidr": "节点网络  {cidr}",
        "tunnel": "VXLAN 隧道（VNI {vni}，UDP {port}）",
        "tunnel.present": "VXLAN 隧道，UDP {port}",
        "external.client": "外部客户端",
        "external.internet": "互联网",
        "external.hover": "外部主机 {host} {ip}",
        "lb": "云负载均衡器",
        "lb.present": "负载均衡器",
        "lb.no_ip": "（没有 LoadBalancer IP）",
        "packet.encapsulate": "VXLAN 封装",
        "packet.decapsulate": "解封装",
        "packet.proxy": "代理",
        "packet.reply": "应答",
    },
}
"""Language → message id → template: the same keys and fields in every language (tests/test_catalogs.py)."""


def word(key: str, /, **fields: object) -> str:
    """The diagram's text `key` in the current narration language (English for a language it lacks)."""
    catalog = FIGURE_CATALOGS.get(current_language(), FIGURE_CATALOGS["en"])
    return catalog[key].format(**fields)
