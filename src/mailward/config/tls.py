"""The ``[tls]`` section: one TLS policy for every listener (and, later, the outbound client).

Listeners inherit these settings and may override any of them in
``[listener.tls_options]``. The policy grammar and the SSLContext built from
it live in :mod:`mailward.tls`; this module only declares the shape and the
checks that need nothing but the value itself.

Several certificates (SNI)
--------------------------
The default certificate is ``certificate`` / ``key``. Further certificates,
chosen by the name the client asks for (SNI, RFC 6066 section 3), are
``[[tls.sni]]`` entries (``[[listener.tls_options.sni]]`` per listener)::

    [[tls.sni]]
    names = ["mail.example.net", "*.example.net"]
    certificate = "certs/example-net.crt"
    key = "certs/example-net.key"

TOML cannot hold both ``certificate = "file"`` and ``[[tls.certificate]]`` in
one table, so the extra certificates get their own array, ``sni``, and the
plain ``certificate`` key keeps meaning the default one. A client that sends
no name, or a name no entry lists, gets the default certificate.

An RSA certificate beside the ECDSA one
---------------------------------------
``rsa_certificate`` / ``rsa_key`` (in ``[tls]``, a listener's ``tls_options``
or a ``[[tls.sni]]`` entry) add a second pair to the same certificate, as
Postfix's ``smtpd_tls_eccert_file`` beside ``smtpd_tls_cert_file`` does.
OpenSSL keeps one certificate per key type in a context and serves, in each
handshake, the one the client can verify: ECDSA to clients that offer ECDSA
signatures (nearly all), RSA to the others. The DHE-RSA suites of ``dhe = true``
need the RSA one. ``certificate`` stays the default and is usually ECDSA (what
``mailward init`` and ``mailward cert create`` make); ``rsa_certificate`` must
hold an RSA key, and then ``certificate`` must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailward.config.schema import PathStr, secret_reference, setting


def _check_names(value: tuple[str, ...]) -> tuple[str, str] | None:
    if not value:
        return ("lists no name", 'add the names this certificate serves, like names = ["mail.example.org"]')
    for name in value:
        label = name[2:] if name.startswith("*.") else name
        if not label or "*" in label or " " in label:
            return (f'"{name}" is not a host name', 'use names like "mail.example.org" or "*.example.org"')
    return None


def _check_protocols_text(value: str) -> tuple[str, str] | None:
    if not value.strip():
        return ("is empty: no protocol version would be left", 'use "+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1"')
    return None


@dataclass(frozen=True)
class SniCertificate:
    """A certificate served to clients that ask for one of ``names`` (SNI)."""

    names: tuple[str, ...] = setting(
        (),
        'Host names this certificate serves; "*.example.org" matches one label.',
        check=_check_names,
    )
    certificate: PathStr = setting("", "PEM certificate chain (leaf first).")
    key: PathStr = setting("", "PEM private key of the certificate; mode 0600.")
    key_passphrase: str = setting(
        "", 'Passphrase of an encrypted key, as "secret:NAME".', check=secret_reference
    )
    rsa_certificate: PathStr = setting(
        "", "An RSA certificate for these names, served beside the one above to RSA-only clients."
    )
    rsa_key: PathStr = setting("", "PEM private key of rsa_certificate; mode 0600.")
    rsa_key_passphrase: str = setting(
        "", 'Passphrase of an encrypted rsa_key, as "secret:NAME".', check=secret_reference
    )


@dataclass(frozen=True)
class TlsSettings:
    certificate: PathStr = setting(
        "certs/server.crt",
        "PEM certificate chain (leaf first). Relative paths start at data_dir. More "
        "certificates, chosen by SNI: [[tls.sni]] tables with names, certificate and key.",
    )
    key: PathStr = setting(
        "certs/server.key",
        "PEM private key of the certificate; must not be readable by group or others.",
    )
    key_passphrase: str = setting(
        "",
        'Passphrase of an encrypted key, as "secret:NAME" (see `mailward secret`). '
        "Empty: the key file is not encrypted.",
        check=secret_reference,
    )
    rsa_certificate: PathStr = setting(
        "",
        "A second certificate, with an RSA key, served beside the default (ECDSA) one: OpenSSL "
        "picks per handshake the one the client can verify, and the DHE-RSA suites of dhe "
        "need it. `mailward cert create --rsa` writes the pair named here (`mailward init --rsa` "
        "sets it up). Empty: the default certificate only.",
    )
    rsa_key: PathStr = setting(
        "", "PEM private key of rsa_certificate; must not be readable by group or others."
    )
    rsa_key_passphrase: str = setting(
        "",
        'Passphrase of an encrypted rsa_key, as "secret:NAME". Empty: rsa_key is not encrypted.',
        check=secret_reference,
    )
    sni: tuple[SniCertificate, ...] = setting(
        (),
        "More certificates, chosen by the name the client asks for: [[tls.sni]] tables "
        "with names, certificate and key. Others get the default certificate.",
        sample=False,
    )
    profile: Literal["intermediate", "modern"] = setting(
        "intermediate",
        'Mozilla server-side TLS profile: "intermediate" (TLS 1.2 and 1.3, for every '
        'mail client in use) or "modern" (TLS 1.3 only).',
    )
    protocols: str = setting(
        "+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1",
        "Protocol versions, applied left to right: ALL, SSLv2, SSLv3, TLSv1.0, TLSv1.1, "
        "TLSv1.2, TLSv1.3, each with + or -, joined by ':'.",
        check=_check_protocols_text,
    )
    allow_legacy_tls: bool = setting(
        False,
        "Allow TLSv1.0 and TLSv1.1 in protocols (broken, deprecated by RFC 8996; "
        "for very old clients only; logged as a warning at start).",
    )
    ciphers: str = setting(
        "",
        "TLS 1.2 cipher list in OpenSSL syntax. Empty: the Mozilla intermediate "
        "forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305).",
    )
    ciphersuites: str = setting(
        "",
        "TLS 1.3 cipher suites, joined by ':'. Empty: TLS_AES_128_GCM_SHA256, "
        "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256.",
    )
    curves: str = setting(
        "X25519:prime256v1:secp384r1",
        "ECDHE groups, most preferred first, joined by ':'.",
    )
    dhe: bool = setting(
        False,
        "Also offer DHE-RSA suites (finite-field Diffie-Hellman, TLS 1.2). They need an RSA "
        "certificate: certificate or rsa_certificate; `mailward config check` warns when "
        "there is none.",
    )
    dhparams: PathStr = setting(
        "",
        "PEM DH parameters for dhe (at least 2048 bits; `mailward cert dhparams` writes one). "
        "Empty: the RFC 7919 ffdhe2048 group.",
    )
    verify_client: Literal["none", "optional", "ca"] = setting(
        "none",
        "Ask for a client certificate: none, optional (verified when sent), ca (required).",
    )
    ca: PathStr = setting("", "PEM bundle of the CAs that client certificates must chain to.")
