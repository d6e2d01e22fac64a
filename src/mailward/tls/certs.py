"""Certificates and keys: read, describe, create, renew, and write them safely.

Key files are created mode 0600 whatever the umask (``os.open(..., 0o600)``
then ``fchmod`` before a byte is written), and every file is written to a
temporary name in the same directory and renamed over the target, so that a
running server polling the files sees the old pair or the new one, never half.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailward import files

KeyType = Literal["ecdsa-p256", "rsa-2048", "rsa-3072"]
KEY_TYPES: tuple[KeyType, ...] = ("ecdsa-p256", "rsa-2048", "rsa-3072")
PrivateKey = CertificateIssuerPrivateKeyTypes
MIN_DH_BITS = 2048  # Mozilla intermediate dh_param_size; RFC 7919 smallest group

# RFC 7919 Appendix A.1, ffdhe2048 (p and g = 2) as PKCS#3 DHParameter PEM
FFDHE2048_PEM = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


class KeyPassphraseNeeded(Exception):
    """The key file is encrypted and no passphrase was given."""


class KeyNotEncrypted(Exception):
    """A passphrase was given for a key file that is not encrypted.

    Raised rather than passed over, so that no caller takes an unencrypted key
    for an encrypted one without saying so; :attr:`key` is the key, loaded.
    """

    def __init__(self, key: PrivateKey) -> None:
        super().__init__("a passphrase was given but the key is not encrypted")
        self.key = key


# --- reading ---------------------------------------------------------------------


def load_chain(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file, in file order (ValueError if none)."""
    chain = x509.load_pem_x509_certificates(data)
    if not chain:
        raise ValueError("no certificate")
    return chain


def is_encrypted(data: bytes) -> bool:
    """Whether a PEM private key file is passphrase-protected.

    PKCS#8 (RFC 5958 3: ``ENCRYPTED PRIVATE KEY``) or OpenSSL's legacy form
    (RFC 1421 4.6.1.1: ``Proc-Type: 4,ENCRYPTED``).
    """
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_key(data: bytes, passphrase: str | None) -> PrivateKey:
    """A PEM private key; raises :class:`KeyPassphraseNeeded`, :class:`KeyNotEncrypted` or ValueError.

    ValueError covers a wrong passphrase (see :func:`is_encrypted` to tell it apart).
    """
    password = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError as exc:  # encrypted but no password, or a password for a plain key
        if password is None:
            raise KeyPassphraseNeeded() from exc
        raise KeyNotEncrypted(_supported(serialization.load_pem_private_key(data, None))) from None
    return _supported(key)


def _supported(key: object) -> PrivateKey:
    if not isinstance(
        key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
    ):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def public_der(key: PrivateKey | x509.Certificate) -> bytes:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(der: bytes, algorithm: str = "sha256") -> str:
    """Colon-separated uppercase hex, as mail clients show it (``AB:CD:...``)."""
    digest = hashlib.new(algorithm, der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def cert_fingerprint(cert: x509.Certificate, algorithm: str = "sha256") -> str:
    return fingerprint(cert.public_bytes(serialization.Encoding.DER), algorithm)


def spki_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, colon-separated hex: what a DANE
    ``3 1 1`` TLSA record holds (RFC 7671 5.1), and the same across renewals that keep the key."""
    return fingerprint(public_der(cert))


def spki_pin(cert: x509.Certificate) -> str:
    """The same hash in base64: the value of an RFC 7469 ``pin-sha256`` (section 2.4)."""
    return base64.b64encode(hashlib.sha256(public_der(cert)).digest()).decode()


def names_of(cert: x509.Certificate) -> list[str]:
    """DNS names and IP addresses of the subjectAltName (RFC 6125), else the CN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    names: list[str] = list(san.get_values_for_type(x509.DNSName))
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


def emails_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.RFC822Name))


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3: a wildcard stands for exactly one whole left-most label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def key_type_of(key: object) -> str:
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"RSA {key.key_size} bits"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "Ed25519"
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "Ed448"
    return type(key).__name__


@dataclass(frozen=True)
class CertInfo:
    """What `mailward cert show` and `fingerprint` print."""

    subject: str
    names: tuple[str, ...]
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    sha256: str
    sha1: str
    spki_sha256: str  # of the public key: kept by a renewal with the same key
    pin_sha256: str  # the same, base64 (RFC 7469)

    def days_left(self, now: dt.datetime | None = None) -> int:
        return (self.not_after - (now or dt.datetime.now(dt.UTC))).days

    def lines(self, now: dt.datetime | None = None) -> list[str]:
        left = self.days_left(now)
        state = f"{left} days left" if left >= 0 else f"EXPIRED {-left} days ago"
        return [
            f"subject:     {self.subject}",
            f"names:       {', '.join(self.names) or '(none)'}",
            f"issuer:      {self.issuer}",
            f"valid from:  {self.not_before:%Y-%m-%d %H:%M:%S} UTC",
            f"valid until: {self.not_after:%Y-%m-%d %H:%M:%S} UTC ({state})",
            f"key:         {self.key_type}",
            f"SHA-256:     {self.sha256}",
            f"SHA-1:       {self.sha1}",
            f"SPKI:        {self.spki_sha256}",
            f'pin-sha256:  "{self.pin_sha256}"',
        ]


def describe(cert: x509.Certificate) -> CertInfo:
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        names=tuple(names_of(cert)),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type_of(cert.public_key()),
        sha256=cert_fingerprint(cert, "sha256"),
        sha1=cert_fingerprint(cert, "sha1"),
        spki_sha256=spki_sha256(cert),
        pin_sha256=spki_pin(cert),
    )


# --- creating --------------------------------------------------------------------


def new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = 2048 if key_type == "rsa-2048" else 3072
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def self_signed(key: PrivateKey, names: Iterable[str], days: int) -> x509.Certificate:
    """A self-signed server certificate: SANs, serverAuth EKU, CA:false (RFC 5280)."""
    listed = list(dict.fromkeys(names))
    if not listed:
        raise ValueError("a certificate needs at least one name")
    sans: list[x509.GeneralName] = []
    for name in listed:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, listed[0])])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    public = key.public_key()
    digital_signature = True
    # RFC 5280 4.2.1.3: RSA keys may also be used for key encipherment (TLS 1.2 RSA kx)
    key_encipherment = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature, False, key_encipherment, False, False, False, False, False, False
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey, passphrase: str | None = None) -> bytes:
    """PKCS#8 PEM; encrypted with ``passphrase`` (``ENCRYPTED PRIVATE KEY``) when given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def write_pair(
    cert_path: Path,
    key_path: Path,
    cert: x509.Certificate,
    key: PrivateKey | None,
    passphrase: str | None = None,
) -> None:
    """Write the key (0600, unless ``key`` is None; encrypted with ``passphrase``
    when given) then the certificate (0644).

    The key goes first: a server reloading between the two renames sees the
    new key with the old certificate, fails the key-matches-certificate check
    and keeps its old material until the certificate lands too.
    """
    if key is not None:
        files.write_atomic(key_path, key_pem(key, passphrase), 0o600)
    files.write_atomic(cert_path, cert_pem(cert), 0o644)


def pair_paths(prefix: Path) -> tuple[Path, Path]:
    """PREFIX.crt and PREFIX.key."""
    return prefix.with_name(prefix.name + ".crt"), prefix.with_name(prefix.name + ".key")


def renewed(cert: x509.Certificate, key: PrivateKey, days: int) -> x509.Certificate:
    """A new self-signed certificate for the names of ``cert``."""
    return self_signed(key, names_of(cert), days)


# --- DH parameters ---------------------------------------------------------------


def generate_dhparams(bits: int) -> bytes:
    """PEM DH parameters of ``bits`` (slow: seconds to minutes for 2048)."""
    if bits < MIN_DH_BITS:
        raise ValueError(f"DH parameters under {MIN_DH_BITS} bits are refused")
    params = dh.generate_parameters(generator=2, key_size=bits)
    return params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)


def dh_bits(data: bytes) -> int:
    """Size of the prime in a PEM DH parameters file (ValueError if it is none)."""
    params = serialization.load_pem_parameters(data)
    if not isinstance(params, dh.DHParameters):
        raise ValueError("not DH parameters")
    return params.parameter_numbers().p.bit_length()
