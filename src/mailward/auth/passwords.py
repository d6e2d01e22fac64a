"""Password hashes: argon2id (RFC 9106) for checking a password, SCRAM-SHA-256 keys for SCRAM.

When a password is set, :func:`make_credentials` derives both; the password itself
is kept nowhere. ``verify_password`` is slow on purpose (tens of milliseconds and
64 MiB): sessions run it in a thread (see :mod:`mailward.auth.sasl.exchange`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mailward.auth.saslprep import SaslPrepError, saslprep

SCRAM_MIN_ITERATIONS = 4096  # RFC 7677 4: at least 4096
SCRAM_DEFAULT_ITERATIONS = 10_000
SCRAM_SALT_BYTES = 16
MAX_PASSWORD_BYTES = 1024

# argon2-cffi's default is RFC 9106 4's second recommended option (t=3, m=64 MiB, p=4)
DEFAULT_HASHER = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)


class PasswordError(ValueError):
    """A new password cannot be used (the message says why, for the admin)."""


def prepare_password(password: str) -> str:
    """The SASLprep'd password (RFC 5802 2.2, RFC 4013); :class:`PasswordError` if unusable."""
    try:
        prepared = saslprep(password)
    except SaslPrepError as exc:
        raise PasswordError(f"the password has a character that cannot be used: {exc}") from None
    if not prepared:
        raise PasswordError("the password is empty")
    if len(prepared.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise PasswordError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    return prepared


@dataclass(frozen=True)
class ScramKeys:
    """SCRAM-SHA-256 stored keys (RFC 5802 3): enough to check a proof, not to log in."""

    salt: bytes
    iterations: int
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)

    def to_rfc5803(self) -> str:
        """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (RFC 5803 3)."""
        b64 = base64.b64encode
        return (
            f"SCRAM-SHA-256${self.iterations}:{b64(self.salt).decode()}"
            f"${b64(self.stored_key).decode()}:{b64(self.server_key).decode()}"
        )

    @classmethod
    def from_rfc5803(cls, text: str) -> ScramKeys:
        try:
            scheme, params, keys = text.split("$")
            iterations, salt = params.split(":")
            stored, server = keys.split(":")
            if scheme != "SCRAM-SHA-256":
                raise ValueError(scheme)
            result = cls(
                base64.b64decode(salt, validate=True),
                int(iterations),
                base64.b64decode(stored, validate=True),
                base64.b64decode(server, validate=True),
            )
        except (ValueError, binascii.Error):
            raise ValueError("not a SCRAM-SHA-256 RFC 5803 string") from None
        if len(result.stored_key) != 32 or len(result.server_key) != 32:
            raise ValueError("SCRAM-SHA-256 keys must be 32 bytes")
        return result


@dataclass(frozen=True)
class Credentials:
    """What the account store keeps for a password: an argon2id hash and SCRAM keys."""

    argon2_hash: str = field(repr=False)
    scram: ScramKeys

    def to_text(self) -> str:
        """The form the account store keeps: the argon2 PHC string, a newline, RFC 5803."""
        return f"{self.argon2_hash}\n{self.scram.to_rfc5803()}"

    @classmethod
    def from_text(cls, text: str) -> Credentials:
        """Parse :meth:`to_text`'s form; ``ValueError`` when it is not that."""
        argon2_hash, newline, scram = text.partition("\n")
        if not newline or not argon2_hash.startswith("$argon2"):
            raise ValueError("not stored credentials (argon2 hash and SCRAM keys)")
        return cls(argon2_hash, ScramKeys.from_rfc5803(scram))


def salted_password(prepared: str, salt: bytes, iterations: int) -> bytes:
    # RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i) = PBKDF2-HMAC
    return hashlib.pbkdf2_hmac("sha256", prepared.encode("utf-8"), salt, iterations)


def scram_keys(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_DEFAULT_ITERATIONS
) -> ScramKeys:
    """Derive SCRAM-SHA-256 keys for ``password`` (RFC 5802 3, RFC 7677)."""
    if iterations < SCRAM_MIN_ITERATIONS:
        raise PasswordError(f"SCRAM iterations must be at least {SCRAM_MIN_ITERATIONS} (RFC 7677 4)")
    salt = os.urandom(SCRAM_SALT_BYTES) if salt is None else salt
    salted = salted_password(prepare_password(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")  # RFC 5802 3
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return ScramKeys(salt, iterations, hashlib.sha256(client_key).digest(), server_key)


def make_credentials(
    password: str,
    *,
    hasher: argon2.PasswordHasher = DEFAULT_HASHER,
    iterations: int = SCRAM_DEFAULT_ITERATIONS,
) -> Credentials:
    """Hash a new password both ways; :class:`PasswordError` if it cannot be used."""
    prepared = prepare_password(password)
    return Credentials(hasher.hash(prepared), scram_keys(prepared, iterations=iterations))


def verify_password(
    credentials: Credentials, password: str, *, hasher: argon2.PasswordHasher = DEFAULT_HASHER
) -> bool:
    """Whether ``password`` is the one ``credentials`` were made from (slow: run in a thread)."""
    try:
        prepared = prepare_password(password)
    except PasswordError:
        return False
    try:
        return hasher.verify(credentials.argon2_hash, prepared)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(credentials: Credentials, *, hasher: argon2.PasswordHasher = DEFAULT_HASHER) -> bool:
    """Whether the hash was made with other parameters than ``hasher``'s (rehash after a login)."""
    try:
        return hasher.check_needs_rehash(credentials.argon2_hash)
    except InvalidHashError:
        return True


_DUMMY: dict[tuple[int, int, int], Credentials] = {}


def dummy_credentials(hasher: argon2.PasswordHasher = DEFAULT_HASHER) -> Credentials:
    """Credentials no password matches, to spend the same time on unknown users."""
    params = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if params not in _DUMMY:
        _DUMMY[params] = make_credentials(
            base64.b64encode(os.urandom(24)).decode(), hasher=hasher, iterations=SCRAM_MIN_ITERATIONS
        )
    return _DUMMY[params]
