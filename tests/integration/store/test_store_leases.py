"""Mailbox leases (POP3's maildrop lock), on both backends: one holder at a time, expiry,
renewal, release, LOGIN-DELAY's interval, and two nodes taking one lease at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import INBOX, LeaseOutcome, NotFound
from mailward.store.sql.store import SqlStore
from support.postgres import PostgresServer

ACQUIRED, HELD, TOO_SOON = LeaseOutcome.ACQUIRED, LeaseOutcome.HELD, LeaseOutcome.TOO_SOON


async def inbox(store: SqlStore, name: str = "alice@example.org") -> int:
    account = await store.create_account(name)
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    return box.id


async def test_one_holder_at_a_time(store: SqlStore) -> None:
    box = await inbox(store)
    other = await inbox(store, "bob@example.org")
    assert await store.acquire_lease(box, "a", 60) is ACQUIRED
    assert await store.acquire_lease(box, "b", 60) is HELD
    assert await store.acquire_lease(other, "b", 60) is ACQUIRED  # leases are per mailbox
    assert await store.acquire_lease(box, "a", 60) is ACQUIRED  # the holder again: renewed
    assert await store.renew_lease(box, "b", 60) is False
    assert await store.release_lease(box, "b") is False  # not b's to give up
    assert await store.acquire_lease(box, "b", 60) is HELD
    assert await store.release_lease(box, "a") is True
    assert await store.release_lease(box, "a") is False
    assert await store.renew_lease(box, "a", 60) is False
    assert await store.acquire_lease(box, "b", 60) is ACQUIRED


async def test_an_expired_lease_is_free_and_renewal_keeps_it(store: SqlStore) -> None:
    box = await inbox(store)
    assert await store.acquire_lease(box, "dead-node", 0.3) is ACQUIRED
    assert await store.acquire_lease(box, "b", 60) is HELD
    deadline = time.monotonic() + 10
    while (outcome := await store.acquire_lease(box, "b", 60)) is HELD:  # the dead node's expires
        assert time.monotonic() < deadline, "the lease never expired"
        await asyncio.sleep(0.05)
    assert outcome is ACQUIRED
    assert await store.renew_lease(box, "dead-node", 60) is False  # it came back: too late
    assert await store.release_lease(box, "dead-node") is False
    # renewing pushes the expiry out: a lease renewed every 0.1 s for 0.3 s stays held
    started = time.monotonic()
    while time.monotonic() - started < 0.8:
        assert await store.renew_lease(box, "b", 0.3) is True
        assert await store.acquire_lease(box, "c", 60) is HELD
        await asyncio.sleep(0.1)


async def test_login_delay_counts_from_the_last_acquisition(store: SqlStore) -> None:
    box = await inbox(store)
    assert await store.acquire_lease(box, "a", 60, not_within=3600) is ACQUIRED  # never taken before
    assert await store.release_lease(box, "a")
    assert await store.acquire_lease(box, "b", 60, not_within=3600) is TOO_SOON
    assert await store.acquire_lease(box, "b", 60, not_within=0) is ACQUIRED
    assert await store.acquire_lease(box, "b", 60, not_within=3600) is ACQUIRED  # its own: a renewal
    assert await store.acquire_lease(box, "c", 60, not_within=3600) is HELD


async def test_unknown_mailbox_and_deleted_account(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.acquire_lease(999_999, "a", 60)
    account = await store.create_account("gone@example.org")
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    assert await store.acquire_lease(box.id, "a", 60) is ACQUIRED
    await store.delete_account(account.id)  # the lease goes with its mailbox
    assert await store.renew_lease(box.id, "a", 60) is False


async def test_many_takers_at_once_one_wins(store: SqlStore) -> None:
    box = await inbox(store)
    outcomes = await asyncio.gather(*(store.acquire_lease(box, f"h{i}", 60) for i in range(20)))
    assert outcomes.count(ACQUIRED) == 1 and outcomes.count(HELD) == 19


async def test_two_nodes_race_for_one_lease(pg_server: PostgresServer, tmp_path: Path) -> None:
    settings = StoreSettings(backend="postgres", postgres=await pg_server.create_database())
    one, two = await asyncio.gather(open_store(settings, tmp_path), open_store(settings, tmp_path))
    try:
        for round_ in range(10):
            box = await inbox(one, f"user{round_}@example.org")
            outcomes = await asyncio.gather(
                *(store.acquire_lease(box, f"{n}-{i}", 60) for i in range(5) for n, store in
                  (("one", one), ("two", two))))
            assert outcomes.count(ACQUIRED) == 1, outcomes
    finally:
        await asyncio.gather(one.close(), two.close())
