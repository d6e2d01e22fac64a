"""Arbitrary bytes into every mechanism: a step always comes back, never an exception."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.auth.passwords import Credentials, scram_keys
from mailward.auth.sasl import (
    Challenge,
    External,
    Failure,
    Login,
    Mechanism,
    NeedCertificateAccount,
    NeedCredentials,
    NeedVerify,
    Plain,
    ScramSha256,
    ScramSha256Plus,
    Step,
    Success,
)

CREDS = Credentials("$argon2id$x", scram_keys("pencil", salt=b"s" * 16, iterations=4096))
messages = st.lists(st.binary(max_size=300) | st.sampled_from(
    [b"n,,n=user,r=abc", b"p=tls-exporter,,n=user,r=abc", b"c=biws,r=abcS,p=" + base64.b64encode(b"\0" * 32),
     b"\x00user\x00pw", b"user", b"y,,n=u,r=x"]), min_size=1, max_size=5)


def make(kind: int) -> Mechanism:
    return [
        Plain(), Login(), External(client_fingerprint="ab" * 32), External(client_fingerprint=None),
        ScramSha256(server_nonce=lambda: "S"), ScramSha256(channel_binding=b"c" * 32),
        ScramSha256Plus(channel_binding=b"c" * 32, server_nonce=lambda: "S"),
    ][kind]


def answer(mech: Mechanism, step: Step, ok: bool) -> Step:
    while True:
        if isinstance(step, NeedVerify):
            step = mech.verified(ok)
        elif isinstance(step, NeedCredentials):
            step = mech.credentials(CREDS if ok else None)
        elif isinstance(step, NeedCertificateAccount):
            step = mech.certificate_account("alice" if ok else None)
        else:
            return step


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 6), st.booleans(), st.booleans(), messages)
def test_fuzz(kind: int, initial: bool, ok: bool, inputs: list[bytes]) -> None:
    mech = make(kind)
    step = answer(mech, mech.start(inputs[0] if initial else None), ok)
    rest = inputs[1:] if initial else inputs
    for data in rest:
        if not isinstance(step, Challenge):
            break
        step = answer(mech, mech.receive(data), ok)
    assert isinstance(step, (Challenge, Success, Failure))
    if isinstance(step, Failure):
        assert isinstance(step.detail, str)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_fuzz_scram_final(first_tail: bytes, final: bytes) -> None:
    mech = ScramSha256(server_nonce=lambda: "S")
    step = mech.start(b"n,,n=user,r=C" + first_tail)
    step = answer(mech, step, True)
    if isinstance(step, Challenge):
        step = mech.receive(b"c=biws,r=CS," + final)
        assert isinstance(step, (Success, Failure))
