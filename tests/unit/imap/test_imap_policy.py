"""CAPABILITY lists and plaintext-login refusals from the connection's facts."""

from __future__ import annotations

from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import Authenticate, Login, Noop
from mailward.protocols.imap.policy import EXTENSIONS, Facts, capabilities, login_refusal
from mailward.protocols.imap.state import Authenticated, NotAuthenticated, Selected

MECHS = ("PLAIN", "LOGIN", "SCRAM-SHA-256", "EXTERNAL")
PLAIN_TCP = Facts(starttls_available=True, mechanisms=MECHS)
AFTER_TLS = Facts(tls_active=True, mechanisms=MECHS)


def test_before_tls_under_tls_only() -> None:
    caps = capabilities(PLAIN_TCP, NotAuthenticated())
    assert caps[:5] == ("IMAP4rev2", "IMAP4rev1", "STARTTLS", "LOGINDISABLED", "AUTH=SCRAM-SHA-256")
    assert "AUTH=PLAIN" not in caps and "AUTH=LOGIN" not in caps and "AUTH=EXTERNAL" in caps
    assert "SASL-IR" in caps and "LITERAL+" in caps


def test_after_tls() -> None:
    caps = capabilities(AFTER_TLS, NotAuthenticated())
    assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps
    assert {"AUTH=PLAIN", "AUTH=LOGIN", "AUTH=SCRAM-SHA-256", "AUTH=EXTERNAL"} <= set(caps)


def test_plaintext_allowed_everywhere_when_configured() -> None:
    facts = Facts(starttls_available=True, plaintext_needs_tls=False, mechanisms=("PLAIN",))
    caps = capabilities(facts, NotAuthenticated())
    assert "STARTTLS" in caps and "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps


def test_after_login_no_starttls_and_no_auth() -> None:
    facts = Facts(tls_active=True, mechanisms=MECHS, literal_minus=True, append_limit=52428800)
    for state in (Authenticated(), Selected("INBOX")):
        caps = capabilities(facts, state)
        assert not any(c.startswith("AUTH=") or c in ("STARTTLS", "SASL-IR") for c in caps)
        assert caps == ("IMAP4rev2", "IMAP4rev1", "LITERAL-", *EXTENSIONS, "APPENDLIMIT=52428800")


def test_login_refusals() -> None:
    assert login_refusal(PLAIN_TCP, Login("a", "u", "p")) == codes.PRIVACYREQUIRED
    assert login_refusal(PLAIN_TCP, Authenticate("a", "PLAIN")) == codes.PRIVACYREQUIRED
    assert login_refusal(PLAIN_TCP, Authenticate("a", "LOGIN")) == codes.PRIVACYREQUIRED
    assert login_refusal(PLAIN_TCP, Authenticate("a", "SCRAM-SHA-256")) is None
    assert login_refusal(PLAIN_TCP, Authenticate("a", "GSSAPI")) == codes.CANNOT
    assert login_refusal(AFTER_TLS, Login("a", "u", "p")) is None
    assert login_refusal(AFTER_TLS, Authenticate("a", "PLAIN", b"\x00u\x00p")) is None
    assert login_refusal(PLAIN_TCP, Noop("a")) is None
