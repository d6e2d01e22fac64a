"""Debian's fetchmail and getmail6 download a mailbox from mailward's POP3 listeners, in keep
mode and in delete mode, over STLS and implicit TLS with the certificate verified: what
they deliver locally is byte for byte what SMTP stored (for getmail, which re-serialises
messages for local delivery, once its LF line ends and header refolding are undone).
getmail6 has no STLS: it speaks POP3 over implicit TLS or not at all, so it is tested on
995's listener only."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import PASSWORDS, Pop3Env, make_message

ALICE = "alice@example.org"
pytestmark = pytest.mark.skipif(not (shutil.which("fetchmail") and shutil.which("getmail")),
                                reason="needs Debian's fetchmail and getmail6 (make deps)")


def mailbox(env: Pop3Env) -> list[bytes]:
    """What to download: sizes from tiny to 300 KiB, lines starting with dots, no final CRLF."""
    messages = [make_message(i, size) for i, size in enumerate((200, 1024, 5000, 100 * 1024, 300 * 1024))]
    messages.append(b"Subject: no final newline\r\n\r\n.starts with a dot\r\nlast line")
    env.deliver(ALICE, messages)
    stored = env.inbox(ALICE)
    assert len(stored) == len(messages)
    return stored


def received_files(directory: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in directory.iterdir() if p.is_file())


def expected(stored: list[bytes]) -> list[bytes]:
    """POP3 ends every message with a line end (RFC 1939 3): one without gets CRLF."""
    return sorted(m if m.endswith(b"\r\n") else m + b"\r\n" for m in stored)


def fetchmail(env: Pop3Env, out: Path, *, implicit: bool, keep: bool) -> subprocess.CompletedProcess[str]:
    work = out.parent
    out.mkdir(parents=True)
    deliver = work / "deliver.sh"
    deliver.write_text('#!/bin/sh\nexec cat > "$1/$(date +%s%N)-$$"\n')
    deliver.chmod(0o755)
    port = env.port("pop3s" if implicit else "pop3")
    rc = work / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\nset invisible\n"
        f"poll localhost via 127.0.0.1 service {port} protocol pop3 auth password timeout 30\n"
        f'  user "{ALICE}" there with password "{PASSWORDS[ALICE]}" is "{getpass.getuser()}" here\n'
        f'  {"ssl " if implicit else ""}sslproto "tls1.2+" sslcommonname "localhost" sslcertck sslcertfile "{env.ca.cert_path}"\n'
        f'  {"keep" if keep else "no keep"} fetchall no rewrite no stripcr no forcecr no mimedecode\n'
        "  no dropstatus no dropdelivered\n"
        f'  mda "{deliver} {out}"\n'
    )
    rc.chmod(0o600)
    return subprocess.run(
        ["fetchmail", "-f", str(rc), "--idfile", str(work / "fetchids"), "--nodetach", "-v"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HOME": str(work), "FETCHMAILHOME": str(work)},
    )


@pytest.mark.parametrize("implicit", [False, True], ids=["stls", "implicit"])
def test_fetchmail_keep_then_delete(env: Pop3Env, tmp_path: Path, implicit: bool) -> None:
    stored = mailbox(env)
    kept = fetchmail(env, tmp_path / "keep" / "mail", implicit=implicit, keep=True)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert received_files(tmp_path / "keep" / "mail") == expected(stored)
    assert env.inbox(ALICE) == stored  # keep: all still there
    if not implicit:
        env.wait_for_log(r"STLS: TLSv1\.[23]")
    deleted = fetchmail(env, tmp_path / "delete" / "mail", implicit=implicit, keep=False)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert unfolded(received_files(tmp_path / "delete" / "mail")) == unfolded(expected(stored))
    assert env.inbox(ALICE) == []  # deleted at QUIT


def getmail(env: Pop3Env, work: Path, *, keep: bool) -> subprocess.CompletedProcess[str]:
    out = work / "mail"
    out.mkdir(parents=True)
    # an external MDA: getmail's Maildir writer refuses to run as root, which the tests may be
    (work / "getmailrc").write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = localhost\n"
        f"port = {env.port('pop3s')}\nusername = {ALICE}\npassword = {PASSWORDS[ALICE]}\n"
        f"ca_certs = {env.ca.cert_path}\n"
        "[destination]\ntype = MDA_external\npath = /bin/sh\n"
        f"arguments = (\"-c\", \"exec cat > {out}/$(date +%s%N)-$$\")\n"
        "allow_root_commands = true\nunixfrom = false\n"
        f"[options]\nread_all = true\ndelete = {'false' if keep else 'true'}\n"
        "delivered_to = false\nreceived = false\nverbose = 2\n"
    )
    return subprocess.run(
        ["getmail", "--getmaildir", str(work), "--rcfile", "getmailrc"],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "HOME": str(work)},
    )


def unfolded(messages: list[bytes]) -> list[bytes]:
    """getmail re-serialises what it hands a local MDA: LF line ends (the local convention)
    and header fields longer than 78 characters folded anew by Python's email package. The
    body must be the same bytes, the header the same once unfolded (RFC 5322 2.2.3)."""
    out = []
    for message in messages:
        lf = message.replace(b"\r\n", b"\n")
        header, sep, body = lf.partition(b"\n\n")
        out.append(re.sub(rb"\n(?=[ \t])", b"", header) + sep + body)
    return sorted(out)


def test_getmail_keep_then_delete(env: Pop3Env, tmp_path: Path) -> None:
    stored = mailbox(env)
    kept = getmail(env, tmp_path / "keep", keep=True)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert unfolded(received_files(tmp_path / "keep" / "mail")) == unfolded(expected(stored))
    assert env.inbox(ALICE) == stored
    deleted = getmail(env, tmp_path / "delete", keep=False)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert unfolded(received_files(tmp_path / "delete" / "mail")) == unfolded(expected(stored))
    assert env.inbox(ALICE) == []
