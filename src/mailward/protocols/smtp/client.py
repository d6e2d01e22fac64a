"""The SMTP client protocol core, sans-IO (RFC 5321; 1870, 2034, 2920, 3030, 3207, 3461, 4954, 6152, 6531).

The relay drives it the way the server side drives :mod:`~mailward.protocols.smtp.core`:
feed the server's bytes with :meth:`SmtpClient.receive_data`, take events with
:meth:`SmtpClient.next_event` until it returns :data:`NEED_DATA`, call a command
method (:meth:`hello`, :meth:`starttls`, :meth:`auth_plain`, :meth:`auth_login`,
:meth:`send_mail`, :meth:`quit`) when the core is idle, and write what
:meth:`data_to_send` returns. Timeouts (RFC 5321 4.5.3.2) and the TLS handshake are
the caller's; the core never touches a socket or a clock.

Events, in the order a session sees them: :class:`Greeting`, :class:`Ready` (after
EHLO, or HELO when EHLO got 500/502), :class:`TlsReady`, :class:`Authenticated`,
:class:`Refused`, :class:`MessageOutcome` (one per :meth:`send_mail`, with an outcome
per recipient), :class:`Closed` (221 after QUIT, or a 421 at any time).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from mailward.protocols.smtp.client_commands import (
    Envelope,
    Recipient,
    bdat_chunks,
    check_message,
    dot_stuff,
    render_auth_plain,
    render_auth_response,
    render_ehlo,
    render_helo,
    render_mail,
    render_rcpt,
)
from mailward.protocols.smtp.client_replies import (
    NO_CAPABILITIES,
    Capabilities,
    ReplyReader,
    SmtpClientProtocolError,
    parse_capabilities,
)
from mailward.protocols.smtp.events import NEED_DATA, Sentinel
from mailward.protocols.smtp.replies import Reply

__all__ = [
    "NEED_DATA",
    "Authenticated",
    "ClientStateError",
    "Closed",
    "Delivery",
    "Event",
    "Greeting",
    "MessageOutcome",
    "Ready",
    "RecipientOutcome",
    "Refused",
    "SmtpClient",
    "SmtpClientProtocolError",
    "TlsReady",
]

DEFAULT_CHUNK_SIZE = 1 << 20
# Decided here, without sending (the server said it cannot take the message as it is).
TOO_BIG_FOR_PEER = Reply(552, "5.3.4", "Message size exceeds the remote server's SIZE limit; not sent")
NEEDS_SMTPUTF8 = Reply(553, "5.6.7", "The remote server does not offer SMTPUTF8, which this message needs")
NEEDS_8BITMIME = Reply(554, "5.6.3", "The remote server does not offer 8BITMIME, which this message needs")
CONNECTION_LOST = Reply(451, "4.4.2", "Connection lost before the server's reply")


class ClientStateError(RuntimeError):
    """The caller asked for a command the core cannot send now (API misuse, not the peer's fault)."""


class Delivery(enum.Enum):
    ACCEPTED = "accepted"
    TEMPORARY = "temporary failure"  # 4xx: retry later
    PERMANENT = "permanent failure"  # 5xx: bounce

    @staticmethod
    def of(reply: Reply) -> Delivery:
        if reply.code < 400:
            return Delivery.ACCEPTED
        return Delivery.TEMPORARY if reply.code < 500 else Delivery.PERMANENT


@dataclass(frozen=True)
class Greeting:
    reply: Reply  # 220 to go on; anything else: QUIT (RFC 5321 3.1)


@dataclass(frozen=True)
class Ready:
    """EHLO (``esmtp``) or HELO was accepted; the capabilities hold until STARTTLS."""

    capabilities: Capabilities
    esmtp: bool
    reply: Reply


@dataclass(frozen=True)
class TlsReady:
    """STARTTLS got 220: do the handshake, then call :meth:`SmtpClient.tls_established`."""

    reply: Reply


@dataclass(frozen=True)
class Authenticated:
    reply: Reply


@dataclass(frozen=True)
class Refused:
    """A command outside a mail transaction failed (EHLO and HELO, STARTTLS, AUTH, RSET)."""

    command: str
    reply: Reply


@dataclass(frozen=True)
class RecipientOutcome:
    recipient: Recipient
    delivery: Delivery
    reply: Reply  # the RCPT's reply when it failed, else the reply after the data


@dataclass(frozen=True)
class MessageOutcome:
    """The end of one :meth:`SmtpClient.send_mail`.

    ``reply`` decided the message: the one after the data, else the failed MAIL's,
    else the last RCPT's. ``local`` is true when the core decided without sending
    (SIZE exceeded, SMTPUTF8 or 8BITMIME needed but not offered) or the connection
    was lost. ``dsn_passed`` is true when the server offered DSN, so NOTIFY, ORCPT,
    RET and ENVID went on with the message (else the relay owes "relayed" DSNs,
    RFC 3461 5.2.2).
    """

    recipients: tuple[RecipientOutcome, ...]
    reply: Reply
    local: bool = False
    dsn_passed: bool = False

    @property
    def accepted(self) -> tuple[Recipient, ...]:
        return tuple(o.recipient for o in self.recipients if o.delivery is Delivery.ACCEPTED)


@dataclass(frozen=True)
class Closed:
    reply: Reply  # 221 after QUIT, or 421: the server is closing (RFC 5321 3.8)


Event = Greeting | Ready | TlsReady | Authenticated | Refused | MessageOutcome | Closed


class _Kind(enum.Enum):
    GREETING = "greeting"
    EHLO = "EHLO"
    HELO = "HELO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    DATA_END = "end of data"
    BDAT = "BDAT"
    RSET = "RSET"
    QUIT = "QUIT"


@dataclass
class _Transaction:
    envelope: Envelope
    message: bytes
    mail_reply: Reply | None = None
    rcpt_replies: list[Reply] = field(default_factory=list)
    final_reply: Reply | None = None
    chunks: deque[bytes] = field(default_factory=deque)
    outcome: MessageOutcome | None = None

    @property
    def any_accepted(self) -> bool:
        return self.mail_ok and any(r.positive for r in self.rcpt_replies)

    @property
    def mail_ok(self) -> bool:
        return self.mail_reply is not None and self.mail_reply.positive


class SmtpClient:
    """One SMTP client connection's protocol state; see the module's doc string."""

    def __init__(self, helo_name: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not helo_name.isascii() or not helo_name or any(c in helo_name for c in " \r\n"):
            raise ValueError(f"bad EHLO name: {helo_name!r}")
        self._helo_name = helo_name
        self._chunk_size = chunk_size
        self._reader = ReplyReader()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._pending: deque[_Kind] = deque([_Kind.GREETING])
        self._capabilities = NO_CAPABILITIES
        self._ready = False  # EHLO or HELO accepted (since the last STARTTLS)
        self._greeted = False
        self._awaiting_tls = False
        self._tls = False
        self._closing: Reply | None = None
        self._closed = False
        self._auth_responses: deque[bytes] = deque()
        self._transaction: _Transaction | None = None

    # -- facts ---------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def busy(self) -> bool:
        """True while a command's reply is awaited; command methods need the core idle."""
        return bool(self._pending) or self._awaiting_tls

    @property
    def ready(self) -> bool:
        """EHLO or HELO was accepted (since the last STARTTLS): mail may be sent."""
        return self._ready

    @property
    def closed(self) -> bool:
        return self._closed

    # -- bytes in and out ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._reader.feed(data)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | Sentinel:
        """The next event, or NEED_DATA. Raises :class:`SmtpClientProtocolError` on a bad reply."""
        while not self._events:
            if self._awaiting_tls or self._closed:
                return NEED_DATA
            reply = self._reader.next_reply()
            if reply is None:
                return NEED_DATA
            self._on_reply(reply)
        return self._events.popleft()

    def connection_lost(self) -> None:
        """The connection ended: an open transaction ends in a temporary failure (local)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        txn = self._transaction
        if txn is not None:
            if txn.outcome is None:
                self._finish(CONNECTION_LOST, local=True)
            self._emit_outcome()

    # -- commands ------------------------------------------------------------------

    def hello(self) -> None:
        """EHLO, falling back to HELO when EHLO is not known (RFC 5321 4.1.1.1)."""
        self._need_idle(greeted=True)
        self._send(render_ehlo(self._helo_name), _Kind.EHLO)

    def starttls(self) -> None:
        """STARTTLS (RFC 3207 4); the server must have offered it and TLS must not be on."""
        self._need_idle(ready=True)
        if self._tls or not self._capabilities.starttls:
            raise ClientStateError("STARTTLS is not offered here")
        self._send(b"STARTTLS\r\n", _Kind.STARTTLS)

    def tls_established(self) -> None:
        """The handshake is done: forget everything learnt in plaintext and EHLO again (RFC 3207 4.2)."""
        if not self._awaiting_tls:
            raise ClientStateError("no STARTTLS is waiting for its handshake")
        self._awaiting_tls = False
        self._tls = True
        # Bytes the server sent after its 220 in plaintext are an injection (CVE-2011-0411 style).
        self._reader.discard()
        self._capabilities = NO_CAPABILITIES
        self._ready = False
        self._send(render_ehlo(self._helo_name), _Kind.EHLO)

    def auth_plain(self, authcid: str, password: str, authzid: str = "") -> None:
        """AUTH PLAIN with the initial response (RFC 4954 4, RFC 4616)."""
        self._need_auth("PLAIN")
        self._send(render_auth_plain(authcid, password, authzid), _Kind.AUTH)

    def auth_login(self, username: str, password: str, *, initial_response: bool = False) -> None:
        """AUTH LOGIN: the user name and password answer the 334 prompts in turn.

        ``initial_response`` sends the user name on the AUTH line (RFC 4954 4), which
        most servers take; without it the first 334 gets it.
        """
        self._need_auth("LOGIN")
        user, secret = username.encode(), password.encode()
        if initial_response:
            self._auth_responses = deque([secret])
            line = b"AUTH LOGIN " + render_auth_response(user)
        else:
            self._auth_responses = deque([user, secret])
            line = b"AUTH LOGIN\r\n"
        self._send(line, _Kind.AUTH)

    def send_mail(self, envelope: Envelope, message: bytes) -> None:
        """One mail transaction; ends in one :class:`MessageOutcome` event.

        ``message`` must have CRLF line endings and no line over 998 octets (else
        :class:`~mailward.protocols.smtp.client_commands.MessageFormatError`).
        """
        self._need_idle(ready=True)
        if not envelope.recipients:
            raise ValueError("a transaction needs at least one recipient")
        txn = _Transaction(envelope, check_message(message))
        self._transaction = txn
        caps = self._capabilities
        local = self._local_refusal(txn, caps)
        if local is not None:
            self._finish(local, local=True, everyone=True)
            self._emit_outcome()
            return
        group = [(render_mail(envelope, len(txn.message), caps), _Kind.MAIL)]
        group += [(render_rcpt(r, caps), _Kind.RCPT) for r in envelope.recipients]
        if not caps.chunking:
            group.append((b"DATA\r\n", _Kind.DATA))
        if not caps.pipelining:
            group = group[:1]  # the rest follows reply by reply
        for line, kind in group:  # RFC 2920 3.1: MAIL, RCPT..., DATA in one group
            self._send(line, kind)

    def quit(self) -> None:
        self._need_idle()
        self._send(b"QUIT\r\n", _Kind.QUIT)

    # -- internals: sending ----------------------------------------------------------------

    def _need_idle(self, *, greeted: bool = False, ready: bool = False) -> None:
        if self._closed or self._closing is not None:
            raise ClientStateError("the connection is closed")
        if self.busy:
            raise ClientStateError("a command's reply is still awaited")
        if (greeted or ready) and not self._greeted:
            raise ClientStateError("no 220 greeting yet")
        if ready and not self._ready:
            raise ClientStateError("send EHLO first")

    def _need_auth(self, mechanism: str) -> None:
        self._need_idle(ready=True)
        if mechanism not in self._capabilities.auth:
            raise ClientStateError(f"AUTH {mechanism} is not offered here")

    def _send(self, line: bytes, kind: _Kind) -> None:
        self._pending.append(kind)
        if self._closing is None and not self._closed:
            self._out += line

    @staticmethod
    def _local_refusal(txn: _Transaction, caps: Capabilities) -> Reply | None:
        if caps.size and len(txn.message) > caps.size:  # RFC 1870 6.1
            return TOO_BIG_FOR_PEER
        if txn.envelope.needs_smtputf8 and not caps.smtputf8:  # RFC 6531 3.4
            return NEEDS_SMTPUTF8
        if txn.envelope.eight_bit and not caps.eightbitmime:  # RFC 6152 3 (no conversion here)
            return NEEDS_8BITMIME
        return None

    # -- internals: replies -------------------------------------------------------------

    def _on_reply(self, reply: Reply) -> None:
        if not self._pending:
            raise SmtpClientProtocolError(f"reply {reply.code} to no command")
        if reply.code == 421:
            # RFC 5321 3.8: the server closes; this reply stands for every command in flight
            self._closing = reply
            while self._pending:
                self._dispatch(self._pending.popleft(), reply)
            self._closed = True
            if self._transaction is not None:
                self._emit_outcome()
            self._events.append(Closed(reply))
            return
        self._dispatch(self._pending.popleft(), reply)

    def _dispatch(self, kind: _Kind, reply: Reply) -> None:
        expects_intermediate = kind in (_Kind.DATA, _Kind.AUTH)
        if 300 <= reply.code < 400 and not expects_intermediate:
            raise SmtpClientProtocolError(f"intermediate reply {reply.code} to {kind.value}")
        handler = getattr(self, f"_on_{kind.name.lower()}")
        handler(reply)

    def _on_greeting(self, reply: Reply) -> None:
        self._greeted = reply.code == 220
        self._events.append(Greeting(reply))

    def _on_ehlo(self, reply: Reply) -> None:
        if reply.code in (500, 502):  # RFC 5321 4.1.1.1: not known, try HELO
            self._send(render_helo(self._helo_name), _Kind.HELO)
        elif reply.positive:
            self._capabilities = parse_capabilities(reply)
            self._ready = True
            self._events.append(Ready(self._capabilities, True, reply))
        else:
            self._events.append(Refused("EHLO", reply))

    def _on_helo(self, reply: Reply) -> None:
        if reply.positive:
            self._ready = True
            self._capabilities = NO_CAPABILITIES
            self._events.append(Ready(NO_CAPABILITIES, False, reply))
        else:
            self._events.append(Refused("HELO", reply))

    def _on_starttls(self, reply: Reply) -> None:
        if reply.code == 220 and self._closing is None:
            self._awaiting_tls = True
            self._events.append(TlsReady(reply))
        else:
            self._events.append(Refused("STARTTLS", reply))

    def _on_auth(self, reply: Reply) -> None:
        if reply.code == 334:
            # RFC 4954 4: answer the challenge, or cancel with "*" when we have nothing left
            response = self._auth_responses.popleft() if self._auth_responses else None
            line = b"*\r\n" if response is None else render_auth_response(response)
            self._send(line, _Kind.AUTH)
        elif reply.code == 235:
            self._auth_responses.clear()
            self._events.append(Authenticated(reply))
        else:
            self._auth_responses.clear()
            self._events.append(Refused("AUTH", reply))

    def _on_rset(self, reply: Reply) -> None:
        if not reply.positive and self._closing is None:
            self._events.append(Refused("RSET", reply))
        if self._transaction is not None:
            self._emit_outcome()

    def _on_quit(self, reply: Reply) -> None:
        self._closed = True
        if self._closing is None:
            self._events.append(Closed(reply))

    # -- internals: the mail transaction --------------------------------------------------

    def _txn(self) -> _Transaction:
        if self._transaction is None:
            raise SmtpClientProtocolError("transaction reply outside a transaction")
        return self._transaction

    def _on_mail(self, reply: Reply) -> None:
        txn = self._txn()
        txn.mail_reply = reply
        if self._capabilities.pipelining:
            return  # the RCPTs (and DATA) are in flight already
        if reply.positive:
            self._send(render_rcpt(txn.envelope.recipients[0], self._capabilities), _Kind.RCPT)
        else:
            self._finish(reply)
            self._emit_outcome()

    def _on_rcpt(self, reply: Reply) -> None:
        txn = self._txn()
        txn.rcpt_replies.append(reply)
        done = len(txn.rcpt_replies)
        caps = self._capabilities
        if done < len(txn.envelope.recipients):
            if not caps.pipelining:
                self._send(render_rcpt(txn.envelope.recipients[done], caps), _Kind.RCPT)
            return
        if not txn.any_accepted:
            if caps.pipelining and not caps.chunking:
                return  # DATA is in flight; its reply (503/554, or a 354 to answer) ends it
            self._finish(self._decisive(txn, reply))
            self._reset_or_emit()
        elif caps.chunking:
            self._start_bdat(txn)
        elif not caps.pipelining:
            self._send(b"DATA\r\n", _Kind.DATA)

    def _on_data(self, reply: Reply) -> None:
        txn = self._txn()
        if reply.code == 354:
            # RFC 2920 3.1: DATA accepted without a valid recipient: send just the dot
            payload = dot_stuff(txn.message) if txn.any_accepted else b".\r\n"
            self._send(payload, _Kind.DATA_END)
            return
        if reply.code >= 400:
            self._finish(self._decisive(txn, reply))
            self._reset_or_emit()
            return
        raise SmtpClientProtocolError(f"reply {reply.code} to DATA")

    def _on_data_end(self, reply: Reply) -> None:
        txn = self._txn()
        if txn.any_accepted:
            txn.final_reply = reply
            self._finish(reply)
        else:
            self._finish(self._decisive(txn, reply))
        self._emit_outcome()

    def _start_bdat(self, txn: _Transaction) -> None:
        txn.chunks = deque(bdat_chunks(txn.message, self._chunk_size))
        # RFC 3030 4.2 with PIPELINING: the chunks go out without waiting for each reply
        count = len(txn.chunks) if self._capabilities.pipelining else 1
        for _ in range(count):
            self._send(txn.chunks.popleft(), _Kind.BDAT)

    def _on_bdat(self, reply: Reply) -> None:
        txn = self._txn()
        if txn.final_reply is None and not reply.positive:
            # RFC 3030 2: a failed chunk fails the transaction; send no more chunks (the
            # server discards those in flight, whatever it answers to them)
            txn.final_reply = reply
            txn.chunks.clear()
        if txn.final_reply is not None:
            if not self._pending:
                self._finish(txn.final_reply)
                self._reset_or_emit()
            return
        if txn.chunks:
            self._send(txn.chunks.popleft(), _Kind.BDAT)
        elif not self._pending:
            txn.final_reply = reply
            self._finish(reply)
            self._emit_outcome()

    @staticmethod
    def _decisive(txn: _Transaction, reply: Reply) -> Reply:
        if txn.mail_reply is not None and not txn.mail_reply.positive:
            return txn.mail_reply
        if not txn.any_accepted and txn.rcpt_replies:
            return txn.rcpt_replies[-1]
        return reply

    def _finish(self, decisive: Reply, *, local: bool = False, everyone: bool = False) -> None:
        """Work out every recipient's outcome; the event waits for any RSET's reply."""
        txn = self._txn()
        if txn.outcome is not None:
            return
        outcomes = []
        for i, recipient in enumerate(txn.envelope.recipients):
            rcpt = txn.rcpt_replies[i] if i < len(txn.rcpt_replies) else None
            if everyone or not txn.mail_ok or rcpt is None:
                reply = txn.mail_reply if txn.mail_reply is not None and not txn.mail_ok else decisive
            elif not rcpt.positive:
                reply = rcpt
            else:
                reply = decisive
            outcomes.append(RecipientOutcome(recipient, Delivery.of(reply), reply))
        txn.outcome = MessageOutcome(
            tuple(outcomes), decisive, local=local, dsn_passed=self._capabilities.dsn and not local
        )

    def _reset_or_emit(self) -> None:
        """RFC 5321 4.1.1.5: a transaction the server still holds is reset before the next."""
        txn = self._txn()
        if txn.mail_ok and self._closing is None:
            self._send(b"RSET\r\n", _Kind.RSET)
        else:
            self._emit_outcome()

    def _emit_outcome(self) -> None:
        txn = self._transaction
        if txn is None:
            return
        if txn.outcome is None:
            self._finish(self._closing or CONNECTION_LOST, local=self._closing is None)
        assert txn.outcome is not None
        self._events.append(txn.outcome)
        self._transaction = None
