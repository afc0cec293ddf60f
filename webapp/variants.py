"""Live "what if" settings applied to a loaded cluster: kube-proxy mode, overlay, externalTrafficPolicy and
backend pods marked down. Each returns a new frozen `Cluster`; the loaded one is never changed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from webapp.model import Cluster, KubeProxyMode, Overlay, ServiceType, TrafficPolicy


@dataclass(frozen=True)
class ViewSettings:
    """What the viewer changed; None keeps the cluster's own value."""

    kube_proxy_mode: KubeProxyMode | None = None
    overlay: Overlay | None = None
    external_traffic_policy: TrafficPolicy | None = None
    """Applied to every NodePort and LoadBalancer service (the only types that have one)."""
    down_pods: frozenset[str] = frozenset()

    @property
    def is_default(self) -> bool:
        return self == ViewSettings()

    @classmethod
    def parse(cls, mode: str | None = None, overlay: str | None = None, policy: str | None = None,
              down: object = ()) -> ViewSettings:
        """From the web page's values (unknown values are ignored, as a URL may carry anything)."""
        def pick(enum, value):
            try:
                return enum(value) if value else None
            except ValueError:
                return None
        down_pods = frozenset(str(p) for p in (down or ()) if p)
        return cls(pick(KubeProxyMode, mode), pick(Overlay, overlay), pick(TrafficPolicy, policy), down_pods)


def apply_view_settings(cluster: Cluster, view: ViewSettings) -> Cluster:
    """`cluster` as it would be with `view`'s settings; the same object when nothing changes."""
    if view.is_default:
        return cluster
    settings = cluster.settings
    changes: dict[str, object] = {}
    if view.kube_proxy_mode is not None and view.kube_proxy_mode != settings.kube_proxy_mode:
        changes["kube_proxy_mode"] = view.kube_proxy_mode
    if view.overlay is not None and view.overlay != settings.overlay:
        changes["overlay"] = view.overlay
        # The overlay comes with the CNI that programs it, and so with that CNI's masquerade rules: flannel
        # exempts pod-to-pod traffic (FLANNEL-POSTRTG), where Docker's bridge rule would masquerade it.
        changes["cni"] = "ovs" if view.overlay == Overlay.OVS_VXLAN else "flannel"
        if view.overlay in (Overlay.FLANNEL_VXLAN, Overlay.OVS_VXLAN):
            changes["vxlan_port"] = view.overlay.default_vxlan_port
    replaced: dict[str, object] = {}
    if changes:
        replaced["settings"] = dataclasses.replace(settings, **changes)
    policy = view.external_traffic_policy
    if policy is not None:
        services = tuple(
            dataclasses.replace(s, external_traffic_policy=policy)
            if s.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER) and s.external_traffic_policy != policy
            else s
            for s in cluster.services
        )
        if any(a is not b for a, b in zip(services, cluster.services)):
            replaced["services"] = services
    down = frozenset(p for p in view.down_pods if p in cluster.pod_by_key)
    if down != cluster.down_pods:
        replaced["down_pods"] = down
    if not replaced:
        return cluster
    return dataclasses.replace(cluster, **replaced)


def backend_pods(cluster: Cluster) -> tuple[str, ...]:
    """Pods that back at least one service (the ones worth marking down), sorted."""
    return tuple(sorted({ep.pod for ep in cluster.endpoints if ep.pod and ep.pod in cluster.pod_by_key}))
