"""Crash safety: SIGKILL a process in the middle of appends, many times over.

After each kill the store is reopened and checked: every append the child reported
(it reports only after ``append`` returned) is present and whole, no message is
half-written, and the index, the bytes and the quota counters agree.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

from mailward.store.interface import INBOX
from mailward.store.sqlite.backend import DB_NAME, SqliteStore

CHILD = Path(__file__).with_name("crash_child.py")
_spec = importlib.util.spec_from_file_location("mailward_crash_child", CHILD)
assert _spec is not None and _spec.loader is not None
crash_child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_child)
ACCOUNT, message = crash_child.ACCOUNT, crash_child.message
ROUNDS = 20
TIME_BUDGET = 45.0


async def run_round(directory: Path, round_no: int, rng: random.Random) -> dict[int, int]:
    """Start the child, kill it at a random moment; the (uid -> id) appends it reported."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(directory), str(round_no),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    acked: dict[int, int] = {}
    try:
        async with asyncio.timeout(30):
            line = await child.stdout.readline()
        assert line == b"ready\n", line + (await child.stderr.read() if child.stderr else b"")
        kill_at = time.monotonic() + rng.uniform(0.01, 0.4)
        while (left := kill_at - time.monotonic()) > 0:
            try:
                line = await asyncio.wait_for(child.stdout.readline(), left)
            except TimeoutError:
                break
            if not line:
                raise AssertionError(b"child died: " + (await child.stderr.read() if child.stderr else b""))
            uid, ident = map(int, line.split())
            acked[uid] = ident
    finally:
        child.send_signal(signal.SIGKILL)
        # What was written to the pipe before the kill had been acknowledged too.
        rest = await child.stdout.read()
        await child.wait()
    for line in rest.splitlines():
        if re.fullmatch(rb"\d+ \d+", line):
            uid, ident = map(int, line.split())
            acked[uid] = ident
    return acked


async def verify(directory: Path, acked: dict[int, int], checked: int) -> int:
    """Check the index and quota whole, and the bytes of messages above UID ``checked``."""
    store = await SqliteStore.open(directory)
    try:
        account = await store.find_account(ACCOUNT)
        assert account is not None
        inbox = await store.get_mailbox(account.id, INBOX)
        assert inbox is not None
        infos = {m.uid: m for m in await store.messages(inbox.id)}
        missing = set(acked) - set(infos)
        assert not missing, f"acknowledged appends lost: {sorted(missing)[:10]}"
        for uid, info in infos.items():
            if uid <= checked:
                continue  # read whole in an earlier round; integrity_check covers the rest
            data = b"".join([c async for c in store.read(info.blob)])
            assert len(data) == info.size == info.blob.size, f"uid {uid}: size disagrees"
            ident = int(data.split(b"\r\n", 1)[0].removeprefix(b"X-Id: "))
            assert data == message(ident), f"uid {uid}: bytes damaged"
            if uid in acked:
                assert ident == acked[uid], f"uid {uid} holds another message"
        assert max(infos, default=0) < inbox.uid_next
        usage = await store.quota(account.id)
        assert usage.used_bytes == sum(m.size for m in infos.values())
        assert usage.messages == len(infos)
        return max(infos, default=0)
    finally:
        await store.close()


def integrity(directory: Path) -> str:
    with sqlite3.connect(directory / DB_NAME) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_sigkill_during_appends(tmp_path: Path) -> None:
    rng = random.Random()
    started = time.monotonic()
    acked: dict[int, int] = {}
    rounds = checked = 0
    while rounds < ROUNDS and time.monotonic() - started < TIME_BUDGET:
        acked |= await run_round(tmp_path, rounds, rng)
        rounds += 1
        assert await asyncio.to_thread(integrity, tmp_path) == "ok"
        checked = await verify(tmp_path, acked, checked)
    print(f"{rounds} rounds, {len(acked)} acknowledged appends, {time.monotonic() - started:.1f}s")
    assert rounds >= 5 and len(acked) > 0
