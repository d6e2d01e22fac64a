"""A listener: accepts connections on one binding and runs its protocol's handler on each.

Generic over the protocol. It enforces the listener's limits (connections in
all and per client address, idle and session timeouts), upgrades implicit-TLS
connections before the handler runs, turns every way a connection can end into
an outcome, and logs one line per connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time

from mailward.config.model import ListenerSettings
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
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[Connection] = set()
        self._counts: Counts = counts if counts is not None else LocalCounts()
        self._index = index
        self._stopping = False
        self._sockname = ("", 0)

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
        scratch = bytearray(READ_CHUNK)  # every connection's reads land here first
        self._server = await loop.create_server(lambda: _Stream(self._accepted, scratch), sock=sock)

    def _accepted(self, stream: _Stream) -> None:
        assert stream.transport is not None
        peername = stream.transport.get_extra_info("peername") or ("?", 0)
        peer = (str(peername[0]), int(peername[1]))
        conn_id = f"{random.getrandbits(40):010x}"  # a name for logs: no secret, no syscall
        conn = Connection(
            stream,
            self.settings,
            conn_id,
            peer,
            self.tls_source if self.settings.tls != "none" else None,
            ConnectionLog(log, {"conn": conn_id}),
        )
        if self.settings.tls == "implicit":
            # the ClientHello may arrive before the handshake starts: leave it in the
            # socket for the TLS layer, not in the plaintext buffer start_tls discards
            stream.transport.pause_reading()
        refusal = self._counts.admit(self._index, peer[0], self.settings.limits)
        if refusal:
            if self.settings.tls != "implicit":  # a TLS client could not read a plaintext reply
                conn.write(self.spec.busy_reply)
            conn.close()
            self._log_end(conn, time.monotonic(), refusal)
            return
        self._connections.add(conn)
        conn.when_ended(lambda: self._counts.release(self._index, peer[0]))
        if self._stopping:
            conn.request_stop()
        task = asyncio.get_running_loop().create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: Connection) -> None:
        started = time.monotonic()
        conn.log.debug("open listener=%s peer=%s:%d", self.name, *conn.peer)
        outcome = "closed"
        reply = b""
        try:
            async with asyncio.timeout(self.settings.limits.session_timeout):
                if self.settings.tls == "implicit":
                    await conn.start_tls()
                await self.handler(conn)
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
            self._log_end(conn, started, outcome)

    def _log_end(self, conn: Connection, started: float, outcome: str) -> None:
        log.info(
            "conn=%s listener=%s peer=%s:%d tls=%s duration=%.3fs in=%d out=%d outcome=%s",
            conn.id,
            self.name,
            conn.peer[0],
            conn.peer[1],
            conn.tls or "no",
            time.monotonic() - started,
            conn.bytes_in,
            conn.bytes_out,
            outcome,
        )

    def hurry(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

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
        if self._server is not None:
            await self._server.wait_closed()
