"""``mailward serve`` indexes the text of delivered mail by itself (the text-indexer job),
after the 250: a message delivered over SMTP becomes searchable without a search first."""

from __future__ import annotations

import smtplib
import sqlite3
import time
from pathlib import Path

from support.proc import Running, mailward

MESSAGE = (b"From: someone@example.net\r\nTo: alice@example.org\r\nSubject: the zeppelin report\r\n\r\n"
           b"Body text about airships.\r\n")


def _states(store: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
        return [(int(a), int(b)) for a, b in db.execute("SELECT text_state, count(*) FROM blobs GROUP BY 1")]


def test_delivered_mail_is_indexed_in_the_background(tmp_path: Path) -> None:
    config = tmp_path / "mailward.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\nhostname = "mx.example.org"\nworkers = 2\n'
        '[[listener]]\nname = "mx"\nprotocol = "smtp"\nrole = "mx"\naddress = "127.0.0.1:0"\ntls = "none"\n'
    )
    for args, stdin in ((("domain", "add", "example.org"), ""),
                        (("user", "add", "alice@example.org"), "pw-123456\npw-123456\n")):
        done = mailward(*args, "-c", str(config), stdin=stdin)
        assert done.returncode == 0, done.stderr
    running = Running("serve", "-c", str(config))
    try:
        running.wait_for(r"mailward started \(pid \d+, worker 2 of 2\)")
        port = int(running.find(r"listening: mx smtp .* on 127\.0\.0\.1:(\d+)").group(1))
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            for _ in range(3):
                client.sendmail("someone@example.net", ["alice@example.org"], MESSAGE)
        store = tmp_path / "store" / "store.sqlite3"
        deadline = time.monotonic() + 20  # the job runs every second
        while (states := _states(store)) != [(1, 3)]:
            assert time.monotonic() < deadline, f"not indexed: text_state counts {states}"
            time.sleep(0.1)
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            found = db.execute("SELECT count(*) FROM blob_text WHERE body GLOB '*airships*'").fetchone()
        assert found == (3,)
    finally:
        running.stop()
