"""The real server with IMAP listeners (STARTTLS on one, implicit TLS on another) and an
SMTP listener to deliver with, a real SQLite store and real TLS, in a thread of its own;
the tests use blocking clients (imaplib, smtplib, imapclient) as they are."""

from __future__ import annotations

import asyncio
import imaplib
import logging
import smtplib
import ssl
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import argon2

from mailward.auth.accounts import AccountService, fake_salt_key
from mailward.config import ListenerSettings, load
from mailward.config.store import StoreSettings
from mailward.server.app import Server
from mailward.server.imap import SPEC as IMAP
from mailward.server.services import services_for
from mailward.server.smtp import SPEC as SMTP
from mailward.store.factory import open_store
from mailward.store.interface import Store
from mailward.tls.context import ServerContextSource
from mailward.tls.source import source_for_listener
from support.pki import TestCA

T = TypeVar("T")

FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
HOSTNAME = "mail.example.org"
Mailboxes = dict[str, dict[int, tuple[frozenset[str], bytes]]]  # name -> UID -> (flags, bytes)
PASSWORDS = {"alice@example.org": "alice-secret-1", "bob@example.org": "bob-secret-2"}

CONFIG = """
hostname = "{hostname}"
data_dir = "{data}"
shutdown_grace = 2

[[listener]]
name = "imap"
protocol = "imap"
address = "127.0.0.1:0"
tls = "starttls"

[[listener]]
name = "imaps"
protocol = "imap"
address = "127.0.0.1:0"
tls = "implicit"

[[listener]]
name = "mx"
protocol = "smtp"
role = "mx"
address = "127.0.0.1:0"
tls = "none"
{extra}
"""


class Records(logging.Handler):
    """The server's log records, for tests that look at what it logged."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class ImapEnv:
    """``store``: the store's settings (the embedded one by default); ``seed``: add the
    domain and users (a second node on the same PostgreSQL database does not)."""

    def __init__(self, tmp_path: Path, extra: str = "", store: StoreSettings | None = None,
                 seed: bool = True) -> None:
        self.tmp = tmp_path
        self.extra = extra
        self.store_settings = store or StoreSettings(backend="sqlite")
        self.seed = seed
        self.ca = TestCA(tmp_path / "certs")
        self.ca.issue("server", ("localhost", "127.0.0.1", HOSTNAME))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="imap-server", daemon=True)
        self.store: Store
        self.server: Server
        self.accounts: AccountService
        self.log = Records()
        self.stopped = False

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self.log.records)

    def start(self) -> None:
        logger = logging.getLogger("mailward")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self.log)
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        path = self.tmp / "mailward.toml"
        path.write_text(CONFIG.format(hostname=HOSTNAME, data=self.tmp, extra=self.extra))
        loaded = load(path, {"smtp": SMTP.rules, "imap": IMAP.rules})
        self.store = await open_store(self.store_settings, self.tmp)
        self.accounts = AccountService(self.store, hasher=FAST)
        if self.seed:
            await self.accounts.add_domain("example.org")
            for address, password in PASSWORDS.items():
                await self.accounts.add_user(address, password)

        def tls_factory(settings: ListenerSettings) -> ServerContextSource:
            return source_for_listener(settings, hostname=HOSTNAME)

        services = services_for(loaded.config, self.store, fake_salt_key(b"k" * 32))
        self.server = Server(loaded, {"smtp": SMTP, "imap": IMAP}, tls_factory, services)
        await self.server.start()

    def stop(self) -> None:
        try:
            if hasattr(self, "server") and not self.stopped:
                self.run(self.server.stop(grace=2))
            if hasattr(self, "store"):
                self.run(self.store.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            logging.getLogger("mailward").removeHandler(self.log)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def port(self, listener: str) -> int:
        return self.server.listeners[listener].sockname[1]

    def mailboxes(self, user: str = "alice@example.org") -> Mailboxes:
        """Every mailbox of ``user``: its messages' flags and bytes by UID, from the store."""
        return self.run(self._mailboxes(user))

    async def _mailboxes(self, user: str) -> Mailboxes:
        account = await self.accounts.user(user)
        state: Mailboxes = {}
        for box in await self.store.list_mailboxes(account.id):
            state[box.name] = {m.uid: (m.flags, b"".join([c async for c in self.store.read(m.blob)]))
                               for m in await self.store.messages(box.id)}
        return state

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))

    def deliver(self, to: str, message: bytes, sender: str = "someone@example.net") -> None:
        with smtplib.SMTP("127.0.0.1", self.port("mx"), timeout=10) as client:
            client.sendmail(sender, [to], message)

    def plain(self) -> imaplib.IMAP4:
        """A connection to the STARTTLS listener, before STARTTLS."""
        return imaplib.IMAP4("127.0.0.1", self.port("imap"), timeout=10)

    def imaps(self) -> imaplib.IMAP4_SSL:
        return imaplib.IMAP4_SSL("localhost", self.port("imaps"), ssl_context=self.tls_context(), timeout=10)

    def login(self, user: str = "alice@example.org") -> imaplib.IMAP4_SSL:
        client = self.imaps()
        client.login(user, PASSWORDS[user])
        return client


def message(subject: str, body: str = "Hello.", sender: str = "someone@example.net") -> bytes:
    return (f"From: {sender}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject))}@example.net>\r\n\r\n{body}\r\n").encode()
