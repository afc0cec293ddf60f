"""Real traffic from inside a lab namespace: one TCP connection or UDP datagram, and what came back."""

from __future__ import annotations

import errno
import itertools
import socket
import struct
from dataclasses import dataclass

from webapp.lab import netns as nx

DEFAULT_TIMEOUT = 1.0


@dataclass(frozen=True)
class Observation:
    """What the kernel did with one probe."""

    disposition: str
    """`delivered`, `rejected` (connection refused / ICMP port unreachable), `dropped` (timeout) or
    `no-route` (network or host unreachable). A stream the peer accepts and closes without a byte is `rejected`
    too: the client is told at once that no one will answer (kube-proxy's userspace proxy closing the client's
    connection when no backend answers); every lab listener answers before it closes."""
    local: str = ""
    """The client's own address for this probe (`ip:port`)."""
    pod: str = ""
    """Which pod answered (`namespace/name`), from the listener's answer."""
    container: str = ""
    at: str = ""
    """The address the listener answered on (the backend after DNAT)."""
    saw: str = ""
    """The source address the listener saw."""
    error: str = ""


def parse_answer(text: str) -> dict[str, str]:
    """`pod=a/b container=c at=ip:port saw=ip:port` → fields."""
    return dict(word.split("=", 1) for word in text.split() if "=" in word)


def _observed(local: str, answer: bytes) -> Observation:
    fields = parse_answer(answer.decode(errors="replace"))
    if "pod" not in fields:
        return Observation("delivered", local, error=f"unexpected answer {answer[:80]!r}")
    return Observation("delivered", local, fields["pod"], fields.get("container", ""), fields.get("at", ""),
                       fields.get("saw", ""))


def _failed(exc: OSError, local: str) -> Observation:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Observation("dropped", local, error="timeout")
    if exc.errno == errno.ECONNREFUSED:
        return Observation("rejected", local, error="connection refused")
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return Observation("no-route", local, error=exc.strerror or str(exc))
    if exc.errno == errno.ECONNRESET:
        return Observation("rejected", local, error="connection reset")
    return Observation("dropped", local, error=f"{exc.strerror or exc}")


CLOSED_UNANSWERED = "accepted, then closed with no answer"
LINGER_S = 1
"""Seconds a probe's close() may wait for the peer's acknowledgement of its FIN (SO_LINGER)."""
CLIENT_PORTS = range(20000, 30000)
"""Client ports of the probes, taken in turn: below the kernel's ephemeral range (32768–60999) and the nodePorts.
A port comes back only after 10,000 probes — far longer than conntrack keeps a closed connection (120 s) — so a
new connection never meets a stale conntrack entry holding its reply tuple (the same client port to the same
backend, reached earlier through a Service), which the kernel would resolve by silently remapping the source
port (nf_nat's unique tuple): an outcome no engine predicts, and one that changes from run to run."""
_next_port = itertools.cycle(CLIENT_PORTS)


def _bind_client(sock: socket.socket, src_ip: str | None) -> None:
    """Bind the probe to the next client port (skipping one a listener of the namespace holds)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(64):
        try:
            sock.bind((src_ip or "0.0.0.0", next(_next_port)))
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    sock.bind((src_ip or "0.0.0.0", 0))


def probe(netns: str, dst_ip: str, dst_port: int, proto: str = "tcp", *, src_ip: str | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> Observation:
    """Connect (TCP; SCTP, one-to-one style) or send one datagram (UDP) from inside `netns` and read the
    listener's answer."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    number = socket.IPPROTO_SCTP if proto == "sctp" else 0
    with nx.entered(netns):
        sock = socket.socket(socket.AF_INET, kind, number)
    local = ""
    try:
        sock.settimeout(timeout)
        _bind_client(sock, src_ip)
        sock.connect((dst_ip, dst_port))
        host, port = sock.getsockname()
        local = f"{host}:{port}"
        if proto == "udp":
            sock.send(b"probe\n")
            return _observed(local, sock.recv(512))
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(512)
            if not chunk:
                break
            answer += chunk
        if not answer:
            return Observation("rejected", local, error=CLOSED_UNANSWERED)
        return _observed(local, answer)
    except OSError as exc:
        if not local:
            try:
                host, port = sock.getsockname()
                local = f"{host}:{port}"
            except OSError:
                pass
        return _failed(exc, local)
    finally:
        if kind == socket.SOCK_STREAM:
            # Wait (at most LINGER_S) until the peer has acknowledged our FIN: the connection's last packets are
            # then behind us, and cannot cross the underlay while the next flow's counters are armed.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, LINGER_S))
        sock.close()
