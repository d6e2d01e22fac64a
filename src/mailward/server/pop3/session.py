"""One POP3 connection: the sans-IO core driven over a :class:`Connection`.

The loop: send what the core has to say, read (with the POP3 idle timeout, RFC 1939 3:
at least 10 minutes), feed the core, and act on each event it returns: logins are
answered by :mod:`.auth`, after which the maildrop is locked and listed
(:mod:`.maildrop`); RETR and TOP stream from the store; QUIT applies the deletions;
STLS upgrades the connection. Replies to pipelined commands (RFC 2449 6.6) go out
together, when the core needs more input.

Errors: a store failure while answering is logged with its traceback and answered
``-ERR [SYS/TEMP]``; the client never sees exception text.
"""

from __future__ import annotations

import logging

from mailward.config.pop3 import Pop3Settings
from mailward.protocols.pop3 import replies as R
from mailward.protocols.pop3.core import Facts, Limits, Mode, Pop3Core
from mailward.protocols.pop3.events import (
    NEED_DATA,
    AuthCancelled,
    AuthRequest,
    AuthResponse,
    Close,
    Event,
    PasswordLogin,
    Retrieve,
    Sentinel,
    StartTls,
    Update,
)
from mailward.protocols.pop3.replies import Reply
from mailward.server.connection import Connection, ConnectionLog
from mailward.server.pop3.auth import Pop3Login
from mailward.server.pop3.maildrop import MaildropLock
from mailward.server.pop3.transcript import Transcript
from mailward.server.services import Services
from mailward.store.interface import Account

log = logging.getLogger("mailward.pop3")

READ_SIZE = 64 * 1024
_WRITE_BATCH = 64 * 1024


class Pop3Session:
    def __init__(self, conn: Connection, services: Services) -> None:
        self.conn = conn
        self.services = services
        self.settings = conn.listener.settings_of(Pop3Settings)
        self.log = ConnectionLog(log, {"conn": conn.id})
        self.auth = Pop3Login(conn, services.auth, self.log)
        self.lock: MaildropLock | None = None
        self.transcript = Transcript(self.log)
        settings = self.settings
        limits = Limits(max_errors=settings.max_errors, max_auth_failures=settings.max_auth_failures,
                        max_commands=settings.max_commands)
        self.core = Pop3Core(self.facts(), limits)

    def facts(self) -> Facts:
        login = self.auth.login
        now, unlisted, later = login.mechanisms()
        tls_active = self.conn.tls is not None
        settings = self.settings
        return Facts(
            tls_active=tls_active,
            tls_available=self.conn.tls_available,
            password_allowed=login.password_allowed(),
            password_after_tls=not tls_active and self.conn.tls_available and "PLAIN" in later,
            mechanisms=now,
            mechanisms_unlisted=unlisted,
            mechanisms_need_tls=later if self.conn.tls_available else (),
            expire=settings.expire,
            login_delay=settings.login_delay or None,
        )

    async def run(self) -> None:
        try:
            if self.conn.tls is not None:  # implicit TLS
                await self.auth.login.identify_certificate()
                self.core.facts = self.facts()
            await self._loop()
        finally:
            if self.lock is not None:
                await self.lock.release()

    async def _loop(self) -> None:
        core = self.core
        while True:
            event = core.next_event()
            if event is NEED_DATA:
                self._send_pending()
                await self.conn.drain()
                data = await self.conn.read(READ_SIZE, timeout=self.settings.idle_timeout)
                if not data:
                    return  # the client closed the connection (nothing is deleted)
                self.transcript.received(data, in_auth=core.mode is Mode.AUTH)
                core.receive_data(data)
            elif isinstance(event, Close):
                self._send_pending()
                self.log.debug("closing: %s", event.reason)
                return
            elif isinstance(event, StartTls):
                await self._start_tls()
            elif isinstance(event, Sentinel):  # PAUSED
                raise RuntimeError("a POP3 decision was left unanswered")
            else:
                await self._handle(event)

    def _send_pending(self) -> None:
        out = self.core.data_to_send()
        if out:
            self.transcript.sent(out)
            self.conn.write(out)

    async def _start_tls(self) -> None:
        # No await between +OK and the handshake: whatever the client pipelined after STLS
        # is discarded (RFC 2595 4; the core dropped its buffer, start_tls the connection's)
        self._send_pending()
        tls = await self.conn.start_tls()
        self.log.debug("STLS: %s", tls)
        self.auth.tls_changed()
        await self.auth.login.identify_certificate()
        self.core.tls_started(self.facts())

    async def _handle(self, event: Event) -> None:
        if isinstance(event, AuthCancelled):
            self.auth.cancelled()
        elif isinstance(event, (PasswordLogin, AuthRequest, AuthResponse)):
            await self._login(event)
        elif isinstance(event, Retrieve):
            await self._retrieve(event)
        elif isinstance(event, Update):
            self.core.answer(await self._update(event))

    async def _login(self, event: PasswordLogin | AuthRequest | AuthResponse) -> None:
        account: Account | None
        if isinstance(event, PasswordLogin):
            account = await self.auth.password(self.core, event)
        elif isinstance(event, AuthRequest):
            account = await self.auth.request(self.core, event)
        else:
            account = await self.auth.response(self.core, event)
        if account is None:
            return  # answered: a challenge or a refusal
        try:
            opened = await MaildropLock.open(self.services.store, account, self.conn,
                                             self.settings.lease_seconds, self.settings.login_delay, self.log)
        except Exception:
            self.log.exception("POP3: opening the maildrop of %s failed", account.name)
            self.core.answer(R.TEMPORARY)
            return
        if isinstance(opened, Reply):
            self.log.info("POP3: maildrop of %s refused: %s", account.name, opened.text)
            self.core.answer(opened)
            return
        self.lock = opened
        self.conn.spawn(opened.keep(self.conn), name=f"pop3-lease-{self.conn.id}")
        self.core.logged_in(opened.maildrop)

    async def _retrieve(self, event: Retrieve) -> None:
        lock = self.lock
        assert lock is not None
        self._send_pending()  # the replies before this one
        out: list[bytes] = []  # one write (one TLS record) per 64 KiB, not one per piece
        buffered = 0
        replied = written = False
        try:
            async for part in lock.retrieve(event.index, event.lines):
                if isinstance(part, Reply):
                    self.core.answer(part)
                    status = self.core.data_to_send()
                    self.transcript.sent(status)  # the status line only, never the message
                    out.append(status)
                    replied = True
                    continue
                out.append(part)
                buffered += len(part)
                if buffered >= _WRITE_BATCH:
                    self.conn.write(b"".join(out))
                    out, buffered, written = [], 0, True
                    await self.conn.drain()
        except Exception:
            if written:  # the response has begun: it cannot be ended with -ERR
                raise
            self.log.exception("POP3: reading message %d failed", event.index + 1)
            if replied:  # its +OK was never sent: say -ERR instead
                self.conn.write(R.TEMPORARY.render())
            else:
                self.core.answer(R.TEMPORARY)
            return
        self.conn.write(b"".join(out))

    async def _update(self, event: Update) -> Reply:
        """RFC 1939 6: remove the messages marked deleted, then release the lock; the lock
        goes before the reply, so that the client's next session finds the maildrop free."""
        lock = self.lock
        assert lock is not None
        try:
            reply = await lock.update(event.uids)
        except Exception:
            self.log.exception("POP3: removing %d deleted message(s) failed", len(event.uids))
            reply = R.UPDATE_FAILED
        await lock.release()
        if event.uids and reply.ok:
            self.log.info("POP3: removed %d message(s) at QUIT", len(event.uids))
        return reply
