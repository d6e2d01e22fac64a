"""Real handshakes against the policy: versions, ciphers, DHE, client certificates, SNI."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509

from integration.tls.tls_helpers import client_context, handshake, refused, settings_for
from mailward.config.tls import SniCertificate
from mailward.tls import certs
from mailward.tls.context import ServerContextSource
from support.pki import Issued, TestCA

if TYPE_CHECKING:
    from integration.tls.conftest import TlsTestServer

Serve = Callable[..., "TlsTestServer"]
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
INTERMEDIATE_ECDSA = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
}


def cipher_name(tls: ssl.SSLSocket) -> str:
    cipher = tls.cipher()
    assert cipher is not None
    return cipher[0]


def source(issued: Issued, **overrides: object) -> ServerContextSource:
    return ServerContextSource(settings_for(issued, **overrides), hostname="localhost")


def test_default_policy_speaks_tls13_and_tls12(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(source(server_cert))
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line == "OK TLSv1.3"
        assert cipher_name(tls) in {
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        }
    line, tls = handshake(server.port, client_context(ca.cert_path, version=TLS12))
    with tls:
        assert line == "OK TLSv1.2"
        assert cipher_name(tls) in INTERMEDIATE_ECDSA
    assert [f.version for f in server.facts] == ["TLSv1.3", "TLSv1.2"]
    assert server.facts[1].cipher in INTERMEDIATE_ECDSA
    assert server.facts[0].client_certificate is None


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_default_refuses_tls10_and_tls11(
    tls_server: Serve, server_cert: Issued, version: ssl.TLSVersion
) -> None:
    server = tls_server(source(server_cert))
    # the client is at security level 0, so the refusal is the server's
    assert refused(server.port, client_context(version=version, seclevel0=True))
    assert server.facts == []


def test_legacy_opt_in_allows_tls11(tls_server: Serve, server_cert: Issued) -> None:
    src = source(server_cert, protocols="+ALL:-TLSv1.0", allow_legacy_tls=True)
    assert [p.message for p in src.warnings if "RFC 8996" in p.message]
    server = tls_server(src)
    line, tls = handshake(server.port, client_context(version=ssl.TLSVersion.TLSv1_1, seclevel0=True))
    with tls:
        assert line == "OK TLSv1.1"
    assert refused(server.port, client_context(version=ssl.TLSVersion.TLSv1, seclevel0=True))


def test_tls13_only_list(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    # the issue's example: +ALL:-SSLv3:-TLSv1.0:-TLSv1.1:-TLSv1.2
    server = tls_server(source(server_cert, protocols="+ALL:-SSLv3:-TLSv1.0:-TLSv1.1:-TLSv1.2"))
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line == "OK TLSv1.3"
    assert refused(server.port, client_context(ca.cert_path, version=TLS12))
    assert [f.version for f in server.facts] == ["TLSv1.3"]


def test_tls12_only_list(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(source(server_cert, protocols="+TLSv1.2"))
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line == "OK TLSv1.2"
    assert refused(server.port, client_context(ca.cert_path, version=TLS13))


def test_modern_profile(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(source(server_cert, profile="modern"))
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line == "OK TLSv1.3"
    assert refused(server.port, client_context(ca.cert_path, version=TLS12))


def test_non_forward_secret_and_cbc_suites_are_refused(tls_server: Serve, ca: TestCA) -> None:
    rsa_cert = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    server = tls_server(source(rsa_cert))
    for cipher in ("AES128-GCM-SHA256", "AES256-SHA", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES128-GCM-SHA256"):
        assert refused(server.port, client_context(version=TLS12, ciphers=cipher, seclevel0=True)), cipher


def test_tls13_suites_setting(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(source(server_cert, ciphersuites="TLS_CHACHA20_POLY1305_SHA256"))
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line == "OK TLSv1.3"
        assert cipher_name(tls) == "TLS_CHACHA20_POLY1305_SHA256"


def _s_client(port: int, *args: str) -> str:
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_dhe_with_openssl_s_client(tls_server: Serve, ca: TestCA, tmp_path: Path) -> None:
    rsa_cert = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    default = tls_server(source(rsa_cert))
    out = _s_client(default.port, "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-tls1_2")
    assert "Cipher is DHE-RSA-AES256-GCM-SHA384" not in out
    assert default.facts == []

    with_dhe = tls_server(source(rsa_cert, dhe=True))  # RFC 7919 ffdhe2048
    out = _s_client(with_dhe.port, "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-tls1_2")
    assert "Cipher is DHE-RSA-AES256-GCM-SHA384" in out
    assert "Server Temp Key: DH, 2048 bits" in out
    assert [f.cipher for f in with_dhe.facts] == ["DHE-RSA-AES256-GCM-SHA384"]

    dhfile = tmp_path / "dh.pem"
    dhfile.write_bytes(certs.FFDHE2048_PEM)
    with_file = tls_server(source(rsa_cert, dhe=True, dhparams=str(dhfile)))
    out = _s_client(with_file.port, "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-tls1_2")
    assert "Cipher is DHE-RSA-AES256-GCM-SHA384" in out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_curves_offered(tls_server: Serve, server_cert: Issued) -> None:
    server = tls_server(source(server_cert))
    for group, accepted in (
        ("X25519", True),
        ("P-256", True),
        ("P-384", True),
        ("X448", False),
        ("P-521", False),
    ):
        out = _s_client(server.port, "-groups", group, "-tls1_3")
        assert ("Cipher is TLS_" in out) is accepted, (group, out[-400:])
    single = tls_server(source(server_cert, curves="secp384r1"))
    assert "Cipher is" in _s_client(single.port, "-groups", "P-384", "-tls1_3")
    assert "Cipher is TLS_" not in _s_client(single.port, "-groups", "X25519", "-tls1_3")


# --- client certificates --------------------------------------------------------------


def with_client_cert(ctx: ssl.SSLContext, issued: Issued) -> ssl.SSLContext:
    ctx.load_cert_chain(str(issued.cert_path), str(issued.key_path))
    return ctx


@pytest.mark.parametrize("version", [TLS12, TLS13])
def test_client_certificate_required(
    tls_server: Serve, ca: TestCA, server_cert: Issued, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    alice = ca.issue("alice", ("alice.example.org",), client=True)
    other_ca = TestCA(tmp_path / "other", name="other CA")
    mallory = other_ca.issue("mallory", ("alice.example.org",), client=True)
    server = tls_server(source(server_cert, verify_client="ca", ca=str(ca.cert_path)))

    line, tls = handshake(server.port, with_client_cert(client_context(ca.cert_path, version=version), alice))
    with tls:
        assert line.startswith("OK")
    peer = server.facts[-1].client_certificate
    assert peer is not None
    assert peer.sha256 == certs.cert_fingerprint(alice.cert)
    assert peer.subject == "CN=alice.example.org"
    assert peer.names == ("alice.example.org",)

    assert refused(server.port, with_client_cert(client_context(ca.cert_path, version=version), mallory))
    assert refused(server.port, client_context(ca.cert_path, version=version))
    assert len(server.facts) == 1


def test_client_certificate_optional(
    tls_server: Serve, ca: TestCA, server_cert: Issued, tmp_path: Path
) -> None:
    alice = ca.issue("alice", ("alice.example.org",), client=True)
    mallory = TestCA(tmp_path / "other", name="other CA").issue("mallory", ("m.example",), client=True)
    server = tls_server(source(server_cert, verify_client="optional", ca=str(ca.cert_path)))
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line.startswith("OK")
    assert server.facts[-1].client_certificate is None
    line, tls = handshake(server.port, with_client_cert(client_context(ca.cert_path), alice))
    with tls:
        assert line.startswith("OK")
    assert len(server.facts) == 2
    fact = server.facts[1].client_certificate
    assert fact is not None
    assert fact.sha256 == certs.cert_fingerprint(alice.cert)
    assert refused(server.port, with_client_cert(client_context(ca.cert_path), mallory))


def test_no_client_certificate_asked_by_default(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    alice = ca.issue("alice", ("alice.example.org",), client=True)
    server = tls_server(source(server_cert))
    line, tls = handshake(server.port, with_client_cert(client_context(ca.cert_path), alice))
    with tls:
        assert line.startswith("OK")
    assert server.facts[-1].client_certificate is None


# --- SNI --------------------------------------------------------------------------------


def peer_names(tls: ssl.SSLSocket) -> list[str]:
    der = tls.getpeercert(binary_form=True)
    assert der
    return certs.names_of(x509.load_der_x509_certificate(der))


def test_sni_picks_the_certificate(tls_server: Serve, ca: TestCA, server_cert: Issued) -> None:
    net = ca.issue("net", ("mail.example.net",), key_type="rsa-2048")
    wild = ca.issue("wild", ("*.example.com",))
    sni = (
        SniCertificate(names=("mail.example.net",), certificate=str(net.cert_path), key=str(net.key_path)),
        SniCertificate(names=("*.example.com",), certificate=str(wild.cert_path), key=str(wild.key_path)),
    )
    server = tls_server(source(server_cert, sni=sni))
    cases = {
        "mail.example.net": ["mail.example.net"],
        "MAIL.Example.NET": ["mail.example.net"],
        "imap.example.com": ["*.example.com"],
        "localhost": ["localhost", "127.0.0.1"],
        "unknown.example.org": ["localhost", "127.0.0.1"],
    }
    for name, expected in cases.items():
        ctx = client_context(ca.cert_path)
        ctx.check_hostname = False
        line, tls = handshake(server.port, ctx, server_name=name)
        with tls:
            assert line.startswith("OK")
            assert peer_names(tls) == expected, name
    # verifying clients accept each certificate for its name
    for name in ("mail.example.net", "pop.example.com", "localhost"):
        line, tls = handshake(server.port, client_context(ca.cert_path), server_name=name)
        with tls:
            assert line.startswith("OK")
