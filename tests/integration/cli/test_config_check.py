"""`mailward config check` (and serve's start-up check) report every problem in one run."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.proc import mailward


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def mixed_config(directory: Path, port: int) -> Path:
    """Key and type errors beside problems only the later checks find: a busy port
    (listener[2], after a listener that does not validate) and a missing certificate."""
    path = directory / "mailward.toml"
    path.write_text(
        f'data_dir = "{directory}"\n'  # 1
        'hostnme = "x"\n'  # 2
        "[limits]\n"  # 3
        'idle_timeout = "long"\n'  # 4
        "[tls]\n"  # 5
        'certificate = "missing.crt"\n'  # 6
        "[[listener]]\n"  # 7
        'name = "plain"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "bogus"\n'  # 8-11
        "[[listener]]\n"  # 12
        'name = "tls"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "implicit"\n'  # 13-16
        "[[listener]]\n"  # 17
        f'name = "busy"\nprotocol = "line"\naddress = "127.0.0.1:{port}"\ntls = "none"\n'  # 18-21
        "[listener.limits]\n"  # 22
        "max_connections = -1\n"  # 23
    )
    return path


def expected_errors(path: Path, port: int) -> list[str]:
    directory = path.parent
    return [
        f'{path}:2: hostnme: unknown key: did you mean "hostname"?',
        f'{path}:4: limits.idle_timeout: expected a number, got a string ("long"): write a number, unquoted',
        f'{path}:11: listener[0].tls: expected one of "none", "starttls", "starttls-required", "implicit", '
        'got a string ("bogus"): use one of those values',
        f"{path}:23: listener[2].limits.max_connections: must be greater than 0, got -1: use a positive value",
        f"{path}:6: tls.certificate: {directory / 'missing.crt'} does not exist: create it or correct the path",
        f"{path}:5: tls.key: {directory / 'certs' / 'server.key'} does not exist: create it or correct the path",
        f"{path}:20: listener[2].address: 127.0.0.1:{port} is in use by pid {os.getpid()}",
    ]


def error_lines(stderr: str) -> list[str]:
    """Error lines, the port's cut after the pid (the process name that follows varies)."""
    lines = [line for line in stderr.splitlines() if ": warning: " not in line]
    return [line.split(" (", 1)[0] if " is in use by pid " in line else line for line in lines]


def test_check_reports_key_errors_files_and_ports_together(tmp_path: Path, busy_port: int) -> None:
    path = mixed_config(tmp_path, busy_port)
    result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [*expected_errors(path, busy_port), f"{path}: 7 errors"], result.stderr


def test_serve_reports_every_problem_before_it_gives_up(tmp_path: Path, busy_port: int) -> None:
    path = mixed_config(tmp_path, busy_port)
    result = mailward("serve", "-c", str(path))
    assert result.returncode == 1
    assert error_lines(result.stderr) == expected_errors(path, busy_port), result.stderr


def test_check_leaves_out_settings_that_failed(tmp_path: Path) -> None:
    """A setting that failed stands at its default in the checks that follow: no problem may
    be reported about the default (the file's value is what is wrong, and is said once)."""
    path = tmp_path / "mailward.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[tls]\ncertificate = 5\n'
        '[[listener]]\nname = "tls"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "implicit"\n'
    )
    result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"{path}:3: tls.certificate: expected a string, got an integer (5): put the value in double quotes",
        f"{path}:2: tls.key: {tmp_path / 'certs' / 'server.key'} does not exist: create it or correct the path",
        f"{path}: 2 errors",
    ], result.stderr


def test_check_with_a_bad_data_dir_still_binds_the_ports(tmp_path: Path, busy_port: int) -> None:
    """Paths start at data_dir: when it failed, only the checks that read no path run."""
    path = tmp_path / "mailward.toml"
    path.write_text(
        "data_dir = 7\n"
        f'[[listener]]\nname = "busy"\nprotocol = "line"\naddress = "127.0.0.1:{busy_port}"\ntls = "implicit"\n'
    )
    result = mailward("config", "check", "-c", str(path))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"{path}:1: data_dir: expected a string, got an integer (7): put the value in double quotes",
        f"{path}:5: listener[0].address: 127.0.0.1:{busy_port} is in use by pid {os.getpid()}",
        f"{path}: 2 errors",
    ], result.stderr
