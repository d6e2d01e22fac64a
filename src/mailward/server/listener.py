"""A listener: accepts connections on one binding and runs its protocol's handler on each.

Generic over the protocol. It enforces the listener's limits (connections in
all and per client address, idle and session timeouts), upgrades implicit-TLS
connections before the handler runs, turns every way a connection can end into
an outcome, and logs one line per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import sys
import time
from typing import TypeVar

from mailward.config.model import ListenerSettings
from mailward.ratelog import RateLimitedLog
from mailward.server.connection import (
    READ_CHUNK,
    Connection,
    ConnectionLog,
    IdleTimeout,
    ReloadableContextSource,
    ServerStopping,
    TlsHandshakeFailed,
    _Stream,
)
from mailward.server.counts import Counts, LocalCounts
from mailward.server.registry import Handler, ProtocolSpec

log = logging.getLogger("mailward.connection")
_ratelog = RateLimitedLog(log)
_T = TypeVar("_T")

_ACCEPT_BATCH = 64  # connections taken per wake-up, so that one listener cannot starve the rest
_ACCEPT_PAUSE = 1.0  # seconds without accepting after EMFILE, ENFILE, ENOBUFS or ENOMEM
# A set that grew by adding holds at most 8 slots of 16 bytes per entry: one larger than
# twice that keeps a table from a crowd that has gone (see Listener.compact)
_SET_BYTES_PER_ENTRY = 256
_SET_BYTES_SLACK = 1024


def _shrink(registry: set[_T]) -> None:
    if sys.getsizeof(registry) > _SET_BYTES_PER_ENTRY * len(registry) + _SET_BYTES_SLACK:
        kept = list(registry)
        registry.clear()  # frees the table
        registry.update(kept)


class Listener:
    def __init__(
        self,
        settings: ListenerSettings,
        spec: ProtocolSpec,
        handler: Handler,
        tls_source: ReloadableContextSource | None,
        counts: Counts | None = None,
        index: int = 0,
    ) -> None:
        """``counts``: open connections, shared with the other workers of the server
        when there are several; ``index`` is this listener's key in them."""
        self.settings = settings
        self.spec = spec
        self.handler = handler
        self.tls_source = tls_source
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accept_pause: asyncio.TimerHandle | None = None
        self._scratch = bytearray(READ_CHUNK)  # every connection's reads land here first
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[Connection] = set()
        self._counts: Counts = counts if counts is not None else LocalCounts()
        self._index = index
        self._stopping = False
        self._sockname = ("", 0)
        self.ended = 0  # connections that have ended (refused ones included), for the memory job

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def sockname(self) -> tuple[str, int]:
        """The address actually bound (the port is chosen by the kernel for port 0)."""
        return self._sockname

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        host, port = sock.getsockname()[:2]
        self._sockname = (str(host), int(port))
        sock.setblocking(False)
        self._sock = sock
        self._loop = loop
        self._resume_accepting()

    # --- accepting -------------------------------------------------------------------
    # Our own accept loop rather than loop.create_server: a connection is counted in the
    # same step that accepts it (the supervisor's "ended with N connection(s) open" and
    # the per-address limit see every connection the kernel handed over, not only those
    # the event loop got round to), and a refused one is answered and closed on the raw
    # socket without a transport ever being made for it.

    def _resume_accepting(self) -> None:
        self._accept_pause = None
        if self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self.accept_waiting)

    def accept_waiting(self) -> int:
        """Take the connections waiting in the backlog (at most a batch), each counted or
        refused in this same step; how many were taken."""
        assert self._sock is not None and self._loop is not None
        taken = 0
        for _ in range(_ACCEPT_BATCH):
            try:
                client, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:  # the client gave up while it waited in the backlog
                continue
            except OSError as exc:  # out of descriptors or memory: let the backlog wait
                _ratelog.warning(
                    f"accept-{self.name}-{exc.errno}",
                    f"listener {self.name} cannot accept connections ({exc.strerror or exc}):"
                    f" pausing {_ACCEPT_PAUSE:.0f} s",
                )
                self._loop.remove_reader(self._sock.fileno())
                self._accept_pause = self._loop.call_later(_ACCEPT_PAUSE, self._resume_accepting)
                break
            self._take(client, (str(address[0]), int(address[1])))
            taken += 1
        return taken

    def compact(self) -> None:
        """Shrink the sets of open connections and tasks to what they hold now. A set
        keeps the table it grew to when entries go: after a flood of 3,750 connections a
        worker kept 128 KiB for each, until traffic refilled it. The memory job
        (:mod:`mailward.server.memory`) calls this. In place: the tasks' done callbacks
        hold ``self._tasks.discard``."""
        _shrink(self._connections)
        _shrink(self._tasks)

    def _take(self, client: socket.socket, peer: tuple[str, int]) -> None:
        refusal = self._counts.admit(self._index, peer[0], self.settings.limits)
        if refusal:
            self._refuse(client, peer, refusal)
            return
        assert self._loop is not None
        task = self._loop.create_task(self._connect(client, peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _refuse(self, client: socket.socket, peer: tuple[str, int], refusal: str) -> None:
        started = time.monotonic()
        sent = 0
        if self.settings.tls != "implicit":  # a TLS client could not read a plaintext reply
            with contextlib.suppress(OSError):
                client.setblocking(False)
                sent = client.send(self.spec.busy_reply)
        client.close()
        self.ended += 1
        conn_id = f"{random.getrandbits(40):010x}"
        self._log_line(conn_id, peer, "no", started, 0, sent, refusal)

    async def _connect(self, client: socket.socket, peer: tuple[str, int]) -> None:
        assert self._loop is not None
        made: list[Connection] = []

        def forget() -> None:
            if not made:  # never became a Connection: nobody else releases its count
                client.close()
                self._counts.release(self._index, peer[0])

        try:
            await self._loop.connect_accepted_socket(
                lambda: _Stream(lambda stream: made.append(self._accepted(stream, peer)), self._scratch),
                client,
            )
        except Exception as exc:  # the client went away before the transport was made
            forget()
            log.debug("connection from %s:%d lost at accept: %s", *peer, exc)
            return
        except BaseException:
            forget()
            raise
        await self._run(made[0])

    def _accepted(self, stream: _Stream, peer: tuple[str, int]) -> Connection:
        assert stream.transport is not None
        conn_id = f"{random.getrandbits(40):010x}"  # a name for logs: no secret, no syscall
        conn = Connection(
            stream,
            self.settings,
            conn_id,
            peer,
            self.tls_source if self.settings.tls != "none" else None,
            ConnectionLog(log, {"conn": conn_id}),
        )
        conn.counts = self._counts
        if self.settings.tls == "implicit":
            conn.begin_tls()  # before a byte is read: the first ones are the ClientHello
        self._connections.add(conn)
        conn.when_ended(lambda: self._counts.release(self._index, peer[0]))
        if self._stopping:
            conn.request_stop()
        return conn

    async def _run(self, conn: Connection) -> None:
        started = time.monotonic()
        conn.log.debug("open listener=%s peer=%s:%d", self.name, *conn.peer)
        outcome = "closed"
        reply = b""
        try:
            async with asyncio.timeout(self.settings.limits.session_timeout):
                await self._serve(conn)
            if conn.at_eof:
                outcome = "closed by client"
        except IdleTimeout:
            outcome, reply = "idle timeout", self.spec.timeout_reply
        except TimeoutError:
            outcome, reply = "session timeout", self.spec.timeout_reply
        except ServerStopping:
            outcome, reply = "server stopping", self.spec.shutdown_reply
        except TlsHandshakeFailed as exc:
            outcome = f"TLS handshake failed: {exc}"
        except (ConnectionError, BrokenPipeError):
            outcome = "connection lost"
        except asyncio.CancelledError:
            outcome, reply = "closed at shutdown deadline", self.spec.shutdown_reply
            raise
        except Exception:
            conn.log.exception("handler failed")
            outcome, reply = "internal error", self.spec.error_reply
        finally:
            if reply:
                conn.write(reply)
            conn.close()
            self._connections.discard(conn)  # close() released its count, if the peer had not
            self.ended += 1
            self._log_end(conn, started, outcome)

    async def _serve(self, conn: Connection) -> None:
        """The handler, in a task group of the connection's own: tasks it starts with
        :meth:`Connection.spawn` (an IMAP IDLE watcher, say) end with it, and the first
        failure among them is the connection's outcome."""
        try:
            async with asyncio.TaskGroup() as group:
                conn.task_group = group
                try:
                    if self.settings.tls == "implicit":
                        await conn.start_tls()
                    await self.handler(conn)
                finally:
                    conn.cancel_tasks()  # the handler is done: what it started is too
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        finally:
            conn.task_group = None

    def _log_end(self, conn: Connection, started: float, outcome: str) -> None:
        self._log_line(conn.id, conn.peer, conn.tls or "no", started, conn.bytes_in, conn.bytes_out, outcome)

    def _log_line(
        self, conn_id: str, peer: tuple[str, int], tls: object, started: float, bytes_in: int,
        bytes_out: int, outcome: str,
    ) -> None:
        log.info(
            "conn=%s listener=%s peer=%s:%d tls=%s duration=%.3fs in=%d out=%d outcome=%s",
            conn_id, self.name, peer[0], peer[1], tls, time.monotonic() - started, bytes_in,
            bytes_out, outcome,
        )

    def hurry(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def stop_accepting(self) -> None:
        if self._accept_pause is not None:
            self._accept_pause.cancel()
            self._accept_pause = None
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()  # this process's descriptor: the other workers keep theirs
            self._sock = None

    async def stop(self, grace: float) -> None:
        """Stop accepting; give open connections ``grace`` seconds; then close the rest."""
        self._stopping = True
        self.stop_accepting()
        for conn in list(self._connections):
            conn.request_stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        self.hurry()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
