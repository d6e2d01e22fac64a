"""A tiny line protocol that exists only to exercise the listener framework in tests.

Commands (one per CRLF line): ``ECHO text``, ``STARTTLS``, ``TLS?``, ``CERT?`` (the
verified client certificate's SHA-256; ``CERT? subject``, ``CERT? names`` and
``CERT? emails`` give its other facts), ``BEGIN`` /
``END`` (reads between them are not interrupted by a shutdown, like a message
being received), ``PATIENCE seconds`` (the reads after it wait that long, not the
listener's idle timeout, like IMAP's IDLE), ``TICK n`` (a task beside the handler
writes ``tick`` n times, 20 ms apart, then fails if n is negative), ``CRASH`` (the
handler raises), ``QUIT``.

A listener's role picks the dialect of the greeting and the STARTTLS exchange:
``plain`` (the default) and ``other`` as above; ``smtp``, ``imap`` and ``pop3``
add just enough of those protocols for a client's STARTTLS dialogue to reach the
handshake (SMTP: a ``220`` greeting, ``EHLO``/``HELO``, ``220`` to ``STARTTLS``;
IMAP: ``* OK``, tagged commands, ``TAG OK`` to ``STARTTLS``; POP3: ``STLS``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mailward.config import Config, ListenerSettings, ProtocolRules
from mailward.server import registry
from mailward.server.connection import Connection
from mailward.server.registry import ListenerTemplate, ProtocolSpec

NAME = "line"


@dataclass(frozen=True)
class Dialect:
    greeting: bytes
    go_ahead: bytes  # the reply to STARTTLS; "{tag}" stands for an IMAP command's tag
    tagged: bool = False  # IMAP: every command line starts with a tag
    starttls: tuple[str, ...] = ("STARTTLS",)
    ehlo: bool = False  # SMTP: answer EHLO/HELO with the STARTTLS extension


PLAIN = Dialect(b"+OK ready\r\n", b"+OK go ahead\r\n")
DIALECTS = {
    "plain": PLAIN,
    "other": PLAIN,
    "smtp": Dialect(b"220 localhost line test server\r\n", b"220 2.0.0 go ahead\r\n", ehlo=True),
    "imap": Dialect(b"* OK line test server\r\n", b"{tag} OK go ahead\r\n", tagged=True),
    "pop3": Dialect(b"+OK ready\r\n", b"+OK go ahead\r\n", starttls=("STARTTLS", "STLS")),
}


def _certificate_fact(conn: Connection, field: str) -> str:
    peer = conn.tls.client_certificate if conn.tls else None
    if peer is None:
        return "none"
    if field == "subject":
        return peer.subject
    if field == "names":
        return ",".join(peer.names)
    if field == "emails":
        return ",".join(peer.emails)
    return peer.sha256


async def _handle(conn: Connection, dialect: Dialect = PLAIN) -> None:
    conn.write(dialect.greeting)
    buffer = b""
    in_transaction = False
    patience: float | None = None
    while True:
        while b"\r\n" not in buffer:
            data = await conn.read(interruptible=not in_transaction, timeout=patience)
            if not data:
                return
            buffer += data
        line, buffer = buffer.split(b"\r\n", 1)
        text = line.decode()
        tag = ""
        if dialect.tagged:
            tag, _, text = text.partition(" ")
        command, _, arg = text.partition(" ")
        if command == "ECHO":
            conn.write(arg.encode() + b"\r\n")
        elif command in dialect.starttls and conn.tls_available:
            conn.write(dialect.go_ahead.replace(b"{tag}", tag.encode()))
            await conn.start_tls()
            buffer = b""
        elif dialect.ehlo and command in ("EHLO", "HELO"):
            conn.write(b"250-localhost\r\n250 STARTTLS\r\n")
        elif command == "TLS?":
            conn.write(f"{conn.tls or 'none'}\r\n".encode())
        elif command == "CERT?":
            conn.write(f"{_certificate_fact(conn, arg)}\r\n".encode())
        elif command == "BEGIN":
            in_transaction = True
            conn.write(b"+OK begun\r\n")
        elif command == "END":
            in_transaction = False
            conn.write(b"+OK ended\r\n")
        elif command == "PATIENCE":
            patience = float(arg)
            conn.write(b"+OK\r\n")
        elif command == "TICK":
            conn.spawn(_ticks(conn, int(arg)), name="ticks")
            conn.write(b"+OK\r\n")
        elif command == "CRASH":
            raise RuntimeError("secret internal detail")
        elif command == "QUIT":
            conn.write(b"+OK bye\r\n")
            return
        else:
            conn.write(b"-ERR unknown command\r\n")
        await conn.drain()


async def _ticks(conn: Connection, count: int) -> None:
    for _ in range(abs(count)):
        await asyncio.sleep(0.02)
        conn.write(b"tick\r\n")
    if count < 0:
        raise RuntimeError("the ticking task failed")


def _factory(settings: ListenerSettings, config: Config) -> registry.Handler:
    dialect = DIALECTS.get(settings.role, PLAIN)

    async def handle(conn: Connection) -> None:
        await _handle(conn, dialect)

    return handle


SPEC = ProtocolSpec(
    name=NAME,
    rules=ProtocolRules(roles=tuple(DIALECTS), starttls=True),
    handler=_factory,  # type: ignore[arg-type]
    templates=(ListenerTemplate("line", "plain", 0, 0, "none"),),
    busy_reply=b"-ERR busy\r\n",
    timeout_reply=b"-ERR timeout\r\n",
    shutdown_reply=b"-ERR shutting down\r\n",
    error_reply=b"-ERR internal error\r\n",
)


def register() -> None:
    registry.register(SPEC)
