"""`mailward cert fingerprint` against the real listener: implicit TLS and STARTTLS, pinning.

For STARTTLS the listener's line protocol plays the part of SMTP, IMAP or POP3 (its
role), as far as the probe's dialogue goes.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from integration.tls.conftest import ServerFactory
from mailward import files
from mailward.cli import cert_cmd
from mailward.tls import certs
from mailward.tls.probe import check_pin, split_host_port
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
    assert "first use, recorded" in capsys.readouterr().out
    assert stat.S_IMODE(pin.stat().st_mode) == 0o600
    assert f"127.0.0.1:{server.port} {certs.cert_fingerprint(server_cert.cert)}" in pin.read_text()

    assert run(*argv) == 0
    assert "matches" in capsys.readouterr().out

    other = ca.issue("other", ("localhost",))
    files.write_atomic(server_cert.key_path, other.key_path.read_bytes(), 0o600)
    files.write_atomic(server_cert.cert_path, other.cert_path.read_bytes(), 0o644)
    assert server.poll().problems == ()  # as serve's poller would, within seconds
    assert run(*argv) == cert_cmd.EXIT_PIN_MISMATCH
    captured = capsys.readouterr()
    assert "HAS CHANGED" in captured.err
    assert certs.cert_fingerprint(server_cert.cert) in captured.err
    assert certs.cert_fingerprint(other.cert) in captured.err
    # the record is kept: a changed certificate is never pinned silently
    assert certs.cert_fingerprint(server_cert.cert) in pin.read_text()


def test_pin_file_keeps_other_servers(tmp_path: Path) -> None:
    pin = tmp_path / "pins"
    assert check_pin(pin, "a.example", 993, "AA").state == "first-use"
    assert check_pin(pin, "b.example", 993, "BB").state == "first-use"
    assert check_pin(pin, "A.example", 993, "AA").state == "match"
    result = check_pin(pin, "b.example", 993, "CC")
    assert (result.state, result.recorded) == ("mismatch", "BB")
    assert check_pin(pin, "b.example", 995, "CC").state == "first-use"


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
