"""SQLite group commit: concurrent appends share transactions (and their fsync)."""

from __future__ import annotations

import asyncio
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
