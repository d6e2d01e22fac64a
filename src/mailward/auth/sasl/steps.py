"""What a mechanism answers after each client response (sans-IO).

Three kinds end or continue the exchange on the wire: :class:`Challenge` (send
it), :class:`Success`, :class:`Failure`. Three ask the caller to do IO and feed
the answer back: :class:`NeedVerify` (check a password, slowly, in a thread),
:class:`NeedCredentials` (fetch an account's SCRAM keys), :class:`NeedCertificateAccount`
(map a client certificate to an account). :class:`mailward.auth.sasl.exchange.SaslExchange`
does that IO for sessions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FailureReason(enum.Enum):
    """Why an exchange failed. Only MALFORMED is the peer's protocol error (BAD / 501)."""

    MALFORMED = "malformed"  # the client broke the mechanism's syntax
    BAD_CREDENTIALS = "bad-credentials"  # unknown user or wrong password/proof (not told apart)
    AUTHZID_NOT_PERMITTED = "authzid-not-permitted"
    CHANNEL_BINDING = "channel-binding"  # mismatch, unsupported type, or a downgrade
    NO_CERTIFICATE = "no-certificate"  # EXTERNAL without a verified, registered certificate
    NOT_AVAILABLE = "mechanism-not-available"  # unknown, or not allowed on this connection now
    THROTTLED = "throttled"  # too many failures from this address or for this account

    @property
    def temporary(self) -> bool:
        """True when the protocol should answer "try again later" (SMTP 454 4.7.0, IMAP NO [UNAVAILABLE])."""
        return self is FailureReason.THROTTLED

    @property
    def protocol_error(self) -> bool:
        """True when the protocol should answer as to a syntax error (IMAP BAD, SMTP 501)."""
        return self is FailureReason.MALFORMED


@dataclass(frozen=True)
class Challenge:
    """Send ``data`` to the client (the protocol base64-encodes it)."""

    data: bytes


@dataclass(frozen=True)
class Success:
    """Authenticated as ``username``; the session acts as ``authzid``.

    ``authzid`` equals ``username`` unless the client asked for another identity and
    was permitted. ``data`` is "additional data with success" (SCRAM's server-final
    message): send it with the success reply where the protocol allows that, else
    as a last challenge whose (empty) answer precedes the success reply (RFC 4422 3.6).
    """

    username: str
    authzid: str
    data: bytes | None = None


@dataclass(frozen=True)
class Failure:
    """The exchange failed. ``detail`` is for the log, never for the client.

    ``data`` is an optional server error message the mechanism defines (SCRAM's
    ``e=...``, RFC 5802 7); protocols may send it before the failure or drop it.
    """

    reason: FailureReason
    detail: str = ""
    data: bytes | None = None


@dataclass(frozen=True)
class NeedVerify:
    """Check ``password`` for ``username``; answer with ``mechanism.verified(ok)``."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class NeedCredentials:
    """Fetch ``username``'s credentials; answer with ``mechanism.credentials(creds | None)``."""

    username: str


@dataclass(frozen=True)
class NeedCertificateAccount:
    """Map the SHA-256 fingerprint (uppercase hex pairs with colons, as the TLS layer
    gives it) to an account; answer with
    ``mechanism.certificate_account(account | None)``."""

    fingerprint: str


Outcome = Challenge | Success | Failure
Step = Challenge | Success | Failure | NeedVerify | NeedCredentials | NeedCertificateAccount


class SaslUsageError(Exception):
    """The caller misused a mechanism (wrong call for its state): a bug, not the peer's doing."""


__all__ = [
    "Challenge",
    "Failure",
    "FailureReason",
    "NeedCertificateAccount",
    "NeedCredentials",
    "NeedVerify",
    "Outcome",
    "SaslUsageError",
    "Step",
    "Success",
]
