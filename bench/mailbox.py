"""What IMAP asks of a big mailbox, on each backend: SELECT's snapshot and a search.

Fills one mailbox with N small messages (100,000 by default; a tenth of them flagged,
a third seen), then times, over several rounds: the snapshot a SELECT takes (and the
memory it keeps per message, measured with tracemalloc), and a flag search (UNSEEN).
Targets (issue 20): a snapshot under 0.5 s and under 40 bytes per message.

    .venv/bin/python bench/mailbox.py [--messages 100000] [--rounds 5] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import INBOX, NewMessage, Store
from mailward.store.search import HasFlag
from support.postgres import postgres_cluster

BATCH = 1000


async def fill(store: Store, count: int) -> int:
    account = await store.create_account("bench@example.org")
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    body = b"From: a@example.org\r\nSubject: bench\r\n\r\n" + b"x" * 900 + b"\r\n"
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        batch = []
        for i in range(first, min(count, first + BATCH)):
            flags = {"\\Seen"} if i % 3 else set()
            if i % 10 == 0:
                flags.add("\\Flagged")
            batch.append(NewMessage(body, flags=frozenset(flags)))
        await store.append(box.id, batch)
    print(f"  filled {count} messages in {time.perf_counter() - started:.1f} s", flush=True)
    return box.id


async def timed(rounds: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


def line(name: str, times: list[float]) -> None:
    print(f"  {name:<28} median {statistics.median(times) * 1000:8.1f} ms  "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, {len(times)} rounds)", flush=True)


async def run_backend(settings: StoreSettings, data_dir: Path, count: int, rounds: int) -> None:
    store = await open_store(settings, data_dir)
    try:
        box = await fill(store, count)
        await store.snapshot(box)  # warm the caches once
        line("SELECT snapshot", await timed(rounds, lambda: store.snapshot(box)))
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        snap = await store.snapshot(box)
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        print(f"  snapshot kept {kept / len(snap):.1f} bytes per message "
              f"(arrays {snap.nbytes / len(snap):.1f}; {len(snap)} messages)", flush=True)
        unseen = HasFlag("\\Seen", present=False)
        line("SEARCH UNSEEN", await timed(rounds, lambda: store.search(box, unseen)))
    finally:
        await store.close()


async def main_async(args: argparse.Namespace) -> None:
    print(f"load average before: {os.getloadavg()}", flush=True)
    for backend in args.backend or ("sqlite", "postgres"):
        print(f"{backend}:", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "postgres":
                with postgres_cluster() as server:
                    settings = StoreSettings(backend="postgres", postgres=await server.create_database())
                    await run_backend(settings, Path(tmp), args.messages, args.rounds)
            else:
                await run_backend(StoreSettings(backend="sqlite"), Path(tmp), args.messages, args.rounds)
    print(f"load average after: {os.getloadavg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), action="append")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
