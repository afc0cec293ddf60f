"""The CNI's own iptables rules on a node, in `iptables-restore` form (rulesets.node_ruleset adds them to
kube-proxy's).

flannel (ipMasq, the kube-flannel.yml default): the rules of flannel-io/flannel
pkg/trafficmngr/iptables/iptables.go `masqRules` and `forwardRules` — chain FLANNEL-POSTRTG in nat (jumped to
from POSTROUTING, comment "flanneld masq"; RETURN for kube-proxy's 0x4000 mark, which is
`trafficmngr.KubeProxyMark`; RETURN pod↔cluster; MASQUERADE pod→outside and host→pods) and FLANNEL-FWD in
filter (comment "flanneld forward"). `--random-fully` is written as flannel does when iptables supports it.

Other CNIs on a Docker-style bridge (the seed article's docker0): Docker's own masquerade rule
`-A POSTROUTING -s <bridge subnet> ! -o <bridge> -j MASQUERADE`.
"""

from __future__ import annotations

from webapp.model import Cluster

MULTICAST = "224.0.0.0/4"
KUBE_PROXY_MASQ_MARK = "0x4000/0x4000"


def render_cni_rules(cluster: Cluster, node_name: str) -> str:
    """The CNI's masquerade (nat) and forward (filter) rules for one node; empty when ipMasq is off."""
    node = cluster.node_by_name.get(node_name)
    if node is None:
        raise ValueError(f"node {node_name!r} not found")
    settings = cluster.settings
    if not settings.ip_masq:
        return ""
    cluster_cidr, pod_cidr = str(settings.pod_cidr), str(node.pod_cidr)
    if settings.cni != "flannel":
        bridge = str(settings.bridge)
        return "\n".join(["*nat", f"-A POSTROUTING -s {pod_cidr} ! -o {bridge} -j MASQUERADE", "COMMIT", ""])
    masq = '-m comment --comment "flanneld masq"'
    fwd = '-m comment --comment "flanneld forward"'
    lines = [
        "*nat",
        ":FLANNEL-POSTRTG - [0:0]",
        f"-A POSTROUTING {masq} -j FLANNEL-POSTRTG",
        f"-A FLANNEL-POSTRTG -m mark --mark {KUBE_PROXY_MASQ_MARK} {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG -s {pod_cidr} -d {cluster_cidr} {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG -s {cluster_cidr} -d {pod_cidr} {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG ! -s {cluster_cidr} -d {pod_cidr} {masq} -j RETURN",
        f"-A FLANNEL-POSTRTG -s {cluster_cidr} ! -d {MULTICAST} {masq} -j MASQUERADE --random-fully",
        f"-A FLANNEL-POSTRTG ! -s {cluster_cidr} -d {cluster_cidr} {masq} -j MASQUERADE --random-fully",
        "COMMIT",
        "*filter",
        ":FLANNEL-FWD - [0:0]",
        f"-A FORWARD {fwd} -j FLANNEL-FWD",
        f"-A FLANNEL-FWD -s {cluster_cidr} {fwd} -j ACCEPT",
        f"-A FLANNEL-FWD -d {cluster_cidr} {fwd} -j ACCEPT",
        "COMMIT",
        "",
    ]
    return "\n".join(lines)
