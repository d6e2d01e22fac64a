"""Reload: new connections get new material, open ones stay up, broken files change nothing."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509

from integration.tls.tls_helpers import client_context, handshake, read_line, settings_for
from mailward import files
from mailward.config.problems import ConfigError, Severity, errors
from mailward.tls import certs
from mailward.tls.context import ServerContextSource
from support.pki import Issued, TestCA

if TYPE_CHECKING:
    from integration.tls.conftest import TlsTestServer

Serve = Callable[..., "TlsTestServer"]


def serial_of(tls: ssl.SSLSocket) -> int:
    der = tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der).serial_number


def replace_pair(target: Issued, new: Issued) -> None:
    """Install ``new``'s files at ``target``'s paths the way `mailward cert renew` does."""
    files.write_atomic(target.key_path, new.key_path.read_bytes(), 0o600)
    files.write_atomic(target.cert_path, new.cert_path.read_bytes(), 0o644)


def test_reload_swaps_for_new_connections_and_keeps_open_ones(
    tls_server: Serve, ca: TestCA, server_cert: Issued, tmp_path: Path
) -> None:
    src = ServerContextSource(settings_for(server_cert))
    server = tls_server(src)
    line, first = handshake(server.port, client_context(ca.cert_path))
    with first:
        assert line == "OK TLSv1.3"
        assert serial_of(first) == server_cert.cert.serial_number
        assert not src.changed_on_disk()

        renewed = TestCA(tmp_path / "next", name="next CA").issue("server", ("localhost",))
        replace_pair(server_cert, renewed)
        assert src.changed_on_disk()
        old_context = src.current()
        assert [p for p in src.reload() if p.severity is Severity.ERROR] == []
        assert src.current() is not old_context
        assert not src.changed_on_disk()

        line, second = handshake(server.port, client_context(tmp_path / "next" / "next-CA.crt"))
        with second:
            assert serial_of(second) == renewed.cert.serial_number
        # the connection opened before the reload is still up, on its old certificate
        first.sendall(b"still there?\r\n")
        assert read_line(first) == "still there?"
        assert serial_of(first) == server_cert.cert.serial_number


def test_broken_file_is_reported_and_the_old_material_stays(
    tls_server: Serve, ca: TestCA, server_cert: Issued
) -> None:
    src = ServerContextSource(settings_for(server_cert))
    server = tls_server(src)
    before = src.current()
    server_cert.cert_path.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    assert src.changed_on_disk()
    problems = src.reload()
    assert [p.key for p in problems if p.severity is Severity.ERROR] == ["tls.certificate"]
    assert src.current() is before
    assert not src.changed_on_disk()  # the same broken file is not retried on every poll
    line, tls = handshake(server.port, client_context(ca.cert_path))
    with tls:
        assert line == "OK TLSv1.3"
        assert serial_of(tls) == server_cert.cert.serial_number


def test_key_of_another_pair_and_loose_mode_keep_the_old_material(ca: TestCA, server_cert: Issued) -> None:
    src = ServerContextSource(settings_for(server_cert))
    before = src.current()
    other = ca.issue("other", ("localhost",))
    files.write_atomic(server_cert.key_path, other.key_path.read_bytes(), 0o600)  # key only: mismatch
    assert src.changed_on_disk()
    assert any("is not the key of" in p.message for p in src.reload())
    assert src.current() is before
    files.write_atomic(server_cert.cert_path, other.cert_path.read_bytes(), 0o644)  # now the pair matches
    os.chmod(server_cert.key_path, 0o644)
    problems = errors(src.reload())
    assert [p.fix for p in problems] == [f"chmod 600 {server_cert.key_path}"]
    assert src.current() is before
    assert not src.changed_on_disk()
    os.chmod(server_cert.key_path, 0o600)
    assert src.changed_on_disk()  # the fix is noticed without a SIGHUP
    assert errors(src.reload()) == []
    assert src.current() is not before


def test_reload_with_new_settings(ca: TestCA, server_cert: Issued) -> None:
    src = ServerContextSource(settings_for(server_cert))
    assert src.reload(settings_for(server_cert, protocols="+SSLv3"))[0].key == "tls.protocols"
    assert src.settings.protocols == "+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1"
    assert errors(src.reload(settings_for(server_cert, profile="modern"))) == []
    assert src.settings.profile == "modern"
    assert src.current().minimum_version == ssl.TLSVersion.TLSv1_3


def test_changed_on_disk_covers_every_file(ca: TestCA, server_cert: Issued, tmp_path: Path) -> None:
    dh = tmp_path / "dh.pem"
    dh.write_bytes(certs.FFDHE2048_PEM)
    src = ServerContextSource(
        settings_for(server_cert, verify_client="ca", ca=str(ca.cert_path), dhe=True, dhparams=str(dh))
    )
    assert set(src.files) == {
        str(server_cert.cert_path),
        str(server_cert.key_path),
        str(ca.cert_path),
        str(dh),
    }
    for path in (ca.cert_path, dh):
        assert not src.changed_on_disk()
        files.write_atomic(Path(path), Path(path).read_bytes(), 0o644)
        assert src.changed_on_disk()
        assert errors(src.reload()) == []


def test_first_build_failure_raises_with_every_problem(tmp_path: Path) -> None:
    from mailward.config.tls import TlsSettings

    with pytest.raises(ConfigError) as info:
        ServerContextSource(
            TlsSettings(certificate=str(tmp_path / "a.crt"), key=str(tmp_path / "a.key")),
            key_prefix="listener[2].tls_options",
        )
    assert [p.key for p in info.value.problems] == [
        "listener[2].tls_options.certificate",
        "listener[2].tls_options.key",
    ]
