"""Outbound TLS contexts and peer judgement against real TLS servers on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.config.tls import TlsSettings
from mailward.tls import certs
from mailward.tls.outbound import (
    OutboundMode,
    PeerIdentity,
    Pin,
    TofuDecision,
    build_client_context,
    judge_peer,
    parse_mode,
    parse_pin,
    parse_pins,
    peer_identity,
    tofu_decision,
)
from mailward.tls.policy import Policy, resolve_policy
from support.pki import Issued, TestCA, new_key

TIMEOUT = 10.0


class TlsServer:
    """Accepts TLS connections on 127.0.0.1 with one certificate; each gets a handshake and "ok"."""

    def __init__(self, cert: Path, key: Path, *, maximum: ssl.TLSVersion | None = None) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if maximum is not None:
            self.ctx.maximum_version = maximum
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # polls the stop flag between accepts
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 120  # bounded in time as well as in connections
        served = 0
        while not self.stop.is_set() and served < 100 and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            served += 1
            try:
                conn.settimeout(TIMEOUT)
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (OSError, ssl.SSLError):
                pass  # the client refused us: that is what some tests want
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=TIMEOUT)
        self.sock.close()


def connect(port: int, ctx: ssl.SSLContext, host: str = "localhost") -> PeerIdentity | None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        assert tls.recv(2) == b"ok"
        return peer_identity(tls)


def self_signed(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    key = new_key()
    cert = certs.self_signed(key, [name], 30)
    cert_path, key_path = directory / f"{name}-self.crt", directory / f"{name}-self.key"
    cert_path.write_bytes(certs.cert_pem(cert))
    key_path.write_bytes(certs.key_pem(key))
    return cert_path, key_path


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
def issued(ca: TestCA) -> Issued:
    return ca.issue("mx", ("localhost", "mx.test"))


@pytest.fixture
def server(issued: Issued) -> Iterator[TlsServer]:
    srv = TlsServer(issued.cert_path, issued.key_path)
    yield srv
    srv.close()


def policy(**kw: str) -> Policy:
    resolved, problems = resolve_policy(TlsSettings(**kw), "relay.tls")  # type: ignore[arg-type]
    assert resolved is not None, problems
    return resolved


def test_verify_accepts_a_certificate_from_the_ca(server: TlsServer, ca: TestCA, issued: Issued) -> None:
    ctx = build_client_context(policy(), OutboundMode.VERIFY, ca_file=str(ca.cert_path))
    peer = connect(server.port, ctx, "mx.test")
    assert peer is not None and peer.verified
    assert peer.sha256 == certs.cert_fingerprint(issued.cert)
    assert peer.spki_sha256 == certs.spki_sha256(issued.cert)
    assert "mx.test" in peer.names and peer.version in ("TLSv1.2", "TLSv1.3") and peer.cipher
    assert judge_peer(OutboundMode.VERIFY, peer, tls=True).accept


def test_verify_refuses_a_self_signed_peer(tmp_path: Path, ca: TestCA) -> None:
    srv = TlsServer(*self_signed(tmp_path))
    try:
        ctx = build_client_context(policy(), OutboundMode.VERIFY, ca_file=str(ca.cert_path))
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(srv.port, ctx)
        # the system's CAs do not know it either
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(srv.port, build_client_context(policy(), OutboundMode.VERIFY))
    finally:
        srv.close()


def test_verify_refuses_the_wrong_host_name(server: TlsServer, ca: TestCA) -> None:
    ctx = build_client_context(policy(), OutboundMode.VERIFY, ca_file=str(ca.cert_path))
    with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname"):
        connect(server.port, ctx, "other.test")


def test_opportunistic_and_required_take_any_certificate(tmp_path: Path) -> None:
    srv = TlsServer(*self_signed(tmp_path))
    try:
        for mode in (OutboundMode.OPPORTUNISTIC, OutboundMode.REQUIRED):
            peer = connect(srv.port, build_client_context(policy(), mode))
            assert peer is not None and not peer.verified
            assert judge_peer(mode, peer, tls=True).accept
    finally:
        srv.close()
    assert judge_peer(OutboundMode.OPPORTUNISTIC, None, tls=False).accept
    for mode in (OutboundMode.REQUIRED, OutboundMode.VERIFY, OutboundMode.PINNED, OutboundMode.TOFU):
        verdict = judge_peer(mode, None, tls=False)
        assert not verdict.accept and verdict.temporary and "STARTTLS" in verdict.reason


def test_pinned_accepts_the_pinned_certificate_and_defers_a_changed_one(
    server: TlsServer, issued: Issued, ca: TestCA
) -> None:
    ctx = build_client_context(policy(), OutboundMode.PINNED)
    peer = connect(server.port, ctx)
    assert peer is not None and not peer.verified
    cert_pin = parse_pin("sha256:" + certs.cert_fingerprint(issued.cert).replace(":", "").lower())
    spki_pin = parse_pin("pin-sha256:" + certs.spki_pin(issued.cert))
    assert cert_pin is not None and spki_pin is not None and spki_pin.kind == "spki"
    assert judge_peer(OutboundMode.PINNED, peer, tls=True, pins=(cert_pin,)).accept
    assert judge_peer(OutboundMode.PINNED, peer, tls=True, pins=(spki_pin,)).accept
    # a new certificate on the same host: no pin matches
    other = ca.issue("mx2", ("localhost",))
    srv = TlsServer(other.cert_path, other.key_path)
    try:
        changed = connect(srv.port, ctx)
    finally:
        srv.close()
    verdict = judge_peer(OutboundMode.PINNED, changed, tls=True, pins=(cert_pin, spki_pin))
    assert not verdict.accept and verdict.temporary and "matches no pin" in verdict.reason
    assert not judge_peer(OutboundMode.PINNED, peer, tls=True, pins=()).accept


def test_tofu_records_then_matches_then_defers_on_change(server: TlsServer, ca: TestCA) -> None:
    ctx = build_client_context(policy(), OutboundMode.TOFU)
    first = connect(server.port, ctx)
    assert first is not None
    verdict = judge_peer(OutboundMode.TOFU, first, tls=True, stored=None)
    assert verdict.accept and verdict.record == first.sha256
    again = connect(server.port, ctx)
    assert judge_peer(OutboundMode.TOFU, again, tls=True, stored=verdict.record).accept
    other = ca.issue("mx3", ("localhost",))
    srv = TlsServer(other.cert_path, other.key_path)
    try:
        changed = connect(srv.port, ctx)
    finally:
        srv.close()
    refused = judge_peer(OutboundMode.TOFU, changed, tls=True, stored=verdict.record)
    assert not refused.accept and refused.temporary and "CERTIFICATE CHANGED" in refused.reason
    assert refused.record is None


def test_tofu_decision_is_pure() -> None:
    fp = "AB:" * 31 + "CD"
    assert tofu_decision(None, fp) is TofuDecision.FIRST_USE
    assert tofu_decision(fp.replace(":", "").lower(), fp) is TofuDecision.MATCH
    assert tofu_decision("AB:" * 31 + "CE", fp) is TofuDecision.CHANGED


def test_the_policy_grammar_bounds_the_client(issued: Issued) -> None:
    srv = TlsServer(issued.cert_path, issued.key_path, maximum=ssl.TLSVersion.TLSv1_2)
    try:
        tls13_only = build_client_context(policy(protocols="+TLSv1.3"), OutboundMode.OPPORTUNISTIC)
        assert tls13_only.minimum_version is ssl.TLSVersion.TLSv1_3
        with pytest.raises(ssl.SSLError):
            connect(srv.port, tls13_only)
        peer = connect(srv.port, build_client_context(policy(), OutboundMode.OPPORTUNISTIC))
        assert peer is not None and peer.version == "TLSv1.2"
    finally:
        srv.close()


def test_parse_mode_and_pins() -> None:
    assert parse_mode(" Verify ", "route[0].tls") == (OutboundMode.VERIFY, [])
    mode, problems = parse_mode("dane", "route[0].tls")
    assert mode is None and problems[0].key == "route[0].tls" and "tofu" in problems[0].fix
    hex64 = "0123456789abcdef" * 4
    pins, problems = parse_pins([f"sha256:{hex64}", f"spki-sha256:{hex64}", "sha256:abc", "md5:00"], "route[0].pins")
    assert pins == (
        Pin("cert", ":".join(hex64.upper()[i : i + 2] for i in range(0, 64, 2))),
        Pin("spki", ":".join(hex64.upper()[i : i + 2] for i in range(0, 64, 2))),
    )
    assert [p.key for p in problems] == ["route[0].pins[2]", "route[0].pins[3]"]
    assert parse_pin("pin-sha256:not base64!") is None
    assert parse_pin("pin-sha256:AAAA") is None  # 3 bytes, not 32
    assert parse_pin("nocolon") is None
