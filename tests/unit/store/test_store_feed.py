"""The change feed hub and its NOTIFY payloads."""

from __future__ import annotations

import asyncio
import contextlib

from mailward.store.feed import FeedHub, HubSubscription, decode, encode
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


def drain(sub: HubSubscription) -> list[ChangeEvent]:
    events = []
    while not sub._queue.empty():
        events.append(sub._queue.get_nowait())
    return events


async def test_one_slow_subscriber_among_many_leaves_the_others_events_whole() -> None:
    """The old hub rebound the event to a stripped copy for every subscriber after the
    first one that overflowed."""
    hub = FeedHub()
    events = [ChangeEvent(1, ChangeKind.NEW, n, UidSet.of([n])) for n in range(1, 1301)]
    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(hub.subscription(1)) for _ in range(50)]
        slow = subs[::10]  # five that read nothing while the others keep up
        fast = [s for s in subs if s not in slow]
        got: dict[int, list[ChangeEvent]] = {id(s): [] for s in fast}
        for event in events:
            hub.publish(event)
            for s in fast:
                got[id(s)].extend(drain(s))
        assert all(got[id(s)] == events for s in fast)


async def test_a_slow_subscriber_gets_one_reread_for_what_it_missed_then_events() -> None:
    hub = FeedHub()
    async with hub.subscription(1) as slow, hub.subscription(1) as fast:
        for n in range(1, 1201):
            hub.publish(ChangeEvent(1, ChangeKind.NEW, n, UidSet.of([n])))
            drain(fast)
        # the 1001st event found 1000 waiting: they and it became one re-read
        assert drain(slow) == [ChangeEvent(1, ChangeKind.REREAD, 1001),
                               *(ChangeEvent(1, ChangeKind.NEW, n, UidSet.of([n])) for n in range(1002, 1201))]


async def test_the_hub_knows_the_newest_modseq_of_a_subscribed_mailbox() -> None:
    hub = FeedHub()
    async with hub.subscription(1, modseq=7):
        assert hub.newest(1) == 7
        hub.publish(ChangeEvent(1, ChangeKind.FLAGS, 9))
        hub.publish(ChangeEvent(1, ChangeKind.REREAD, 0))
        assert hub.newest(1) == 9
        hub.publish(ChangeEvent(2, ChangeKind.NEW, 50))  # no subscriber: not kept
        assert hub.newest(2) == 0
    assert hub.newest(1) == 0  # forgotten with the last subscriber
