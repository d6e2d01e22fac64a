"""Appends per second into the store at 1, 10 and 50 concurrent writers, both backends.

Every append is durable when it returns (the storage contract); concurrency is what
lets group commit share one sync among many appends. PostgreSQL runs in a private
cluster (as in the tests) with fsync and synchronous_commit on.

    .venv/bin/python bench/store.py [--seconds 3] [--size 1024] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import INBOX, NewMessage
from support.postgres import postgres_cluster

WRITERS = (1, 10, 50)
CASES = [(False, n) for n in WRITERS] + [(True, n) for n in WRITERS[1:]]


def report(backend: str, size: int, writers: int, spread: bool, rate: float) -> None:
    target = "own mailbox each" if spread else "one mailbox"
    print(f"{backend:<9} {size:>6} B  {writers:>2} writers  {target:<16} {rate:8.0f} appends/s", flush=True)


async def measure(settings: StoreSettings, data_dir: Path, writers: int, seconds: float, size: int,
                  spread: bool) -> float:
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
                await store.append(box, [NewMessage(body)])
                count += 1

        started = time.monotonic()
        await asyncio.gather(*(writer(boxes[i % len(boxes)]) for i in range(writers)))
        return count / (time.monotonic() - started)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), action="append")
    args = parser.parse_args()
    for backend in args.backend or ("sqlite", "postgres"):
        asyncio.run(run_backend(backend, args.seconds, args.size))


if __name__ == "__main__":
    main()
