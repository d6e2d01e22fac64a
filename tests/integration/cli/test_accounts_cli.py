"""`mailward domain|user|alias|auth` as an admin runs them: real processes, a real store."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from mailward.auth.accounts import StoreCounters
from mailward.auth.throttle import Throttle
from mailward.config.auth import AuthSettings
from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from support.pki import TestCA
from support.proc import mailward


@pytest.fixture
def config(tmp_path: Path) -> str:
    assert mailward("init", "--dir", str(tmp_path), "--hostname", "mail.example.org").returncode == 0
    return str(tmp_path / "mailward.toml")


def ok(*args: str, stdin: str = "") -> str:
    result = mailward(*args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    result = mailward(*args, stdin=stdin)
    assert result.returncode != 0, result.stdout
    return result


def test_domains_users_aliases(config: str, tmp_path: Path) -> None:
    c = ("-c", config)
    assert "add it first" in refused("user", "add", "alice@example.org", *c, stdin="pw\n").stderr
    assert "domain example.org added" in ok("domain", "add", "Example.org", *c)
    assert ok("domain", "list", *c).startswith("example.org\t")
    assert "user alice@example.org added" in ok("user", "add", "Alice@example.org", "--quota", "1G",
                                                 "--name", "Alice", *c, stdin="long password\n")
    ok("user", "add", "bob@example.org", "--no-password", *c)
    assert "empty" in refused("user", "add", "carol@example.org", *c, stdin="\n").stderr
    listing = ok("user", "list", *c)
    assert "alice@example.org\t0 B of 1.0 GiB, 0 message(s)\tAlice" in listing
    assert "bob@example.org" in listing
    ok("user", "passwd", "alice@example.org", *c, stdin="another password\n")
    # the passwd convention: the password twice, on two lines
    ok("user", "passwd", "alice@example.org", *c, stdin="twice given\ntwice given\n")
    assert "differ" in refused("user", "passwd", "alice@example.org", *c, stdin="one\ntwo\n").stderr
    assert "3 lines on stdin" in refused("user", "passwd", "alice@example.org", *c, stdin="a\nb\nc\n").stderr
    # -c before the command as well as after it
    assert "alice@example.org" in ok("-c", config, "user", "list")
    assert "two configuration files" in refused("-c", config, "user", "list", "-c", "/nonexistent").stderr
    assert "disabled" in ok("user", "disable", "bob@example.org", *c)
    assert "DISABLED" in ok("user", "list", "example.org", *c)
    ok("user", "enable", "bob@example.org", *c)
    assert "no limit" in ok("user", "quota", "bob@example.org", "0", *c)
    assert "is not a size" in refused("user", "quota", "bob@example.org", "lots", *c).stderr

    assert "team@example.org -> alice@example.org, bob@example.org" in ok(
        "alias", "add", "team@example.org", "alice@example.org", "bob@example.org", *c)
    ok("alias", "add", "@example.org", "alice@example.org", *c)
    assert ok("alias", "list", *c).splitlines() == [
        "@example.org\talice@example.org", "team@example.org\talice@example.org, bob@example.org"]
    ok("alias", "remove", "team@example.org", "bob@example.org", *c)
    assert "no alias" in refused("alias", "remove", "team@example.org", "bob@example.org", *c).stderr
    assert "still has" in refused("domain", "remove", "example.org", *c).stderr

    assert "add --yes" in refused("user", "remove", "bob@example.org", *c).stderr
    assert "removed with 0 message(s)" in ok("user", "remove", "bob@example.org", "--yes", *c)
    assert "bob@" not in ok("user", "list", *c)


def test_passwords_never_come_from_argv(config: str) -> None:
    ok("domain", "add", "example.org", "-c", config)
    result = refused("user", "add", "alice@example.org", "--password", "secret", "-c", config)
    assert "unrecognized arguments" in result.stderr


def test_app_passwords_and_certificates(config: str, tmp_path: Path) -> None:
    c = ("-c", config)
    ok("domain", "add", "example.org", *c)
    ok("user", "add", "alice@example.org", *c, stdin="long password\n")
    out = ok("user", "app-password", "add", "alice@example.org", "phone", *c)
    password = out.splitlines()[-1]
    assert len(password) == 19
    assert ok("user", "app-password", "list", "alice@example.org", *c).startswith("phone\tcreated ")
    assert password not in ok("user", "app-password", "list", "alice@example.org", *c)
    ok("user", "app-password", "revoke", "alice@example.org", "phone", *c)
    assert ok("user", "app-password", "list", "alice@example.org", *c) == ""

    issued = TestCA(tmp_path / "pki").issue("alice", ("alice",), client=True)
    out = ok("user", "cert", "add", "alice@example.org", str(issued.cert_path), "--label", "laptop", *c)
    fingerprint = out.split()[1]
    assert fingerprint.count(":") == 31
    assert ok("user", "cert", "list", "alice@example.org", *c).startswith(fingerprint)
    assert "registered already" in refused("user", "cert", "add", "alice@example.org",
                                           fingerprint.replace(":", "").lower(), *c).stderr
    assert "cannot read" in refused("user", "cert", "add", "alice@example.org", "/nonexistent.pem", *c).stderr
    ok("user", "cert", "remove", fingerprint, *c)
    assert ok("user", "cert", "list", "alice@example.org", *c) == ""


def test_auth_blocked_and_unblock_work_offline(config: str, tmp_path: Path) -> None:
    settings = AuthSettings(ip_block_after=2, allowlist=())

    async def fail_twice() -> None:
        store = await open_store(StoreSettings(backend="sqlite"), tmp_path / "data", lambda n: n)
        try:
            throttle = Throttle(settings, StoreCounters(store))
            for _ in range(2):
                await throttle.record_failure("198.51.100.9", "alice@example.org")
        finally:
            await store.close()

    assert ok("auth", "blocked", "-c", config) == "nothing is blocked\n"
    asyncio.run(fail_twice())
    lines = ok("auth", "blocked", "-c", config).splitlines()
    assert len(lines) == 1 and lines[0].startswith("ip\t198.51.100.9\t2 failure(s)\tuntil ")
    assert "unblocked" in ok("auth", "unblock", "198.51.100.9", "-c", config)
    assert ok("auth", "blocked", "-c", config) == "nothing is blocked\n"
    assert "no failed logins" in refused("auth", "unblock", "198.51.100.9", "-c", config).stderr
    assert "unblocked" in ok("auth", "unblock", "alice@example.org", "-c", config)


def test_commands_work_beside_a_running_server(config: str, tmp_path: Path) -> None:
    async def main() -> None:
        # the server holds the embedded store exclusively; the admin commands share it
        server_store = await open_store(StoreSettings(backend="sqlite"), tmp_path / "data", lambda n: n)
        try:
            await asyncio.to_thread(ok, "domain", "add", "example.org", "-c", config)
            await asyncio.to_thread(ok, "user", "add", "alice@example.org", "-c", config,
                                    stdin="long password\n")
            account = await server_store.find_account("alice@example.org")
            assert account is not None and await server_store.account_credentials(account.id)
            await server_store.update_account(account.id, display_name="seen by the admin")
            assert "seen by the admin" in await asyncio.to_thread(ok, "user", "list", "-c", config)
        finally:
            await server_store.close()

    asyncio.run(main())
