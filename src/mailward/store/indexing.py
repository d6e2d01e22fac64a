"""One pass of the text indexer (the background job ``text-indexer`` runs it every
second): index newly stored messages' text a batch at a time, and yield to delivery.

While the process is busy serving clients, the indexer takes at most ``share`` of the
time (after a batch that took t seconds it sleeps t * (1 - share) / share), so that
delivery throughput does not drop by much more than that while mail streams in; when
the process is idle it runs flat out and catches up. A search never waits for the
indexer: it indexes its own mailbox's pending messages first (Store.search).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mailward.store.interface import Store

BATCH = 50  # messages per batch (one write transaction)
BUDGET = 2.0  # seconds a pass may take, sleeps included
SHARE = 0.05  # the part of a busy process's time the indexer may take


async def index_pass(store: Store, *, busy: Callable[[], bool], batch: int = BATCH, budget: float = BUDGET,
                     share: float = SHARE) -> int:
    """Index pending messages for at most ``budget`` seconds; how many were done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    total = 0
    while loop.time() < deadline:
        started = loop.time()
        done = await store.index_text(limit=batch)
        total += done
        if done < batch:
            break
        if busy():
            pause = (loop.time() - started) * (1 - share) / share
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0.0)))
    return total
