"""Start-up checks of TLS material, for `serve` and `mailward config check`.

Each problem names the setting it comes from (``tls.key``,
``listener[1].tls_options.certificate``: the caller gives the prefix) and what
to run. Errors stop a listener from starting (or a reload from taking effect);
warnings are printed and the server runs.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from mailward.config.problems import Problem, Severity
from mailward.config.schema import SECRET_PREFIX
from mailward.config.tls import SniCertificate, TlsSettings
from mailward.tls import certs
from mailward.tls.native_probe import GROUPS, TLS13_CIPHERSUITES, NativeFeatures, features
from mailward.tls.policy import STDLIB_CURVE, TLS13_SUITES, Policy, resolve_policy

SecretResolver = Callable[[str], str]
"""Resolves a ``secret:NAME`` reference (the whole string) to its value."""

EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Pair:
    """One certificate and key to serve, with where they are configured."""

    certificate: str
    key: str
    passphrase_ref: str
    prefix: str  # e.g. "tls" or "tls.sni[0]"
    names: tuple[str, ...] = ()  # SNI names; empty for the default
    slot: str = ""  # "" for certificate/key, "rsa_" for rsa_certificate/rsa_key

    @property
    def cert_setting(self) -> str:
        return f"{self.prefix}.{self.slot}certificate"

    @property
    def key_setting(self) -> str:
        return f"{self.prefix}.{self.slot}key"

    @property
    def passphrase_setting(self) -> str:
        return f"{self.prefix}.{self.slot}key_passphrase"


def identities_of(settings: TlsSettings, prefix: str) -> list[list[Pair]]:
    """The default certificate, then each SNI entry: each one pair, or two (with ``rsa_``).

    The pairs of one identity share one SSLContext, which OpenSSL lets hold one
    certificate per key type.
    """
    entries: list[tuple[str, tuple[str, ...], TlsSettings | SniCertificate]] = [(prefix, (), settings)]
    entries += [(f"{prefix}.sni[{i}]", e.names, e) for i, e in enumerate(settings.sni)]
    identities: list[list[Pair]] = []
    for where, names, entry in entries:
        pairs = [Pair(entry.certificate, entry.key, entry.key_passphrase, where, names)]
        if entry.rsa_certificate or entry.rsa_key:
            pairs.append(
                Pair(entry.rsa_certificate, entry.rsa_key, entry.rsa_key_passphrase, where, names, "rsa_")
            )
        identities.append(pairs)
    return identities


def pairs_of(settings: TlsSettings, prefix: str) -> list[Pair]:
    return [pair for pairs in identities_of(settings, prefix) for pair in pairs]


def resolve_passphrase(
    ref: str, key_path: str, resolve_secret: SecretResolver | None
) -> tuple[str | None, Problem | None]:
    """The passphrase for ``ref`` (``""`` or ``secret:NAME``), or the problem."""
    if not ref:
        return None, None
    if not ref.startswith(SECRET_PREFIX):
        return None, Problem(key_path, "is not a secret reference", 'write "secret:NAME"')
    if resolve_secret is None:
        return None, Problem(
            key_path,
            "secret references cannot be resolved in this build yet",
            "decrypt the key file (openssl pkey -in KEY -out KEY.plain; chmod 600) and remove key_passphrase",
        )
    try:
        return resolve_secret(ref), None
    except Exception as exc:  # the resolver is the secrets module's: report, never crash a reload
        # the secrets module's errors carry ``message`` and ``fix`` apart (str() joins them)
        said = getattr(exc, "message", None) or (str(exc) or type(exc).__name__)
        fix = getattr(exc, "fix", "") or ""
        return None, Problem(
            key_path, f"cannot resolve {ref}: {said}", fix or f"add it with `mailward secret set {ref[7:]}`"
        )


def check_tls(
    settings: TlsSettings,
    key_prefix: str,
    hostname: str,
    *,
    resolve_secret: SecretResolver | None = None,
    now: dt.datetime | None = None,
    native_features: NativeFeatures | None = None,
) -> list[Problem]:
    """Every problem with ``settings``: policy values, native features they need, files,
    keys, certificates. ``native_features``: what the start-up probe found (the default)."""
    policy, problems = resolve_policy(settings, key_prefix)
    if policy is not None:
        found = features() if native_features is None else native_features
        problems.extend(check_native(policy, settings, key_prefix, found))
    when = now or dt.datetime.now(dt.UTC)
    for pair in pairs_of(settings, key_prefix):
        problems.extend(check_pair(pair, hostname, when, resolve_secret))
    problems.extend(_check_key_types(settings, key_prefix))
    problems.extend(_check_client_ca(settings, key_prefix))
    problems.extend(_check_dhparams(settings, key_prefix))
    return problems


_DEFAULT_CURVES = TlsSettings().curves
_RUN_ON = (
    "or run mailward on CPython 3.11 to 3.13 with the shared libssl its _ssl module links "
    "(`mailward config check` prints which native OpenSSL features work)"
)


def check_native(policy: Policy, settings: TlsSettings, prefix: str, found: NativeFeatures) -> list[Problem]:
    """The settings that need an OpenSSL call the ``ssl`` module lacks, where the start-up
    probe (:mod:`mailward.tls.native_probe`) found that call not working: refused, not
    quietly served with something else."""
    problems: list[Problem] = []
    if "TLSv1.3" in policy.versions.names and not found.works(TLS13_CIPHERSUITES):
        default = openssl_tls13_suites()
        if set(policy.ciphersuites) != set(default):
            problems.append(
                Problem(
                    f"{prefix}.ciphersuites",
                    f"{':'.join(policy.ciphersuites)} cannot be applied: setting TLS 1.3 suites needs "
                    f"SSL_CTX_set_ciphersuites (ssl has no set_ciphersuites), and "
                    f"{found.why(TLS13_CIPHERSUITES)}",
                    f"leave ciphersuites empty (OpenSSL's own TLS 1.3 suites, {':'.join(default)}, are "
                    f"the ones mailward asks for by default), {_RUN_ON}",
                )
            )
    single_curve = len(policy.groups) == 1 and bool(STDLIB_CURVE.get(policy.groups[0]))
    if not found.works(GROUPS) and not single_curve:
        is_default = settings.curves == _DEFAULT_CURVES
        note = " (the default: the groups of Mozilla's profiles)" if is_default else ""
        problems.append(
            Problem(
                f"{prefix}.curves",
                f'"{settings.curves}"{note} cannot be applied: a list of groups (or X25519) '
                f"needs SSL_CTX_set1_groups_list (ssl sets one NIST curve only), and {found.why(GROUPS)}",
                f'set curves = "prime256v1" (one curve, which ssl can set itself), {_RUN_ON}',
            )
        )
    return problems


def openssl_tls13_suites() -> tuple[str, ...]:
    """The TLS 1.3 suites OpenSSL uses when none are set, as a fresh context lists them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    listed = tuple(c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3")
    return listed or TLS13_SUITES


def _read(path: str, key: str, what: str) -> tuple[bytes | None, Problem | None]:
    if not path:
        return None, Problem(key, f"no {what} file given", f"name the {what} file")
    try:
        with open(path, "rb") as f:
            return f.read(), None
    except FileNotFoundError:
        fix = (
            "create one with `mailward cert create`"
            if what in ("certificate", "key")
            else "name an existing file"
        )
        return None, Problem(key, f"{path} does not exist", fix)
    except PermissionError:
        return None, Problem(
            key,
            f"{path} is not readable by this user",
            f"chown the file to the user mailward runs as: {path}",
        )
    except IsADirectoryError:
        return None, Problem(key, f"{path} is a directory", f"name the {what} file itself")
    except OSError as exc:
        return None, Problem(key, f"cannot read {path}: {exc.strerror}", "check the file")


def check_key_mode(path: str, key: str) -> Problem | None:
    """A private key readable by group or others is an error (with the chmod)."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # reported by the read
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        what = "readable" if mode & 0o044 else "open"
        # DESIGN "Security defaults": files that hold keys are owner-only
        return Problem(key, f"{path} is {what} to group or others (mode {mode:04o})", f"chmod 600 {path}")
    return None


def check_pair(
    pair: Pair, hostname: str, now: dt.datetime, resolve_secret: SecretResolver | None
) -> list[Problem]:
    cert_key, key_key = pair.cert_setting, pair.key_setting
    problems: list[Problem] = []
    chain: list[x509.Certificate] | None = None
    data, problem = _read(pair.certificate, cert_key, "certificate")
    if problem:
        problems.append(problem)
    elif data is not None:
        try:
            chain = certs.load_chain(data)
        except ValueError:
            problems.append(
                Problem(
                    cert_key,
                    f"{pair.certificate} holds no PEM certificate",
                    "name a PEM certificate file (-----BEGIN CERTIFICATE-----)",
                )
            )
    mode_problem = check_key_mode(pair.key, key_key)
    if mode_problem:
        problems.append(mode_problem)
    key = _load_key(pair, key_key, resolve_secret, problems)
    if chain is None:
        return problems
    leaf = chain[0]
    if key is not None and certs.public_der(key) != certs.public_der(leaf):
        problems.append(
            Problem(
                key_key,
                f"{pair.key} is not the key of {pair.certificate}",
                "name the key the certificate was issued for",
            )
        )
    problems.extend(_check_chain_order(chain, cert_key, pair.certificate))
    problems.extend(_check_validity(leaf, cert_key, pair.certificate, now))
    if not pair.names and hostname and not any(certs.name_matches(n, hostname) for n in certs.names_of(leaf)):
        problems.append(
            Problem(
                cert_key,
                f"{hostname} is not among the names of {pair.certificate} "
                f"({', '.join(certs.names_of(leaf))})",
                "clients that check names will refuse it: "
                f"`mailward cert create --domain {hostname}`, or get one for {hostname}",
                Severity.WARNING,
            )
        )
    for name in pair.names:
        if not any(certs.name_matches(n, name.replace("*", "x", 1)) for n in certs.names_of(leaf)):
            problems.append(
                Problem(
                    f"{pair.prefix}.names",
                    f"{name} is not among the names of {pair.certificate}",
                    "list only names the certificate carries",
                    Severity.WARNING,
                )
            )
    return problems


def _load_key(
    pair: Pair, key_key: str, resolve_secret: SecretResolver | None, problems: list[Problem]
) -> certs.PrivateKey | None:
    data, problem = _read(pair.key, key_key, "key")
    if problem:
        problems.append(problem)
        return None
    assert data is not None
    passphrase, problem = resolve_passphrase(pair.passphrase_ref, pair.passphrase_setting, resolve_secret)
    if problem:
        problems.append(problem)
        return None
    try:
        return certs.load_key(data, passphrase)
    except certs.KeyNotEncrypted as exc:
        # A warning, not an error: the key loads and serves as it is, and an error
        # would stop the server (or keep a reload from taking a renewed pair) over a
        # setting that changes nothing, as dhparams with dhe = false does. But the
        # admin believes the key is encrypted at rest, so it must be said.
        problems.append(
            Problem(
                pair.passphrase_setting,
                f"{pair.slot}key_passphrase is set but {pair.key} is not encrypted",
                f"remove {pair.slot}key_passphrase, or encrypt the key with that passphrase: "
                f"`openssl pkey -aes256 -in {pair.key} -out NEW.key` (then move NEW.key over it, mode 0600)",
                Severity.WARNING,
            )
        )
        return exc.key
    except certs.KeyPassphraseNeeded:
        problems.append(
            Problem(key_key, f"{pair.key} is encrypted", f'set {pair.passphrase_setting} = "secret:NAME"')
        )
    except (ValueError, TypeError):
        problems.append(
            Problem(
                key_key,
                f"{pair.key} holds no usable PEM private key (or the passphrase is wrong)",
                "name the PEM key file of the certificate",
            )
        )
    return None


def _leaf(path: str) -> x509.Certificate | None:
    """The first certificate of ``path``, or None (check_pair reports why)."""
    try:
        with open(path, "rb") as f:
            return certs.load_chain(f.read())[0]
    except (OSError, ValueError):
        return None


def _is_rsa(cert: x509.Certificate) -> bool:
    return isinstance(cert.public_key(), rsa.RSAPublicKey)


def _check_key_types(settings: TlsSettings, prefix: str) -> list[Problem]:
    """rsa_certificate holds RSA and certificate does not; dhe has an RSA certificate to use."""
    problems: list[Problem] = []
    for pairs in identities_of(settings, prefix):
        leaves = [(pair, _leaf(pair.certificate) if pair.certificate else None) for pair in pairs]
        if any(leaf is None for _, leaf in leaves):
            continue  # unreadable or missing: check_pair said so
        (first, first_leaf), *extra = leaves
        assert first_leaf is not None
        if extra:
            second, second_leaf = extra[0]
            assert second_leaf is not None
            if not _is_rsa(second_leaf):
                problems.append(
                    Problem(
                        second.cert_setting,
                        f"{second.certificate} holds an {certs.key_type_of(second_leaf.public_key())} key, "
                        "not RSA",
                        "name an RSA certificate (`mailward cert create --rsa` writes the [tls] one, "
                        "`--key-type rsa-2048 --out PREFIX` any other), or move this pair to "
                        f"{first.cert_setting} and {first.key_setting} and name an RSA one here",
                    )
                )
                continue
            if _is_rsa(first_leaf):
                # SSL_CTX_use_certificate: one slot per key type; the second would replace the first
                problems.append(
                    Problem(
                        second.cert_setting,
                        f"{first.certificate} and {second.certificate} both hold RSA keys: OpenSSL keeps "
                        "one certificate per key type, so only one of them would be served",
                        f"put an ECDSA certificate in {first.cert_setting} (`mailward cert create`), "
                        "or remove rsa_certificate and rsa_key",
                    )
                )
                continue
        has_rsa = any(leaf is not None and _is_rsa(leaf) for _, leaf in leaves)
        if settings.dhe and settings.profile != "modern" and not has_rsa:
            where = f" for {', '.join(first.names)}" if first.names else ""
            problems.append(
                Problem(
                    f"{prefix}.dhe",
                    f"dhe = true has no effect{where}: DHE-RSA suites need an RSA certificate, and "
                    f"{first.certificate} holds an {certs.key_type_of(first_leaf.public_key())} key",
                    f"add rsa_certificate and rsa_key to {first.prefix} and create the pair "
                    "(`mailward cert create --rsa` for [tls], `--key-type rsa-2048 --out PREFIX` "
                    "for any other), or set dhe = false",
                    Severity.WARNING,
                )
            )
    return problems


def _check_chain_order(chain: list[x509.Certificate], key: str, path: str) -> list[Problem]:
    # RFC 8446 4.4.2 / RFC 5246 7.4.2: leaf first, each next certificate certifies the one before
    for i in range(len(chain) - 1):
        child, parent = chain[i], chain[i + 1]
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return [
                Problem(
                    key,
                    f"{path}: certificate {i + 2} ({parent.subject.rfc4514_string()}) did not issue "
                    f"certificate {i + 1} ({child.subject.rfc4514_string()})",
                    "order the file leaf first, then each issuer, and drop unrelated certificates",
                )
            ]
    return []


def _check_validity(leaf: x509.Certificate, key: str, path: str, now: dt.datetime) -> list[Problem]:
    if leaf.not_valid_before_utc > now:
        return [
            Problem(
                key,
                f"{path} is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                "check the system clock, or issue a certificate valid from now",
            )
        ]
    if leaf.not_valid_after_utc <= now:
        return [
            Problem(
                key,
                f"{path} expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                "renew it: `mailward cert renew` (self-signed) or from your CA",
            )
        ]
    left = leaf.not_valid_after_utc - now
    if left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return [
            Problem(
                key,
                f"{path} expires in {left.days} days ({leaf.not_valid_after_utc:%Y-%m-%d} UTC)",
                "renew it soon: `mailward cert renew` (self-signed) or from your CA",
                Severity.WARNING,
            )
        ]
    return []


def _check_client_ca(settings: TlsSettings, prefix: str) -> list[Problem]:
    key = f"{prefix}.ca"
    if settings.verify_client == "none":
        return []
    if not settings.ca:
        return [
            Problem(
                key,
                f'verify_client = "{settings.verify_client}" needs the CA bundle '
                "client certificates chain to",
                "set ca = FILE (PEM); the system roots are never used for client certificates",
            )
        ]
    data, problem = _read(settings.ca, key, "CA")
    if problem:
        return [problem]
    assert data is not None
    try:
        cas = certs.load_chain(data)
    except ValueError:
        return [
            Problem(key, f"{settings.ca} holds no PEM certificate", "name a PEM bundle of CA certificates")
        ]
    problems: list[Problem] = []
    for cert in cas:
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            is_ca = basic.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            problems.append(
                Problem(
                    key,
                    f"{cert.subject.rfc4514_string()} in {settings.ca} is not a CA certificate",
                    "list only CA certificates",
                    Severity.WARNING,
                )
            )
    return problems


def _check_dhparams(settings: TlsSettings, prefix: str) -> list[Problem]:
    key = f"{prefix}.dhparams"
    if not settings.dhparams:
        return []
    if not settings.dhe:
        return [
            Problem(
                key,
                "is set but dhe = false, so it is not used",
                "set dhe = true, or remove dhparams",
                Severity.WARNING,
            )
        ]
    data, problem = _read(settings.dhparams, key, "DH parameters")
    if problem:
        return [problem]
    assert data is not None
    try:
        bits = certs.dh_bits(data)
    except ValueError:
        return [
            Problem(
                key,
                f"{settings.dhparams} holds no PEM DH parameters",
                "write one with `mailward cert dhparams --bits 2048 --out FILE`",
            )
        ]
    if bits < certs.MIN_DH_BITS:
        # Mozilla intermediate: dh_param_size 2048 (Logjam, weakdh.org)
        return [
            Problem(
                key,
                f"{settings.dhparams} has {bits}-bit DH parameters; "
                f"at least {certs.MIN_DH_BITS} are required",
                f"write new ones: `mailward cert dhparams --bits 2048 --out {settings.dhparams}`, "
                "or leave dhparams empty for ffdhe2048",
            )
        ]
    return []
