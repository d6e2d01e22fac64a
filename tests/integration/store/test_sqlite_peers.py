"""The embedded store's change feed between worker processes (store.sqlite.peers).

Two stores on one directory in this process stand in for two workers: each has
its own connections, hub and peer link, as a forked worker would; the links are
real Unix datagram sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailward.store.feed import FeedHub
from mailward.store.interface import INBOX, ChangeEvent, ChangeKind, FlagOp, NewMessage, Subscription
from mailward.store.sqlite import peers
from mailward.store.sqlite.backend import SqliteStore
from mailward.store.sqlite.peers import PeerLinks
from mailward.store.uidset import UidSet


async def next_event(sub: Subscription) -> ChangeEvent:
    return await asyncio.wait_for(sub.__anext__(), 10.0)


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    links = PeerLinks(2)
    first = await SqliteStore.open(tmp_path, exclusive=False, peers=links.for_worker(0))
    second = await SqliteStore.open(tmp_path, exclusive=False, peers=links.for_worker(1))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
        links.close()


async def test_a_commit_reaches_the_other_workers_sessions(workers: tuple[SqliteStore, SqliteStore]) -> None:
    first, second = workers
    account = await first.create_account("alice@example.org")
    inbox = await first.get_mailbox(account.id, INBOX)
    assert inbox is not None
    async with second.subscribe(inbox.id) as theirs, first.subscribe(inbox.id) as ours:
        added = await first.deliver([inbox.id], NewMessage(b"Subject: hi\r\n\r\nhello\r\n"))
        for sub in (ours, theirs):
            event = await next_event(sub)
            assert (event.kind, list(event.uids), event.modseq) == (ChangeKind.NEW, [1], added[0].modseq)
        # and the other way round
        await second.store_flags(inbox.id, UidSet.of([1]), FlagOp.ADD, frozenset({"\\Seen"}))
        for sub in (theirs, ours):
            event = await next_event(sub)
            assert (event.kind, list(event.uids)) == (ChangeKind.FLAGS, [1])


async def test_a_peer_that_missed_events_is_told_to_re_read() -> None:
    links = PeerLinks(2)
    sender, receiver = links.for_worker(0), links.for_worker(1)
    hub = FeedHub()
    try:
        async with hub.subscription(7) as sub:
            # the receiver does not read: the kernel's queue fills and a datagram is lost
            sent = 0
            while sender._behind == set():
                sent += 1
                assert sent < 100_000, "the queue never filled"
                sender.send([ChangeEvent(7, ChangeKind.NEW, sent, UidSet.of([sent]))])
            receiver.start(hub)
            queued = [await next_event(sub) for _ in range(sent - 1)]  # all but the lost one
            assert [e.modseq for e in queued] == list(range(1, sent))
            sender.send([ChangeEvent(7, ChangeKind.FLAGS, sent + 1, UidSet.of([1]))])
            catch_up = await next_event(sub)
            assert (catch_up.kind, catch_up.modseq) == (ChangeKind.MAILBOX, 0)  # re-read by MODSEQ
            after = await next_event(sub)
            assert (after.kind, after.modseq) == (ChangeKind.FLAGS, sent + 1)
            assert sender._behind == set()
            receiver.stop()
    finally:
        links.close()


async def test_a_long_commit_goes_without_its_uids() -> None:
    # each short enough to carry its UIDs (feed.encode), but not all of them together
    events = [ChangeEvent(3, ChangeKind.FLAGS, 10 + i, UidSet.of(range(1, 800, 2))) for i in range(40)]
    events.append(ChangeEvent(4, ChangeKind.NEW, 99, UidSet.of([5])))
    data = peers.encode(events, missed=False)
    assert len(data) <= peers.MAX_DATAGRAM
    missed, got = peers.decode(data)
    # each mailbox and kind keeps its last event, without UIDs: "re-read from your MODSEQ"
    assert not missed and got == [ChangeEvent(3, ChangeKind.FLAGS, 49), ChangeEvent(4, ChangeKind.NEW, 99)]
    short = [ChangeEvent(3, ChangeKind.NEW, 5, UidSet.of([1, 2]))]
    assert peers.decode(peers.encode(short, missed=True)) == (True, short)


async def test_a_malformed_datagram_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    links = PeerLinks(2)
    hub = FeedHub()
    receiver = links.for_worker(1)
    try:
        async with hub.subscription(1) as sub:
            receiver.start(hub)
            links.for_worker(0)._peers[0].send(b"not json")
            links.for_worker(0).send([ChangeEvent(1, ChangeKind.NEW, 2, UidSet.of([1]))])
            event = await next_event(sub)
            assert (event.kind, event.modseq) == (ChangeKind.NEW, 2)
            assert "ignored a malformed message" in caplog.text
            receiver.stop()
    finally:
        links.close()
