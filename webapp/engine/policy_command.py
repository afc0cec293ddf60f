"""`policy`: the NetworkPolicy reachability matrix of a cluster for one port (docs/network-policy.md)."""

from __future__ import annotations

import argparse
import json
from webapp.engine.policy_matrix import CellState, PolicyMatrix, policy_matrix
from webapp.model import Cluster
from webapp.variants import add_network_plugin_argument

SYMBOL = {CellState.ALLOWED: "+", CellState.DENIED: "x", CellState.NOT_ENFORCED: "~"}
MAX_LISTED = 400
"""Cells not allowed are listed with their reason up to this many; beyond, only the counts."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    policy = subparsers.add_parser(
        "policy", help="which pods may connect to which on a port, by the NetworkPolicies",
        description="The reachability matrix (pods × pods) of the cluster's NetworkPolicies for one port, and "
                    "whether the network plugin enforces it.")
    policy.add_argument("paths", nargs="*", metavar="PATH", help="cluster YAML / manifests (files or folders)")
    policy.add_argument("--sample", metavar="NAME", help="use a built-in sample instead of PATHs")
    policy.add_argument("--port", type=int, required=True, metavar="N", help="destination port")
    policy.add_argument("--proto", choices=("tcp", "udp", "sctp"), default="tcp")
    policy.add_argument("--namespace", metavar="NS", help="only the pods of this namespace")
    add_network_plugin_argument(policy)
    policy.add_argument("--json", action="store_true", help="print the matrix as one JSON object")
    from webapp.engine.commands import add_max_bytes

    add_max_bytes(policy)
    policy.set_defaults(run=run_policy)


def run_policy(args: argparse.Namespace) -> int:
    from webapp.engine.commands import cluster_of_arguments

    cluster = cluster_of_arguments(args, "k8s-netviz policy")
    if isinstance(cluster, int):
        return cluster
    if not 1 <= args.port <= 65535:
        print(f"--port {args.port}: expected a port number (1-65535)")
        return 2
    if args.namespace and args.namespace not in {p.namespace for p in cluster.pods}:
        print(f"--namespace {args.namespace}: no pod in that namespace")
        return 2
    matrix = policy_matrix(cluster, args.port, args.proto.upper(), args.namespace)
    if args.json:
        print(json.dumps(matrix.to_json(cluster), indent=1))
    else:
        print(render_matrix(cluster, matrix))
    return 0


def render_matrix(cluster: Cluster, matrix: PolicyMatrix) -> str:
    """The matrix as text: a header, a grid (rows: from, columns: to) and the reason of each cell not allowed."""
    counts = matrix.counts()
    enforcement = (f"{matrix.plugin} enforces NetworkPolicy" if matrix.enforced
                   else f"{matrix.plugin} does not enforce NetworkPolicy: denied cells are delivered")
    lines = [
        f"port {matrix.port}/{matrix.protocol} · {enforcement} · {len(matrix.pods)} pods: "
        + ", ".join(f"{counts[state]} {state}" for state in CellState),
        f"rows: from, columns: to · {SYMBOL[CellState.ALLOWED]} allowed, {SYMBOL[CellState.DENIED]} denied, "
        f"{SYMBOL[CellState.NOT_ENFORCED]} would be denied, not enforced",
        "",
    ]
    width = max((len(p) for p in matrix.pods), default=0)
    number = len(str(len(matrix.pods)))
    lines.append(" " * (width + number + 3) + " ".join(str(i % 10) for i in range(1, len(matrix.pods) + 1)))
    for i, src in enumerate(matrix.pods, 1):
        cells = " ".join(SYMBOL[matrix.state(src, dst)] for dst in matrix.pods)
        lines.append(f"{i:>{number}} {src:<{width}}  {cells}")
    listed = [(s, d) for s in matrix.pods for d in matrix.pods if matrix.state(s, d) != CellState.ALLOWED]
    if listed and len(listed) <= MAX_LISTED:
        lines += ["", "not allowed:"]
        lines += [f"  {s} → {d}: {matrix.reason(cluster, s, d)}" for s, d in listed]
    return "\n".join(lines)
