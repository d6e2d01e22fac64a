"""Copy everything from one store to another, ids, UIDs and MODSEQs included.

``mailward store copy`` uses this to move a site from SQLite to PostgreSQL (or
back) without clients noticing: every mailbox keeps its UIDVALIDITY, UIDNEXT and
HIGHESTMODSEQ, every message its UID and MODSEQ (RFC 9051 2.3.1.1, RFC 7162), so
IMAP caches and QRESYNC state stay valid. The target must be empty; the source
should be idle (the SQLite store's lock keeps a running server out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailward.store.interface import StoreError
from mailward.store.sql import schema
from mailward.store.sql.store import SqlStore

Progress = Callable[[str, int, int], None]
"""Called after each batch with (table, rows copied so far, rows in all)."""

_BATCH = {"blob_chunks": 8}  # 256 KiB chunks: at most 2 MiB in memory at a time
_DEFAULT_BATCH = 500


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]


async def copy_store(source: SqlStore, target: SqlStore, progress: Progress | None = None) -> CopyReport:
    if await source.schema_version() != await target.schema_version():
        raise StoreError("source and target have different schema versions: run `mailward store "
                         "migrate` on both first")
    if not await target.is_empty():
        raise StoreError("the target store is not empty: copy only into a new, empty store")
    totals = {table: await source.count(table) for table, _ in schema.TABLES}
    total, done = sum(totals.values()), 0
    copied: dict[str, int] = {}
    for table, _ in schema.TABLES:
        width = schema.key_width(table)
        after = None
        copied[table] = 0
        while True:
            rows = await source.dump(table, after, _BATCH.get(table, _DEFAULT_BATCH))
            if not rows:
                break
            await target.load(table, rows)
            after = rows[-1][:width]
            copied[table] += len(rows)
            done += len(rows)
            if progress is not None:
                progress(table, done, total)
    await target.load_done()
    return CopyReport(copied)
