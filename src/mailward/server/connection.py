"""One client connection, as a protocol handler sees it.

The handler reads bytes (with the listener's idle timeout), writes bytes, and
may upgrade to TLS. The framework (:mod:`mailward.server.listener`) owns the
connection's life: limits, timeouts, shutdown and the log line at the end.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

from mailward.config.model import ListenerSettings
from mailward.config.problems import Problem
from mailward.server.counts import Counts, LocalCounts
from mailward.server.tls import TlsLayer
from mailward.tls.context import TlsFacts, tls_facts

# Stop reading from the socket when this much is buffered and unread; resume below it.
_HIGH_WATER = 256 * 1024
# At most this much per read: as much as fits below glibc's mmap threshold (128 KiB),
# so that the copy of a read comes from the heap (measured: 13% less CPU per 100 KiB
# message than 64 KiB reads)
READ_CHUNK = 120 * 1024
_HANDSHAKE_TIMEOUT = 30.0


class ContextSource(Protocol):
    """Gives the TLS context for the next connection (reloads swap what it returns)."""

    def current(self) -> ssl.SSLContext: ...


class ReloadableContextSource(ContextSource, Protocol):
    """A context source the server can refresh (SIGHUP, or its files changed on disk)."""

    def reload(self) -> list[Problem]:
        """Re-read the files; on errors keep the old context. Returns errors and warnings."""
        ...

    def changed_on_disk(self) -> bool:
        """Whether a file the context was built from changed since it was read."""
        ...


class IdleTimeout(Exception):
    """The client sent nothing for the listener's idle timeout."""


class ServerStopping(Exception):
    """The server is shutting down and the handler was waiting for a new command."""


class TlsHandshakeFailed(Exception):
    """The TLS handshake failed; the message says why, for the log only."""


class ConnectionLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every message with the connection id and the peer."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        assert self.extra is not None
        return f"conn={self.extra['conn']} {msg}", kwargs


class _Stream(asyncio.BufferedProtocol):
    """Keeps what the transport delivers; wakes the reader; applies back-pressure.

    A buffered protocol, so that the transport reads into ``scratch`` (shared by the
    connections of a listener: each read is copied out at once); a plain protocol gets
    a fresh 256 KiB bytes object from every read, which the C library maps and unmaps
    for each one, and that cost a quarter of the server's CPU per message.

    Once ``tls`` is set, what arrives is ciphertext: it goes to the TLS layer, and the
    plaintext that comes out is what is kept; ``handshake`` is set when the handshake
    is over, one way or the other.
    """

    def __init__(self, on_made: Callable[[_Stream], None], scratch: bytearray) -> None:
        self._on_made: Callable[[_Stream], None] | None = on_made
        self._scratch = memoryview(scratch)
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.lost: Exception | None = None
        self.readable = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.paused = False
        self.on_end: Callable[[], None] | None = None  # the peer closed: called once, at once
        self.tls: TlsLayer | None = None
        self.handshake = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6) and (
            sock.proto != socket.IPPROTO_TCP
        ):
            # every reply goes out at once (see mailward.server.sockets.bind): asyncio sets
            # TCP_NODELAY itself, but only on sockets made with proto=IPPROTO_TCP
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        on_made, self._on_made = self._on_made, None
        if on_made is not None:
            # dropped once called: it refers to the Connection made of this stream, and a
            # cycle would keep every closed connection (its TLS state included) in memory
            # until a full collection, which the server seldom runs (gc.freeze, thresholds)
            on_made(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        tls = self.tls
        if tls is None:
            self.data_received(bytes(self._scratch[:nbytes]))
            return
        for chunk in tls.receive(self._scratch[:nbytes]):  # the BIO copies it
            self.data_received(chunk)
        if tls.settled and not self.handshake.is_set():
            self.handshake.set()
        if tls.peer_closed or (tls.failure is not None and tls.handshake_done):
            self._at_end()  # close_notify (or a broken record) is the end of the stream

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        self.readable.set()
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._at_end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc
        self.writable.set()
        self._at_end()

    def _at_end(self) -> None:
        self.eof = True
        self.readable.set()
        self.handshake.set()  # a handshake waiting for the peer waits no more
        self.ended()

    def ended(self) -> None:
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def take(self, max_bytes: int) -> bytes:
        """The oldest chunk not read yet, or its first ``max_bytes`` bytes; ``b""`` at the end."""
        if not self.chunks:
            return b""
        data = self.chunks.popleft()
        if len(data) > max_bytes:
            self.chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self.buffered -= len(data)
        if not self.buffered and not self.eof:
            self.readable.clear()
        if self.paused and self.buffered < _HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def discard(self) -> None:
        self.chunks.clear()
        self.buffered = 0


class Connection:
    """A client connection: read, write, upgrade to TLS.

    ``read`` waits at most the listener's idle timeout and raises
    :class:`IdleTimeout` after it; while the server is stopping, a read that
    would wait raises :class:`ServerStopping` unless ``interruptible=False``
    (a handler in the middle of receiving a message passes that, so the
    message can still be completed within the shutdown grace period).
    """

    def __init__(
        self,
        stream: _Stream,
        listener: ListenerSettings,
        conn_id: str,
        peer: tuple[str, int],
        tls_source: ContextSource | None,
        log: ConnectionLog,
    ) -> None:
        assert stream.transport is not None
        self._stream = stream
        self._transport: asyncio.Transport = stream.transport
        self.listener = listener
        self.id = conn_id
        self.peer = peer
        self.log = log
        self._tls_source = tls_source
        self._stop_requested = False
        self.ssl_object: ssl.SSLObject | None = None  # for channel binding (tls-exporter)
        self.tls: TlsFacts | None = None  # the session's TLS facts, client certificate included
        self.bytes_in = 0
        self.bytes_out = 0
        self._loop = asyncio.get_running_loop()
        self._wait_started: float | None = None  # when the read waiting now began
        self._wait_timeout = listener.limits.idle_timeout  # and how long it may wait
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_expired = False
        self.task_group: asyncio.TaskGroup | None = None  # set by the listener while the handler runs
        # the server's open-connection counts (sessions per user are counted there too)
        self.counts: Counts = LocalCounts()
        self._spawned: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run ``work`` beside the handler, in the connection's task group: it is cancelled
        when the handler returns, and if it fails, the handler is cancelled and the
        connection ends with that failure."""
        if self.task_group is None:
            work.close()
            raise RuntimeError("spawn outside the connection's handler")
        task = self.task_group.create_task(work, name=name or None)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        return task

    def cancel_tasks(self) -> None:
        for task in list(self._spawned):
            task.cancel()

    @property
    def tls_available(self) -> bool:
        """Whether this connection could start TLS now (configured and not yet active)."""
        return self._tls_source is not None and self.tls is None

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    # ASYNC109: an idle timeout (one timer per connection), not a scope per read
    async def read(
        self, max_bytes: int = 65536, *, interruptible: bool = True, timeout: float | None = None,  # noqa: ASYNC109
    ) -> bytes:
        """Up to ``max_bytes`` bytes; ``b""`` once the client has closed its side.

        ``timeout``: how long this read may wait before :class:`IdleTimeout`, for a
        protocol whose patience changes with its state (IMAP's IDLE waits 30 minutes,
        a half-sent command line much less); the listener's idle timeout otherwise."""
        stream = self._stream
        while not stream.buffered and not stream.eof:
            if interruptible and self._stop_requested:
                raise ServerStopping
            stream.readable.clear()
            self._wait_started = self._loop.time()
            self._wait_timeout = timeout if timeout is not None else self.listener.limits.idle_timeout
            deadline = self._wait_started + self._wait_timeout
            if self._idle_timer is not None and self._idle_timer.when() > deadline:
                self._cancel_idle_timer()  # this read is less patient than the timer
            if self._idle_timer is None:
                self._arm_idle_timer(self._wait_started)
            try:
                await stream.readable.wait()
            finally:
                self._wait_started = None
            if self._idle_expired:
                raise IdleTimeout
        data = stream.take(max_bytes)
        self.bytes_in += len(data)
        return data

    # One timer per connection, not one per read: it is armed when a read starts
    # waiting and, when it fires, either ends the wait (idle for the whole timeout)
    # or moves itself to the deadline of the wait going on now.

    def _arm_idle_timer(self, since: float) -> None:
        self._idle_timer = self._loop.call_at(since + self._wait_timeout, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        started = self._wait_started
        if started is None:
            return  # not waiting now: the next read arms the timer again
        if self._loop.time() - started >= self._wait_timeout:
            self._idle_expired = True
            self._stream.readable.set()
        else:
            self._arm_idle_timer(started)

    def request_stop(self) -> None:
        """The server is stopping: wake a waiting read so the handler can say goodbye."""
        self._stop_requested = True
        self._stream.readable.set()

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            return
        self.bytes_out += len(data)
        if self._stream.tls is not None:
            self._stream.tls.write(data)
        else:
            self._transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._stream.lost is not None:
            raise ConnectionResetError("connection lost") from self._stream.lost
        await self._stream.writable.wait()

    @property
    def at_eof(self) -> bool:
        """The client closed its side and everything it sent has been read."""
        return self._stream.eof and not self._stream.buffered

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    def begin_tls(self) -> None:
        """From now on, what arrives is the client's side of a TLS handshake.

        Bytes the client sent before and the handler has not read are discarded (RFC
        3207 section 4.2: nothing from before TLS may be acted on after it; the
        CVE-2011-0411 class of injection). For implicit TLS the listener calls this as
        the connection is made, before a byte is read; for STARTTLS :meth:`start_tls`
        calls it, right after the go-ahead reply was written, with no ``await`` between.
        """
        if self._tls_source is None:
            raise RuntimeError("TLS on a listener without TLS")
        if self._stream.tls is not None:
            raise RuntimeError("TLS is active already")
        self._stream.discard()
        self._stream.readable.clear()
        self._stream.tls = TlsLayer(self._tls_source.current(), self._transport.write)

    async def start_tls(self) -> TlsFacts:
        """Run the server side of a TLS handshake with the listener's current context
        (see :meth:`begin_tls`), within the handshake timeout."""
        if self._stream.tls is None:
            self.begin_tls()
        elif self.tls is not None:
            raise RuntimeError("TLS is active already")
        layer = self._stream.tls
        assert layer is not None
        timeout = min(_HANDSHAKE_TIMEOUT, self.listener.limits.idle_timeout)
        try:
            async with asyncio.timeout(timeout):
                await self._stream.handshake.wait()
        except TimeoutError:
            raise TlsHandshakeFailed("handshake timed out") from None
        if layer.failure is not None:
            raise TlsHandshakeFailed(layer.failure)
        if not layer.handshake_done:
            raise TlsHandshakeFailed("closed during the handshake")
        self.ssl_object = layer.ssl_object
        self.tls = tls_facts(layer.ssl_object)
        return self.tls

    def when_ended(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, as soon as the connection is over: the peer closed its
        side, or the connection is closed or aborted here, whichever comes first. (The
        per-address count must drop then, not once the handler has wound up: a client
        at its limit that closes one connection and opens the next is not over it.)"""
        self._stream.on_end = callback

    def close(self) -> None:
        self._cancel_idle_timer()
        if self._stream.tls is not None and not self._transport.is_closing():
            self._stream.tls.close()  # close_notify, then the socket
        self._transport.close()
        self._stream.ended()

    def abort(self) -> None:
        self._cancel_idle_timer()
        self._transport.abort()
        self._stream.ended()

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.__class__.__name__
    if isinstance(exc, TimeoutError):
        return "handshake timed out"
    return exc.__class__.__name__
