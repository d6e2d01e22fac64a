"""argon2id hashes and SCRAM-SHA-256 stored keys."""

from __future__ import annotations

import base64

import argon2
import pytest

from mailward.auth.passwords import (
    DEFAULT_HASHER,
    Credentials,
    PasswordError,
    ScramKeys,
    make_credentials,
    needs_rehash,
    scram_keys,
    verify_password,
)
from mailward.auth.saslprep import SaslPrepError, saslprep

FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_credentials_hold_no_password() -> None:
    creds = make_credentials("pencil-sharpener", hasher=FAST)
    assert creds.argon2_hash.startswith("$argon2id$")
    text = repr(creds) + creds.argon2_hash + creds.scram.to_rfc5803()
    assert "pencil" not in text
    assert "argon2" not in repr(creds)  # repr hides the hash and keys
    assert creds.scram.iterations >= 4096 and len(creds.scram.salt) == 16


def test_verify() -> None:
    creds = make_credentials("s3cret", hasher=FAST)
    assert verify_password(creds, "s3cret", hasher=FAST)
    assert not verify_password(creds, "s3cret ", hasher=FAST)
    assert not verify_password(creds, "", hasher=FAST)
    assert not verify_password(creds, "\x00", hasher=FAST)  # fails SASLprep: never matches
    broken = Credentials("not a hash", creds.scram)
    assert not verify_password(broken, "s3cret", hasher=FAST)


def test_saslprep_makes_forms_agree() -> None:
    # RFC 4013 3 examples: soft hyphen maps to nothing, ª -> a (NFKC), Roman IX
    creds = make_credentials("I\u00adX", hasher=FAST)
    assert verify_password(creds, "IX", hasher=FAST)
    assert saslprep("\u00aa") == "a"
    assert saslprep("\u2168") == "IX"
    assert saslprep("user\u00a0name") == "user name"  # non-ASCII space -> SPACE
    with pytest.raises(SaslPrepError):
        saslprep("\x07")
    with pytest.raises(SaslPrepError):
        saslprep("\u0627\u0031")  # RFC 4013 3: bidi rule


@pytest.mark.parametrize("bad", ["", "\u00ad", "ab\x07", "x" * 1025])
def test_unusable_passwords(bad: str) -> None:
    with pytest.raises(PasswordError):
        make_credentials(bad, hasher=FAST)


def test_needs_rehash() -> None:
    creds = make_credentials("pw", hasher=FAST)
    assert needs_rehash(creds, hasher=DEFAULT_HASHER)
    assert not needs_rehash(creds, hasher=FAST)
    assert needs_rehash(Credentials("junk", creds.scram), hasher=FAST)
    assert DEFAULT_HASHER.type is argon2.Type.ID


def test_default_parameters_are_rfc_9106() -> None:
    assert (DEFAULT_HASHER.time_cost, DEFAULT_HASHER.memory_cost, DEFAULT_HASHER.parallelism) == (3, 65536, 4)


def test_rfc_7677_keys() -> None:
    # RFC 7677 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    keys = scram_keys("pencil", salt=salt, iterations=4096)
    again = ScramKeys.from_rfc5803(keys.to_rfc5803())
    assert again == keys
    assert keys.to_rfc5803().startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")


def test_iterations_floor() -> None:
    with pytest.raises(PasswordError, match="4096"):
        scram_keys("pw", iterations=4095)


@pytest.mark.parametrize("text", ["", "SCRAM-SHA-1$4096:AA==$AA==:AA==", "SCRAM-SHA-256$x:AA==$AA==:AA==",
                                  "SCRAM-SHA-256$4096:AA==$AA==:AA=="])
def test_rfc5803_parse_errors(text: str) -> None:
    with pytest.raises(ValueError, match="SCRAM"):
        ScramKeys.from_rfc5803(text)
