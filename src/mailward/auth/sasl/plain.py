"""PLAIN (RFC 4616): ``[authzid] NUL authcid NUL passwd`` in one response."""

from __future__ import annotations

from mailward.auth.sasl.base import Authorize, Mechanism, malformed, same_identity, utf8
from mailward.auth.sasl.steps import Failure, FailureReason, NeedVerify, Step


class Plain(Mechanism):
    name = "PLAIN"
    reveals_password = True

    def __init__(self, *, authorize: Authorize = same_identity) -> None:
        super().__init__(authorize=authorize)
        self._username = ""
        self._authzid = ""

    def _on_response(self, data: bytes) -> Step:
        # RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
        parts = data.split(b"\x00")
        if len(parts) != 3:
            return malformed(f"PLAIN message has {len(parts) - 1} NULs, not 2")
        texts = [utf8(p) for p in parts]
        authzid, authcid, passwd = texts
        if authzid is None or authcid is None or passwd is None:
            return malformed("PLAIN message is not UTF-8")  # RFC 4616 2: UTF-8 encoded
        if not authcid or not passwd:
            return malformed("PLAIN authcid or passwd is empty")  # RFC 4616 2: 1*SAFE
        self._username, self._authzid = authcid, authzid
        return NeedVerify(authcid, passwd)

    def _on_verified(self, ok: bool) -> Step:
        if not ok:
            return Failure(FailureReason.BAD_CREDENTIALS, f"wrong password for {self._username!r}")
        # RFC 4616 2: authzid checked only after the credentials verify
        return self._finish(self._username, self._authzid)
