"""The application in every lab pod: a TCP, UDP (and, where the kernel has it, SCTP) listener on each declared
container port that answers
`pod=<namespace/name> container=<name> at=<ip:port> saw=<ip:port>` — who answered, on which local address,
and the source address the kernel delivered. Standalone (stdlib only): `ip netns exec` starts it with `-I`.

With `--proxy-tcp PORT=IP:PORT,IP:PORT…` / `--proxy-udp …` it is also kube-proxy's userspace proxy on a node:
it accepts on the proxy port, opens a new connection to the next backend (round-robin) and, when a backend
does not answer, retries the next one, as the removed pkg/proxy/userspace proxier did; `;affinity=SECONDS`
after the backends is the service's sessionAffinity ClientIP timeout.

Usage: listener.py --pod OWNER --ready FILE [--tcp [IP:]PORT=CONTAINER ...] [--udp [IP:]PORT=CONTAINER ...]
                   [--sctp ...] [--proxy-tcp PORT=BACKENDS[;affinity=SECONDS] ...] [--proxy-udp ...]
(`IP:` binds the port to that address only, as kube-proxy's health-check server under nodePortAddresses.)
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys
import time

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
PROXY_TIMEOUT = 0.25
"""Seconds the userspace proxy waits for a backend before it tries the next one: the first of the removed
pkg/proxy/userspace proxysocket.go `endpointDialTimeout` steps (250 ms, 500 ms, 1 s, 2 s)."""


def answer(pod: str, container: str, local: tuple, peer: tuple) -> bytes:
    """The one-line answer that tells the client who answered and what source it saw."""
    return f"pod={pod} container={container} at={local[0]}:{local[1]} saw={peer[0]}:{peer[1]}\n".encode()


def _port_map(items: list[str]) -> dict[tuple[str, int], str]:
    """`PORT=CONTAINER` (every local address) or `IP:PORT=CONTAINER` (that address only) → {(ip, port): name}."""
    out: dict[tuple[str, int], str] = {}
    for item in items:
        where, _, container = item.partition("=")
        ip, _, port = where.rpartition(":")
        out[(ip or "0.0.0.0", int(port))] = container or "-"
    return out


def _udp_answer(sock: socket.socket, pod: str, container: str) -> None:
    """Answer one datagram from the address it was sent to (IP_PKTINFO names the local address)."""
    received = _receive(sock)
    if received is None:
        return
    _, local_ip, peer = received
    port = sock.getsockname()[1]
    sock.sendmsg([answer(pod, container, (local_ip, port), peer)], _pktinfo(local_ip), 0, peer)


class RoundRobin:
    """The backends of one proxy port, handed out in turn, as the removed userspace LoadBalancerRR did; with
    sessionAffinity ClientIP (`affinity_seconds`) a client whose connection a backend took goes back to it until
    the affinity expires. `order(client)` also lists the rest, in turn, for retries."""

    def __init__(self, backends: list[tuple[str, int]], affinity_seconds: int = 0):
        self.backends, self.next, self.affinity_seconds = backends, 0, affinity_seconds
        self.sticky: dict[str, tuple[int, float]] = {}
        """Client IP → (backend index, when the affinity was last used)."""

    def order(self, client: str) -> list[tuple[str, int]]:
        sticky = self.sticky.get(client)
        if sticky is not None and time.monotonic() - sticky[1] < self.affinity_seconds:
            start = sticky[0]
        else:
            start = self.next
            self.next = (self.next + 1) % len(self.backends)
        return self.backends[start:] + self.backends[:start]

    def answered(self, client: str, backend: tuple[str, int]) -> None:
        """`backend` took `client`'s connection: with affinity, the client's next ones go there too."""
        if self.affinity_seconds:
            self.sticky[client] = (self.backends.index(backend), time.monotonic())


def parse_proxy_ports(items: list[str]) -> dict[int, RoundRobin]:
    """`PORT=IP:PORT,IP:PORT[;affinity=SECONDS]` → the port's round-robin."""
    out: dict[int, RoundRobin] = {}
    for item in items:
        port, _, rest = item.partition("=")
        rest, _, affinity = rest.partition(";affinity=")
        pairs = [b.rpartition(":") for b in rest.split(",") if b]
        out[int(port)] = RoundRobin([(host, int(number)) for host, _, number in pairs], int(affinity or 0))
    return out


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter) -> None:
    """Copy one direction; when it ends, close both connections — as kube-proxy's copyBytes did (the removed
    pkg/proxy/userspace proxysocket.go closes dest and src), so the backend's connection is torn down together
    with the client's, not whenever the client gets round to closing."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
        other.close()


async def _proxy_tcp(reader, writer, backends: RoundRobin) -> None:
    client = writer.get_extra_info("peername")[0]
    for host, port in backends.order(client):
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROXY_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            continue
        backends.answered(client, (host, port))
        await asyncio.gather(_pipe(reader, up_writer, writer), _pipe(up_reader, writer, up_writer))
        return
    writer.close()


def _pktinfo(local_ip: str) -> list[tuple[int, int, bytes]]:
    """Ancillary data that makes a reply leave from `local_ip` (struct in_pktinfo's ipi_spec_dst)."""
    return [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, socket.inet_aton(local_ip), bytes(4)))]


def _receive(sock: socket.socket) -> tuple[bytes, str, tuple] | None:
    """One datagram, the local address it was sent to, and its sender."""
    try:
        data, ancillary, _, peer = sock.recvmsg(65535, socket.CMSG_SPACE(12))
    except BlockingIOError:
        return None
    local_ip = "0.0.0.0"
    for level, kind, info in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            local_ip = socket.inet_ntoa(info[8:12])   # struct in_pktinfo: ifindex, spec_dst, addr
    return data, local_ip, peer


async def _proxy_udp(sock: socket.socket, backends: RoundRobin, data: bytes, local_ip: str, client: tuple) -> None:
    """One datagram to the next backend, its answer back to the client. No retry: a UDP "dial" cannot fail, so
    kube-proxy's TryConnectEndpoints took the first endpoint and a datagram that goes unanswered is lost (the
    client times out)."""
    loop = asyncio.get_running_loop()
    host, port = backends.order(client[0])[0]
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.setblocking(False)
    try:
        upstream.connect((host, port))
        await loop.sock_sendall(upstream, data)
        reply = await asyncio.wait_for(loop.sock_recv(upstream, 65535), PROXY_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return
    finally:
        upstream.close()
    backends.answered(client[0], (host, port))
    sock.sendmsg([reply], _pktinfo(local_ip), 0, client)


def _on_proxy_datagram(sock: socket.socket, backends: RoundRobin) -> None:
    received = _receive(sock)
    if received is not None:
        data, local_ip, client = received
        asyncio.ensure_future(_proxy_udp(sock, backends, data, local_ip, client))


def _udp_socket(port: int, ip: str = "0.0.0.0") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.setblocking(False)
    sock.bind((ip, port))
    return sock


def _sctp_socket(port: int, ip: str) -> socket.socket:
    """A one-to-one SCTP socket (SOCK_STREAM, RFC 6458): accept, read and write as with TCP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


async def serve(pod: str, tcp: dict[tuple[str, int], str], udp: dict[tuple[str, int], str], ready: str,
                proxy_tcp: dict[int, RoundRobin] | None = None, proxy_udp: dict[int, RoundRobin] | None = None,
                sctp: dict[tuple[str, int], str] | None = None) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for port, backends in (proxy_tcp or {}).items():
        servers.append(await asyncio.start_server(
            lambda r, w, b=backends: _proxy_tcp(r, w, b), "0.0.0.0", port, reuse_address=True))
    for port, backends in (proxy_udp or {}).items():
        sock = _udp_socket(port)
        loop.add_reader(sock.fileno(), _on_proxy_datagram, sock, backends)

    def answering(container: str):
        """A TCP connection's or an SCTP association's handler: `container`'s answer, then close."""
        async def on_connect(reader, writer):
            sock = writer.get_extra_info("socket")
            writer.write(answer(pod, container, sock.getsockname(), sock.getpeername()))
            try:
                await writer.drain()
            finally:
                writer.close()
        return on_connect

    for (ip, port), container in tcp.items():
        servers.append(await asyncio.start_server(answering(container), ip, port, reuse_address=True))
    for (ip, port), container in (sctp or {}).items():
        servers.append(await asyncio.start_server(answering(container), sock=_sctp_socket(port, ip)))
    for (ip, port), container in udp.items():
        sock = _udp_socket(port, ip)
        loop.add_reader(sock.fileno(), _udp_answer, sock, pod, container)
    with open(ready, "w") as out:
        out.write("ready\n")
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pod", required=True)
    parser.add_argument("--ready", required=True, help="file written once every port listens")
    parser.add_argument("--tcp", action="append", default=[])
    parser.add_argument("--udp", action="append", default=[])
    parser.add_argument("--sctp", action="append", default=[])
    parser.add_argument("--proxy-tcp", action="append", default=[])
    parser.add_argument("--proxy-udp", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.pod, _port_map(args.tcp), _port_map(args.udp), args.ready,
                          parse_proxy_ports(args.proxy_tcp), parse_proxy_ports(args.proxy_udp), _port_map(args.sctp)))
    except OSError as exc:
        with open(args.ready, "w") as out:
            out.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
