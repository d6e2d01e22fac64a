"""Binding listener sockets, and explaining why a bind failed."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from mailward.config.model import Address
from mailward.config.problems import Problem

BACKLOG = 1024


class BindError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def bind(address: Address, key: str) -> socket.socket:
    """A listening-ready TCP socket bound to ``address``; :class:`BindError` explains failures.

    ``key`` is the config path of the address, for the problem's message.
    """
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it the first reply after a TLS 1.3 handshake waits ~40 ms for the
    # client's delayed ACK of the session tickets (Nagle)
    sock = socket.socket(address.family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # let a restarted server bind while old connections sit in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if address.family == socket.AF_INET6 and address.host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((address.host, address.port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(explain(address, key, exc)) from None
    return sock


def explain(address: Address, key: str, exc: OSError) -> Problem:
    if exc.errno == errno.EADDRINUSE:
        holder = _holder(address.port)
        return Problem(
            key,
            f"{address} is in use{f' by {holder}' if holder else ''}",
            "stop the other server or choose another port",
        )
    if exc.errno == errno.EACCES:
        return Problem(
            key,
            f"binding port {address.port} needs root or CAP_NET_BIND_SERVICE (running as uid {os.geteuid()})",
            'start mailward as root with user = "mailward" set, give it the capability '
            "(systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), or use a port above 1023",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return Problem(
            key,
            f"{address.host} is not an address of this machine",
            "use one of this machine's addresses (see `ip -brief address`), or 0.0.0.0 / [::] for all",
        )
    return Problem(key, f"cannot listen on {address}: {exc.strerror or exc}", "check the address")


def _holder(port: int) -> str:
    """Best effort: ``pid 123 (postfix)`` for the process listening on ``port``."""
    holders = holders_of(port)
    if holders is None:
        return ""
    if not holders:
        return "another process"
    pid, name = holders[0]
    return f"pid {pid} ({name})"


def holders_of(port: int) -> list[tuple[int, str]] | None:
    """The processes (pid, name) with a socket listening on ``port``; ``None`` when no
    listening socket was found at all (an empty list: found, but not whose)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    found: list[tuple[int, str]] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (proc / "fd").iterdir()):
                found.append((int(proc.name), (proc / "comm").read_text().strip()))
        except OSError:
            continue
    return sorted(found)
