"""`mailward init --dev-ports` then `mailward serve` with two workers: IMAP over implicit
TLS with imaplib, mail delivered over SMTP, and IDLE sessions on either worker hearing
of it within a second (the change feed between worker processes)."""

from __future__ import annotations

import imaplib
import re
import smtplib
import ssl
import time
from pathlib import Path

from support.proc import Running, any_free_port, mailward

USER, PASSWORD = "alice@example.org", "alice-pw-12345"


def _port(running: Running, listener: str) -> int:
    return int(running.find(rf"listening: {listener} \w+ \(.*\) on 127\.0\.0\.1:(\d+)").group(1))


def test_idle_sessions_on_both_workers_hear_of_new_mail(tmp_path: Path) -> None:
    assert mailward("init", "--dir", str(tmp_path), "--dev-ports", "--hostname", "localhost").returncode == 0
    config = tmp_path / "mailward.toml"
    any_free_port(config)
    config.write_text(config.read_text().replace("workers = 0", "workers = 2")
                      if "workers = 0" in config.read_text() else "workers = 2\n" + config.read_text())
    for args, stdin in ((("domain", "add", "example.org"), ""),
                        (("user", "add", USER), f"{PASSWORD}\n{PASSWORD}\n")):
        done = mailward(*args, "-c", str(config), stdin=stdin)
        assert done.returncode == 0, done.stderr
    cert = next(tmp_path.rglob("server.crt"))
    context = ssl.create_default_context(cafile=str(cert))
    running = Running("serve", "-c", str(config))
    clients: list[tuple[imaplib.IMAP4_SSL, bytes]] = []
    try:
        running.wait_for(r"mailward started \(pid \d+, worker 2 of 2\)")
        imaps, mx = _port(running, "imaps"), _port(running, "mx")
        workers: set[str] = set()
        for _ in range(20):  # until IDLE sessions sit on both workers (the kernel picks one each time)
            client = imaplib.IMAP4_SSL("localhost", imaps, ssl_context=context, timeout=10)
            client.login(USER, PASSWORD)
            client.select("INBOX")
            tag = client._new_tag()
            client.send(tag + b" IDLE\r\n")
            assert client.readline().startswith(b"+ ")
            clients.append((client, tag))
            workers.add(running.wait_for(r"\(worker (\d)\): conn=\w+ login ok protocol=imap").group(1))
            if len(workers) == 2 and len(clients) >= 3:
                break
        assert workers == {"1", "2"}, f"every IMAP session went to worker {workers}"
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", mx, timeout=10) as smtp:
            smtp.sendmail("someone@example.net", [USER], b"Subject: hello\r\n\r\nbody\r\n")
        for client, _ in clients:
            assert client.readline() == b"* 1 EXISTS\r\n"
        assert time.monotonic() - started < 2.0  # within 1 s of the commit, plus SMTP's own time
        for client, tag in clients:
            client.send(b"DONE\r\n")
            while not (line := client.readline()).startswith(tag):
                pass
            assert re.match(rb"\S+ OK", line)
            client.logout()
    finally:
        running.stop()
