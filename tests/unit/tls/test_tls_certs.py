"""Certificates, fingerprints, atomic owner-only writes, DH parameters, the [tls] schema."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from mailward import files
from mailward.config.problems import Problem
from mailward.config.schema import BuildContext, build
from mailward.config.tls import TlsSettings
from mailward.tls import certs
from mailward.tls.native import available, set_ciphersuites, set_groups


def test_fingerprint_form() -> None:
    der = b"\x01\x02"
    fp = certs.fingerprint(der)
    assert fp == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert len(certs.fingerprint(der, "sha1").split(":")) == 20


@pytest.mark.parametrize("key_type", certs.KEY_TYPES)
def test_self_signed(key_type: certs.KeyType) -> None:
    key = certs.new_key(key_type)
    cert = certs.self_signed(
        key, ["mail.example.org", "mx.example.org", "192.0.2.1", "mail.example.org"], 365
    )
    assert certs.names_of(cert) == ["mail.example.org", "mx.example.org", "192.0.2.1"]
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert days == 365
    cert.verify_directly_issued_by(cert)
    assert certs.public_der(key) == certs.public_der(cert)
    expected = {
        "ecdsa-p256": ec.EllipticCurvePrivateKey,
        "rsa-2048": rsa.RSAPrivateKey,
        "rsa-3072": rsa.RSAPrivateKey,
    }
    assert isinstance(key, expected[key_type])


def test_describe() -> None:
    key = certs.new_key("ecdsa-p256")
    cert = certs.self_signed(key, ["mail.example.org"], 30)
    info = certs.describe(cert)
    assert info.subject == "CN=mail.example.org"
    assert info.key_type == "ECDSA secp256r1"
    assert info.days_left() in (29, 30)
    lines = "\n".join(info.lines())
    assert f"SHA-256:     {info.sha256}" in lines and "SHA-1:" in lines and "days left" in lines


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048"])
def test_spki_hashes_are_openssls_and_kept_by_renewal(key_type: certs.KeyType) -> None:
    key = certs.new_key(key_type)
    cert = certs.self_signed(key, ["mail.example.org"], 30)
    # RFC 7469 appendix A: openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256
    public = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout"], input=certs.cert_pem(cert), capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=public, capture_output=True, check=True
    ).stdout
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True
    ).stdout
    assert certs.spki_pin(cert) == base64.b64encode(digest).decode()
    assert certs.spki_sha256(cert) == ":".join(f"{b:02X}" for b in digest)
    renewed = certs.renewed(cert, key, 365)
    assert certs.cert_fingerprint(renewed) != certs.cert_fingerprint(cert)
    assert (certs.spki_sha256(renewed), certs.spki_pin(renewed)) == (certs.spki_sha256(cert), certs.spki_pin(cert))
    other = certs.self_signed(certs.new_key(key_type), ["mail.example.org"], 30)
    assert certs.spki_pin(other) != certs.spki_pin(cert)


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        ("mail.example.org", "MAIL.example.org.", True),
        ("*.example.org", "mail.example.org", True),
        ("*.example.org", "example.org", False),
        ("*.example.org", "a.b.example.org", False),
        ("mail.example.org", "mx.example.org", False),
    ],
)
def test_name_matches(pattern: str, host: str, ok: bool) -> None:
    assert certs.name_matches(pattern, host) is ok


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o000])
def test_write_atomic_sets_the_mode_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        files.write_atomic(tmp_path / "a.key", b"secret", 0o600)
        files.write_atomic(tmp_path / "a.crt", b"public", 0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a.crt").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.crt", "a.key"]  # no temp file left


def test_write_atomic_replaces_and_keeps_no_temp_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.key"
    target.write_bytes(b"old")
    inode = target.stat().st_ino
    files.write_atomic(target, b"new", 0o600)
    assert target.read_bytes() == b"new" and target.stat().st_ino != inode
    with pytest.raises(FileNotFoundError):
        files.write_atomic(tmp_path / "missing-dir" / "y.key", b"data", 0o600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.key"]


def test_ffdhe2048_is_the_rfc7919_group() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dh

    params = serialization.load_pem_parameters(certs.FFDHE2048_PEM)
    assert isinstance(params, dh.DHParameters)
    numbers = params.parameter_numbers()
    assert numbers.g == 2
    assert numbers.p.bit_length() == 2048
    # RFC 7919 A.1: the top and bottom 64 bits of every ffdhe prime are 1
    assert numbers.p >> (2048 - 64) == 2**64 - 1
    assert numbers.p & (2**64 - 1) == 2**64 - 1
    # p = 2^2048 - 2^1984 + (floor(2^1918 * e) + 560316) * 2^64 - 1: the constant ends ...88 08 8...
    assert certs.dh_bits(certs.FFDHE2048_PEM) == 2048


def test_dh_bits_rejects_other_pem() -> None:
    key = certs.new_key("ecdsa-p256")
    with pytest.raises(ValueError):
        certs.dh_bits(certs.cert_pem(certs.self_signed(key, ["a.example"], 1)))


def test_generate_dhparams_refuses_small_sizes() -> None:
    with pytest.raises(ValueError):
        certs.generate_dhparams(1024)


def test_native_openssl_calls() -> None:
    import ssl

    assert available(), "groups and TLS 1.3 suites should be settable on CPython 3.11 with a shared libssl"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert set_groups(ctx, ("X25519", "P-256"))
    assert not set_groups(ctx, ("no-such-group",))
    assert set_ciphersuites(ctx, ("TLS_CHACHA20_POLY1305_SHA256",))
    tls13 = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"]
    assert tls13 == ["TLS_CHACHA20_POLY1305_SHA256"]


# --- the [tls] schema --------------------------------------------------------------------


def build_tls(data: dict[str, object], tmp_path: Path) -> tuple[TlsSettings | None, list[Problem]]:
    problems: list[Problem] = []
    built = build(TlsSettings, data, "tls", BuildContext(base_dir=tmp_path), problems)
    return built, problems


def test_schema_sni_tables_and_paths(tmp_path: Path) -> None:
    built, problems = build_tls(
        {
            "certificate": "certs/a.crt",
            "sni": [
                {
                    "names": ["mail.example.net", "*.example.net"],
                    "certificate": "certs/n.crt",
                    "key": "certs/n.key",
                }
            ],
            "profile": "modern",
            "dhe": True,
        },
        tmp_path,
    )
    assert problems == [] and built is not None
    assert built.certificate == str(tmp_path / "certs/a.crt")
    assert built.sni[0].names == ("mail.example.net", "*.example.net")
    assert built.sni[0].key == str(tmp_path / "certs/n.key")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"key_passphrase": "hunter2"}, "tls.key_passphrase"),
        ({"sni": [{"names": [], "certificate": "a", "key": "b"}]}, "tls.sni[0].names"),
        ({"sni": [{"names": ["a b"], "certificate": "a", "key": "b"}]}, "tls.sni[0].names"),
        ({"profile": "old"}, "tls.profile"),
        ({"protocols": " "}, "tls.protocols"),
        ({"certificates": "x"}, "tls.certificates"),
    ],
)
def test_schema_errors(tmp_path: Path, data: dict[str, object], key: str) -> None:
    built, problems = build_tls(data, tmp_path)
    assert built is None
    assert [p.key for p in problems] == [key]
    assert problems[0].fix
