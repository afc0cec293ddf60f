"""The lab under attack (issue 14): names that would run commands as root, names too long for a file, and
`lab up` or `lab verify` killed at any point. Each hostile name is refused at load, or — when a test builds
the model itself, past the loader — built safely; the host's links, routes, namespaces and iptables do not
change, no marker file appears, and `lab down` leaves nothing behind. Needs root and `ip netns`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from webapp.lab import build
from webapp.lab import netns as nx
from webapp.lab.plan import NETNS_NAME, PlanError, check_plan, config_commands, link_commands
from webapp.lab.runner import prepare, up

sys.path.insert(0, str(Path(__file__).parent))
from factories import two_node_cluster  # noqa: E402
from test_lab import _host_view, _new_id, lab_id  # noqa: E402,F401  (lab_id: the fixture)

SKIP = nx.lab_support()
pytestmark = [pytest.mark.lab, pytest.mark.skipif(SKIP is not None, reason=f"lab: {SKIP}")]
REPO = Path(__file__).resolve().parent.parent


def _marker(lab: str) -> Path:
    return Path(f"/tmp/knv-pwned-{lab}")


def _hostile_names(lab: str) -> dict[str, str]:
    marker = _marker(lab)
    return {
        "newline-netns-exec": f"x\nnetns exec knv{lab}-node-x touch {marker}",
        "newline-link-add": "x\nlink add evil0 type bridge",
        "space": f"x netns exec knv{lab}-node-x touch {marker}",
        "semicolon": f"x;touch {marker}",
        "command-substitution": f"$(touch {marker})",
        "300-characters": "p" * 300,
    }


def _host() -> dict[str, str]:
    """The host's links, addresses, routes, rules and iptables, and its namespaces that are not a lab's (other
    test processes run their own labs meanwhile)."""
    view = _host_view()
    view["netns"] = "\n".join(n for n in nx.existing_netns() if not n.startswith("knv"))
    return view


def _ours(lab: str) -> list[str]:
    return [n for n in nx.existing_netns() if n.startswith(f"knv{lab}-")]


def _cli(*args: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webapp", "lab", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300, **options)


@pytest.mark.parametrize("where", ["node", "pod"])
def test_lab_up_refuses_hostile_names_at_load_and_the_host_is_untouched(where, tmp_path, lab_id):
    before = _host()
    for case, name in _hostile_names(lab_id).items():
        if where == "node":
            cluster = {"nodes": [{"name": name, "pods": [{"name": "web"}]}, {"name": "node-2"}]}
            path, rule = "nodes[0].name", "DNS-1123 subdomain"
        else:
            cluster = {"nodes": [{"name": "node-1", "pods": [{"name": name}]}]}
            path, rule = "nodes[0].pods[0].name", "DNS-1123 subdomain"
        source = tmp_path / f"{case}.yaml"
        source.write_text(yaml.safe_dump(cluster))
        done = _cli("up", str(source), "--lab", lab_id)
        assert done.returncode == 1, case
        first = done.stderr.splitlines()[0]
        assert first.startswith(f"{source}:") and f": error: invalid name {name[:60]!r}"[:40] in first, case
        assert f"not a valid {rule} ({path}) (hint: a {rule}: at most 253 characters" in first, case
        assert _ours(lab_id) == [] and build.read_state(lab_id) is None, case
    assert not _marker(lab_id).exists()
    assert _host() == before


def _hostile_cluster(lab: str):
    """The reference two-node cluster with hostile node and pod names, built past the loader."""
    names = list(_hostile_names(lab).values())
    cluster = two_node_cluster()
    renamed_nodes = {"node-1": names[0], "node-2": names[5]}
    nodes = tuple(replace(n, name=renamed_nodes[n.name]) for n in cluster.nodes)
    renamed_pods = {"client": names[1], "duo": names[2], "clash": names[3], "web-b": names[4]}
    pods = tuple(replace(p, node=renamed_nodes[p.node], name=renamed_pods.get(p.name, p.name))
                 for p in cluster.pods)
    endpoints = tuple(replace(e, node=renamed_nodes[e.node], pod=f"default/{renamed_pods.get(e.pod[8:], e.pod[8:])}")
                      for e in cluster.endpoints)
    return replace(cluster, nodes=nodes, pods=pods, endpoints=endpoints)


def test_the_lab_builds_hostile_names_safely_when_validation_is_bypassed(lab_id):
    before = _host()
    cluster = _hostile_cluster(lab_id)
    prepared = prepare(cluster, lab_id)
    check_plan(prepared.plan)
    assert all(NETNS_NAME.fullmatch(ns.name) and len(ns.name) <= 64 for ns in prepared.plan.namespaces)
    for ns in prepared.plan.namespaces:
        assert all("\n" not in line and ";" not in line for line in link_commands(ns) + config_commands(ns))
    up(prepared)
    during = _host()
    assert len(_ours(lab_id)) == len(prepared.plan.namespaces)
    assert sorted(build.lab_down(lab_id)) == sorted(ns.name for ns in prepared.plan.namespaces)
    assert _ours(lab_id) == [] and build.read_state(lab_id) is None and not build.log_dir(lab_id).exists()
    assert not _marker(lab_id).exists()
    assert during == before and _host() == before


def test_a_plan_with_a_word_that_is_not_a_plain_name_is_refused_before_anything_runs(lab_id):
    prepared = prepare(two_node_cluster(), lab_id)
    node = prepared.plan.namespaces[0]
    bad_device = replace(node.devices[0], master="cni0\nlink add evil0 type bridge")
    plan = replace(prepared.plan, namespaces=(replace(node, devices=(bad_device, *node.devices[1:])),
                                              *prepared.plan.namespaces[1:]))
    with pytest.raises(PlanError, match=r"master 'cni0\\nlink add evil0 type bridge' in knv.* is not a plain name"):
        build.lab_up(plan)
    assert _ours(lab_id) == [] and build.read_state(lab_id) is None


def test_ip_batch_refuses_a_line_that_would_become_two_commands():
    with pytest.raises(nx.LabError, match=r"refused a line holding a line break, NUL or ';': 'netns add a\\nlink"):
        nx.ip_batch(["netns add a\nlink add evil0 type bridge"])
    assert "evil0" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_lab_down_survives_a_damaged_state_file_and_names_too_long_for_a_file(lab_id):
    build.STATE_DIR.mkdir(parents=True, exist_ok=True)
    build.state_path(lab_id).write_text('{"namespaces": ["knv%s-pod-%s", 5, null], "listener_pids": [-1, "x"]}'
                                        % (lab_id, "p" * 300))
    build.log_dir(lab_id).mkdir(exist_ok=True)
    (build.log_dir(lab_id) / "sub").mkdir()
    assert build.lab_down(lab_id) == []
    assert build.read_state(lab_id) is None and not build.log_dir(lab_id).exists()
    done = _cli("down", "--lab", lab_id)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"lab {lab_id}: removed 0 network namespaces\n", "")


def _listeners_of(lab: str) -> list[int]:
    """Processes of the lab's listener script still running."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"lab/listener.py" in cmdline and f"knv{lab}-".encode() in cmdline:
                found.append(int(entry.name))
    return found


def _wait_for(check, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


KILL_POINTS = {
    "state file written": lambda lab: build.read_state(lab) is not None,
    "namespaces made": lambda lab: len(_ours(lab)) >= 5,
    "listeners started": lambda lab: bool((build.read_state(lab) or {}).get("listener_pids")),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_during_lab_up_then_lab_down_leaves_nothing(point, lab_id):
    before = _host()
    process = subprocess.Popen([sys.executable, "-m", "webapp", "lab", "up", "flannel-host-gw", "--lab", lab_id],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: KILL_POINTS[point](lab_id) or process.poll() is not None)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "lab up ended before the kill point"
    done = _cli("down", "--lab", lab_id)
    assert done.returncode == 0 and done.stderr == ""
    assert _ours(lab_id) == [] and _listeners_of(lab_id) == []
    assert build.read_state(lab_id) is None and not build.log_dir(lab_id).exists()
    assert _host() == before


def test_sigkill_during_lab_verify_then_lab_down_leaves_nothing(lab_id):
    before = _host()
    process = subprocess.Popen([sys.executable, "-m", "webapp", "lab", "verify", "flannel-host-gw", "--lab", lab_id],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (build.read_state(lab_id) or {}).get("complete") or process.poll() is not None)
        time.sleep(0.5)  # into the probes
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "lab verify ended before the kill"
    assert _ours(lab_id)
    done = _cli("down", "--lab", lab_id)
    assert done.returncode == 0 and done.stdout == f"lab {lab_id}: removed 10 network namespaces\n"
    assert _ours(lab_id) == [] and _listeners_of(lab_id) == []
    assert build.read_state(lab_id) is None and not build.log_dir(lab_id).exists()
    assert _host() == before
