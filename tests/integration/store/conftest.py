"""Store fixtures: every conformance test runs against each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.sql.store import SqlStore
from support.postgres import PostgresServer, postgres_cluster

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres_cluster() as server:
        yield server


@pytest.fixture
async def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    backend = request.param
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("pg_server")
        return StoreSettings(backend="postgres", postgres=await server.create_database())
    return StoreSettings(backend="sqlite")


@pytest.fixture
async def store(store_settings: StoreSettings, tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = await open_store(store_settings, tmp_path, lambda name: name)
    try:
        yield s
    finally:
        await s.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_settings" in metafunc.fixturenames:
        metafunc.parametrize("store_settings", BACKENDS, indirect=True)
