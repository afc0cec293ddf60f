"""`k8s-netviz lab up|verify|down|fault`: the loaded cluster's datapath in real network namespaces (needs root)."""

from __future__ import annotations

import argparse
import sys

from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.faults import FAULTS
from webapp.lab.plan import DEFAULT_LAB_ID, LabPlan, PlanError, lab_prefix
from webapp.variants import add_network_plugin_argument, apply_network_plugin

DEFAULT_TIMEOUT = 1.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lab = subparsers.add_parser("lab", help="build the cluster in real network namespaces and verify the traces "
                                            "against the kernel (root)")
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")

    up = sub.add_parser("up", help="build the cluster's nodes, pods, bridges, VXLAN and kube-proxy rules")
    _inputs(up)
    up.set_defaults(run=run_up)

    verify = sub.add_parser("verify", help="run real traffic for every flow (and, with NetworkPolicies, every cell of "
                                           "the policy matrix) and compare with the engine; exit 1 on any "
                                           "disagreement")
    _inputs(verify)
    verify.add_argument("--type", action="append", default=[], metavar="FLOW_TYPE",
                        help="only flows of this type (repeatable), e.g. pod-to-service")
    verify.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds to wait before a probe counts as dropped (default {DEFAULT_TIMEOUT})")
    verify.add_argument("--from", dest="src", metavar="SRC",
                        help="verify one flow from SRC (trace grammar: pod/NS/NAME, node/NAME, an IP) …")
    verify.add_argument("--to", dest="dst", metavar="DST", help="… to DST (IP:PORT, pod/…:PORT, svc/…, node/…:PORT), "
                                                             "and print the engine's trace first")
    verify.add_argument("--proto", choices=("tcp", "udp", "sctp"),
                        help="protocol of --from/--to (default: the port's, as the engine traces it: tcp when "
                             "the port is declared for both)")
    verify.add_argument("--keep", action="store_true",
                        help="keep a lab that verify had to build (default: take it down again)")
    verify.set_defaults(run=run_verify)

    down = sub.add_parser("down", help="remove everything the lab made (also after a crash halfway through up)")
    down.add_argument("--lab", default=DEFAULT_LAB_ID, metavar="ID", help="lab id (default 0)")
    down.add_argument("--all", action="store_true", help="every lab on this machine")
    down.set_defaults(run=run_down)

    fault = sub.add_parser("fault", help="break the running lab on purpose, to watch verify catch it")
    fault.add_argument("kind", choices=FAULTS)
    _inputs(fault)
    fault.add_argument("--node", metavar="NODE", help="node to break (default: the first)")
    fault.set_defaults(run=run_fault)


def _inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files, folders or a sample name (default: the seed-article sample)")
    parser.add_argument("--lab", default=DEFAULT_LAB_ID, metavar="ID",
                        help="lab id: namespaces are named knv<ID>-… (default 0)")
    from webapp.loaders.commands import add_max_bytes

    add_max_bytes(parser)
    add_network_plugin_argument(parser)


def _cluster(args: argparse.Namespace):
    from webapp.loaders.commands import load_arguments, print_problems

    result = load_arguments(args.paths, args.max_bytes)
    if result.cluster is None:
        print_problems(result, sys.stderr)
        return None
    return apply_network_plugin(result.cluster, args, f"lab {args.lab_command}")


def _print_plan(plan: LabPlan) -> None:
    print(f"lab {plan.lab_id} is up: {len(plan.namespaces)} network namespaces, {len(plan.listeners)} listeners")
    for ns in plan.namespaces:
        what = f"{ns.role} {ns.owner}".strip()
        print(f"  {ns.name:<48} {what}")
    node = next((ns for ns in plan.namespaces if ns.role == "node"), None)
    if node is not None:
        overlay = next((d for d in node.devices if d.kind == "vxlan" and d.vxlan), None)
        bridge = next((d.name for d in node.devices if d.kind == "bridge"), "cni0")
        print("watch packets (docs/lab.md), e.g.:")
        print(f"  ip netns exec {node.name} tcpdump -ni {bridge}")
        if overlay is not None and overlay.vxlan is not None:
            print(f"  ip netns exec {node.name} tcpdump -ni {overlay.name}")
            print(f"  ip netns exec {plan.names.underlay} tcpdump -ni underlay0 -T vxlan udp port {overlay.vxlan.port}")
        else:
            print(f"  ip netns exec {plan.names.underlay} tcpdump -ni underlay0 tcp or udp")
    for note in plan.notes:
        print(f"note: {note}")


def _ready(args: argparse.Namespace):
    """(exit code, None) when the lab cannot run here or the input does not load; else (0, cluster)."""
    reason = nx.lab_support()
    if reason:
        print(f"lab: not available here: {reason}", file=sys.stderr)
        return 2, None
    cluster = _cluster(args)
    return (1, None) if cluster is None else (0, cluster)


def run_up(args: argparse.Namespace) -> int:
    code, cluster = _ready(args)
    if cluster is None:
        return code
    from webapp.lab.runner import prepare, up

    try:
        prepared = prepare(cluster, args.lab)
        report = up(prepared, sources=tuple(args.paths))
    except (nx.LabError, PlanError) as exc:
        print(f"lab up: {exc}", file=sys.stderr)
        print(f"(clean up with: k8s-netviz lab down --lab {args.lab})", file=sys.stderr)
        return 1
    _print_plan(prepared.plan)
    print(f"lab up took {report.seconds:.2f} s")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    code, cluster = _ready(args)
    if cluster is None:
        return code
    from webapp.lab.runner import prepare, up, verify
    from webapp.lab.verify import render_report

    try:
        prepared = prepare(cluster, args.lab)
        state = build.read_state(args.lab)
        built_here = False
        if state is None or not state.get("complete"):
            if state is not None or any(n.startswith(lab_prefix(args.lab)) for n in nx.existing_netns()):
                build.lab_down(args.lab)
            up(prepared, sources=tuple(args.paths))
            built_here = True
        elif state.get("digest") != prepared.plan.cluster_digest:
            print(f"lab verify: lab {args.lab} runs another cluster ({', '.join(state.get('sources', [])) or '?'}); "
                  f"take it down first or use another --lab", file=sys.stderr)
            return 1
        flows = [f for f in prepared.flows if not args.type or f.type in args.type]
        if args.src or args.dst:
            single = _single_flow(cluster, args)
            if single is None:
                return 1
            flows = [single]
        # every flow asked for: the NetworkPolicy matrix too, on the policies' ports (webapp.lab.matrix)
        matrix = bool(cluster.network_policies) and not (args.type or args.src or args.dst)
        report = verify(prepared, flows, timeout=args.timeout, matrix=matrix)
    except (nx.LabError, PlanError) as exc:
        print(f"lab verify: {exc}", file=sys.stderr)
        return 1
    finally:
        if "built_here" in locals() and built_here and not args.keep:
            build.lab_down(args.lab)
    print(render_report(report))
    return 1 if report.disagreements or report.cell_disagreements else 0


def _single_flow(cluster, args: argparse.Namespace):
    """The --from/--to flow, with its engine trace printed; None (and a message) when it cannot be traced."""
    from webapp.engine.flows import destination_protocol
    from webapp.lab.verify import FlowSpec, trace_for

    if not (args.src and args.dst):
        print("lab verify: --from and --to go together", file=sys.stderr)
        return None
    proto = args.proto or destination_protocol(cluster, args.dst)
    try:
        trace = trace_for(cluster, FlowSpec("", args.src, args.dst, proto))
    except (ValueError, KeyError) as exc:
        print(f"lab verify: {exc}", file=sys.stderr)
        return None
    print(trace)
    print()
    return FlowSpec(trace.flow.type, args.src, args.dst, proto)


def run_down(args: argparse.Namespace) -> int:
    reason = nx.lab_support()
    if reason:
        print(f"lab: not available here: {reason}", file=sys.stderr)
        return 2
    labs = build.running_labs() if args.all else [args.lab]
    for lab_id in labs:
        try:
            removed = build.lab_down(lab_id)
        except (nx.LabError, PlanError) as exc:
            print(f"lab down {lab_id}: {exc}", file=sys.stderr)
            return 1
        print(f"lab {lab_id}: removed {len(removed)} network namespaces")
    return 0


def run_fault(args: argparse.Namespace) -> int:
    code, cluster = _ready(args)
    if cluster is None:
        return code
    from webapp.lab.faults import inject

    state = build.read_state(args.lab)
    if state is None:
        print(f"lab fault: lab {args.lab} is not up", file=sys.stderr)
        return 1
    try:
        fault = inject(args.kind, cluster, args.lab, args.node, state.get("iptables", "iptables-nft"))
    except (ValueError, KeyError, nx.LabError) as exc:
        print(f"lab fault: {exc}", file=sys.stderr)
        return 1
    print(f"{fault.kind} on node {fault.node}: {fault.what}")
    return 0
