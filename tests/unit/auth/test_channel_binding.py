"""tls-exporter (RFC 9266) from Python's ssl objects, checked against OpenSSL's own tool."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from mailward.auth.channel_binding import tls_exporter
from support.pki import TestCA


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    server = ca.issue("server", ("localhost", "127.0.0.1"))
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(server.cert_path, server.key_path)
    cctx = ssl.create_default_context(cafile=str(ca.cert_path))
    return sctx, cctx


def handshake(
    sctx: ssl.SSLContext, cctx: ssl.SSLContext, version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    cctx.maximum_version = version
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = sctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = cctx.wrap_bio(bios[2], bios[3], server_hostname="localhost")
    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        bios[2].write(bios[1].read())
        bios[0].write(bios[3].read())
    assert server.version() == client.version()
    return server, client


def test_both_ends_agree(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, client = handshake(*contexts)
    assert server.version() == "TLSv1.3"
    ours, theirs = tls_exporter(server), tls_exporter(client)
    assert ours is not None and len(ours) == 32
    assert ours == theirs
    other, _ = handshake(*contexts)
    assert tls_exporter(other) != ours  # per connection


def test_no_binding_on_tls_1_2(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, _ = handshake(*contexts, ssl.TLSVersion.TLSv1_2)
    assert server.version() == "TLSv1.2"
    assert tls_exporter(server) is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_matches_openssl_s_client(contexts: tuple[ssl.SSLContext, ssl.SSLContext], tmp_path: Path) -> None:
    """An independent implementation (OpenSSL's s_client -keymatexport) derives the same bytes."""
    sctx, _ = contexts
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    result: dict[str, bytes | None] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            result["server"] = tls_exporter(tls)
            with contextlib.suppress(ssl.SSLError, OSError):
                tls.recv(1)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        out = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3",
             "-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False,
        ).stdout
    finally:
        thread.join(timeout=30)
        listener.close()
    match = re.search(r"Keying material: ([0-9A-F]+)", out)
    assert match, out
    assert result["server"] == bytes.fromhex(match.group(1))


def test_scram_plus_over_a_real_tls_connection(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """Client and server each take the binding from their own end of one TLS 1.3 connection."""
    import base64
    import hashlib
    import hmac

    from mailward.auth.passwords import Credentials, scram_keys
    from mailward.auth.sasl import Challenge, ConnectionFacts, Success, create_mechanism

    server, client = handshake(*contexts)
    facts = ConnectionFacts("tls-only", True, tls_exporter(server))
    assert "SCRAM-SHA-256-PLUS" in facts.allowed()
    mech = create_mechanism("SCRAM-SHA-256-PLUS", facts)
    assert mech is not None
    header, bare = "p=tls-exporter,,", "n=alice,r=cnonce"
    mech.start((header + bare).encode())
    keys = scram_keys("pencil", iterations=4096)
    step = mech.credentials(Credentials("$argon2id$unused", keys))
    assert isinstance(step, Challenge)
    server_first = step.data.decode()
    nonce = server_first.split(",")[0][2:]
    cb = base64.b64encode(header.encode() + (tls_exporter(client) or b"")).decode()
    without_proof = f"c={cb},r={nonce}"
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", keys.salt, keys.iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    assert isinstance(mech.receive(f"{without_proof},p={proof}".encode()), Success)
