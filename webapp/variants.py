"""Live "what if" settings applied to a loaded cluster: kube-proxy mode, overlay, externalTrafficPolicy, backend
pods marked down, the network plugin (does it enforce NetworkPolicy?) and NetworkPolicies switched off. Each
returns a new frozen `Cluster`; the loaded one is never changed."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass

from webapp.model import Cluster, KubeProxyMode, NetworkPlugin, Overlay, ServiceType, TrafficPolicy


@dataclass(frozen=True)
class ViewSettings:
    """What the viewer changed; None keeps the cluster's own value."""

    kube_proxy_mode: KubeProxyMode | None = None
    overlay: Overlay | None = None
    external_traffic_policy: TrafficPolicy | None = None
    """Applied to every NodePort and LoadBalancer service (the only types that have one)."""
    down_pods: frozenset[str] = frozenset()
    network_plugin: NetworkPlugin | None = None
    """flannel (enforces no NetworkPolicy) or canal (enforces it); ignored where the plugin cannot run the
    overlay (`plugin_conflict`)."""
    policies_off: frozenset[str] = frozenset()
    """NetworkPolicies (`namespace/name`) switched off: the cluster as if they were not applied."""

    @property
    def is_default(self) -> bool:
        return self == ViewSettings()

    @classmethod
    def parse(cls, mode: str | None = None, overlay: str | None = None, policy: str | None = None,
              down: object = (), plugin: str | None = None, policies_off: object = ()) -> ViewSettings:
        """From the web page's values (unknown values are ignored, as a URL may carry anything)."""
        def pick(enum, value):
            try:
                return enum(value) if value else None
            except ValueError:
                return None
        down_pods = frozenset(str(p) for p in (down or ()) if p)
        off = frozenset(str(p) for p in (policies_off or ()) if p)
        return cls(pick(KubeProxyMode, mode), pick(Overlay, overlay), pick(TrafficPolicy, policy), down_pods,
                   pick(NetworkPlugin, plugin), off)

    def values(self) -> dict[str, str | list[str] | None]:
        """The web page's values of these settings, by `parse`'s parameter names (`parse(**values())` is them)."""
        def named(value: object) -> str | None:
            return str(value) if value is not None else None
        return {"mode": named(self.kube_proxy_mode), "overlay": named(self.overlay),
                "policy": named(self.external_traffic_policy), "down": sorted(self.down_pods),
                "plugin": named(self.network_plugin), "policies_off": sorted(self.policies_off)}


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
    plugin = view.network_plugin
    if plugin is not None and plugin != settings.network_plugin and plugin_conflict(
            plugin, changes.get("overlay", settings.overlay)) is None:
        changes["network_plugin"] = plugin
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
    if view.policies_off:
        kept = tuple(p for p in cluster.network_policies if p.key not in view.policies_off)
        if len(kept) != len(cluster.network_policies):
            replaced["network_policies"] = kept
    if not replaced:
        return cluster
    return dataclasses.replace(cluster, **replaced)


def backend_pods(cluster: Cluster) -> tuple[str, ...]:
    """Pods that back at least one service (the ones worth marking down), sorted."""
    return tuple(sorted({ep.pod for ep in cluster.endpoints if ep.pod and ep.pod in cluster.pod_by_key}))


def plugin_conflict(plugin: NetworkPlugin | str, overlay: Overlay) -> str | None:
    """Why `plugin` cannot run this overlay (canal is flannel's datapath: no ovs-vxlan), or None."""
    if NetworkPlugin(plugin) == NetworkPlugin.CANAL and overlay == Overlay.OVS_VXLAN:
        return "canal runs flannel's datapath: it cannot draw the ovs-vxlan overlay"
    return None


def override_network_plugin(cluster: Cluster, plugin: NetworkPlugin | str) -> Cluster:
    """The same cluster with another network plugin (`--network-plugin`, the page's what-if); raises ValueError
    when the plugin cannot run the cluster's overlay."""
    plugin = NetworkPlugin(plugin)
    problem = plugin_conflict(plugin, cluster.settings.overlay)
    if problem is not None:
        raise ValueError(problem)
    if plugin == cluster.settings.network_plugin:
        return cluster
    return dataclasses.replace(cluster, settings=dataclasses.replace(cluster.settings, network_plugin=plugin))


def network_plugins(cluster: Cluster) -> tuple[NetworkPlugin, ...]:
    """The plugins the page may offer for this cluster (its own first, then those that can run its overlay)."""
    own = cluster.settings.network_plugin
    return (own, *(p for p in NetworkPlugin if p != own and plugin_conflict(p, cluster.settings.overlay) is None))


def policy_keys(cluster: Cluster) -> tuple[str, ...]:
    """The NetworkPolicies (`namespace/name`) the page may switch off, in the cluster's (namespace/name) order."""
    return tuple(p.key for p in cluster.network_policies)


NETWORK_PLUGIN_HELP = "override the network plugin the input declares (what if it enforced?)"


def add_network_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """`--network-plugin flannel|canal` on a command that loads a cluster."""
    parser.add_argument("--network-plugin", choices=[str(p) for p in NetworkPlugin], help=NETWORK_PLUGIN_HELP)


def apply_network_plugin(cluster: Cluster, args: argparse.Namespace, command: str) -> Cluster | None:
    """The cluster with `--network-plugin` applied; None (and a message on stderr) when it cannot be."""
    plugin = getattr(args, "network_plugin", None)
    if not plugin:
        return cluster
    try:
        return override_network_plugin(cluster, plugin)
    except ValueError as error:
        print(f"{command}: --network-plugin {plugin}: {error}", file=sys.stderr)
        return None
