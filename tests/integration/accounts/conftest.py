"""An account service over a real SQLite store in the test's directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import argon2
import pytest

from mailward.auth.accounts import AccountService
from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import Store

# argon2 at test strength: the parameters are the library's business, not these tests'
FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(StoreSettings(backend="sqlite"), tmp_path, lambda name: name)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def service(store: Store) -> AccountService:
    return AccountService(store, hasher=FAST)
