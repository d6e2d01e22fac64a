"""`mailward cert fingerprint` against the real listener: implicit TLS and STARTTLS, pinning.

For STARTTLS the listener's line protocol plays the part of SMTP, IMAP or POP3 (its
role), as far as the probe's dialogue goes.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from integration.tls.conftest import ServerFactory
from mailward import files
from mailward.cli import cert_cmd
from mailward.tls import certs
from mailward.tls.probe import PinResult, check_pin, fetch_certificate, split_host_port
from support.inproc import run_cert as run
from support.pki import Issued, TestCA


@pytest.mark.parametrize("starttls", [None, "smtp", "imap", "pop3"])
def test_fingerprint_prints_the_certificate(
    tls_server: ServerFactory, server_cert: Issued, starttls: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server(server_cert, starttls=starttls)
    extra = ["--starttls", starttls] if starttls else []
    assert run("cert", "fingerprint", f"127.0.0.1:{server.port}", *extra) == 0
    out = capsys.readouterr().out
    assert f"SHA-256:     {certs.cert_fingerprint(server_cert.cert)}" in out
    assert f"SHA-1:       {certs.cert_fingerprint(server_cert.cert, 'sha1')}" in out
    assert "valid until:" in out and "TLSv1.3" in out
    [end] = server.ended(1)
    assert end.version == "TLSv1.3" and not end.refused


@pytest.mark.parametrize("starttls", [None, "smtp"])
def test_pin_first_use_match_and_mismatch(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, tmp_path: Path, starttls: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    server = tls_server(server_cert, starttls=starttls)
    pin = tmp_path / "pins"
    argv = ["cert", "fingerprint", f"127.0.0.1:{server.port}", "--pin", str(pin)]
    argv += ["--starttls", starttls] if starttls else []

    assert run(*argv) == 0
    assert "first use, recorded the public key (SPKI)" in capsys.readouterr().out
    assert stat.S_IMODE(pin.stat().st_mode) == 0o600
    spki = f'pin-sha256="{certs.spki_pin(server_cert.cert)}"'
    assert f"127.0.0.1:{server.port} {spki}\n" in pin.read_text()

    assert run(*argv) == 0
    assert "matches the public key (SPKI) recorded in" in capsys.readouterr().out

    other = ca.issue("other", ("localhost",))
    files.write_atomic(server_cert.key_path, other.key_path.read_bytes(), 0o600)
    files.write_atomic(server_cert.cert_path, other.cert_path.read_bytes(), 0o644)
    assert server.poll().problems == ()  # as serve's poller would, within seconds
    assert run(*argv) == cert_cmd.EXIT_PIN_MISMATCH
    captured = capsys.readouterr()
    assert "THE PUBLIC KEY OF" in captured.err and "HAS CHANGED" in captured.err
    assert f"recorded: {spki}\n" in captured.err
    assert f'now:      pin-sha256="{certs.spki_pin(other.cert)}"\n' in captured.err
    # the record is kept: a changed key is never pinned silently
    assert spki in pin.read_text()


@pytest.fixture
def self_signed(tmp_path: Path) -> Issued:
    """A pair `mailward cert create` wrote, so that `mailward cert renew` renews it."""
    prefix = tmp_path / "own" / "server"
    prefix.parent.mkdir()
    assert run("cert", "create", "--domain", "localhost", "--out", str(prefix)) == 0
    cert_path, key_path = certs.pair_paths(prefix)
    cert = certs.load_chain(cert_path.read_bytes())[0]
    key = certs.load_key(key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Issued(cert, key, cert_path, key_path)


def served(server_port: int) -> x509.Certificate:
    return x509.load_der_x509_certificate(fetch_certificate("127.0.0.1", server_port).der)


def test_spki_pin_survives_a_renewal_that_keeps_the_key(
    tls_server: ServerFactory, self_signed: Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server(self_signed)
    pin = tmp_path / "pins"
    argv = ["cert", "fingerprint", f"127.0.0.1:{server.port}", "--pin", str(pin)]
    assert run(*argv) == 0
    first = served(server.port)

    assert run("cert", "renew", str(self_signed.cert_path)) == 0  # keeps the key
    assert server.poll().problems == ()
    renewed = served(server.port)
    assert renewed.serial_number != first.serial_number
    assert certs.cert_fingerprint(renewed) != certs.cert_fingerprint(first)
    assert certs.spki_sha256(renewed) == certs.spki_sha256(first)
    capsys.readouterr()
    assert run(*argv) == 0
    assert "matches the public key (SPKI)" in capsys.readouterr().out

    assert run("cert", "renew", str(self_signed.cert_path), "--new-key") == 0
    assert server.poll().problems == ()
    assert certs.spki_sha256(served(server.port)) != certs.spki_sha256(first)
    assert run(*argv) == cert_cmd.EXIT_PIN_MISMATCH
    assert "THE PUBLIC KEY OF" in capsys.readouterr().err


def test_old_certificate_fingerprint_pins_are_read_and_upgraded(
    tls_server: ServerFactory, self_signed: Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server(self_signed)
    target = f"127.0.0.1:{server.port}"
    pin = tmp_path / "pins"
    # as earlier versions wrote it
    old = "# mailward cert fingerprint --pin: HOST:PORT SHA-256, recorded on first use\n"
    pin.write_text(old + f"other.example:993 AA:BB\n{target} {certs.cert_fingerprint(self_signed.cert)}\n")
    argv = ["cert", "fingerprint", target, "--pin", str(pin)]
    assert run(*argv) == 0
    out = capsys.readouterr().out
    assert "matches the certificate fingerprint recorded in" in out and "an older kind of pin" in out
    records = [line for line in pin.read_text().splitlines() if not line.startswith("#")]
    assert records == ["other.example:993 AA:BB", f'{target} pin-sha256="{certs.spki_pin(self_signed.cert)}"']
    # now a renewal with the same key passes
    assert run("cert", "renew", str(self_signed.cert_path)) == 0
    assert server.poll().problems == ()
    assert run(*argv) == 0
    assert "matches the public key (SPKI)" in capsys.readouterr().out

    # an old record that does not match says what kind it is
    pin.write_text(f"{target} {certs.cert_fingerprint(self_signed.cert)}\n")  # the certificate before renewal
    assert run(*argv) == cert_cmd.EXIT_PIN_MISMATCH
    err = capsys.readouterr().err
    assert "THE CERTIFICATE OF" in err and "older kind of pin" in err
    assert f"now:      {certs.cert_fingerprint(served(server.port))}" in err


def test_pin_kind_certificate_trips_on_every_renewal(
    tls_server: ServerFactory, self_signed: Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tls_server(self_signed)
    pin = tmp_path / "pins"
    argv = ["cert", "fingerprint", f"127.0.0.1:{server.port}", "--pin", str(pin), "--pin-kind", "certificate"]
    assert run(*argv) == 0
    assert "recorded the certificate's fingerprint" in capsys.readouterr().out
    assert f" {certs.cert_fingerprint(self_signed.cert)}\n" in pin.read_text()
    assert run(*argv) == 0
    records = [line for line in pin.read_text().splitlines() if not line.startswith("#")]
    assert records == [f"127.0.0.1:{server.port} {certs.cert_fingerprint(self_signed.cert)}"]  # not upgraded
    assert run("cert", "renew", str(self_signed.cert_path)) == 0
    assert server.poll().problems == ()
    assert run(*argv) == cert_cmd.EXIT_PIN_MISMATCH


def test_pin_file_keeps_other_servers(tmp_path: Path) -> None:
    pin = tmp_path / "pins"

    def check(host: str, port: int, spki: str) -> PinResult:
        return check_pin(pin, host, port, spki=spki, certificate="00:11")

    assert check("a.example", 993, "AA==").state == "first-use"
    assert check("b.example", 993, "BB==").state == "first-use"
    assert check("A.example", 993, "AA==").state == "match"
    result = check("b.example", 993, "CC==")
    assert (result.state, result.recorded, result.kind) == ("mismatch", 'pin-sha256="BB=="', "spki")
    assert check("b.example", 995, "CC==").state == "first-use"
    assert check("a.example", 993, "AA==").state == "match"


def test_fingerprint_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("cert", "fingerprint", "no-port") == 1
    assert "HOST:PORT" in capsys.readouterr().err
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert run("cert", "fingerprint", f"127.0.0.1:{port}", "--timeout", "5") == 1
    assert "cannot connect" in capsys.readouterr().err


def test_fingerprint_starttls_refused(
    tls_server: ServerFactory, server_cert: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    # the server speaks TLS at once; an SMTP dialogue gets no greeting
    server = tls_server(server_cert)
    assert run("cert", "fingerprint", f"127.0.0.1:{server.port}", "--starttls", "smtp", "--timeout", "1") == 1
    assert "mailward:" in capsys.readouterr().err
    # and a listener whose protocol greets otherwise is not taken for SMTP
    pop3 = tls_server(server_cert, starttls="pop3")
    assert run("cert", "fingerprint", f"127.0.0.1:{pop3.port}", "--starttls", "smtp") == 1
    assert "no SMTP greeting" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail.example.org:993", ("mail.example.org", 993)),
        ("[::1]:25", ("::1", 25)),
        ("127.0.0.1:465", ("127.0.0.1", 465)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected
