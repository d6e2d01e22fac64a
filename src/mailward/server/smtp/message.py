"""A message on its way into the store while it arrives, and the trace headers put before it.

Small messages (most mail) are held and delivered whole at the end. A message
that outgrows :data:`HOLD` streams instead: the delivery
(``delivery.local.deliver``) starts in a task of its own, whose content is an
async iterator fed from a :class:`Pipe` as the core parses DATA or BDAT. The
store's own staging (memory, then a temporary file) is then the only copy, so a
50 MiB message is never whole in memory and is not written twice.
The pipe holds at most :data:`HIGH_WATER` bytes: when the store is slower than the
client, the session waits before reading more from the socket (back-pressure).
Nothing becomes visible before the session closes the pipe at the end of data:
the store commits only after the last chunk, and an aborted pipe (RSET, message
too big, bare LF, lost connection) makes the stream raise, so nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import ipaddress
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mailward.protocols.smtp.address import Address
from mailward.store.interface import MessageSource
from mailward.tls.context import TlsFacts

T = TypeVar("T")

HIGH_WATER = 1024 * 1024  # bytes buffered between the session and the store at most
LOW_WATER = HIGH_WATER // 4
HOLD = 256 * 1024  # a message up to this size is held in memory and delivered whole


class MessageAborted(Exception):
    """The session gave the message up; the store must write nothing."""


class Pipe:
    """Chunks from one producer (the session) to one consumer (the store), bounded."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._closed = False
        self._aborted = False
        self._consumer_gone = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def put(self, data: bytes) -> None:
        if self._consumer_gone or not data:
            return  # the delivery failed already; finish() reports it
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()
        while self._buffered >= HIGH_WATER and not self._consumer_gone:
            self._writable.clear()
            await self._writable.wait()

    def close(self) -> None:
        self._closed = True
        self._readable.set()

    def abort(self) -> None:
        self._aborted = True
        self._readable.set()

    def consumer_gone(self) -> None:
        self._consumer_gone = True
        self._chunks.clear()
        self._writable.set()

    async def chunks(self, first: bytes) -> AsyncIterator[bytes]:
        yield first
        while True:
            if self._aborted:
                raise MessageAborted
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= LOW_WATER:
                    self._writable.set()
                yield chunk
            elif self._closed:
                return
            else:
                self._readable.clear()
                await self._readable.wait()


class MessageBody(Generic[T]):
    """One message on its way to ``deliver``; :meth:`finish` returns what it returned.

    A message is held in memory while it is small (:data:`HOLD` bytes) and handed
    to ``deliver`` whole at the end, in the session's own task; a bigger one starts
    streaming into ``deliver`` (a task of its own, fed through a :class:`Pipe`) the
    moment it outgrows that. Most mail is small: it costs no task and no pipe.

    Ends every message with CRLF: DATA bodies always do (the CRLF before the final
    dot belongs to the message, RFC 5321 4.1.1.4), a BDAT body may not, and IMAP
    clients expect the last line of a message to be terminated.
    """

    def __init__(self, deliver: Callable[[MessageSource], Awaitable[T]], header: bytes) -> None:
        self._deliver = deliver
        self._held = [header]
        self._held_size = len(header)
        self._tail = b"\r\n"  # the last two bytes so far (the header ends with CRLF)
        self._pipe: Pipe | None = None
        self._task: asyncio.Task[T] | None = None

    def _stream(self) -> Pipe:
        """Start streaming into ``deliver``, the bytes held so far first."""
        pipe = self._pipe = Pipe()
        first = b"".join(self._held)
        self._held = []
        self._task = asyncio.get_running_loop().create_task(_run(self._deliver, pipe.chunks(first)))
        self._task.add_done_callback(self._consumer_done)
        return pipe

    def _consumer_done(self, task: asyncio.Task[T]) -> None:
        assert self._pipe is not None
        self._pipe.consumer_gone()
        if not task.cancelled():
            task.exception()  # retrieved here; finish() re-raises it to the session

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._tail = (self._tail + data)[-2:]
        if self._pipe is None and self._held_size + len(data) <= HOLD:
            self._held.append(data)
            self._held_size += len(data)
            return
        await (self._pipe or self._stream()).put(data)

    async def finish(self) -> T:
        """End the message and wait for the delivery's outcome (durable on return)."""
        if self._tail != b"\r\n":
            await self.write(b"\r\n")
        if self._pipe is None:
            held, self._held = b"".join(self._held), []
            return await self._deliver(held)
        assert self._task is not None
        self._pipe.close()
        return await self._task

    async def abort(self) -> None:
        """Give the message up; returns when the delivery has ended, having written nothing."""
        self._held = []
        if self._pipe is None or self._task is None:
            return
        self._pipe.abort()
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


async def _run(deliver: Callable[[MessageSource], Awaitable[T]], content: AsyncIterator[bytes]) -> T:
    return await deliver(content)


# --- trace headers (RFC 5321 4.4) -------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """What the Received: and Return-Path: fields say about one message."""

    queue_id: str
    helo: str
    esmtp: bool
    peer_ip: str
    hostname: str
    tls: TlsFacts | None
    user: str | None  # the authenticated account (submission)
    smtputf8: bool
    sender: Address | None
    recipients: tuple[str, ...]
    date: float


def with_protocol(trace: Trace) -> str:
    """The ``with`` value: RFC 3848 (ESMTP, ESMTPA, ESMTPS, ESMTPSA), RFC 6531 (UTF8SMTP...)."""
    if not trace.esmtp:
        return "SMTP"
    base = "UTF8SMTP" if trace.smtputf8 else "ESMTP"
    suffix = ("S" if trace.tls else "") + ("A" if trace.user else "")
    return base + suffix


def _clean(text: str) -> str:
    """Client-chosen text made safe inside a header comment or clause (no CR/LF reach here)."""
    return "".join(c if c.isprintable() and c not in "()\\;<>\"" else "?" for c in text)[:255] or "unknown"


@functools.lru_cache(maxsize=1024)
def _literal(ip: str) -> str:
    """An address literal (RFC 5321 4.1.3); cached, as the same clients come back."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return "[unknown]"
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return f"[{parsed.ipv4_mapped}]"
        return f"[IPv6:{parsed.compressed}]"
    return f"[{parsed}]"


def _tls_comment(tls: TlsFacts) -> str:
    """RFC 8314 7 style: ``(TLS1.3 TLS_AES_256_GCM_SHA384 256 bits)``."""
    version = tls.version.replace("TLSv", "TLS")
    return f"({version} {_clean(tls.cipher)} {tls.bits} bits)"


@functools.lru_cache(maxsize=4)
def _date(second: int) -> str:
    """The RFC 5322 date of a second (cached: every message in that second shares it)."""
    return email.utils.formatdate(second, localtime=True)


def received(trace: Trace) -> str:
    """The Received: field (RFC 5321 4.4 Time-stamp-line), folded, with CRLF.

    The client's address goes in as an address literal: mailward looks up no
    reverse DNS (slow and forgeable); the literal is what RFC 5321's TCP-info
    allows without a domain.
    """
    lines = [f"Received: from {_clean(trace.helo)} ({_literal(trace.peer_ip)})"]
    if trace.user:
        lines.append(f"(authenticated as {_clean(trace.user)})")
    by = f"by {trace.hostname} (mailward) with {with_protocol(trace)}"
    if trace.tls:
        by += f" {_tls_comment(trace.tls)}"
    lines.append(by)
    last = f"id {trace.queue_id}"
    if len(trace.recipients) == 1:
        last += f" for <{_clean(trace.recipients[0])}>"
    lines.append(last + ";")
    lines.append(_date(int(trace.date)))
    return "\r\n\t".join(lines) + "\r\n"


def return_path(sender: Address | None) -> str:
    """RFC 5321 4.4: the final delivery adds the reverse-path (``<>`` for bounces)."""
    return f"Return-Path: <{'' if sender is None else sender}>\r\n"


def trace_header(trace: Trace) -> bytes:
    return (return_path(trace.sender) + received(trace)).encode("utf-8")
