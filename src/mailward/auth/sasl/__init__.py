"""SASL (RFC 4422) server mechanisms, sans-IO, shared by SMTP, IMAP and POP3.

Sessions call :func:`allowed_mechanisms` (or ``ConnectionFacts.allowed()``) to
advertise, :func:`create_mechanism` when the client picks one, and drive it with
:class:`SaslExchange`, which does the lookups and password checks the mechanism asks for.
"""

from mailward.auth.sasl.base import MAX_RESPONSE, Authorize, Mechanism, same_identity
from mailward.auth.sasl.exchange import CredentialLookup, SaslExchange, password_login
from mailward.auth.sasl.external import External, certificate_fingerprint
from mailward.auth.sasl.login import Login
from mailward.auth.sasl.plain import Plain
from mailward.auth.sasl.policy import (
    MECHANISMS,
    REVEALS_PASSWORD,
    ConnectionFacts,
    allowed_mechanisms,
    create_mechanism,
)
from mailward.auth.sasl.scram import ScramSha256, ScramSha256Plus
from mailward.auth.sasl.steps import (
    Challenge,
    Failure,
    FailureReason,
    NeedCertificateAccount,
    NeedCredentials,
    NeedVerify,
    Outcome,
    SaslUsageError,
    Step,
    Success,
)

__all__ = [
    "MAX_RESPONSE",
    "MECHANISMS",
    "REVEALS_PASSWORD",
    "Authorize",
    "Challenge",
    "ConnectionFacts",
    "CredentialLookup",
    "External",
    "Failure",
    "FailureReason",
    "Login",
    "Mechanism",
    "NeedCertificateAccount",
    "NeedCredentials",
    "NeedVerify",
    "Outcome",
    "Plain",
    "SaslExchange",
    "SaslUsageError",
    "ScramSha256",
    "ScramSha256Plus",
    "Step",
    "Success",
    "allowed_mechanisms",
    "certificate_fingerprint",
    "create_mechanism",
    "password_login",
    "same_identity",
]
