"""Two real worker processes on one embedded store, linked as ``serve`` links them
(:class:`~mailward.store.sqlite.peers.PeerLinks` made before the fork), for the change
feed test; run in a process of its own, since pytest's process must not fork:

    python -m support.forked_feed DIR

The second worker subscribes to alice's INBOX, the first delivers a message there;
what the second heard is printed as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import sys
import time
from pathlib import Path

from mailward.store.interface import INBOX, ChangeKind, NewMessage
from mailward.store.sqlite.backend import SqliteStore
from mailward.store.sqlite.peers import PeerLinks

TIMEOUT = 10.0


async def _inbox(directory: Path) -> int:
    store = await SqliteStore.open(directory, exclusive=False)
    try:
        account = await store.create_account("alice@example.org")
        box = await store.get_mailbox(account.id, INBOX)
        assert box is not None
        return box.id
    finally:
        await store.close()


async def _listen(directory: Path, links: PeerLinks, inbox: int, ready: int) -> str:
    store = await SqliteStore.open(directory, exclusive=False, peers=links.for_worker(1))
    try:
        async with store.subscribe(inbox) as sub:
            os.write(ready, b"1")
            while True:
                event = await asyncio.wait_for(sub.__anext__(), TIMEOUT)
                if event.kind is not ChangeKind.REREAD:  # not the other worker's "re-read"
                    break
        return json.dumps({"pid": os.getpid(), "kind": event.kind.value, "uids": list(event.uids)})
    finally:
        await store.close()


async def _deliver(directory: Path, links: PeerLinks, inbox: int) -> None:
    store = await SqliteStore.open(directory, exclusive=False, peers=links.for_worker(0))
    try:
        await store.deliver([inbox], NewMessage(b"Subject: hi\r\n\r\nhello\r\n"))
        await asyncio.sleep(0.5)  # let the reader in this worker take the other's "re-read"
    finally:
        await store.close()


def main(directory: Path) -> None:
    inbox = asyncio.run(_inbox(directory))
    links = PeerLinks(2)
    ready_r, ready_w = os.pipe()
    out = directory / "heard.json"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            out.write_text(asyncio.run(_listen(directory, links, inbox, ready_w)))
            code = 0
        finally:
            os._exit(code)
    readable, _, _ = select.select([ready_r], [], [], TIMEOUT)
    if not readable:
        raise SystemExit("the second worker never subscribed")
    asyncio.run(_deliver(directory, links, inbox))
    deadline = time.monotonic() + TIMEOUT
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise SystemExit("the second worker heard nothing")
        time.sleep(0.02)
    if os.waitstatus_to_exitcode(done[1]) != 0:
        raise SystemExit(f"the second worker failed: {done[1]}")
    print(out.read_text())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
