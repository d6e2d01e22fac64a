"""SCRAM-SHA-256(-PLUS): RFC 7677's test vector, scramp as an independent client, binding rules."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from scramp import ScramClient, ScramException, ScramMechanism

from mailward.auth.passwords import Credentials, scram_keys
from mailward.auth.sasl import (
    Challenge,
    Failure,
    FailureReason,
    NeedCredentials,
    SaslUsageError,
    ScramSha256,
    ScramSha256Plus,
    Step,
    Success,
)

SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
PENCIL = Credentials("$argon2id$unused", scram_keys("pencil", salt=SALT, iterations=4096))
CB = bytes(range(32))  # stand-in tls-exporter data


def rfc7677_server() -> ScramSha256:
    return ScramSha256(server_nonce=lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")


def test_rfc_7677_test_vector() -> None:
    # RFC 7677 3, byte for byte
    mech = rfc7677_server()
    step = mech.start(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert step == NeedCredentials("user")
    step = mech.credentials(PENCIL)
    assert step == Challenge(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    step = mech.receive(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert step == Success("user", "user", b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    assert mech.done
    with pytest.raises(SaslUsageError):
        mech.receive(b"")


def test_rfc_7677_wrong_proof() -> None:
    mech = rfc7677_server()
    mech.start(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    mech.credentials(PENCIL)
    step = mech.receive(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzcZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert isinstance(step, Failure) and step.reason is FailureReason.BAD_CREDENTIALS
    assert step.data == b"e=invalid-proof"


def test_stored_keys_match_scramp() -> None:
    _, stored, server, _ = ScramMechanism("SCRAM-SHA-256").make_auth_info(
        "pencil", iteration_count=4096, salt=SALT
    )
    assert (PENCIL.scram.stored_key, PENCIL.scram.server_key) == (stored, server)


def scramp_login(mech: ScramSha256, creds: Credentials | None, user: str, password: str) -> Step:
    client = ScramClient(["SCRAM-SHA-256"], user, password)
    step = mech.start(client.get_client_first().encode())
    assert isinstance(step, NeedCredentials)
    step = mech.credentials(creds)
    assert isinstance(step, Challenge)
    client.set_server_first(step.data.decode())
    step = mech.receive(client.get_client_final().encode())
    if isinstance(step, Success):
        assert step.data is not None
        client.set_server_final(step.data.decode())  # scramp checks our ServerSignature
    return step


@pytest.mark.parametrize("password", ["pencil", "p\u00e4ssw\u00f6rd \u4e2d", "I\u00adX"])
def test_scramp_client_success(password: str) -> None:
    creds = Credentials("$argon2id$unused", scram_keys(password, iterations=4096))
    step = scramp_login(ScramSha256(), creds, "alice@example.org", password)
    assert step == Success("alice@example.org", "alice@example.org", step.data)  # type: ignore[union-attr]


def test_scramp_client_wrong_password() -> None:
    step = scramp_login(ScramSha256(), PENCIL, "user", "pen")
    assert isinstance(step, Failure) and step.reason is FailureReason.BAD_CREDENTIALS


def test_unknown_user_looks_like_a_known_one() -> None:
    """RFC 5802 9: a fake, stable salt; the failure comes at the proof."""
    first, second = ScramSha256(), ScramSha256()
    first.start(b"n,,n=nobody,r=abc")
    second.start(b"n,,n=nobody,r=abc")
    a, b = first.credentials(None), second.credentials(None)
    assert isinstance(a, Challenge) and isinstance(b, Challenge)
    assert a.data.split(b",")[1:] == b.data.split(b",")[1:]  # same salt and iterations
    step = scramp_login(ScramSha256(), None, "nobody", "x")
    assert isinstance(step, Failure) and step.reason is FailureReason.BAD_CREDENTIALS


def test_server_signature_mismatch_is_caught_by_the_client() -> None:
    client = ScramClient(["SCRAM-SHA-256"], "user", "pencil")
    mech = ScramSha256()
    mech.start(client.get_client_first().encode())
    step = mech.credentials(PENCIL)
    assert isinstance(step, Challenge)
    client.set_server_first(step.data.decode())
    mech.receive(client.get_client_final().encode())
    with pytest.raises(ScramException):
        client.set_server_final("v=" + base64.b64encode(b"\x00" * 32).decode())


# --- a hand-written client for -PLUS (scramp does not implement tls-exporter) ---------


def plus_login(mech: ScramSha256, password: str, *, gs2: str, cb_data: bytes, authzid: str = "") -> Step:
    header = f"{gs2},{'a=' + authzid if authzid else ''},"
    bare = "n=user,r=clientnonce"
    step = mech.start((header + bare).encode())
    if not isinstance(step, NeedCredentials):
        return step
    step = mech.credentials(PENCIL)
    assert isinstance(step, Challenge)
    server_first = step.data.decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    cbind = base64.b64encode(header.encode() + cb_data).decode()
    without_proof = f"c={cbind},r={attrs['r']}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return mech.receive(f"{without_proof},p={base64.b64encode(proof).decode()}".encode())


def test_plus_success() -> None:
    step = plus_login(ScramSha256Plus(channel_binding=CB), "pencil", gs2="p=tls-exporter", cb_data=CB)
    assert isinstance(step, Success) and step.username == "user"


def test_plus_binding_mismatch() -> None:
    """A man in the middle has another TLS connection, hence other exporter bytes."""
    step = plus_login(ScramSha256Plus(channel_binding=CB), "pencil", gs2="p=tls-exporter", cb_data=b"\x01" * 32)
    assert isinstance(step, Failure) and step.reason is FailureReason.CHANNEL_BINDING
    assert step.data == b"e=channel-bindings-dont-match"


@pytest.mark.parametrize(
    ("mech", "gs2", "reason", "data"),
    [
        (ScramSha256Plus(channel_binding=CB), "p=tls-unique", FailureReason.CHANNEL_BINDING,
         b"e=unsupported-channel-binding-type"),
        (ScramSha256Plus(channel_binding=CB), "n", FailureReason.CHANNEL_BINDING, b"e=other-error"),
        (ScramSha256Plus(channel_binding=CB), "y", FailureReason.CHANNEL_BINDING, b"e=other-error"),
        (ScramSha256(channel_binding=CB), "p=tls-exporter", FailureReason.CHANNEL_BINDING, b"e=other-error"),
        # RFC 5802 6: "y" while -PLUS was offered means someone removed it from the list
        (ScramSha256(channel_binding=CB), "y", FailureReason.CHANNEL_BINDING,
         b"e=server-does-support-channel-binding"),
    ],
)
def test_binding_flags_refused(mech: ScramSha256, gs2: str, reason: FailureReason, data: bytes) -> None:
    step = plus_login(mech, "pencil", gs2=gs2, cb_data=b"")
    assert isinstance(step, Failure) and step.reason is reason and step.data == data


def test_y_flag_without_plus_on_offer_is_fine() -> None:
    step = plus_login(ScramSha256(), "pencil", gs2="y", cb_data=b"")
    assert isinstance(step, Success)


def test_binding_without_plus_in_c_attribute() -> None:
    """Non-PLUS: c= must be exactly base64(gs2 header); extra bytes are a mismatch."""
    step = plus_login(ScramSha256(), "pencil", gs2="n", cb_data=b"extra")
    assert isinstance(step, Failure) and step.reason is FailureReason.CHANNEL_BINDING


def test_authzid() -> None:
    step = plus_login(ScramSha256(), "pencil", gs2="n", cb_data=b"", authzid="user")
    assert isinstance(step, Success) and step.authzid == "user"
    step = plus_login(ScramSha256(), "pencil", gs2="n", cb_data=b"", authzid="boss")
    assert isinstance(step, Failure) and step.reason is FailureReason.AUTHZID_NOT_PERMITTED
    permissive = ScramSha256(authorize=lambda user, authzid: authzid == "shared")
    step = plus_login(permissive, "pencil", gs2="n", cb_data=b"", authzid="shared")
    assert step == Success("user", "shared", step.data)  # type: ignore[union-attr]
    # the authzid is not granted before the proof checks out
    step = plus_login(ScramSha256(), "wrong", gs2="n", cb_data=b"", authzid="boss")
    assert isinstance(step, Failure) and step.reason is FailureReason.BAD_CREDENTIALS


def test_plus_needs_binding_data() -> None:
    with pytest.raises(ValueError, match="channel binding"):
        ScramSha256Plus(channel_binding=b"")


def test_saslname_escapes() -> None:
    mech = ScramSha256()
    assert mech.start(b"n,a=a=2Cb=3Dc,n=us=2Cer=3D,r=x") == NeedCredentials("us,er=")


@pytest.mark.parametrize(
    "message",
    [
        b"", b"n", b"n,", b"n,,", b"x,,n=user,r=abc", b"n,b=x,n=user,r=abc", b"n,,r=abc,n=user",
        b"n,,n=,r=abc", b"n,,n=us=2Xer,r=abc", b"n,,n=user,r=", b"n,,n=user,r=a\x7fb",
        b"n,,n=user", b"p=,,n=user,r=abc", b"p=tls_x,,n=user,r=abc", b"n,a=,n=user,r=abc",
        b"\xff,,n=user,r=abc", b"n,,m=ext,n=user,r=abc",
    ],
)
def test_malformed_client_first(message: bytes) -> None:
    step = ScramSha256().start(message)
    assert isinstance(step, Failure) and step.reason is FailureReason.MALFORMED, step


def _to_final() -> ScramSha256:
    mech = ScramSha256(server_nonce=lambda: "S")
    mech.start(b"n,,n=user,r=C")
    mech.credentials(PENCIL)
    return mech


@pytest.mark.parametrize(
    "message",
    [
        b"", b"c=biws", b"c=biws,r=CS", b"r=CS,c=biws,p=AAAA", b"c=biws,r=CS,p=!!!",
        b"c=biws,r=CX,p=" + base64.b64encode(b"\x00" * 32), b"c=biws,r=CS,p=" + base64.b64encode(b"\0"),
        b"c=b!ws,r=CS,p=" + base64.b64encode(b"\x00" * 32), b"c=biws,r=CS,p=" + base64.b64encode(b"\0" * 32) + b",x=1",
    ],
)
def test_malformed_client_final(message: bytes) -> None:
    step = _to_final().receive(message)
    assert isinstance(step, Failure) and step.reason is FailureReason.MALFORMED, step


def test_extensions_in_client_final_are_ignored() -> None:
    """RFC 5802 7: extensions between r= and p= are allowed (and part of AuthMessage)."""
    step = _to_final().receive(b"c=biws,r=CS,x=ext,p=" + base64.b64encode(b"\x00" * 32))
    assert isinstance(step, Failure) and step.reason is FailureReason.BAD_CREDENTIALS
