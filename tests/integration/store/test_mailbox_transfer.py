"""`mailward mailbox import/export` against each store: a Dovecot Maildir round-trips
byte for byte (issue 20), a second import adds nothing, mbox goes out and back in."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from mailward.admin import maildir as md
from mailward.admin.mailbox_export import export_maildir, export_mbox
from mailward.admin.mailbox_import import TransferError, import_maildir, import_mbox
from mailward.auth.accounts import AccountService
from mailward.store.interface import INBOX, NewMessage
from mailward.store.sql.store import SqlStore
from support.maildirs import FOLDERS, make_maildir, read_maildir

USER = "bob@example.org"
_EXPORTED = re.compile(r"(\d+)\.M(\d+)P\d+Q(\d+)\.[^,]+,S=(\d+),W=(\d+):2,([A-Za-z]*)")


def as_counter(messages: list[tuple[bytes, frozenset[str], int]]) -> Counter[tuple[bytes, frozenset[str], int]]:
    return Counter(messages)


async def round_trip(store: SqlStore, tmp_path: Path, count: int) -> None:
    made = make_maildir(tmp_path / "dovecot", count)
    service = AccountService(store)
    account = await store.create_account(USER)

    writes = 0
    real = store.import_messages

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal writes
        writes += 1
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    store.import_messages = counted  # type: ignore[method-assign]
    started = time.monotonic()
    report = await import_maildir(service, USER, made.root)
    took = time.monotonic() - started
    store.import_messages = real  # type: ignore[method-assign]
    # batches: a durable write per 500 messages (or 8 MiB) of a folder, not one per message
    assert writes <= made.count // 500 + 2 * len(FOLDERS)
    assert report.problems == []
    assert (report.added, report.skipped) == (made.count, 0)
    assert sorted(report.mailboxes) == sorted(FOLDERS)
    boxes = {b.name: b for b in await store.list_mailboxes(account.id)}
    assert set(boxes) == set(FOLDERS)
    assert {n for n, b in boxes.items() if b.subscribed} == made.subscribed
    for name, written in made.messages.items():
        infos = await store.messages(boxes[name].id)
        # UIDs in the order of Dovecot's uidlist, flags and dates as the files had them
        assert [(i.flags, i.internal_date) for i in infos] == [(f, float(t)) for _, f, t in written], name
        assert [i.size for i in infos] == [len(d.replace(b"\n", b"\r\n")) for d, _, _ in written]
    first = (await store.messages(boxes[INBOX].id))[0]
    stored = b"".join([c async for c in store.read(first.blob)])
    assert stored == made.messages[INBOX][0][0].replace(b"\n", b"\r\n")  # CRLF in the store

    again = await import_maildir(service, USER, made.root)
    assert (again.added, again.skipped, again.created) == (0, made.count, 0)
    assert (await store.quota(account.id)).messages == made.count

    out = tmp_path / "exported"
    exported = await export_maildir(service, USER, out)
    assert exported.messages == made.count and exported.problems == []
    back = read_maildir(out)
    for name, written in made.messages.items():
        assert as_counter(back[name]) == as_counter(written), name
    # Dovecot's file names: S= the size on disk, W= with CRLF, in cur/, nothing left in tmp/
    for dirname, _ in FOLDERS.values():
        folder = out / dirname if dirname else out
        assert list((folder / "tmp").iterdir()) == [] and list((folder / "new").iterdir()) == []
        for file in (folder / "cur").iterdir():
            match = _EXPORTED.fullmatch(file.name)
            assert match is not None, file.name
            data = file.read_bytes()
            assert int(match.group(4)) == len(data)
            assert int(match.group(5)) == len(data.replace(b"\n", b"\r\n"))
            assert int(match.group(1)) == int(file.stat().st_mtime)
    assert set(md.parse_subscriptions((out / "subscriptions").read_text())) == made.subscribed
    print(f"{made.count} messages imported in {took:.1f} s")


async def test_a_dovecot_maildir_round_trips_byte_for_byte(store: SqlStore, tmp_path: Path) -> None:
    # issue 20: 10,000 messages on the embedded store, fewer on PostgreSQL
    await round_trip(store, tmp_path, 10_000 if store.backend == "sqlite" else 1_500)


async def test_mbox_out_and_back_in(store: SqlStore, tmp_path: Path) -> None:
    made = make_maildir(tmp_path / "dovecot", 300, big=1)
    service = AccountService(store)
    await store.create_account(USER)
    await store.create_account("carol@example.org")
    await import_maildir(service, USER, made.root)
    bob = await store.find_account(USER)
    assert bob is not None
    source = await store.get_mailbox(bob.id, INBOX)
    assert source is not None
    await store.append(source.id, [NewMessage(b"Subject: no line end\r\n\r\nlast", internal_date=1e9)])
    file = tmp_path / "inbox.mbox"
    report = await export_mbox(service, USER, file)
    assert report.messages == len(made.messages[INBOX]) + 1
    text = file.read_bytes()
    assert text.startswith(b"From sender")
    assert b"\n>From the desk" in text and b"\n>>From quoted" in text  # mboxrd quoting

    imported = await import_mbox(service, "carol@example.org", file, into="Old/Inbox")
    assert imported.problems == [] and imported.added == len(made.messages[INBOX]) + 1
    carol = await store.find_account("carol@example.org")
    assert carol is not None
    box = await store.get_mailbox(carol.id, "Old/Inbox")
    bob = await store.find_account(USER)
    assert box is not None and bob is not None
    source = await store.get_mailbox(bob.id, INBOX)
    assert source is not None
    originals = await store.messages(source.id)
    copies = await store.messages(box.id)

    async def whole(info: object) -> bytes:
        return b"".join([c async for c in store.read(info.blob)])  # type: ignore[attr-defined]

    def with_line_end(data: bytes) -> bytes:
        # RFC 4155: in mbox every message ends with a line end; one that had none gets one
        return data if data.endswith(b"\r\n") else data + b"\r\n"

    # the same bytes (quoting undone, Status/X-Status/X-Keywords taken out), flags and dates
    assert [(await whole(i), i.flags, i.internal_date) for i in copies] == [
        (with_line_end(await whole(i)), i.flags, i.internal_date) for i in originals]
    assert any([not (await whole(i)).endswith(b"\r\n") for i in originals])  # the case is there
    assert (await import_mbox(service, "carol@example.org", file, into="Old/Inbox")).added == 0
    os.remove(file)


async def test_an_mbox_file_as_mutt_or_dovecot_left_it(store: SqlStore, tmp_path: Path) -> None:
    file = tmp_path / "old.mbox"
    file.write_bytes(
        b"preamble that is no message\n\n"
        b"From alice@example.org Tue Dec  8 00:06:07 2026\n"
        b"Status: RO\nX-Status: AF\nX-Keywords: Junk $Forwarded\nSubject: one\nX-UID: 7\n\n"
        b"Hello\n>From the past\n>>From further\n\n"
        b"From bob@example.org Wed Dec  9 01:02:03 2026\n"
        b"Subject: two\n\nbody " + b"x" * 3_000_000 + b"\nend\n\n"
        b"From bob@example.org Wed Dec  9 01:02:04 2026\nSubject: bad keyword\nX-Keywords: ok (bad\n\nlast")
    service = AccountService(store)
    account = await store.create_account(USER)
    report = await import_mbox(service, USER, file, into="Archive/Old")
    assert report.added == 3 and report.created == 1
    assert report.problems == [f"{file}: keyword(s) '(bad' are no IMAP atoms: left out",
                               f"{file}: 2 line(s) before the first From line are no message: skipped"]
    box = await store.get_mailbox(account.id, "Archive/Old")
    assert box is not None
    infos = await store.messages(box.id)
    bodies = [b"".join([c async for c in store.read(i.blob)]) for i in infos]
    assert bodies[0] == b"Subject: one\r\n\r\nHello\r\nFrom the past\r\n>From further\r\n"
    assert bodies[1] == b"Subject: two\r\n\r\nbody " + b"x" * 3_000_000 + b"\r\nend\r\n"
    assert bodies[2] == b"Subject: bad keyword\r\n\r\nlast"
    assert [i.flags for i in infos] == [
        frozenset({"\\Seen", "\\Answered", "\\Flagged", "Junk", "$Forwarded"}), frozenset(), frozenset({"ok"})]
    assert [i.internal_date for i in infos] == [1796688367.0, 1796778123.0, 1796778124.0]
    assert (await import_mbox(service, USER, file, into="Archive/Old")).skipped == 3


async def test_over_quota_says_so_and_goes_on_where_it_stopped(store: SqlStore, tmp_path: Path) -> None:
    made = make_maildir(tmp_path / "dovecot", 40, big=0)
    service = AccountService(store)
    account = await store.create_account(USER, quota_bytes=20_000)
    with pytest.raises(TransferError, match=r"over the account's quota after \d+ message\(s\)"):
        await import_maildir(service, USER, made.root)
    before = (await store.quota(account.id)).messages
    await store.set_quota(account.id, 0)
    report = await import_maildir(service, USER, made.root)
    assert report.skipped == before and report.added == made.count - before
