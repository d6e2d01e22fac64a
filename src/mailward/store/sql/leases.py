"""Mailbox leases: one holder at a time per mailbox, across processes and nodes.

POP3 needs its maildrop to itself for a session (RFC 1939 8: "an exclusive-access
lock"). A lease is a row per mailbox naming its holder and when it expires; the
holder renews it while it lives, so that a node that dies lets go within one lease
period. A released lease keeps the time it was taken (``acquired``), which is what
RFC 2449's LOGIN-DELAY counts from. Expiry compares the nodes' clocks: they are
assumed to agree within a small fraction of a lease period (NTP).
"""

from __future__ import annotations

from mailward.store.interface import LeaseOutcome, NotFound
from mailward.store.sql.base import Ctx, Op, Q


def acquire(ctx: Ctx, mailbox_id: int, holder: str, seconds: float, not_within: float) -> Op[LeaseOutcome]:
    if not holder:
        raise ValueError("a lease needs a holder")
    rows = yield Q("SELECT id FROM mailboxes WHERE id = ?", (mailbox_id,))
    if not rows:
        raise NotFound(f"no mailbox {mailbox_id}")
    rows = yield Q("SELECT holder, expires, acquired FROM mailbox_leases WHERE mailbox_id = ? {lock}",
                   (mailbox_id,))
    if not rows:
        # two takers at once: the second insert finds the first's row and takes nothing
        rows = yield Q("INSERT INTO mailbox_leases (mailbox_id, holder, expires, acquired) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT (mailbox_id) DO NOTHING RETURNING mailbox_id",
                       (mailbox_id, holder, ctx.now + seconds, ctx.now))
        return LeaseOutcome.ACQUIRED if rows else LeaseOutcome.HELD
    current, expires, acquired = str(rows[0][0]), float(rows[0][1]), float(rows[0][2])
    if current and current != holder and expires > ctx.now:
        return LeaseOutcome.HELD
    if current != holder and ctx.now < acquired + not_within:
        return LeaseOutcome.TOO_SOON
    yield Q("UPDATE mailbox_leases SET holder = ?, expires = ?, acquired = ? WHERE mailbox_id = ?",
            (holder, ctx.now + seconds, ctx.now, mailbox_id))
    return LeaseOutcome.ACQUIRED


def renew(ctx: Ctx, mailbox_id: int, holder: str, seconds: float) -> Op[bool]:
    """Extend ``holder``'s lease; False when it is no longer theirs (taken after it expired)."""
    rows = yield Q("UPDATE mailbox_leases SET expires = ? WHERE mailbox_id = ? AND holder = ? "
                   "RETURNING mailbox_id", (ctx.now + seconds, mailbox_id, holder))
    return bool(rows)


def release(mailbox_id: int, holder: str) -> Op[bool]:
    """Let go of ``holder``'s lease; False when it was not theirs any more."""
    rows = yield Q("UPDATE mailbox_leases SET holder = '', expires = 0 WHERE mailbox_id = ? AND holder = ? "
                   "RETURNING mailbox_id", (mailbox_id, holder))
    return bool(rows)
