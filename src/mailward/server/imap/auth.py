"""Commands of any state and of the not-authenticated state (RFC 9051 6.1, 6.2):
CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS, LOGIN, AUTHENTICATE.

Plaintext logins: under ``plaintext_login = "tls-only"`` a connection without TLS
says LOGINDISABLED, and LOGIN and the password mechanisms get ``NO [PRIVACYREQUIRED]``
(RFC 9051 6.2.3, RFC 5530). The exchange itself (throttling, the account, re-hashing,
the login log line) is :class:`~mailward.server.login.SessionLogin`'s, shared with
SMTP and POP3.
"""

from __future__ import annotations

import binascii

from mailward import __name__ as _package
from mailward.auth.sasl import Challenge, Failure, FailureReason, Outcome, Success
from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import (
    Authenticate,
    Capability,
    Enable,
    Id,
    Login,
    Logout,
    Noop,
    StartTls,
    parse_sasl_response,
)
from mailward.protocols.imap.reader import Syntax
from mailward.protocols.imap.response import Atom, Status
from mailward.protocols.imap.state import Authenticated
from mailward.server.imap.session import IMPLEMENTATION, CloseSession, CommandFailed, ImapSession
from mailward.server.login import LookupFailed

# RFC 5161 / RFC 9051 6.3.1: what ENABLE turns on here
ENABLEABLE = frozenset({"IMAP4REV2", "UTF8=ACCEPT"})


async def capability(session: ImapSession, command: Capability) -> None:
    await session.send(session.encoder.untagged(Atom("CAPABILITY"), *map(Atom, session.capabilities())))
    session.tagged(command.tag, "CAPABILITY completed")


async def noop(session: ImapSession, command: Noop) -> None:
    await session.updates(None)  # RFC 9051 6.1.2: the chance to hear of changes
    session.tagged(command.tag, "NOOP completed")


async def logout(session: ImapSession, command: Logout) -> None:
    session.untagged("Logging out", status=Status.BYE)
    session.tagged(command.tag, "LOGOUT completed")
    await session.flush()
    raise CloseSession


async def ident(session: ImapSession, command: Id) -> None:
    """RFC 2971: the client's name is logged; ours is said."""
    if command.parameters:
        session.log.info("client id: %s", ", ".join(f"{k}={v}" for k, v in command.parameters[:16]))
    ours: list[str | None] = ["name", IMPLEMENTATION, "vendor", _package]
    await session.send(session.encoder.untagged(Atom("ID"), ours))
    session.tagged(command.tag, "ID completed")


async def enable(session: ImapSession, command: Enable) -> None:
    """RFC 5161: turn on what is known; say what was turned on now."""
    now = [c for c in dict.fromkeys(c.upper() for c in command.capabilities)
           if c in ENABLEABLE and c not in session.enabled]
    session.enabled.update(now)
    if session.utf8:  # RFC 6855 3, RFC 9051 6.3.1: names and strings in UTF-8 from now on
        session.encoder.utf8 = True
        session.parser.context = type(session.parser.context)(utf8=True)
    names = {"IMAP4REV2": "IMAP4rev2"}
    await session.send(session.encoder.untagged(Atom("ENABLED"), *(Atom(names.get(c, c)) for c in now)))
    session.tagged(command.tag, "ENABLE completed")


async def starttls(session: ImapSession, command: StartTls) -> None:
    conn = session.conn
    if not conn.tls_available:
        raise CommandFailed("TLS is active already" if conn.tls else "TLS is not available here",
                            status=Status.BAD)
    session.tagged(command.tag, "Begin TLS negotiation now")
    session.push()  # the OK in plaintext, before the handshake
    # RFC 9051 6.2.1: nothing the client sent before the handshake is acted on after it;
    # no await between the OK and the handshake's start.
    dropped = session.parser.discard_buffered()
    if dropped:
        session.log.info("STARTTLS: %d octet(s) sent before the handshake discarded", dropped)
    tls = await conn.start_tls()
    session.log.debug("STARTTLS: %s", tls)
    session.login.tls_changed()
    await session.login.identify_certificate()


async def login(session: ImapSession, command: Login) -> None:
    if not session.login.password_allowed():
        raise CommandFailed("Use STARTTLS (or port 993) before logging in with a password",
                            codes.PRIVACYREQUIRED)
    first = session.login.begin_password(command.userid, command.password)
    await _finish(session, command.tag, await _step(session, session.login.start(first)))


async def authenticate(session: ImapSession, command: Authenticate) -> None:
    mechanism = command.mechanism.upper()
    if not session.login.begin(mechanism):
        _, _, later = session.login.mechanisms()
        if mechanism in later:
            raise CommandFailed("Use STARTTLS (or port 993) before this mechanism", codes.PRIVACYREQUIRED)
        raise CommandFailed(f"{mechanism} is not supported here", codes.CANNOT)
    outcome = await _step(session, session.login.start(command.initial_response))
    while isinstance(outcome, Challenge) or (isinstance(outcome, Success) and outcome.data is not None):
        data = outcome.data or b""
        session.write(session.encoder.continuation_data(data))  # RFC 9051 6.2.2
        line = await session.read_line()
        try:
            answer = parse_sasl_response(line)
        except (Syntax, binascii.Error):
            session.login.cancel("a response that is not base64")
            raise CommandFailed("That is not base64", status=Status.BAD) from None
        if answer.cancelled:
            session.login.cancel()
            raise CommandFailed("AUTHENTICATE cancelled", status=Status.BAD)
        if isinstance(outcome, Success):  # RFC 4422 3.6: additional data, then an empty answer
            if answer.data:
                session.login.finish(Failure(FailureReason.MALFORMED, "data after the server's last"))
                raise CommandFailed("Expected an empty response", status=Status.BAD)
            outcome = Success(outcome.username, outcome.authzid)
            break
        outcome = await _step(session, session.login.respond(answer.data))
    await _finish(session, command.tag, outcome)


async def _step(session: ImapSession, step: object) -> Outcome:
    try:
        return await step  # type: ignore[no-any-return, misc]
    except LookupFailed:
        raise CommandFailed("Try again later", codes.UNAVAILABLE) from None


async def _finish(session: ImapSession, tag: str, outcome: Outcome) -> None:
    if isinstance(outcome, Success):
        try:
            result = await session.login.succeed(outcome)
        except LookupFailed:
            raise CommandFailed("Try again later", codes.UNAVAILABLE) from None
        if isinstance(result, Success):
            if not session.claim_user():
                raise CommandFailed("Too many sessions for this user; close one first", codes.LIMIT)
            session.state = Authenticated()
            session.tagged(tag, "Logged in", codes.capability(session.capabilities()))
            return
        outcome = result  # the account went away meanwhile: logged already
    else:
        assert isinstance(outcome, Failure)
        session.login.finish(outcome)
    session.login_failures += 1
    if outcome.reason.temporary:
        raise CommandFailed("Too many failed logins; try again later", codes.UNAVAILABLE)
    if outcome.reason is FailureReason.MALFORMED:
        raise CommandFailed("Malformed authentication exchange", status=Status.BAD)
    if session.login_failures >= session.settings.max_login_failures:
        session.tagged(tag, "Authentication failed", codes.AUTHENTICATIONFAILED, Status.NO)
        session.untagged("Too many failed logins", status=Status.BYE)
        raise CloseSession
    raise CommandFailed("Authentication failed", codes.AUTHENTICATIONFAILED)
