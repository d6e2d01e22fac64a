"""Logging in, for any protocol's session: the part of AUTH that is not SMTP's, IMAP's or POP3's.

A session keeps one :class:`SessionLogin`. It knows the connection's SASL facts (TLS,
the tls-exporter channel binding, a client certificate registered to an account),
which mechanisms to offer now, drives a :class:`~mailward.auth.sasl.SaslExchange`
(throttled, against the store's credentials), and after a success looks the account
up, stores a password re-hashed with newer argon2 parameters and logs the outcome
in the one login line every protocol writes. Each protocol frames the exchange its
own way (SMTP's 334, IMAP's ``+``, POP3's ``+``) and maps outcomes to its replies.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mailward.auth.accounts import AuthServices
from mailward.auth.channel_binding import tls_exporter
from mailward.auth.log import log_login
from mailward.auth.sasl import (
    ConnectionFacts,
    Failure,
    FailureReason,
    Outcome,
    SaslExchange,
    Success,
    allowed_mechanisms,
    create_mechanism,
)
from mailward.auth.sasl.exchange import password_login
from mailward.server.connection import Connection
from mailward.store.interface import Account


class LookupFailed(Exception):
    """The store could not answer during a login: answer with a temporary failure."""


class SessionLogin:
    """The login state of one session on one connection."""

    def __init__(
        self, conn: Connection, auth: AuthServices, log: logging.LoggerAdapter[logging.Logger], protocol: str
    ) -> None:
        self._conn = conn
        self._auth = auth
        self._log = log
        self.protocol = protocol
        self._binding: bytes | None = None
        self._registered: str | None = None  # the client certificate's fingerprint, if registered
        self._exchange: SaslExchange | None = None
        self.account: Account | None = None
        self.tls_changed()

    # --- what the connection allows ---------------------------------------------

    def tls_changed(self) -> None:
        """After a handshake: a new channel binding, and nothing known from before (RFC 3207
        4.2, RFC 9051 6.2.1): no exchange, no account."""
        ssl_object = self._conn.ssl_object
        self._binding = tls_exporter(ssl_object) if ssl_object is not None else None
        self._registered = None
        self._exchange = None
        self.account = None

    async def identify_certificate(self) -> None:
        """After a handshake: EXTERNAL is offered only for a verified client certificate
        that is registered to an enabled account; a certificate that merely verifies
        against the listener's CA is not enough."""
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
        those that would be usable once TLS is active (for "use STARTTLS" answers)."""
        facts = self.facts()
        now = facts.advertised()
        unlisted = tuple(m for m in facts.allowed() if m not in now)
        if self._conn.tls is not None:
            return now, unlisted, ()
        later = allowed_mechanisms(self._conn.listener.plaintext_login, True, False, False)
        return now, unlisted, tuple(m for m in later if m not in now)

    def password_allowed(self) -> bool:
        """Whether a plain user name and password may be sent now (IMAP LOGIN, POP3 USER)."""
        return "PLAIN" in self.facts().allowed()

    # --- an exchange ----------------------------------------------------------------

    @property
    def mechanism(self) -> str:
        return self._exchange.mechanism.name if self._exchange is not None else "?"

    def begin(self, mechanism: str) -> bool:
        """Start an exchange with ``mechanism``; False when it is not usable now."""
        created = create_mechanism(mechanism, self.facts(), fake_salt_key=self._auth.fake_salt_key)
        if created is None:
            return False
        self._exchange = SaslExchange(
            created, self._auth.lookup, throttle=self._auth.throttle, peer_ip=self._conn.peer[0]
        )
        return True

    def begin_password(self, username: str, password: str) -> bytes:
        """A password login (IMAP LOGIN, POP3 PASS) as the PLAIN exchange it is; returns
        the initial response to :meth:`step` it with."""
        mechanism, message = password_login(username, password)
        self._exchange = SaslExchange(
            mechanism, self._auth.lookup, throttle=self._auth.throttle, peer_ip=self._conn.peer[0]
        )
        return message

    async def start(self, initial: bytes | None) -> Outcome:
        return await self._step(lambda exchange: exchange.start(initial))

    async def respond(self, data: bytes) -> Outcome:
        return await self._step(lambda exchange: exchange.respond(data))

    async def _step(self, run: Callable[[SaslExchange], Awaitable[Outcome]]) -> Outcome:
        exchange = self._exchange
        assert exchange is not None
        try:
            return await run(exchange)
        except Exception:
            self._log.exception("AUTH %s: the account lookup failed", exchange.mechanism.name)
            self._exchange = None
            raise LookupFailed from None

    async def succeed(self, outcome: Success) -> Success | Failure:
        """Take a successful exchange: the account (it may have been disabled meanwhile),
        the re-hashed password stored, the login logged. :class:`LookupFailed` when the
        store cannot answer."""
        try:
            account = await self._auth.lookup.account(outcome.authzid)
        except Exception:
            self._log.exception("AUTH: the account lookup failed")
            self._exchange = None
            raise LookupFailed from None
        if account is None:  # disabled or removed during the exchange
            failure = Failure(FailureReason.BAD_CREDENTIALS, "account gone after the exchange")
            self.finish(failure)
            return failure
        self.account = account
        await self._save_rehash(outcome)
        self.finish(outcome)
        return outcome

    async def _save_rehash(self, outcome: Success) -> None:
        """The password's hash used older argon2 parameters: keep the new one made at login."""
        exchange = self._exchange
        if exchange is None or exchange.rehashed is None:
            return
        try:
            await self._auth.lookup.save_rehash(outcome.username, exchange.rehashed)
        except Exception:  # the login stands; the old hash still works
            self._log.exception("AUTH: could not store the re-hashed password")

    def finish(self, outcome: Success | Failure) -> None:
        """The exchange is over: log it once."""
        self._log_outcome(outcome)
        self._exchange = None

    def cancel(self, why: str = "cancelled by the client") -> None:
        if self._exchange is not None:
            self._log_outcome(Failure(FailureReason.MALFORMED, why))
        self._exchange = None

    def _log_outcome(self, outcome: Success | Failure) -> None:
        exchange = self._exchange
        log_login(
            protocol=self.protocol,
            peer=self._conn.peer[0],
            mechanism=exchange.mechanism.name if exchange is not None else "?",
            username=exchange.username if exchange is not None else None,
            outcome=outcome,
            tls=self._conn.tls is not None,
            logger=self._log,
        )
