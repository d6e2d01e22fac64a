"""The store conformance suite: every test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from mailward.store.interface import (
    INBOX,
    AlreadyExists,
    ChangeEvent,
    ChangeKind,
    Envelope,
    FlagOp,
    NewMessage,
    NotFound,
    QueueStatus,
    QuotaExceeded,
    StoreError,
    Subscription,
)
from mailward.store.sql.schema import LATEST
from mailward.store.sql.store import SqlStore
from mailward.store.uidset import UidSet

SEEN = frozenset({"\\Seen"})
DELETED = frozenset({"\\Deleted"})


async def inbox_of(store: SqlStore, name: str = "alice@example.org", quota: int = 0) -> tuple[int, int]:
    account = await store.create_account(name, quota_bytes=quota)
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    return account.id, box.id


async def read_all(store: SqlStore, blob_ref: object) -> bytes:
    from mailward.store.interface import BlobRef

    assert isinstance(blob_ref, BlobRef)
    return b"".join([chunk async for chunk in store.read(blob_ref)])


async def next_event(sub: Subscription) -> ChangeEvent:
    return await asyncio.wait_for(sub.__anext__(), 10.0)


async def test_schema_is_migrated(store: SqlStore) -> None:
    assert await store.schema_version() == LATEST
    assert await store.migrate() == []  # nothing left to apply


async def test_account_gets_an_inbox(store: SqlStore) -> None:
    account_id, _ = await inbox_of(store)
    boxes = await store.list_mailboxes(account_id)
    assert [b.name for b in boxes] == [INBOX]
    assert boxes[0].uid_next == 1 and boxes[0].subscribed
    assert (await store.get_mailbox(account_id, "inbox")) == boxes[0]  # RFC 9051 5.1
    with pytest.raises(AlreadyExists):
        await store.create_account("alice@example.org")
    found = await store.find_account("alice@example.org")
    assert found is not None and found.id == account_id
    assert [a.name for a in await store.list_accounts()] == ["alice@example.org"]


async def test_append_assigns_ascending_uids_and_modseqs(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    before = await store.mailbox(inbox)
    first = await store.append(inbox, [NewMessage(b"one")])
    more = await store.append(inbox, [NewMessage(b"two", SEEN), NewMessage(b"three", internal_date=1e9)])
    assert [a.uid for a in first + more] == [1, 2, 3]
    assert first[0].modseq > before.highest_modseq
    assert more[0].modseq == more[1].modseq > first[0].modseq
    assert {a.uid_validity for a in first + more} == {before.uid_validity}
    box = await store.mailbox(inbox)
    assert box.uid_next == 4 and box.highest_modseq == more[0].modseq
    infos = await store.messages(inbox)
    assert [(m.uid, m.size, m.flags) for m in infos] == [(1, 3, frozenset()), (2, 3, SEEN), (3, 5, frozenset())]
    assert infos[2].internal_date == 1e9
    assert [await read_all(store, m.blob) for m in infos] == [b"one", b"two", b"three"]
    status = await store.status(inbox)
    assert (status.messages, status.unseen, status.deleted, status.size) == (3, 2, 0, 11)
    assert [m.uid for m in await store.messages(inbox, UidSet.parse("2:*", 3))] == [2, 3]


async def test_large_message_streams_in_and_out(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    body = os.urandom(700_000) + b"\r\n"

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    big = os.urandom(1_300_000)  # spooled to a temporary file on the way in

    async def big_source() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 100_000):
            yield big[i:i + 100_000]

    added = await store.append(inbox, [NewMessage(source()), NewMessage(big_source()), NewMessage(b"")])
    chunks = [c async for c in store.read(added[0].blob)]
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 256 * 1024
    assert b"".join(chunks) == body and added[0].blob.size == len(body)
    assert await read_all(store, added[1].blob) == big
    assert await read_all(store, added[2].blob) == b""


async def test_deliver_to_many_mailboxes_is_one_blob(store: SqlStore) -> None:
    a, a_inbox = await inbox_of(store, "a@example.org")
    b, b_inbox = await inbox_of(store, "b@example.org")
    done = await store.deliver([a_inbox, b_inbox], NewMessage(b"hello both"))
    assert [d.mailbox_id for d in done] == [a_inbox, b_inbox]
    assert done[0].blob == done[1].blob
    assert (await store.quota(a)).used_bytes == (await store.quota(b)).used_bytes == 10
    await store.expunge(a_inbox, deleted_only=False)
    assert await read_all(store, done[1].blob) == b"hello both"  # b's copy still there
    await store.expunge(b_inbox, deleted_only=False)
    with pytest.raises(NotFound):
        await read_all(store, done[1].blob)


async def test_quota_refuses_whole_delivery(store: SqlStore) -> None:
    a, a_inbox = await inbox_of(store, "a@example.org", quota=100)
    b, b_inbox = await inbox_of(store, "b@example.org", quota=10)
    with pytest.raises(QuotaExceeded) as info:
        await store.deliver([a_inbox, b_inbox], NewMessage(b"x" * 50))
    assert info.value.account_ids == (b,)
    assert (await store.status(a_inbox)).messages == 0  # nothing half-done
    await store.append(a_inbox, [NewMessage(b"x" * 60)])
    usage = await store.quota(a)
    assert (usage.used_bytes, usage.limit_bytes, usage.messages) == (60, 100, 1)
    with pytest.raises(QuotaExceeded):
        await store.append(a_inbox, [NewMessage(b"x" * 41)])
    await store.set_quota(a, 0)  # unlimited
    await store.append(a_inbox, [NewMessage(b"x" * 41)])


async def test_store_flags_and_unchangedsince(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    await store.append(inbox, [NewMessage(b"1"), NewMessage(b"2"), NewMessage(b"3")])
    r = await store.store_flags(inbox, UidSet.of([1, 2]), FlagOp.ADD, frozenset({"\\Seen", "$Label1"}))
    assert [m.uid for m in r.updated] == [1, 2] and not r.failed
    m1 = r.updated[0].modseq
    # RFC 7162 3.1.3: message 1 changed after m1 - 1, so it fails UNCHANGEDSINCE.
    r2 = await store.store_flags(inbox, UidSet.of([1, 3]), FlagOp.ADD, DELETED, unchanged_since=m1 - 1)
    assert list(r2.failed) == [1] and [m.uid for m in r2.updated] == [3]
    # No change, no new MODSEQ.
    r3 = await store.store_flags(inbox, UidSet.of([3]), FlagOp.ADD, DELETED)
    assert r3.updated == () and r3.highest_modseq == r2.highest_modseq
    await store.store_flags(inbox, UidSet.of([1]), FlagOp.REMOVE, frozenset({"$Label1"}))
    await store.store_flags(inbox, UidSet.of([2]), FlagOp.SET, frozenset({"\\Flagged", "\\Recent"}))
    flags = {m.uid: m.flags for m in await store.messages(inbox)}
    assert flags == {1: SEEN, 2: frozenset({"\\Flagged"}), 3: DELETED}
    with pytest.raises(StoreError):
        await store.store_flags(inbox, UidSet.of([1]), FlagOp.ADD, frozenset({"bad flag"}))


async def test_expunge_and_changes_since(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    await store.append(inbox, [NewMessage(b"%d" % i) for i in range(5)])
    base = (await store.mailbox(inbox)).highest_modseq
    await store.store_flags(inbox, UidSet.of([2, 4, 5]), FlagOp.ADD, DELETED)
    gone = await store.expunge(inbox, UidSet.of([1, 2, 4]))  # RFC 4315 UID EXPUNGE
    assert gone.uids == (2, 4)
    await store.store_flags(inbox, UidSet.of([3]), FlagOp.ADD, SEEN)
    changes = await store.changes_since(inbox, base)
    assert [m.uid for m in changes.changed] == [3, 5]
    assert list(changes.vanished) == [2, 4]  # RFC 7162 3.2.5.2 VANISHED
    assert changes.highest_modseq == (await store.mailbox(inbox)).highest_modseq
    everything = await store.expunge(inbox, deleted_only=False)
    assert everything.uids == (1, 3, 5)
    assert (await store.status(inbox)).messages == 0
    again = await store.append(inbox, [NewMessage(b"new")])
    assert again[0].uid == 6  # RFC 9051 2.3.1.1: UIDs are never reused


async def test_copy_and_move(store: SqlStore) -> None:
    account, inbox = await inbox_of(store)
    archive = await store.create_mailbox(account, "Archive", special_use=frozenset({"\\Archive"}))
    await store.append(inbox, [NewMessage(b"a", SEEN), NewMessage(b"bb"), NewMessage(b"ccc")])
    copied = await store.copy(inbox, UidSet.of([1, 3]), archive.id)
    assert copied.uid_validity == archive.uid_validity  # RFC 4315 COPYUID
    assert copied.source_uids == (1, 3) and copied.dest_uids == (1, 2)
    assert (await store.quota(account)).used_bytes == 6 + 4
    dest = await store.messages(archive.id)
    assert dest[0].flags == SEEN and await read_all(store, dest[1].blob) == b"ccc"
    moved = await store.move(inbox, UidSet.of([2, 3]), archive.id)
    assert moved.source_uids == (2, 3) and moved.dest_uids == (3, 4)
    assert [m.uid for m in await store.messages(inbox)] == [1]
    assert [m.uid for m in await store.messages(archive.id)] == [1, 2, 3, 4]
    assert (await store.quota(account)).used_bytes == 10
    empty = await store.copy(inbox, UidSet.of([99]), archive.id)
    assert empty.source_uids == ()


async def test_mailbox_lifecycle(store: SqlStore) -> None:
    account, inbox = await inbox_of(store)
    work = await store.create_mailbox(account, "Work")
    await store.create_mailbox(account, "Work/Projects", subscribed=False)
    with pytest.raises(AlreadyExists):
        await store.create_mailbox(account, "Work")
    with pytest.raises(StoreError):
        await store.create_mailbox(account, "/bad")
    renamed = await store.rename_mailbox(work.id, "Jobs")
    assert renamed.uid_validity == work.uid_validity
    names = [b.name for b in await store.list_mailboxes(account)]
    assert names == [INBOX, "Jobs", "Jobs/Projects"]
    for name in ("archive", "Zed", "_misc", "Éclair"):
        await store.create_mailbox(account, name)
    # code point order on both backends, whatever the database's collation
    names = [b.name for b in await store.list_mailboxes(account)]
    assert names == [INBOX, "Jobs", "Jobs/Projects", "Zed", "_misc", "archive", "Éclair"]
    await store.set_subscribed(work.id, False)
    await store.set_special_use(work.id, frozenset({"\\Sent"}))
    jobs = await store.mailbox(work.id)
    assert not jobs.subscribed and jobs.special_use == {"\\Sent"}
    with pytest.raises(StoreError):
        await store.set_special_use(work.id, frozenset({"\\Bogus"}))
    await store.append(work.id, [NewMessage(b"12345")])
    await store.delete_mailbox(work.id)
    assert (await store.quota(account)).used_bytes == 0
    with pytest.raises(NotFound):
        await store.mailbox(work.id)
    again = await store.create_mailbox(account, "Jobs")
    assert again.uid_validity > work.uid_validity  # RFC 9051 2.3.1.1
    with pytest.raises(StoreError):
        await store.delete_mailbox(inbox)
    with pytest.raises(StoreError):
        await store.rename_mailbox(inbox, "Old")


async def test_change_feed(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    async with store.subscribe(inbox) as sub:
        added = await store.append(inbox, [NewMessage(b"x"), NewMessage(b"y")])
        event = await next_event(sub)
        assert (event.kind, list(event.uids), event.modseq) == (ChangeKind.NEW, [1, 2], added[0].modseq)
        await store.store_flags(inbox, UidSet.of([2]), FlagOp.ADD, DELETED)
        event = await next_event(sub)
        assert (event.kind, list(event.uids)) == (ChangeKind.FLAGS, [2])
        await store.expunge(inbox)
        event = await next_event(sub)
        assert (event.kind, list(event.uids)) == (ChangeKind.EXPUNGE, [2])


async def test_concurrent_appends_never_collide(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    results = await asyncio.gather(*(store.append(inbox, [NewMessage(b"m%d" % i)]) for i in range(40)))
    uids = sorted(r[0].uid for r in results)
    assert uids == list(range(1, 41))
    assert len({r[0].modseq for r in results}) == 40


async def test_queue_claim_retry_finish(store: SqlStore) -> None:
    first = await store.enqueue(Envelope("a@example.org", ("x@remote.example", "y@remote.example")), b"msg1")
    second = await store.enqueue(Envelope("", ("z@remote.example",)), b"msg2")
    assert first.status is QueueStatus.READY and first.envelope.rcpt_to[1] == "y@remote.example"
    w1, w2 = await asyncio.gather(store.claim("w1", limit=1), store.claim("w2", limit=5))
    claimed = {e.id for e in w1} | {e.id for e in w2}
    assert claimed == {first.id, second.id} and len(w1) == 1 and len(w2) == 1
    assert await store.claim("w3") == []
    mine = w1[0]
    assert mine.attempts == 1 and mine.worker == "w1"
    with pytest.raises(NotFound):
        await store.finish(mine.id, "w2")  # not w2's to finish
    await store.retry_later(mine.id, "w1", next_attempt=0.0, error="451 try later")
    again = await store.claim("w3")
    assert [e.id for e in again] == [mine.id] and again[0].attempts == 2
    assert again[0].last_error == "451 try later"
    assert await read_all(store, again[0].blob) in (b"msg1", b"msg2")
    await store.finish(mine.id, "w3")
    other = w2[0]
    await store.give_up(other.id, "w2", "550 no such user")
    entries = await store.queue_entries()
    assert [(e.id, e.status) for e in entries] == [(other.id, QueueStatus.FAILED)]
    assert await store.queue_entries(QueueStatus.READY) == []


async def test_expired_lease_is_claimed_again(store: SqlStore) -> None:
    entry = await store.enqueue(Envelope("a@example.org", ("b@remote.example",)), b"m")
    assert [e.id for e in await store.claim("dead", lease_seconds=-1.0)] == [entry.id]
    taken = await store.claim("alive")
    assert [e.id for e in taken] == [entry.id]
    with pytest.raises(NotFound):
        await store.retry_later(entry.id, "dead", 0.0, "lost lease")


async def test_delete_account_releases_everything(store: SqlStore) -> None:
    account, inbox = await inbox_of(store)
    await store.append(inbox, [NewMessage(b"bye")])
    await store.delete_account(account)
    assert await store.find_account("alice@example.org") is None
    with pytest.raises(NotFound):
        await store.quota(account)
    assert await store.is_empty()


async def test_one_failing_write_spares_its_neighbours(store: SqlStore) -> None:
    # On SQLite these share one group-commit transaction; each runs in its own savepoint.
    _, full = await inbox_of(store, "full@example.org", quota=1)
    _, roomy = await inbox_of(store, "roomy@example.org")
    writes = [store.append(roomy, [NewMessage(b"ok %d" % i)]) for i in range(20)]
    writes.insert(10, store.append(full, [NewMessage(b"too big")]))
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert isinstance(results[10], QuotaExceeded)
    assert sum(1 for r in results if isinstance(r, list)) == 20
    assert (await store.status(roomy)).messages == 20
    assert (await store.status(full)).messages == 0


async def test_reading_an_expunged_message_fails_instead_of_truncating(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    (added,) = await store.append(inbox, [NewMessage(os.urandom(600_000))])  # three chunks
    stream = store.read(added.blob)
    first = await anext(stream)
    await store.expunge(inbox, deleted_only=False)
    with pytest.raises(NotFound):
        async for _ in stream:
            pass
    assert len(first) == 256 * 1024


async def test_random_operations_match_a_model(store: SqlStore) -> None:
    """Random appends, flag changes, copies and expunges against a dict model:
    UIDs and MODSEQs only grow, and CHANGEDSINCE / VANISHED agree with the model."""
    import random

    rng = random.Random(4)
    account, inbox = await inbox_of(store)
    other = (await store.create_mailbox(account, "Other")).id
    model: dict[int, dict[int, tuple[frozenset[str], int]]] = {inbox: {}, other: {}}
    gone: dict[int, dict[int, int]] = {inbox: {}, other: {}}
    last_modseq = {inbox: 0, other: 0}
    pool = [frozenset(), SEEN, DELETED, frozenset({"$Work"})]
    for _ in range(60):
        box = rng.choice((inbox, other))
        uids = UidSet.of(rng.sample(sorted(model[box]), min(len(model[box]), rng.randint(1, 3))))
        action = rng.random()
        if action < 0.35 or not model[box]:
            added = await store.append(box, [NewMessage(b"m", rng.choice(pool))])
            for a in added:
                model[box][a.uid] = ((await store.messages(box, UidSet.of([a.uid])))[0].flags, a.modseq)
        elif action < 0.65:
            op, flags = rng.choice(list(FlagOp)), rng.choice(pool)
            result = await store.store_flags(box, uids, op, flags)
            for m in result.updated:
                model[box][m.uid] = (m.flags, m.modseq)
        elif action < 0.8:
            dest = other if box == inbox else inbox
            copied = await store.copy(box, uids, dest)
            for src, dst in zip(copied.source_uids, copied.dest_uids, strict=True):
                modseq = (await store.mailbox(dest)).highest_modseq
                model[dest][dst] = (model[box][src][0], modseq)
        else:
            result = await store.expunge(box, uids)
            for uid in result.uids:
                del model[box][uid]
                gone[box][uid] = result.modseq
        for b in (inbox, other):
            highest = (await store.mailbox(b)).highest_modseq
            assert highest >= last_modseq[b]  # RFC 7162 3.1: never goes back
            last_modseq[b] = highest
    for box in (inbox, other):
        stored = {m.uid: (m.flags, m.modseq) for m in await store.messages(box)}
        assert stored == model[box]
        for since in range(0, last_modseq[box] + 1, 3):
            changes = await store.changes_since(box, since)
            assert {m.uid for m in changes.changed} == {u for u, (_, s) in model[box].items() if s > since}
            assert set(changes.vanished) == {u for u, s in gone[box].items() if s > since}


async def test_quota_names_every_account_over_and_writes_nothing(store: SqlStore) -> None:
    fine, fine_inbox = await inbox_of(store, "fine@example.org", quota=1000)
    small, small_inbox = await inbox_of(store, "small@example.org", quota=10)
    tiny, tiny_inbox = await inbox_of(store, "tiny@example.org", quota=1)
    boxes = [fine_inbox, tiny_inbox, small_inbox]
    before = [await store.mailbox(b) for b in boxes]
    with pytest.raises(QuotaExceeded) as info:
        await store.deliver(boxes, NewMessage(b"x" * 50))
    assert set(info.value.account_ids) == {small, tiny} and len(info.value.account_ids) == 2
    assert str(small) in str(info.value) and str(tiny) in str(info.value)
    assert [await store.mailbox(b) for b in boxes] == before  # no UID or MODSEQ taken
    for account, box in ((fine, fine_inbox), (small, small_inbox), (tiny, tiny_inbox)):
        assert (await store.status(box)).messages == 0
        assert (await store.quota(account)).used_bytes == 0
    assert await store.count("blobs") == 0 and await store.count("blob_chunks") == 0
    done = await store.deliver([fine_inbox], NewMessage(b"x" * 50))
    assert done[0].uid == 1


async def test_expunged_uids_are_pruned_and_vanished_stays_a_superset(store: SqlStore) -> None:
    _, inbox = await inbox_of(store)
    store.expunged_keep = 5
    await store.append(inbox, [NewMessage(b"%d" % i) for i in range(12)])
    modseqs = []
    for uids in ([1, 2, 3], [4, 5, 6], [7, 8, 9]):  # nine expunged rows, five kept
        modseqs.append((await store.expunge(inbox, UidSet.of(uids), deleted_only=False)).modseq)
    m1, m2, m3 = modseqs
    assert await store.count("expunged") == 5
    # Every expunge after m2 is still known: the answer is exact.
    assert list((await store.changes_since(inbox, m2)).vanished) == [7, 8, 9]
    assert list((await store.changes_since(inbox, m3)).vanished) == []
    # Some expunges after m1 were forgotten: every UID not here is reported (RFC 7162 3.2.5.2).
    for since in (0, m1 - 1, m1, m2 - 1):
        changes = await store.changes_since(inbox, since)
        assert list(changes.vanished) == list(range(1, 10))
        assert [m.uid for m in changes.changed] == ([10, 11, 12] if since < m1 - 1 else [])
    # Pruning by hand to fewer rows moves the floor up to m3.
    assert await store.prune_expunged(inbox, keep=2) == 3
    assert await store.prune_expunged() == 0  # nothing above expunged_keep anywhere
    assert list((await store.changes_since(inbox, m3 - 1)).vanished) == list(range(1, 10))
    assert list((await store.changes_since(inbox, m3)).vanished) == []
    # Moves expunge from their source too, and are bounded the same way.
    other = (await store.create_mailbox((await store.mailbox(inbox)).account_id, "Other")).id
    moved = await store.move(inbox, UidSet.of([10, 11, 12]), other)
    assert moved.source_uids == (10, 11, 12) and await store.count("expunged") == 5
    after = await store.changes_since(inbox, m3)
    assert list(after.vanished) == [10, 11, 12] and after.changed == ()
    assert list((await store.changes_since(inbox, 0)).vanished) == list(range(1, 13))
    # UIDs keep growing after pruning.
    again = await store.append(inbox, [NewMessage(b"new")])
    assert again[0].uid == 13
    assert list((await store.changes_since(inbox, 0)).vanished) == list(range(1, 13))


async def test_pruned_vanished_is_a_superset_under_random_expunges(store: SqlStore) -> None:
    import random

    rng = random.Random(7)
    _, inbox = await inbox_of(store)
    store.expunged_keep = 4
    expunged_at: dict[int, int] = {}
    for _ in range(25):
        if rng.random() < 0.5:
            await store.append(inbox, [NewMessage(b"m") for _ in range(rng.randint(1, 3))])
            continue
        present = [m.uid for m in await store.messages(inbox)]
        if present:
            result = await store.expunge(inbox, UidSet.of(rng.sample(present, min(len(present), 2))),
                                         deleted_only=False)
            expunged_at.update(dict.fromkeys(result.uids, result.modseq))
    box = await store.mailbox(inbox)
    present_now = {m.uid for m in await store.messages(inbox)}
    assert await store.count("expunged") <= 4
    for since in range(box.highest_modseq + 1):
        vanished = set((await store.changes_since(inbox, since)).vanished)
        assert {u for u, s in expunged_at.items() if s > since} <= vanished
        assert not vanished & present_now and all(u < box.uid_next for u in vanished)
