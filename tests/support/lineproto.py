"""A tiny line protocol that exists only to exercise the listener framework in tests.

Commands (one per CRLF line): ``ECHO text``, ``STARTTLS``, ``TLS?``, ``BEGIN`` /
``END`` (reads between them are not interrupted by a shutdown, like a message
being received), ``CRASH`` (the handler raises), ``QUIT``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from mailward.config import Config, ListenerSettings, Problem, ProtocolRules
from mailward.server import registry
from mailward.server.connection import Connection
from mailward.server.registry import ListenerTemplate, ProtocolSpec

NAME = "line"


async def _handle(conn: Connection) -> None:
    conn.write(b"+OK ready\r\n")
    buffer = b""
    in_transaction = False
    while True:
        while b"\r\n" not in buffer:
            data = await conn.read(interruptible=not in_transaction)
            if not data:
                return
            buffer += data
        line, buffer = buffer.split(b"\r\n", 1)
        command, _, arg = line.decode().partition(" ")
        if command == "ECHO":
            conn.write(arg.encode() + b"\r\n")
        elif command == "STARTTLS" and conn.tls_available:
            conn.write(b"+OK go ahead\r\n")
            await conn.start_tls()
            buffer = b""
        elif command == "TLS?":
            conn.write(f"{conn.tls or 'none'}\r\n".encode())
        elif command == "BEGIN":
            in_transaction = True
            conn.write(b"+OK begun\r\n")
        elif command == "END":
            in_transaction = False
            conn.write(b"+OK ended\r\n")
        elif command == "CRASH":
            raise RuntimeError("secret internal detail")
        elif command == "QUIT":
            conn.write(b"+OK bye\r\n")
            return
        else:
            conn.write(b"-ERR unknown command\r\n")
        await conn.drain()


def _factory(settings: ListenerSettings, config: Config) -> registry.Handler:
    return _handle


SPEC = ProtocolSpec(
    name=NAME,
    rules=ProtocolRules(roles=("plain", "other"), starttls=True),
    handler=_factory,  # type: ignore[arg-type]
    templates=(ListenerTemplate("line", "plain", 0, 0, "none"),),
    busy_reply=b"-ERR busy\r\n",
    timeout_reply=b"-ERR timeout\r\n",
    shutdown_reply=b"-ERR shutting down\r\n",
    error_reply=b"-ERR internal error\r\n",
)


def register() -> None:
    registry.register(SPEC)


class FileContextSource:
    """A server context from a certificate and key file, re-read on reload."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self.reloads = 0
        self._context = self._build()

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context

    def current(self) -> ssl.SSLContext:
        return self._context

    def reload(self) -> list[Problem]:
        try:
            self._context = self._build()
        except (OSError, ssl.SSLError) as exc:
            return [Problem("tls.certificate", f"cannot load: {exc}", "fix the file")]
        self.reloads += 1
        return []

    def changed_on_disk(self) -> bool:
        return False
