"""The shape every mechanism shares: a small state machine fed one event at a time."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import ClassVar

from mailward.auth.passwords import Credentials
from mailward.auth.sasl.steps import (
    Challenge,
    Failure,
    FailureReason,
    NeedCertificateAccount,
    NeedCredentials,
    NeedVerify,
    SaslUsageError,
    Step,
    Success,
)

MAX_RESPONSE = 8192
"""Longest client response any mechanism accepts (bytes, after base64)."""

Authorize = Callable[[str, str], bool]
"""``authorize(username, authzid)``: may ``username`` act as ``authzid``?"""


def same_identity(username: str, authzid: str) -> bool:
    """The default policy: a user may act only as themself (no proxy or master users yet).

    Themself in any spelling the account store takes for the same address
    (``FZ1@TEST.LOCAL`` for ``fz1@test.local``): addresses are case-insensitive everywhere.
    """
    if authzid == username:
        return True
    stored = _stored_form(username)
    return stored is not None and _stored_form(authzid) == stored


def _stored_form(name: str) -> str | None:
    # here, not at the top: auth.accounts imports the SASL mechanisms
    from mailward.auth.accounts import names  # noqa: PLC0415

    try:
        return names.address(name)
    except names.InvalidName:
        return None


class Expect(enum.Enum):
    START = "start"
    RESPONSE = "response"
    VERIFY = "verify"
    CREDENTIALS = "credentials"
    CERTIFICATE = "certificate"
    DONE = "done"


_NEEDS = {NeedVerify: Expect.VERIFY, NeedCredentials: Expect.CREDENTIALS,
          NeedCertificateAccount: Expect.CERTIFICATE}


class Mechanism:
    """A SASL server mechanism. Drive it with :meth:`start`, then :meth:`receive` for each
    client response, answering ``Need*`` steps with the matching method.

    Every peer input yields a step; calling a method the current state does not
    expect raises :class:`SaslUsageError` (a caller bug).
    """

    name: ClassVar[str]
    reveals_password: ClassVar[bool] = False

    def __init__(self, *, authorize: Authorize = same_identity) -> None:
        self._authorize = authorize
        self._expect = Expect.START

    @property
    def done(self) -> bool:
        return self._expect is Expect.DONE

    # --- public events -----------------------------------------------------

    def start(self, initial_response: bytes | None) -> Step:
        """Begin; ``initial_response`` is ``None`` when the client sent none (``b""``
        when it sent an empty one, ``=`` in SMTP and IMAP)."""
        self._require(Expect.START)
        if initial_response is None:
            return self._track(self._first_challenge())
        return self._feed(initial_response)

    def receive(self, response: bytes) -> Step:
        """A client response, already base64-decoded by the protocol."""
        self._require(Expect.RESPONSE)
        return self._feed(response)

    def verified(self, ok: bool) -> Step:
        self._require(Expect.VERIFY)
        return self._track(self._on_verified(ok))

    def credentials(self, credentials: Credentials | None) -> Step:
        self._require(Expect.CREDENTIALS)
        return self._track(self._on_credentials(credentials))

    def certificate_account(self, account: str | None) -> Step:
        self._require(Expect.CERTIFICATE)
        return self._track(self._on_certificate_account(account))

    # --- for subclasses ----------------------------------------------------

    def _first_challenge(self) -> Step:
        return Challenge(b"")  # RFC 4422 3.3: an empty challenge invites the first response

    def _on_response(self, data: bytes) -> Step:
        raise NotImplementedError

    def _on_verified(self, ok: bool) -> Step:
        raise NotImplementedError

    def _on_credentials(self, credentials: Credentials | None) -> Step:
        raise NotImplementedError

    def _on_certificate_account(self, account: str | None) -> Step:
        raise NotImplementedError

    def _finish(self, username: str, authzid: str, data: bytes | None = None) -> Step:
        """Success, if ``username`` may act as ``authzid`` (empty: as themself)."""
        if not authzid or same_identity(username, authzid):
            return Success(username, username, data)  # as themself, however the client spelt it
        if not self._authorize(username, authzid):
            return Failure(FailureReason.AUTHZID_NOT_PERMITTED, f"{username!r} may not act as {authzid!r}")
        return Success(username, authzid, data)

    # --- plumbing ----------------------------------------------------------

    def _feed(self, data: bytes) -> Step:
        if len(data) > MAX_RESPONSE:
            return self._track(Failure(FailureReason.MALFORMED, f"response of {len(data)} bytes"))
        return self._track(self._on_response(data))

    def _require(self, state: Expect) -> None:
        if self._expect is not state:
            raise SaslUsageError(f"{self.name}: expected {self._expect.value}, not {state.value}")

    def _track(self, step: Step) -> Step:
        if isinstance(step, (Success, Failure)):
            self._expect = Expect.DONE
        elif isinstance(step, Challenge):
            self._expect = Expect.RESPONSE
        else:
            self._expect = _NEEDS[type(step)]
        return step


def malformed(detail: str, data: bytes | None = None) -> Failure:
    return Failure(FailureReason.MALFORMED, detail, data)


def utf8(data: bytes) -> str | None:
    """``data`` as UTF-8, or ``None`` when it is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
