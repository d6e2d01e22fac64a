"""``mailward serve`` with several worker processes: one server as far as clients and the
admin can tell (ports, limits, stop, reload), and supervised."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.proc import Running

WORKERS = 2


def config_text(data_dir: Path, extra: str = "") -> str:
    return (
        f'data_dir = "{data_dir}"\nshutdown_grace = 10\nworkers = {WORKERS}\n'
        '[[listener]]\nname = "line"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "none"\n'
        f"{extra}"
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Running, Path, int, list[int]]]:
    config = tmp_path / "mailward.toml"
    config.write_text(config_text(tmp_path, "[listener.limits]\nmax_connections_per_ip = 3\n"))
    running = Running("serve", "-c", str(config))
    try:
        pids = started(running, WORKERS)
        # the first worker says where it listens before it says it started
        (port,) = {int(m.group(1)) for line in running.lines
                   if (m := re.search(r"listening: line line .* on 127\.0\.0\.1:(\d+)", line))}
        yield running, config, port, pids
    finally:
        running.stop()


def started(running: Running, count: int) -> list[int]:
    pids = []
    for _ in range(count):
        match = running.wait_for(rf"mailward started \(pid (\d+), worker (\d) of {WORKERS}\)")
        pids.append(int(match.group(1)))
        NUMBERS[int(match.group(1))] = match.group(2)
    return pids


NUMBERS: dict[int, str] = {}  # pid: the number the worker gives itself in its log lines


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (a reaped worker's parent is the test's child) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if alive(p)]}"
        time.sleep(0.05)


def connect(port: int) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock, sock.makefile("rb").readline()


def echo(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        assert stream.readline() == b"+OK ready\r\n"
        sock.sendall(b"ECHO " + text + b"\r\n")
        return stream.readline()


def test_workers_serve_one_port_and_stop_together(served: tuple[Running, Path, int, list[int]]) -> None:
    running, _, port, pids = served
    assert len(set(pids)) == WORKERS and running.proc.pid not in pids
    for i in range(20):
        assert echo(port, b"%d" % i) == b"%d\r\n" % i
    running.signal(signal.SIGTERM)
    stopped = {running.wait_for(r"INFO mailward\.server \(worker (\d)\): stopped$").group(1)
               for _ in range(WORKERS)}
    assert stopped == {str(n + 1) for n in range(WORKERS)}  # each worker's lines say which it is
    assert running.wait() == 0
    wait_gone(pids)
    # the workers share the listening sockets: the log says so once, not once per worker
    assert sum("listening: line line" in line for line in running.lines) == 1


def test_connection_limits_count_across_workers(served: tuple[Running, Path, int, list[int]]) -> None:
    _, _, port, _ = served
    held = [connect(port) for _ in range(3)]
    try:
        assert [greeting for _, greeting in held] == [b"+OK ready\r\n"] * 3
        # however the kernel spread the three over the workers, a fourth is one too many
        for _ in range(4):
            refused, greeting = connect(port)
            refused.close()
            assert greeting == b"-ERR busy\r\n"
        held.pop()[0].close()
        deadline = time.monotonic() + 10
        while True:  # the worker counts the closed connection out as soon as it sees the close
            sock, greeting = connect(port)
            sock.close()
            if greeting == b"+OK ready\r\n":
                break
            assert time.monotonic() < deadline, "a closed connection was never counted out"
            time.sleep(0.05)
    finally:
        for sock, _ in held:
            sock.close()


def test_reload_reaches_every_worker(served: tuple[Running, Path, int, list[int]], tmp_path: Path) -> None:
    running, config, port, _ = served
    config.write_text(config_text(tmp_path, "[listener.limits]\nmax_connections_per_ip = 4\n"))
    running.signal(signal.SIGHUP)
    for _ in range(WORKERS):
        running.wait_for(r"reload: applied: listener line: limits$")
    held = [connect(port) for _ in range(4)]
    try:
        assert [greeting for _, greeting in held] == [b"+OK ready\r\n"] * 4
    finally:
        for sock, _ in held:
            sock.close()


def test_a_worker_that_dies_is_replaced(served: tuple[Running, Path, int, list[int]]) -> None:
    running, _, port, pids = served
    os.kill(pids[0], signal.SIGKILL)
    # the supervisor numbers it as the worker numbered itself
    running.wait_for(rf"worker {NUMBERS[pids[0]]} \(pid {pids[0]}\) ended \(signal SIGKILL\) with 0 "
                     r"connection\(s\) open; starting another$")
    (replacement,) = started(running, 1)
    assert replacement not in pids
    for i in range(10):
        assert echo(port, b"after %d" % i) == b"after %d\r\n" % i
    running.signal(signal.SIGTERM)
    assert running.wait() == 0
    wait_gone([pids[1], replacement])


def test_a_dead_workers_connections_are_counted_out(
    served: tuple[Running, Path, int, list[int]]
) -> None:
    running, _, port, pids = served
    held = [connect(port)[0] for _ in range(3)]  # max_connections_per_ip = 3
    try:
        for pid in pids:  # however the three were spread, every one dies with its worker
            os.kill(pid, signal.SIGKILL)
        dropped = 0
        for _ in pids:
            line = running.wait_for(r"ended \(signal SIGKILL\) with (\d) connection\(s\) open")
            dropped += int(line.group(1))
        assert dropped == 3
        started(running, len(pids))
        for sock in held:
            sock.close()
        # the dead workers' connections no longer count against the address
        held = []
        for _ in range(3):
            sock, greeting = connect(port)
            held.append(sock)
            assert greeting == b"+OK ready\r\n"
        refused, greeting = connect(port)
        refused.close()
        assert greeting == b"-ERR busy\r\n"
    finally:
        for sock in held:
            sock.close()


def test_workers_stop_when_the_supervisor_is_killed(served: tuple[Running, Path, int, list[int]]) -> None:
    running, _, _, pids = served
    running.proc.kill()
    running.wait()
    wait_gone(pids)
    assert any("the supervisor process is gone; stopping" in line for line in running.lines)


def test_a_second_server_on_the_same_store_is_refused(
    served: tuple[Running, Path, int, list[int]], tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(config_text(tmp_path))
    second = Running("serve", "-c", str(other))
    try:
        second.wait_for(r"is in use by another mailward process")
        assert second.wait() == 1  # EXIT_PROBLEMS
    finally:
        second.stop()


def scram_salt(port: int, user: str) -> str:
    """The salt the server offers ``user`` in a SCRAM-SHA-256 exchange (then cancelled)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")

        def reply() -> list[bytes]:
            lines = [stream.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(stream.readline())
            return lines

        reply()
        sock.sendall(b"EHLO client.example\r\n")
        assert any(b"SCRAM-SHA-256" in line for line in reply())
        first = base64.b64encode(f"n,,n={user},r=abcdefghijklmnop".encode())
        sock.sendall(b"AUTH SCRAM-SHA-256 " + first + b"\r\n")
        (challenge,) = reply()
        assert challenge.startswith(b"334 ")
        fields = dict(f.split("=", 1) for f in base64.b64decode(challenge[4:]).decode().split(","))
        sock.sendall(b"*\r\nQUIT\r\n")
        reply()
        return fields["s"]


def test_workers_offer_unknown_users_one_salt(tmp_path: Path) -> None:
    """Without a master key the key for unknown users' SCRAM salts is random, made once
    for the whole server: a salt that changed with the worker a connection landed on
    would tell unknown names from real ones."""
    config = tmp_path / "mailward.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\nworkers = {WORKERS}\n'
        '[[listener]]\nname = "sub"\nprotocol = "smtp"\nrole = "submission"\naddress = "127.0.0.1:0"\n'
        'tls = "none"\nplaintext_login = "allow"\n'
    )
    running = Running("serve", "-c", str(config))
    try:
        started(running, WORKERS)
        (port,) = {int(m.group(1)) for line in running.lines
                   if (m := re.search(r"listening: sub smtp .* on 127\.0\.0\.1:(\d+)", line))}
        salts: dict[str, set[str]] = {}
        for _ in range(100):  # until both workers have answered (the kernel picks one each time)
            salt = scram_salt(port, "ghost@example.org")
            worker = running.wait_for(r"\(worker (\d)\): conn=\w+ listener=sub ").group(1)
            salts.setdefault(worker, set()).add(salt)
            if len(salts) == WORKERS:
                break
        assert len(salts) == WORKERS, f"every connection went to worker {set(salts)}"
        assert len(set().union(*salts.values())) == 1, salts
        assert sum("no master key" in line for line in running.lines) == 1  # said once, not per worker
    finally:
        running.stop()


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was executed with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


@pytest.mark.parametrize(("given", "used"), [(None, "malloc"), ("pymalloc", "pymalloc")])
def test_the_server_runs_on_the_allocator_that_gives_memory_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str | None, used: str,
) -> None:
    # pymalloc kept 10 MiB per worker after a flood of unfinished handshakes: serve
    # executes itself again on glibc's malloc, unless the admin chose an allocator
    if given is None:
        monkeypatch.delenv("PYTHONMALLOC", raising=False)
    else:
        monkeypatch.setenv("PYTHONMALLOC", given)
    config = tmp_path / "mailward.toml"
    config.write_text(config_text(tmp_path))
    running = Running("serve", "-c", str(config))
    try:
        pids = started(running, WORKERS)
        # the same process, executed again: systemd and the pidfile still see one pid
        assert environ(running.proc.pid).get("PYTHONMALLOC") == used
        assert [environ(pid).get("PYTHONMALLOC") for pid in pids] == [used] * WORKERS
        assert sum(f"memory: Python objects allocated by PYTHONMALLOC={used}" in line
                   for line in running.lines) == 1
    finally:
        running.stop()
