"""Several store instances on one database; connection security of the PostgreSQL backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import (
    INBOX,
    ChangeKind,
    Envelope,
    FlagOp,
    LoginCounter,
    NewMessage,
    StoreError,
    StoreUnavailable,
)
from mailward.store.uidset import UidSet
from support.pki import TestCA
from support.postgres import PostgresServer


async def test_two_nodes_share_one_database(pg_server: PostgresServer, tmp_path: Path) -> None:
    settings = StoreSettings(backend="postgres", postgres=await pg_server.create_database())
    one, two = await asyncio.gather(open_store(settings, tmp_path), open_store(settings, tmp_path))
    try:
        account = await one.create_account("shared@example.org")
        box = await two.get_mailbox(account.id, INBOX)
        assert box is not None
        async with two.subscribe(box.id) as feed:
            writes = [s.append(box.id, [NewMessage(b"n%d" % i)]) for i in range(30) for s in (one, two)]
            results = await asyncio.gather(*writes)
            uids = sorted(r[0].uid for r in results)
            assert uids == list(range(1, 61))  # never collide across nodes
            seen: set[int] = set()
            async with asyncio.timeout(10):
                while len(seen) < 60:
                    event = await feed.__anext__()
                    assert event.kind is ChangeKind.NEW
                    seen |= set(event.uids)  # includes node one's appends, via NOTIFY
        async with one.subscribe(box.id) as feed:
            await two.store_flags(box.id, UidSet.of([5]), FlagOp.ADD, frozenset({"\\Seen"}))
            async with asyncio.timeout(10):
                event = await feed.__anext__()
                while event.kind is ChangeKind.NEW:  # a late NOTIFY of the appends above
                    event = await feed.__anext__()
            assert (event.kind, list(event.uids)) == (ChangeKind.FLAGS, [5])
        for i in range(6):
            await one.enqueue(Envelope("a@example.org", (f"r{i}@remote.example",)), b"q")
        a, b = await asyncio.gather(one.claim("node1", limit=4), two.claim("node2", limit=4))
        ids = [e.id for e in a + b]
        assert len(ids) == 6 and len(set(ids)) == 6  # SKIP LOCKED: each entry once
    finally:
        await asyncio.gather(one.close(), two.close())


async def test_login_counters_count_across_nodes(pg_server: PostgresServer, tmp_path: Path) -> None:
    settings = StoreSettings(backend="postgres", postgres=await pg_server.create_database())
    one, two = await asyncio.gather(open_store(settings, tmp_path), open_store(settings, tmp_path))

    def bump(old: LoginCounter | None) -> LoginCounter:
        failures = old.failures + 1 if old else 1
        return LoginCounter(failures, failures, 0.0)

    try:
        # Both nodes find no row at first and race to create it; then they take turns.
        updates = [s.update_login_counter("ip:203.0.113.5", bump) for _ in range(20) for s in (one, two)]
        results = await asyncio.gather(*updates)
        assert sorted(r.failures for r in results if r is not None) == list(range(1, 41))
        assert await two.login_counter("ip:203.0.113.5") == LoginCounter(40, 40, 0.0)
        # A reset on one node and failures on the other still add up.
        assert await one.delete_login_counter("ip:203.0.113.5")
        await asyncio.gather(*(s.update_login_counter("ip:203.0.113.5", bump) for s in (one, two) * 5))
        counter = await one.login_counter("ip:203.0.113.5")
        assert counter is not None and counter.failures == 10
    finally:
        await asyncio.gather(one.close(), two.close())


async def test_wrong_ca_fails_naming_host_and_ca_file(pg_server: PostgresServer, tmp_path: Path) -> None:
    other = TestCA(tmp_path / "other", name="some other CA")
    pg = replace(await pg_server.create_database(), sslrootcert=str(other.cert_path))
    with pytest.raises(StoreUnavailable) as info:
        await open_store(StoreSettings(backend="postgres", postgres=pg), tmp_path)
    message = str(info.value)
    assert "127.0.0.1" in message and str(other.cert_path) in message
    assert "certificate" in message and "sslrootcert" in message


async def test_wrong_password_names_the_server(pg_server: PostgresServer, tmp_path: Path) -> None:
    pg = replace(await pg_server.create_database(), password="wrong")
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:\d+.*password authentication failed"):
        await open_store(StoreSettings(backend="postgres", postgres=pg), tmp_path)


async def test_secret_password_is_resolved(pg_server: PostgresServer, tmp_path: Path) -> None:
    real = await pg_server.create_database()
    pg = replace(real, password="secret:db")
    asked: list[str] = []

    def resolve(name: str) -> str:
        asked.append(name)
        return real.password

    store = await open_store(StoreSettings(backend="postgres", postgres=pg), tmp_path, resolve)
    await store.close()
    assert asked == ["db"]


async def test_insecure_sslmode_is_refused(tmp_path: Path, pg_server: PostgresServer) -> None:
    pg = replace(pg_server.settings(), sslmode="require")
    with pytest.raises(StoreError, match="sslmode"):
        await open_store(StoreSettings(backend="postgres", postgres=pg), tmp_path)


async def test_sqlite_serves_one_process(tmp_path: Path) -> None:
    first = await open_store(StoreSettings(), tmp_path)
    try:
        with pytest.raises(StoreUnavailable, match="in use"):
            await open_store(StoreSettings(), tmp_path)
    finally:
        await first.close()
    again = await open_store(StoreSettings(), tmp_path)
    await again.close()
    db = tmp_path / "store" / "store.sqlite3"
    assert db.stat().st_mode & 0o777 == 0o600  # mail is private, whatever the umask
    assert (tmp_path / "store").stat().st_mode & 0o077 == 0
