"""SMTP AUTH (RFC 4954) for a session: which mechanisms now, and driving the SASL exchange.

The core frames the exchange (334 challenges, ``*`` to cancel, base64) and refuses
AUTH where the facts say so (530 before STARTTLS on ``starttls-required``, 538 for
a mechanism that needs TLS); this module answers the decisions it hands over with
:class:`~mailward.auth.sasl.SaslExchange`, which throttles and checks credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mailward.auth.accounts import AuthServices
from mailward.auth.channel_binding import tls_exporter
from mailward.auth.log import log_login
from mailward.auth.sasl import (
    Challenge,
    ConnectionFacts,
    Failure,
    FailureReason,
    Outcome,
    SaslExchange,
    Success,
    allowed_mechanisms,
    create_mechanism,
)
from mailward.protocols.smtp import replies as R
from mailward.protocols.smtp.core import SmtpCore
from mailward.protocols.smtp.events import AuthRequest, AuthResponse
from mailward.protocols.smtp.replies import Reply
from mailward.server.connection import Connection
from mailward.store.interface import Account

_FAILURE_REPLIES = {
    FailureReason.MALFORMED: R.AUTH_MALFORMED,
    FailureReason.THROTTLED: R.AUTH_TEMPORARY,  # RFC 4954 6: 454 4.7.0, try again later
    FailureReason.NOT_AVAILABLE: R.UNKNOWN_MECHANISM,
}


class SessionAuth:
    """The AUTH side of one SMTP session (submission only; mx offers no AUTH)."""

    def __init__(
        self, conn: Connection, auth: AuthServices, log: logging.LoggerAdapter[logging.Logger]
    ) -> None:
        self._conn = conn
        self._auth = auth
        self._log = log
        self._binding: bytes | None = None
        self._registered: str | None = None  # the client certificate's fingerprint, if registered
        self._exchange: SaslExchange | None = None
        self._success: Success | None = None  # sent as a last 334, waiting for the empty answer
        self.account: Account | None = None
        self.tls_changed()

    def tls_changed(self) -> None:
        """After a handshake: a new channel binding, and nothing known from before (RFC 3207 4.2)."""
        ssl_object = self._conn.ssl_object
        self._binding = tls_exporter(ssl_object) if ssl_object is not None else None
        self._registered = None
        self._exchange = None
        self._success = None
        self.account = None

    async def identify_certificate(self) -> None:
        """After a handshake: EXTERNAL is offered only for a verified client certificate
        that is registered to an enabled account, as the README says; a certificate that
        merely verifies against the listener's CA is not enough."""
        tls = self._conn.tls
        certificate = tls.client_certificate if tls is not None else None
        if certificate is None:
            return
        try:
            owner = await self._auth.lookup.account_for_certificate(certificate.sha256)
        except Exception as exc:  # the store is down: no EXTERNAL, the other mechanisms stay
            self._log.warning("client certificate lookup failed (%s): EXTERNAL not offered", exc)
            return
        if owner is not None:
            self._registered = certificate.sha256

    def facts(self) -> ConnectionFacts:
        tls = self._conn.tls
        return ConnectionFacts(
            plaintext_login=self._conn.listener.plaintext_login,
            tls_active=tls is not None,
            channel_binding=self._binding,
            client_fingerprint=self._registered,
            advertise_plus=self._conn.listener.scram_plus == "advertised",
        )

    def mechanisms(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """The mechanisms usable now and advertised, usable now but not advertised, and
        those that would be usable once TLS is active (for 538)."""
        facts = self.facts()
        now = facts.advertised()
        unlisted = tuple(m for m in facts.allowed() if m not in now)
        if self._conn.tls is not None:
            return now, unlisted, ()
        later = allowed_mechanisms(self._conn.listener.plaintext_login, True, False, False)
        return now, unlisted, tuple(m for m in later if m not in now)

    async def request(self, core: SmtpCore, event: AuthRequest) -> None:
        self._success = None  # a new AUTH command starts afresh, whatever came before
        mechanism = create_mechanism(event.mechanism, self.facts(), fake_salt_key=self._auth.fake_salt_key)
        if mechanism is None:  # the core checked the facts already: only a race with a reload
            core.answer(R.UNKNOWN_MECHANISM)
            return
        self._exchange = SaslExchange(
            mechanism, self._auth.lookup, throttle=self._auth.throttle, peer_ip=self._conn.peer[0]
        )
        await self._step(core, lambda exchange: exchange.start(event.initial_response))

    async def response(self, core: SmtpCore, event: AuthResponse) -> None:
        if self._success is not None:  # RFC 4954 4: the answer to the server's final data
            success, self._success = self._success, None
            if event.data:
                self._finish(core, Failure(FailureReason.MALFORMED, "data after the server's last"))
            else:
                await self._succeed(core, success)
            return
        await self._step(core, lambda exchange: exchange.respond(event.data))

    def cancelled(self) -> None:
        if self._exchange is not None:
            self._log_outcome(Failure(FailureReason.MALFORMED, "cancelled by the client"))
        self._exchange = None
        self._success = None

    async def _step(self, core: SmtpCore, run: Callable[[SaslExchange], Awaitable[Outcome]]) -> None:
        exchange = self._exchange
        assert exchange is not None
        try:
            outcome = await run(exchange)
        except Exception:
            self._log.exception("AUTH %s: the account lookup failed", exchange.mechanism.name)
            self._exchange = None
            core.answer(R.AUTH_TEMPORARY)
            return
        if isinstance(outcome, Challenge):
            core.auth_challenge(outcome.data)
        elif isinstance(outcome, Success) and outcome.data is not None:
            # RFC 4954 4: SMTP has no "additional data with success": send it as a challenge
            self._success = outcome
            core.auth_challenge(outcome.data)
        elif isinstance(outcome, Success):
            await self._succeed(core, outcome)
        else:
            self._finish(core, outcome)

    async def _succeed(self, core: SmtpCore, outcome: Success) -> None:
        try:
            account = await self._auth.lookup.account(outcome.authzid)
        except Exception:
            self._log.exception("AUTH: the account lookup failed")
            self._exchange = None
            core.answer(R.AUTH_TEMPORARY)
            return
        if account is None:  # disabled or removed during the exchange
            self._finish(core, Failure(FailureReason.BAD_CREDENTIALS, "account gone after the exchange"))
            return
        self.account = account
        await self._save_rehash(outcome)
        self._finish(core, outcome)

    async def _save_rehash(self, outcome: Success) -> None:
        """The password's hash used older argon2 parameters: keep the new one made at login."""
        exchange = self._exchange
        if exchange is None or exchange.rehashed is None:
            return
        try:
            await self._auth.lookup.save_rehash(outcome.username, exchange.rehashed)
        except Exception:  # the login stands; the old hash still works
            self._log.exception("AUTH: could not store the re-hashed password")

    def _finish(self, core: SmtpCore, outcome: Success | Failure) -> None:
        self._log_outcome(outcome)
        self._exchange = None
        reply: Reply = R.AUTH_OK
        if isinstance(outcome, Failure):
            reply = _FAILURE_REPLIES.get(outcome.reason, R.AUTH_FAILED)
        core.answer(reply)

    def _log_outcome(self, outcome: Success | Failure) -> None:
        exchange = self._exchange
        log_login(
            protocol="smtp",
            peer=self._conn.peer[0],
            mechanism=exchange.mechanism.name if exchange is not None else "?",
            username=exchange.username if exchange is not None else None,
            outcome=outcome,
            tls=self._conn.tls is not None,
            logger=self._log,
        )
