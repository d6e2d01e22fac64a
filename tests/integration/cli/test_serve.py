"""`mailward serve` as a real process: listening, SIGHUP reload, SIGTERM stop, privileges."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.proc import Running, any_free_port, mailward


def listener(name: str = "line", extra: str = "") -> str:
    return f'[[listener]]\nname = "{name}"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "none"\n{extra}'


def write(path: Path, text: str, data_dir: Path, workers: int = 1) -> None:
    """One process unless asked: these tests follow one server's log (test_serve_workers
    covers several)."""
    path.write_text(f'data_dir = "{data_dir}"\nshutdown_grace = 10\nworkers = {workers}\n{text}')


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    config = tmp_path / "mailward.toml"
    write(config, listener(), tmp_path)
    running = Running("serve", "-c", str(config))
    try:
        yield running, config
    finally:
        running.stop()


def talk(port: int, *lines: bytes) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        replies = [stream.readline()]
        for line in lines:
            sock.sendall(line + b"\r\n")
            replies.append(stream.readline())
        return replies


def test_serve_reload_and_stop(served: tuple[Running, Path], tmp_path: Path) -> None:
    running, config = served
    running.wait_for(r"INFO mailward\.tls\.native_probe: native OpenSSL features: tls13-ciphersuites, groups, tls-exporter$")
    port = int(running.wait_for(r"listening: line line \(plain, tls none\) on 127\.0\.0\.1:(\d+)").group(1))
    running.wait_for(r"mailward started \(pid \d+\)")
    assert talk(port, b"ECHO hi", b"QUIT") == [b"+OK ready\r\n", b"hi\r\n", b"+OK bye\r\n"]
    running.wait_for(
        r"conn=\w+ listener=line peer=127\.0\.0\.1:\d+ tls=no duration=\S+ in=15 out=24 outcome=closed$"
    )

    write(config, listener(extra="[listener.limits]\nidle_timeout = 9\n") + listener("new"), tmp_path)
    running.signal(signal.SIGHUP)
    running.wait_for(r"reload: applied: listener line: limits$")
    running.wait_for(r"reload: needs a restart: listener new added$")

    config.write_text("bogus = 1\n")
    running.signal(signal.SIGHUP)
    running.wait_for(r"ERROR mailward\.server: reload: .*mailward\.toml:1: bogus: unknown key")
    running.wait_for(r"reload: configuration not applied; still running the previous one")
    assert talk(port, b"ECHO still")[1] == b"still\r\n"

    running.signal(signal.SIGTERM)
    running.wait_for(r"stopping: 0 open connections get 10s to finish")
    running.wait_for(r"stopped$")
    assert running.wait() == 0


def test_check_reload_and_stop_the_running_server(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    with socket.socket() as probe:  # a fixed port, so that the check binds the server's own
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write(config, listener().replace("127.0.0.1:0", f"127.0.0.1:{port}"), tmp_path)
    running = Running("serve", "-c", str(config))
    try:
        pid = int(running.wait_for(r"mailward started \(pid (\d+)\)").group(1))
        assert (tmp_path / "mailward.pid").read_text() == f"{pid}\n"
        # its own ports are no problem to a check before a reload
        check = mailward("config", "check", "-c", str(config))
        assert check.returncode == 0 and "in use" not in check.stdout + check.stderr, check.stdout + check.stderr
        reload = mailward("reload", "-c", str(config))
        assert reload.returncode == 0 and f"pid {pid}" in reload.stdout
        running.wait_for(r"reload: applied: nothing changed")
        stop = mailward("stop", "-c", str(config))
        assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stderr
        assert running.wait() == 0
        assert not (tmp_path / "mailward.pid").exists()
        again = mailward("reload", "-c", str(config))
        assert again.returncode == 1 and "no server is running" in again.stderr
    finally:
        running.stop()


def _wait_in(path: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never reached {path}"
        time.sleep(0.05)


def test_log_file_is_reopened_after_rotation(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    log_file = tmp_path / "mailward.log"
    write(config, listener(), tmp_path)
    config.write_text(f'log_file = "{log_file}"\n' + config.read_text())
    running = Running("serve", "-c", str(config), umask=0o000)
    try:
        _wait_in(log_file, "mailward started")
        assert log_file.stat().st_mode & 0o777 == 0o640  # whatever the umask
        log_file.rename(tmp_path / "mailward.log.1")  # what logrotate does
        running.signal(signal.SIGHUP)
        _wait_in(log_file, "reload: applied: nothing changed")
        assert "reload:" not in (tmp_path / "mailward.log.1").read_text()
        running.signal(signal.SIGTERM)
        assert running.wait() == 0
        _wait_in(log_file, "stopped")
    finally:
        running.stop()


def test_second_signal_closes_connections_at_once(served: tuple[Running, Path]) -> None:
    running, _ = served
    port = int(running.wait_for(r"on 127\.0\.0\.1:(\d+)").group(1))
    running.wait_for("mailward started")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        stream.readline()
        sock.sendall(b"BEGIN\r\n")
        assert stream.readline() == b"+OK begun\r\n"
        running.signal(signal.SIGTERM)
        running.wait_for("stopping: 1 open connections")
        running.signal(signal.SIGTERM)
        running.wait_for("second stop signal")
        assert stream.readline() == b"-ERR shutting down\r\n"
    running.wait_for("outcome=closed at shutdown deadline")
    assert running.wait() == 0


def test_serve_refuses_to_start_with_errors(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    config.write_text(f'data_dir = "{tmp_path / "missing"}"\n')
    result = mailward("serve", "-c", str(config))
    assert result.returncode == 1
    assert (
        f"data_dir: {tmp_path / 'missing'} does not exist: create it: install -d -m 0750 -o root "
        f"{tmp_path / 'missing'}" in result.stderr
    )
    assert "mailward init --dir" not in result.stderr  # which would write a config beside it


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_root_drops_to_the_configured_user(open_tmp: Path) -> None:
    data = open_tmp / "data"
    data.mkdir()
    os.chown(data, 65534, 65534)
    config = open_tmp / "mailward.toml"
    config.write_text(f'data_dir = "{data}"\nuser = "nobody"\nworkers = 1\n{listener()}')
    running = Running("serve", "-c", str(config))
    try:
        port = int(running.wait_for(r"on 127\.0\.0\.1:(\d+)").group(1))
        running.wait_for("mailward started")
        status = Path(f"/proc/{running.proc.pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids == ["65534"] * 4
        assert talk(port, b"ECHO dropped")[1] == b"dropped\r\n"
        running.signal(signal.SIGTERM)
        assert running.wait() == 0
    finally:
        running.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start as another user")
def test_serve_as_unprivileged_user(open_tmp: Path) -> None:
    os.chown(open_tmp, 65534, 65534)
    target = open_tmp / "mw"
    assert mailward("init", "--dir", str(target), "--dev-ports", user="nobody").returncode == 0
    any_free_port(target / "mailward.toml")
    running = Running("serve", "-c", str(target / "mailward.toml"), user="nobody")
    try:
        port = int(running.wait_for(r"listening: line line .* on 127\.0\.0\.1:(\d+)").group(1))
        assert talk(port, b"ECHO nobody")[1] == b"nobody\r\n"
        running.signal(signal.SIGTERM)
        assert running.wait() == 0
    finally:
        running.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_init_with_a_user_makes_a_layout_that_passes_its_check(open_tmp: Path) -> None:
    target = open_tmp / "site"  # made by init, as root, for nobody
    result = mailward("init", "--dir", str(target), "--user", "nobody", "--dev-ports")
    assert result.returncode == 0, result.stderr
    assert (target.stat().st_uid, target.stat().st_mode & 0o777) == (0, 0o750)
    assert target.stat().st_gid == 65534  # nogroup: the server passes through to its data
    check = mailward("config", "check", "-c", str(target / "mailward.toml"))
    assert "data_dir" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_serve_implicit_tls_with_the_init_certificate(tmp_path: Path) -> None:
    import ssl

    assert mailward("init", "--dir", str(tmp_path), "--hostname", "localhost").returncode == 0
    config = tmp_path / "mailward.toml"
    any_free_port(config)
    with config.open("a") as f:
        f.write('[[listener]]\nname = "tls"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "implicit"\n')
    running = Running("serve", "-c", str(config))
    try:
        port = int(
            running.wait_for(r"listening: tls line \(plain, tls implicit\) on 127\.0\.0\.1:(\d+)").group(1)
        )
        context = ssl.create_default_context(cafile=str(tmp_path / "data" / "certs" / "server.crt"))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as sock,
            sock.makefile("rb") as stream,
        ):
            assert stream.readline() == b"+OK ready\r\n"
            sock.sendall(b"TLS?\r\n")
            assert stream.readline().startswith(b"TLSv1.3/")
        running.wait_for(r"listener=tls .* tls=TLSv1\.3/\S+ .*outcome=closed by client")
        running.signal(signal.SIGTERM)
        assert running.wait() == 0
    finally:
        running.stop()


def test_init_and_serve_accept_mail_on_mx(tmp_path: Path) -> None:
    """`mailward init --dev-ports` writes the SMTP listeners; `serve` takes a message on mx."""
    import asyncio
    import subprocess

    from mailward.auth.accounts import AccountService
    from mailward.config import load
    from mailward.server.registry import protocol_rules
    from mailward.store.factory import open_store
    from mailward.store.interface import INBOX

    assert mailward("init", "--dir", str(tmp_path), "--dev-ports", "--hostname", "localhost").returncode == 0
    text = (tmp_path / "mailward.toml").read_text()
    for name, port, tls in (("mx", 2525, "starttls"), ("submission", 2587, "starttls-required"),
                            ("submissions", 2465, "implicit")):
        assert f'name = "{name}"\nprotocol = "smtp"\n' in text
        assert f'address = "0.0.0.0:{port}"\ntls = "{tls}"' in text
    assert "# max_message_size = 52428800" in text  # the [smtp] section is documented
    for name, port, tls in (("pop3", 2110, "starttls"), ("pop3s", 2995, "implicit")):
        assert f'name = "{name}"\nprotocol = "pop3"\n' in text
        assert f'address = "0.0.0.0:{port}"\ntls = "{tls}"' in text
    assert "# idle_timeout = 600.0" in text  # and the [pop3] section
    for name, port, tls in (("imap", 2143, "starttls"), ("imaps", 2993, "implicit")):
        assert f'name = "{name}"\nprotocol = "imap"\n' in text
        assert f'address = "0.0.0.0:{port}"\ntls = "{tls}"' in text
    assert "# max_connections_per_user = 20" in text  # and the [imap] section
    any_free_port(tmp_path / "mailward.toml")
    from support import lineproto

    config = load(tmp_path / "mailward.toml", {**protocol_rules(), "line": lineproto.SPEC.rules}).config

    async def setup() -> None:
        store = await open_store(config.store, config.data_dir)
        try:
            accounts = AccountService(store)
            await accounts.add_domain("example.org")
            await accounts.add_user("alice@example.org", None)
        finally:
            await store.close()

    asyncio.run(setup())
    running = Running("serve", "-c", str(tmp_path / "mailward.toml"))
    try:
        port = running.wait_for(r"listening: mx smtp \(mx, tls starttls\) on 127\.0\.0\.1:(\d+)").group(1)
        running.wait_for("mailward started")
        result = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{port}", "--from", "x@remote.example", "--to", "alice@example.org",
             "--header", "Subject: from the CLI test", "--timeout", "20"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        running.wait_for(r"message id=\w+ from=<x@remote\.example> to=<alice@example\.org> .*result=accepted")
        running.signal(signal.SIGTERM)
        assert running.wait() == 0
    finally:
        running.stop()

    async def inbox() -> list[bytes]:
        store = await open_store(config.store, config.data_dir)
        try:
            account = await store.find_account("alice@example.org")
            assert account is not None
            mailbox = await store.get_mailbox(account.id, INBOX)
            assert mailbox is not None
            return [b"".join([c async for c in store.read(m.blob)]) for m in await store.messages(mailbox.id)]
        finally:
            await store.close()

    [stored] = asyncio.run(inbox())
    assert b"Subject: from the CLI test\r\n" in stored
    assert stored.startswith(b"Return-Path: <x@remote.example>\r\nReceived: from ")


def test_serve_refuses_to_start_without_its_store(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    (tmp_path / "store").write_text("a file where the store's directory belongs")
    write(config, listener(), tmp_path)
    result = mailward("serve", "-c", str(config))
    assert result.returncode == 1
    assert "store: cannot open the sqlite store" in result.stderr


def test_serve_raises_its_open_files_limit_and_warns_when_connections_cannot_fit(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    write(config, listener(extra="[listener.limits]\nmax_connections = 1000\n"), tmp_path)
    running = Running("serve", "-c", str(config), open_files=(100, 4096))
    try:
        running.wait_for(r"open files: limit raised from 100 to 4096$")
        running.wait_for(r"mailward started")
    finally:
        running.stop()
    # a hard limit below what the listeners' max_connections need: said at once
    checked = mailward("config", "check", "-c", str(config), open_files=(256, 512))
    assert "limits.max_connections" in checked.stdout + checked.stderr
    assert "may have only 512" in checked.stdout + checked.stderr
    assert "LimitNOFILE=" in checked.stdout + checked.stderr
    assert "limits.max_connections" not in mailward("config", "check", "-c", str(config)).stdout


def test_serve_on_uvloop(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    write(config, 'event_loop = "uvloop"\n' + listener(), tmp_path)
    running = Running("serve", "-c", str(config))
    try:
        port = int(running.wait_for(r"listening: line line \(plain, tls none\) on 127\.0\.0\.1:(\d+)").group(1))
        running.wait_for(r"mailward started")
        assert talk(port, b"ECHO on uvloop", b"QUIT") == [b"+OK ready\r\n", b"on uvloop\r\n", b"+OK bye\r\n"]
    finally:
        running.stop()


def test_an_event_loop_that_is_not_installed_is_a_problem() -> None:
    from mailward.server.loop import LoopUnavailable, loop_factory

    assert loop_factory("asyncio") is None
    assert loop_factory("uvloop") is not None
    with pytest.raises(LoopUnavailable, match="not installed"):
        loop_factory("mailward_no_such_loop")
