"""Interop: the IMAP server with Debian's mbsync (isync), offlineimap and mutt over real
TLS, moving mail both ways between the server and a Maildir until both sides hold the
same messages, byte for byte as each client's own conventions say (issue 21, "Done
when")."""

from __future__ import annotations

import email.parser
import email.policy
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.imap import PASSWORDS, ImapEnv, Mailboxes, message
from support.mime_corpus import all_messages

ALICE = "alice@example.org"


def ok(result: tuple[str, list[Any]]) -> list[Any]:
    status, data = result
    assert status == "OK", (status, data)
    return data


def need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed: `make debs` installs it (Makefile DEBS)")


def server_state(env: ImapEnv) -> Mailboxes:
    return env.mailboxes(ALICE)


# --- mbsync (isync) --------------------------------------------------------------------

# Host is "localhost", not 127.0.0.1: mbsync 1.4 matches the certificate's DNS names only,
# not its IP addresses (the test certificate has both; localhost is 127.0.0.1 here)
MBSYNCRC = """\
IMAPAccount server
Host localhost
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {ca}

IMAPStore remote
Account server

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
"""

# Maildir info flags (the part after ":2,") and the IMAP flags mbsync maps them to
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
SYSTEM_FLAGS = frozenset(MAILDIR_FLAGS.values())  # mbsync 1.4 carries no keywords


def mbsync(env: ImapEnv, tmp: Path) -> str:
    need("mbsync")
    config = tmp / "mbsyncrc"
    if not config.exists():
        (tmp / "Mail").mkdir(exist_ok=True)  # mbsync creates the folders, not the root
        config.write_text(MBSYNCRC.format(port=env.port("imaps"), user=ALICE, password=PASSWORDS[ALICE],
                                          ca=env.ca.cert_path, maildir=tmp / "Mail"))
    done = subprocess.run(["mbsync", "-c", str(config), "-V", "-Dn", "sync"], check=False, capture_output=True,
                          text=True, errors="replace", timeout=60, env={"HOME": str(tmp), "PATH": os.environ["PATH"]})
    assert done.returncode == 0, done.stdout + done.stderr
    transcript = done.stdout + done.stderr  # -Dn: the IMAP conversation
    assert not re.search(r"^\d+ (NO|BAD) ", transcript, re.MULTILINE), transcript
    return transcript


Maildirs = dict[str, dict[str, tuple[frozenset[str], bytes]]]


def maildir_state(root: Path) -> Maildirs:
    """Every folder of a Maildir tree: its messages' flags and bytes by file name
    (without the flags)."""
    state: Maildirs = {}
    for folder in sorted(p.parent for p in root.rglob("cur")):
        name = folder.relative_to(root).as_posix()
        files = {}
        for path in sorted([*(folder / "cur").iterdir(), *(folder / "new").iterdir()]):
            base, _, info = path.name.partition(":2,")
            files[base] = (frozenset(MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS), path.read_bytes())
        state[name] = files
    return state


def with_tuid(data: bytes, tuid: bytes) -> bytes:
    """``data`` (CRLF line ends) as mbsync copies it: the one field it adds, X-TUID, after
    the header's last field (isync's sync.c puts it there to find the copy again after an
    interrupted run; it does so for every message it copies, in either direction)."""
    head, blank, body = data.partition(b"\r\n\r\n")
    assert blank, "a header and a body"
    return head + b"\r\nX-TUID: " + tuid + b"\r\n\r\n" + body


def tuid(data: bytes) -> bytes | None:
    found = re.findall(rb"^X-TUID: (\S{12})\r?$", data, re.MULTILINE)
    assert len(found) <= 1, data
    return bytes(found[0]) if found else None


def lf(data: bytes) -> bytes:
    """Maildir files have the local convention, LF: mbsync turns CRLF into LF on the way
    down and LF into CRLF on the way up (and IMAP's bytes are CRLF, RFC 9051 2.2)."""
    assert b"\n" not in data.replace(b"\r\n", b""), "IMAP's messages have CRLF line ends"
    return data.replace(b"\r\n", b"\n")


def crlf(data: bytes) -> bytes:
    assert b"\r" not in data
    return data.replace(b"\n", b"\r\n")


def same_message(server: bytes, local: bytes) -> bool:
    """The copies are exactly one message: a file mbsync wrote (it has the X-TUID) is the
    server's bytes with LF line ends and the X-TUID field; a message mbsync uploaded
    (the server has the X-TUID) is the file's bytes with CRLF line ends and the field."""
    if (mark := tuid(local)) is not None:
        return local == lf(with_tuid(server, mark))
    if (mark := tuid(server)) is not None:
        return server == with_tuid(crlf(local), mark)
    return False


def assert_in_step(server: Mailboxes, local: Maildirs) -> None:
    """Both sides hold the same messages with the same flags, byte for byte as
    :func:`same_message` says (and nothing else)."""
    assert sorted(local) == sorted(server)
    for name, messages in server.items():
        files = list(local[name].values())
        assert len(files) == len(messages), name
        for flags, data in messages.values():
            copies = [file_flags for file_flags, copy in files if same_message(data, copy)]
            assert copies == [flags & SYSTEM_FLAGS], (name, data, files)


def seed(env: ImapEnv) -> None:
    """What the server holds before the first sync: delivered mail with flags set (a
    keyword too), a large message, a folder with messages, a nested folder with the MIME
    corpus (8-bit header fields and bodies among them)."""
    for n in range(3):
        env.deliver(ALICE, message(f"sync {n}", f"line one\r\nline two {n}"))
    env.deliver(ALICE, message("big", ("x" * 76 + "\r\n") * 4000))  # over 300 KB
    imap = env.login()
    try:
        ok(imap.select("INBOX"))
        ok(imap.store("3", "+FLAGS", "(\\Answered $Label1)"))
        ok(imap.append("Archive", "(\\Seen \\Flagged)", None, message("archived", "kept")))
        ok(imap.create("Lists/python"))
        for data in all_messages().values():
            ok(imap.append("Lists/python", None, None, data))
    finally:
        imap.logout()


def change_both_sides(env: ImapEnv, maildir: Path) -> tuple[bytes, bytes]:
    """Locally: a flag set by renaming, a file deleted, a message dropped into new/ as a
    local program writes it (LF), a folder made with a message; on the server: a flag
    set, a message expunged, new mail. Returns the two local messages."""
    inbox = maildir / "INBOX"
    files = {_subject(path.read_bytes()): path for path in [*(inbox / "cur").iterdir(), *(inbox / "new").iterdir()]}
    seen = files[b"sync 0"]
    seen.rename(seen.with_name(seen.name.partition(":2,")[0] + ":2,S"))
    files[b"sync 1"].unlink()
    written = b"From: alice@example.org\nTo: bob@example.org\nSubject: from the laptop\n\nWritten offline.\n"
    (inbox / "new" / "1796000000.M1P1.laptop").write_bytes(written)
    notes = maildir / "Notes"
    for sub in ("cur", "new", "tmp"):
        (notes / sub).mkdir(parents=True)
    note = b"From: alice@example.org\nSubject: a note\n\nRemember the milk.\n"
    (notes / "cur" / "1796000001.M2P1.laptop:2,S").write_bytes(note)
    imap = env.login()
    try:
        ok(imap.select("INBOX"))
        ok(imap.store("3", "+FLAGS", "(\\Flagged)"))
        ok(imap.store("4", "+FLAGS", "(\\Deleted)"))  # "big"
        ok(imap.expunge())
    finally:
        imap.logout()
    env.deliver(ALICE, message("sync 3", "arrived meanwhile"))
    return written, note


def assert_changes_arrived(after: Mailboxes, written: bytes, note: bytes,
                           uploaded: Callable[[bytes, bytes], bool]) -> None:
    """The changes of :func:`change_both_sides` on the server, the two local messages
    as ``uploaded(server bytes, local file)`` says the client sends them."""
    inbox = {_subject(data): (flags, data) for flags, data in after["INBOX"].values()}
    assert sorted(inbox) == [b"from the laptop", b"sync 0", b"sync 2", b"sync 3"]
    assert "\\Seen" in inbox[b"sync 0"][0]
    assert inbox[b"sync 2"][0] == {"\\Answered", "\\Flagged", "$Label1"}  # the keyword kept
    assert inbox[b"from the laptop"][0] == frozenset()
    assert uploaded(inbox[b"from the laptop"][1], written)
    ((flags, data),) = after["Notes"].values()
    assert flags == {"\\Seen"} and uploaded(data, note)


def test_mbsync_syncs_both_ways(env: ImapEnv, tmp_path: Path) -> None:
    maildir = tmp_path / "Mail"
    seed(env)
    # server -> local: every mailbox a folder, every message a file
    mbsync(env, tmp_path)
    before = server_state(env)
    local = maildir_state(maildir)
    assert sum(len(m) for m in local.values()) == 5 + len(all_messages())
    assert_in_step(before, local)

    # local -> server and server -> local in one run
    written, note = change_both_sides(env, maildir)
    mbsync(env, tmp_path)
    after = server_state(env)
    assert_changes_arrived(after, written, note, same_message)
    local = maildir_state(maildir)
    assert_in_step(after, local)

    # once more: nothing to do, nothing changes on either side
    mbsync(env, tmp_path)
    assert server_state(env) == after
    assert maildir_state(maildir) == local


def _subject(data: bytes) -> bytes:
    found = re.search(rb"\nSubject: (.*?)\r?\n", data)
    assert found is not None
    return found.group(1)


def test_mbsync_with_a_trash_on_the_server(env: ImapEnv, tmp_path: Path) -> None:
    """mbsync's own recommendation (its manual, RECOMMENDATIONS): a Trash on the IMAP
    side, left out of the patterns; a deletion is then UID MOVE to Trash and UID
    EXPUNGE, and uploads carry their arrival date (APPEND with a date-time)."""
    config = tmp_path / "mbsyncrc"
    (tmp_path / "Mail").mkdir()
    config.write_text(MBSYNCRC.format(port=env.port("imaps"), user=ALICE, password=PASSWORDS[ALICE],
                                      ca=env.ca.cert_path, maildir=tmp_path / "Mail")
                      .replace("IMAPStore remote\n", "IMAPStore remote\nTrash Trash\n")
                      .replace("Patterns *", "Patterns * !Trash")
                      .replace("SyncState *", "SyncState *\nCopyArrivalDate yes"))
    seed(env)
    before = server_state(env)
    mbsync(env, tmp_path)
    change_both_sides(env, tmp_path / "Mail")
    transcript = mbsync(env, tmp_path)
    assert re.search(r'UID MOVE \d+ "Trash"', transcript) and "UID EXPUNGE" in transcript
    after = server_state(env)
    deleted = next(data for _, data in before["INBOX"].values() if _subject(data) == b"sync 1")
    assert [data for _, data in after["Trash"].values()] == [deleted]
    assert re.search(r'APPEND "INBOX" "\d\d-\w{3}-\d{4} [\d:]{8} [+-]\d{4}" \{', transcript)
    assert "Trash" not in maildir_state(tmp_path / "Mail")
    mbsync(env, tmp_path)
    assert server_state(env) == after


def test_mbsync_over_starttls_and_never_without_tls(env: ImapEnv, tmp_path: Path) -> None:
    need("mbsync")
    env.deliver(ALICE, message("by starttls"))
    (tmp_path / "Mail").mkdir()
    config = tmp_path / "mbsyncrc"
    for ssl_type in ("STARTTLS", "None"):
        config.write_text(MBSYNCRC.format(port=env.port("imap"), user=ALICE, password=PASSWORDS[ALICE],
                                          ca=env.ca.cert_path, maildir=tmp_path / "Mail")
                          .replace("SSLType IMAPS", f"SSLType {ssl_type}"))
        done = subprocess.run(["mbsync", "-c", str(config), "-V", "-Dn", "sync"], check=False, capture_output=True,
                              text=True, errors="replace", timeout=60,
                              env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]})
        transcript = done.stdout + done.stderr
        if ssl_type == "STARTTLS":
            assert done.returncode == 0, transcript
            assert_in_step(server_state(env), maildir_state(tmp_path / "Mail"))
        else:  # LOGINDISABLED and no mechanism offered: mbsync gives up, the password unsent
            assert done.returncode != 0 and "LOGINDISABLED" in transcript
            assert "LOGIN" not in transcript.replace("LOGINDISABLED", "") and "AUTHENTICATE" not in transcript
            assert PASSWORDS[ALICE] not in transcript

# --- offlineimap -----------------------------------------------------------------------

OFFLINEIMAPRC = """\
[general]
accounts = test
metadata = {tmp}/offlineimap-state
maxsyncaccounts = 1

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}
sep = /

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = yes
sslcacertfile = {ca}
"""


def offlineimap(env: ImapEnv, tmp: Path) -> str:
    need("offlineimap")
    config = tmp / "offlineimaprc"
    if not config.exists():
        config.write_text(OFFLINEIMAPRC.format(tmp=tmp, port=env.port("imaps"), user=ALICE,
                                               password=PASSWORDS[ALICE], ca=env.ca.cert_path,
                                               maildir=tmp / "OfflineMail"))
    done = subprocess.run(["offlineimap", "-c", str(config), "-o", "-u", "basic", "-d", "imap"],
                          check=False, capture_output=True, text=True, errors="replace", timeout=120,
                          env={"HOME": str(tmp), "PATH": os.environ["PATH"]})
    transcript = done.stdout + done.stderr  # -d imap: the IMAP conversation
    assert done.returncode == 0, transcript
    assert "ERROR" not in transcript and "WARNING" not in transcript, transcript
    assert not re.search(r"reader < b'[A-Z]+\d+ (NO|BAD) ", transcript), transcript
    return transcript


# offlineimap (offlineimap3) keeps each message as a Python email object: it parses what
# it fetched and writes that out again, in folder/IMAP.py and folder/Maildir.py, with
# these policies. The IMAP conversation carries the server's exact bytes (its -d imap
# transcript shows them); the Maildir file is what Python's generator makes of them,
# which for most messages is the same bytes with LF line ends, and for a few is not
# (the generator writes a blank line after a nested multipart's closing boundary).
OFFLINEIMAP_8BIT = email.policy.default.clone(cte_type="8bit", utf8=True, refold_source="none")
OFFLINEIMAP_8BIT_RFC = OFFLINEIMAP_8BIT.clone(linesep="\r\n")


def offlineimap_down(data: bytes) -> bytes:
    """The Maildir file offlineimap writes for a message the server sent as ``data``."""
    parsed = email.parser.BytesParser(policy=OFFLINEIMAP_8BIT_RFC).parsebytes(data)
    return parsed.as_bytes(policy=OFFLINEIMAP_8BIT)


def offlineimap_up(data: bytes) -> bytes:
    """What offlineimap APPENDs for the Maildir file ``data``."""
    parsed = email.parser.BytesParser(policy=OFFLINEIMAP_8BIT).parsebytes(data)
    return parsed.as_bytes(policy=OFFLINEIMAP_8BIT_RFC)


def test_offlineimap_keeps_most_messages_as_they_are() -> None:
    """What offlineimap's own round trip changes, so that the sync test below says
    "byte-identical" for every other message."""
    changed = {name for name, data in all_messages().items() if offlineimap_down(data) != lf(data)}
    assert changed == {"forwarded"}  # a blank line after the nested multipart's closing boundary
    assert all(offlineimap_up(lf(data)) == data for name, data in all_messages().items() if name not in changed)


def assert_same(server: Mailboxes, local: Maildirs) -> None:
    """Both sides hold the same messages with the same flags, every local file exactly
    what offlineimap makes of the server's bytes (see above): nothing else added or
    taken away."""
    assert sorted(local) == sorted(server)
    for name, messages in server.items():
        want = sorted((sorted(flags & SYSTEM_FLAGS), offlineimap_down(data)) for flags, data in messages.values())
        have = sorted((sorted(flags), data) for flags, data in local[name].values())
        assert have == want, name


def test_offlineimap_syncs_both_ways(env: ImapEnv, tmp_path: Path) -> None:
    maildir = tmp_path / "OfflineMail"
    seed(env)
    offlineimap(env, tmp_path)
    assert_same(server_state(env), maildir_state(maildir))

    written, note = change_both_sides(env, maildir)
    offlineimap(env, tmp_path)
    after = server_state(env)
    assert_changes_arrived(after, written, note, lambda up, file: up == offlineimap_up(file) == crlf(file))
    local = maildir_state(maildir)
    assert_same(after, local)

    offlineimap(env, tmp_path)
    assert server_state(env) == after
    assert maildir_state(maildir) == local


# --- mutt (in batch mode, through script(1) for its terminal) -------------------------

MUTTRC = """\
set folder = "{tmp}"
set ssl_ca_certificates_file = "{ca}"
set ssl_force_tls = yes
set imap_user = "{user}"
set imap_pass = "{password}"
set mbox_type = Maildir
set confirmcreate = no
set confirmappend = no
set delete = yes
set move = no
set mark_old = no
set quit = yes
set wait_key = no
set sort = mailbox-order
set header_cache = ""
set message_cachedir = ""
"""


def mutt(env: ImapEnv, tmp: Path, folder: str, keys: str) -> None:
    """mutt on ``folder`` typing ``keys``; it needs a terminal, which script(1) gives it."""
    need("mutt")
    need("script")
    config = tmp / "muttrc"
    if not config.exists():
        config.write_text(MUTTRC.format(tmp=tmp, ca=env.ca.cert_path, user=ALICE, password=PASSWORDS[ALICE]))
        (tmp / "home").mkdir()
    command = f"mutt -n -F {config} -f '{folder}' -e \"push '{keys}<quit>'\""
    done = subprocess.run(["script", "-qec", command, "/dev/null"], check=False, capture_output=True,
                          timeout=60, env={"HOME": str(tmp / "home"), "PATH": os.environ["PATH"], "TERM": "vt100"})
    assert done.returncode == 0, done.stdout + done.stderr


def mutt_copy(data: bytes) -> bytes:
    """A message as mutt copies it (copy.c, CH_UPDATE_LEN): LF line ends, and the body's
    Content-Length and Lines as the last fields of the header."""
    head, _, body = lf(data).partition(b"\n\n")
    return head + b"\nContent-Length: %d\nLines: %d\n\n" % (len(body), body.count(b"\n")) + body


def test_mutt_copies_both_ways(env: ImapEnv, tmp_path: Path) -> None:
    server_url = f"imaps://localhost:{env.port('imaps')}"
    for n in range(3):
        env.deliver(ALICE, message(f"m{n}", f"body {n}"))
    imap = env.login()
    try:
        for data in all_messages().values():
            ok(imap.append("INBOX", None, None, data))
    finally:
        imap.logout()
    inbox = server_state(env)["INBOX"]

    # down: every message copied into a local Maildir
    local = tmp_path / "local"
    mutt(env, tmp_path, f"{server_url}/INBOX", f"<tag-pattern>~A<enter><tag-prefix><copy-message>{local}<enter>")
    files = [path.read_bytes() for path in sorted((local / "new").iterdir())]
    assert sorted(files) == sorted(mutt_copy(data) for _, data in inbox.values())

    # on the server: a flag set, a message deleted and expunged (mutt moves on to the next
    # message after each)
    mutt(env, tmp_path, f"{server_url}/INBOX", "<first-entry><flag-message><delete-message><sync-mailbox>")
    after = server_state(env)["INBOX"]
    assert sorted(after) == [uid for uid in inbox if uid != 2]
    assert after[1][0] == {"\\Flagged"} and all(flags == frozenset() for flags, _ in list(after.values())[1:])

    # up: the local copies into a new mailbox on the server
    mutt(env, tmp_path, str(local), f"<tag-pattern>~A<enter><tag-prefix><copy-message>{server_url}/Uploaded<enter>")
    uploaded = [data for _, data in server_state(env)["Uploaded"].values()]
    assert sorted(uploaded) == sorted(crlf(data) for data in files)
