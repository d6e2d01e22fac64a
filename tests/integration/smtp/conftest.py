"""The real server with its SMTP listeners, a real SQLite store and real TLS, in a thread.

The server runs on an event loop of its own thread, so the tests can use blocking
clients (smtplib, raw sockets, swaks in a subprocess) as they are; store queries go
to that loop through :meth:`SmtpEnv.run`.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import argon2
import pytest

from mailward.auth.accounts import AccountService, fake_salt_key
from mailward.config import ListenerSettings, LoadedConfig, load
from mailward.config.store import StoreSettings
from mailward.server.app import ReloadReport, Server
from mailward.server.services import services_for
from mailward.server.smtp import SPEC
from mailward.store.factory import open_store
from mailward.store.interface import INBOX, Store
from mailward.tls.context import ServerContextSource
from mailward.tls.source import source_for_listener
from support.pki import Issued, TestCA

T = TypeVar("T")

FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
HOSTNAME = "mx.example.org"
MAX_SIZE = 200_000
PASSWORDS = {
    "alice@example.org": "alice-secret-1",
    "bob@example.org": "bob-secret-2",
    "carol@example.org": "carol-secret-3",
    "dave@example.org": "dave-secret-4",
    "δοκιμή@example.org": "utf8-secret-5",
}
DAVE_QUOTA = 2000

CONFIG = """
hostname = "{hostname}"
data_dir = "{data}"
shutdown_grace = 5

[smtp]
max_message_size = {max_size}

[[listener]]
name = "mx"
protocol = "smtp"
role = "mx"
address = "127.0.0.1:0"
tls = "starttls"

[[listener]]
name = "submission"
protocol = "smtp"
role = "submission"
address = "127.0.0.1:0"
tls = "starttls-required"
[listener.tls_options]
verify_client = "optional"
ca = "{ca}"

[[listener]]
name = "submissions"
protocol = "smtp"
role = "submission"
address = "127.0.0.1:0"
tls = "implicit"
[listener.tls_options]
verify_client = "optional"
ca = "{ca}"

[[listener]]
name = "open-submission"
protocol = "smtp"
role = "submission"
address = "127.0.0.1:0"
tls = "starttls"
"""


class Records(logging.Handler):
    """Every log record of the server, for tests that check what was logged."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    def text(self) -> str:
        with self._lock2:
            return "\n".join(self.lines)


class SmtpEnv:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.ca = TestCA(tmp_path / "certs")
        self.ca.issue("server", ("localhost", "127.0.0.1", HOSTNAME))
        self.client_cert: Issued = self.ca.issue("alice-client", ("alice.example.org",), client=True)
        self.stranger_cert: Issued = self.ca.issue("stranger", ("stranger.example.org",), client=True)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp-server", daemon=True)
        self.records = Records()
        self.store: Store
        self.server: Server
        self.accounts: AccountService

    # --- life ----------------------------------------------------------------------

    def start(self, level: int = logging.DEBUG) -> None:
        logger = logging.getLogger("mailward")
        logger.addHandler(self.records)
        self._old_level = logger.level
        logger.setLevel(level)
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        config_path = self.tmp / "mailward.toml"
        config_path.write_text(
            CONFIG.format(hostname=HOSTNAME, data=self.tmp, max_size=MAX_SIZE, ca=self.ca.cert_path)
        )
        loaded = load(config_path, {"smtp": SPEC.rules})
        self.store = await open_store(StoreSettings(backend="sqlite"), self.tmp)
        self.accounts = AccountService(self.store, hasher=FAST)
        await self._accounts()

        def tls_factory(settings: ListenerSettings) -> ServerContextSource:
            return source_for_listener(settings, hostname=HOSTNAME)

        services = services_for(loaded.config, self.store, fake_salt_key(b"k" * 32))
        self.server = Server(loaded, {"smtp": SPEC}, tls_factory, services)
        await self.server.start()

    async def _accounts(self) -> None:
        acc = self.accounts
        for domain in ("example.org", "example.net"):
            await acc.add_domain(domain)
        for address, password in PASSWORDS.items():
            await acc.add_user(address, password, quota_bytes=DAVE_QUOTA if address.startswith("dave") else 0)
        await acc.set_enabled("carol@example.org", False)
        await acc.add_certificate("alice@example.org", self.client_cert.cert_path.read_text())
        await acc.add_alias("sales@example.org", ["alice@example.org", "bob@example.org"])
        await acc.add_alias("postmaster@example.org", ["alice@example.org"])
        await acc.add_alias("@example.net", ["bob@example.org"])
        await acc.add_alias("fwd@example.org", ["alice@example.org", "friend@remote.example"])
        await acc.add_alias("chain9@example.org", ["alice@example.org"])
        for i in range(8, -1, -1):  # deeper than the resolver follows: a configuration error
            await acc.add_alias(f"chain{i}@example.org", [f"chain{i + 1}@example.org"])

    def stop(self) -> None:
        try:
            if hasattr(self, "server"):
                self.run(self.server.stop(grace=2))
            if hasattr(self, "store"):
                self.run(self.store.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            logger = logging.getLogger("mailward")
            logger.removeHandler(self.records)
            logger.setLevel(self._old_level)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- what tests ask --------------------------------------------------------------

    def reload(self, extra: str) -> ReloadReport:
        """Reload the server with its configuration plus ``extra`` TOML (as on SIGHUP)."""
        path = self.tmp / "mailward.toml"
        text = CONFIG.format(hostname=HOSTNAME, data=self.tmp, max_size=MAX_SIZE, ca=self.ca.cert_path)
        path.write_text(text + extra)  # after the last [[listener]]: extra opens tables of its own
        loaded = load(path, {"smtp": SPEC.rules})
        return self.run(self._reload(loaded))

    async def _reload(self, loaded: LoadedConfig) -> ReloadReport:
        return self.server.reload(loaded)

    def port(self, listener: str) -> int:
        return self.server.listeners[listener].sockname[1]

    def inbox(self, address: str) -> list[bytes]:
        """The messages in the INBOX of ``address``, oldest first."""
        return self.run(self._inbox(address))

    async def _inbox(self, address: str) -> list[bytes]:
        account = await self.accounts.user(address)
        mailbox = await self.store.get_mailbox(account.id, INBOX)
        if mailbox is None:
            return []
        out = []
        for info in await self.store.messages(mailbox.id):
            out.append(b"".join([chunk async for chunk in self.store.read(info.blob)]))
        return out

    def total_messages(self) -> int:
        return sum(len(self.inbox(a)) for a in PASSWORDS)

    def queued(self) -> int:
        return len(self.run(self.store.queue_entries()))

    def tls_context(self, *, client_cert: Issued | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert_path))
        if client_cert is not None:
            context.load_cert_chain(client_cert.cert_path, client_cert.key_path)
        return context

    def smtp(self, listener: str = "mx") -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port(listener), local_hostname="client.example", timeout=10)
        return client

    def smtps(self, listener: str = "submissions", client_cert: Issued | None = None) -> smtplib.SMTP_SSL:
        return smtplib.SMTP_SSL(
            "localhost",
            self.port(listener),
            local_hostname="client.example",
            timeout=10,
            context=self.tls_context(client_cert=client_cert),
        )

    def raw(self, listener: str = "mx") -> RawClient:
        return RawClient(socket.create_connection(("127.0.0.1", self.port(listener)), timeout=10))

    def swaks(self, *args: str, listener: str = "mx") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{self.port(listener)}", "--helo", "client.example",
             "--timeout", "20", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def wait_for_log(self, pattern: str, timeout: float = 10) -> str:
        import re

        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.records.text().splitlines():
                if regex.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r}:\n{self.records.text()}")


class RawClient:
    """A plain socket client: send exact bytes, read whole replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def reply(self) -> list[str]:
        """One reply, every line of a multi-line one (RFC 5321 4.2.1)."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError(f"closed after {lines}")
            lines.append(line.decode("utf-8").rstrip("\r\n"))
            if line[3:4] != b"-":
                return lines

    def last(self) -> str:
        return self.reply()[-1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: str) -> str:
        self.send(line.encode("utf-8") + b"\r\n")
        return self.last()

    def closed(self) -> bool:
        return self.file.read() == b""

    def starttls(self, context: ssl.SSLContext) -> None:
        self.file.close()
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SmtpEnv]:
    smtp_env = SmtpEnv(tmp_path)
    try:
        smtp_env.start()
        yield smtp_env
    finally:
        smtp_env.stop()
