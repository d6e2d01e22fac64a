"""Outbound queue records: envelope, attempts, next try, status, and a worker's lease.

A worker claims due entries for ``lease_seconds``; on PostgreSQL the claim uses
``SELECT ... FOR UPDATE SKIP LOCKED`` so workers on every node take disjoint
entries, and an entry whose worker died becomes due again when its lease ends.
"""

from __future__ import annotations

import json

from mailward.store.interface import BlobRef, Envelope, NotFound, QueueEntry, QueueStatus
from mailward.store.sql import schema
from mailward.store.sql.base import BlobData, Ctx, Op, Q, Row, add_blob_refs, write_blob

COLUMNS = ("q.id, q.mail_from, q.rcpt_to, q.blob_id, b.size, q.status, q.attempts, q.next_attempt, "
           "q.created, q.last_error, q.worker, q.lease_until")
FROM = "FROM queue q JOIN blobs b ON b.id = q.blob_id"


def entry_of(row: Row) -> QueueEntry:
    qid, mail_from, rcpt, blob_id, size, status, attempts, next_at, created, error, worker, lease = row
    envelope = Envelope(mail_from, tuple(json.loads(rcpt)))
    return QueueEntry(int(qid), envelope, BlobRef(int(blob_id), int(size)), QueueStatus(status),
                      int(attempts), float(next_at), float(created), error, worker, float(lease))


def get(entry_id: int) -> Op[QueueEntry]:
    rows = yield Q(f"SELECT {COLUMNS} {FROM} WHERE q.id = ?", (entry_id,))
    if not rows:
        raise NotFound(f"no queue entry {entry_id}")
    return entry_of(rows[0])


def enqueue(ctx: Ctx, envelope: Envelope, data: BlobData) -> Op[QueueEntry]:
    blob = yield from write_blob(data, refs=1, text_state=schema.TEXT_NONE)
    rows = yield Q("INSERT INTO queue (mail_from, rcpt_to, blob_id, status, next_attempt, created) "
                   "VALUES (?, ?, ?, 'ready', ?, ?) RETURNING id",
                   (envelope.mail_from, json.dumps(list(envelope.rcpt_to)), blob.id, ctx.now, ctx.now))
    return (yield from get(int(rows[0][0])))


def claim(ctx: Ctx, worker: str, limit: int, lease_seconds: float) -> Op[list[QueueEntry]]:
    rows = yield Q(
        "SELECT id FROM queue WHERE (status = 'ready' AND next_attempt <= ?) "
        "OR (status = 'claimed' AND lease_until < ?) ORDER BY next_attempt LIMIT ? {skip_locked}",
        (ctx.now, ctx.now, limit))
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    yield Q("UPDATE queue SET status = 'claimed', worker = ?, lease_until = ?, attempts = attempts + 1 "
            "WHERE id = ?", many=[(worker, ctx.now + lease_seconds, i) for i in ids])
    out = []
    for i in ids:
        out.append((yield from get(i)))
    return out


def _held(entry_id: int, worker: str) -> Op[None]:
    rows = yield Q("SELECT id FROM queue WHERE id = ? AND worker = ? AND status = 'claimed' {lock}",
                   (entry_id, worker))
    if not rows:
        raise NotFound(f"queue entry {entry_id} is not claimed by {worker!r} (lease lost?)")


def retry_later(entry_id: int, worker: str, next_attempt: float, error: str) -> Op[None]:
    yield from _held(entry_id, worker)
    yield Q("UPDATE queue SET status = 'ready', worker = '', lease_until = 0, next_attempt = ?, "
            "last_error = ? WHERE id = ?", (next_attempt, error, entry_id))


def give_up(entry_id: int, worker: str, error: str) -> Op[None]:
    yield from _held(entry_id, worker)
    yield Q("UPDATE queue SET status = 'failed', worker = '', lease_until = 0, last_error = ? "
            "WHERE id = ?", (error, entry_id))


def finish(entry_id: int, worker: str) -> Op[None]:
    yield from _held(entry_id, worker)
    rows = yield Q("DELETE FROM queue WHERE id = ? RETURNING blob_id", (entry_id,))
    yield from add_blob_refs([int(rows[0][0])], -1)


def entries(status: QueueStatus | None) -> Op[list[QueueEntry]]:
    if status is None:
        rows = yield Q(f"SELECT {COLUMNS} {FROM} ORDER BY q.id")
    else:
        rows = yield Q(f"SELECT {COLUMNS} {FROM} WHERE q.status = ? ORDER BY q.id", (status.value,))
    return [entry_of(r) for r in rows]
