"""Keys encrypted at rest: `mailward cert create|renew --passphrase secret:NAME`, and the real
server serving them with ``key_passphrase = "secret:NAME"`` from the sealed secret store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from integration.tls.conftest import RunningServer, ServerFactory, listener_table, toml_value
from integration.tls.tls_helpers import client_context, handshake
from mailward.config import ConfigError, Severity
from mailward.config.secrets import SecretsSettings
from mailward.secrets import SecretPaths, create_master_key, locked, open_locked
from mailward.tls import certs
from support import lineproto
from support.inproc import mode
from support.inproc import run_cert as run
from support.pki import Issued, TestCA

ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
PASSPHRASE = "correct horse battery staple"


def set_secret(data_dir: Path, name: str, value: str) -> None:
    """What `mailward secret set NAME` does."""
    paths = SecretPaths.of(SecretsSettings(), data_dir)
    if not paths.key_file.exists():
        create_master_key(paths.key_file)
    with locked(paths.store_file):
        store = open_locked(paths, {})
        store.set(name, value)
        store.save()


def config_text(data_dir: Path, passphrase: str = "secret:tlskey") -> str:
    """One implicit-TLS listener of the line protocol on [tls] (certs/server.crt and .key)."""
    tls = f'[tls]\nkey_passphrase = "{passphrase}"\n' if passphrase else ""
    return (
        f'data_dir = {toml_value(data_dir)}\nhostname = "localhost"\n' + listener_table("secure", None) + tls
    )


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with a master key and the secret tlskey; the CLI knows the line protocol."""
    monkeypatch.setattr("mailward.cli.common.protocol_rules", lambda: {lineproto.NAME: lineproto.SPEC.rules})
    for variable in ("MAILWARD_CONFIG", "MAILWARD_MASTER_KEY", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(variable, raising=False)
    data = tmp_path / "data"
    set_secret(data, "tlskey", PASSPHRASE)
    return data


@pytest.fixture
def config(data_dir: Path) -> Path:
    path = data_dir.parent / "mailward.toml"
    path.write_text(config_text(data_dir))
    return path


def pair(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / "certs" / "server.crt", data_dir / "certs" / "server.key"


def serve(tls_server: ServerFactory, data_dir: Path, passphrase: str = "secret:tlskey") -> RunningServer:
    return tls_server.from_config(config_text(data_dir, passphrase))


def serial_seen(server: RunningServer, crt: Path) -> int:
    """Handshake with the listener, trusting ``crt``; the serial number the session was served."""
    with handshake(server.port, client_context(crt)) as session:
        assert session.version == "TLSv1.3"
        der = session.tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der).serial_number


def test_create_with_passphrase_writes_an_encrypted_key(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "out" / "mail"
    argv = ["cert", "create", "-c", str(config), "--domain", "mail.example.org", "--out", str(prefix)]
    assert run(*argv, "--passphrase", "secret:tlskey") == 0
    key = prefix.with_name("mail.key")
    data = key.read_bytes()
    assert data.startswith(ENCRYPTED)
    assert mode(key) == 0o600
    with pytest.raises(certs.KeyPassphraseNeeded):
        certs.load_key(data, None)
    with pytest.raises(ValueError):
        certs.load_key(data, "wrong")
    cert = certs.load_chain(prefix.with_name("mail.crt").read_bytes())[0]
    assert certs.public_der(certs.load_key(data, PASSPHRASE)) == certs.public_der(cert)
    out = capsys.readouterr().out
    assert "(0600, encrypted with secret:tlskey)" in out
    assert 'key_passphrase = "secret:tlskey"' in out
    assert PASSPHRASE not in out


def test_create_for_the_config_uses_its_key_passphrase_and_serves(
    config: Path, data_dir: Path, tls_server: ServerFactory
) -> None:
    assert run("cert", "create", "-c", str(config)) == 0  # [tls] names key_passphrase
    crt, key = pair(data_dir)
    assert key.read_bytes().startswith(ENCRYPTED) and mode(key) == 0o600
    server = serve(tls_server, data_dir)
    assert server.source.warnings == ()
    cert = certs.load_chain(crt.read_bytes())[0]
    assert serial_seen(server, crt) == cert.serial_number


def test_serving_with_a_missing_or_wrong_secret_is_an_error(
    config: Path, data_dir: Path, tls_server: ServerFactory
) -> None:
    assert run("cert", "create", "-c", str(config)) == 0
    with pytest.raises(ConfigError) as info:
        serve(tls_server, data_dir, "secret:nope")
    [problem] = info.value.problems
    assert problem.key == "tls.key_passphrase"
    assert 'secret "nope"' in problem.message and "mailward secret set nope" in problem.fix

    set_secret(data_dir, "other", "not the passphrase")
    with pytest.raises(ConfigError) as info:
        serve(tls_server, data_dir, "secret:other")
    assert [p.key for p in info.value.problems] == ["tls.key"]
    assert "passphrase is wrong" in info.value.problems[0].message


def test_create_with_a_missing_secret_fails_and_writes_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "out" / "mail"
    argv = ["cert", "create", "-c", str(config), "--domain", "m.example", "--out", str(prefix)]
    assert run(*argv, "--passphrase", "secret:nope") == 1
    err = capsys.readouterr().err
    assert 'secret "nope" is not in the sealed store' in err
    assert "mailward secret set nope" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["create", "renew"])
def test_a_passphrase_in_argv_is_refused(
    config: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--domain", "m.example", "--out", str(tmp_path / "m")] if command == "create" else ["x.crt"]
    for given in ("hunter2", "secret:", "secret:two words"):
        with pytest.raises(SystemExit) as info:
            run("cert", command, "-c", str(config), *target, "--passphrase", given)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "secret:NAME" in err and "mailward secret set NAME" in err
        assert "hunter2" not in err  # never echoed back into a terminal log
    assert not (tmp_path / "m.key").exists()


def test_renew_keeps_the_encrypted_key(
    config: Path, data_dir: Path, tls_server: ServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("cert", "create", "-c", str(config)) == 0
    crt, key = pair(data_dir)
    before = key.read_bytes()
    server = serve(tls_server, data_dir)
    # the listener's key_passphrase opens the key
    assert run("cert", "renew", "-c", str(config), "--listener", "secure") == 0
    assert key.read_bytes() == before  # the same key, still encrypted
    renewed = certs.load_chain(crt.read_bytes())[0]
    assert certs.public_der(renewed) == certs.public_der(certs.load_key(before, PASSPHRASE))
    # a file without a listener: the passphrase is needed, and only the right one will do
    capsys.readouterr()
    assert run("cert", "renew", str(crt)) == 1
    assert "is encrypted: give --passphrase secret:NAME" in capsys.readouterr().err
    set_secret(data_dir, "other", "not the passphrase")
    assert run("cert", "renew", "-c", str(config), str(crt), "--passphrase", "secret:other") == 1
    assert "cannot be decrypted with secret:other" in capsys.readouterr().err
    assert run("cert", "renew", "-c", str(config), str(crt), "--passphrase", "secret:tlskey") == 0
    assert key.read_bytes() == before
    # the running server takes the renewed certificate with the encrypted key
    report = server.poll()
    assert report.problems == () and report.applied
    assert serial_seen(server, crt) == certs.load_chain(crt.read_bytes())[0].serial_number


def test_renew_new_key_stays_encrypted(config: Path, data_dir: Path, tls_server: ServerFactory) -> None:
    assert run("cert", "create", "-c", str(config), "--key-type", "rsa-2048") == 0
    crt, key = pair(data_dir)
    old = key.read_bytes()
    server = serve(tls_server, data_dir)
    assert run("cert", "renew", "-c", str(config), "--listener", "secure", "--new-key") == 0
    data = key.read_bytes()
    assert data != old and data.startswith(ENCRYPTED)
    assert mode(key) == 0o600
    new_key = certs.load_key(data, PASSPHRASE)
    cert = certs.load_chain(crt.read_bytes())[0]
    assert (
        certs.public_der(new_key)
        == certs.public_der(cert)
        != certs.public_der(certs.load_key(old, PASSPHRASE))
    )
    assert certs.key_type_of(new_key) == "RSA 2048 bits"
    assert server.poll().problems == ()
    assert serial_seen(server, crt) == cert.serial_number
    # and by file, with --passphrase
    assert (
        run("cert", "renew", "-c", str(config), str(crt), "--new-key", "--passphrase", "secret:tlskey") == 0
    )
    assert key.read_bytes().startswith(ENCRYPTED) and key.read_bytes() != data


def test_a_passphrase_for_a_plain_key_is_a_warning(
    data_dir: Path, tmp_path: Path, tls_server: ServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = TestCA(data_dir / "certs")
    plain: Issued = ca.issue("server", ("localhost",), days=365)
    assert not certs.is_encrypted(plain.key_path.read_bytes())
    with pytest.raises(certs.KeyNotEncrypted) as info:
        certs.load_key(plain.key_path.read_bytes(), PASSPHRASE)
    assert certs.public_der(info.value.key) == certs.public_der(plain.cert)

    server = serve(tls_server, data_dir)  # it serves ...
    assert [(p.key, p.severity) for p in server.source.warnings] == [("tls.key_passphrase", Severity.WARNING)]
    assert f"key_passphrase is set but {plain.key_path} is not encrypted" in server.source.warnings[0].message
    assert serial_seen(server, ca.cert_path) == plain.cert.serial_number

    # ... and `cert renew` with a passphrase says so too
    config = tmp_path / "mailward.toml"
    config.write_text(config_text(data_dir))
    self_signed = tmp_path / "self"
    assert run("cert", "create", "--domain", "localhost", "--out", str(self_signed)) == 0
    capsys.readouterr()
    argv = ["cert", "renew", "-c", str(config), str(tmp_path / "self.crt"), "--passphrase", "secret:tlskey"]
    assert run(*argv) == 0
    assert "is not encrypted" in capsys.readouterr().err
    assert not certs.is_encrypted((tmp_path / "self.key").read_bytes())
    assert run(*argv, "--new-key") == 0
    assert certs.is_encrypted((tmp_path / "self.key").read_bytes())
