"""A small TLS server for the TLS tests, until the listener framework serves them.

It is the one place that stands in for the real listeners: an asyncio server on
127.0.0.1 (ephemeral port) in its own thread and loop, doing the server side of
TLS per connection with ``source.current()``, as the framework will. After the
handshake it records the session's :class:`TlsFacts`, greets with ``OK
<version>``, and echoes lines until the client closes. With ``starttls="smtp"``
(or imap, pop3) it first plays a tiny fake greeting and STARTTLS dialogue.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailward.tls.context import ServerContextSource, TlsFacts, tls_facts
from support.pki import Issued, TestCA

TIMEOUT = 10.0


@dataclass
class TlsTestServer:
    source: ServerContextSource
    starttls: str | None = None
    port: int = 0
    facts: list[TlsFacts] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _crash: list[BaseException] = field(default_factory=list)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tls-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(TIMEOUT):
            raise RuntimeError("test TLS server did not start")
        if self._crash:
            raise self._crash[0]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(TIMEOUT)
            assert not self._thread.is_alive(), "test TLS server did not stop"
        if self._crash:
            raise self._crash[0]

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self._crash.append(exc)
            self._ready.set()

    async def _main(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        owner = self

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                # Stop reading at once: the client's ClientHello must stay in the socket
                # until start_tls takes over, not land in a plaintext buffer (a real race).
                assert isinstance(transport, asyncio.Transport)
                transport.pause_reading()
                task = loop.create_task(owner._connection(transport))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        server = await loop.create_server(Accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        current: asyncio.BaseTransport = transport
        plain: asyncio.StreamWriter | None = None  # kept until the transport is closed
        try:
            if self.starttls:
                plain_reader, plain = _streams(transport, loop)
                transport.resume_reading()
                if not await self._starttls_dialogue(plain_reader, plain):
                    return
            reader = asyncio.StreamReader()
            protocol = asyncio.StreamReaderProtocol(reader)
            # no await between the last plaintext write and this call: start_tls
            # pauses reading before it yields, so no TLS byte is read as plaintext
            tls = await loop.start_tls(
                transport, protocol, self.source.current(), server_side=True, ssl_handshake_timeout=TIMEOUT
            )
            assert tls is not None
            current = tls
            protocol.connection_made(tls)
            writer = asyncio.StreamWriter(tls, protocol, reader, loop)
            await self._session(reader, writer)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            current.close()
            transport.close()
            del plain

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        facts = tls_facts(writer.get_extra_info("ssl_object"))
        self.facts.append(facts)
        writer.write(f"OK {facts.version}\r\n".encode())
        await writer.drain()
        for _ in range(1000):
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                return
            writer.write(line)
            await writer.drain()

    async def _starttls_dialogue(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        greeting, go = {
            "smtp": (b"220 localhost ESMTP fake\r\n", b"220 2.0.0 Ready to start TLS\r\n"),
            "imap": (b"* OK fake IMAP ready\r\n", b"a1 OK Begin TLS negotiation now\r\n"),
            "pop3": (b"+OK fake POP3 ready\r\n", b"+OK Begin TLS negotiation\r\n"),
        }[self.starttls or ""]
        writer.write(greeting)
        await writer.drain()
        for _ in range(20):
            line = (await asyncio.wait_for(reader.readline(), TIMEOUT)).strip().upper()
            if not line:
                return False
            if line.startswith((b"EHLO", b"HELO")):
                writer.write(b"250-localhost\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            elif line in (b"STARTTLS", b"A1 STARTTLS", b"STLS"):
                writer.write(go)
                return True
            else:
                writer.write(b"500 5.5.1 not in this fake\r\n")
            await writer.drain()
        return False


def _streams(
    transport: asyncio.Transport, loop: asyncio.AbstractEventLoop
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


@pytest.fixture
def tls_server() -> Iterator[Callable[..., TlsTestServer]]:
    """Start test TLS servers: ``tls_server(source, starttls=None)``; all stop at teardown."""
    started: list[TlsTestServer] = []

    def start(source: ServerContextSource, starttls: str | None = None) -> TlsTestServer:
        server = TlsTestServer(source, starttls)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- client helpers shared by the TLS tests ------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def server_cert(ca: TestCA) -> Issued:
    return ca.issue("server", ("localhost", "127.0.0.1"))
