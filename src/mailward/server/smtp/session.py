"""One SMTP connection: the sans-IO core driven over a :class:`Connection`.

The loop: send what the core has to say, read (with the listener's idle timeout;
a shutdown interrupts only between messages), feed the core, and act on each event
it returns: decisions (MAIL, RCPT, end of message, AUTH) are answered from the
services, message bytes stream into the store (:mod:`.message`), STARTTLS upgrades
the connection. Replies to pipelined commands go out together, when the core
needs more input (RFC 2920 3.1).

Errors: anything unexpected while deciding is logged with its traceback and
answered 451 4.3.0 (or 454 4.7.0 in AUTH); the client never sees exception text.
"""

from __future__ import annotations

import logging
import time

from mailward.config.smtp import SmtpSettings
from mailward.delivery import local
from mailward.protocols.smtp import replies as R
from mailward.protocols.smtp.core import Facts, Limits, Mode, SmtpCore
from mailward.protocols.smtp.events import (
    PAUSED,
    AuthCancelled,
    AuthRequest,
    AuthResponse,
    Close,
    DataChunk,
    Event,
    Hello,
    MailFrom,
    MessageComplete,
    RcptTo,
    Reset,
    Sentinel,
    StartTls,
)
from mailward.protocols.smtp.replies import Reply
from mailward.ratelog import RateLimitedLog
from mailward.server.connection import Connection, ConnectionLog
from mailward.server.services import Services
from mailward.server.smtp.auth import SessionAuth
from mailward.server.smtp.envelope import SUBMISSION, Envelope, EnvelopePolicy
from mailward.server.smtp.message import MessageBody, Trace, trace_header
from mailward.server.smtp.transcript import Transcript
from mailward.store.interface import MessageSource, StoreFull

log = logging.getLogger("mailward.smtp")

READ_SIZE = 256 * 1024


def limits_of(conn: Connection) -> Limits:
    smtp = conn.listener.settings_of(SmtpSettings)
    return Limits(
        max_message_size=smtp.max_message_size,
        max_recipients=smtp.max_recipients,
        max_errors=smtp.max_errors,
        max_junk_commands=smtp.max_junk_commands,
    )


class SmtpSession:
    def __init__(self, conn: Connection, services: Services) -> None:
        self.conn = conn
        self.services = services
        self.log = ConnectionLog(log, {"conn": conn.id})
        self.submission = conn.listener.role == SUBMISSION
        self.auth = SessionAuth(conn, services.auth, self.log)
        self.policy = EnvelopePolicy(services, conn.listener.role, self.log)
        self.transcript = Transcript(self.log)
        self.hello: Hello | None = None
        self.envelope: Envelope | None = None
        self.body: MessageBody[local.Delivered] | None = None
        self.core = SmtpCore(self.facts(), limits_of(conn))

    def facts(self) -> Facts:
        listener = self.conn.listener
        now, unlisted, later = self.auth.mechanisms() if self.submission else ((), (), ())
        return Facts(
            hostname=self.services.config.server_name,
            tls_active=self.conn.tls is not None,
            tls_available=self.conn.tls_available,
            tls_required=listener.tls == "starttls-required",
            auth_mechanisms=now,
            auth_mechanisms_unlisted=unlisted,
            auth_mechanisms_need_tls=later,
            auth_required=self.submission,
        )

    async def run(self) -> None:
        try:
            if self.submission and self.conn.tls is not None:  # implicit TLS
                await self.auth.identify_certificate()
                self.core.facts = self.facts()
            await self._loop()
        finally:
            await self._drop_message()

    async def _loop(self) -> None:
        core = self.core
        while True:
            event = core.next_event()
            if isinstance(event, Sentinel):
                if event is PAUSED:
                    raise RuntimeError("an SMTP decision was left unanswered")
                await self._flush()
                data = await self.conn.read(READ_SIZE, interruptible=not core.in_message)
                if not data:
                    return  # the client closed the connection
                self.transcript.received(
                    data, in_body=core.mode in (Mode.DATA, Mode.BDAT), in_auth=core.mode is Mode.AUTH
                )
                core.receive_data(data)
            elif isinstance(event, Close):
                self._send_pending()
                self.log.debug("closing: %s", event.reason)
                return
            elif isinstance(event, StartTls):
                await self._start_tls()
            else:
                await self._handle(event)

    def _send_pending(self) -> None:
        out = self.core.data_to_send()
        if out:
            self.transcript.sent(out)
            self.conn.write(out)

    async def _flush(self) -> None:
        self._send_pending()
        await self.conn.drain()

    async def _start_tls(self) -> None:
        # No await between the 220 and the handshake: the client's ClientHello must not be
        # read as plaintext, and whatever it pipelined after STARTTLS is discarded (RFC 3207
        # 4.2; the core dropped its buffer, start_tls drops the connection's).
        self._send_pending()
        tls = await self.conn.start_tls()
        self.log.debug("STARTTLS: %s", tls)
        self.hello = None
        self.auth.tls_changed()
        if self.submission:
            await self.auth.identify_certificate()
        self.core.tls_started(self.facts())

    async def _handle(self, event: Event) -> None:
        if isinstance(event, Hello):
            self.hello = event
        elif isinstance(event, Reset):
            await self._reset(event.reason)
        elif isinstance(event, DataChunk):
            await self._body().write(event.data)
        elif isinstance(event, AuthCancelled):
            self.auth.cancelled()
        elif isinstance(event, AuthRequest):
            await self.auth.request(self.core, event)
        elif isinstance(event, AuthResponse):
            await self.auth.response(self.core, event)
        elif isinstance(event, (MailFrom, RcptTo, MessageComplete)):
            self.core.answer(await self._decide(event))

    async def _decide(self, event: MailFrom | RcptTo | MessageComplete) -> Reply:
        if isinstance(event, MessageComplete):
            return await self._message_complete(event)
        try:
            if isinstance(event, MailFrom):
                reply, self.envelope = await self.policy.mail_from(event, self.auth.account)
                return reply
            assert self.envelope is not None
            return await self.policy.rcpt_to(event, self.envelope)
        except StoreFull as exc:
            _store_full(exc)
            return R.STORE_FULL
        except Exception:
            self.log.exception("%s: failed; answering 451", type(event).__name__)
            return R.LOCAL_ERROR

    async def _reset(self, reason: str) -> None:
        """The core dropped the transaction (RSET, EHLO, STARTTLS, too big, closing)."""
        if self.envelope is not None and (self.body is not None or reason == "message too big"):
            refused = R.MESSAGE_TOO_BIG if reason == "message too big" else None
            self._log_message(None, refused, reason)
        await self._drop_message()

    async def _drop_message(self) -> None:
        body, self.body = self.body, None
        self.envelope = None
        if body is not None:
            await body.abort()

    # --- the message ---------------------------------------------------------------

    def _body(self) -> MessageBody[local.Delivered]:
        """The message being received, streaming into the store since its first bytes."""
        if self.body is None:
            envelope = self.envelope
            assert envelope is not None and envelope.accounts
            accounts = tuple(envelope.accounts.values())
            store = self.services.store

            async def deliver(content: MessageSource) -> local.Delivered:
                return await local.deliver(store, accounts, content)

            self.body = MessageBody(deliver, trace_header(self._trace(envelope)))
        return self.body

    def _trace(self, envelope: Envelope) -> Trace:
        hello = self.hello
        account = self.auth.account
        return Trace(
            queue_id=envelope.queue_id,
            helo=hello.domain if hello is not None else "unknown",
            esmtp=hello.esmtp if hello is not None else False,
            peer_ip=self.conn.peer[0],
            hostname=self.services.config.server_name,
            tls=self.conn.tls,
            user=account.name if account is not None else None,
            smtputf8=envelope.smtputf8,
            sender=envelope.sender,
            recipients=tuple(envelope.recipients),
            date=time.time(),
        )

    async def _message_complete(self, event: MessageComplete) -> Reply:
        """Close the stream and answer only once the store says the message is durable."""
        envelope = self.envelope
        assert envelope is not None
        reply = R.MESSAGE_ACCEPTED
        try:
            body = self._body()  # an empty message has sent no chunk yet
            self.body = None
            delivered = await body.finish()
            detail = f"delivered to {len(delivered.accounts)} mailbox(es)"
        except local.OverQuota as exc:
            reply = R.MAILBOX_FULL if exc.permanent else R.MAILBOX_FULL_SOME
            detail = str(exc)
        except StoreFull as exc:
            _store_full(exc)
            reply, detail = R.STORE_FULL, "store full"
        except Exception:
            self.log.exception("message %s: delivery failed; answering 451", envelope.queue_id)
            reply, detail = R.LOCAL_ERROR, "store error"
        self._log_message(event.size, None if reply.positive else reply, detail)
        await self._drop_message()
        return reply

    def _log_message(self, size: int | None, refused: Reply | None, detail: str) -> None:
        envelope = self.envelope
        if envelope is None:
            return
        result = "accepted" if refused is None else f"refused {refused.code} {refused.status}"
        self.log.info(
            "message id=%s from=%s to=%s size=%s result=%s (%s)",
            envelope.queue_id,
            envelope.sender_text,
            ",".join(f"<{r}>" for r in envelope.recipients),
            "-" if size is None else size,
            result,
            detail,
        )


_full_log = RateLimitedLog(logging.getLogger("mailward.store"))


def _store_full(exc: StoreFull) -> None:
    """One line now and then, not a traceback per message, while the store is full."""
    _full_log.warning("full", f"{exc}: refusing mail with 452 4.3.1 until there is room")
