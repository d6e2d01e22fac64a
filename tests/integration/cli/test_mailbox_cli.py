"""`mailward mailbox import|export` as an admin runs them: real processes, a real store."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from support.maildirs import make_maildir, read_maildir
from support.proc import command, env, mailward


@pytest.fixture
def config(tmp_path: Path) -> str:
    assert mailward("init", "--dir", str(tmp_path), "--hostname", "mail.example.org").returncode == 0
    c = ("-c", str(tmp_path / "mailward.toml"))
    assert mailward("domain", "add", "example.org", *c).returncode == 0
    assert mailward("user", "add", "bob@example.org", "--no-password", *c).returncode == 0
    return str(tmp_path / "mailward.toml")


def test_import_again_and_export(config: str, tmp_path: Path) -> None:
    made = make_maildir(tmp_path / "dovecot", 200, big=0)
    c = ("-c", config)
    first = mailward("mailbox", "import", "bob@example.org", "--maildir", str(made.root), *c)
    assert first.returncode == 0, first.stderr
    # the new account has INBOX, Sent and Archive already; the other four folders are made
    assert first.stdout == "imported 200 message(s) into 7 mailbox(es) (4 created); 0 imported before, skipped\n"
    assert first.stderr == "importing: 200 of 200 messages (Sent)\n"  # not a terminal: plain lines
    again = mailward("mailbox", "import", "bob@example.org", "--maildir", str(made.root), *c)
    assert "imported 0 message(s) into 7 mailbox(es) (0 created); 200 imported before" in again.stdout

    out = tmp_path / "out"
    exported = mailward("mailbox", "export", "bob@example.org", "--maildir", str(out), *c)
    assert exported.returncode == 0, exported.stderr
    assert "exported 200 message(s) from 10 mailbox(es)" in exported.stdout  # with Drafts, Junk, Trash
    back = read_maildir(out)
    assert {n: sorted(m) for n, m in back.items()} == {n: sorted(m) for n, m in made.messages.items()}
    assert (out / ".Drafts" / "cur").is_dir()

    mbox = tmp_path / "sent.mbox"
    sent = mailward("mailbox", "export", "bob@example.org", "--mbox", str(mbox), "--mailbox", "Sent", *c)
    assert sent.returncode == 0, sent.stderr
    assert mbox.read_bytes().count(b"\nFrom sender") + 1 == len(made.messages["Sent"])
    assert "exists already" in mailward("mailbox", "export", "bob@example.org", "--mbox", str(mbox), *c).stderr


def test_refusals_are_one_line(config: str, tmp_path: Path) -> None:
    c = ("-c", config)
    missing = mailward("mailbox", "import", "bob@example.org", "--maildir", str(tmp_path / "nope"), *c)
    assert (missing.returncode, missing.stderr) == (1, f"mailward: {tmp_path / 'nope'}: no such directory\n")
    (tmp_path / "plain").mkdir()
    plain = mailward("mailbox", "import", "bob@example.org", "--maildir", str(tmp_path / "plain"), *c)
    assert "not a Maildir (it has no cur/ or new/ directory)" in plain.stderr
    nobody = mailward("mailbox", "import", "nobody@example.org", "--mbox", str(tmp_path / "x"), *c)
    assert nobody.stderr == "mailward: there is no user nobody@example.org (see `mailward user list`)\n"
    both = mailward("mailbox", "import", "bob@example.org", "--mbox", "a", "--maildir", "b", *c)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    full = mailward("mailbox", "export", "bob@example.org", "--maildir", str(tmp_path / "full"), *c)
    assert "exists and is not an empty directory" in full.stderr
    nobox = mailward("mailbox", "export", "bob@example.org", "--mbox", str(tmp_path / "m"), "--mailbox", "No", *c)
    assert "there is no mailbox 'No'" in nobox.stderr


def test_a_terminal_gets_a_progress_bar(config: str, tmp_path: Path) -> None:
    made = make_maildir(tmp_path / "dovecot", 50, big=0)
    master, slave = pty.openpty()
    proc = subprocess.Popen(command(["mailbox", "import", "bob@example.org", "--maildir", str(made.root),
                                     "-c", config]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave, env={**env(), "COLUMNS": "100", "TERM": "xterm"})
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end is closed
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"imported 50 message(s)" in out
    assert b"50/50" in seen and "━".encode() in seen  # rich's bar, its count
    assert b"importing:" not in seen
