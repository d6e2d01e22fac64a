"""The real server for the TLS tests: a config file, the real listeners, the test line protocol.

Each test gives its TLS settings as keyword arguments; they are written as the
``[tls]`` table of a ``mailward.toml`` with one ``[[listener]]`` of the test line
protocol (``tests/support/lineproto.py``) using implicit TLS, or STARTTLS with
``starttls=`` a line-protocol role (``"plain"``, or ``"smtp"``, ``"imap"``,
``"pop3"`` for a client that speaks that protocol's STARTTLS dialogue). The file
is loaded as ``serve`` loads it, and :class:`~mailward.server.app.Server` runs it
with ``serve``'s own TLS factory (the secret store included) in an event loop of
its own thread, so that the tests can use blocking clients: ``ssl`` sockets,
``openssl s_client``, sslyze and ``mailward cert fingerprint``.

What reaches a session is asked of the session (``TLS?``, ``CERT?``: see
``tls_helpers.handshake``); what the server did with each connection is read from
the one line the listener logs per connection (:meth:`RunningServer.ended`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from mailward.config import load
from mailward.server.app import ReloadReport, Server
from mailward.server.runtime import tls_factory
from mailward.tls.context import ServerContextSource
from support import lineproto
from support.pki import Issued, TestCA

TIMEOUT = 10.0
T = TypeVar("T")
CONNECTION_LOG = logging.getLogger("mailward.connection")


# --- the config file --------------------------------------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def tls_table(issued: Issued, settings: Mapping[str, object], table: str = "tls") -> str:
    """``[tls]`` for ``issued`` and ``settings``; ``sni`` is a list of mappings (``[[tls.sni]]``)."""
    values: dict[str, object] = {"certificate": issued.cert_path, "key": issued.key_path, **settings}
    sni = values.pop("sni", ())
    assert isinstance(sni, list | tuple)
    lines = [f"[{table}]", *(f"{key} = {toml_value(value)}" for key, value in values.items())]
    for entry in sni:
        assert isinstance(entry, Mapping)
        lines.append(f"[[{table}.sni]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


def sni_entry(issued: Issued, *names: str, **more: object) -> dict[str, object]:
    return {"names": list(names), "certificate": issued.cert_path, "key": issued.key_path, **more}


def listener_table(name: str, starttls: str | None) -> str:
    tls, role = ("implicit", "plain") if starttls is None else ("starttls", starttls)
    return (
        f'[[listener]]\nname = "{name}"\nprotocol = "{lineproto.NAME}"\nrole = "{role}"\n'
        f'address = "127.0.0.1:0"\ntls = "{tls}"\n'
    )


# --- the server in its thread ------------------------------------------------------------


@dataclass(frozen=True)
class Ended:
    """One connection, as the listener logged it when it ended."""

    tls: str  # "TLSv1.3/TLS_AES_256_GCM_SHA384", or "no"
    outcome: str

    @property
    def refused(self) -> bool:
        """The TLS handshake failed: no session began."""
        return self.outcome.startswith("TLS handshake failed")

    @property
    def version(self) -> str:
        return self.tls.partition("/")[0]


class _Ends(logging.Handler):
    """Collects the end-of-connection lines of one listener."""

    def __init__(self, listener: str) -> None:
        super().__init__(logging.INFO)
        self.marker = f" listener={listener} "
        self.ended: list[Ended] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.marker not in message or " outcome=" not in message:
            return
        head, _, outcome = message.partition(" outcome=")
        tls = head.split(" tls=", 1)[1].split(" ", 1)[0]
        self.ended.append(Ended(tls, outcome))


class RunningServer:
    """A :class:`Server` started from ``config`` in an event loop of its own thread."""

    def __init__(self, config: Path, listener: str) -> None:
        self.config = config
        self.name = listener
        self._ends = _Ends(listener)
        CONNECTION_LOG.addHandler(self._ends)
        loaded = load(config, {lineproto.NAME: lineproto.SPEC.rules})
        self.server = Server(loaded, {lineproto.NAME: lineproto.SPEC}, tls_factory(loaded.config))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failures: list[BaseException] = []
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name=f"server-{listener}")
        self._thread.start()
        if not self._ready.wait(TIMEOUT):
            raise RuntimeError("the server did not start")
        if self._failures:
            self.stop()
            raise self._failures[0]

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:  # ConfigError and all: raised again in the test thread
            self._failures.append(exc)
        finally:
            self._ready.set()
        if not self._failures:
            await self._stop.wait()
        await self.server.stop(grace=1)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        CONNECTION_LOG.removeHandler(self._ends)
        assert not self._thread.is_alive(), "the server did not stop"

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` in the server's loop (as SIGHUP or the certificate poller would)."""

        async def run() -> T:
            return work()

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(TIMEOUT)

    @property
    def port(self) -> int:
        return self.server.listeners[self.name].sockname[1]

    @property
    def source(self) -> ServerContextSource:
        """The listener's TLS context source (a reload with new settings replaces it)."""
        source = self.server.listeners[self.name].tls_source
        assert isinstance(source, ServerContextSource)
        return source

    def poll(self) -> ReloadReport:
        """What ``serve``'s certificate poller does every few seconds: reload changed files."""
        return self.call(self.server.poll_certificates)

    def reload(self, text: str) -> ReloadReport:
        """What SIGHUP does, after ``text`` replaced the config file."""
        self.config.write_text(text)
        new = load(self.config, {lineproto.NAME: lineproto.SPEC.rules})
        return self.call(lambda: self.server.reload(new))

    def ended(self, count: int) -> list[Ended]:
        """The first ``count`` connections to end, in the order they did (waits for them)."""
        deadline = time.monotonic() + TIMEOUT
        while len(self._ends.ended) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self._ends.ended) >= count, f"only {len(self._ends.ended)} of {count} connections ended"
        return self._ends.ended[:count]


class ServerFactory:
    """``tls_server(issued, starttls=None, **tls)``: a running server; all stop at teardown."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[RunningServer] = []

    def __call__(self, issued: Issued, *, starttls: str | None = None, **tls: object) -> RunningServer:
        return self.from_config(self.config_text(issued, tls, starttls=starttls))

    def config_text(
        self,
        issued: Issued,
        tls: Mapping[str, object],
        *,
        starttls: str | None = None,
        name: str | None = None,
    ) -> str:
        name = name or f"tls{len(self.started) + 1}"
        return (
            f"data_dir = {toml_value(self.directory)}\n"
            'hostname = "localhost"\n' + listener_table(name, starttls) + tls_table(issued, tls)
        )

    def from_config(self, text: str) -> RunningServer:
        """A server for a whole config text; its listener is the last one the text names."""
        path = self.directory / f"mailward-{len(self.started) + 1}.toml"
        path.write_text(text)
        names = [line.split('"')[1] for line in text.splitlines() if line.startswith("name = ")]
        server = RunningServer(path, names[-1])
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[ServerFactory]:
    level = CONNECTION_LOG.level
    CONNECTION_LOG.setLevel(logging.INFO)  # the line per connection
    factory = ServerFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()
        CONNECTION_LOG.setLevel(level)


# --- test PKI ------------------------------------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def server_cert(ca: TestCA) -> Issued:
    return ca.issue("server", ("localhost", "127.0.0.1"))
