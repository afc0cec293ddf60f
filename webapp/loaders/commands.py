"""`validate` and `show`: check inputs the way the app loads them, and print the cluster they make."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from webapp.loaders import DEFAULT_SAMPLE, LoadResult, list_samples, load_paths
from webapp.loaders.documents import MAX_BYTES
from webapp.model import Cluster, ServiceType
from webapp.problems import Severity
from webapp.variants import add_network_plugin_argument, apply_network_plugin


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    validate = subparsers.add_parser("validate", help="check cluster YAML / manifests; exit 1 on errors")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="files, folders or sample names")
    validate.add_argument("--sample", metavar="NAME", help="a built-in sample instead of PATHs (as in `trace`, `rules`)")
    add_max_bytes(validate)
    validate.add_argument("-v", "--verbose", action="store_true", help="also print notices (skipped kinds, defaults)")
    validate.set_defaults(run=run_validate)

    show = subparsers.add_parser("show", help="print the cluster: nodes, pods, services and endpoints")
    show.add_argument("paths", nargs="*", metavar="PATH",
                      help=f"files, folders or a sample name (default: the {DEFAULT_SAMPLE} sample)")
    show.add_argument("--sample", metavar="NAME", help="a built-in sample instead of PATHs (as in `trace`, `rules`)")
    show.add_argument("--node", metavar="NODE", help="also print this node's datapath tables")
    add_max_bytes(show)
    add_network_plugin_argument(show)
    show.set_defaults(run=run_show)


def add_max_bytes(parser: argparse.ArgumentParser) -> None:
    """`--max-bytes N`, the size limit of one input file, on a command that reads files."""
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, metavar="N",
                        help=f"size limit of one input file in bytes (default {MAX_BYTES})")


def load_arguments(paths: list[str], max_bytes: int = MAX_BYTES) -> LoadResult:
    """Load command-line PATHs: files, folders or sample names (no PATH: the default sample)."""
    samples = {s.name: s.path for s in list_samples()}
    resolved = [str(samples[p]) if p in samples and not Path(p).exists() else p for p in paths or [DEFAULT_SAMPLE]]
    return load_paths(resolved, max_bytes=max_bytes)


_load = load_arguments  # the name webapp/lab/commands.py imports


def print_problems(result: LoadResult, out: TextIO, verbose: bool = False) -> None:
    """`FILE:LINE:COL: severity: message` lines (notices only when verbose)."""
    for problem in result.problems:
        if problem.severity != Severity.NOTICE or verbose:
            out.write(f"{problem}\n")


def run_validate(args: argparse.Namespace) -> int:
    if args.sample and args.paths or not (args.sample or args.paths):
        print("k8s-netviz validate: give PATHs or --sample NAME (one of the two)", file=sys.stderr)
        return 2
    if args.sample and args.sample not in {s.name for s in list_samples()}:
        print(f"k8s-netviz validate: no sample named {args.sample!r}; samples: "
              f"{', '.join(s.name for s in list_samples())}", file=sys.stderr)
        return 2
    result = load_arguments([args.sample] if args.sample else args.paths, args.max_bytes)
    print_problems(result, sys.stdout, args.verbose)
    errors, warnings = len(result.errors), len(result.warnings)
    print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}", file=sys.stderr)
    return 1 if errors else 0


def run_show(args: argparse.Namespace) -> int:
    if args.sample and args.paths:
        print("give PATHs or --sample, not both", file=sys.stderr)
        return 1
    result = load_arguments([args.sample] if args.sample else args.paths, args.max_bytes)
    print_problems(result, sys.stderr)
    if result.cluster is None:
        return 1
    cluster = apply_network_plugin(result.cluster, args, "k8s-netviz show")
    if cluster is None:
        return 2
    sys.stdout.write(render_summary(cluster))
    if args.node:
        if args.node not in cluster.node_by_name:
            print(f"no node named {args.node!r}; nodes: {', '.join(n.name for n in cluster.nodes)}", file=sys.stderr)
            return 1
        from webapp.engine.datapath import render_node_tables

        sys.stdout.write(f"\nDatapath of {args.node}\n")
        sys.stdout.write(render_node_tables(cluster, args.node))
    return 0


def render_summary(cluster: Cluster) -> str:
    """The readable summary `show` prints: settings, nodes with their pods, services with their endpoints."""
    s = cluster.settings
    lines = [
        f"Cluster {cluster.name}" + (f" — {cluster.description}" if cluster.description else ""),
        f"  network: {s.cni} {s.overlay}, bridge {s.bridge}, pods {s.pod_cidr}, services {s.service_cidr}, "
        f"DNS {s.cluster_dns_ip}, kube-proxy {s.kube_proxy_mode}, nodePorts {s.node_port_range[0]}-"
        f"{s.node_port_range[1]}",
        f"  network plugin: {s.network_plugin} ("
        + ("enforces NetworkPolicy" if s.enforces_policy else "enforces no NetworkPolicy") + ")",
        "",
        "Nodes",
    ]
    for node in cluster.nodes:
        state = "" if node.ready else "  (NotReady)"
        more = "".join(f" +{address}" for address in node.addresses)  # the NIC's further addresses
        lines.append(f"  {node.name}  {node.internal_ip}{more} ({node.nic})  podCIDR {node.pod_cidr}{state}")
        for pod in cluster.pods_by_node.get(node.name, ()):
            flags = [f for f, on in (("hostNetwork", pod.host_network), ("not ready", not pod.ready),
                                     ("down", pod.key in cluster.down_pods)) if on]
            names = ", ".join(c.name for c in pod.containers)
            lines.append(f"    {pod.key:<40} {str(pod.pod_ip):<15} [{names}]" + (f"  ({', '.join(flags)})"
                                                                                   if flags else ""))
    lines += ["", "Services"]
    for service in cluster.services:
        if service.type == ServiceType.EXTERNAL_NAME:
            lines.append(f"  {service.key:<40} ExternalName → {service.external_name}")
            continue
        address = "None (headless)" if service.cluster_ip is None else str(service.cluster_ip)
        extra = ""
        if service.external_ips:
            extra += "  externalIPs " + ",".join(map(str, service.external_ips))
        if service.load_balancer_ips:
            extra += "  loadBalancer " + ",".join(map(str, service.load_balancer_ips))
        lines.append(f"  {service.key:<40} {service.type} {address}{extra}")
        for port in service.ports:
            node_port = f" nodePort {port.node_port}" if port.node_port else ""
            label = f"{port.name}: " if port.name else ""
            backends = [
                ep.address + ("" if ep.ready else " (not ready)") for ep in cluster.endpoints_for(service, port)
            ]
            lines.append(f"    {label}{port.port}/{port.protocol} → {port.target_port}{node_port}: "
                         + (", ".join(backends) or "no endpoints"))
    if cluster.network_policies:
        lines += ["", "NetworkPolicies"]
        for policy in cluster.network_policies:
            kinds = "+".join(str(t) for t in policy.policy_types)
            lines.append(f"  {policy.key:<40} {kinds}: {len(policy.ingress)} ingress, {len(policy.egress)} egress "
                         "rules")
    orphans = sorted(set(cluster.endpoints_by_service) - set(cluster.service_by_key))
    if orphans:
        lines += ["", "Endpoints without a Service"]
        for key in orphans:
            lines.append(f"  {key}")
            for ep in cluster.endpoints_by_service[key]:
                where = ", ".join(x for x in (ep.node and f"node {ep.node}", ep.pod and f"pod {ep.pod}") if x)
                lines.append(f"    {ep.port_name + ': ' if ep.port_name else ''}{ep.address}/{ep.protocol}"
                             + (f" ({where})" if where else "") + ("" if ep.ready else " (not ready)"))
    if cluster.external_hosts:
        lines += ["", "Outside the cluster"]
        for host in cluster.external_hosts:
            lines.append(f"  {host.name}  {host.ip}" + (f"  ({host.dns_name})" if host.dns_name else ""))
    return "\n".join(lines) + "\n"
