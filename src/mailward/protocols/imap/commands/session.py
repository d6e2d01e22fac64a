"""Commands of any state and of the not-authenticated state (RFC 9051 6.1, 6.2, 6.3.1),
with ID (RFC 2971) and IDLE (RFC 9051 6.3.13), and the lines a client sends inside an
AUTHENTICATE exchange or an IDLE.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from mailward.protocols.imap.commands.base import Command, Context, decode_utf8
from mailward.protocols.imap.reader import Reader, Syntax


@dataclass(frozen=True)
class Capability(Command):
    name = "CAPABILITY"


@dataclass(frozen=True)
class Noop(Command):
    name = "NOOP"


@dataclass(frozen=True)
class Logout(Command):
    name = "LOGOUT"


@dataclass(frozen=True)
class StartTls(Command):
    name = "STARTTLS"


@dataclass(frozen=True)
class Idle(Command):
    """IDLE (RFC 9051 6.3.13): the session answers "+ idling" and reads lines until DONE."""

    name = "IDLE"


@dataclass(frozen=True)
class Authenticate(Command):
    """``AUTHENTICATE SP auth-type [SP initial-resp]`` (RFC 9051 6.2.2, SASL-IR RFC 4959).

    ``initial_response`` is None when none was sent, b"" for "=" (an empty one).
    """

    name = "AUTHENTICATE"
    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True)
class Login(Command):
    """``LOGIN SP userid SP password`` (RFC 9051 6.2.3); ``repr`` hides the password."""

    name = "LOGIN"
    userid: str
    password: str

    def __repr__(self) -> str:
        return f"Login(tag={self.tag!r}, userid={self.userid!r}, password=<hidden>)"


@dataclass(frozen=True)
class Enable(Command):
    """``ENABLE 1*(SP capability)`` (RFC 9051 6.3.1, RFC 5161), names upper-cased."""

    name = "ENABLE"
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Id(Command):
    """``ID SP ("(" string SP nstring *(SP string SP nstring) ")" / nil)`` (RFC 2971 3.3)."""

    name = "ID"
    parameters: tuple[tuple[str, str | None], ...] | None


MAX_ID_PAIRS = 30  # RFC 2971 3.3: no more than 30 field-value pairs


def _no_arguments(reader: Reader) -> None:
    reader.end()


def parse_capability(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    _no_arguments(reader)
    return Capability(tag)


def parse_noop(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    _no_arguments(reader)
    return Noop(tag)


def parse_logout(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    _no_arguments(reader)
    return Logout(tag)


def parse_starttls(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    _no_arguments(reader)
    return StartTls(tag)


def parse_idle(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    _no_arguments(reader)
    return Idle(tag)


def decode_base64(text: bytes) -> bytes:
    """RFC 4648 BASE64 as SASL uses it (RFC 9051 6.2.2), strict: padding required."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        raise Syntax("bad BASE64") from None


def parse_authenticate(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    mechanism = reader.keyword("a SASL mechanism")
    initial: bytes | None = None
    if reader.at_sp():
        reader.sp()
        # RFC 4959 7: initial-resp = (base64 / "=")
        token = reader.text[reader.pos :]
        reader.pos = len(reader.text)
        initial = b"" if token == b"=" else decode_base64(token)
        if not token:
            raise Syntax("empty initial response: send '=' for an empty one")
    reader.end()
    return Authenticate(tag, mechanism, initial)


def parse_login(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    userid = decode_utf8(reader.astring(), "user name")
    reader.sp()
    password = decode_utf8(reader.astring(), "password")
    reader.end()
    return Login(tag, userid, password)


def parse_enable(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    names: list[str] = []
    while reader.at_sp():
        reader.sp()
        names.append(reader.keyword("a capability"))
    if not names:
        raise Syntax("ENABLE needs at least one capability")
    reader.end()
    return Enable(tag, tuple(names))


def parse_id(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    if reader.accept(b"NIL"):
        reader.end()
        return Id(tag, None)
    reader.parenthesised("a list of field-value pairs or NIL")
    pairs: list[tuple[str, str | None]] = []
    while not reader.accept(b")"):
        if pairs:
            reader.sp()
        field = decode_utf8(reader.string(), "ID field")
        reader.sp()
        value = reader.nstring()
        pairs.append((field, None if value is None else decode_utf8(value, "ID value")))
        if len(pairs) > MAX_ID_PAIRS:
            raise Syntax("more than 30 ID field-value pairs")
    reader.end()
    return Id(tag, tuple(pairs))


# --- the lines inside an exchange ------------------------------------------------------


@dataclass(frozen=True)
class SaslResponse:
    """A client's line during AUTHENTICATE: decoded data, or ``cancelled`` for "*"."""

    data: bytes = b""
    cancelled: bool = False


def parse_sasl_response(line: bytes) -> SaslResponse:
    """RFC 9051 6.2.2: ``base64`` or ``"*"`` to cancel; :class:`Syntax` if malformed."""
    if line == b"*":
        return SaslResponse(cancelled=True)
    return SaslResponse(decode_base64(line))


def is_done(line: bytes) -> bool:
    """RFC 9051 6.3.13: ``idle-done = "DONE"`` (case-insensitive, as all keywords)."""
    return line.upper() == b"DONE"
