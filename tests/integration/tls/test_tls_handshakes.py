"""Real handshakes against the real listener: versions, ciphers, DHE, client certificates, SNI.

Each server is the real :class:`~mailward.server.app.Server` built from a config
file (see conftest.py); what the session got is asked of the session itself.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from integration.tls.conftest import ServerFactory, sni_entry
from integration.tls.tls_helpers import GREETING, Session, client_context, handshake, refused
from mailward.tls import certs
from support.pki import Issued, TestCA

TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
INTERMEDIATE_ECDSA = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
}
TLS13_SUITES = {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"}
STARTTLS = [pytest.param(None, id="implicit"), pytest.param("plain", id="starttls")]


def cipher_name(session: Session) -> str:
    cipher = session.tls.cipher()
    assert cipher is not None
    return cipher[0]


@pytest.mark.parametrize("starttls", STARTTLS)
def test_default_policy_speaks_tls13_and_tls12(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, starttls: str | None
) -> None:
    server = tls_server(server_cert, starttls=starttls)
    upgrade = starttls is not None
    with handshake(server.port, client_context(ca.cert_path), starttls=upgrade) as session:
        assert session.greeting == GREETING
        assert session.version == "TLSv1.3"
        assert cipher_name(session) in TLS13_SUITES
        assert session.cipher == cipher_name(session)
        assert session.cert() == "none"
    with handshake(server.port, client_context(ca.cert_path, version=TLS12), starttls=upgrade) as session:
        assert session.version == "TLSv1.2"
        assert cipher_name(session) in INTERMEDIATE_ECDSA
        assert session.cipher in INTERMEDIATE_ECDSA
    assert sorted(end.version for end in server.ended(2)) == ["TLSv1.2", "TLSv1.3"]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_default_refuses_tls10_and_tls11(
    tls_server: ServerFactory, server_cert: Issued, version: ssl.TLSVersion
) -> None:
    server = tls_server(server_cert)
    # the client is at security level 0, so the refusal is the server's
    assert refused(server.port, client_context(version=version, seclevel0=True))
    [end] = server.ended(1)
    assert end.refused, end


def test_legacy_opt_in_allows_tls11(tls_server: ServerFactory, server_cert: Issued) -> None:
    server = tls_server(server_cert, protocols="+ALL:-TLSv1.0", allow_legacy_tls=True)
    assert [p.message for p in server.source.warnings if "RFC 8996" in p.message]
    with handshake(server.port, client_context(version=ssl.TLSVersion.TLSv1_1, seclevel0=True)) as session:
        assert session.version == "TLSv1.1"
    assert refused(server.port, client_context(version=ssl.TLSVersion.TLSv1, seclevel0=True))


def test_tls13_only_list(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    # the issue's example: +ALL:-SSLv3:-TLSv1.0:-TLSv1.1:-TLSv1.2
    server = tls_server(server_cert, protocols="+ALL:-SSLv3:-TLSv1.0:-TLSv1.1:-TLSv1.2")
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.version == "TLSv1.3"
    assert refused(server.port, client_context(ca.cert_path, version=TLS12))
    ends = server.ended(2)
    assert [end.version for end in ends if not end.refused] == ["TLSv1.3"]
    assert len([end for end in ends if end.refused]) == 1


def test_tls12_only_list(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(server_cert, protocols="+TLSv1.2")
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.version == "TLSv1.2"
    assert refused(server.port, client_context(ca.cert_path, version=TLS13))


def test_modern_profile(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(server_cert, profile="modern")
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.version == "TLSv1.3"
    assert refused(server.port, client_context(ca.cert_path, version=TLS12))


def test_non_forward_secret_and_cbc_suites_are_refused(tls_server: ServerFactory, ca: TestCA) -> None:
    rsa_cert = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    server = tls_server(rsa_cert)
    for cipher in ("AES128-GCM-SHA256", "AES256-SHA", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES128-GCM-SHA256"):
        assert refused(server.port, client_context(version=TLS12, ciphers=cipher, seclevel0=True)), cipher
    assert all(end.refused for end in server.ended(4))


def test_tls13_suites_setting(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(server_cert, ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.version == "TLSv1.3"
        assert cipher_name(session) == "TLS_CHACHA20_POLY1305_SHA256"
        assert session.cipher == "TLS_CHACHA20_POLY1305_SHA256"


def _s_client(port: int, *args: str) -> str:
    """``openssl s_client``; once connected it asks the session ``TLS?`` and quits."""
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "localhost",
            "-ign_eof",
            *args,
        ],
        input=b"TLS?\r\nQUIT\r\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_dhe_with_openssl_s_client(tls_server: ServerFactory, ca: TestCA, tmp_path: Path) -> None:
    rsa_cert = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    default = tls_server(rsa_cert)
    out = _s_client(default.port, "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-tls1_2")
    assert "Cipher is DHE-RSA-AES256-GCM-SHA384" not in out
    [end] = default.ended(1)
    assert end.refused, end

    with_dhe = tls_server(rsa_cert, dhe=True)  # RFC 7919 ffdhe2048
    out = _s_client(with_dhe.port, "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-tls1_2")
    assert "Cipher is DHE-RSA-AES256-GCM-SHA384" in out
    assert "Server Temp Key: DH, 2048 bits" in out
    assert "TLSv1.2/DHE-RSA-AES256-GCM-SHA384" in out  # the session's answer to TLS?
    assert [end.tls for end in with_dhe.ended(1)] == ["TLSv1.2/DHE-RSA-AES256-GCM-SHA384"]

    dhfile = tmp_path / "dh.pem"
    dhfile.write_bytes(certs.FFDHE2048_PEM)
    with_file = tls_server(rsa_cert, dhe=True, dhparams=dhfile)
    out = _s_client(with_file.port, "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-tls1_2")
    assert "Cipher is DHE-RSA-AES256-GCM-SHA384" in out
    assert "TLSv1.2/DHE-RSA-AES256-GCM-SHA384" in out


def peer_key_type(session: Session) -> str:
    der = session.tls.getpeercert(binary_form=True)
    assert der
    return certs.key_type_of(x509.load_der_x509_certificate(der).public_key())


@pytest.mark.parametrize("starttls", STARTTLS)
def test_rsa_and_ecdsa_certificates_side_by_side(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, starttls: str | None
) -> None:
    rsa_cert = ca.issue("rsa", ("localhost", "127.0.0.1"), key_type="rsa-2048")
    server = tls_server(
        server_cert, starttls=starttls, rsa_certificate=rsa_cert.cert_path, rsa_key=rsa_cert.key_path
    )
    assert [p for p in server.source.warnings if "expires in" not in p.message] == []  # test CA: 30 days
    upgrade = starttls is not None
    cases = {
        # TLS 1.2: the suite's authentication picks the certificate
        "ECDHE-ECDSA-AES128-GCM-SHA256": "ECDSA secp256r1",
        "ECDHE-RSA-AES128-GCM-SHA256": "RSA 2048 bits",
    }
    for cipher, key_type in cases.items():
        ctx = client_context(ca.cert_path, version=TLS12, ciphers=cipher)
        with handshake(server.port, ctx, starttls=upgrade) as session:
            assert session.greeting == GREETING
            assert (cipher_name(session), peer_key_type(session)) == (cipher, key_type)
    # a client that verifies both: the ECDSA one (preferred by clients and by OpenSSL)
    with handshake(server.port, client_context(ca.cert_path), starttls=upgrade) as session:
        assert session.version == "TLSv1.3"
        assert peer_key_type(session) == "ECDSA secp256r1"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls13_signature_algorithms_pick_the_certificate(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued
) -> None:
    rsa_cert = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    server = tls_server(server_cert, rsa_certificate=rsa_cert.cert_path, rsa_key=rsa_cert.key_path)
    out = _s_client(server.port, "-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256")
    assert "Peer signature type: RSA-PSS" in out and "Server public key is 2048 bit" in out
    out = _s_client(server.port, "-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256")
    assert "Peer signature type: ECDSA" in out and "Server public key is 256 bit" in out
    assert [end.version for end in server.ended(2)] == ["TLSv1.3", "TLSv1.3"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_dhe_needs_the_rsa_certificate_beside_the_ecdsa_one(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued
) -> None:
    dhe = ("-cipher", "DHE-RSA-AES128-GCM-SHA256", "-tls1_2")
    ecdsa_only = tls_server(server_cert, dhe=True)
    # said at start (and by config check), not left for the admin to find out
    [warning] = [p for p in ecdsa_only.source.warnings if p.key == "tls.dhe"]
    assert "DHE-RSA suites need an RSA certificate" in warning.message
    assert "rsa_certificate" in warning.fix
    assert "Cipher is DHE-RSA" not in _s_client(ecdsa_only.port, *dhe)
    assert ecdsa_only.ended(1)[0].refused

    rsa_cert = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    both = tls_server(server_cert, dhe=True, rsa_certificate=rsa_cert.cert_path, rsa_key=rsa_cert.key_path)
    assert [p.key for p in both.source.warnings if "expires in" not in p.message] == []
    out = _s_client(both.port, *dhe)
    assert "Cipher is DHE-RSA-AES128-GCM-SHA256" in out
    assert "Server public key is 2048 bit" in out
    assert "TLSv1.2/DHE-RSA-AES128-GCM-SHA256" in out  # the session's answer to TLS?
    # a TLS 1.2 client that takes ECDSA signatures only still gets the ECDSA certificate
    out = _s_client(both.port, "-tls1_2", "-sigalgs", "ECDSA+SHA256")
    assert "Cipher is ECDHE-ECDSA-" in out and "Server public key is 256 bit" in out
    dhe_end, ecdsa_end = both.ended(2)
    assert dhe_end.tls == "TLSv1.2/DHE-RSA-AES128-GCM-SHA256"
    assert ecdsa_end.tls.startswith("TLSv1.2/ECDHE-ECDSA-")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_curves_offered(tls_server: ServerFactory, server_cert: Issued) -> None:
    server = tls_server(server_cert)
    for group, accepted in (
        ("X25519", True),
        ("P-256", True),
        ("P-384", True),
        ("X448", False),
        ("P-521", False),
    ):
        out = _s_client(server.port, "-groups", group, "-tls1_3")
        assert ("Cipher is TLS_" in out) is accepted, (group, out[-400:])
        assert ("\nTLSv1.3/TLS_" in out) is accepted, (group, out[-400:])
    single = tls_server(server_cert, curves="secp384r1")
    assert "Cipher is" in _s_client(single.port, "-groups", "P-384", "-tls1_3")
    assert "Cipher is TLS_" not in _s_client(single.port, "-groups", "X25519", "-tls1_3")


# --- client certificates --------------------------------------------------------------


def with_client_cert(ctx: ssl.SSLContext, issued: Issued) -> ssl.SSLContext:
    ctx.load_cert_chain(str(issued.cert_path), str(issued.key_path))
    return ctx


@pytest.mark.parametrize("starttls", STARTTLS)
@pytest.mark.parametrize("version", [TLS12, TLS13])
def test_client_certificate_required(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, tmp_path: Path, version: ssl.TLSVersion,
    starttls: str | None,
) -> None:  # fmt: skip
    alice = ca.issue("alice", ("alice.example.org",), client=True)
    other_ca = TestCA(tmp_path / "other", name="other CA")
    mallory = other_ca.issue("mallory", ("alice.example.org",), client=True)
    server = tls_server(server_cert, starttls=starttls, verify_client="ca", ca=ca.cert_path)
    upgrade = starttls is not None

    alice_ctx = with_client_cert(client_context(ca.cert_path, version=version), alice)
    with handshake(server.port, alice_ctx, starttls=upgrade) as session:
        assert session.greeting == GREETING
        # what the session got: the verified certificate's facts
        assert session.cert() == certs.cert_fingerprint(alice.cert)
        assert session.cert("subject") == "CN=alice.example.org"
        assert session.cert("names") == "alice.example.org"

    mallory_ctx = with_client_cert(client_context(ca.cert_path, version=version), mallory)
    assert refused(server.port, mallory_ctx, starttls=upgrade)
    assert refused(server.port, client_context(ca.cert_path, version=version), starttls=upgrade)
    ends = server.ended(3)
    assert len([end for end in ends if not end.refused]) == 1
    assert sorted(end.outcome for end in ends if end.refused) == [
        "TLS handshake failed: CERTIFICATE_VERIFY_FAILED",  # mallory's, from another CA
        "TLS handshake failed: PEER_DID_NOT_RETURN_A_CERTIFICATE",
    ]


def test_client_certificate_optional(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, tmp_path: Path
) -> None:
    alice = ca.issue("alice", ("alice.example.org",), client=True)
    mallory = TestCA(tmp_path / "other", name="other CA").issue("mallory", ("m.example",), client=True)
    server = tls_server(server_cert, verify_client="optional", ca=ca.cert_path)
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.greeting == GREETING
        assert session.cert() == "none"
    with handshake(server.port, with_client_cert(client_context(ca.cert_path), alice)) as session:
        assert session.greeting == GREETING
        assert session.cert() == certs.cert_fingerprint(alice.cert)
    assert len(server.ended(2)) == 2
    assert refused(server.port, with_client_cert(client_context(ca.cert_path), mallory))
    assert server.ended(3)[2].refused


def test_no_client_certificate_asked_by_default(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued
) -> None:
    alice = ca.issue("alice", ("alice.example.org",), client=True)
    server = tls_server(server_cert)
    with handshake(server.port, with_client_cert(client_context(ca.cert_path), alice)) as session:
        assert session.greeting == GREETING
        assert session.cert() == "none"


# --- SNI --------------------------------------------------------------------------------


def peer_names(session: Session) -> list[str]:
    der = session.tls.getpeercert(binary_form=True)
    assert der
    return certs.names_of(x509.load_der_x509_certificate(der))


def test_sni_picks_the_certificate(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    net = ca.issue("net", ("mail.example.net",), key_type="rsa-2048")
    wild = ca.issue("wild", ("*.example.com",))
    sni = [sni_entry(net, "mail.example.net"), sni_entry(wild, "*.example.com")]
    server = tls_server(server_cert, sni=sni)
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
        with handshake(server.port, ctx, server_name=name) as session:
            assert session.greeting == GREETING
            assert peer_names(session) == expected, name
    # verifying clients accept each certificate for its name
    for name in ("mail.example.net", "pop.example.com", "localhost"):
        with handshake(server.port, client_context(ca.cert_path), server_name=name) as session:
            assert session.greeting == GREETING


def test_sni_entry_with_an_rsa_certificate_beside_its_ecdsa_one(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued
) -> None:
    net = ca.issue("net", ("mail.example.net",))
    net_rsa = ca.issue("net-rsa", ("mail.example.net",), key_type="rsa-2048")
    entry = sni_entry(net, "mail.example.net", rsa_certificate=net_rsa.cert_path, rsa_key=net_rsa.key_path)
    server = tls_server(server_cert, sni=[entry])
    for cipher, expected in (
        ("ECDHE-ECDSA-AES128-GCM-SHA256", (net.cert.serial_number, "ECDSA secp256r1")),
        ("ECDHE-RSA-AES128-GCM-SHA256", (net_rsa.cert.serial_number, "RSA 2048 bits")),
    ):
        ctx = client_context(ca.cert_path, version=TLS12, ciphers=cipher)
        with handshake(server.port, ctx, server_name="mail.example.net") as session:
            der = session.tls.getpeercert(binary_form=True)
            assert der
            assert (x509.load_der_x509_certificate(der).serial_number, peer_key_type(session)) == expected
    # the default certificate has no RSA companion: an RSA-only client is refused there
    rsa_only = client_context(ca.cert_path, version=TLS12, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    assert refused(server.port, rsa_only, server_name="localhost")
