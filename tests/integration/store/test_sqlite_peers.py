"""The embedded store's change feed between worker processes (store.sqlite.peers).

Two stores on one directory in this process stand in for two workers: each has
its own connections, hub and peer link, as a forked worker would; the links are
real Unix datagram sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailward.store.feed import FeedHub
from mailward.store.interface import INBOX, ChangeEvent, ChangeKind, FlagOp, NewMessage, Subscription
from mailward.store.sqlite import peers
from mailward.store.sqlite.backend import SqliteStore
from mailward.store.sqlite.peers import PeerLinks
from mailward.store.uidset import UidSet
from support import proc


async def next_event(sub: Subscription) -> ChangeEvent:
    return await asyncio.wait_for(sub.__anext__(), 10.0)


async def next_change(sub: Subscription) -> ChangeEvent:
    """The next event that is not a "re-read" (each worker sends one when it starts)."""
    while (event := await next_event(sub)).kind is ChangeKind.REREAD:
        pass
    return event


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
            event = await next_change(sub)
            assert (event.kind, list(event.uids), event.modseq) == (ChangeKind.NEW, [1], added[0].modseq)
        # and the other way round
        await second.store_flags(inbox.id, UidSet.of([1]), FlagOp.ADD, frozenset({"\\Seen"}))
        for sub in (theirs, ours):
            event = await next_change(sub)
            assert (event.kind, list(event.uids)) == (ChangeKind.FLAGS, [1])


async def test_a_peer_that_missed_events_is_told_to_re_read() -> None:
    links = PeerLinks(2)
    sender, receiver = links.for_worker(0), links.for_worker(1)
    hub = FeedHub()
    try:
        async with hub.subscription(7) as sub:
            # a worker that starts tells the others they may have missed events (its
            # predecessor's): the first thing in the receiver's queue
            sender.start(FeedHub())
            # the receiver does not read: its queue fills and a datagram is lost
            sent = 0
            while not sender._behind:
                sent += 1
                assert sent < 100_000, "the queue never filled"
                sender.send([ChangeEvent(7, ChangeKind.NEW, sent, UidSet.of([sent]))])
            sender.send([ChangeEvent(7, ChangeKind.FLAGS, 999, UidSet.of([1]))])  # lost too
            receiver.start(hub)
            started = await next_event(sub)
            assert (started.kind, started.modseq) == (ChangeKind.REREAD, 0)
            queued = [await next_event(sub) for _ in range(sent - 1)]  # all but the lost ones
            assert [e.modseq for e in queued] == list(range(1, sent))
            # once the queue had room, without waiting for another commit: re-read
            catch_up = await next_event(sub)
            assert (catch_up.kind, catch_up.modseq) == (ChangeKind.REREAD, 0)
            assert sender._behind == set()
            sender.send([ChangeEvent(7, ChangeKind.FLAGS, 1000, UidSet.of([1]))])
            after = await next_event(sub)
            assert (after.kind, after.modseq) == (ChangeKind.FLAGS, 1000)
            receiver.stop()
            sender.stop()
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
    # too many mailboxes even for that (an alias reaching thousands): "re-read everything"
    wide = [ChangeEvent(m, ChangeKind.NEW, 7, UidSet.of([1])) for m in range(1, 3000)]
    assert peers.encode(wide, missed=False) == peers.MISSED
    assert peers.decode(peers.MISSED) == (True, [])


async def test_a_malformed_datagram_is_taken_as_news_lost(caplog: pytest.LogCaptureFixture) -> None:
    links = PeerLinks(2)
    hub = FeedHub()
    receiver, other = links.for_worker(1), links.for_worker(0)
    try:
        async with hub.subscription(1) as sub:
            receiver.start(hub)
            other._peers[0].send(b"not json")
            other.send([ChangeEvent(1, ChangeKind.NEW, 2, UidSet.of([1]))])
            first, second = await next_event(sub), await next_event(sub)
            assert (first.kind, first.modseq) == (ChangeKind.REREAD, 0)
            assert (second.kind, second.modseq) == (ChangeKind.NEW, 2)
            assert "a malformed message from another worker" in caplog.text
            receiver.stop()
    finally:
        links.close()


def test_across_real_forked_workers(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "support.forked_feed", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, env=proc.env(), check=False)
    assert result.returncode == 0, result.stderr
    heard = json.loads(result.stdout)
    assert heard["pid"] != os.getpid() and (heard["kind"], heard["uids"]) == ("new", [1])
