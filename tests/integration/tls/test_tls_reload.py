"""Reload on the real server: new connections get new material, open ones stay up, broken
files change nothing. The server reloads the way ``serve`` does: its certificate poller
(:meth:`Server.poll_certificates`) and SIGHUP (:meth:`Server.reload` with the re-read file).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from integration.tls.conftest import ServerFactory, listener_table, tls_table, toml_value
from integration.tls.tls_helpers import Session, client_context, handshake, refused
from mailward import files
from mailward.config.problems import ConfigError
from mailward.server.app import ReloadReport
from mailward.tls import certs
from support.pki import Issued, TestCA


def serial_of(session: Session) -> int:
    der = session.tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der).serial_number


def replace_pair(target: Issued, new: Issued) -> None:
    """Install ``new``'s files at ``target``'s paths the way `mailward cert renew` does."""
    files.write_atomic(target.key_path, new.key_path.read_bytes(), 0o600)
    files.write_atomic(target.cert_path, new.cert_path.read_bytes(), 0o644)


def test_reload_swaps_for_new_connections_and_keeps_open_ones(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, tmp_path: Path
) -> None:
    server = tls_server(server_cert)
    src = server.source
    with handshake(server.port, client_context(ca.cert_path)) as first:
        assert first.version == "TLSv1.3"
        assert serial_of(first) == server_cert.cert.serial_number
        assert not src.changed_on_disk()
        assert server.poll().applied == ()  # nothing changed, nothing re-read

        renewed = TestCA(tmp_path / "next", name="next CA").issue("server", ("localhost",))
        replace_pair(server_cert, renewed)
        assert src.changed_on_disk()
        old_context = src.current()
        report = server.poll()
        assert report.problems == ()
        assert report.applied == (f"listener {server.name}: certificates re-read",)
        assert src.current() is not old_context
        assert not src.changed_on_disk()

        with handshake(server.port, client_context(tmp_path / "next" / "next-CA.crt")) as second:
            assert serial_of(second) == renewed.cert.serial_number
        # the connection opened before the reload is still up, on its old certificate
        assert first.command("ECHO still there?") == "still there?"
        assert serial_of(first) == server_cert.cert.serial_number


def test_broken_file_is_reported_and_the_old_material_stays(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued
) -> None:
    server = tls_server(server_cert)
    src = server.source
    before = src.current()
    server_cert.cert_path.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    assert src.changed_on_disk()
    report = server.poll()
    assert [p.key for p in report.problems] == ["tls.certificate"]
    assert report.applied == ()
    assert src.current() is before
    assert not src.changed_on_disk()  # the same broken file is not retried on every poll
    assert server.poll() == ReloadReport()
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.version == "TLSv1.3"
        assert serial_of(session) == server_cert.cert.serial_number


def test_key_of_another_pair_and_loose_mode_keep_the_old_material(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued
) -> None:
    server = tls_server(server_cert)
    src = server.source
    before = src.current()
    other = ca.issue("other", ("localhost",))
    files.write_atomic(server_cert.key_path, other.key_path.read_bytes(), 0o600)  # key only: mismatch
    assert src.changed_on_disk()
    assert any("is not the key of" in p.message for p in server.poll().problems)
    assert src.current() is before
    files.write_atomic(server_cert.cert_path, other.cert_path.read_bytes(), 0o644)  # now the pair matches
    os.chmod(server_cert.key_path, 0o644)
    assert [p.fix for p in server.poll().problems] == [f"chmod 600 {server_cert.key_path}"]
    assert src.current() is before
    assert not src.changed_on_disk()
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert serial_of(session) == server_cert.cert.serial_number
    os.chmod(server_cert.key_path, 0o600)
    assert src.changed_on_disk()  # the fix is noticed without a SIGHUP
    assert server.poll().problems == ()
    assert src.current() is not before
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert serial_of(session) == other.cert.serial_number


def test_reload_with_new_settings(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    server = tls_server(server_cert)
    report = server.reload(tls_server.config_text(server_cert, {"protocols": "+SSLv3"}, name=server.name))
    assert report.problems[0].key == "tls.protocols"
    assert server.source.settings.protocols == "+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1"
    with handshake(server.port, client_context(ca.cert_path, version=ssl.TLSVersion.TLSv1_2)) as session:
        assert session.version == "TLSv1.2"  # the old settings still serve

    report = server.reload(tls_server.config_text(server_cert, {"profile": "modern"}, name=server.name))
    assert report.problems == ()
    assert "tls" in report.applied and report.needs_restart == ()
    assert server.source.settings.profile == "modern"
    assert server.source.current().minimum_version == ssl.TLSVersion.TLSv1_3
    assert refused(server.port, client_context(ca.cert_path, version=ssl.TLSVersion.TLSv1_2))
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert session.version == "TLSv1.3"


def test_changed_on_disk_covers_every_file(
    tls_server: ServerFactory, ca: TestCA, server_cert: Issued, tmp_path: Path
) -> None:
    dh = tmp_path / "dh.pem"
    dh.write_bytes(certs.FFDHE2048_PEM)
    server = tls_server(server_cert, verify_client="ca", ca=ca.cert_path, dhe=True, dhparams=dh)
    src = server.source
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
        report = server.poll()
        assert report.problems == ()
        assert report.applied == (f"listener {server.name}: certificates re-read",)


def test_first_build_failure_raises_with_every_problem(
    tls_server: ServerFactory, server_cert: Issued, tmp_path: Path
) -> None:
    missing = {"certificate": tmp_path / "a.crt", "key": tmp_path / "a.key"}
    text = (
        f"data_dir = {toml_value(tmp_path)}\n"
        + listener_table("first", None)
        + listener_table("second", "plain")
        + listener_table("third", None)
        + tls_table(server_cert, missing, table="listener.tls_options")
        + tls_table(server_cert, {})
    )
    with pytest.raises(ConfigError) as info:
        tls_server.from_config(text)
    assert [p.key for p in info.value.problems] == [
        "listener[2].tls_options.certificate",
        "listener[2].tls_options.key",
    ]


def test_rsa_pair_is_watched_and_reloaded(tls_server: ServerFactory, ca: TestCA, server_cert: Issued) -> None:
    rsa_pair = ca.issue("rsa", ("localhost",), key_type="rsa-2048")
    server = tls_server(server_cert, rsa_certificate=rsa_pair.cert_path, rsa_key=rsa_pair.key_path)
    src = server.source
    assert {str(rsa_pair.cert_path), str(rsa_pair.key_path)} <= set(src.files)
    rsa_client = client_context(ca.cert_path, version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256")

    # an ECDSA pair written where the RSA one belongs: refused, the old pair keeps serving
    before = src.current()
    replace_pair(rsa_pair, ca.issue("ecdsa", ("localhost",)))
    assert [p.key for p in server.poll().problems] == ["tls.rsa_certificate"]
    assert src.current() is before
    with handshake(server.port, rsa_client) as session:
        assert serial_of(session) == rsa_pair.cert.serial_number

    renewed = ca.issue("rsa-next", ("localhost",), key_type="rsa-2048")
    replace_pair(rsa_pair, renewed)
    report = server.poll()
    assert report.problems == ()
    assert report.applied == (f"listener {server.name}: certificates re-read",)
    with handshake(server.port, rsa_client) as session:
        assert serial_of(session) == renewed.cert.serial_number
    with handshake(server.port, client_context(ca.cert_path)) as session:
        assert serial_of(session) == server_cert.cert.serial_number  # the ECDSA one, unchanged
