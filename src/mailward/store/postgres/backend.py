"""The PostgreSQL store: psycopg 3 async with a pool, over verified TLS.

Several mailward nodes may share one database (DESIGN.md "Beyond one machine"):
UIDs and MODSEQs come from row-locked counters in ``mailboxes``, queue workers
claim with ``FOR UPDATE SKIP LOCKED``, migrations run under an advisory lock, and
the change feed crosses nodes with LISTEN/NOTIFY (a NOTIFY sent inside the write's
transaction is delivered at its commit, to every node, this one included).
Message bytes live in the database (``blob_chunks``), so any node can serve them.
PostgreSQL's own group commit shares one WAL flush among concurrent commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mailward.config.store import PostgresSettings
from mailward.store import feed
from mailward.store.feed import FeedHub
from mailward.store.interface import (
    AlreadyExists,
    ChangeEvent,
    NotFound,
    StoreFull,
    StoreUnavailable,
    StoreUnreachable,
)
from mailward.store.sql import dialect, schema
from mailward.store.sql.base import Ctx, Op, Q, Row
from mailward.store.sql.store import SqlStore

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNEL = "mailward_changes"
_MIGRATION_LOCK = 0x6D61696C77617264  # "mailward": one migrator at a time across nodes
_RETRIES = 5
_PROBE_EVERY = 0.5  # seconds between the probes of an unreachable database, at most
AConn = psycopg.AsyncConnection[tuple[Any, ...]]


def conninfo(pg: PostgresSettings, password: str) -> str:
    params: dict[str, Any] = {
        "host": pg.host, "port": pg.port, "dbname": pg.dbname, "user": pg.user,
        "sslmode": pg.sslmode, "connect_timeout": max(1, int(pg.connect_timeout)),
        "application_name": "mailward",
    }
    for key in ("sslrootcert", "sslcert", "sslkey"):
        if getattr(pg, key):
            params[key] = getattr(pg, key)
    if password:
        params["password"] = password
    return make_conninfo(**params)


def _outage(exc: BaseException) -> bool:
    """``exc`` says the database cannot be reached (rather than that one statement failed):
    no connection, the connection lost, the server shutting down or starting up, or no
    pooled connection within the timeout."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def explain_connect_error(pg: PostgresSettings, exc: Exception) -> StoreUnreachable:
    """A connection failure as one line naming the host and, for TLS trouble, the CA file."""
    text = " ".join(str(exc).split())
    where = f"PostgreSQL server {pg.host}:{pg.port} (database {pg.dbname!r}, user {pg.user!r})"
    ca = pg.sslrootcert or "libpq's default ~/.postgresql/root.crt"
    prefix = "store.postgres"
    if "certificate verify failed" in text or "root certificate file" in text:
        return StoreUnreachable(
            f"{prefix}.sslrootcert",
            f"cannot verify the TLS certificate of {where} against the CA file {ca}: {text}",
            "set store.postgres.sslrootcert to the CA that signed the server's certificate")
    if "does not match host name" in text or "server certificate for" in text:
        return StoreUnreachable(
            f"{prefix}.host",
            f"the TLS certificate of {where} does not name {pg.host!r} (CA file {ca}): {text}",
            "connect with the name the certificate carries")
    reason = f"cannot connect to {where}: {text}"
    if "password authentication failed" in text or "no password supplied" in text:
        return StoreUnreachable(
            f"{prefix}.password", reason,
            "check store.postgres.user, and store the user's password with `mailward secret set NAME` "
            'and write password = "secret:NAME"')
    if "does not exist" in text and "database" in text:
        return StoreUnreachable(
            f"{prefix}.dbname", reason, "create the database or correct store.postgres.dbname")
    if "Connection refused" in text or "timeout expired" in text or "could not translate host name" in text:
        return StoreUnreachable(
            f"{prefix}.host", reason,
            "start PostgreSQL, or correct store.postgres.host and port (its listen_addresses and port)")
    return StoreUnreachable(prefix, reason, "")


@dataclass
class _Done:
    value: Any


def _step(gen: Op[Any], rows: list[Row] | None) -> Q | _Done:
    """Advance ``gen``; its return value comes back wrapped, never as StopIteration
    (which cannot cross a thread's future)."""
    try:
        return next(gen) if rows is None else gen.send(rows)
    except StopIteration as stop:
        return _Done(stop.value)


def _wants_rows(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or "RETURNING" in sql.upper()


async def drive(conn: AConn, gen: Op[T], *, offload: bool) -> T:
    """Run an operation's statements on ``conn``; ``offload`` steps it on a thread
    (when it reads staged message bytes from a temporary file).

    Run inside ``conn.pipeline()``, statements whose rows nobody needs go out without
    waiting for the server (one round trip per SELECT/RETURNING, not per statement).
    """
    rows: list[Row] | None = None
    cur = conn.cursor()
    try:
        while True:
            q = await asyncio.to_thread(_step, gen, rows) if offload else _step(gen, rows)
            if isinstance(q, _Done):
                result: T = q.value
                return result
            sql = dialect.postgres(q.sql)
            rows = []
            if q.many is not None:
                if q.many:
                    await cur.executemany(sql, q.many)
            else:
                await cur.execute(sql, tuple(q.params))
                if _wants_rows(sql):
                    rows = await cur.fetchall()
    finally:
        await cur.close()


class PostgresStore(SqlStore):
    backend = "postgres"

    def __init__(self, settings: PostgresSettings, password: str) -> None:
        self.settings = settings
        self._conninfo = conninfo(settings, password)
        self._pool = self._new_pool()
        self._down: str | None = None  # why the database is known to be unreachable
        self._probe: asyncio.Task[None] | None = None
        self._old_pools: set[asyncio.Task[None]] = set()
        self._hub = FeedHub()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @classmethod
    async def open(cls, settings: PostgresSettings, password: str, *, migrate: bool = True) -> PostgresStore:
        store = cls(settings, password)
        try:
            probe = await psycopg.AsyncConnection.connect(store._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise explain_connect_error(settings, exc) from None
        try:
            await store._pool.open(wait=True, timeout=settings.connect_timeout)
            if migrate:
                await store.migrate()
        except BaseException:
            await probe.close()
            await store._pool.close()
            raise
        store._listener = asyncio.create_task(store._listen(probe), name="mailward-pg-listen")
        try:
            await asyncio.wait_for(store._listening.wait(), settings.connect_timeout)
        except TimeoutError:
            store._listener.cancel()
            await store._pool.close()
            raise StoreUnavailable("the change feed (LISTEN) did not start") from None
        return store

    def _new_pool(self) -> AsyncConnectionPool[AConn]:
        settings = self.settings
        return AsyncConnectionPool(
            self._conninfo, min_size=settings.pool_min, max_size=settings.pool_max, open=False,
            kwargs={"autocommit": True}, timeout=settings.connect_timeout)

    # --- an unreachable database ----------------------------------------------------
    # Once an operation finds the database unreachable, the others fail at once (the SMTP
    # client hears 451 now, not after connect_timeout), and a background probe connects
    # every half second. When it gets through, a fresh pool takes over: the old one's
    # reconnection backoff would keep new transactions waiting seconds more.

    def _fail_fast(self) -> None:
        if self._down is not None:
            raise StoreUnavailable(f"database unreachable: {self._down} (retrying in the background)")

    def _unavailable(self, exc: psycopg.OperationalError) -> StoreUnavailable:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if _outage(exc) and self._down is None and self._probe is None:
            self._down = text
            log.warning("the database is unreachable (%s): answering at once with a temporary "
                        "failure, and probing it every %.1f s", text, _PROBE_EVERY)
            self._probe = asyncio.get_running_loop().create_task(self._wait_for_database())
        return StoreUnavailable(f"database: {text}")

    async def _wait_for_database(self) -> None:
        while True:
            await asyncio.sleep(_PROBE_EVERY)
            try:
                probe = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                try:
                    await probe.execute("SELECT 1")
                finally:
                    await probe.close()
            except (psycopg.Error, OSError) as exc:
                self._down = " ".join(str(exc).split()) or self._down
                continue
            break
        old, self._pool = self._pool, self._new_pool()
        await self._pool.open(wait=False)
        self._down = None
        self._probe = None
        log.warning("the database is reachable again")
        closing = asyncio.get_running_loop().create_task(old.close(timeout=1.0))
        self._old_pools.add(closing)
        closing.add_done_callback(self._old_pools.discard)

    async def migrate(self, upto: int = schema.LATEST) -> list[int]:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            return await drive(conn, schema.migrate("postgres", upto), offload=False)

    async def _write(self, make: Callable[[Ctx], Op[T]], *, offload: bool = False, bulk: bool = False) -> T:
        self._fail_fast()
        for attempt in range(_RETRIES):
            ctx = Ctx()
            try:
                async with self._pool.connection() as conn:
                    async with conn.transaction():
                        result = await drive(conn, make(ctx), offload=offload)
                    if ctx.events:
                        await self._notify(conn, ctx.events)
                return result
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                if attempt == _RETRIES - 1:
                    raise
            except psycopg.errors.UniqueViolation as exc:
                raise AlreadyExists(str(exc).splitlines()[0]) from None
            except psycopg.errors.ForeignKeyViolation as exc:
                raise NotFound(str(exc).splitlines()[0]) from None
            except psycopg.errors.DiskFull as exc:  # SQLSTATE 53100
                raise StoreFull(f"database: {' '.join(str(exc).split())}") from None
            except psycopg.OperationalError as exc:
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    async def _notify(self, conn: AConn, events: list[ChangeEvent]) -> None:
        """Tell every node's change feed, after the write committed.

        Not inside the write's transaction: PostgreSQL serializes the commits of all
        transactions that NOTIFY (a queue lock held across the commit's WAL flush),
        which would undo group commit. A transaction of its own with
        synchronous_commit off holds that lock only briefly; a notification lost to
        a crash at this instant is only late news (sessions re-read by MODSEQ).
        """
        payloads = [feed.encode(e) for e in events]
        try:
            # One statement, its own transaction; set_config(..., true) lasts until its commit.
            await conn.execute(
                "SELECT set_config('synchronous_commit', 'off', true), pg_notify(%s, p) "
                "FROM unnest(%s::text[]) AS p", (CHANNEL, payloads))
        except psycopg.Error as exc:
            log.warning("change notification failed (%s); the write itself is durable", exc)

    async def _read(self, make: Callable[[], Op[T]], *, large: bool = False) -> T:
        self._fail_fast()
        try:
            async with self._pool.connection() as conn:
                # One snapshot for the whole operation; psycopg puts these in the BEGIN.
                await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
                await conn.set_read_only(True)
                try:
                    async with conn.transaction():
                        return await drive(conn, make(), offload=False)
                finally:
                    await conn.set_isolation_level(None)
                    await conn.set_read_only(None)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    async def load_done(self) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            for table in schema.IDENTITY_TABLES:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")

    async def _listen(self, conn: AConn | None) -> None:
        """Feed the hub from NOTIFY; reconnect on failure and tell subscribers to re-read."""
        delay = 0.1
        try:
            while True:
                try:
                    if conn is None:
                        conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                        self._hub.publish_reread()  # events may have been missed
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    delay = 0.1
                    async for note in conn.notifies():
                        try:
                            event = feed.decode(note.payload)
                        except (ValueError, KeyError):  # any database user can NOTIFY this channel
                            log.warning("change feed: ignored a malformed notification")
                            continue
                        self._hub.publish(event)
                except (psycopg.Error, OSError) as exc:
                    log.warning("change feed connection lost (%s); reconnecting", exc)
                    self._listening.set()
                if conn is not None:
                    with contextlib.suppress(psycopg.Error, OSError):
                        await conn.close()
                    conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            if conn is not None:
                with contextlib.suppress(psycopg.Error, OSError):
                    await conn.close()

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        if self._old_pools:
            await asyncio.gather(*self._old_pools, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._pool.close()
