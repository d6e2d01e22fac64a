"""`mailward config check` finds what only serve used to find about the database: a CA that
does not verify the server, a refused connection or password, a `secret:` reference that
resolves to nothing. Against a real PostgreSQL cluster with ssl=on."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.config.schema import toml_value
from mailward.secrets import SecretPaths, create_master_key
from support.pki import TestCA
from support.postgres import ADMIN, PASSWORD, PostgresServer, free_port, postgres_cluster
from support.proc import mailward


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_cluster() as server:
        yield server


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A data directory with a master key and the database password stored as secret "db"."""
    paths = SecretPaths(tmp_path / "secrets" / "master.key", tmp_path / "secrets" / "sealed.json")
    create_master_key(paths.key_file)
    config = tmp_path / "mailward.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    stored = mailward("secret", "set", "db", "-c", str(config), stdin=PASSWORD + "\n")
    assert stored.returncode == 0, stored.stderr
    return config


def with_store(config: Path, server: PostgresServer, **changes: object) -> Path:
    settings: dict[str, object] = {
        "host": "127.0.0.1", "port": server.port, "dbname": "postgres", "user": ADMIN,
        "password": "secret:db", "sslmode": "verify-full", "sslrootcert": str(server.ca.cert_path),
        **changes,
    }
    lines = [f"{key} = {toml_value(value if isinstance(value, int) else str(value))}"
             for key, value in settings.items()]
    tmp = config.parent
    config.write_text(f'data_dir = "{tmp}"\n[store]\nbackend = "postgres"\n[store.postgres]\n' + "\n".join(lines))
    return config


def check(config: Path) -> tuple[int, list[str]]:
    result = mailward("config", "check", "-c", str(config))
    not_root = [line for line in result.stderr.splitlines() if "warning: " not in line]
    return result.returncode, not_root


def test_check_connects_with_the_configured_tls(pg: PostgresServer, setup: Path) -> None:
    result = mailward("config", "check", "-c", str(with_store(setup, pg)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{setup}: ok (0 listeners)"


def test_check_reports_a_ca_that_does_not_verify_the_server(pg: PostgresServer, setup: Path) -> None:
    other = TestCA(setup.parent / "other-ca")
    code, lines = check(with_store(setup, pg, sslrootcert=other.cert_path))
    assert code == 1
    assert len(lines) == 2 and lines[1] == f"{setup}: 1 error", lines
    assert lines[0].startswith(
        f"{setup}:11: store.postgres.sslrootcert: cannot verify the TLS certificate of PostgreSQL server "
        f"127.0.0.1:{pg.port} (database 'postgres', user '{ADMIN}') against the CA file {other.cert_path}: "
    ), lines[0]
    assert "certificate verify failed" in lines[0]
    assert lines[0].endswith(": set store.postgres.sslrootcert to the CA that signed the server's certificate")


def test_check_reports_a_refused_connection(pg: PostgresServer, setup: Path) -> None:
    port = free_port()
    code, lines = check(with_store(setup, pg, port=port))
    assert code == 1
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{setup}:5: store.postgres.host: cannot connect to PostgreSQL server 127.0.0.1:{port}")
    assert "Connection refused" in lines[0]
    assert lines[0].endswith(": start PostgreSQL, or correct store.postgres.host and port (its listen_addresses "
                             "and port)")


def test_check_reports_a_password_the_server_refuses(pg: PostgresServer, setup: Path) -> None:
    again = mailward("secret", "set", "db", "-c", str(setup), stdin="not-the-password\n")
    assert again.returncode == 0, again.stderr
    code, lines = check(with_store(setup, pg))
    assert code == 1
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{setup}:9: store.postgres.password: cannot connect to PostgreSQL server")
    assert f'password authentication failed for user "{ADMIN}"' in lines[0]
    assert "mailward secret set NAME" in lines[0]


def test_check_reports_a_secret_the_store_does_not_hold(pg: PostgresServer, setup: Path) -> None:
    code, lines = check(with_store(setup, pg, password="secret:nosuch"))
    assert code == 1
    assert lines == [
        f'{setup}:9: store.postgres.password: secret "nosuch" is not in the sealed store: '
        "add it with `mailward secret set nosuch`",
        f"{setup}: 1 error",
    ]


@pytest.mark.parametrize(("written", "message", "fix"), [
    ("db", 'has no "secret:" prefix: a password is never written in the config itself',
     'if it names a secret (see `mailward secret list`), put "secret:" before the name; else store it with '
     '`mailward secret set NAME` and write "secret:NAME" here'),
    ("Secret:db", '"Secret:" is not the prefix: a reference is "secret:NAME", lower case, nothing between',
     'write "secret:db"'),
    ("secret: db", 'spaces around the secret name: a reference is "secret:NAME", lower case, nothing between',
     'write "secret:db"'),
])
def test_check_explains_a_reference_without_its_prefix(
    pg: PostgresServer, setup: Path, written: str, message: str, fix: str
) -> None:
    code, lines = check(with_store(setup, pg, password=written))
    assert code == 1
    assert lines == [f"{setup}:9: store.postgres.password: {message}: {fix}", f"{setup}: 1 error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files the service user cannot read")
def test_check_reads_the_secrets_as_the_service_user(pg: PostgresServer, open_tmp: Path) -> None:
    """serve resolves secret:db after dropping to user: the key file must be readable by it."""
    create_master_key(open_tmp / "secrets" / "master.key")
    config = open_tmp / "mailward.toml"
    config.write_text(f'data_dir = "{open_tmp}"\n')
    assert mailward("secret", "set", "db", "-c", str(config), stdin=PASSWORD + "\n").returncode == 0
    with_store(config, pg)
    config.write_text('user = "nobody"\n' + config.read_text())
    code, lines = check(config)
    assert code == 1
    key_dir = open_tmp / "secrets"
    assert f"directory {key_dir} is not searchable by uid 65534 (nobody)" in "\n".join(lines), lines


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to answer for another user")
def test_check_without_sslrootcert_reads_the_service_users_default(pg: PostgresServer, setup: Path) -> None:
    """libpq's default CA file is under the home of the user serve runs as, not root's."""
    config = with_store(setup, pg, sslrootcert="")
    config.write_text('user = "nobody"\n' + config.read_text())
    default = Path(pwd.getpwnam("nobody").pw_dir) / ".postgresql" / "root.crt"
    code, lines = check(config)
    assert code == 1
    assert [line for line in lines if ": store.postgres.sslrootcert: " in line] == [
        f"{setup}:12: store.postgres.sslrootcert: not set, so libpq reads {default} as nobody in serve: "
        f"{default} does not exist: set store.postgres.sslrootcert to the CA file that signed the database "
        "server's certificate (or \"system\" for the system's trust store)"
    ], lines
