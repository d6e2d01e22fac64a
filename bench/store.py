"""Appends per second into the store at 1, 10 and 50 concurrent writers, both backends.

Every append is durable when it returns (the storage contract); concurrency is what
lets group commit share one sync among many appends. PostgreSQL runs in a private
cluster (as in the tests) with fsync and synchronous_commit on.

    .venv/bin/python bench/store.py [--seconds 3] [--size 1024] [--backend sqlite|postgres]

With ``--mailbox N`` it prints instead what IMAP asks of an N-message mailbox on each
backend (100,000 for issue 20's figures: the snapshot and its memory per message,
BODYSTRUCTURE of every message from the stored structure, flag and full-text searches;
bench/mailbox.py does the work). With ``--indexer-rounds N`` it measures instead what
the text indexer costs delivery:
10 writers append text messages of ``--size`` bytes to their own mailboxes with and
without the indexer running beside them (as the server's background job runs it in
a process serving clients: see mailward.store.indexing), N rounds with the order
rotated, and prints each round's pair, the medians, min-max, the paired ratio
(with / without) and the load average before and after. Target (issue 20): with
indexing at least 90% of without.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mailward.config.store import StoreSettings
from mailward.server.runtime import TEXT_INDEX_SECONDS
from mailward.store.factory import open_store
from mailward.store.indexing import index_pass
from mailward.store.interface import INBOX, NewMessage, Store
from support.postgres import postgres_cluster

WRITERS = (1, 10, 50)
CASES = [(False, n) for n in WRITERS] + [(True, n) for n in WRITERS[1:]]


def report(backend: str, size: int, writers: int, spread: bool, rate: float) -> None:
    target = "own mailbox each" if spread else "one mailbox"
    print(f"{backend:<9} {size:>6} B  {writers:>2} writers  {target:<16} {rate:8.0f} appends/s", flush=True)


def text_message(i: int, size: int) -> bytes:
    head = (f"From: Sender {i % 50} <s{i % 50}@example.org>\r\nTo: bench@example.org\r\n"
            f"Subject: bench {i}\r\n\r\n")
    words = "the quarterly numbers are in and the meeting moved to thursday afternoon "
    body = (words * (size // len(words) + 1))[:max(size - len(head) - 2, 0)]
    return (head + body + "\r\n").encode()


async def run_indexer(store: Store, stop: asyncio.Event) -> int:
    """The server's text-indexer job, as server.runtime runs it in a process that is
    serving clients; how many it indexed."""
    total = 0
    while not stop.is_set():
        total += await index_pass(store, busy=lambda: True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TEXT_INDEX_SECONDS)
    return total


async def measure(settings: StoreSettings, data_dir: Path, writers: int, seconds: float, size: int,
                  spread: bool, *, indexer: bool = False, text: bool = False) -> float:
    """Appends/s; ``spread``: each writer has its own account (like SMTP delivering to many
    users), else all write one mailbox (whose UID counter serializes them on PostgreSQL)."""
    store = await open_store(settings, data_dir)
    try:
        boxes = []
        for n in range(writers if spread else 1):
            account = await store.create_account(f"bench-{writers}-{n}-{time.monotonic_ns()}@example.org")
            inbox = await store.get_mailbox(account.id, INBOX)
            assert inbox is not None
            boxes.append(inbox.id)
        body = os.urandom(size)
        count = 0
        deadline = time.monotonic() + seconds

        async def writer(box: int) -> None:
            nonlocal count
            while time.monotonic() < deadline:
                await store.append(box, [NewMessage(text_message(count, size) if text else body)])
                count += 1

        stop = asyncio.Event()
        indexing = asyncio.create_task(run_indexer(store, stop)) if indexer else None
        started = time.monotonic()
        await asyncio.gather(*(writer(boxes[i % len(boxes)]) for i in range(writers)))
        rate = count / (time.monotonic() - started)
        stop.set()
        if indexing is not None:
            await indexing
        return rate
    finally:
        await store.close()


async def run_backend(backend: str, seconds: float, size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mailward-bench-") as tmp:
        if backend == "sqlite":
            for spread, writers in CASES:
                where = Path(tmp) / f"{writers}-{spread}"
                rate = await measure(StoreSettings(), where, writers, seconds, size, spread)
                report("sqlite", size, writers, spread, rate)
            return
        with postgres_cluster(fsync=True) as server:
            for spread, writers in CASES:
                pg = replace(await server.create_database("bench"), pool_max=max(writers, 2))
                settings = StoreSettings(backend="postgres", postgres=pg)
                rate = await measure(settings, Path(tmp), writers, seconds, size, spread)
                report("postgres", size, writers, spread, rate)


async def compare_indexer(backend: str, rounds: int, seconds: float, size: int) -> None:
    """Delivery with the indexer running beside it against without, paired, rotated."""
    print(f"load average before: {os.getloadavg()}", flush=True)
    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="mailward-bench-") as tmp, contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres_cluster(fsync=True)) if backend == "postgres" else None
        for n in range(rounds):
            rates: dict[bool, float] = {}
            for indexer in ((False, True) if n % 2 == 0 else (True, False)):
                where = Path(tmp) / f"{n}-{indexer}"
                if server is None:
                    settings = StoreSettings()
                else:
                    pg = replace(await server.create_database("bench"), pool_max=12)
                    settings = StoreSettings(backend="postgres", postgres=pg)
                rates[indexer] = await measure(settings, where, 10, seconds, size, True,
                                               indexer=indexer, text=True)
            pairs.append((rates[False], rates[True]))
            print(f"{backend} round {n + 1}: without {rates[False]:7.0f}/s  "
                  f"with indexer {rates[True]:7.0f}/s  ratio {rates[True] / rates[False]:.2f}", flush=True)
    without = [a for a, _ in pairs]
    with_ = [b for _, b in pairs]
    ratios = [b / a for a, b in pairs]
    print(f"{backend}: without median {statistics.median(without):.0f}/s "
          f"({min(without):.0f}-{max(without):.0f}), "
          f"with median {statistics.median(with_):.0f}/s ({min(with_):.0f}-{max(with_):.0f}), "
          f"paired ratio median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}), "
          f"rounds at or above 0.90: {sum(r >= 0.9 for r in ratios)}/{len(ratios)}", flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), action="append")
    parser.add_argument("--indexer-rounds", type=int, default=0,
                        help="compare delivery with and without the text indexer, this many rounds")
    parser.add_argument("--mailbox", type=int, default=0, metavar="N",
                        help="instead: what IMAP asks of an N-message mailbox (bench/mailbox.py: "
                        "snapshot, BODYSTRUCTURE of all, searches, the indexer's rate)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each --mailbox figure")
    args = parser.parse_args()
    if args.mailbox:  # bench/mailbox.py, beside this file (by path: "mailbox" is a stdlib name)
        spec = importlib.util.spec_from_file_location("bench_mailbox", Path(__file__).with_name("mailbox.py"))
        assert spec is not None and spec.loader is not None
        big = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(big)
        asyncio.run(big.main_async(argparse.Namespace(backend=args.backend, messages=args.mailbox,
                                                      rounds=args.rounds)))
        return
    for backend in args.backend or ("sqlite", "postgres"):
        if args.indexer_rounds:
            asyncio.run(compare_indexer(backend, args.indexer_rounds, args.seconds, args.size))
        else:
            asyncio.run(run_backend(backend, args.seconds, args.size))


if __name__ == "__main__":
    main()
