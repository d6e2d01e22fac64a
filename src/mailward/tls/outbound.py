"""Outbound TLS: client contexts for the relay and the judgement of the peer's certificate.

The relay's TLS uses the listeners' policy language (:mod:`mailward.tls.policy`:
protocol ranges, cipher lists) and adds what a client must decide, per route or
destination (:class:`OutboundMode`):

- ``opportunistic``: STARTTLS when offered, no verification (RFC 7435; the MX default);
- ``required``: no TLS, no delivery; the certificate is not checked;
- ``verify``: the certificate must chain to the CA (the system's or a file) and name
  the host (RFC 6125); the default for smarthosts;
- ``pinned``: the certificate's or its public key's SHA-256 must be one of the pins;
- ``tofu``: trust on first use: the first certificate seen is recorded; another one
  later defers delivery until an admin accepts it.

:func:`build_client_context` makes the ``ssl.SSLContext``; after the handshake
:func:`peer_identity` reads the peer's certificate and :func:`judge_peer` (pure)
says whether to go on. :func:`tofu_decision` is the pure TOFU rule.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from mailward.config.problems import Problem
from mailward.tls import certs, native
from mailward.tls.policy import SSL_VERSIONS, Policy

_OPTIONS = ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION  # RFC 7457 2.6 and 2.10
_HEX64 = re.compile(r"^[0-9A-F]{64}$")


class OutboundMode(enum.Enum):
    OPPORTUNISTIC = "opportunistic"
    REQUIRED = "required"
    VERIFY = "verify"
    PINNED = "pinned"
    TOFU = "tofu"


@dataclass(frozen=True)
class Pin:
    """A SHA-256 pin: of the whole certificate (``cert``) or of its SubjectPublicKeyInfo
    (``spki``, which survives renewals that keep the key). ``sha256`` is colon-separated
    upper-case hex, as :func:`mailward.tls.certs.fingerprint` writes it."""

    kind: str  # "cert" or "spki"
    sha256: str


@dataclass(frozen=True)
class PeerIdentity:
    """The certificate the peer presented, and whether OpenSSL verified it."""

    sha256: str  # of the certificate's DER
    spki_sha256: str
    names: tuple[str, ...]
    subject: str
    verified: bool  # chain and host name checked (mode "verify")
    version: str
    cipher: str


class TofuDecision(enum.Enum):
    FIRST_USE = "first use"  # record the fingerprint and go on
    MATCH = "match"  # go on
    CHANGED = "changed"  # defer, log loudly, flag for `mailward tls accept`


@dataclass(frozen=True)
class Verdict:
    """Go on (``accept``) or not; a refusal is ``temporary`` (defer and retry) unless
    the route can never work as configured. ``record`` is the fingerprint TOFU stores."""

    accept: bool
    reason: str
    temporary: bool = True
    record: str | None = None


def parse_mode(text: str, key: str) -> tuple[OutboundMode | None, list[Problem]]:
    try:
        return OutboundMode(text.strip().lower()), []
    except ValueError:
        names = ", ".join(m.value for m in OutboundMode)
        return None, [Problem(key, f"unknown outbound TLS mode {text!r}", f"use one of {names}")]


def parse_pins(values: Iterable[str], key: str) -> tuple[tuple[Pin, ...], list[Problem]]:
    """Pins as written in the config: ``sha256:HEX`` (the certificate), ``spki-sha256:HEX``
    or RFC 7469's ``pin-sha256:BASE64`` (the public key). Hex may have colons."""
    pins: list[Pin] = []
    problems: list[Problem] = []
    for i, value in enumerate(values):
        pin = parse_pin(value)
        if pin is None:
            problems.append(
                Problem(
                    f"{key}[{i}]",
                    f"not a SHA-256 pin: {value!r}",
                    'write "sha256:" and the 64 hex digits `mailward cert show` prints, '
                    'or "pin-sha256:" and the base64 of the public key\'s SHA-256',
                )
            )
        else:
            pins.append(pin)
    return tuple(pins), problems


def parse_pin(value: str) -> Pin | None:
    kind, sep, digest = value.strip().partition(":")
    if not sep:
        return None
    kind = kind.lower()
    if kind == "pin-sha256":  # RFC 7469 2.4: base64 of the SPKI's SHA-256
        try:
            raw = base64.b64decode(digest.strip(), validate=True)
        except binascii.Error:
            return None
        return Pin("spki", _colons(raw.hex())) if len(raw) == 32 else None
    hex_digits = digest.replace(":", "").strip().upper()
    if not _HEX64.match(hex_digits):
        return None
    if kind == "sha256":
        return Pin("cert", _colons(hex_digits))
    if kind == "spki-sha256":
        return Pin("spki", _colons(hex_digits))
    return None


def build_client_context(policy: Policy, mode: OutboundMode, *, ca_file: str = "") -> ssl.SSLContext:
    """A client context: the policy's versions and ciphers; verification only for ``verify``.

    ``pinned`` and ``tofu`` do not let OpenSSL judge the chain (the pin or the record
    decides, after the handshake, in :func:`judge_peer`); ``opportunistic`` and
    ``required`` accept any certificate (RFC 7435: encryption without authentication
    is better than none).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.options |= _OPTIONS
    ctx.minimum_version = SSL_VERSIONS[policy.versions.minimum]
    ctx.maximum_version = SSL_VERSIONS[policy.versions.maximum]
    ctx.set_ciphers(policy.ciphers)
    if "TLSv1.3" in policy.versions.names:
        native.set_ciphersuites(ctx, policy.ciphersuites)  # where the library lets us
    if mode is OutboundMode.VERIFY:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = True  # RFC 6125 via OpenSSL's host name check
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> PeerIdentity | None:
    """What the peer presented in a completed handshake; None without a certificate."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    cipher = ssl_object.cipher()
    return PeerIdentity(
        sha256=certs.fingerprint(der),
        spki_sha256=certs.spki_sha256(cert),
        names=tuple(certs.names_of(cert)),
        subject=cert.subject.rfc4514_string(),
        verified=ssl_object.context.verify_mode == ssl.CERT_REQUIRED,
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
    )


def tofu_decision(stored: str | None, seen: str) -> TofuDecision:
    """Trust on first use: nothing stored is a first use; the same fingerprint a match;
    any other a change (fingerprints compared in :func:`certs.fingerprint` form)."""
    if stored is None:
        return TofuDecision.FIRST_USE
    return TofuDecision.MATCH if _norm(stored) == _norm(seen) else TofuDecision.CHANGED


def judge_peer(
    mode: OutboundMode,
    peer: PeerIdentity | None,
    *,
    tls: bool,
    pins: tuple[Pin, ...] = (),
    stored: str | None = None,
) -> Verdict:
    """Go on with this peer? ``tls`` is whether the session is encrypted; ``peer`` its
    certificate; ``stored`` TOFU's record for the destination."""
    if mode is OutboundMode.OPPORTUNISTIC:
        return Verdict(True, "TLS" if tls else "no TLS (opportunistic)")
    if not tls:
        # RFC 3207 4.1: a client that requires TLS does not deliver in the clear
        return Verdict(False, f"TLS is {mode.value} here, and the server offers no STARTTLS")
    if mode is OutboundMode.REQUIRED:
        return Verdict(True, "TLS (certificate not checked)")
    if peer is None:
        return Verdict(False, "the server presented no certificate")
    if mode is OutboundMode.VERIFY:
        if peer.verified:
            return Verdict(True, "certificate verified")
        return Verdict(False, "the certificate was not verified")
    if mode is OutboundMode.PINNED:
        for pin in pins:
            have = peer.sha256 if pin.kind == "cert" else peer.spki_sha256
            if _norm(pin.sha256) == _norm(have):
                return Verdict(True, f"pinned {pin.kind} SHA-256 matches")
        return Verdict(False, f"certificate {peer.sha256} matches no pin")
    decision = tofu_decision(stored, peer.sha256)
    if decision is TofuDecision.FIRST_USE:
        return Verdict(True, "first certificate seen: recorded", record=peer.sha256)
    if decision is TofuDecision.MATCH:
        return Verdict(True, "certificate matches the one recorded")
    return Verdict(
        False,
        f"CERTIFICATE CHANGED: recorded {stored}, presented {peer.sha256}; "
        "delivery deferred until an admin runs `mailward tls accept`",
    )


def _colons(hex_digits: str) -> str:
    """``AB:CD:...``, the form :func:`mailward.tls.certs.fingerprint` writes."""
    upper = hex_digits.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def _norm(fingerprint: str) -> str:
    return fingerprint.replace(":", "").strip().upper()
