"""`mailward --help`, `mailward init` and `mailward config check` as an admin runs them."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from support.inproc import mode
from support.proc import any_free_port, mailward

UMASKS = (0o022, 0o027, 0o077)
NATIVE = "native OpenSSL features: tls13-ciphersuites, groups, tls-exporter"


def test_help_lists_commands() -> None:
    result = mailward("--help")
    assert result.returncode == 0
    for command in ("init", "config", "serve"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), result.stdout


def test_no_command_prints_usage() -> None:
    result = mailward()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: mailward")


@pytest.mark.parametrize("umask", UMASKS, ids=[f"umask{u:04o}" for u in UMASKS])
def test_init_modes_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "mw"
    result = mailward("init", "--dir", str(target), "--hostname", "mail.example.org", umask=umask)
    assert result.returncode == 0, result.stderr
    assert mode(target) == 0o750
    assert mode(target / "data") == 0o750
    assert mode(target / "mailward.toml") == 0o640
    assert mode(target / "data" / "certs") == 0o750
    assert mode(target / "data" / "certs" / "server.crt") == 0o644
    assert mode(target / "data" / "certs" / "server.key") == 0o600
    assert mode(target / "data" / "secrets") == 0o700
    assert mode(target / "data" / "secrets" / "master.key") == 0o600
    text = (target / "mailward.toml").read_text()
    assert 'hostname = "mail.example.org"' in text
    assert 'data_dir = "data"' in text
    any_free_port(target / "mailward.toml")
    check = mailward("config", "check", "-c", str(target / "mailward.toml"), umask=umask)
    assert check.returncode == 0, check.stderr
    # the three SMTP listeners, the two POP3 ones and the test protocol's
    assert check.stdout == f"{NATIVE}\n{target / 'mailward.toml'}: ok (8 listeners)\n"


def test_check_prints_the_native_features_or_refuses_what_needs_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "mw"
    assert mailward("init", "--dir", str(target), "--hostname", "mail.example.org").returncode == 0
    config = target / "mailward.toml"
    any_free_port(config)
    config.write_text('scram_plus = "advertised"\n' + config.read_text())
    check = mailward("config", "check", "-c", str(config))
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines()[0] == NATIVE
    # a probe child that crashes (a real SIGSEGV) takes the features away: the settings that
    # need them are errors that say why and what to change, not quietly served otherwise
    monkeypatch.setenv("MAILWARD_TEST_NATIVE_PROBE_CRASH", "tls13-ciphersuites")
    check = mailward("config", "check", "-c", str(config))
    assert check.returncode == 1
    assert check.stdout.splitlines()[0] == (
        "native OpenSSL features: none; unavailable: tls13-ciphersuites, groups, tls-exporter "
        "(the probe crashed: killed by SIGSEGV)"
    )
    errors = [line for line in check.stderr.splitlines() if ": warning: " not in line]
    assert errors[-1] == f"{config}: 2 errors", check.stderr
    curves, scram_plus = errors[:-1]
    assert curves.startswith(f"{config}:"), curves  # the line of curves in the sample config
    assert curves.split(": ", 1)[1].startswith('tls.curves: "X25519:prime256v1:secp384r1" (the default'), curves
    assert "the probe crashed: killed by SIGSEGV" in curves
    assert 'set curves = "prime256v1"' in curves
    assert scram_plus.startswith(f'{config}:1: scram_plus: is "advertised", but SCRAM-SHA-256-PLUS cannot'), scram_plus
    assert 'set scram_plus = "on-request"' in scram_plus


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert mailward("init", "--dir", str(tmp_path)).returncode == 0
    again = mailward("init", "--dir", str(tmp_path))
    assert again.returncode == 1
    assert again.stderr == (
        f"mailward: {tmp_path / 'mailward.toml'} exists already: keep it, or pass --force to replace it\n"
    )
    assert mailward("init", "--dir", str(tmp_path), "--force").returncode == 0


def test_init_writes_protocol_listeners(tmp_path: Path) -> None:
    assert mailward("init", "--dir", str(tmp_path), "--dev-ports").returncode == 0
    text = (tmp_path / "mailward.toml").read_text()
    assert (
        '[[listener]]\nname = "line"\nprotocol = "line"\nrole = "plain"\naddress = "0.0.0.0:0"\ntls = "none"'
        in text
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_init_and_check_as_unprivileged_user(open_tmp: Path) -> None:
    os.chown(open_tmp, 65534, 65534)
    target = open_tmp / "mw"
    result = mailward("init", "--dir", str(target), user="nobody")
    assert result.returncode == 0, result.stderr
    assert target.stat().st_uid == 65534
    assert mode(target / "data") == 0o750
    any_free_port(target / "mailward.toml")  # nobody cannot bind 25; the ports are not the point here
    check = mailward("config", "check", "-c", str(target / "mailward.toml"), user="nobody")
    assert check.returncode == 0, check.stderr
    assert "user: not set" not in check.stderr  # only root is warned about running as root


def write_config(directory: Path, text: str) -> Path:
    path = directory / "mailward.toml"
    path.write_text(f'data_dir = "{directory}"\n{text}')
    return path


def test_check_reports_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = write_config(
            tmp_path,
            f'[[listener]]\nname = "l"\nprotocol = "line"\naddress = "127.0.0.1:{port}"\ntls = "none"\n',
        )
        result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    expected = (
        rf"^{re.escape(str(path))}:5: listener\[0\]\.address: 127\.0\.0\.1:{port} is in use "
        rf"by pid {os.getpid()} \([^)]+\): stop the other server or choose another port$"
    )
    assert re.search(expected, result.stderr, re.M), result.stderr
    assert result.stderr.endswith(f"{path}: 1 error\n")


def test_check_reports_every_config_error_at_once(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'hostnme = "x"\n[limits]\nidle_timeout = "long"\n')
    result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    root = ["warning: user: not set, so mailward would run as root"] if os.geteuid() == 0 else []
    assert [line.split(": create", 1)[0].removeprefix(f"{path}: ") for line in result.stderr.splitlines()] == [
        f'{path}:2: hostnme: unknown key: did you mean "hostname"?',
        f'{path}:4: limits.idle_timeout: expected a number, got a string ("long"): write a number, unquoted',
        # the checks that follow still ran (see test_config_check)
        *root,
        "warning: listener: none configured, so the server accepts no connections: add [[listener]] tables",
        "2 errors",
    ]


def test_check_missing_file(tmp_path: Path) -> None:
    result = mailward("config", "check", "-c", str(tmp_path / "none.toml"))
    assert result.returncode == 1
    assert result.stderr == (
        f"{tmp_path / 'none.toml'}: no such file: create it with `mailward init`, or name another with -c FILE\n"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a directory the service user cannot write")
def test_check_data_dir_not_writable_by_service_user(open_tmp: Path) -> None:
    data = open_tmp / "data"
    data.mkdir(mode=0o750)
    data.chmod(0o750)
    path = open_tmp / "mailward.toml"
    path.write_text(f'data_dir = "{data}"\nuser = "nobody"\n')
    result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    assert (
        f"{path}:1: data_dir: {data}: not writable by uid 65534 (nobody) (owner root, group root, mode 0750): "
        f"chown -R nobody {data}"
    ) in result.stderr.splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file another user cannot read")
def test_check_config_not_readable(open_tmp: Path) -> None:
    path = open_tmp / "mailward.toml"
    path.write_text("")
    path.chmod(0o600)
    result = mailward("config", "check", "-c", str(path), user="nobody")
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}: not readable by uid 65534 (nobody) (owner root, group root, mode 0600): chown nobody {path}\n"
    )


def test_check_unknown_user(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'user = "no-such-user-here"\n')
    result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    assert (
        f'{path}:2: user: no such user "no-such-user-here": create it: useradd --system --home-dir {tmp_path} '
        "--shell /usr/sbin/nologin no-such-user-here" in result.stderr.splitlines()
    )


def test_init_force_keeps_key_material(tmp_path: Path) -> None:
    assert mailward("init", "--dir", str(tmp_path)).returncode == 0
    key = (tmp_path / "data" / "secrets" / "master.key").read_bytes()
    cert = (tmp_path / "data" / "certs" / "server.crt").read_bytes()
    again = mailward("init", "--dir", str(tmp_path), "--force")
    assert again.returncode == 0
    assert "kept the master key" in again.stdout and "kept the certificate" in again.stdout
    assert (tmp_path / "data" / "secrets" / "master.key").read_bytes() == key
    assert (tmp_path / "data" / "certs" / "server.crt").read_bytes() == cert


def test_check_reports_tls_key_readable_by_others(tmp_path: Path) -> None:
    assert mailward("init", "--dir", str(tmp_path), "--hostname", "localhost").returncode == 0
    key = tmp_path / "data" / "certs" / "server.key"
    key.chmod(0o644)
    config = tmp_path / "mailward.toml"
    with config.open("a") as f:
        f.write('[[listener]]\nname = "tls"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "implicit"\n')
    result = mailward("config", "check", "-c", str(config))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if ": tls.key: " in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(f"chmod 600 {key}"), lines[0]


def test_check_reports_missing_certificate_once(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[[listener]]\nname = "tls"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "implicit"\n'
    )
    result = mailward("config", "check", "-c", str(config))
    assert result.returncode == 1
    certificate = [line for line in result.stderr.splitlines() if "tls.certificate:" in line]
    assert certificate == [
        f"{config}: tls.certificate: {tmp_path / 'certs' / 'server.crt'} does not exist: create it or correct the path"
    ]


def test_init_rsa_adds_an_rsa_certificate_and_check_warns_about_dhe_without_one(tmp_path: Path) -> None:
    with_rsa, without = tmp_path / "rsa", tmp_path / "plain"
    result = mailward("init", "--dir", str(with_rsa), "--rsa", "--hostname", "localhost")
    assert result.returncode == 0, result.stderr
    assert "(RSA 2048 bits, valid 365 days)" in result.stdout
    certs_dir = with_rsa / "data" / "certs"
    assert mode(certs_dir / "server-rsa.key") == 0o600 and mode(certs_dir / "server-rsa.crt") == 0o644
    text = (with_rsa / "mailward.toml").read_text()
    assert 'rsa_certificate = "certs/server-rsa.crt"\n' in text and 'rsa_key = "certs/server-rsa.key"\n' in text
    assert mailward("init", "--dir", str(without), "--hostname", "localhost").returncode == 0
    assert "rsa_certificate = " not in (without / "mailward.toml").read_text().replace("# rsa_certificate", "")

    for target in (with_rsa, without):
        config = target / "mailward.toml"
        config.write_text(config.read_text().replace("# dhe = false\n", "dhe = true\n"))
        any_free_port(config)
    check = mailward("config", "check", "-c", str(with_rsa / "mailward.toml"))
    assert check.returncode == 0, check.stderr
    assert " tls." not in check.stderr  # (as root: a warning about user)
    check = mailward("config", "check", "-c", str(without / "mailward.toml"))
    assert check.returncode == 0  # a warning: the server runs, with ECDHE only
    [line] = [line for line in check.stderr.splitlines() if "tls.dhe" in line]
    config_text = (without / "mailward.toml").read_text().splitlines()
    assert line.startswith(f"{without / 'mailward.toml'}:{config_text.index('dhe = true') + 1}: warning: tls.dhe: ")
    assert "DHE-RSA suites need an RSA certificate" in line and "mailward cert create --rsa" in line

    # a missing RSA key is an error naming the key, the file and the fix
    (with_rsa / "data" / "certs" / "server-rsa.key").unlink()
    check = mailward("config", "check", "-c", str(with_rsa / "mailward.toml"))
    assert check.returncode == 1
    key = with_rsa / "data" / "certs" / "server-rsa.key"
    assert f"tls.rsa_key: {key} does not exist: create it or correct the path" in check.stderr
