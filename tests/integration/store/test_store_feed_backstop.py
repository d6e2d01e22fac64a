"""The change feed's backstop (Store.check_feed) on both backends: a change whose event
was lost still reaches the subscribers, and a feed in step gives no extra events."""

from __future__ import annotations

import asyncio

from mailward.store.interface import INBOX, ChangeEvent, ChangeKind, NewMessage, Subscription
from mailward.store.sql.base import Ctx, Op, Q
from mailward.store.sql.store import SqlStore


async def inbox_of(store: SqlStore) -> int:
    account = await store.create_account("alice@example.org")
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    return box.id


async def next_event(sub: Subscription) -> ChangeEvent:
    return await asyncio.wait_for(sub.__anext__(), 10.0)


def silent_change(mailbox_id: int) -> Op[None]:
    """A committed change that publishes nothing: as if its notification was lost (a node
    that died between its commit and its NOTIFY, a datagram between workers dropped)."""
    yield Q("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ?", (mailbox_id,))


async def test_a_change_without_its_event_reaches_subscribers_as_a_reread(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    box = await store.mailbox(inbox)
    async with store.subscribe(inbox, box.highest_modseq) as sub:
        assert await store.check_feed() == 0  # in step: nothing to do
        await store._write(lambda ctx: silent_change(inbox))
        assert await store.check_feed() == 1
        assert await next_event(sub) == ChangeEvent(inbox, ChangeKind.REREAD, box.highest_modseq + 1)
        assert await store.check_feed() == 0  # once


async def test_a_feed_in_step_gives_no_extra_events(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    box = await store.mailbox(inbox)
    async with store.subscribe(inbox, box.highest_modseq) as sub:
        (added,) = await store.append(inbox, [NewMessage(b"hello")])
        event = await next_event(sub)  # on PostgreSQL it comes back through NOTIFY
        assert (event.kind, event.modseq) == (ChangeKind.NEW, added.modseq)
        assert await store.check_feed() == 0


async def test_a_subscriber_that_knows_no_modseq_is_told_to_reread(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    await store._write(lambda ctx: silent_change(inbox))  # a MODSEQ above 0, no event in flight
    async with store.subscribe(inbox) as sub:
        assert await store.check_feed() == 1
        assert (await next_event(sub)).kind is ChangeKind.REREAD


async def test_a_mailbox_deleted_without_its_event_is_reported(store: SqlStore) -> None:
    inbox = await inbox_of(store)
    account = (await store.mailbox(inbox)).account_id
    other = await store.create_mailbox(account, "Old")

    def silent_delete(ctx: Ctx) -> Op[None]:
        yield Q("DELETE FROM mailboxes WHERE id = ?", (other.id,))

    async with store.subscribe(other.id, other.highest_modseq) as sub:
        await store._write(silent_delete)
        assert await store.check_feed() == 1
        assert await next_event(sub) == ChangeEvent(other.id, ChangeKind.MAILBOX, 0)
