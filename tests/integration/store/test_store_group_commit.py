"""SQLite group commit: concurrent appends share transactions (and their fsync)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from mailward.store.interface import INBOX, NewMessage
from mailward.store.sqlite.backend import SqliteStore


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    try:
        account = await store.create_account("a@example.org")
        inbox = await store.get_mailbox(account.id, INBOX)
        assert inbox is not None
        before = store.commits
        await asyncio.gather(*(store.append(inbox.id, [NewMessage(b"m%d" % i)]) for i in range(200)))
        commits = store.commits - before
        assert commits < 100, f"{commits} commits for 200 concurrent appends"
        assert (await store.status(inbox.id)).messages == 200
    finally:
        await store.close()


async def test_reads_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path)
    try:
        account = await store.create_account("a@example.org")
        inbox = await store.get_mailbox(account.id, INBOX)
        assert inbox is not None
        writes = asyncio.gather(*(store.append(inbox.id, [NewMessage(b"x" * 4096)]) for _ in range(100)))
        status = await store.status(inbox.id)  # a snapshot, taken while writes go on
        assert 0 <= status.messages <= 100
        await writes
    finally:
        await store.close()


async def test_writes_asked_for_while_another_worker_commits_join_one_batch(tmp_path: Path) -> None:
    """A worker waiting for the write lock takes its batch once it has the lock: the
    writes that came meanwhile go with it rather than wait for one more commit."""
    store = await SqliteStore.open(tmp_path)
    other = os.open(tmp_path / "write.lock", os.O_RDWR)  # another worker's own open of the lock
    try:
        account = await store.create_account("a@example.org")
        inbox = await store.get_mailbox(account.id, INBOX)
        assert inbox is not None
        before = store.commits
        fcntl.flock(other, fcntl.LOCK_EX)  # the other worker is committing
        first = asyncio.ensure_future(store.append(inbox.id, [NewMessage(b"first")]))
        await asyncio.sleep(0.05)  # the first write's batch is now waiting for the lock
        rest = [asyncio.ensure_future(store.append(inbox.id, [NewMessage(b"m%d" % i)])) for i in range(5)]
        await asyncio.sleep(0.05)
        assert not first.done()
        fcntl.flock(other, fcntl.LOCK_UN)
        await asyncio.wait_for(asyncio.gather(first, *rest), 10)
        assert store.commits - before == 1
        assert (await store.status(inbox.id)).messages == 6
    finally:
        os.close(other)
        await store.close()
