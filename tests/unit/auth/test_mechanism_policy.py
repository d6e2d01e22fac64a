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


def test_scram_plus_on_request_is_accepted_but_not_advertised() -> None:
    binding = b"\x01" * 32
    quiet = ConnectionFacts("tls-only", True, channel_binding=binding, advertise_plus=False)
    assert quiet.advertised() == ("SCRAM-SHA-256", "PLAIN", "LOGIN")
    assert "SCRAM-SHA-256-PLUS" in quiet.allowed()
    assert isinstance(create_mechanism("SCRAM-SHA-256-PLUS", quiet), ScramSha256Plus)
    listed = ConnectionFacts("tls-only", True, channel_binding=binding, advertise_plus=True)
    assert listed.advertised()[0] == "SCRAM-SHA-256-PLUS"


def test_a_y_flag_is_a_downgrade_only_when_plus_was_advertised() -> None:
    # RFC 5802 6: "y" says the client could bind but believes the server cannot
    first = b"y,,n=alice,r=abcdefghijklmnop"
    binding = b"\x01" * 32
    quiet = ConnectionFacts("tls-only", True, channel_binding=binding, advertise_plus=False)
    listed = ConnectionFacts("tls-only", True, channel_binding=binding, advertise_plus=True)
    mechanism = create_mechanism("SCRAM-SHA-256", quiet)
    assert mechanism is not None
    assert type(mechanism.start(first)).__name__ == "NeedCredentials"
    mechanism = create_mechanism("SCRAM-SHA-256", listed)
    assert mechanism is not None
    assert type(mechanism.start(first)).__name__ == "Failure"
