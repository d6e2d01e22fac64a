"""PostgreSQL going away and coming back (issue 18: during a 20 s outage every RCPT waited
connect_timeout before its 451, and the first 250 came 8 s after the database was back).

A cluster of its own, since the test stops and starts it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from mailward.store.interface import StoreUnavailable
from mailward.store.postgres.backend import PostgresStore
from support.postgres import PASSWORD, PostgresServer, postgres_cluster

# Far above what any step below should take, so that the old behaviour (each operation
# waiting for a connection until this ran out) could not pass by luck.
CONNECT_TIMEOUT = 30.0


@pytest.fixture
def own_cluster() -> Iterator[PostgresServer]:
    with postgres_cluster() as server:
        yield server


def pg_ctl(server: PostgresServer, *argv: str) -> None:
    server.run("pg_ctl", "-D", str(server.data), "-l", str(server.data / "server.log"), "-w", "-t", "60", *argv)


async def test_an_outage_is_answered_at_once_and_the_database_is_used_again_as_soon_as_it_is_back(
    own_cluster: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = await own_cluster.create_database()
    settings = type(settings)(**{**settings.__dict__, "connect_timeout": CONNECT_TIMEOUT})
    store = await PostgresStore.open(settings, PASSWORD)
    try:
        await store.add_domain("before.example")
        await asyncio.to_thread(pg_ctl, own_cluster, "-m", "fast", "stop")
        with pytest.raises(StoreUnavailable):  # finding out: the pool's connections are gone
            async with asyncio.timeout(CONNECT_TIMEOUT / 2):
                await store.add_domain("during.example")
        for _ in range(5):  # known to be down: every operation fails at once, none waits
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="database unreachable"):
                await store.add_domain("during.example")
            with pytest.raises(StoreUnavailable, match="database unreachable"):
                await store.list_domains()
            assert time.monotonic() - started < 1.0
        await asyncio.to_thread(pg_ctl, own_cluster, "start")
        back = time.monotonic()
        async with asyncio.timeout(CONNECT_TIMEOUT / 3):
            while True:
                try:
                    await store.add_domain("after.example")
                    break
                except StoreUnavailable:
                    await asyncio.sleep(0.05)
        # printed, not asserted tightly: the machine is shared (the probe runs every 0.5 s)
        print(f"first write {time.monotonic() - back:.2f} s after the database was back")
        assert sorted(d.name for d in await store.list_domains()) == ["after.example", "before.example"]
        messages = [r.getMessage() for r in caplog.records]
        assert any("the database is unreachable" in m for m in messages)
        assert any("the database is reachable again" in m for m in messages)
    finally:
        await store.close()
