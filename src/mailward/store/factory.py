"""Build a store from the configuration: the only module that imports a backend."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mailward.config.problems import Severity
from mailward.config.store import StoreSettings, check_store
from mailward.store.interface import Store, StoreError, StoreUnavailable
from mailward.store.sqlite.peers import PeerFeed, PeerLinks

if TYPE_CHECKING:
    from mailward.store.sql.store import SqlStore

__all__ = ["PeerFeed", "ServerHold", "open_store", "sqlite_directory"]

SECRET_PREFIX = "secret:"  # noqa: S105 (a prefix, not a password)
SQLITE_DIR = "store"


def no_secrets(name: str) -> str:
    raise StoreError(f"secret {name!r} cannot be resolved here: no secret store was given")


def sqlite_directory(data_dir: str | Path) -> Path:
    return Path(data_dir) / SQLITE_DIR


async def open_store(
    settings: StoreSettings,
    data_dir: str | Path,
    resolve_secret: Callable[[str], str] = no_secrets,
    *,
    migrate: bool = True,
    exclusive: bool = True,
    peers: PeerFeed | None = None,
) -> SqlStore:
    """Open (and by default migrate) the store the settings name.

    ``resolve_secret`` turns the NAME of a ``secret:NAME`` password into its value.
    The result implements :class:`mailward.store.interface.Store`, plus the copy
    hooks ``mailward store copy`` uses. ``exclusive=False`` opens the embedded store
    beside a running server (for the admin commands); PostgreSQL is always shared.
    ``peers``: the embedded store's change feed to the server's other workers.
    """
    errors = [p for p in check_store(settings) if p.severity is Severity.ERROR]
    if errors:
        raise StoreError("; ".join(str(p) for p in errors))
    if settings.backend == "postgres":
        from mailward.store.postgres.backend import PostgresStore  # noqa: PLC0415

        pg = settings.postgres
        password = pg.password
        if password.startswith(SECRET_PREFIX):
            password = resolve_secret(password[len(SECRET_PREFIX):])
        return await PostgresStore.open(pg, password, migrate=migrate)
    from mailward.store.sqlite.backend import SqliteStore  # noqa: PLC0415

    try:
        return await SqliteStore.open(sqlite_directory(data_dir), migrate=migrate, exclusive=exclusive,
                                      peers=peers)
    except sqlite3.Error as exc:
        raise StoreUnavailable(str(exc)) from None


class ServerHold:
    """What a server of several workers holds of its store while they run: the embedded
    store's lock (one server per directory) and the links that carry each worker's
    changes to the others' feeds. PostgreSQL needs neither (LISTEN/NOTIFY reaches every
    worker). :class:`StoreUnavailable` when another process holds the embedded store."""

    def __init__(self, settings: StoreSettings, data_dir: str | Path, workers: int) -> None:
        self._lock_fd = -1
        self._links: PeerLinks | None = None
        if settings.backend == "sqlite":
            from mailward.store.sqlite.backend import lock_store  # noqa: PLC0415

            self._lock_fd = lock_store(sqlite_directory(data_dir))
            self._links = PeerLinks(workers)

    def feed_for(self, worker: int) -> PeerFeed | None:
        """Worker ``worker``'s end of the links (call it in that worker)."""
        return self._links.for_worker(worker) if self._links is not None else None

    def close(self) -> None:
        if self._links is not None:
            self._links.close()
            self._links = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _conforms(store: SqlStore) -> Store:
    """Never called: mypy checks here that the SQL backends implement the interface."""
    return store
