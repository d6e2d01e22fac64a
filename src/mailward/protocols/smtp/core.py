"""The SMTP server protocol core, sans-IO (RFC 5321 with 1870, 2034, 2920, 3030, 3207, 4954, 6152, 6531).

Feed it bytes with :meth:`SmtpCore.receive_data`, take events with
:meth:`SmtpCore.next_event` until it says :data:`NEED_DATA`, answer the
decision events with :meth:`SmtpCore.answer`, and send what
:meth:`SmtpCore.data_to_send` returns. It never touches a socket, a clock or
a disk; the session passes in the facts of the connection (:class:`Facts`).
"""

from __future__ import annotations

import binascii
import enum
from collections import deque
from dataclasses import dataclass, field

from mailward.protocols.smtp import replies as R
from mailward.protocols.smtp.address import Address, AddressError, parse_parameters, parse_path
from mailward.protocols.smtp.body import ChunkReader, DataReader, LineEndingCheck, Outcome, Step
from mailward.protocols.smtp.events import (
    NEED_DATA,
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

MAX_COMMAND_LINE = 512  # RFC 5321 4.5.3.1.4, with CRLF
# MAIL FROM with every parameter offered: SIZE +26 (RFC 1870 3), BODY +16 (RFC 1652 3),
# SMTPUTF8 +10 (RFC 6531 3.4), AUTH= +500 (RFC 4954 5)
MAX_MAIL_LINE = MAX_COMMAND_LINE + 26 + 16 + 10 + 500
MAX_AUTH_LINE = 12288  # RFC 4954 4: AUTH command and responses


def _digits(text: str) -> bool:
    """``1*DIGIT`` (RFC 5234): ASCII digits only; str.isdigit() also takes "²" and "٣"."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Facts:
    """What the session knows about the connection; the core decides with it."""

    hostname: str
    tls_active: bool = False
    tls_available: bool = False  # STARTTLS can be offered
    tls_required: bool = False  # starttls-required: only STARTTLS-safe commands before TLS
    auth_mechanisms: tuple[str, ...] = ()  # usable on this connection now, and advertised
    auth_mechanisms_unlisted: tuple[str, ...] = ()  # usable now, but not advertised
    auth_mechanisms_need_tls: tuple[str, ...] = ()  # would be usable once TLS is active
    auth_required: bool = False  # submission: AUTH before MAIL


@dataclass(frozen=True)
class Limits:
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100
    max_errors: int = 20  # 5xx replies before the connection is closed
    max_junk_commands: int = 100  # commands that deliver nothing (NOOP, RSET, VRFY, ...) between messages


class Mode(enum.Enum):
    COMMAND = "command"
    DATA = "data"
    BDAT = "bdat"
    AUTH = "auth"
    TLS = "awaiting TLS"
    CLOSED = "closed"


@dataclass(frozen=True)
class _Chunk:
    refusal: Reply | None
    last: bool


@dataclass
class _Transaction:
    smtputf8: bool
    recipients: int = 0
    size: int = 0
    refusal: Reply | None = None  # the message is read on and then refused with this
    chunked: bool = False  # BDAT was used
    line_endings: LineEndingCheck = field(default_factory=LineEndingCheck)  # BDAT's chunks


_JUNK = frozenset({"NOOP", "RSET", "VRFY", "EXPN", "HELP", "HELO", "EHLO"})
# tls = "starttls-required": what is answered before TLS; the rest gets 530 (RFC 3207 4)
_BEFORE_TLS = frozenset({"NOOP", "EHLO", "STARTTLS", "QUIT"})


class SmtpCore:
    def __init__(self, facts: Facts, limits: Limits | None = None) -> None:
        self.facts = facts
        self.limits = limits or Limits()
        self.mode = Mode.COMMAND
        self.helo: Hello | None = None
        self.authenticated = False
        self._txn: _Transaction | None = None
        self._pending: object | None = None  # the decision event awaiting an answer
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._body: DataReader | ChunkReader | None = None
        self._chunk = _Chunk(None, last=False)
        self._errors = 0
        self._junk = 0
        self._skip_line = False  # discarding the rest of an over-long line
        self._send(Reply(220, "", f"{facts.hostname} ESMTP mailward"))

    # --- the session's side -------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.mode is not Mode.CLOSED and self.mode is not Mode.TLS:
            self._buf += data

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def in_message(self) -> bool:
        """True while a message body is being received (a shutdown should let it finish)."""
        return self.mode in (Mode.DATA, Mode.BDAT) or self._txn is not None

    def next_event(self) -> Event | Sentinel:
        while not self._events:
            if self._pending is not None:
                return PAUSED
            if self.mode is Mode.CLOSED or not self._step():
                return NEED_DATA
        return self._events.popleft()

    def answer(self, reply: Reply) -> None:
        """Answer the pending decision with ``reply``."""
        event, self._pending = self._pending, None
        if event is None:
            raise RuntimeError("no decision is pending")
        if isinstance(event, MailFrom) and reply.positive:
            self._txn = _Transaction(smtputf8=event.smtputf8)
        elif isinstance(event, RcptTo) and reply.positive:
            assert self._txn is not None
            self._txn.recipients += 1
        elif isinstance(event, MessageComplete):
            self._txn = None
            if reply.positive:
                self._junk = 0
        elif isinstance(event, (AuthRequest, AuthResponse)):
            self.mode = Mode.COMMAND
            if reply.code == 235:
                self.authenticated = True
        self._send(reply)

    def auth_challenge(self, challenge: bytes) -> None:
        """Continue the pending AUTH exchange with a 334 challenge."""
        if not isinstance(self._pending, (AuthRequest, AuthResponse)):
            raise RuntimeError("no AUTH exchange is pending")
        self._pending = None
        self.mode = Mode.AUTH
        self._out += b"334 " + binascii.b2a_base64(challenge, newline=False) + b"\r\n"

    def tls_started(self, facts: Facts) -> None:
        """The handshake succeeded: everything is forgotten, EHLO comes again (RFC 3207 4.2)."""
        if self.mode is not Mode.TLS:
            raise RuntimeError("not waiting for TLS")
        self.facts = facts
        self.mode = Mode.COMMAND
        self._buf.clear()

    def shutdown(self, reply: Reply = R.SHUTTING_DOWN) -> None:
        """Say goodbye (server stopping, timeout) and close."""
        self._close(reply, reply.text)

    # --- input -------------------------------------------------------------------

    def _step(self) -> bool:
        """Process some input; False when nothing more can be done without more bytes."""
        if self.mode in (Mode.DATA, Mode.BDAT):
            return self._step_body()
        if self.mode is Mode.AUTH:
            limit = MAX_AUTH_LINE
        else:
            limit = MAX_MAIL_LINE if self._buf[:5].upper() == b"MAIL " else MAX_COMMAND_LINE
        line = self._take_line(limit)
        if line is None:
            return False
        if self.mode is Mode.AUTH:
            self._auth_line(line)
        else:
            self._command(line)
        return True

    def _take_line(self, limit: int) -> bytes | None:
        """The next CRLF-terminated line (without CRLF); over-long lines are answered here."""
        while self.mode is not Mode.CLOSED:
            nl = self._buf.find(b"\r\n")
            if self._skip_line:  # the rest of a line already answered as too long
                if nl < 0:
                    self._drop_keeping_cr()
                    return None
                del self._buf[: nl + 2]
                self._skip_line = False
                continue
            if nl < 0 and len(self._buf) < limit:
                return None
            if nl < 0 or nl + 2 > limit:  # RFC 5321 4.5.3.1.10: 500 Line too long
                if nl < 0:
                    self._drop_keeping_cr()
                    self._skip_line = True
                else:
                    del self._buf[: nl + 2]
                self._line_too_long()
                continue
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 2]
            return line
        return None

    def _drop_keeping_cr(self) -> None:
        """Discard the buffer but a final CR, which may be the first half of CRLF."""
        del self._buf[: len(self._buf) - 1 if self._buf.endswith(b"\r") else len(self._buf)]

    def _line_too_long(self) -> None:
        if self.mode is Mode.AUTH:
            self.mode = Mode.COMMAND
            self._events.append(AuthCancelled())
            self._error(R.AUTH_LINE_TOO_LONG)  # RFC 4954 4
        else:
            self._error(R.LINE_TOO_LONG)

    def _command(self, raw: bytes) -> None:
        if b"\r" in raw or b"\n" in raw:
            self._error(R.BARE_LINE_ENDING)
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._error(R.SYNTAX)
            return
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        handler = _COMMANDS.get(verb)
        if handler is None:
            self._error(R.UNRECOGNIZED)
            return
        if verb in _JUNK:  # in a transaction too: MAIL, RSET, MAIL ... delivers nothing either
            self._junk += 1
            if self._junk > self.limits.max_junk_commands:
                self._close(R.TOO_MANY_COMMANDS, "too many commands without a message")
                return
        if verb not in _BEFORE_TLS and verb != "BDAT" and self._tls_needed():
            self._error(R.STARTTLS_REQUIRED)  # RFC 3207 4 (BDAT's chunk is read first)
            return
        handler(self, arg)

    def _tls_needed(self) -> bool:
        return self.facts.tls_required and not self.facts.tls_active

    # --- replies ------------------------------------------------------------------

    def _send(self, reply: Reply) -> None:
        self._out += reply.render()
        if reply.code >= 500:
            self._errors += 1
            if self._errors >= self.limits.max_errors and self.mode is not Mode.CLOSED:
                self._close(R.TOO_MANY_ERRORS, "too many errors")

    def _error(self, reply: Reply) -> None:
        self._send(reply)

    def _decide(self, event: MailFrom | RcptTo | MessageComplete | AuthRequest | AuthResponse) -> None:
        self._pending = event
        self._events.append(event)

    def _close(self, reply: Reply, reason: str) -> None:
        if self.mode is Mode.CLOSED:
            return
        if self._txn is not None:
            self._reset(reason)
        self._out += reply.render()
        self.mode = Mode.CLOSED
        self._buf.clear()
        self._events.append(Close(reason))

    def _reset(self, reason: str) -> None:
        if self._txn is not None:
            self._txn = None
            self._events.append(Reset(reason))

    # --- commands -----------------------------------------------------------------

    def _ehlo(self, arg: str, *, esmtp: bool = True) -> None:
        domain = arg.strip(" ")
        # RFC 5321 4.1.1.1: a domain or an address literal, so no controls (a NUL included)
        if not domain or " " in domain or any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in domain):
            self._error(R.SYNTAX_HELO)
            return
        self._reset("new EHLO/HELO")
        self.helo = Hello(domain, esmtp)
        self._events.append(self.helo)
        if not esmtp:
            self._send(Reply(250, "", self.facts.hostname))
            return
        self._send(R.multiline(250, [self.facts.hostname, *self._extensions()]))

    def _helo(self, arg: str) -> None:
        self._ehlo(arg, esmtp=False)

    def _extensions(self) -> list[str]:
        facts = self.facts
        extensions = [
            "PIPELINING",
            f"SIZE {self.limits.max_message_size}",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
        ]
        if facts.tls_available and not facts.tls_active:
            extensions.append("STARTTLS")
        if facts.auth_mechanisms and not self.authenticated:
            extensions.append("AUTH " + " ".join(facts.auth_mechanisms))
        return extensions

    def _gate(self) -> Reply | None:
        """The check MAIL and AUTH share (the TLS policy is :meth:`_command`'s): a greeting."""
        if self.helo is None:
            return R.NEED_HELO
        return None

    def _mail(self, arg: str) -> None:
        refusal = self._gate()
        if refusal is None and self._txn is not None:
            refusal = R.NESTED_MAIL
        if refusal is None and self.facts.auth_required and not self.authenticated:
            refusal = R.AUTH_REQUIRED
        if refusal is not None:
            self._error(refusal)
            return
        if arg[:5].upper() != "FROM:":
            self._error(R.SYNTAX_MAIL)
            return
        try:
            sender, param_text = parse_path(arg[5:], allow_null=True)
        except AddressError:
            self._error(R.BAD_SENDER_ADDRESS if arg[5:].lstrip().startswith("<") else R.SYNTAX_MAIL)
            return
        try:
            params = parse_parameters(param_text)
        except AddressError:
            self._error(R.SYNTAX_PARAMETERS)
            return
        event_or_reply = self._mail_event(sender, params)
        if isinstance(event_or_reply, Reply):
            self._error(event_or_reply)
        else:
            self._decide(event_or_reply)

    def _mail_event(self, sender: Address | None, params: dict[str, str | None]) -> MailFrom | Reply:
        size: int | None = None
        body = "7BIT"
        smtputf8 = False
        for key, value in params.items():
            if key == "SIZE":  # RFC 1870 6
                if value is None or not _digits(value):
                    return R.SYNTAX_PARAMETERS
                size = int(value)
                if size > self.limits.max_message_size:
                    return R.MESSAGE_TOO_BIG
            elif key == "BODY" and value is not None and value.upper() in ("7BIT", "8BITMIME"):
                body = value.upper()  # RFC 6152
            elif key == "SMTPUTF8" and value is None:  # RFC 6531 3.4
                smtputf8 = True
            elif key == "AUTH" and value is not None:  # RFC 4954 5: accepted, not trusted
                pass
            else:
                return R.PARAMETER_UNSUPPORTED
        if sender is not None and not smtputf8 and not sender.ascii:
            return R.NEED_SMTPUTF8  # RFC 6531 3.7.4.1
        return MailFrom(sender, size, body, smtputf8)

    def _rcpt(self, arg: str) -> None:
        if self._txn is None:
            self._error(R.NEED_MAIL)
            return
        if self._txn.chunked:  # RFC 3030 2: the recipients come before the chunks
            self._error(R.RCPT_AFTER_BDAT)
            return
        if arg[:3].upper() != "TO:":
            self._error(R.SYNTAX_RCPT)
            return
        postmaster = _postmaster(arg[3:])
        try:
            if postmaster is not None:
                recipient, param_text = postmaster
            else:
                path, param_text = parse_path(arg[3:], allow_null=False)
                assert path is not None
                recipient = path
        except AddressError:
            self._error(R.BAD_ADDRESS if arg[3:].lstrip().startswith("<") else R.SYNTAX_RCPT)
            return
        try:
            params = parse_parameters(param_text)
        except AddressError:
            self._error(R.SYNTAX_PARAMETERS)
            return
        if params:
            self._error(R.PARAMETER_UNSUPPORTED)
        elif not self._txn.smtputf8 and not recipient.ascii:
            self._error(R.NEED_SMTPUTF8)
        elif self._txn.recipients >= self.limits.max_recipients:
            self._send(R.TOO_MANY_RECIPIENTS)  # RFC 5321 4.5.3.1.10: 452, not an error
        else:
            self._decide(RcptTo(recipient, postmaster=postmaster is not None))

    def _data(self, arg: str) -> None:
        if arg:
            self._error(R.SYNTAX)
        elif self._txn is None:
            self._error(R.NEED_MAIL)
        elif self._txn.chunked:
            self._error(R.DATA_AFTER_BDAT)
        elif self._txn.recipients == 0:
            self._error(R.NEED_RCPT)
        else:
            self._send(R.START_INPUT)
            self.mode = Mode.DATA
            self._body = DataReader()

    def _bdat(self, arg: str) -> None:
        parts = arg.split()
        if not 1 <= len(parts) <= 2 or not _digits(parts[0]) or len(parts[0]) > 18:
            self._error(R.SYNTAX_BDAT)
            return
        if len(parts) == 2 and parts[1].upper() != "LAST":
            self._error(R.SYNTAX_BDAT)
            return
        # RFC 3030 2: a refused chunk is still read, and thrown away
        refusal = None
        if self._tls_needed():
            refusal = R.STARTTLS_REQUIRED
        elif self._txn is None:
            refusal = R.NEED_MAIL
        elif self._txn.recipients == 0:
            refusal = R.NEED_RCPT
        else:
            self._txn.chunked = True
        self._chunk = _Chunk(refusal, last=len(parts) == 2)
        self.mode = Mode.BDAT
        self._body = ChunkReader(int(parts[0]))

    def _rset(self, arg: str) -> None:
        self._reset("RSET")
        self._send(R.RESET_OK)

    def _noop(self, arg: str) -> None:
        self._send(R.OK)

    def _vrfy(self, arg: str) -> None:
        self._send(R.VRFY_CANNOT if arg.strip() else R.SYNTAX)

    def _expn(self, arg: str) -> None:
        self._error(R.NOT_IMPLEMENTED)

    def _help(self, arg: str) -> None:
        self._send(R.HELP)

    def _quit(self, arg: str) -> None:
        self._close(R.BYE, "QUIT")

    def _starttls(self, arg: str) -> None:
        if self.facts.tls_active:
            self._error(R.TLS_ACTIVE)
        elif not self.facts.tls_available:
            self._error(R.NOT_IMPLEMENTED)
        elif arg:
            self._error(R.SYNTAX)
        else:
            self._send(R.READY_FOR_TLS)
            self._reset("STARTTLS")
            # RFC 3207 4.2: forget everything; pipelined commands are never acted on
            self._buf.clear()
            self.helo = None
            self.authenticated = False
            self.mode = Mode.TLS
            self._events.append(StartTls())

    def _auth(self, arg: str) -> None:
        refusal = self._gate()
        if refusal is None and self.helo is not None and not self.helo.esmtp:
            refusal = R.NEED_HELO
        if refusal is None and self.authenticated:
            refusal = R.ALREADY_AUTHENTICATED
        if refusal is None and self._txn is not None:
            refusal = R.AUTH_IN_TRANSACTION
        mechanism, _, initial = arg.strip(" ").partition(" ")
        mechanism = mechanism.upper()
        if refusal is None:
            if mechanism in self.facts.auth_mechanisms or mechanism in self.facts.auth_mechanisms_unlisted:
                pass
            elif mechanism in self.facts.auth_mechanisms_need_tls:
                refusal = R.ENCRYPTION_REQUIRED  # RFC 4954 6: 538
            elif not self.facts.auth_mechanisms and not self.facts.auth_mechanisms_need_tls:
                refusal = R.NOT_IMPLEMENTED
            else:
                refusal = R.UNKNOWN_MECHANISM
        if refusal is not None:
            self._error(refusal)
            return
        data: bytes | None = None
        if initial:
            decoded = self._decode(initial)
            if decoded is None:
                return
            data = decoded
        self.mode = Mode.AUTH
        self._decide(AuthRequest(mechanism, data))

    def _auth_line(self, raw: bytes) -> None:
        if raw == b"*":  # RFC 4954 4: the client cancels
            self.mode = Mode.COMMAND
            self._events.append(AuthCancelled())
            self._error(R.AUTH_CANCELLED)
            return
        data = self._decode(raw.decode("ascii", "replace"))
        if data is None:  # the 501 ends the AUTH command (RFC 4954 4): nothing of it may remain
            self.mode = Mode.COMMAND
            self._events.append(AuthCancelled())
            return
        self._decide(AuthResponse(data))

    def _decode(self, text: str) -> bytes | None:
        if text == "=":  # RFC 4954 4: an empty initial response
            return b""
        try:
            return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            self._error(R.AUTH_BAD_BASE64)
            return None

    # --- message bodies -------------------------------------------------------------

    def _step_body(self) -> bool:
        assert self._body is not None
        body = self._body
        if not self._buf and not (isinstance(body, ChunkReader) and body.left == 0):
            return False
        step = body.feed(self._buf)
        del self._buf[: step.consumed]
        txn = self._txn
        chunk = isinstance(body, ChunkReader)
        if txn is not None and txn.refusal is None and (not chunk or self._chunk.refusal is None):
            txn.size += len(step.data)
            if txn.size > self.limits.max_message_size:
                self._refuse_message(txn, R.MESSAGE_TOO_BIG, "message too big")  # RFC 1870: read on
            elif chunk and self._bare_line_ending(txn, step):
                self._refuse_message(txn, R.BARE_LINE_ENDING_IN_BDAT, "bare CR or LF in message data")
            elif step.data:
                self._events.append(DataChunk(step.data))
        if step.outcome is Outcome.BARE_LINE_ENDING:
            self._close(R.BARE_LINE_ENDING_IN_DATA, "bare CR or LF in message data")
        elif step.outcome is Outcome.END:
            self.mode = Mode.COMMAND
            self._body = None
            self._body_end(chunk)
        return step.consumed > 0 or step.outcome is not Outcome.MORE

    def _bare_line_ending(self, txn: _Transaction, step: Step) -> bool:
        """Does this piece of a BDAT message, or its end, hold a bare CR or LF?"""
        if txn.line_endings.feed(step.data):
            return True
        return step.outcome is Outcome.END and self._chunk.last and txn.line_endings.finish()

    def _refuse_message(self, txn: _Transaction, reply: Reply, reason: str) -> None:
        """Read the rest of the message (DATA) or chunk (BDAT), then answer ``reply``."""
        txn.refusal = reply
        self._events.append(Reset(reason))

    def _body_end(self, chunk: bool) -> None:
        if chunk and self._chunk.refusal is not None:
            self._error(self._chunk.refusal)
            return
        txn = self._txn
        assert txn is not None
        if txn.refusal is not None:
            self._txn = None  # the session was told with Reset when it happened
            self._error(txn.refusal)
        elif chunk and not self._chunk.last:
            self._send(R.OK.with_text(f"{txn.size} octets received"))  # RFC 3030 2
        else:
            self._decide(MessageComplete(txn.size))


_POSTMASTER = "<postmaster>"


def _postmaster(text: str) -> tuple[Address, str] | None:
    """``<Postmaster>`` without a domain (RFC 5321 4.5.1, any case) and the parameter text."""
    text = text.lstrip(" ")
    head, rest = text[: len(_POSTMASTER)], text[len(_POSTMASTER) :]
    if head.lower() != _POSTMASTER or (rest and not rest.startswith(" ")):
        return None
    return Address(head[1:-1], ""), rest.strip(" ")


_COMMANDS = {
    "EHLO": SmtpCore._ehlo,
    "HELO": SmtpCore._helo,
    "MAIL": SmtpCore._mail,
    "RCPT": SmtpCore._rcpt,
    "DATA": SmtpCore._data,
    "BDAT": SmtpCore._bdat,
    "RSET": SmtpCore._rset,
    "NOOP": SmtpCore._noop,
    "VRFY": SmtpCore._vrfy,
    "EXPN": SmtpCore._expn,
    "HELP": SmtpCore._help,
    "QUIT": SmtpCore._quit,
    "STARTTLS": SmtpCore._starttls,
    "AUTH": SmtpCore._auth,
}
