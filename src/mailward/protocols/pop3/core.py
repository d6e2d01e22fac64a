"""The POP3 server protocol core, sans-IO (RFC 1939 with 2449, 2595, 3206, 5034, 6856).

Feed it bytes with :meth:`Pop3Core.receive_data`, take events with
:meth:`Pop3Core.next_event` until it returns :data:`NEED_DATA`, answer the decisions
(see :mod:`.events`) and send what :meth:`Pop3Core.data_to_send` returns. It never
touches a socket, a clock or the store: the session passes in the connection's facts
(:class:`Facts`) and, after a login, the maildrop (:class:`~.maildrop.Maildrop`).

The state is a type: :class:`Authorization` before a login, :class:`~.maildrop.Transaction`
after it; one table per state says which commands it accepts (RFC 1939 3).
"""

from __future__ import annotations

import binascii
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mailward.protocols.pop3 import replies as R
from mailward.protocols.pop3.events import (
    NEED_DATA,
    PAUSED,
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
from mailward.protocols.pop3.maildrop import Maildrop, Transaction
from mailward.protocols.pop3.replies import Reply

MAX_COMMAND_LINE = 255  # RFC 2449 4: a command line, CRLF included
MAX_AUTH_LINE = 12288  # RFC 5034 4: the client's SASL responses are not bound by 255
_MAX_NUMBER_DIGITS = 10


@dataclass(frozen=True)
class Facts:
    """What the session knows about the connection; the core decides with it."""

    tls_active: bool = False
    tls_available: bool = False  # STLS can be offered (RFC 2595 4)
    password_allowed: bool = False  # USER/PASS may be used now
    password_after_tls: bool = False  # USER/PASS would be allowed once TLS is active
    mechanisms: tuple[str, ...] = ()  # usable now, and advertised in CAPA's SASL line
    mechanisms_unlisted: tuple[str, ...] = ()  # usable now, not advertised
    mechanisms_need_tls: tuple[str, ...] = ()  # would be usable once TLS is active
    implementation: str = "mailward"  # RFC 2449 6.9
    expire: str = ""  # RFC 2449 6.7 argument ("NEVER" or days); "" not advertised
    login_delay: int | None = None  # RFC 2449 6.5, seconds; None not advertised


@dataclass(frozen=True)
class Limits:
    max_errors: int = 10  # unknown commands and syntax errors before the connection closes
    max_auth_failures: int = 3  # failed logins before the connection closes
    max_commands: int = 100_000  # commands in one session


class Mode(enum.Enum):
    COMMAND = "command"
    AUTH = "SASL exchange"  # reading the client's responses (RFC 5034 4)
    TLS = "awaiting TLS"
    CLOSED = "closed"


@dataclass
class Authorization:
    """The AUTHORIZATION state (RFC 1939 4): the name USER gave, if any."""

    user: str | None = None
    utf8: bool = False  # RFC 6856 3.1: the client sent UTF8


_LOGIN = (PasswordLogin, AuthRequest, AuthResponse)


class Pop3Core:
    def __init__(self, facts: Facts, limits: Limits | None = None) -> None:
        self.facts = facts
        self.limits = limits or Limits()
        self.mode = Mode.COMMAND
        self.state: Authorization | Transaction = Authorization()
        self._pending: Event | None = None  # the decision awaiting its answer
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._skip_line = False  # discarding the rest of an over-long line
        self._errors = 0
        self._auth_failures = 0
        self._commands = 0
        self._send(R.GREETING)  # RFC 1939 4; no APOP timestamp: APOP is not offered

    # --- the session's side -------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.mode is not Mode.CLOSED and self.mode is not Mode.TLS:
            self._buf += data

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def authenticated(self) -> bool:
        return isinstance(self.state, Transaction)

    def next_event(self) -> Event | Sentinel:
        while not self._events:
            if self._pending is not None:
                return PAUSED
            if self.mode is Mode.CLOSED or self.mode is Mode.TLS:
                return NEED_DATA
            line = self._next_line()
            if line is None:
                return NEED_DATA
            if self.mode is Mode.AUTH:
                self._auth_line(line)
            else:
                self._command(line)
        return self._events.popleft()

    def answer(self, reply: Reply) -> None:
        """Answer the pending decision with ``reply`` (a login: only a refusal)."""
        pending = self._take_pending()
        if isinstance(pending, _LOGIN):
            if reply.ok:
                raise RuntimeError("a successful login is answered with logged_in()")
            self.mode = Mode.COMMAND
            self._send(reply)
            self._auth_failures += 1
            if self._auth_failures >= self.limits.max_auth_failures:
                self._close("too many failed logins")
        elif isinstance(pending, Update):
            self._send(reply)
            self._close("QUIT")
        else:
            self._send(reply)

    def auth_challenge(self, data: bytes) -> None:
        """RFC 5034 4: a server challenge, base64 after ``+ ``; the client answers next."""
        pending = self._take_pending()
        if not isinstance(pending, (AuthRequest, AuthResponse)):
            raise RuntimeError("a challenge answers only AUTH")
        self.mode = Mode.AUTH
        self._out += b"+ " + binascii.b2a_base64(data, newline=False) + b"\r\n"

    def logged_in(self, maildrop: Maildrop) -> None:
        """The login succeeded and the maildrop is locked: the TRANSACTION state (RFC 1939 4)."""
        pending = self._take_pending()
        if not isinstance(pending, _LOGIN):
            raise RuntimeError("logged_in answers a login")
        self.mode = Mode.COMMAND
        self.state = Transaction(maildrop)
        self._send(R.maildrop_status(*self.state.stat()))

    def tls_started(self, facts: Facts) -> None:
        """The handshake is done: new facts, and nothing known from before (RFC 2595 4)."""
        if self.mode is not Mode.TLS:
            raise RuntimeError("tls_started without STLS")
        self.facts = facts
        self.state = Authorization()
        self.mode = Mode.COMMAND

    def close(self, reply: Reply, reason: str) -> None:
        """The session ends the connection on its own (a lost lock): say why, close."""
        self._pending = None
        self._send(reply)
        self._close(reason)

    def _take_pending(self) -> Event:
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("no decision is pending")
        return pending

    # --- input --------------------------------------------------------------------

    def _next_line(self) -> bytes | None:
        limit = MAX_AUTH_LINE if self.mode is Mode.AUTH else MAX_COMMAND_LINE
        while True:
            newline = self._buf.find(b"\n")
            if self._skip_line:
                if newline < 0:
                    self._buf.clear()
                    return None
                del self._buf[: newline + 1]
                self._skip_line = False
                continue
            if newline < 0:
                if len(self._buf) >= limit:  # no end in sight: refuse now, skip to its end
                    self._buf.clear()
                    self._skip_line = True
                    self._line_too_long()
                return None
            if newline + 1 > limit:
                del self._buf[: newline + 1]
                self._line_too_long()
                continue
            line = bytes(self._buf[:newline])
            del self._buf[: newline + 1]
            return line[:-1] if line.endswith(b"\r") else line

    def _line_too_long(self) -> None:
        if self.mode is Mode.AUTH:
            self._auth_abandoned("line too long", R.AUTH_MALFORMED)
        else:
            self._error(R.LINE_TOO_LONG)

    def _auth_line(self, line: bytes) -> None:
        if line == b"*":  # RFC 5034 4: the client cancels
            self._auth_abandoned("cancelled by the client", R.AUTH_CANCELLED)
            return
        try:
            data = binascii.a2b_base64(line, strict_mode=True)
        except binascii.Error:
            self._auth_abandoned("response not base64", R.AUTH_MALFORMED)
            return
        self._decide(AuthResponse(data))

    def _auth_abandoned(self, reason: str, reply: Reply) -> None:
        self.mode = Mode.COMMAND
        self._events.append(AuthCancelled(reason))
        self._send(reply)
        self._auth_failures += 1
        if self._auth_failures >= self.limits.max_auth_failures:
            self._close("too many failed logins")

    def _command(self, line: bytes) -> None:
        self._commands += 1
        if self._commands > self.limits.max_commands:
            self._send(R.TOO_MANY_COMMANDS)
            self._close("too many commands")
            return
        try:
            text = line.decode("utf-8")  # RFC 6856 3.1: arguments may be UTF-8
        except UnicodeDecodeError:
            self._error(R.SYNTAX)
            return
        keyword, _, argument = text.partition(" ")
        name = keyword.upper()
        table = _AUTHORIZATION if isinstance(self.state, Authorization) else _TRANSACTION
        handler = table.get(name)
        if handler is None:
            known = name in _AUTHORIZATION or name in _TRANSACTION
            self._error(R.WRONG_STATE if known else R.UNKNOWN_COMMAND)
            return
        handler(self, argument)

    # --- output -------------------------------------------------------------------

    def _send(self, reply: Reply) -> None:
        self._out += reply.render()

    def _send_lines(self, reply: Reply, lines: list[str]) -> None:
        """A multi-line response (RFC 1939 3); none of ours begins with ``.``."""
        self._send(reply)
        body = "".join(f"{line}\r\n" for line in lines)
        self._out += body.encode() + b".\r\n"

    def _error(self, reply: Reply) -> None:
        """The client sent nonsense: ``-ERR``; too much of it closes the connection."""
        self._errors += 1
        if self._errors >= self.limits.max_errors:
            self._send(R.TOO_MANY_ERRORS)
            self._close("too many errors")
        else:
            self._send(reply)

    def _decide(self, event: Event) -> None:
        self._pending = event
        self._events.append(event)

    def _close(self, reason: str) -> None:
        self.mode = Mode.CLOSED
        self._buf.clear()
        self._events.append(Close(reason))

    # --- AUTHORIZATION ------------------------------------------------------------

    def _password_refusal(self) -> Reply | None:
        if self.facts.password_allowed:
            return None
        # RFC 2595 2.1 / RFC 3206 4: not on this connection; say how to get there
        return R.PLAINTEXT_REFUSED if self.facts.password_after_tls else R.PASSWORD_DISABLED

    def _user(self, argument: str) -> None:
        refusal = self._password_refusal()
        if refusal is not None:
            self._send(refusal)
            return
        if not argument:
            self._error(R.SYNTAX)
            return
        assert isinstance(self.state, Authorization)
        self.state.user = argument
        self._send(R.USER_OK)

    def _pass(self, argument: str) -> None:
        refusal = self._password_refusal()
        state = self.state
        assert isinstance(state, Authorization)
        user, state.user = state.user, None  # RFC 1939 7: a failed PASS starts over
        if refusal is not None:
            self._send(refusal)
            return
        if user is None:
            self._error(R.NEED_USER)
            return
        # RFC 1939 7: "a server may treat spaces in the argument as part of the password"
        self._decide(PasswordLogin(user, argument))

    def _auth(self, argument: str) -> None:
        if not argument:  # the pre-RFC 5034 listing some clients ask for
            self._send_lines(R.MECHANISMS_FOLLOW, list(self.facts.mechanisms))
            return
        words = argument.split(" ")
        if len(words) > 2 or not words[0]:
            self._error(R.SYNTAX)
            return
        mechanism = words[0].upper()
        facts = self.facts
        if mechanism not in facts.mechanisms and mechanism not in facts.mechanisms_unlisted:
            need_tls = mechanism in facts.mechanisms_need_tls
            self._send(R.PLAINTEXT_REFUSED if need_tls else R.UNKNOWN_MECHANISM)
            return
        initial: bytes | None = None
        if len(words) == 2:
            try:  # RFC 5034 4: "=" is an empty initial response
                initial = b"" if words[1] == "=" else binascii.a2b_base64(words[1], strict_mode=True)
            except binascii.Error:
                self._send(R.AUTH_MALFORMED)
                return
        self.mode = Mode.AUTH
        self._decide(AuthRequest(mechanism, initial))

    def _stls(self, argument: str) -> None:
        if argument:
            self._error(R.SYNTAX)
        elif self.facts.tls_active:
            self._send(R.TLS_ACTIVE)
        elif not self.facts.tls_available:
            self._send(R.TLS_UNAVAILABLE)
        else:
            self._send(R.STLS_GO)
            # RFC 2595 4 (and the CVE-2011-0411 class): nothing sent before TLS is acted on
            self._buf.clear()
            self.mode = Mode.TLS
            self._events.append(StartTls())

    def _utf8(self, argument: str) -> None:
        if argument:
            self._error(R.SYNTAX)
            return
        assert isinstance(self.state, Authorization)
        self.state.utf8 = True
        self._send(R.UTF8_OK)

    def _apop(self, argument: str) -> None:
        self._send(R.APOP_NOT_OFFERED)

    def _capa(self, argument: str) -> None:
        """RFC 2449 5: what this server offers now."""
        facts = self.facts
        lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if facts.password_allowed:
            lines.append("USER")
        if facts.mechanisms:
            lines.append("SASL " + " ".join(facts.mechanisms))
        if facts.tls_available and not facts.tls_active and isinstance(self.state, Authorization):
            lines.append("STLS")
        lines.append("UTF8 USER" if facts.password_allowed else "UTF8")  # RFC 6856 3.1
        if facts.expire:
            lines.append(f"EXPIRE {facts.expire}")
        if facts.login_delay is not None:
            lines.append(f"LOGIN-DELAY {facts.login_delay}")
        lines.append(f"IMPLEMENTATION {facts.implementation}")
        self._send_lines(R.CAPA, lines)

    def _quit(self, argument: str) -> None:
        state = self.state
        if isinstance(state, Transaction):  # RFC 1939 6: the UPDATE state
            self._decide(Update(state.deleted_uids()))
            return
        self._send(R.BYE)
        self._close("QUIT")

    # --- TRANSACTION --------------------------------------------------------------

    def _transaction(self) -> Transaction:
        state = self.state
        assert isinstance(state, Transaction)
        return state

    def _message(self, text: str) -> int | None:
        """The index of message number ``text``; replies and returns None if there is none."""
        state = self._transaction()
        if not (text.isascii() and text.isdigit()) or len(text) > _MAX_NUMBER_DIGITS:
            self._error(R.SYNTAX)
            return None
        number = int(text)
        if not 1 <= number <= len(state.maildrop):
            self._send(R.NO_SUCH_MESSAGE)
            return None
        if number - 1 in state.deleted:  # RFC 1939 5: "may not refer to a deleted message"
            self._send(R.MESSAGE_DELETED)
            return None
        return number - 1

    def _stat(self, argument: str) -> None:
        count, size = self._transaction().stat()
        self._send(R.ok(f"{count} {size}"))  # RFC 1939 5: "+OK nn mm", nothing else first

    def _scan(self, argument: str, listing: R.Reply, item: Callable[[int], str]) -> None:
        state = self._transaction()
        if argument:
            index = self._message(argument)
            if index is not None:
                self._send(R.ok(f"{index + 1} {item(index)}"))
            return
        lines = [f"{i + 1} {item(i)}" for i in state.live() if i not in state.deleted]
        self._send_lines(listing, lines)

    def _list(self, argument: str) -> None:
        sizes = self._transaction().maildrop.sizes
        self._scan(argument, R.LIST_FOLLOWS, lambda i: str(sizes[i]))

    def _uidl(self, argument: str) -> None:
        self._scan(argument, R.UIDL_FOLLOWS, self._transaction().maildrop.unique_id)

    def _retr(self, argument: str) -> None:
        index = self._message(argument)
        if index is not None:
            self._decide(Retrieve(index, None))

    def _top(self, argument: str) -> None:
        number, _, lines = argument.partition(" ")
        if not (lines.isascii() and lines.isdigit()) or len(lines) > _MAX_NUMBER_DIGITS:
            self._error(R.SYNTAX)
            return
        index = self._message(number)
        if index is not None:
            self._decide(Retrieve(index, int(lines)))

    def _dele(self, argument: str) -> None:
        index = self._message(argument)
        if index is not None:
            self._transaction().deleted.add(index)
            self._send(R.DELETED)

    def _noop(self, argument: str) -> None:
        self._send(R.NOOP)

    def _rset(self, argument: str) -> None:
        state = self._transaction()
        state.deleted.clear()  # RFC 1939 5: unmark every message marked deleted
        self._send(R.maildrop_status(*state.stat()))


Handler = Callable[[Pop3Core, str], None]

# RFC 1939 4 and 5, RFC 2449 5 (CAPA in both), RFC 2595 4 (STLS), RFC 5034 (AUTH), RFC 6856 (UTF8)
_AUTHORIZATION: dict[str, Handler] = {
    "USER": Pop3Core._user,
    "PASS": Pop3Core._pass,
    "AUTH": Pop3Core._auth,
    "APOP": Pop3Core._apop,
    "STLS": Pop3Core._stls,
    "UTF8": Pop3Core._utf8,
    "CAPA": Pop3Core._capa,
    "QUIT": Pop3Core._quit,
}
_TRANSACTION: dict[str, Handler] = {
    "STAT": Pop3Core._stat,
    "LIST": Pop3Core._list,
    "UIDL": Pop3Core._uidl,
    "RETR": Pop3Core._retr,
    "TOP": Pop3Core._top,
    "DELE": Pop3Core._dele,
    "NOOP": Pop3Core._noop,
    "RSET": Pop3Core._rset,
    "CAPA": Pop3Core._capa,
    "QUIT": Pop3Core._quit,
}
