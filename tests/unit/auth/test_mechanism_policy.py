"""Which mechanisms a connection may use, and building them."""

from __future__ import annotations

import itertools

import pytest

from mailward.auth.sasl import (
    REVEALS_PASSWORD,
    ConnectionFacts,
    External,
    Login,
    Plain,
    ScramSha256,
    ScramSha256Plus,
    allowed_mechanisms,
    create_mechanism,
)

ALL = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "EXTERNAL", "PLAIN", "LOGIN")


@pytest.mark.parametrize(
    ("policy", "tls", "cb", "cert", "expected"),
    [
        ("tls-only", False, False, False, ()),
        ("tls-only", False, True, True, ()),
        ("tls-only", True, False, False, ("SCRAM-SHA-256", "PLAIN", "LOGIN")),
        ("tls-only", True, True, False, ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN")),
        ("tls-only", True, True, True, ALL),
        ("tls-only", True, False, True, ("SCRAM-SHA-256", "EXTERNAL", "PLAIN", "LOGIN")),
        ("allow", False, False, False, ("SCRAM-SHA-256", "PLAIN", "LOGIN")),
        ("allow", False, True, True, ("SCRAM-SHA-256", "PLAIN", "LOGIN")),
        ("allow", True, True, True, ALL),
    ],
)
def test_allowed(policy: str, tls: bool, cb: bool, cert: bool, expected: tuple[str, ...]) -> None:
    assert allowed_mechanisms(policy, tls, cb, cert) == expected  # type: ignore[arg-type]


def test_password_revealing_mechanisms_never_without_tls_under_tls_only() -> None:
    for cb, cert in itertools.product((False, True), repeat=2):
        assert not REVEALS_PASSWORD & set(allowed_mechanisms("tls-only", False, cb, cert))


def test_create() -> None:
    tls = ConnectionFacts("tls-only", True, b"x" * 32, "ab" * 32)
    assert isinstance(create_mechanism("scram-sha-256-plus", tls), ScramSha256Plus)
    assert type(create_mechanism("SCRAM-SHA-256", tls)) is ScramSha256
    assert isinstance(create_mechanism("EXTERNAL", tls), External)
    assert isinstance(create_mechanism("plain", tls), Plain)
    assert isinstance(create_mechanism("LOGIN", tls), Login)
    assert create_mechanism("CRAM-MD5", tls) is None
    plain = ConnectionFacts("tls-only", False)
    for name in ALL:
        assert create_mechanism(name, plain) is None  # not offered, not accepted
    allow = ConnectionFacts("allow", False)
    assert isinstance(create_mechanism("PLAIN", allow), Plain)
    assert create_mechanism("SCRAM-SHA-256-PLUS", allow) is None
    assert create_mechanism("EXTERNAL", ConnectionFacts("tls-only", True)) is None
