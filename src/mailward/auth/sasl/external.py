"""EXTERNAL (RFC 4422 Appendix A): the verified TLS client certificate is the credential.

The session passes the SHA-256 fingerprint of the client certificate it verified
(``None`` when there is none); the account is what ``mailward user cert add``
registered for that fingerprint.
"""

from __future__ import annotations

import hashlib

from mailward.auth.sasl.base import Authorize, Mechanism, malformed, same_identity, utf8
from mailward.auth.sasl.steps import Failure, FailureReason, NeedCertificateAccount, Step


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate as mail clients show it and the
    account store keeps it: uppercase hex pairs joined by colons (the form of
    ``PeerCertificate.sha256`` that the TLS layer hands the session)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


class External(Mechanism):
    name = "EXTERNAL"

    def __init__(self, *, client_fingerprint: str | None, authorize: Authorize = same_identity) -> None:
        super().__init__(authorize=authorize)
        self._fingerprint = client_fingerprint
        self._authzid = ""

    def _on_response(self, data: bytes) -> Step:
        # RFC 4422 A.1: the message is the authzid, possibly empty
        authzid = utf8(data)
        if authzid is None or "\x00" in authzid:
            return malformed("EXTERNAL authzid is not UTF-8 text")
        if self._fingerprint is None:
            return Failure(FailureReason.NO_CERTIFICATE, "no verified client certificate")
        self._authzid = authzid
        return NeedCertificateAccount(self._fingerprint)

    def _on_certificate_account(self, account: str | None) -> Step:
        if account is None:
            return Failure(
                FailureReason.NO_CERTIFICATE, f"certificate {self._fingerprint} is not registered"
            )
        return self._finish(account, self._authzid)
