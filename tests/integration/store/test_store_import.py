"""Conformance of the import record (`mailward mailbox import`'s idempotence), both backends."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from mailward.store.interface import INBOX, NewMessage, NotFound, QuotaExceeded
from mailward.store.sql.store import SqlStore


def key(data: bytes, copy: int = 0) -> tuple[str, int]:
    return hashlib.sha256(data).hexdigest(), copy


async def stream(data: bytes) -> object:
    for i in range(0, len(data), 1000):
        yield data[i:i + 1000]


async def test_imported_messages_are_recorded_and_not_added_twice(store: SqlStore) -> None:
    account = await store.create_account("alice@example.org")
    inbox = await store.get_mailbox(account.id, INBOX)
    assert inbox is not None
    a, b = b"Subject: a\r\n\r\nA\r\n", b"Subject: b\r\n\r\nB\r\n"
    first = await store.import_messages(inbox.id, [
        (key(a), NewMessage(a, frozenset({"\\Seen", "$Forwarded"}), 1_600_000_000.0)),
        (key(b), NewMessage(b)),
        (key(a, 1), NewMessage(a)),  # a second copy of the same bytes is a message of its own
        (key(a), NewMessage(a)),  # the same key twice in one call: once
    ])
    assert [x is not None for x in first] == [True, True, True, False]
    assert [x.uid for x in first if x is not None] == [1, 2, 3]
    assert await store.imported(inbox.id) == frozenset({key(a), key(b), key(a, 1)})
    infos = await store.messages(inbox.id)
    assert next((i.flags, i.internal_date) for i in infos) == (frozenset({"\\Seen", "$Forwarded"}), 1_600_000_000.0)

    again = await store.import_messages(inbox.id, [(key(b), NewMessage(b)), (key(a, 1), NewMessage(a))])
    assert again == [None, None]
    assert len(await store.messages(inbox.id)) == 3
    assert (await store.quota(account.id)).messages == 3
    # a message expunged after its import is not brought back by the next one
    await store.expunge(inbox.id, deleted_only=False)
    assert await store.import_messages(inbox.id, [(key(b), NewMessage(b))]) == [None]


async def test_the_record_is_per_mailbox_and_goes_with_it(store: SqlStore) -> None:
    account = await store.create_account("alice@example.org")
    box = await store.create_mailbox(account.id, "Old")
    other = await store.create_mailbox(account.id, "Other")
    big = b"x" * 3_000_000  # streamed, staged on disk
    assert (await store.import_messages(box.id, [(key(big), NewMessage(stream(big)))]))[0] is not None  # type: ignore[arg-type]
    assert (await store.import_messages(other.id, [(key(big), NewMessage(big))]))[0] is not None
    info = (await store.messages(box.id))[0]
    assert b"".join([c async for c in store.read(info.blob)]) == big
    await store.delete_mailbox(box.id)
    again = await store.create_mailbox(account.id, "Old")
    assert await store.imported(again.id) == frozenset()
    assert await store.imported(other.id) == frozenset({key(big)})


async def test_an_import_over_quota_or_into_no_mailbox_records_nothing(store: SqlStore) -> None:
    account = await store.create_account("alice@example.org", quota_bytes=100)
    inbox = await store.get_mailbox(account.id, INBOX)
    assert inbox is not None
    data = b"y" * 200
    with pytest.raises(QuotaExceeded):
        await store.import_messages(inbox.id, [(key(data), NewMessage(data))])
    assert await store.imported(inbox.id) == frozenset()
    assert await store.messages(inbox.id) == []
    with pytest.raises(NotFound):
        await store.import_messages(inbox.id + 1000, [(key(data), NewMessage(data))])


async def test_two_imports_at_once_add_each_message_once(store: SqlStore) -> None:
    account = await store.create_account("alice@example.org")
    inbox = await store.get_mailbox(account.id, INBOX)
    assert inbox is not None
    batch = [(key(b"m%d" % i), NewMessage(b"m%d" % i)) for i in range(50)]
    results = await asyncio.gather(*(store.import_messages(inbox.id, batch) for _ in range(4)))
    assert sum(a is not None for r in results for a in r) == 50
    assert len(await store.messages(inbox.id)) == 50
