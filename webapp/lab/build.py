"""`lab up` and `lab down`: make a plan's namespaces for real, start the listeners, and remove all of it.

A state file under /run/k8s-netviz records what a lab made; it is written before the first namespace, so
`lab down` also cleans up after a crash halfway through `lab up` (it finds namespaces by prefix, too).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from webapp.lab import netns as nx
from webapp.lab.plan import NETNS_NAME, LabListener, LabNames, LabNetns, LabPlan, PlanError, bridge_commands, \
    check_plan, config_commands, digest_text, lab_prefix, link_commands
from webapp.model import Cluster

STATE_DIR = Path(os.environ.get("K8S_NETVIZ_LAB_STATE", "/run/k8s-netviz"))
LISTENER_SCRIPT = Path(__file__).with_name("listener.py")
READY_TIMEOUT = 10.0


def state_path(lab_id: str) -> Path:
    return STATE_DIR / f"lab-{lab_id}.json"


def read_state(lab_id: str) -> dict | None:
    try:
        return json.loads(state_path(lab_id).read_text())
    except (OSError, ValueError):
        return None


def _write_state(lab_id: str, state: dict) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = state_path(lab_id).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(state_path(lab_id))


def log_dir(lab_id: str) -> Path:
    return STATE_DIR / f"lab-{lab_id}"


@dataclass(frozen=True)
class UpReport:
    seconds: float
    namespaces: int
    listeners: int


def _sysctl_in(netns: str, settings: tuple[tuple[str, str], ...]) -> None:
    """Write per-namespace sysctls from inside the namespace (net.* sysctls follow the writer's netns)."""
    with nx.entered(netns):
        for key, value in settings:
            Path("/proc/sys", *key.split(".")).write_text(value)


def _load_iptables(ns: LabNetns, variant: str) -> None:
    if ns.nfacct and shutil.which("nfacct") is None:
        raise nx.LabError(f"node {ns.owner}'s kube-proxy rules count with nfacct: install Debian's nfacct "
                          "package (or set the node's nfacct: false)")
    for counter in ns.nfacct:  # kube-proxy creates its counters before its rules name them
        nx.run(["nfacct", "add", counter], netns=ns.name)
    for text in ns.iptables:
        nx.run([nx.iptables_tool(variant, "restore"), "--noflush"], netns=ns.name, stdin=text)


def _start_listener(lab_id: str, listener: LabListener) -> tuple[int, Path]:
    logs = log_dir(lab_id)
    ready = logs / f"{listener.netns}.{digest_text(listener.owner)}.ready"   # one per listener, bounded length
    ready.unlink(missing_ok=True)
    argv = ["ip", "netns", "exec", listener.netns, sys.executable, "-I", str(LISTENER_SCRIPT),
            "--pod", listener.owner, "--ready", str(ready)]
    argv += [f"--tcp={port}={container}" for port, container in listener.tcp]
    argv += [f"--udp={port}={container}" for port, container in listener.udp]
    argv += [f"--sctp={port}={container}" for port, container in listener.sctp]
    argv += [f"--{proto}={ip}:{port}={app}" for proto, ip, port, app in listener.bound]
    affinity = dict(listener.proxy_affinity)
    for flag, proxies in (("--proxy-tcp", listener.proxy_tcp), ("--proxy-udp", listener.proxy_udp)):
        argv += [f"{flag}={port}={','.join(backends)}" + (f";affinity={affinity[port]}" if port in affinity else "")
                 for port, backends in proxies]
    with open(logs / f"{listener.netns}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return proc.pid, ready


def _wait_ready(readies: list[tuple[LabListener, Path]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(readies)
    while pending:
        still = []
        for listener, ready in pending:
            text = ready.read_text() if ready.exists() else ""
            if text.startswith("error"):
                raise nx.LabError(f"listener of {listener.owner} in {listener.netns} failed: {text.strip()}")
            if not text:
                still.append((listener, ready))
        pending = still
        if pending and time.monotonic() > deadline:
            raise nx.LabError("listeners not ready after %.0f s: %s" % (
                READY_TIMEOUT, ", ".join(l.owner for l, _ in pending)))
        if pending:
            time.sleep(0.02)


def _links_waiting(netns: str) -> list[str]:
    """Devices of one namespace that are set up but have no carrier yet (the kernel applies carrier changes
    asynchronously; until then a veth drops what it is given)."""
    shown = nx.run(["ip", "-n", netns, "-o", "link", "show", "up"]).stdout
    return [line.split(":")[1].strip() for line in shown.splitlines()
            if "NO-CARRIER" in line or "state DOWN" in line or "state LOWERLAYERDOWN" in line]


def _wait_links(plan: LabPlan) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = [ns.name for ns in plan.namespaces]
    while pending:
        pending = [name for name in pending if _links_waiting(name)]
        if pending and time.monotonic() > deadline:
            raise nx.LabError(f"links without carrier after {READY_TIMEOUT:.0f} s in {', '.join(pending)}")
        if pending:
            time.sleep(0.05)


def reload_policy_rules(cluster: Cluster, lab_id: str, variant: str | None = None) -> int:
    """Reprogram the network plugin's NetworkPolicy chains of every node of a running lab for `cluster` (its
    policies changed, its nodes and pods the same), as Felix does when a policy changes; returns the nodes
    reprogrammed. The other writers' rules are left as they are."""
    from webapp.engine.policy_rules import render_policy_rules

    names = LabNames(lab_id)
    variant = variant or (read_state(lab_id) or {}).get("iptables") or nx.pick_iptables_variant()
    count = 0
    for node in cluster.nodes:
        text = render_policy_rules(cluster, node.name).chains_text()
        if text:
            nx.run([nx.iptables_tool(variant, "restore"), "--noflush"], netns=names.node(node.name), stdin=text)
            count += 1
    return count


def lab_up(plan: LabPlan, *, variant: str | None = None, sources: tuple[str, ...] = ()) -> UpReport:
    """Build the plan in fresh namespaces. Refuses when a namespace with the lab's prefix exists already."""
    check_plan(plan)
    started = time.monotonic()
    prefix = lab_prefix(plan.lab_id)
    clash = [n for n in nx.existing_netns() if n.startswith(prefix)]
    if clash:
        raise nx.LabError(f"lab {plan.lab_id} is already up ({len(clash)} namespaces such as {clash[0]}); "
                          f"run `k8s-netviz lab down --lab {plan.lab_id}` first")
    variant = variant or nx.pick_iptables_variant()
    state = {"lab_id": plan.lab_id, "prefix": prefix, "namespaces": [ns.name for ns in plan.namespaces],
             "listener_pids": [], "digest": plan.cluster_digest, "sources": list(sources),
             "iptables": variant, "complete": False, "notes": list(plan.notes)}
    _write_state(plan.lab_id, state)
    log_dir(plan.lab_id).mkdir(parents=True, exist_ok=True)
    nx.ip_batch([f"netns add {ns.name}" for ns in plan.namespaces])
    for ns in plan.namespaces:
        nx.ip_batch(link_commands(ns), netns=ns.name)
    for ns in plan.namespaces:
        nx.ip_batch(config_commands(ns), netns=ns.name)
        nx.ip_batch(bridge_commands(ns), netns=ns.name, tool="bridge")
        if ns.sysctls:
            _sysctl_in(ns.name, ns.sysctls)
    for ns in plan.namespaces:
        # kube-proxy's nftables table first: at equal hook priority the kernel runs the first registered first,
        # as the engine orders kube-proxy's chains before the CNI's iptables rules (docs/kube-proxy.md).
        for text in ns.nftables:
            nx.run(["nft", "-f", "-"], netns=ns.name, stdin=text)
        if ns.iptables:
            _load_iptables(ns, variant)
    readies = []
    for listener in plan.listeners:
        pid, ready = _start_listener(plan.lab_id, listener)
        state["listener_pids"].append(pid)
        readies.append((listener, ready))
    _write_state(plan.lab_id, state)
    _wait_links(plan)
    _wait_ready(readies)
    state["complete"] = True
    _write_state(plan.lab_id, state)
    return UpReport(time.monotonic() - started, len(plan.namespaces), len(plan.listeners))


def _is_our_listener(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"lab/listener.py") for part in cmdline)


def _alive(pid: int) -> bool:
    """True while the process runs; reaps it when it is our own child, and counts a zombie as gone."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def lab_down(lab_id: str) -> list[str]:
    """Stop the lab's listeners (by pid) and delete every namespace with its prefix. Returns what it removed.

    Works from any state (a crash or SIGKILL halfway through `up`, a damaged state file): it reads only
    what it can, skips what is already gone, and goes on past a namespace it cannot delete (a LabError at the
    end names those)."""
    prefix = lab_prefix(lab_id)
    state = read_state(lab_id)
    state = state if isinstance(state, dict) else {}
    existing = set(nx.existing_netns())  # a name from the state file is never stat()ed: it may be too long
    names = sorted(n for n in existing if n.startswith(prefix) and NETNS_NAME.fullmatch(n))
    listed = state.get("listener_pids")
    pids = {p for p in (listed if isinstance(listed, list) else []) if isinstance(p, int) and _is_our_listener(p)}
    for name in names:
        pids.update(nx.netns_pids(name))
    for pid in sorted(pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3.0
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if names:  # -force: go on past a namespace that cannot be deleted; what is left is named below
        nx.run(["ip", "-force", "-batch", "-"], stdin="".join(f"netns del {n}\n" for n in names), check=False)
    failed = [n for n in names if (nx.NETNS_DIR / n).exists()]
    state_path(lab_id).unlink(missing_ok=True)
    state_path(lab_id).with_suffix(".tmp").unlink(missing_ok=True)
    shutil.rmtree(log_dir(lab_id), ignore_errors=True)
    if failed:
        raise nx.LabError(f"could not delete {len(failed)} namespaces: {', '.join(failed)}")
    return names


def running_labs() -> list[str]:
    """Lab ids with a state file or with namespaces named `knv<id>-…` (ids `lab_prefix` accepts only)."""
    ids = {p.stem.removeprefix("lab-") for p in STATE_DIR.glob("lab-*.json")} if STATE_DIR.is_dir() else set()
    for name in nx.existing_netns():
        if name.startswith("knv") and "-" in name:
            ids.add(name[3:name.index("-")])
    return sorted(i for i in ids if _valid_lab_id(i))


def _valid_lab_id(lab_id: str) -> bool:
    try:
        lab_prefix(lab_id)
    except PlanError:
        return False
    return True
