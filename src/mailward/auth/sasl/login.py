"""LOGIN (draft-murchison-sasl-login-00): "Username:" and "Password:" challenges.

Obsolete but still the only mechanism some clients (older Outlook) offer. Some
clients send the user name as an initial response; that is accepted.
"""

from __future__ import annotations

from mailward.auth.sasl.base import Authorize, Mechanism, malformed, same_identity, utf8
from mailward.auth.sasl.steps import Challenge, Failure, FailureReason, NeedVerify, Step

USERNAME_PROMPT = b"Username:"
PASSWORD_PROMPT = b"Password:"


class Login(Mechanism):
    name = "LOGIN"
    reveals_password = True

    def __init__(self, *, authorize: Authorize = same_identity) -> None:
        super().__init__(authorize=authorize)
        self._username: str | None = None

    def _first_challenge(self) -> Step:
        return Challenge(USERNAME_PROMPT)

    def _on_response(self, data: bytes) -> Step:
        text = utf8(data)
        if text is None:
            return malformed("LOGIN response is not UTF-8")
        if "\x00" in text:
            return malformed("LOGIN response contains NUL")
        if self._username is None:
            if not text:
                return malformed("LOGIN user name is empty")
            self._username = text
            return Challenge(PASSWORD_PROMPT)
        if not text:
            return malformed("LOGIN password is empty")
        return NeedVerify(self._username, text)

    def _on_verified(self, ok: bool) -> Step:
        assert self._username is not None
        if not ok:
            return Failure(FailureReason.BAD_CREDENTIALS, f"wrong password for {self._username!r}")
        return self._finish(self._username, "")
