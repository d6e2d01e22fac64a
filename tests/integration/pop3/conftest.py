"""The real server with SMTP and POP3 listeners, a real SQLite store and real TLS, in a thread.

The server runs on an event loop of its own thread, so the tests use blocking
clients (poplib, smtplib, fetchmail and getmail in subprocesses) as they are; store
queries go to that loop through :meth:`Pop3Env.run`. Mail arrives by SMTP on the mx
listener, as it does in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import poplib
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Coroutine, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import argon2
import pytest

from mailward.auth.accounts import AccountService, fake_salt_key
from mailward.config import ListenerSettings, load
from mailward.config.store import StoreSettings
from mailward.server import pop3, smtp
from mailward.server.app import Server
from mailward.server.services import services_for
from mailward.store.factory import open_store
from mailward.store.interface import INBOX, Store
from mailward.tls.context import ServerContextSource
from mailward.tls.source import source_for_listener
from support.pki import TestCA

T = TypeVar("T")

FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
HOSTNAME = "mail.example.org"
PASSWORDS = {
    "alice@example.org": "alice-secret-1",
    "bob@example.org": "bob-secret-2",
    "δοκιμή@example.org": "utf8-secret-5",
}
PROTOCOLS = {"smtp": smtp.SPEC, "pop3": pop3.SPEC}

CONFIG = """
hostname = "{hostname}"
data_dir = "{data}"
shutdown_grace = 5

[[listener]]
name = "mx"
protocol = "smtp"
role = "mx"
address = "127.0.0.1:0"
tls = "starttls"

[[listener]]
name = "pop3"
protocol = "pop3"
address = "127.0.0.1:0"
tls = "starttls"

[[listener]]
name = "pop3s"
protocol = "pop3"
address = "127.0.0.1:0"
tls = "implicit"

[[listener]]
name = "pop3-plain"
protocol = "pop3"
address = "127.0.0.1:0"
tls = "none"

[[listener]]
name = "pop3-short-lease"
protocol = "pop3"
address = "127.0.0.1:0"
tls = "implicit"
[listener.pop3]
lease_seconds = 10

[[listener]]
name = "pop3-allow"
protocol = "pop3"
address = "127.0.0.1:0"
tls = "starttls"
plaintext_login = "allow"
[listener.pop3]
max_auth_failures = 2
"""


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    def text(self) -> str:
        with self._guard:
            return "\n".join(self.lines)


class Pop3Env:
    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        self.tmp = tmp_path
        self.extra = extra
        self.ca = TestCA(tmp_path / "certs")
        self.ca.issue("server", ("localhost", "127.0.0.1", HOSTNAME))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pop3-server", daemon=True)
        self.records = Records()
        self.store: Store
        self.server: Server
        self.accounts: AccountService

    def start(self) -> None:
        logger = logging.getLogger("mailward")
        logger.addHandler(self.records)
        self._old_level = logger.level
        logger.setLevel(logging.DEBUG)
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        config_path = self.tmp / "mailward.toml"
        config_path.write_text(CONFIG.format(hostname=HOSTNAME, data=self.tmp) + self.extra)
        loaded = load(config_path, {name: spec.rules for name, spec in PROTOCOLS.items()})
        self.store = await open_store(StoreSettings(backend="sqlite"), self.tmp)
        self.accounts = AccountService(self.store, hasher=FAST)
        await self.accounts.add_domain("example.org")
        for address, password in PASSWORDS.items():
            await self.accounts.add_user(address, password)

        def tls_factory(settings: ListenerSettings) -> ServerContextSource:
            return source_for_listener(settings, hostname=HOSTNAME)

        services = services_for(loaded.config, self.store, fake_salt_key(b"k" * 32))
        self.server = Server(loaded, PROTOCOLS, tls_factory, services)
        await self.server.start()

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

    def port(self, listener: str) -> int:
        return self.server.listeners[listener].sockname[1]

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))

    # --- mail in, by SMTP -------------------------------------------------------------

    def deliver(self, to: str, messages: list[bytes]) -> None:
        """Send ``messages`` to ``to`` over SMTP with STARTTLS, as a remote MTA would."""
        with smtplib.SMTP("127.0.0.1", self.port("mx"), local_hostname="client.example", timeout=30) as client:
            client.starttls(context=self.tls_context())
            for message in messages:
                client.sendmail("sender@remote.example", [to], message)

    def inbox(self, address: str) -> list[bytes]:
        """The messages of ``address``'s INBOX as stored, oldest first."""
        return self.run(self._inbox(address))

    async def _inbox(self, address: str) -> list[bytes]:
        account = await self.accounts.user(address)
        mailbox = await self.store.get_mailbox(account.id, INBOX)
        assert mailbox is not None
        return [b"".join([c async for c in self.store.read(info.blob)])
                for info in await self.store.messages(mailbox.id)]

    def uid_validity(self, address: str) -> int:
        async def get() -> int:
            account = await self.accounts.user(address)
            mailbox = await self.store.get_mailbox(account.id, INBOX)
            assert mailbox is not None
            return mailbox.uid_validity

        return self.run(get())

    # --- clients ----------------------------------------------------------------------

    @contextlib.contextmanager
    def pop3(self, listener: str = "pop3") -> Iterator[poplib.POP3]:
        client = poplib.POP3("localhost", self.port(listener), timeout=30)
        try:
            yield client
        finally:
            client.close()

    @contextlib.contextmanager
    def pop3_stls(self, listener: str = "pop3") -> Iterator[poplib.POP3]:
        with self.pop3(listener) as client:
            client.stls(context=self.tls_context())
            yield client

    @contextlib.contextmanager
    def pop3s(self, listener: str = "pop3s") -> Iterator[poplib.POP3_SSL]:
        client = poplib.POP3_SSL("localhost", self.port(listener), timeout=30, context=self.tls_context())
        try:
            yield client
        finally:
            client.close()

    def wait_for_log(self, pattern: str, timeout: float = 10) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.records.text().splitlines():
                if regex.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r}:\n{self.records.text()}")


def make_message(i: int, size: int = 1024, *, dots: bool = True) -> bytes:
    """A message of about ``size`` bytes; with lines that start with "." to be stuffed."""
    msg = EmailMessage()
    msg["From"] = "sender@remote.example"
    msg["To"] = "alice@example.org"
    msg["Subject"] = f"message {i}"
    line = "." + "x" * 70 if dots else "y" * 71
    body_lines = max(1, (size - 200) // 73)
    msg.set_content("\r\n".join([f"line {i}", *([line] * body_lines), ".", "..", "end"]) + "\r\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Pop3Env]:
    pop3_env = Pop3Env(tmp_path)
    try:
        pop3_env.start()
        yield pop3_env
    finally:
        pop3_env.stop()
