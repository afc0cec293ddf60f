"""The engine's subcommands: `trace` (this module) and `rules` (kube-proxy's rules, from
webapp.engine.kubeproxy.rules_command). docs/trace-contract.md describes `trace`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from webapp.model import Cluster
from webapp.variants import add_network_plugin_argument, apply_network_plugin

# Further engine subcommands, registered after `trace`: (module, its register function).
EXTRA_COMMANDS: tuple[tuple[str, str], ...] = (("webapp.engine.kubeproxy.rules_command", "register_rules"),)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    trace = subparsers.add_parser(
        "trace", help="walk a packet hop by hop from SRC to DST, with its reply",
        description="SRC: pod/[NS/]NAME[:CONTAINER] | node/NAME | IP.  "
                    "DST: IP:PORT | pod/[NS/]NAME:PORT | svc/[NS/]NAME[:PORT] | node/NAME:PORT | localhost:PORT.")
    trace.add_argument("paths", nargs="*", metavar="PATH", help="cluster YAML / manifests (files or folders)")
    trace.add_argument("--sample", metavar="NAME", help="use a built-in sample instead of PATHs")
    trace.add_argument("--from", dest="src", required=True, metavar="SRC")
    trace.add_argument("--to", dest="dst", required=True, metavar="DST")
    trace.add_argument("--proto", choices=("tcp", "udp", "sctp"),
                       help="default: the protocol the destination port is declared with (tcp if it is among them or "
                            "none is; else udp, else sctp)")
    trace.add_argument("--backend", metavar="IP", help="prefer this endpoint where a load balancer chooses")
    trace.add_argument("--json", action="store_true", help="print the trace as one JSON object")
    add_max_bytes(trace)
    add_network_plugin_argument(trace)
    trace.set_defaults(run=run_trace)
    for name, function in EXTRA_COMMANDS:
        getattr(importlib.import_module(name), function)(subparsers)


def add_max_bytes(parser: argparse.ArgumentParser) -> None:
    """`--max-bytes N` (webapp.loaders.commands.add_max_bytes)."""
    from webapp.loaders.commands import add_max_bytes as add

    add(parser)


def cluster_of_arguments(args: argparse.Namespace, command: str) -> Cluster | int:
    """The cluster of the command's PATHs or --sample, --network-plugin applied; or an exit code after saying why
    not (1: it does not load, 2: the plugin cannot run it)."""
    cluster = load_cluster(args.paths, args.sample, args.max_bytes)
    if cluster is None:
        return 1
    cluster = apply_network_plugin(cluster, args, command)
    return 2 if cluster is None else cluster


def load_cluster(paths: list[str], sample: str | None, max_bytes: int | None = None) -> Cluster | None:
    """The cluster of PATHs or of a sample; prints each problem (but notices) once to stderr and returns None
    when it does not load. `max_bytes`: the size limit of one file (default: the loaders' MAX_BYTES)."""
    from webapp.loaders import load_paths, load_sample
    from webapp.loaders.documents import MAX_BYTES
    from webapp.problems import LoadError

    if sample or not paths:
        if paths:
            print("give PATHs or --sample, not both", file=sys.stderr)
            return None
        try:
            return load_sample(sample) if sample else load_sample()
        except KeyError as error:
            print(error.args[0], file=sys.stderr)
            return None
        except LoadError as error:
            print(error, file=sys.stderr)
            return None
    result = load_paths(paths, max_bytes=MAX_BYTES if max_bytes is None else max_bytes)
    for problem in dict.fromkeys(result.problems):
        if problem.severity != "notice":
            print(problem, file=sys.stderr)
    return result.cluster


def run_trace(args: argparse.Namespace) -> int:
    from webapp.engine.flows import trace_flow

    cluster = cluster_of_arguments(args, "k8s-netviz trace")
    if isinstance(cluster, int):
        return cluster
    try:
        trace = trace_flow(cluster, args.src, args.dst, args.proto, backend=args.backend)
    except ValueError as error:
        print(f"k8s-netviz trace: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(trace.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(trace.text(explain=True) + "\n")
    return 0
