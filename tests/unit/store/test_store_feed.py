"""The change feed hub and its NOTIFY payloads."""

from __future__ import annotations

import asyncio

from mailward.store.feed import FeedHub, decode, encode
from mailward.store.interface import ChangeEvent, ChangeKind
from mailward.store.uidset import UidSet


def test_payload_round_trip() -> None:
    event = ChangeEvent(7, ChangeKind.FLAGS, 42, UidSet.of([1, 2, 3, 10]))
    assert decode(encode(event)) == event


def test_long_uid_lists_are_dropped_from_payloads() -> None:
    event = ChangeEvent(1, ChangeKind.EXPUNGE, 9, UidSet.of(range(1, 20000, 2)))
    text = encode(event)
    assert len(text) < 8000  # PostgreSQL's NOTIFY payload limit
    assert decode(text) == ChangeEvent(1, ChangeKind.EXPUNGE, 9)


async def test_hub_delivers_to_subscribers_of_the_mailbox_only() -> None:
    hub = FeedHub()
    async with hub.subscription(1) as one, hub.subscription(2) as two:
        hub.publish(ChangeEvent(1, ChangeKind.NEW, 5, UidSet.of([3])))
        assert await asyncio.wait_for(one.__anext__(), 1) == ChangeEvent(1, ChangeKind.NEW, 5, UidSet.of([3]))
        assert two._queue.empty()
    assert hub.mailbox_ids() == []


async def test_slow_subscriber_gets_a_catch_up_event() -> None:
    hub = FeedHub()
    async with hub.subscription(1) as sub:
        for n in range(1500):
            hub.publish(ChangeEvent(1, ChangeKind.NEW, n, UidSet.of([n + 1])))
        first = await sub.__anext__()
        assert first.uids == UidSet()  # "re-read from your MODSEQ"
