"""The embedded store: SQLite in WAL mode, message bytes in the same database.

Why the bytes live in SQLite rather than in files (measured on the 2-core target
machine, 1 KiB messages): a file written tmp -> fsync -> rename -> fsync(dir)
costs 0.78 ms per message alone and 0.50 ms in batches of 50 (one fsync per file
cannot be shared), while 50 messages in one SQLite WAL transaction cost 0.019 ms
each: one fsync covers the index and the bytes of the whole batch, and a message
is whole or absent with no orphan files to sweep. Files win only for large
messages (1 MiB: 1.8 ms vs 5.6 ms), which are rare in mail; the bytes are kept in
256 KiB chunks so that reads stream.

Where the work runs, and why: SQLite's own work for a lookup or an insert is a few
microseconds, far less than handing it to a thread and back (a thread hop costs
the event loop a wake-up, and every thread that wants the GIL slows the loop's
socket calls while it waits). So small operations run on the event loop itself,
and threads get only what blocks or grows with the data:

- Writes use group commit. Every write waiting when a transaction starts joins
  it, each in its own SAVEPOINT (a failing one rolls back alone); the statements
  run on the loop, then one COMMIT, and its one fsync, runs on the I/O thread
  while the next batch gathers (one thread hop per batch, not per write). A write
  marked ``offload`` or ``bulk`` (big messages; deletes, expunges and migrations
  that touch many rows) runs its statements on the I/O thread, inside the batch.
- Point reads run on the loop against their own connection (WAL lets them read
  while a write is open); reads that grow with a mailbox (message lists, change
  lists, message bytes, dumps) run on a small pool of reader threads.
- The change feed: after each commit the events go to this process's sessions
  and, through :mod:`mailward.store.sqlite.peers`, to the server's other workers.
- Nothing on the loop waits for a lock: its connections have no busy timeout.
  When another process (an admin command) holds the write lock, BEGIN is retried
  on the I/O thread, which may wait; a point read that finds the database busy
  (rare in WAL) is retried on a reader thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mailward.ratelog import RateLimitedLog
from mailward.store.feed import FeedHub
from mailward.store.interface import ChangeEvent, StoreFull, StoreUnavailable
from mailward.store.sql import dialect, schema
from mailward.store.sql.base import Ctx, Op, Q, Row
from mailward.store.sql.store import SqlStore
from mailward.store.sql.text import header_has
from mailward.store.sqlite.peers import PeerFeed

log = logging.getLogger(__name__)
_ratelog = RateLimitedLog(log)
T = TypeVar("T")
DB_NAME = "store.sqlite3"
_MAX_BATCH = 512
_READERS = 2
_BUSY_WAIT = 30.0  # seconds a thread waits for another process's lock


def drive(conn: sqlite3.Connection, gen: Op[T]) -> T:
    """Run an operation's statements on ``conn`` (see :mod:`mailward.store.sql.base`)."""
    try:
        q: Q = next(gen)
        while True:
            q = gen.send(_execute(conn, q))
    except StopIteration as stop:
        result: T = stop.value
        return result


def _execute(conn: sqlite3.Connection, q: Q) -> list[Row]:
    sql = dialect.sqlite(q.sql)
    if q.many is not None:
        if q.many:
            conn.executemany(sql, q.many)
        return []
    return conn.execute(sql, tuple(q.params)).fetchall()


def connect(path: Path, *, readonly: bool = False, wait: bool = True) -> sqlite3.Connection:
    """A connection; opening it may wait for locks (call it off the event loop).

    ``wait``: how long its statements later wait for another connection's lock before
    they fail with "database is locked": :data:`_BUSY_WAIT` seconds, or not at all
    (connections used on the event loop, which must never block)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=_BUSY_WAIT)
    conn.execute("PRAGMA journal_mode = WAL")  # needs a lock another process may hold a moment
    # WAL + FULL: COMMIT fsyncs the WAL, so a commit that returned survives a crash.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.create_function("mw_header_has", 3, header_has, deterministic=True)
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    if not wait:
        conn.execute("PRAGMA busy_timeout = 0")
    return conn


def lock_store(directory: Path) -> int:
    """Hold the store at ``directory`` for this process (and processes it forks) until the
    returned descriptor is closed; :class:`StoreUnavailable` when another process holds it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / "store.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreUnavailable(
            f"{directory / DB_NAME} is in use by another mailward process; the embedded store serves "
            "one server: stop the other one, or move to PostgreSQL for several nodes") from None
    return fd


def full(exc: BaseException) -> StoreFull | None:
    """``exc`` as :class:`StoreFull` when it says the disk or the database is full."""
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StoreFull(f"the store is full: {exc}")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(f"the store's disk is full: {exc.strerror}")
    return None


# SQLite's primary result codes that say the database file cannot be written now (a
# read-only mount or file, a permission taken away, an I/O error): the connection that
# met one is not used again, since SQLite keeps a connection opened read-only so for good
_NOT_WRITABLE = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
                           sqlite3.SQLITE_PERM})


def not_writable(exc: BaseException) -> bool:
    """``exc`` says the store's files cannot be written now."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _NOT_WRITABLE
    return isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


def _is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds a lock; worth waiting for."""
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc))


@dataclass
class _Job:
    make: Callable[[Ctx], Op[Any]]
    future: asyncio.Future[Any]
    offload: bool
    ctx: Ctx = field(default_factory=Ctx)


class SqliteStore(SqlStore):
    backend = "sqlite"

    def __init__(self, directory: Path, *, exclusive: bool = True, peers: PeerFeed | None = None) -> None:
        self.directory = directory
        self.exclusive = exclusive
        self.path = directory / DB_NAME
        self._hub = FeedHub()
        self._peers = peers  # the other worker processes of this server, if any
        self._pending: list[_Job] = []
        self._batches: asyncio.Task[None] | None = None
        self._writer: sqlite3.Connection | None = None  # the one connection that writes
        self._looker: sqlite3.Connection | None = None  # point reads on the event loop
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mailward-sqlite-io")
        self._readers = concurrent.futures.ThreadPoolExecutor(
            _READERS, thread_name_prefix="mailward-sqlite-r")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._lock_fd = -1
        self._write_lock = -1  # the flock'd file that the writers of one server queue on
        self._closed = False
        self.commits = 0  # transactions committed (each one sync), for tests and metrics

    @classmethod
    async def open(cls, directory: Path, *, migrate: bool = True, exclusive: bool = True,
                   peers: PeerFeed | None = None) -> SqliteStore:
        """``exclusive``: hold the store for this process (``serve``, ``store copy``). The
        admin commands (``mailward user ...``) open it shared: SQLite's own locking
        (BEGIN IMMEDIATE, a busy timeout) keeps their short writes apart from the
        server's, so an admin can add a user or lift a login block while it runs.
        Their changes reach the server's change feed only for sessions that look
        again, which is all that adding users, aliases or certificates needs."""
        store = cls(directory, exclusive=exclusive, peers=peers)
        await asyncio.to_thread(store._start)
        if migrate:
            await store.migrate()
        if peers is not None:
            peers.start(store._hub)
        return store

    def _start(self) -> None:
        """Open the files. A store opened shared (a worker of several, the admin commands)
        opens even when its files cannot be written now (a read-only mount, say): writes
        then fail with :class:`StoreUnavailable`, and each batch tries to open the writing
        connection again, so that the store takes writes again by itself once it can."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # the WAL and shm files follow the umask; the directory guards them
            os.chmod(self.directory, 0o700)
            if self.exclusive:
                self._lock_fd = lock_store(self.directory)
            self._write_lock = os.open(self.directory / "write.lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._writer = connect(self.path, wait=False)
            os.chmod(self.path, 0o600)
        except (OSError, sqlite3.Error) as exc:
            if self.exclusive or not not_writable(exc):
                raise
            self._close_writer()
            _ratelog.warning("not-writable", f"the store at {self.path} is not writable now ({exc}): "
                             "mail is answered 4xx until it is, and taken again by itself after that")
        with contextlib.suppress(sqlite3.Error):  # point reads fall back to the reader threads
            self._looker = connect(self.path, readonly=True, wait=False)

    def _close_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(sqlite3.Error):
                self._writer.close()
            self._writer = None

    def _open_writer(self) -> sqlite3.Connection:
        """The writing connection, opened again after the store was not writable (off the loop)."""
        if self._write_lock < 0:
            self._write_lock = os.open(self.directory / "write.lock", os.O_RDWR | os.O_CREAT, 0o600)
        conn = connect(self.path, wait=False)
        try:
            _begin(conn)  # a connection SQLite opened read-only fails here, not at connect
            conn.execute("ROLLBACK")
        except BaseException:
            conn.close()
            raise
        return conn

    async def migrate(self, upto: int = schema.LATEST) -> list[int]:
        return await self._write(lambda ctx: schema.migrate("sqlite", upto), bulk=True)

    # --- writes: group commit ------------------------------------------------------

    async def _write(self, make: Callable[[Ctx], Op[T]], *, offload: bool = False, bulk: bool = False) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        job = _Job(make, loop.create_future(), offload or bulk)
        self._pending.append(job)
        if self._batches is None:
            # started on the loop's next turn, so that every write asked for in this
            # turn joins the first batch
            self._batches = loop.create_task(self._run_batches())
        result: T = await job.future
        return result

    async def _run_batches(self) -> None:
        try:
            while self._pending:
                await self._commit_batch()
        finally:
            self._batches = None

    async def _commit_batch(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is None:
            try:
                self._writer = await loop.run_in_executor(self._io, self._open_writer)
            except (OSError, sqlite3.Error) as exc:
                _ratelog.warning("not-writable", f"the store at {self.path} is not writable: {exc}")
                failure = StoreUnavailable(f"the store is not writable: {exc}")
                for job in self._take_batch():
                    if not job.future.done():
                        job.future.set_exception(failure)
                return
            log.warning("the store at %s is writable again", self.path)
        conn = self._writer
        batch: list[_Job] = []
        results: list[Any] = []
        errors: list[BaseException | None] = []
        try:
            await self._lock_writes()
            # The batch is what waits once the lock is held, so that the writes asked for
            # while another worker committed join it rather than wait for the next one.
            batch = self._take_batch()
            await self._on_loop_or_waiting(_begin, conn)
            shared = len(batch) > 1  # a savepoint each, so that a failing job rolls back alone
            for job in batch:
                if shared:
                    conn.execute("SAVEPOINT job")
                try:
                    if job.offload:
                        result = await loop.run_in_executor(self._io, drive, conn, job.make(job.ctx))
                    else:
                        result = drive(conn, job.make(job.ctx))
                    if shared:
                        conn.execute("RELEASE job")
                except Exception as exc:
                    if not conn.in_transaction:
                        # SQLite rolled the whole transaction back itself (SQLITE_FULL, an I/O
                        # error): the batch's earlier jobs are gone too, so all of it fails
                        raise
                    if shared:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                    else:
                        conn.execute("ROLLBACK")
                    results.append(None)
                    errors.append(full(exc) or exc)
                else:
                    results.append(result)
                    errors.append(None)
            if conn.in_transaction:
                # one fsync for the whole batch, off the loop; the next batch gathers meanwhile
                await loop.run_in_executor(self._io, _commit, conn, self._write_lock)
                self.commits += 1
            else:  # its only job failed and was rolled back
                _unlock(self._write_lock)
        except Exception as exc:
            failure = full(exc) or StoreUnavailable(f"commit failed: {exc}")
            if not_writable(exc):  # a known condition: one line now and then, no traceback
                _ratelog.warning("not-writable", f"the store at {self.path} is not writable: {exc}")
                failure = StoreUnavailable(f"the store is not writable: {exc}")
            elif not isinstance(failure, StoreFull):  # a full disk: the writers' callers say so
                log.exception("sqlite commit failed")
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    await loop.run_in_executor(self._io, conn.execute, "ROLLBACK")
            _unlock(self._write_lock)
            if not_writable(exc):
                self._close_writer()  # the next batch opens a new one
            batch = batch or self._take_batch()  # the lock failed: fail the writes waiting for it
            errors = [failure] * len(batch)
            results = [None] * len(batch)
        published: list[ChangeEvent] = []
        for job, result, error in zip(batch, results, errors, strict=True):
            if error is None:
                for event in job.ctx.events:
                    self._hub.publish(event)
                published += job.ctx.events
            if job.future.done():
                continue  # the caller gave up waiting; the write stands (or failed) all the same
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
        if self._peers is not None:
            self._peers.send(published)

    def _take_batch(self) -> list[_Job]:
        batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        return batch

    async def _lock_writes(self) -> None:
        """Take the write lock: the worker processes of a server (and any other store opened
        on this directory) queue on it, each woken the moment the one before commits;
        SQLite's own busy handler would have them poll and sleep, up to 100 ms at a time."""
        # flock: held by this store's own open file, so the loop takes it and the I/O thread
        # lets go of it (fcntl record locks would belong to the whole process)
        try:
            fcntl.flock(self._write_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.get_running_loop().run_in_executor(
                self._io, fcntl.flock, self._write_lock, fcntl.LOCK_EX)

    async def _on_loop_or_waiting(self, step: Callable[[sqlite3.Connection], None],
                                  conn: sqlite3.Connection) -> None:
        """Run ``step`` on the loop; when another connection's lock is in the way, run it
        again on the I/O thread, which may wait for the lock."""
        try:
            step(conn)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            await asyncio.get_running_loop().run_in_executor(self._io, _waiting, conn, step)

    # --- reads -------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._conns_lock:
                self._reader_conns.append(conn)
        return conn

    def _read_sync(self, make: Callable[[], Op[T]], conn: sqlite3.Connection | None = None) -> T:
        conn = conn or self._reader()
        # Most reads are one statement, which is its own snapshot: run the first one bare.
        # If the operation asks for a second, start it again inside a transaction, so that
        # all its statements see one snapshot (reads change nothing, so the retry is safe).
        first = make()
        try:
            q = next(first)
            first.send(_execute(conn, q))
        except StopIteration as stop:
            result: T = stop.value
            return result
        first.close()
        conn.execute("BEGIN")
        try:
            return drive(conn, make())
        finally:
            conn.execute("COMMIT")

    async def _read(self, make: Callable[[], Op[T]], *, large: bool = False) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if not large and self._looker is not None:
            try:
                return self._read_sync(make, self._looker)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                # rare in WAL (another process recovering the WAL, say): wait on a thread
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_sync, make)

    async def load_done(self) -> None:
        """Nothing to do: an INTEGER PRIMARY KEY continues after the largest id."""

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while self._batches is not None:  # let the writes already asked for finish
            await asyncio.shield(self._batches)
        if self._peers is not None:
            self._peers.stop()
        await asyncio.to_thread(self._io.shutdown, True)
        await asyncio.to_thread(self._readers.shutdown, True)
        with self._conns_lock:
            conns = [*self._reader_conns, self._writer, self._looker]
        for conn in conns:
            if conn is not None:
                conn.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
        if self._write_lock >= 0:
            os.close(self._write_lock)


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: sqlite3.Connection, write_lock: int) -> None:
    # WAL: the write lock is held since BEGIN IMMEDIATE, so COMMIT waits for nobody; should
    # it find a lock all the same, it tries again with a busy timeout (this is the I/O thread)
    try:
        _commit_now(conn)
    except sqlite3.OperationalError as exc:
        if not _is_busy(exc):
            raise
        _waiting(conn, _commit_now)
    _unlock(write_lock)  # here, not back on the loop: the next worker may start at once


def _unlock(write_lock: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(write_lock, fcntl.LOCK_UN)


def _commit_now(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _waiting(conn: sqlite3.Connection, step: Callable[[sqlite3.Connection], None]) -> None:
    """Run ``step`` with a busy timeout (on a thread: this may block for seconds)."""
    conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_WAIT * 1000)}")
    try:
        step(conn)
    finally:
        conn.execute("PRAGMA busy_timeout = 0")
