"""Conformance of what IMAP selects and fetches with: snapshots and ranged reads (both backends)."""

from __future__ import annotations

import asyncio
import os

import pytest

from mailward.store.interface import INBOX, BlobRef, FlagOp, NewMessage, NotFound
from mailward.store.sql.store import SqlStore
from mailward.store.uidset import UidSet

CHUNK = 256 * 1024


async def inbox_of(store: SqlStore, name: str = "alice@example.org") -> int:
    account = await store.create_account(name)
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    return box.id


async def read(store: SqlStore, blob: BlobRef, offset: int = 0, length: int | None = None) -> list[bytes]:
    return [chunk async for chunk in store.read(blob, offset, length)]


async def test_a_snapshot_holds_the_mailbox_and_its_messages_in_uid_order(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    flags = [frozenset(), frozenset({"\\Seen"}), frozenset({"\\Seen", "$Junk"}), frozenset({"\\Seen"})]
    added = await store.append(inbox, [NewMessage(b"m%d" % i, flags=f) for i, f in enumerate(flags)])
    await store.expunge(inbox, UidSet.span(added[0].uid, added[0].uid), deleted_only=False)
    changed = await store.store_flags(inbox, UidSet.span(added[3].uid, added[3].uid), FlagOp.ADD,
                                      frozenset({"Work"}))

    snap = await store.snapshot(inbox)
    box = await store.mailbox(inbox)
    assert snap.mailbox == box
    assert list(snap.uids) == [a.uid for a in added[1:]]
    assert list(snap.modseqs) == [added[1].modseq, added[2].modseq, changed.highest_modseq]
    assert [snap.flags(i) for i in range(len(snap))] == [
        frozenset({"\\Seen"}), frozenset({"\\Seen", "$Junk"}), frozenset({"\\Seen", "Work"})]
    assert len(snap.flag_sets) == 3  # one per distinct set, shared by the messages with it
    assert snap.keywords == frozenset({"$Junk", "Work"})
    assert snap.index_of(added[2].uid) == 1
    assert snap.index_of(added[0].uid) is None and snap.index_of(10**6) is None


async def test_a_snapshot_of_an_empty_or_missing_mailbox(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    snap = await store.snapshot(inbox)
    assert len(snap) == 0 and snap.keywords == frozenset() and snap.mailbox.uid_next == 1
    with pytest.raises(NotFound):
        await store.snapshot(inbox + 1000)


async def test_a_snapshot_costs_tens_of_bytes_per_message(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    await store.append(inbox, [NewMessage(b"x", flags=frozenset({"\\Seen"} if i % 3 else ())) for i in range(2000)])
    snap = await store.snapshot(inbox)
    assert len(snap) == 2000
    assert snap.nbytes / len(snap) <= 16  # UID 4 + MODSEQ 8 + flag set 4


async def test_a_snapshot_is_one_read_while_messages_arrive(store: SqlStore) -> None:
    """The mailbox row and the message arrays agree even while appends commit."""
    inbox = await inbox_of(store)

    async def append_many() -> None:
        for i in range(40):
            await store.append(inbox, [NewMessage(b"n%d" % i)])

    writer = asyncio.create_task(append_many())
    try:
        while not writer.done():
            snap = await store.snapshot(inbox)
            assert len(snap) == snap.mailbox.uid_next - 1  # nothing expunged: UIDs 1..n
            if len(snap):
                assert snap.uids[-1] == snap.mailbox.uid_next - 1
                assert max(snap.modseqs) <= snap.mailbox.highest_modseq
            await asyncio.sleep(0)
    finally:
        await writer


@pytest.mark.parametrize(("offset", "length"), [
    (0, None), (0, 1), (5, 10), (CHUNK - 3, 6), (CHUNK, CHUNK), (CHUNK + 1, None),
    (2 * CHUNK - 1, 2), (0, 3 * CHUNK), (3 * CHUNK - 10, 100), (700_000, 0), (800_000, 5), (10**9, 5),
])
async def test_a_ranged_read_returns_exactly_the_range(store: SqlStore, offset: int, length: int | None) -> None:
    inbox = await inbox_of(store)
    body = os.urandom(3 * CHUNK - 5)  # three chunks, the last one short
    (added,) = await store.append(inbox, [NewMessage(body)])
    chunks = await read(store, added.blob, offset, length)
    expected = body[offset:] if length is None else body[offset:offset + length]
    assert b"".join(chunks) == expected
    assert all(0 < len(c) <= CHUNK for c in chunks)
    # only the chunks holding the range: a range inside one chunk is one piece
    if expected and offset // CHUNK == (offset + len(expected) - 1) // CHUNK:
        assert len(chunks) == 1


async def test_a_ranged_read_of_a_message_gone_fails(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    (added,) = await store.append(inbox, [NewMessage(b"short message")])
    await store.expunge(inbox, deleted_only=False)
    for offset, length in ((0, None), (3, 4), (100, 1), (0, 0)):
        with pytest.raises(NotFound):
            await read(store, added.blob, offset, length)


async def test_a_ranged_read_refuses_a_negative_range(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    (added,) = await store.append(inbox, [NewMessage(b"abc")])
    for offset, length in ((-1, None), (0, -1)):
        with pytest.raises(ValueError, match="no byte range"):
            await read(store, added.blob, offset, length)
    assert await read(store, added.blob, 1, 1) == [b"b"]
