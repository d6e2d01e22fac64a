"""A tiny line protocol that exists only to exercise the listener framework in tests.

Commands (one per CRLF line): ``ECHO text``, ``STARTTLS``, ``TLS?``, ``CERT?`` (the
verified client certificate's SHA-256), ``BEGIN`` /
``END`` (reads between them are not interrupted by a shutdown, like a message
being received), ``CRASH`` (the handler raises), ``QUIT``.
"""

from __future__ import annotations

from mailward.config import Config, ListenerSettings, ProtocolRules
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
        elif command == "CERT?":
            peer = conn.tls.client_certificate if conn.tls else None
            conn.write(f"{peer.sha256 if peer else 'none'}\r\n".encode())
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
