"""The text indexer's pass: flat out when the process is idle, a share of the time when busy."""

from __future__ import annotations

import asyncio
from typing import cast

from mailward.store.indexing import index_pass
from mailward.store.interface import Store


class Pending:
    """Stands in for the store's index_text: ``work`` seconds a batch, ``left`` to do."""

    def __init__(self, left: int, work: float = 0.0) -> None:
        self.left = left
        self.work = work
        self.calls = 0

    async def index_text(self, *, limit: int = 100, mailbox_id: int | None = None) -> int:
        self.calls += 1
        await asyncio.sleep(self.work)
        done = min(limit, self.left)
        self.left -= done
        return done


async def test_an_idle_process_indexes_until_nothing_is_left() -> None:
    pending = Pending(120)
    assert await index_pass(cast(Store, pending), busy=lambda: False, batch=50) == 120
    assert pending.calls == 3  # 50, 50, then 20: fewer than a batch means done


async def test_a_busy_process_gives_the_indexer_a_share_of_its_time() -> None:
    loop = asyncio.get_running_loop()
    idle, busy = Pending(10_000, work=0.02), Pending(10_000, work=0.02)
    started = loop.time()
    await index_pass(cast(Store, idle), busy=lambda: False, batch=10, budget=0.4, share=0.25)
    await index_pass(cast(Store, busy), busy=lambda: True, batch=10, budget=0.4, share=0.25)
    assert loop.time() - started < 2.0  # each pass keeps to its budget
    # a quarter of the time: about a quarter of the batches (generous bounds: a loaded machine)
    assert busy.calls * 2 <= idle.calls
    assert busy.calls >= 2
