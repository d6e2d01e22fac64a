"""POP3 logins for a session (RFC 1939 7 USER/PASS, RFC 5034 AUTH): the POP3 framing.

The core frames the exchange (``+`` challenges, ``*`` to cancel, base64) and refuses
plaintext logins where the facts say so (``-ERR [AUTH]`` before STLS); this module
answers the decisions it hands over, with the protocol-neutral
:class:`~mailward.server.login.SessionLogin` doing the rest. A success returns the
account: the session then locks the maildrop and answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from mailward.auth.accounts import AuthServices
from mailward.auth.sasl import Challenge, Failure, FailureReason, Outcome, Success
from mailward.protocols.pop3 import replies as R
from mailward.protocols.pop3.core import Pop3Core
from mailward.protocols.pop3.events import AuthRequest, AuthResponse, PasswordLogin
from mailward.protocols.pop3.replies import Reply
from mailward.server.connection import Connection
from mailward.server.login import LookupFailed, SessionLogin
from mailward.store.interface import Account

# RFC 3206 4: AUTH for a problem with the credentials; SYS/TEMP (5) for "try later"
_FAILURE_REPLIES = {
    FailureReason.MALFORMED: R.AUTH_MALFORMED,
    FailureReason.THROTTLED: R.THROTTLED,
    FailureReason.NOT_AVAILABLE: R.UNKNOWN_MECHANISM,
}


class Pop3Login:
    """The login side of one POP3 session."""

    def __init__(
        self, conn: Connection, auth: AuthServices, log: logging.LoggerAdapter[logging.Logger]
    ) -> None:
        self.login = SessionLogin(conn, auth, log, "pop3")
        self._success: Success | None = None  # sent as a last challenge, waiting for the empty answer

    def tls_changed(self) -> None:
        self.login.tls_changed()
        self._success = None

    async def password(self, core: Pop3Core, event: PasswordLogin) -> Account | None:
        """USER/PASS, as the PLAIN exchange it is (the core checked that it is allowed)."""
        self._success = None
        initial = self.login.begin_password(event.username, event.password)
        return await self._answer(core, await self._step(core, self.login.start(initial)))

    async def request(self, core: Pop3Core, event: AuthRequest) -> Account | None:
        self._success = None
        if not self.login.begin(event.mechanism):  # the core checked the facts: only a race with a reload
            core.answer(R.UNKNOWN_MECHANISM)
            return None
        return await self._answer(core, await self._step(core, self.login.start(event.initial)))

    async def response(self, core: Pop3Core, event: AuthResponse) -> Account | None:
        if self._success is not None:  # RFC 5034 4: the answer to the server's final data
            success, self._success = self._success, None
            if event.data:
                self._fail(core, Failure(FailureReason.MALFORMED, "data after the server's last"))
                return None
            return await self._succeed(core, success)
        return await self._answer(core, await self._step(core, self.login.respond(event.data)))

    def cancelled(self) -> None:
        self.login.cancel()
        self._success = None

    async def _step(self, core: Pop3Core, step: Awaitable[Outcome]) -> Outcome | None:
        try:
            return await step
        except LookupFailed:
            core.answer(R.TEMPORARY)
            return None

    async def _answer(self, core: Pop3Core, outcome: Outcome | None) -> Account | None:
        if outcome is None:
            return None
        if isinstance(outcome, Challenge):
            core.auth_challenge(outcome.data)
            return None
        if isinstance(outcome, Success) and outcome.data is not None:
            # RFC 5034 4: additional data with success goes as a last challenge
            self._success = outcome
            core.auth_challenge(outcome.data)
            return None
        if isinstance(outcome, Success):
            return await self._succeed(core, outcome)
        self._fail(core, outcome)
        return None

    async def _succeed(self, core: Pop3Core, outcome: Success) -> Account | None:
        try:
            result = await self.login.succeed(outcome)
        except LookupFailed:
            core.answer(R.TEMPORARY)
            return None
        if isinstance(result, Failure):
            core.answer(_reply(result))
            return None
        return self.login.account

    def _fail(self, core: Pop3Core, outcome: Failure) -> None:
        self.login.finish(outcome)
        core.answer(_reply(outcome))


def _reply(failure: Failure) -> Reply:
    return _FAILURE_REPLIES.get(failure.reason, R.AUTH_FAILED)
