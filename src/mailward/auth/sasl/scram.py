"""SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677), server side.

-PLUS binds the exchange to the TLS connection with ``tls-exporter`` (RFC 9266):
the session passes the 32 bytes of keying material it exported (see
:mod:`mailward.auth.channel_binding`); without them -PLUS is not offered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from mailward.auth.passwords import SCRAM_DEFAULT_ITERATIONS, Credentials
from mailward.auth.sasl.base import Authorize, Mechanism, malformed, same_identity, utf8
from mailward.auth.sasl.steps import Challenge, Failure, FailureReason, NeedCredentials, Step

CHANNEL_BINDING_TYPE = "tls-exporter"
# Unknown users get a fake salt that is stable per user name (RFC 5802 9). A server
# passes a key derived from its master key, so the salt stays the same across
# restarts and nodes, as a real user's does; this per-process key is the fallback.
_PROCESS_FAKE_SALT_KEY = os.urandom(32)


def new_server_nonce() -> str:
    return secrets.token_urlsafe(24)  # RFC 5802 5.1: printable, no ','


@dataclass(frozen=True)
class _ClientFirst:
    cbind_flag: str  # "n", "y" or "p"
    cbind_name: str
    gs2_header: bytes
    authzid: str
    username: str
    nonce: str
    bare: str


def _saslname(text: str) -> str | None:
    """Decode RFC 5802 5.1 saslname: "=2C" is ',', "=3D" is '='; other '=' is invalid."""
    if "," in text:
        return None
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "=":
            code = text[i + 1 : i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                return None
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _valid_nonce(nonce: str) -> bool:
    # RFC 5802 7: printable = %x21-2B / %x2D-7E (printable ASCII except ',')
    return bool(nonce) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in nonce)


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_client_first(message: str) -> _ClientFirst | str:
    """The parsed client-first-message, or a string saying what is wrong."""
    # RFC 5802 7: client-first-message = gs2-header client-first-message-bare
    parts = message.split(",", 2)
    if len(parts) != 3:
        return "no GS2 header"
    flag, authz, bare = parts
    if flag in ("n", "y"):
        cbind_name = ""
    elif flag.startswith("p="):
        cbind_name = flag[2:]
        if not cbind_name or not all(c.isascii() and (c.isalnum() or c in ".-") for c in cbind_name):
            return "bad channel binding name"
        flag = "p"
    else:
        return "bad GS2 channel binding flag"
    authzid = ""
    if authz:
        if not authz.startswith("a="):
            return "bad GS2 authzid"
        decoded = _saslname(authz[2:])
        if not decoded:
            return "bad authzid encoding"
        authzid = decoded
    attrs = bare.split(",")
    if attrs[0].startswith("m="):
        return "mandatory extension"  # RFC 5802 5.1: m= must make the server fail
    if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r="):
        return "client-first-message-bare needs n= and r="
    username = _saslname(attrs[0][2:])
    if not username:
        return "bad username encoding"
    nonce = attrs[1][2:]
    if not _valid_nonce(nonce):
        return "bad client nonce"
    gs2_header = f"{parts[0]},{parts[1]},".encode()
    return _ClientFirst(flag, cbind_name, gs2_header, authzid, username, nonce, bare)


class ScramSha256(Mechanism):
    """SCRAM-SHA-256. ``channel_binding`` is the tls-exporter data when -PLUS is on offer
    on this connection (so that a client's "y" flag reveals a downgrade, RFC 5802 6)."""

    name = "SCRAM-SHA-256"
    plus = False

    def __init__(
        self,
        *,
        channel_binding: bytes | None = None,
        authorize: Authorize = same_identity,
        server_nonce: Callable[[], str] = new_server_nonce,
        fake_iterations: int = SCRAM_DEFAULT_ITERATIONS,
        fake_salt_key: bytes | None = None,
    ) -> None:
        super().__init__(authorize=authorize)
        self._cb_data = channel_binding
        self._new_nonce = server_nonce
        self._fake_iterations = fake_iterations
        self._fake_salt_key = fake_salt_key or _PROCESS_FAKE_SALT_KEY
        self._first: _ClientFirst | None = None
        self._server_first = ""
        self._nonce = ""
        self._credentials: Credentials | None = None

    def _on_response(self, data: bytes) -> Step:
        text = utf8(data)
        if text is None:
            return malformed("SCRAM message is not UTF-8", b"e=invalid-encoding")
        if self._first is None:
            return self._client_first(text)
        return self._client_final(text)

    # RFC 5802 5 step 1 -> 2 -----------------------------------------------------

    def _client_first(self, text: str) -> Step:
        parsed = parse_client_first(text)
        if isinstance(parsed, str):
            if parsed == "mandatory extension":
                return malformed(parsed, b"e=extensions-not-supported")
            return malformed(parsed, b"e=other-error")
        binding_problem = self._check_flag(parsed)
        if binding_problem is not None:
            return binding_problem
        self._first = parsed
        return NeedCredentials(parsed.username)

    def _check_flag(self, first: _ClientFirst) -> Failure | None:
        cb = FailureReason.CHANNEL_BINDING
        if self.plus:
            if first.cbind_flag != "p":
                # RFC 5802 6: the -PLUS mechanism requires the "p" flag
                return Failure(cb, f"{self.name} without channel binding", b"e=other-error")
            if first.cbind_name != CHANNEL_BINDING_TYPE:
                return Failure(
                    cb, f"channel binding {first.cbind_name!r}", b"e=unsupported-channel-binding-type"
                )
            return None
        if first.cbind_flag == "p":
            # RFC 5802 6: "p" is only valid with the -PLUS variant
            return Failure(cb, "channel binding requested without -PLUS", b"e=other-error")
        if first.cbind_flag == "y" and self._cb_data is not None:
            # RFC 5802 6: client supports binding, we offered it: someone stripped -PLUS
            return Failure(cb, "possible downgrade: client says y but -PLUS was offered",
                           b"e=server-does-support-channel-binding")
        return None

    def _on_credentials(self, credentials: Credentials | None) -> Step:
        assert self._first is not None
        self._credentials = credentials
        if credentials is not None:
            salt, iterations = credentials.scram.salt, credentials.scram.iterations
        else:
            # RFC 5802 9: do not reveal that the user does not exist; answer with a
            # salt that is stable per user name and fail at the proof
            salt = hmac.digest(self._fake_salt_key, self._first.username.encode(), "sha256")[:16]
            iterations = self._fake_iterations
        self._nonce = self._first.nonce + self._new_nonce()
        salt_b64 = base64.b64encode(salt).decode()
        # RFC 5802 7: server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
        self._server_first = f"r={self._nonce},s={salt_b64},i={iterations}"
        return Challenge(self._server_first.encode())

    # RFC 5802 5 step 3 -> 4 -----------------------------------------------------

    def _client_final(self, text: str) -> Step:
        first = self._first
        assert first is not None
        # RFC 5802 7: client-final-message = channel-binding "," nonce ["," extensions] "," proof
        without_proof, sep, proof_attr = text.rpartition(",")
        attrs = without_proof.split(",") if sep else []
        if len(attrs) < 2 or not attrs[0].startswith("c=") or not attrs[1].startswith("r="):
            return malformed("client-final-message needs c=, r= and p=", b"e=other-error")
        if not proof_attr.startswith("p="):
            return malformed("client-final-message does not end with p=", b"e=other-error")
        proof = _b64decode(proof_attr[2:])
        cbind_input = _b64decode(attrs[0][2:])
        if proof is None or cbind_input is None:
            return malformed("bad base64 in client-final-message", b"e=invalid-encoding")
        if len(proof) != hashlib.sha256().digest_size:
            return malformed("proof is not 32 bytes", b"e=invalid-proof")
        if not hmac.compare_digest(attrs[1][2:].encode(), self._nonce.encode()):
            return malformed("nonce does not match", b"e=other-error")
        # RFC 5802 7: cbind-input = gs2-header [ cbind-data ]; cbind-data only with "p"
        cbind_data = (self._cb_data or b"") if first.cbind_flag == "p" else b""
        expected = first.gs2_header + cbind_data
        if not hmac.compare_digest(cbind_input, expected):
            return Failure(FailureReason.CHANNEL_BINDING, "channel binding does not match",
                           b"e=channel-bindings-dont-match")
        auth_message = f"{first.bare},{self._server_first},{without_proof}".encode()
        return self._check_proof(proof, auth_message)

    def _check_proof(self, proof: bytes, auth_message: bytes) -> Step:
        first = self._first
        assert first is not None
        if self._credentials is None:
            return Failure(FailureReason.BAD_CREDENTIALS, f"unknown user {first.username!r}",
                           b"e=invalid-proof")
        keys = self._credentials.scram
        # RFC 5802 3: ClientSignature := HMAC(StoredKey, AuthMessage);
        # ClientKey := ClientProof XOR ClientSignature; check H(ClientKey) == StoredKey
        signature = hmac.digest(keys.stored_key, auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), keys.stored_key):
            return Failure(FailureReason.BAD_CREDENTIALS, f"wrong password for {first.username!r}",
                           b"e=invalid-proof")
        # RFC 5802 3: ServerSignature := HMAC(ServerKey, AuthMessage)
        server_signature = hmac.digest(keys.server_key, auth_message, "sha256")
        final = b"v=" + base64.b64encode(server_signature)
        return self._finish(first.username, first.authzid, final)


class ScramSha256Plus(ScramSha256):
    """SCRAM-SHA-256-PLUS with tls-exporter: only constructed with channel binding data."""

    name = "SCRAM-SHA-256-PLUS"
    plus = True

    def __init__(
        self,
        *,
        channel_binding: bytes,
        authorize: Authorize = same_identity,
        server_nonce: Callable[[], str] = new_server_nonce,
        fake_iterations: int = SCRAM_DEFAULT_ITERATIONS,
        fake_salt_key: bytes | None = None,
    ) -> None:
        if not channel_binding:
            raise ValueError("SCRAM-SHA-256-PLUS needs channel binding data")
        super().__init__(channel_binding=channel_binding, authorize=authorize,
                         server_nonce=server_nonce, fake_iterations=fake_iterations,
                         fake_salt_key=fake_salt_key)
