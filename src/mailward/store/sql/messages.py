"""Operations on messages: append, deliver, flags, copy, move, expunge, changes.

Every write locks the mailbox rows it changes first, in id order, then the account
rows, in id order: on PostgreSQL two nodes writing the same mailbox serialize on
that row, so UIDs and MODSEQs never collide (RFC 9051 2.3.1.1: UIDs strictly
ascending; RFC 7162 3.1: MODSEQ strictly increasing per mailbox).

Expunged UIDs are remembered with their MODSEQ for VANISHED (RFC 7162 3.2.5.2), but
not for ever: each expunge keeps the newest ``keep`` rows of its mailbox (the store's
``expunged_keep``) and raises the mailbox's ``expunged_floor`` to the highest MODSEQ
it dropped. A client whose MODSEQ is below the floor gets every UID under UIDNEXT
that is not in the mailbox as vanished: a superset, which RFC 7162 3.2.5.2 allows.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from mailward.store.interface import (
    Appended,
    BlobRef,
    ChangeEvent,
    ChangeKind,
    Changes,
    CopyResult,
    ExpungeResult,
    FlagOp,
    FlagsResult,
    MessageInfo,
    NotFound,
    QuotaExceeded,
    Snapshot,
)
from mailward.store.sql.base import (
    MESSAGE_COLUMNS,
    Ctx,
    Op,
    Q,
    add_blob_refs,
    flags_text,
    message_info,
    parse_flags,
)
from mailward.store.sql.mailboxes import get_mailbox
from mailward.store.uidset import UidSet

RECENT = "\\Recent"  # RFC 3501 2.3.2: session state, never stored (gone in RFC 9051)
EXPUNGED_KEEP = 10_000  # expunged rows kept per mailbox for VANISHED


@dataclass(frozen=True)
class Entry:
    """One index row to insert: into ``mailbox_id``, pointing at ``blob``."""

    mailbox_id: int
    blob: BlobRef
    flags: frozenset[str]
    internal_date: float


def charge(account_sizes: dict[int, tuple[int, int]], *, check: bool) -> Op[None]:
    """Add (bytes, messages) to each account's usage; refuse when over quota (RFC 9208)."""
    over = []
    for account_id in sorted(account_sizes):
        size, count = account_sizes[account_id]
        rows = yield Q("UPDATE accounts SET used_bytes = used_bytes + ?, messages = messages + ? "
                       "WHERE id = ? RETURNING used_bytes, quota_bytes", (size, count, account_id))
        used, limit = rows[0]
        if check and size > 0 and int(limit) > 0 and int(used) > int(limit):
            over.append(account_id)
    if over:
        raise QuotaExceeded(over)


def insert_entries(ctx: Ctx, entries: Sequence[Entry], *, check_quota: bool = True) -> Op[list[Appended]]:
    """Give each entry the next UID of its mailbox, one MODSEQ per mailbox (RFC 7162 3.1)."""
    by_box: dict[int, list[int]] = {}
    for i, e in enumerate(entries):
        by_box.setdefault(e.mailbox_id, []).append(i)
    out: list[Appended | None] = [None] * len(entries)
    account_sizes: dict[int, tuple[int, int]] = {}
    rows_out: list[tuple[int, int, int, str, float, int, int]] = []
    for mailbox_id in sorted(by_box):
        idx = by_box[mailbox_id]
        # One statement locks the row, takes the UIDs and the MODSEQ (a round trip less).
        rows = yield Q("UPDATE mailboxes SET uid_next = uid_next + ?, highest_modseq = highest_modseq + 1 "
                       "WHERE id = ? RETURNING uid_next, highest_modseq, uid_validity, account_id",
                       (len(idx), mailbox_id))
        if not rows:
            raise NotFound(f"no mailbox {mailbox_id}")
        uid_next, modseq, uid_validity, account_id = (int(v) for v in rows[0])
        first = uid_next - len(idx)
        size, count = account_sizes.get(account_id, (0, 0))
        for n, i in enumerate(idx):
            e = entries[i]
            rows_out.append((mailbox_id, first + n, modseq, flags_text(e.flags - {RECENT}),
                             e.internal_date, e.blob.size, e.blob.id))
            out[i] = Appended(mailbox_id, uid_validity, first + n, modseq, e.blob)
            size, count = size + e.blob.size, count + 1
        account_sizes[account_id] = (size, count)
        ctx.events.append(ChangeEvent(mailbox_id, ChangeKind.NEW, modseq, UidSet.span(first, uid_next - 1)))
    yield from charge(account_sizes, check=check_quota)
    yield Q("INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, size, blob_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", many=rows_out)
    return [a for a in out if a is not None]


def select_messages(mailbox_id: int, uids: UidSet | None, extra: str = "") -> Op[list[MessageInfo]]:
    where, params = ("TRUE", []) if uids is None else uids.sql("m.uid", "?")
    rows = yield Q(f"SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.mailbox_id = ? AND {where}{extra} "  # noqa: S608
                   "ORDER BY m.uid", (mailbox_id, *params))
    return [message_info(r) for r in rows]


def snapshot(mailbox_id: int) -> Op[Snapshot]:
    """The mailbox row and its messages' columns; two statements, which the backends run
    in one read transaction (one snapshot of the database)."""
    box = yield from get_mailbox(mailbox_id)
    rows = yield Q("SELECT uid, modseq, flags FROM messages WHERE mailbox_id = ? ORDER BY uid",
                   (mailbox_id,))
    uids, modseqs, flag_ids = array("I"), array("Q"), array("I")
    ids: dict[str, int] = {}
    for uid, modseq, flags in rows:
        uids.append(int(uid))
        modseqs.append(int(modseq))
        flag_id = ids.get(flags)
        if flag_id is None:
            flag_id = ids[flags] = len(ids)
        flag_ids.append(flag_id)
    # flags_text writes a set one way only (sorted), so distinct texts are distinct sets
    return Snapshot(box, uids, modseqs, flag_ids, tuple(parse_flags(text) for text in ids))


def store_flags(ctx: Ctx, mailbox_id: int, uids: UidSet, op: FlagOp, flags: frozenset[str],
                unchanged_since: int | None) -> Op[FlagsResult]:
    box = yield from get_mailbox(mailbox_id, lock=True)
    flags = flags - {RECENT}
    failed, changes = [], []
    for m in (yield from select_messages(mailbox_id, uids)):
        if unchanged_since is not None and m.modseq > unchanged_since:
            failed.append(m.uid)  # RFC 7162 3.1.3: MODIFIED, left as it is
            continue
        new = flags if op is FlagOp.SET else m.flags | flags if op is FlagOp.ADD else m.flags - flags
        if new != m.flags:  # RFC 7162 3.1.3: an unchanged message keeps its MODSEQ
            changes.append((m, new))
    if not changes:
        return FlagsResult((), UidSet.of(failed), box.highest_modseq)
    modseq = box.highest_modseq + 1
    yield Q("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?", (modseq, mailbox_id))
    yield Q("UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
            many=[(flags_text(new), modseq, mailbox_id, m.uid) for m, new in changes])
    updated = tuple(MessageInfo(m.uid, modseq, new, m.internal_date, m.size, m.blob) for m, new in changes)
    ctx.events.append(ChangeEvent(mailbox_id, ChangeKind.FLAGS, modseq, UidSet.of(m.uid for m in updated)))
    return FlagsResult(updated, UidSet.of(failed), modseq)


def copy(ctx: Ctx, mailbox_id: int, uids: UidSet, dest_id: int) -> Op[CopyResult]:
    # The source is locked too, so that no expunge releases a blob we are sharing.
    for box_id in sorted({mailbox_id, dest_id}):
        yield from get_mailbox(box_id, lock=True)
    dest = yield from get_mailbox(dest_id)
    found = yield from select_messages(mailbox_id, uids)
    if not found:
        return CopyResult(dest.uid_validity, (), ())
    yield from add_blob_refs([m.blob.id for m in found], +1)
    entries = [Entry(dest_id, m.blob, m.flags, m.internal_date) for m in found]
    added = yield from insert_entries(ctx, entries)
    return CopyResult(dest.uid_validity, tuple(m.uid for m in found), tuple(a.uid for a in added))


def _remove(ctx: Ctx, mailbox_id: int, found: list[MessageInfo], *, release: bool,
            keep: int) -> Op[ExpungeResult]:
    box = yield from get_mailbox(mailbox_id, lock=True)
    if not found:
        return ExpungeResult((), box.highest_modseq)
    modseq = box.highest_modseq + 1
    uids = [m.uid for m in found]
    yield Q("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?", (modseq, mailbox_id))
    yield Q("DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", many=[(mailbox_id, u) for u in uids])
    # RFC 7162 3.2.5.2: remember expunged UIDs with their MODSEQ for VANISHED (EARLIER).
    yield Q("INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
            many=[(mailbox_id, u, modseq) for u in uids])
    yield from prune_expunged(mailbox_id, keep, added=len(uids))
    size = sum(m.size for m in found)
    yield from charge({box.account_id: (-size, -len(found))}, check=False)
    if release:
        yield from add_blob_refs([m.blob.id for m in found], -1)
    ctx.events.append(ChangeEvent(mailbox_id, ChangeKind.EXPUNGE, modseq, UidSet.of(uids)))
    return ExpungeResult(tuple(uids), modseq)


def prune_expunged(mailbox_id: int, keep: int, added: int = 0) -> Op[int]:
    """Count ``added`` new expunged rows, then drop all but the ``keep`` newest (by
    MODSEQ, then UID) and raise ``expunged_floor`` to cover what went; how many went."""
    rows = yield Q("UPDATE mailboxes SET expunged_rows = expunged_rows + ? WHERE id = ? "
                   "RETURNING expunged_rows, expunged_floor", (added, mailbox_id))
    if not rows:
        raise NotFound(f"no mailbox {mailbox_id}")
    count, floor = (int(v) for v in rows[0])
    excess = count - max(keep, 0)
    if excess <= 0:
        return 0
    rows = yield Q("SELECT modseq, uid FROM expunged WHERE mailbox_id = ? ORDER BY modseq, uid "
                   "LIMIT 1 OFFSET ?", (mailbox_id, excess - 1))
    if not rows:  # the count was off: set it right, prune next time
        yield Q("UPDATE mailboxes SET expunged_rows = (SELECT count(*) FROM expunged e "
                "WHERE e.mailbox_id = mailboxes.id) WHERE id = ?", (mailbox_id,))
        return 0
    cut_modseq, cut_uid = int(rows[0][0]), int(rows[0][1])
    yield Q("DELETE FROM expunged WHERE mailbox_id = ? AND (modseq < ? OR (modseq = ? AND uid <= ?))",
            (mailbox_id, cut_modseq, cut_modseq, cut_uid))
    yield Q("UPDATE mailboxes SET expunged_rows = ?, expunged_floor = ? WHERE id = ?",
            (count - excess, max(floor, cut_modseq), mailbox_id))
    return excess


def prune_all_expunged(keep: int) -> Op[int]:
    """:func:`prune_expunged` for every mailbox holding more than ``keep`` rows."""
    rows = yield Q("SELECT id FROM mailboxes WHERE expunged_rows > ? ORDER BY id", (keep,))
    pruned = 0
    for (mailbox_id,) in rows:
        pruned += yield from prune_expunged(int(mailbox_id), keep)
    return pruned


def expunge(ctx: Ctx, mailbox_id: int, uids: UidSet | None, deleted_only: bool, *,
            keep: int = EXPUNGED_KEEP) -> Op[ExpungeResult]:
    yield from get_mailbox(mailbox_id, lock=True)
    extra = " AND {flag:Deleted}" if deleted_only else ""  # RFC 9051 6.4.3 / 6.4.9 UID EXPUNGE
    found = yield from select_messages(mailbox_id, uids, extra)
    return (yield from _remove(ctx, mailbox_id, found, release=True, keep=keep))


def move(ctx: Ctx, mailbox_id: int, uids: UidSet, dest_id: int, *,
         keep: int = EXPUNGED_KEEP) -> Op[CopyResult]:
    """RFC 6851: copy then expunge, atomically; the blobs are shared, not copied."""
    for box_id in sorted({mailbox_id, dest_id}):
        yield from get_mailbox(box_id, lock=True)
    dest = yield from get_mailbox(dest_id)
    found = yield from select_messages(mailbox_id, uids)
    if not found:
        return CopyResult(dest.uid_validity, (), ())
    yield from _remove(ctx, mailbox_id, found, release=False, keep=keep)
    entries = [Entry(dest_id, m.blob, m.flags, m.internal_date) for m in found]
    added = yield from insert_entries(ctx, entries)
    return CopyResult(dest.uid_validity, tuple(m.uid for m in found), tuple(a.uid for a in added))


def changes_since(mailbox_id: int, modseq: int) -> Op[Changes]:
    box = yield from get_mailbox(mailbox_id)
    changed = yield from select_messages(mailbox_id, None, f" AND m.modseq > {int(modseq)}")
    rows = yield Q("SELECT expunged_floor FROM mailboxes WHERE id = ?", (mailbox_id,))
    if modseq >= int(rows[0][0]):
        rows = yield Q("SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?", (mailbox_id, modseq))
        return Changes(tuple(changed), UidSet.of(int(r[0]) for r in rows), box.highest_modseq)
    # Expunges after ``modseq`` may have been pruned: report every UID ever given out
    # that is not here now (RFC 7162 3.2.5.2 permits a superset).
    rows = yield Q("SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,))
    return Changes(tuple(changed), absent_uids([int(r[0]) for r in rows], box.uid_next),
                   box.highest_modseq)


def absent_uids(present: Sequence[int], uid_next: int) -> UidSet:
    """The UIDs below ``uid_next`` that are not in ``present`` (ascending)."""
    ranges, low = [], 1
    for uid in present:
        if uid > low:
            ranges.append((low, uid - 1))
        low = uid + 1
    if low < uid_next:
        ranges.append((low, uid_next - 1))
    return UidSet(tuple(ranges))
