"""The maildrop lock across worker processes: ``mailward serve`` with two workers, two POP3
clients on one maildrop, each served by a different worker; the second gets [IN-USE]
until the first quits."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

from mailward.auth.accounts import AccountService
from mailward.config import load
from mailward.server.registry import protocol_rules
from mailward.store.factory import open_store
from support.proc import Running

WORKERS = 2
PASSWORD = "alice-secret-1"


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.file.readline()

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.file.readline().rstrip(b"\r\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def worker_of(running: Running, client: Client) -> str:
    match = running.wait_for(rf"\(worker (\d)\): conn=\w+ open listener=pop3 peer=127\.0\.0\.1:{client.local_port}$")
    return match.group(1)


def test_one_session_per_maildrop_across_workers(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\nworkers = {WORKERS}\nlog_level = "debug"\n'
        '[[listener]]\nname = "pop3"\nprotocol = "pop3"\naddress = "127.0.0.1:0"\n'
        'tls = "none"\nplaintext_login = "allow"\n'
    )
    settings = load(config, protocol_rules()).config

    async def setup() -> None:
        store = await open_store(settings.store, settings.data_dir)
        try:
            accounts = AccountService(store)
            await accounts.add_domain("example.org")
            await accounts.add_user("alice@example.org", PASSWORD)
        finally:
            await store.close()

    asyncio.run(setup())
    running = Running("serve", "-c", str(config))
    clients: list[Client] = []
    try:
        for _ in range(WORKERS):
            running.wait_for(rf"mailward started \(pid \d+, worker \d of {WORKERS}\)")
        (port,) = {int(m.group(1)) for line in running.lines
                   if (m := re.search(r"listening: pop3 pop3 .* on 127\.0\.0\.1:(\d+)", line))}
        first = Client(port)
        clients.append(first)
        first_worker = worker_of(running, first)
        assert first.command("USER alice@example.org").startswith(b"+OK")
        assert first.command(f"PASS {PASSWORD}").startswith(b"+OK Maildrop has 0 messages")
        second = None
        for _ in range(100):  # until the kernel hands a connection to the other worker
            candidate = Client(port)
            clients.append(candidate)
            if worker_of(running, candidate) != first_worker:
                second = candidate
                break
            candidate.close()
        assert second is not None, "every connection went to one worker"
        assert second.command("USER alice@example.org").startswith(b"+OK")
        assert second.command(f"PASS {PASSWORD}") == b"-ERR [IN-USE] Maildrop is in use by another session"
        assert first.command("QUIT") == b"+OK Bye (nothing deleted)"
        assert second.command("USER alice@example.org").startswith(b"+OK")
        reply = second.command(f"PASS {PASSWORD}")
        assert reply.startswith(b"+OK Maildrop has 0 messages"), reply  # released at QUIT, at once
        assert second.command("QUIT").startswith(b"+OK")
    finally:
        for client in clients:
            client.close()
        running.stop()
