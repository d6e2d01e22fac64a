"""`mailward cert create | show | renew | dhparams` through the real argument parser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509

from mailward.config.model import ProtocolRules
from mailward.tls import certs
from support.inproc import mode
from support.inproc import run_cert as run
from support.pki import TestCA


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with hostname, a [tls] pair and one listener overriding it."""
    monkeypatch.setattr(
        "mailward.cli.common.protocol_rules", lambda: {"smtp": ProtocolRules(("mx", "submission"), True)}
    )
    monkeypatch.delenv("MAILWARD_CONFIG", raising=False)
    path = tmp_path / "mailward.toml"
    path.write_text(
        'hostname = "mail.example.org"\n'
        'data_dir = "data"\n'
        "[tls]\n"
        'certificate = "certs/server.crt"\n'
        'key = "certs/server.key"\n'
        "[[listener]]\n"
        'name = "submission"\n'
        'protocol = "smtp"\n'
        'role = "submission"\n'
        'address = "127.0.0.1:5587"\n'
        'tls = "starttls-required"\n'
        "[listener.tls_options]\n"
        'certificate = "certs/sub.crt"\n'
        'key = "certs/sub.key"\n'
    )
    return path


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_create_modes_whatever_the_umask(
    tmp_path: Path, umask: int, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(umask)
    try:
        assert run("cert", "create", "--domain", "mail.example.org", "--out", str(tmp_path / "server")) == 0
    finally:
        os.umask(old)
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    assert mode(crt) == 0o644
    assert mode(key) == 0o600
    cert = certs.load_chain(crt.read_bytes())[0]
    assert certs.public_der(certs.load_key(key.read_bytes(), None)) == certs.public_der(cert)
    out = capsys.readouterr().out
    assert "SHA-256:" in out and "(0600)" in out


def test_create_names_days_key_type(tmp_path: Path) -> None:
    prefix = tmp_path / "multi"
    code = run(
        "cert", "create", "--domain", "mail.example.org", "--alt", "imap.example.org", "--alt", "127.0.0.1",
        "--days", "90", "--key-type", "rsa-2048", "--out", str(prefix),
    )  # fmt: skip
    assert code == 0
    cert = certs.load_chain((tmp_path / "multi.crt").read_bytes())[0]
    assert certs.names_of(cert) == ["mail.example.org", "imap.example.org", "127.0.0.1"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 90
    assert certs.key_type_of(cert.public_key()) == "RSA 2048 bits"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_create_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = str(tmp_path / "server")
    assert run("cert", "create", "--domain", "a.example", "--out", prefix) == 0
    before = (tmp_path / "server.crt").read_bytes()
    assert run("cert", "create", "--domain", "b.example", "--out", prefix) == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "server.crt").read_bytes() == before
    assert run("cert", "create", "--domain", "b.example", "--out", prefix, "--force") == 0
    assert (tmp_path / "server.crt").read_bytes() != before
    assert mode(tmp_path / "server.key") == 0o600


def test_create_defaults_from_the_config(config: Path) -> None:
    assert run("cert", "create", "-c", str(config)) == 0
    crt = config.parent / "data" / "certs" / "server.crt"
    cert = certs.load_chain(crt.read_bytes())[0]
    assert certs.names_of(cert) == ["mail.example.org"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 365
    assert mode(config.parent / "data" / "certs" / "server.key") == 0o600


def test_show_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(
        "cert",
        "create",
        "--domain",
        "mail.example.org",
        "--alt",
        "mx.example.org",
        "--out",
        str(tmp_path / "s"),
    )
    capsys.readouterr()
    assert run("cert", "show", str(tmp_path / "s.crt")) == 0
    out = capsys.readouterr().out
    cert = certs.load_chain((tmp_path / "s.crt").read_bytes())[0]
    info = certs.describe(cert)
    assert "subject:     CN=mail.example.org" in out
    assert "names:       mail.example.org, mx.example.org" in out
    assert "issuer:      CN=mail.example.org" in out
    assert "days left" in out and "ECDSA secp256r1" in out
    assert f"SHA-256:     {info.sha256}" in out
    assert f"SHA-1:       {info.sha1}" in out
    assert len(info.sha256) == 32 * 3 - 1 and info.sha256 == info.sha256.upper()
    # the public key's hash (DANE 3 1 1), and as an RFC 7469 pin
    assert f"SPKI:        {certs.spki_sha256(cert)}\n" in out
    assert f'pin-sha256:  "{certs.spki_pin(cert)}"\n' in out


def test_show_chain_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = TestCA(tmp_path / "pki")
    leaf = ca.issue("leaf", ("mail.example.org",))
    chain = tmp_path / "chain.crt"
    chain.write_bytes(leaf.cert_path.read_bytes() + ca.cert_path.read_bytes())
    assert run("cert", "show", str(chain)) == 0
    out = capsys.readouterr().out
    assert "issuer:      CN=mailward test CA" in out and "chain:       1 more" in out


def test_show_listener(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs_dir = config.parent / "data" / "certs"
    certs_dir.mkdir(parents=True)
    run("cert", "create", "--domain", "submission.example.org", "--out", str(certs_dir / "sub"))
    capsys.readouterr()
    assert run("cert", "show", "-c", str(config), "--listener", "submission") == 0
    assert "CN=submission.example.org" in capsys.readouterr().out
    assert run("cert", "show", "-c", str(config), "--listener", "nope") == 1
    assert 'no listener named "nope" (listeners: submission)' in capsys.readouterr().err


def test_show_listener_with_sni_certificates(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs_dir = config.parent / "data" / "certs"
    certs_dir.mkdir(parents=True)
    for name in ("sub", "net", "org"):
        run("cert", "create", "--domain", f"mail.example.{name}", "--out", str(certs_dir / name))
    with config.open("a") as f:
        f.write('[[listener.tls_options.sni]]\nnames = ["mail.example.net", "*.example.net"]\n'
                'certificate = "certs/net.crt"\nkey = "certs/net.key"\n'
                '[[listener.tls_options.sni]]\nnames = ["mail.example.org"]\n'
                'certificate = "certs/org.crt"\nkey = "certs/org.key"\n')
    capsys.readouterr()
    assert run("cert", "show", "-c", str(config), "--listener", "submission") == 0
    blocks = capsys.readouterr().out.split("\n\n")
    assert len(blocks) == 3
    assert "CN=mail.example.sub" in blocks[0] and "for SNI" not in blocks[0]
    assert blocks[1].startswith("for SNI:     mail.example.net, *.example.net\n")
    assert f"file:        {certs_dir / 'net.crt'}" in blocks[1] and "CN=mail.example.net" in blocks[1]
    assert blocks[2].startswith("for SNI:     mail.example.org\n") and "CN=mail.example.org" in blocks[2]
    # a missing SNI certificate is reported, after the others are shown
    (certs_dir / "net.crt").unlink()
    assert run("cert", "show", "-c", str(config), "--listener", "submission") == 1
    out, err = capsys.readouterr()
    assert "CN=mail.example.sub" in out and "CN=mail.example.org" in out
    assert f"cannot read {certs_dir / 'net.crt'}" in err


def test_show_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("cert", "show", str(tmp_path / "missing.crt")) == 1
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "junk.crt").write_text("junk")
    assert run("cert", "show", str(tmp_path / "junk.crt")) == 1
    assert "no PEM certificate" in capsys.readouterr().err
    assert run("cert", "show") == 1


def test_renew_keeps_the_key_and_names(tmp_path: Path) -> None:
    prefix = tmp_path / "s"
    run(
        "cert",
        "create",
        "--domain",
        "mail.example.org",
        "--alt",
        "mx.example.org",
        "--days",
        "10",
        "--out",
        str(prefix),
    )
    crt, key = tmp_path / "s.crt", tmp_path / "s.key"
    old_cert = certs.load_chain(crt.read_bytes())[0]
    old_key = key.read_bytes()
    key_inode = key.stat().st_ino
    assert run("cert", "renew", str(crt)) == 0
    new_cert = certs.load_chain(crt.read_bytes())[0]
    assert new_cert.serial_number != old_cert.serial_number
    assert certs.names_of(new_cert) == certs.names_of(old_cert)
    assert (new_cert.not_valid_after_utc - new_cert.not_valid_before_utc).days == 365
    assert key.read_bytes() == old_key and key.stat().st_ino == key_inode
    assert certs.public_der(new_cert) == certs.public_der(old_cert)
    assert mode(crt) == 0o644


def test_renew_new_key(tmp_path: Path) -> None:
    run(
        "cert",
        "create",
        "--domain",
        "mail.example.org",
        "--key-type",
        "rsa-2048",
        "--out",
        str(tmp_path / "s"),
    )
    crt, key = tmp_path / "s.crt", tmp_path / "s.key"
    old_cert = certs.load_chain(crt.read_bytes())[0]
    old = os.umask(0o022)
    try:
        assert run("cert", "renew", str(crt), "--new-key") == 0
    finally:
        os.umask(old)
    new_cert = certs.load_chain(crt.read_bytes())[0]
    new_key = certs.load_key(key.read_bytes(), None)
    assert certs.public_der(new_key) == certs.public_der(new_cert) != certs.public_der(old_cert)
    assert certs.key_type_of(new_key) == "RSA 2048 bits"
    assert mode(key) == 0o600


def test_renew_listener(config: Path) -> None:
    certs_dir = config.parent / "data" / "certs"
    certs_dir.mkdir(parents=True)
    run("cert", "create", "--domain", "sub.example.org", "--out", str(certs_dir / "sub"))
    before = (certs_dir / "sub.crt").read_bytes()
    assert run("cert", "renew", "-c", str(config), "--listener", "submission") == 0
    after = (certs_dir / "sub.crt").read_bytes()
    assert after != before
    assert certs.names_of(certs.load_chain(after)[0]) == ["sub.example.org"]


def test_renew_refuses_a_ca_issued_certificate_and_a_wrong_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = TestCA(tmp_path / "pki")
    leaf = ca.issue("leaf", ("mail.example.org",))
    assert run("cert", "renew", str(leaf.cert_path)) == 1
    assert "renew it with that CA" in capsys.readouterr().err
    run("cert", "create", "--domain", "a.example", "--out", str(tmp_path / "a"))
    assert run("cert", "renew", str(tmp_path / "a.crt"), "--key", str(leaf.key_path)) == 1
    assert "is not the key of" in capsys.readouterr().err


def test_dhparams_writes_and_refuses_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # generation itself is slow; it has its own (slow) test below
    monkeypatch.setattr(certs, "generate_dhparams", lambda bits: certs.FFDHE2048_PEM)
    out = tmp_path / "dh.pem"
    monkeypatch.chdir(tmp_path)
    assert run("cert", "dhparams", "--bits", "2048", "--out", "dh.pem") == 0
    assert certs.dh_bits(out.read_bytes()) == 2048 and mode(out) == 0o644
    # the path to paste into the config: absolute, since relative ones are read from data_dir
    assert f'dhparams = "{out}"' in capsys.readouterr().out
    assert run("cert", "dhparams", "--bits", "2048", "--out", str(out)) == 1
    assert "--force" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("cert", "dhparams", "--bits", "1024", "--out", str(out))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dhparams_generates_2048_bits(tmp_path: Path) -> None:
    out = tmp_path / "dh.pem"
    assert run("cert", "dhparams", "--bits", "2048", "--out", str(out)) == 0
    assert certs.dh_bits(out.read_bytes()) == 2048


def test_cert_alone_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("cert") == 2
    assert "create" in capsys.readouterr().err


def test_through_mailward_main(tmp_path: Path) -> None:
    from mailward.cli import main

    assert main.main(["cert", "create", "--domain", "m.example", "--out", str(tmp_path / "m")]) == 0
    assert main.main(["cert", "show", str(tmp_path / "m.crt")]) == 0


def add_rsa_pair(config: Path) -> None:
    """rsa_certificate / rsa_key in [tls] and in the listener's tls_options."""
    text = config.read_text()
    text = text.replace(
        'key = "certs/server.key"\n',
        'key = "certs/server.key"\nrsa_certificate = "certs/server-rsa.crt"\nrsa_key = "certs/server-rsa.key"\n',
    )
    text += 'rsa_certificate = "certs/sub-rsa.crt"\nrsa_key = "certs/sub-rsa.key"\n'
    config.write_text(text)


def test_create_rsa_writes_the_configured_rsa_pair(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("cert", "create", "-c", str(config), "--rsa") == 1
    assert "add rsa_certificate" in capsys.readouterr().err  # not configured yet
    add_rsa_pair(config)
    assert run("cert", "create", "-c", str(config), "--rsa", "--key-type", "ecdsa-p256") == 1
    assert "give --key-type rsa-2048 or rsa-3072" in capsys.readouterr().err
    assert run("cert", "create", "-c", str(config), "--rsa") == 0
    certs_dir = config.parent / "data" / "certs"
    cert = certs.load_chain((certs_dir / "server-rsa.crt").read_bytes())[0]
    assert certs.key_type_of(cert.public_key()) == "RSA 2048 bits"
    assert certs.names_of(cert) == ["mail.example.org"]
    assert mode(certs_dir / "server-rsa.key") == 0o600
    assert not (certs_dir / "server.crt").exists()  # the ECDSA pair is left alone
    assert run("cert", "create", "-c", str(config), "--rsa") == 1  # no overwrite without --force


def test_show_and_renew_a_listener_rsa_certificate(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_rsa_pair(config)
    certs_dir = config.parent / "data" / "certs"
    certs_dir.mkdir(parents=True)
    run("cert", "create", "--domain", "sub.example.org", "--out", str(certs_dir / "sub"))
    run("cert", "create", "--domain", "sub.example.org", "--rsa", "--out", str(certs_dir / "sub-rsa"))
    capsys.readouterr()
    assert run("cert", "show", "-c", str(config), "--listener", "submission") == 0
    first, second = capsys.readouterr().out.split("\n\n")
    assert "ECDSA secp256r1" in first
    assert second.startswith("beside it:   rsa_certificate") and "RSA 2048 bits" in second
    assert f"file:        {certs_dir / 'sub-rsa.crt'}" in second

    rsa_key = (certs_dir / "sub-rsa.key").read_bytes()
    ecdsa_cert = (certs_dir / "sub.crt").read_bytes()
    before = certs.load_chain((certs_dir / "sub-rsa.crt").read_bytes())[0]
    assert run("cert", "renew", "-c", str(config), "--listener", "submission", "--rsa") == 0
    after = certs.load_chain((certs_dir / "sub-rsa.crt").read_bytes())[0]
    assert after.serial_number != before.serial_number
    assert certs.public_der(after) == certs.public_der(before)  # the same key
    assert (certs_dir / "sub-rsa.key").read_bytes() == rsa_key
    assert (certs_dir / "sub.crt").read_bytes() == ecdsa_cert
    assert run("cert", "renew", str(certs_dir / "sub.crt"), "--rsa") == 1
    assert "--rsa goes with --listener" in capsys.readouterr().err
