"""Server SSLContexts from a :class:`TlsSettings`, SNI, reload, and the facts of a session.

The listener framework holds one :class:`ServerContextSource` per listener and
asks it for :meth:`~ServerContextSource.current` on every new connection (for
implicit TLS and for STARTTLS alike). A reload builds new contexts from the
files and swaps them in only when everything is right, so connections already
open keep the context they started with and a broken file never takes a
listener down.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from mailward.config.problems import ConfigError, Problem, errors
from mailward.config.tls import TlsSettings
from mailward.tls import certs, native
from mailward.tls.checks import Pair, SecretResolver, check_tls, identities_of, pairs_of, resolve_passphrase
from mailward.tls.native_probe import features
from mailward.tls.policy import SSL_VERSIONS, STDLIB_CURVE, Policy, resolve_policy

# Every context: no TLS compression (CRIME, RFC 7457 2.6), our cipher order,
# no renegotiation (RFC 7457 2.10; TLS 1.3 has none), fresh (EC)DH keys per handshake.
_OPTIONS = (
    ssl.OP_NO_COMPRESSION
    | ssl.OP_CIPHER_SERVER_PREFERENCE
    | ssl.OP_NO_RENEGOTIATION
    | ssl.OP_SINGLE_ECDH_USE
    | ssl.OP_SINGLE_DH_USE
)
_SniCallback = Callable[[ssl.SSLObject | ssl.SSLSocket, str | None, ssl.SSLContext], None]
_VERIFY_MODES = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "ca": ssl.CERT_REQUIRED}


class _NoPassphrase(Exception):
    """Raised instead of letting OpenSSL prompt on the terminal for a passphrase."""


def build_server_context(
    settings: TlsSettings,
    *,
    key_prefix: str = "tls",
    hostname: str = "",
    resolve_secret: SecretResolver | None = None,
) -> tuple[ssl.SSLContext | None, list[Problem]]:
    """A server SSLContext (SNI included) for ``settings``, or ``None`` and the errors.

    Warnings come back with a context. Problems name keys under ``key_prefix``.
    """
    problems = check_tls(settings, key_prefix, hostname, resolve_secret=resolve_secret)
    policy, _ = resolve_policy(settings, key_prefix)  # its problems are in check_tls's
    if errors(problems) or policy is None:
        return None, problems
    contexts: list[tuple[Pair, ssl.SSLContext]] = []
    for pairs in identities_of(settings, key_prefix):
        ctx = _context_for(policy, settings, pairs, key_prefix, resolve_secret, problems)
        if ctx is None:
            return None, problems
        contexts.append((pairs[0], ctx))
    default = contexts[0][1]
    by_name = [(name, ctx) for pair, ctx in contexts[1:] for name in pair.names]
    if by_name:
        default.sni_callback = _sni_chooser(by_name)
    return default, problems


def _sni_chooser(by_name: list[tuple[str, ssl.SSLContext]]) -> _SniCallback:
    def choose(
        ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext
    ) -> None:
        # RFC 6066 3: no name, or one we do not list -> the default certificate
        if not server_name:
            return None
        exact = [ctx for name, ctx in by_name if name.lower() == server_name.lower()]
        wild = [
            ctx for name, ctx in by_name if name.startswith("*.") and certs.name_matches(name, server_name)
        ]
        chosen = exact or wild
        if chosen:
            ssl_object.context = chosen[0]
        return None

    return choose


def _context_for(
    policy: Policy,
    settings: TlsSettings,
    pairs: list[Pair],
    prefix: str,
    resolve_secret: SecretResolver | None,
    problems: list[Problem],
) -> ssl.SSLContext | None:
    """A context serving ``pairs``: one certificate, or an ECDSA and an RSA one side by side."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        # TLSv1/TLSv1_1 are deprecated in Python; they are here only by explicit opt-in
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = SSL_VERSIONS[policy.versions.minimum]
        ctx.maximum_version = SSL_VERSIONS[policy.versions.maximum]
    ctx.options |= _OPTIONS
    ctx.set_ciphers(policy.ciphers)  # validated by resolve_policy
    if not _apply_suites(ctx, policy, f"{prefix}.ciphersuites", problems):
        return None
    if not _apply_groups(ctx, policy, f"{prefix}.curves", problems):
        return None
    if policy.dhe and not _apply_dhparams(ctx, settings, f"{prefix}.dhparams", problems):
        return None
    if settings.verify_client != "none":
        # only the configured bundle, never the system roots (no load_default_certs)
        ctx.verify_mode = _VERIFY_MODES[settings.verify_client]
        try:
            ctx.load_verify_locations(cafile=settings.ca)
        except (ssl.SSLError, OSError):
            problems.append(
                Problem(
                    f"{prefix}.ca",
                    f"OpenSSL cannot load {settings.ca}",
                    "name a PEM bundle of CA certificates",
                )
            )
            return None
    for pair in pairs:
        # OpenSSL keeps one certificate and key per key type (SSL_CTX_use_certificate):
        # a second pair of another type is added beside the first, and each handshake
        # gets the one the client's signature algorithms and suites allow
        if not _load_pair(ctx, pair, resolve_secret, problems):
            return None
    return ctx


def _load_pair(
    ctx: ssl.SSLContext, pair: Pair, resolve_secret: SecretResolver | None, problems: list[Problem]
) -> bool:
    passphrase, problem = resolve_passphrase(pair.passphrase_ref, pair.passphrase_setting, resolve_secret)
    if problem:
        problems.append(problem)
        return False

    def password() -> bytes:
        if passphrase is None:
            raise _NoPassphrase()
        return passphrase.encode()

    try:
        ctx.load_cert_chain(pair.certificate, pair.key, password=password)
    except (ssl.SSLError, OSError, _NoPassphrase):
        problems.append(
            Problem(
                pair.cert_setting,
                f"OpenSSL cannot load {pair.certificate} with {pair.key}",
                "check that both are PEM, that the key matches, and the passphrase",
            )
        )
        return False
    return True


def _apply_suites(ctx: ssl.SSLContext, policy: Policy, key: str, problems: list[Problem]) -> bool:
    if "TLSv1.3" not in policy.versions.names or native.set_ciphersuites(ctx, policy.ciphersuites):
        return True
    active = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"}
    if active == set(policy.ciphersuites):
        return True  # what the library does anyway
    problems.append(
        Problem(
            key,
            "TLS 1.3 suites cannot be set on this Python (its ssl module has no set_ciphersuites); "
            f"OpenSSL uses {':'.join(sorted(active))}",
            "leave ciphersuites empty",
        )
    )
    return False


def _apply_groups(ctx: ssl.SSLContext, policy: Policy, key: str, problems: list[Problem]) -> bool:
    if native.set_groups(ctx, policy.groups):
        return True
    if native.stdlib_has(native.GROUPS) or features().works(native.GROUPS):
        problems.append(
            Problem(
                key,
                f"OpenSSL refuses the groups {':'.join(policy.groups)}",
                'use "X25519:prime256v1:secp384r1"',
            )
        )
        return False
    # without SSL_CTX_set1_groups_list the stdlib sets one NIST curve: exactly what was asked
    # for, or nothing (check_native refused the rest before we got here)
    curve = STDLIB_CURVE.get(policy.groups[0]) if len(policy.groups) == 1 else None
    if curve is None:
        why = features().why(native.GROUPS)
        groups = ":".join(policy.groups)
        problems.append(Problem(key, f"{groups} cannot be set: {why}", 'set curves = "prime256v1"'))
        return False
    ctx.set_ecdh_curve(curve)
    return True


def _apply_dhparams(ctx: ssl.SSLContext, settings: TlsSettings, key: str, problems: list[Problem]) -> bool:
    try:
        if settings.dhparams:
            ctx.load_dh_params(settings.dhparams)
            return True
        # RFC 7919: a well-known safe-prime group when no file is given
        with tempfile.NamedTemporaryFile(prefix="mailward-ffdhe", suffix=".pem") as f:
            f.write(certs.FFDHE2048_PEM)
            f.flush()
            ctx.load_dh_params(f.name)
        return True
    except (ssl.SSLError, OSError):
        problems.append(
            Problem(
                key,
                f"OpenSSL cannot load {settings.dhparams}",
                "write new ones with `mailward cert dhparams`",
            )
        )
        return False


# --- reload ---------------------------------------------------------------------


Stamp = tuple[int, int, int, int, int] | None


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    # the mode too: `chmod 600 KEY` after a refused reload must trigger another one
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)


def material_files(settings: TlsSettings) -> tuple[str, ...]:
    """Every file a context for ``settings`` is built from."""
    files = [name for pair in pairs_of(settings, "tls") for name in (pair.certificate, pair.key)]
    if settings.verify_client != "none" and settings.ca:
        files.append(settings.ca)
    if settings.dhe and settings.dhparams:
        files.append(settings.dhparams)
    return tuple(dict.fromkeys(f for f in files if f))


class ServerContextSource:
    """The current server SSLContext of one listener, rebuilt on reload.

    Raises :class:`ConfigError` when the first build fails; :attr:`warnings`
    holds the warnings of the last successful build.
    """

    def __init__(
        self,
        settings: TlsSettings,
        *,
        key_prefix: str = "tls",
        hostname: str = "",
        resolve_secret: SecretResolver | None = None,
    ) -> None:
        self._key_prefix = key_prefix
        self._hostname = hostname
        self._resolve_secret = resolve_secret
        self._settings = settings
        stamps = self._stamps(settings)
        ctx, problems = self._build(settings)
        if ctx is None:
            raise ConfigError(errors(problems))
        self._context = ctx
        self._stamped = stamps
        self.warnings: tuple[Problem, ...] = tuple(problems)

    @property
    def settings(self) -> TlsSettings:
        return self._settings

    @property
    def files(self) -> tuple[str, ...]:
        return material_files(self._settings)

    def current(self) -> ssl.SSLContext:
        """The context for a new connection."""
        return self._context

    def reload(self, settings: TlsSettings | None = None) -> list[Problem]:
        """Rebuild from the files (and ``settings`` when given, e.g. on SIGHUP).

        On any error the old context (and settings) stay in use and the
        problems are returned; on success new connections get the new context
        and the warnings are returned.
        """
        new_settings = settings or self._settings
        stamps = self._stamps(new_settings)  # before reading: a change while we read triggers another reload
        ctx, problems = self._build(new_settings)
        if ctx is None:
            self._stamped = stamps  # do not retry the same broken files on every poll
            return problems
        self._context = ctx
        self._settings = new_settings
        self._stamped = stamps
        self.warnings = tuple(problems)
        return problems

    def changed_on_disk(self) -> bool:
        """Whether any certificate, key, CA or dhparams file changed since the last (re)load."""
        return self._stamps(self._settings) != self._stamped

    def _stamps(self, settings: TlsSettings) -> tuple[Stamp, ...]:
        return tuple(_stamp(f) for f in material_files(settings))

    def _build(self, settings: TlsSettings) -> tuple[ssl.SSLContext | None, list[Problem]]:
        return build_server_context(
            settings,
            key_prefix=self._key_prefix,
            hostname=self._hostname,
            resolve_secret=self._resolve_secret,
        )


# --- the facts a session gets ----------------------------------------------------


@dataclass(frozen=True)
class PeerCertificate:
    """A client certificate that OpenSSL verified against the configured CA."""

    subject: str
    names: tuple[str, ...]  # DNS names and IP addresses
    emails: tuple[str, ...]  # rfc822Name SANs (for SASL EXTERNAL)
    sha256: str  # colon-separated uppercase hex
    der: bytes


@dataclass(frozen=True)
class TlsFacts:
    """What a session knows of its TLS layer after the handshake."""

    version: str  # "TLSv1.3"
    cipher: str  # OpenSSL name
    bits: int
    client_certificate: PeerCertificate | None  # only when verified

    def __str__(self) -> str:
        return f"{self.version}/{self.cipher}"


def tls_facts(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> TlsFacts:
    """The facts of a completed handshake (from ``transport.get_extra_info("ssl_object")``)."""
    cipher = ssl_object.cipher()
    name, version, bits = cipher if cipher else ("", "", 0)
    peer: PeerCertificate | None = None
    der = ssl_object.getpeercert(binary_form=True)
    # the server asks for a certificate only when verify_client is not "none", and a
    # certificate that fails verification aborts the handshake: one seen here is verified
    if der and ssl_object.context.verify_mode != ssl.CERT_NONE:
        cert = x509.load_der_x509_certificate(der)
        peer = PeerCertificate(
            subject=cert.subject.rfc4514_string(),
            names=tuple(certs.names_of(cert)) if _has_san(cert) else (),
            emails=tuple(certs.emails_of(cert)),
            sha256=certs.fingerprint(der),
            der=der,
        )
    return TlsFacts(
        version=ssl_object.version() or version, cipher=name, bits=int(bits or 0), client_certificate=peer
    )


def _has_san(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return True
