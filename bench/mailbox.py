"""What IMAP asks of a big mailbox, on each backend: SELECT's snapshot, BODYSTRUCTURE, searches.

Fills one mailbox with N small messages (100,000 by default; a tenth of them flagged,
a third seen, a fifth multipart/alternative with an HTML part, one in a hundred with
the word "zebra" in its body), indexes their text as the background indexer would
(and says how fast), then times, over several rounds: the snapshot a SELECT takes
(and the memory it keeps per message, measured with tracemalloc), the stored MIME
structure of every message (what FETCH 1:* BODYSTRUCTURE reads), a flag search
(UNSEEN), and full-text searches (BODY zebra, SUBJECT "bench 4242", TEXT "message 77").
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
from mailward.store.search import BodyContains, HasFlag, HeaderContains, TextContains
from support.postgres import postgres_cluster

BATCH = 1000


_PROSE = ("the quarterly numbers are in and the meeting moved to thursday afternoon so please bring "
          "the printed slides with the revised budget figures")
WORDS = _PROSE.split(" ")


def message(i: int) -> bytes:
    words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(120))
    text = f"Hello, this is message {i}. {words}{' zebra' if i % 100 == 0 else ''}\r\n"
    head = f"From: Sender {i % 50} <s{i % 50}@example.org>\r\nTo: bench@example.org\r\nSubject: bench {i}\r\n"
    if i % 5:
        return (head + "\r\n" + text).encode()
    return (head + "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text +
            "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + text + "</p>\r\n--b--\r\n").encode()


async def fill(store: Store, count: int) -> int:
    account = await store.create_account("bench@example.org")
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        batch = []
        for i in range(first, min(count, first + BATCH)):
            flags = {"\\Seen"} if i % 3 else set()
            if i % 10 == 0:
                flags.add("\\Flagged")
            batch.append(NewMessage(message(i), flags=frozenset(flags)))
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
    print(f"  {name:<36} median {statistics.median(times) * 1000:8.1f} ms  "
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
        started, indexed = time.perf_counter(), 0
        while done := await store.index_text(limit=500):
            indexed += done
        took = time.perf_counter() - started
        print(f"  text indexer: {indexed} messages in {took:.1f} s ({indexed / took:.0f}/s)", flush=True)
        blobs = [m.blob for m in await store.messages(box)]
        line("BODYSTRUCTURE of all (stored)", await timed(rounds, lambda: store.structures(blobs)))
        for name, criterion in (("SEARCH BODY zebra", BodyContains("zebra")),
                                ("SEARCH SUBJECT \"bench 4242\"", HeaderContains("subject", "bench 4242")),
                                ("SEARCH TEXT \"message 77\"", TextContains("message 77"))):
            found = len((await store.search(box, criterion)).uids)
            line(f"{name} ({found})", await timed(rounds, lambda c=criterion: store.search(box, c)))
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
