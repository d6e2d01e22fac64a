"""Which mechanisms a connection may use now, and building the server side of one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mailward.auth.sasl.base import Authorize, Mechanism, same_identity
from mailward.auth.sasl.external import External
from mailward.auth.sasl.login import Login
from mailward.auth.sasl.plain import Plain
from mailward.auth.sasl.scram import ScramSha256, ScramSha256Plus, new_server_nonce

PlaintextLogin = Literal["tls-only", "allow"]

SCRAM_SHA_256_PLUS = "SCRAM-SHA-256-PLUS"
SCRAM_SHA_256 = "SCRAM-SHA-256"
EXTERNAL = "EXTERNAL"
PLAIN = "PLAIN"
LOGIN = "LOGIN"

MECHANISMS = (SCRAM_SHA_256_PLUS, SCRAM_SHA_256, EXTERNAL, PLAIN, LOGIN)
"""Every mechanism mailward implements, strongest first (the order they are offered in)."""

REVEALS_PASSWORD = frozenset({PLAIN, LOGIN})
"""Mechanisms that send the password itself (RFC 4616 4, the LOGIN draft)."""


def allowed_mechanisms(
    plaintext_login: PlaintextLogin,
    tls_active: bool,
    channel_binding_available: bool,
    client_cert_verified: bool,
) -> tuple[str, ...]:
    """The mechanisms to offer, and the only ones to accept, on a connection right now.

    Under ``tls-only`` no mechanism at all is offered before TLS, SCRAM included.
    SCRAM does not reveal the password, but on a plain connection (1) a passive
    eavesdropper records salt, nonces and proof and can then guess the password
    offline at PBKDF2 speed, (2) an active attacker can let the login succeed and
    then take over the authenticated session (relay as the user), and (3) the user
    name and every message after it travel in the clear. DESIGN.md promises "no
    plaintext logins without TLS" and "AUTH only over TLS by default", so ``tls-only``
    means no AUTH before STARTTLS. ``allow`` offers everything but -PLUS/EXTERNAL
    (which need TLS facts) on plain connections, for admins who opted out.
    """
    if not tls_active and plaintext_login != "allow":
        return ()
    offered: list[str] = []
    if tls_active and channel_binding_available:
        offered.append(SCRAM_SHA_256_PLUS)
    offered.append(SCRAM_SHA_256)
    if tls_active and client_cert_verified:
        offered.append(EXTERNAL)
    offered += [PLAIN, LOGIN]
    return tuple(offered)


@dataclass(frozen=True)
class ConnectionFacts:
    """What the session knows about the connection, as the mechanisms need it.

    ``channel_binding`` is the RFC 9266 tls-exporter data (``None`` when not on TLS 1.3
    or not obtainable); ``client_fingerprint`` is the SHA-256 of a *verified* client
    certificate (``None`` otherwise).
    """

    plaintext_login: PlaintextLogin
    tls_active: bool
    channel_binding: bytes | None = field(default=None, repr=False)
    client_fingerprint: str | None = None
    advertise_plus: bool = True  # scram_plus = "advertised"; else -PLUS is accepted, not listed

    def allowed(self) -> tuple[str, ...]:
        """The mechanisms a client may use now."""
        return allowed_mechanisms(
            self.plaintext_login,
            self.tls_active,
            self.channel_binding is not None,
            self.client_fingerprint is not None,
        )

    def advertised(self) -> tuple[str, ...]:
        """The mechanisms to list (EHLO, CAPABILITY, CAPA): :meth:`allowed`, less an
        unadvertised -PLUS."""
        allowed = self.allowed()
        if self.advertise_plus:
            return allowed
        return tuple(m for m in allowed if m != SCRAM_SHA_256_PLUS)

    @property
    def plus_advertised(self) -> bool:
        return SCRAM_SHA_256_PLUS in self.advertised()


def create_mechanism(
    name: str,
    facts: ConnectionFacts,
    *,
    authorize: Authorize = same_identity,
    server_nonce: Callable[[], str] = new_server_nonce,
    fake_salt_key: bytes | None = None,
) -> Mechanism | None:
    """The server side of ``name`` (case-insensitive, RFC 4422 3.1), or ``None`` when the
    mechanism is unknown or not allowed on this connection now (refuse the AUTH).

    ``fake_salt_key`` keys the SCRAM salts of unknown users: pass the server's
    (:func:`mailward.auth.accounts.service.fake_salt_key`) so they are stable.
    """
    upper = name.upper()
    if upper not in facts.allowed():
        return None
    if upper == SCRAM_SHA_256_PLUS:
        assert facts.channel_binding is not None
        return ScramSha256Plus(
            channel_binding=facts.channel_binding, authorize=authorize, server_nonce=server_nonce,
            fake_salt_key=fake_salt_key,
        )
    if upper == SCRAM_SHA_256:
        # RFC 5802 6: the non-PLUS side must know whether -PLUS was offered: a client's "y"
        # (it could bind, and thinks the server cannot) is a downgrade only if it was
        binding = facts.channel_binding if facts.plus_advertised else None
        return ScramSha256(channel_binding=binding, authorize=authorize, server_nonce=server_nonce,
                           fake_salt_key=fake_salt_key)
    if upper == EXTERNAL:
        return External(client_fingerprint=facts.client_fingerprint, authorize=authorize)
    if upper == PLAIN:
        return Plain(authorize=authorize)
    return Login(authorize=authorize)
