"""Driving a mechanism for a session: the IO the sans-IO core asks for.

A session does::

    mech = create_mechanism(name, facts)          # None -> refuse the AUTH command
    exchange = SaslExchange(mech, lookup, throttle=throttle, peer_ip=peer_ip)
    outcome = await exchange.start(initial)       # or None when no initial response
    while isinstance(outcome, Challenge):
        ...send outcome.data, read and base64-decode the reply...
        outcome = await exchange.respond(reply)
    # Success(username, authzid, data) or Failure(reason, detail, data)

IMAP LOGIN and POP3 USER/PASS go through the same path as PLAIN (see
:func:`password_login`), so they are throttled and logged alike, and allowed only
where PLAIN is.

Password checks (argon2, deliberately slow) run in a worker thread so the event
loop never blocks. An unknown user is checked against dummy credentials, so
answers take the same time either way. With a throttle, the exchange checks it as
soon as the user name is known and before anything is verified, sleeps the delay
it asks for, refuses with ``FailureReason.THROTTLED``, and records the outcome.
Exceptions from ``lookup`` (the store is down) propagate: answer them as a
temporary failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import argon2

from mailward.auth.passwords import (
    DEFAULT_HASHER,
    Credentials,
    dummy_credentials,
    make_credentials,
    needs_rehash,
    verify_password,
)
from mailward.auth.sasl.base import Mechanism
from mailward.auth.sasl.plain import Plain
from mailward.auth.sasl.steps import (
    Challenge,
    Failure,
    FailureReason,
    NeedCertificateAccount,
    NeedCredentials,
    NeedVerify,
    Outcome,
    Step,
    Success,
)
from mailward.auth.throttle import Throttle, format_time

# failures that count against an address and account: guessing, not client bugs
_COUNTED = frozenset({FailureReason.BAD_CREDENTIALS, FailureReason.NO_CERTIFICATE,
                      FailureReason.CHANNEL_BINDING})


class CredentialLookup(Protocol):
    """The account side the mechanisms need (the store implements it; LDAP may later)."""

    async def credentials(self, username: str) -> Credentials | None:
        """The credentials of ``username``, or ``None`` if no such (enabled) account."""
        ...

    async def check_app_password(self, username: str, password: str) -> str | None:
        """The label of the app password of ``username`` that ``password`` is, if any."""
        ...

    async def account_for_certificate(self, fingerprint: str) -> str | None:
        """The account a client certificate is registered to, if any (the fingerprint
        as ``PeerCertificate.sha256`` gives it: uppercase hex pairs with colons)."""
        ...


def password_login(username: str, password: str) -> tuple[Plain, bytes]:
    """A PLAIN mechanism and the message to start it with, for IMAP LOGIN / POP3 PASS."""
    message = b"\x00" + username.encode("utf-8") + b"\x00" + password.encode("utf-8")
    return Plain(), message


class SaslExchange:
    """One authentication exchange: a mechanism plus the IO it needs.

    After a successful password login whose argon2 hash was made with older
    parameters, :attr:`rehashed` holds new credentials for the session to store.
    When the password given was one of the account's app passwords,
    :attr:`app_password` holds its label (for the log). App passwords work with the
    mechanisms that send the password (PLAIN, LOGIN, IMAP LOGIN, POP3 PASS), not
    with SCRAM, whose keys are derived from the account password alone.
    :attr:`username` is the user name the client claimed (for the log), once known.
    """

    def __init__(
        self,
        mechanism: Mechanism,
        lookup: CredentialLookup,
        *,
        hasher: argon2.PasswordHasher = DEFAULT_HASHER,
        throttle: Throttle | None = None,
        peer_ip: str = "",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.mechanism = mechanism
        self._lookup = lookup
        self._hasher = hasher
        self._throttle = throttle
        self._peer_ip = peer_ip
        self._sleep = sleep
        self.rehashed: Credentials | None = None
        self.username: str | None = None
        self.app_password: str | None = None

    async def start(self, initial_response: bytes | None) -> Outcome:
        if self._throttle is not None:
            refused = await self._gate(None, wait=False)  # a blocked address: no work
            if refused is not None:
                return refused
        return await self._drive(self.mechanism.start(initial_response))

    async def respond(self, response: bytes) -> Outcome:
        return await self._drive(self.mechanism.receive(response))

    async def _drive(self, step: Step) -> Outcome:
        while True:
            if isinstance(step, (Challenge, Success, Failure)):
                if not isinstance(step, Challenge):
                    await self._record(step)
                return step
            if isinstance(step, NeedVerify):
                self.username = step.username
                refused = await self._gate(step.username)
                if refused is not None:
                    return refused
                step = self.mechanism.verified(await self._verify(step.username, step.password))
            elif isinstance(step, NeedCredentials):
                self.username = step.username
                refused = await self._gate(step.username)
                if refused is not None:
                    return refused
                step = self.mechanism.credentials(await self._lookup.credentials(step.username))
            elif isinstance(step, NeedCertificateAccount):
                account = await self._lookup.account_for_certificate(step.fingerprint)
                self.username = account
                refused = await self._gate(account)
                if refused is not None:
                    return refused
                step = self.mechanism.certificate_account(account)

    async def _gate(self, username: str | None, *, wait: bool = True) -> Failure | None:
        if self._throttle is None:
            return None
        verdict = await self._throttle.check(self._peer_ip, username)
        if verdict.refused:
            until = format_time(verdict.retry_at or 0)
            return Failure(FailureReason.THROTTLED, f"{verdict.subject} blocked until {until}")
        if verdict.delay and wait:
            await self._sleep(verdict.delay)
        return None

    async def _record(self, outcome: Success | Failure) -> None:
        if self._throttle is None:
            return
        if isinstance(outcome, Success):
            await self._throttle.record_success(self._peer_ip, outcome.username)
        elif outcome.reason in _COUNTED:
            await self._throttle.record_failure(self._peer_ip, self.username)

    async def _verify(self, username: str, password: str) -> bool:
        credentials = await self._lookup.credentials(username)
        known = credentials is not None
        if credentials is None:
            credentials = await asyncio.to_thread(dummy_credentials, self._hasher)
        ok = await asyncio.to_thread(verify_password, credentials, password, hasher=self._hasher)
        if ok and known:
            if needs_rehash(credentials, hasher=self._hasher):
                self.rehashed = await asyncio.to_thread(make_credentials, password, hasher=self._hasher)
            return True
        self.app_password = await self._lookup.check_app_password(username, password)
        return self.app_password is not None
