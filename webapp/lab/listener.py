"""The application in every lab pod: a TCP and UDP listener on each declared container port that answers
`pod=<namespace/name> container=<name> at=<ip:port> saw=<ip:port>` — who answered, on which local address,
and the source address the kernel delivered. Standalone (stdlib only): `ip netns exec` starts it with `-I`.

Usage: listener.py --pod NS/NAME --ready FILE [--tcp PORT=CONTAINER ...] [--udp PORT=CONTAINER ...]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys


def answer(pod: str, container: str, local: tuple, peer: tuple) -> bytes:
    """The one-line answer that tells the client who answered and what source it saw."""
    return f"pod={pod} container={container} at={local[0]}:{local[1]} saw={peer[0]}:{peer[1]}\n".encode()


def _port_map(items: list[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for item in items:
        port, _, container = item.partition("=")
        out[int(port)] = container or "-"
    return out


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def _udp_answer(sock: socket.socket, pod: str, container: str) -> None:
    """Answer one datagram from the address it was sent to (IP_PKTINFO names the local address)."""
    try:
        _, ancillary, _, peer = sock.recvmsg(512, socket.CMSG_SPACE(12))
    except BlockingIOError:
        return
    local_ip = "0.0.0.0"
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            local_ip = socket.inet_ntoa(data[8:12])   # struct in_pktinfo: ifindex, spec_dst, addr
    port = sock.getsockname()[1]
    sock.sendmsg([answer(pod, container, (local_ip, port), peer)], [], 0, peer)


async def serve(pod: str, tcp: dict[int, str], udp: dict[int, str], ready: str) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for port, container in tcp.items():
        async def on_connect(reader, writer, container=container):
            sock = writer.get_extra_info("socket")
            writer.write(answer(pod, container, sock.getsockname(), sock.getpeername()))
            try:
                await writer.drain()
            finally:
                writer.close()
        servers.append(await asyncio.start_server(on_connect, "0.0.0.0", port, reuse_address=True))
    for port, container in udp.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.setblocking(False)
        sock.bind(("0.0.0.0", port))
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
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.pod, _port_map(args.tcp), _port_map(args.udp), args.ready))
    except OSError as exc:
        with open(args.ready, "w") as out:
            out.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
