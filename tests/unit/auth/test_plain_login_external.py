"""PLAIN, LOGIN and EXTERNAL: the happy paths and every malformed message."""

from __future__ import annotations

import hashlib

import pytest

from mailward.auth.sasl import (
    Challenge,
    External,
    Failure,
    FailureReason,
    Login,
    NeedCertificateAccount,
    NeedVerify,
    Plain,
    SaslUsageError,
    Success,
    certificate_fingerprint,
)
from mailward.auth.sasl.base import MAX_RESPONSE


def test_plain_initial_response() -> None:
    mech = Plain()
    assert mech.start(b"\x00alice\x00pw") == NeedVerify("alice", "pw")
    assert mech.verified(True) == Success("alice", "alice")


def test_plain_without_initial_response() -> None:
    mech = Plain()
    assert mech.start(None) == Challenge(b"")  # RFC 4422 3.3: empty challenge
    assert mech.receive(b"alice\x00alice\x00p\xc3\xa4ss w") == NeedVerify("alice", "päss w")
    assert mech.verified(True) == Success("alice", "alice")


def test_plain_wrong_password() -> None:
    mech = Plain()
    mech.start(b"\x00alice\x00pw")
    step = mech.verified(False)
    assert isinstance(step, Failure) and step.reason is FailureReason.BAD_CREDENTIALS
    assert "pw" not in step.detail


def test_plain_authzid() -> None:
    mech = Plain()
    mech.start(b"boss\x00alice\x00pw")
    step = mech.verified(True)
    assert isinstance(step, Failure) and step.reason is FailureReason.AUTHZID_NOT_PERMITTED
    mech = Plain(authorize=lambda user, authzid: (user, authzid) == ("alice", "shared@x"))
    mech.start(b"shared@x\x00alice\x00pw")
    assert mech.verified(True) == Success("alice", "shared@x")
    mech = Plain()  # wrong password: bad credentials, whatever the authzid
    mech.start(b"boss\x00alice\x00pw")
    assert mech.verified(False).reason is FailureReason.BAD_CREDENTIALS  # type: ignore[union-attr]


def test_plain_authzid_naming_the_user_in_another_spelling_is_the_user() -> None:
    # addresses are case-insensitive everywhere else, IDNs in either form
    for authzid in ("FZ1@TEST.LOCAL", "Fz1@Test.Local.", "fz1@test.local"):
        mech = Plain()
        mech.start(authzid.encode() + b"\x00fz1@test.local\x00pw")
        assert mech.verified(True) == Success("fz1@test.local", "fz1@test.local"), authzid
    mech = Plain()
    mech.start("BÜCHER@xn--bcher-kva.example\x00bücher@bücher.example\x00pw".encode())
    assert mech.verified(True) == Success("bücher@bücher.example", "bücher@bücher.example")
    for other in ("fz2@test.local", "fz1@test.local.example", "fz1", "FZ1"):
        mech = Plain()
        mech.start(other.encode() + b"\x00fz1@test.local\x00pw")
        step = mech.verified(True)
        assert isinstance(step, Failure) and step.reason is FailureReason.AUTHZID_NOT_PERMITTED, other


@pytest.mark.parametrize(
    "message",
    [
        b"", b"\x00", b"\x00\x00", b"alice\x00pw", b"\x00\x00pw", b"\x00alice\x00",
        b"\x00alice\x00pw\x00", b"\x00alice\x00p\x00w", b"\x00al\xffice\x00pw", b"\xff\x00alice\x00pw",
        b"\x00alice\x00\xc3", b"\x00" + b"a" * MAX_RESPONSE + b"\x00pw",
    ],
)
def test_plain_malformed(message: bytes) -> None:
    step = Plain().start(message)
    assert isinstance(step, Failure) and step.reason is FailureReason.MALFORMED
    assert step.reason.protocol_error


def test_usage_errors() -> None:
    mech = Plain()
    with pytest.raises(SaslUsageError):
        mech.receive(b"x")
    with pytest.raises(SaslUsageError):
        mech.verified(True)
    mech.start(b"\x00a\x00b")
    with pytest.raises(SaslUsageError):
        mech.receive(b"x")
    with pytest.raises(SaslUsageError):
        mech.credentials(None)
    mech.verified(True)
    with pytest.raises(SaslUsageError):
        mech.verified(True)


def test_login() -> None:
    mech = Login()
    assert mech.start(None) == Challenge(b"Username:")
    assert mech.receive(b"alice") == Challenge(b"Password:")
    assert mech.receive(b"s3cret") == NeedVerify("alice", "s3cret")
    assert mech.verified(True) == Success("alice", "alice")


def test_login_with_initial_response() -> None:
    mech = Login()
    assert mech.start(b"alice") == Challenge(b"Password:")
    assert mech.receive(b"pw") == NeedVerify("alice", "pw")
    assert mech.verified(False).reason is FailureReason.BAD_CREDENTIALS  # type: ignore[union-attr]


@pytest.mark.parametrize(("user", "password"), [(b"", b"pw"), (b"a\x00b", b"pw"), (b"\xff", b"pw"),
                                                (b"alice", b""), (b"alice", b"p\x00w"), (b"alice", b"\xc3")])
def test_login_malformed(user: bytes, password: bytes) -> None:
    mech = Login()
    mech.start(None)
    step = mech.receive(user)
    if isinstance(step, Challenge):
        step = mech.receive(password)
    assert isinstance(step, Failure) and step.reason is FailureReason.MALFORMED


FP = certificate_fingerprint(b"fake der")


def test_external() -> None:
    mech = External(client_fingerprint=FP)
    assert mech.start(b"") == NeedCertificateAccount(FP)
    assert mech.certificate_account("alice") == Success("alice", "alice")
    mech = External(client_fingerprint=FP)
    assert mech.start(None) == Challenge(b"")
    assert mech.receive(b"alice") == NeedCertificateAccount(FP)
    assert mech.certificate_account("alice") == Success("alice", "alice")


def test_external_failures() -> None:
    step = External(client_fingerprint=None).start(b"")
    assert isinstance(step, Failure) and step.reason is FailureReason.NO_CERTIFICATE
    mech = External(client_fingerprint=FP)
    mech.start(b"")
    assert mech.certificate_account(None).reason is FailureReason.NO_CERTIFICATE  # type: ignore[union-attr]
    mech = External(client_fingerprint=FP)
    mech.start(b"bob")
    assert mech.certificate_account("alice").reason is FailureReason.AUTHZID_NOT_PERMITTED  # type: ignore[union-attr]
    for bad in (b"\xff", b"a\x00"):
        step = External(client_fingerprint=FP).start(bad)
        assert isinstance(step, Failure) and step.reason is FailureReason.MALFORMED


def test_fingerprint_format() -> None:
    # the form PeerCertificate.sha256 has and the account store keeps
    assert len(FP) == 95 and FP.upper() == FP and FP.count(":") == 31
    assert FP.replace(":", "").lower() == hashlib.sha256(b"fake der").hexdigest()
