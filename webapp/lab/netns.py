"""Running commands inside lab network namespaces, and entering one from Python (setns) to open sockets."""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
IFNAMSIZ = 15
"""Linux device names hold at most 15 characters (IFNAMSIZ 16 with the terminating NUL)."""

IPTABLES_VARIANTS = ("iptables-nft", "iptables-legacy")
"""Preferred first. Debian 12's `iptables` is the nf_tables backend; both load kube-proxy's rules in a netns."""


class LabError(RuntimeError):
    """A lab command failed: carries the command, the namespace and what the tool printed."""


def lab_support() -> str | None:
    """Why the lab cannot run here (not root, no `ip`, no netns support), or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, veth, VXLAN and iptables)"
    for tool in ("ip", "bridge", "iptables-restore"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian packages iproute2 and iptables)"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


@functools.cache
def sctp_support() -> str | None:
    """Why this kernel cannot carry SCTP (no SCTP module: a socket cannot be made), or None when it can."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError as exc:
        return f"this kernel has no SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): {exc.strerror or exc})"
    return None


def run(argv: Sequence[str], *, netns: str | None = None, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a tool, inside `netns` when given (through `ip netns exec`); raise LabError when it fails."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    done = subprocess.run(full, input=stdin, capture_output=True, text=True)
    if check and done.returncode != 0:
        where = f" in netns {netns}" if netns else ""
        raise LabError(f"`{' '.join(argv)}`{where} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def ip_batch(lines: Sequence[str], *, netns: str | None = None, tool: str = "ip") -> None:
    """Feed `ip` (or `bridge`) commands to one `-batch -` process; the error names the failing line."""
    if not lines:
        return
    bad = next((line for line in lines if any(c in line for c in "\n\r\0;")), None)
    if bad is not None:  # one line is one command: a name must never split it or start another
        raise LabError(f"`{tool} -batch` refused a line holding a line break, NUL or ';': {bad!r}")
    argv = [tool] + (["-n", netns] if netns else []) + ["-batch", "-"]
    done = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        where = f" in netns {netns}" if netns else ""
        raise LabError(f"`{tool} -batch`{where} failed: {done.stderr.strip()}")


def iptables_tool(variant: str, tool: str) -> str:
    """`iptables-nft-restore` style names for a variant and a tool (`restore`, `save`, or '' for iptables)."""
    return f"{variant}-{tool}" if tool else variant


def pick_iptables_variant() -> str:
    """The first iptables variant installed here."""
    for variant in IPTABLES_VARIANTS:
        if shutil.which(iptables_tool(variant, "restore")):
            return variant
    return "iptables"


def ensure_jump(netns: str, variant: str, table: str, chain: str, target: str) -> None:
    """Create `target` (empty) and append `-A chain -j target` once, however often this is called."""
    iptables = iptables_tool(variant, "")
    if run([iptables, "-t", table, "-C", chain, "-j", target], netns=netns, check=False).returncode == 0:
        return
    run([iptables_tool(variant, "restore"), "--noflush"], netns=netns,
        stdin=f"*{table}\n:{target} - [0:0]\n-A {chain} -j {target}\nCOMMIT\n")


def existing_netns() -> list[str]:
    """Names of every named network namespace (`ip netns list`)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


def netns_pids(name: str) -> list[int]:
    """Processes living in a lab namespace (`ip netns pids`)."""
    done = run(["ip", "netns", "pids", name], check=False)
    return [int(tok) for tok in done.stdout.split() if tok.isdigit()]


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the block with this thread inside lab namespace `name`; sockets made here stay in it."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


NETLINK_NETFILTER = 12
CT_FLUSH = (1 << 8) | 2
"""nfnetlink message type: subsystem CTNETLINK (1), IPCTNL_MSG_CT_DELETE (2) — with no tuple, every entry."""


def flush_conntrack(name: str) -> None:
    """Forget every IPv4 conntrack entry of lab namespace `name` (what `conntrack -F` does), over netlink: a
    flow then never meets an entry an earlier flow left. Raises LabError when the kernel refuses."""
    import struct

    with entered(name):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.bind((0, 0))
        sock.settimeout(2.0)
        # nlmsghdr (len, type, NLM_F_REQUEST | NLM_F_ACK, seq, pid) + nfgenmsg (AF_INET, NFNETLINK_V0, res_id 0)
        sock.send(struct.pack("=IHHII", 20, CT_FLUSH, 1 | 4, 1, 0) + struct.pack("=BBH", socket.AF_INET, 0, 0))
        answer = sock.recv(4096)
        error = struct.unpack_from("=i", answer, 16)[0] if len(answer) >= 20 else 0
        if error not in (0, -2):  # -ENOENT: the table was empty
            raise LabError(f"conntrack flush in {name}: {os.strerror(-error)}")
    finally:
        sock.close()


THROWAWAY_PREFIX = "knv-tmp-"
"""Names of the throwaway namespaces `throwaway_netns` makes (never a lab node's, never the host's)."""


@contextmanager
def throwaway_netns() -> Iterator[str]:
    """A new, empty network namespace with a unique name, deleted on exit: somewhere to hand rules to the kernel
    without touching the host's netfilter."""
    name = f"{THROWAWAY_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    ip_batch([f"netns add {name}"])
    try:
        yield name
    finally:
        run(["ip", "netns", "delete", name], check=False)


def kernel_refusal(netns: str, iptables_text: str, *, ipsets: Sequence[tuple[str, str, Sequence[str]]] = (),
                   nfacct: Sequence[str] = ()) -> str | None:
    """What the kernel says against `iptables_text` (iptables-restore input) in the throwaway namespace `netns`,
    or None when it takes it: `iptables-legacy-restore --test` where installed (the legacy backend resolves every
    jump and match while testing), then a real `iptables-restore --noflush` (the nf_tables backend's `--test`
    passes a jump to a chain nobody declared; a real load does not). `ipsets` (name, type, entries) and
    `nfacct` counter names are created first, as kube-proxy creates them before it restores."""
    if not netns.startswith(THROWAWAY_PREFIX):
        raise LabError(f"kernel_refusal loads rules only into a throwaway namespace, not {netns!r}")
    for name, kind, entries in ipsets:
        extra = " range 0-65535" if kind == "bitmap:port" else ""  # kube-proxy's port sets span every port
        lines = [f"create {name} {kind}{extra}", *(f"add {name} {entry}" for entry in entries)]
        done = run(["ipset", "restore", "-exist"], netns=netns, stdin="\n".join(lines) + "\n", check=False)
        if done.returncode != 0:
            return f"ipset restore: {done.stderr.strip()}"
    for counter in nfacct:
        done = run(["nfacct", "add", counter], netns=netns, check=False)
        if done.returncode != 0:
            return f"nfacct add {counter}: {done.stderr.strip()}"
    steps = [["iptables-restore", "--noflush"]]
    if shutil.which("iptables-legacy-restore"):
        steps.insert(0, ["iptables-legacy-restore", "--test"])
    for argv in steps:
        done = run(argv, netns=netns, stdin=iptables_text, check=False)
        if done.returncode != 0:
            return f"`{' '.join(argv)}`: {done.stderr.strip()}"
    return None
