"""Child of the crash test: appends without pause and reports each append once it returned.

Usage: crash_child.py DATA_DIR ROUND. Prints "UID ID" per durable append, flushed.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

from mailward.store.interface import INBOX, NewMessage
from mailward.store.sqlite.backend import SqliteStore

ACCOUNT = "crash@example.org"
WRITERS = 8


def message(ident: int) -> bytes:
    """Deterministic content; sizes from 64 bytes to about 600 KiB (several blob chunks)."""
    seed = hashlib.sha256(str(ident).encode()).digest()
    size = 64 + int.from_bytes(seed[:4], "big") % (600 * 1024 if ident % 7 == 0 else 4096)
    body = (seed * (size // len(seed) + 1))[:size]
    return f"X-Id: {ident}\r\n\r\n".encode() + body


async def main(directory: Path, round_no: int) -> None:
    store = await SqliteStore.open(directory)
    account = await store.find_account(ACCOUNT) or await store.create_account(ACCOUNT)
    inbox = await store.get_mailbox(account.id, INBOX)
    assert inbox is not None
    counter = iter(range(round_no * 1_000_000, (round_no + 1) * 1_000_000))
    print("ready", flush=True)

    async def writer() -> None:
        while True:
            ident = next(counter)
            done = await store.append(inbox.id, [NewMessage(message(ident))])
            sys.stdout.write(f"{done[0].uid} {ident}\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
