"""Worker processes open the embedded store at the same moment, right after the supervisor
closed it: the first connection then rebuilds the WAL index, and a connection opened with
no busy timeout failed with "database is locked" (seen as a worker failing at start).
The race is won or lost at random: with 30 rounds, the old code failed this test in two
runs of five here; it runs 100."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
from multiprocessing.queues import Queue
from pathlib import Path

from mailward.store.sqlite.backend import SqliteStore

ROUNDS = 100
OPENERS = 4


def _open(path: Path, start: multiprocessing.synchronize.Barrier, results: Queue[str]) -> None:
    async def run() -> None:
        start.wait()
        try:
            store = await SqliteStore.open(path, exclusive=False)
            await store.close()
            results.put("ok")
        except Exception as exc:  # reported to the test
            results.put(f"{type(exc).__name__}: {exc}")

    asyncio.run(run())


async def _create(path: Path) -> None:
    store = await SqliteStore.open(path)
    await store.close()  # the last connection: the WAL file goes away


def test_workers_opening_the_store_at_once_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(ROUNDS):
        path = tmp_path / f"store{round_}"
        asyncio.run(_create(path))
        start = context.Barrier(OPENERS)
        results: Queue[str] = context.Queue()
        openers = [context.Process(target=_open, args=(path, start, results)) for _ in range(OPENERS)]
        for process in openers:
            process.start()
        for process in openers:
            process.join(60)
        failures += [r for r in (results.get(timeout=10) for _ in openers) if r != "ok"]
    assert failures == []
