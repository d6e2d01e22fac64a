"""SMTP AUTH (RFC 4954) for a session: the SMTP framing of a login.

The core frames the exchange (334 challenges, ``*`` to cancel, base64) and refuses
AUTH where the facts say so (530 before STARTTLS on ``starttls-required``, 538 for
a mechanism that needs TLS); this module answers the decisions it hands over, with
the protocol-neutral :class:`~mailward.server.login.SessionLogin` doing the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from mailward.auth.accounts import AuthServices
from mailward.auth.sasl import Challenge, Failure, FailureReason, Outcome, Success
from mailward.protocols.smtp import replies as R
from mailward.protocols.smtp.core import SmtpCore
from mailward.protocols.smtp.events import AuthRequest, AuthResponse
from mailward.protocols.smtp.replies import Reply
from mailward.server.connection import Connection
from mailward.server.login import LookupFailed, SessionLogin
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
        self.login = SessionLogin(conn, auth, log, "smtp")
        self._success: Success | None = None  # sent as a last 334, waiting for the empty answer

    @property
    def account(self) -> Account | None:
        return self.login.account

    def tls_changed(self) -> None:
        self.login.tls_changed()
        self._success = None

    async def identify_certificate(self) -> None:
        await self.login.identify_certificate()

    def mechanisms(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        return self.login.mechanisms()

    async def request(self, core: SmtpCore, event: AuthRequest) -> None:
        self._success = None  # a new AUTH command starts afresh, whatever came before
        if not self.login.begin(event.mechanism):  # the core checked the facts: only a race with a reload
            core.answer(R.UNKNOWN_MECHANISM)
            return
        await self._answer(core, self.login.start(event.initial_response))

    async def response(self, core: SmtpCore, event: AuthResponse) -> None:
        if self._success is not None:  # RFC 4954 4: the answer to the server's final data
            success, self._success = self._success, None
            if event.data:
                self._finish(core, Failure(FailureReason.MALFORMED, "data after the server's last"))
            else:
                await self._succeed(core, success)
            return
        await self._answer(core, self.login.respond(event.data))

    def cancelled(self) -> None:
        self.login.cancel()
        self._success = None

    async def _answer(self, core: SmtpCore, step: Awaitable[Outcome]) -> None:
        try:
            outcome = await step
        except LookupFailed:
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
            result = await self.login.succeed(outcome)
        except LookupFailed:
            core.answer(R.AUTH_TEMPORARY)
            return
        core.answer(R.AUTH_OK if isinstance(result, Success) else _reply(result))

    def _finish(self, core: SmtpCore, outcome: Failure) -> None:
        self.login.finish(outcome)
        core.answer(_reply(outcome))


def _reply(failure: Failure) -> Reply:
    return _FAILURE_REPLIES.get(failure.reason, R.AUTH_FAILED)
