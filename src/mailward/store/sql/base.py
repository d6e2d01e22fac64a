"""Backend-neutral SQL operations, written once and run by either backend.

An operation is a generator that yields :class:`Q` (a statement) and receives the
rows it returned, sans-IO style: the SQLite backend drives it on its writer thread,
the PostgreSQL backend drives it with ``await`` on a pooled connection. Statements
use ``?`` placeholders and the markers ``{lock}`` / ``{skip_locked}``, which each
backend's dialect rewrites.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mailward.store.interface import BlobRef, ChangeEvent, MessageInfo

T = TypeVar("T")
Row = tuple[Any, ...]
CHUNK = 256 * 1024  # bytes per blob_chunks row: a read holds at most one chunk


@dataclass(frozen=True)
class Q:
    sql: str
    params: Sequence[Any] = ()
    many: Sequence[Sequence[Any]] | None = None  # executemany rows, when given


@dataclass
class Ctx:
    """What an operation may use besides SQL: the clock, and where its events go."""

    now: float = field(default_factory=time.time)
    events: list[ChangeEvent] = field(default_factory=list)


Op = Generator[Q, list[Row], T]


def one(rows: list[Row]) -> Row:
    if len(rows) != 1:
        raise LookupError(f"expected one row, got {len(rows)}")
    return rows[0]


@dataclass(frozen=True)
class BlobData:
    """Message bytes staged for an operation: a size and sync chunk producer."""

    size: int
    chunks: Iterable[bytes]


def write_blob(data: BlobData, refs: int, *, structure: bytes | None = None,
               text_state: int = 0) -> Op[BlobRef]:
    """Store ``data`` as chunks numbered from 0; every chunk but the last must hold
    :data:`CHUNK` bytes (ranged reads find an offset's chunk by division). ``structure``:
    the message's serialized MIME structure; ``text_state``: see ``schema.TEXT_*``."""
    rows = yield Q("INSERT INTO blobs (size, refs, structure, text_state) VALUES (?, ?, ?, ?) RETURNING id",
                   (data.size, refs, structure, text_state))
    blob_id = int(one(rows)[0])
    batch: list[tuple[int, int, bytes]] = []
    for seq, chunk in enumerate(data.chunks):
        batch.append((blob_id, seq, chunk))
        if len(batch) >= 8:
            yield Q("INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?, ?, ?)", many=batch)
            batch = []
    if batch:
        yield Q("INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?, ?, ?)", many=batch)
    return BlobRef(blob_id, data.size)


def add_blob_refs(blob_ids: Sequence[int], delta: int) -> Op[None]:
    """Change reference counts; a blob nothing references any more is deleted."""
    if not blob_ids:
        return
    counts: dict[int, int] = {}
    for b in blob_ids:
        counts[b] = counts.get(b, 0) + delta
    yield Q("UPDATE blobs SET refs = refs + ? WHERE id = ?", many=[(n, b) for b, n in counts.items()])
    if delta < 0:
        gone = [(b,) for b in counts]
        yield Q("DELETE FROM blob_chunks WHERE blob_id = ? AND "
                "(SELECT refs FROM blobs WHERE id = blob_id) <= 0", many=gone)
        yield Q("DELETE FROM blob_text WHERE {text_key} = ? AND "
                "(SELECT refs FROM blobs WHERE id = ?) <= 0", many=[(b, b) for b in counts])
        yield Q("DELETE FROM blobs WHERE id = ? AND refs <= 0", many=gone)


def read_chunk(blob_id: int, seq: int, start: int = 0, count: int = CHUNK) -> Op[bytes | None]:
    """``count`` bytes of chunk ``seq`` from ``start`` (the database cuts them out)."""
    if start == 0 and count >= CHUNK:
        rows = yield Q("SELECT data FROM blob_chunks WHERE blob_id = ? AND seq = ?", (blob_id, seq))
    else:
        rows = yield Q("SELECT substr(data, ?, ?) FROM blob_chunks WHERE blob_id = ? AND seq = ?",
                       (start + 1, count, blob_id, seq))
    return bytes(rows[0][0] or b"") if rows else None  # SQLite: substr of an empty blob is NULL


def flags_text(flags: Iterable[str]) -> str:
    # Stored space-separated and sorted, framed by spaces so that a search for
    # " \Seen " matches a whole flag. Flags are atoms (RFC 9051 9): no spaces inside.
    words = sorted(set(flags))
    return " " + " ".join(words) + " " if words else " "


def parse_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


MESSAGE_COLUMNS = "m.uid, m.modseq, m.flags, m.internal_date, m.size, m.blob_id"


def message_info(row: Row) -> MessageInfo:
    uid, modseq, flags, date, size, blob_id = row
    return MessageInfo(int(uid), int(modseq), parse_flags(flags), float(date), int(size),
                       BlobRef(int(blob_id), int(size)))
