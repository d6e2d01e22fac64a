"""The record of what ``mailward mailbox import`` put into each mailbox.

A message is known by the SHA-256 of its bytes as stored and by which copy of those
bytes it is in its source folder (0 for the first, 1 for a second identical file, ...):
importing the same folder again adds nothing, and a folder holding one message twice
gets it twice. The record goes with its mailbox (ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Sequence

from mailward.store.interface import ImportKey
from mailward.store.sql.base import Op, Q

_BATCH = 400  # keys per statement (SQLite allows 32,766 parameters; PostgreSQL 65,535)


def imported_keys(mailbox_id: int) -> Op[frozenset[ImportKey]]:
    rows = yield Q("SELECT sha256, copy FROM imported WHERE mailbox_id = ?", (mailbox_id,))
    return frozenset((str(digest), int(copy)) for digest, copy in rows)


def present(mailbox_id: int, keys: Sequence[ImportKey]) -> Op[set[ImportKey]]:
    """Which of ``keys`` the mailbox's record holds."""
    found: set[ImportKey] = set()
    digests = sorted({digest for digest, _ in keys})
    for i in range(0, len(digests), _BATCH):
        batch = digests[i:i + _BATCH]
        marks = ", ".join("?" * len(batch))
        rows = yield Q(f"SELECT sha256, copy FROM imported WHERE mailbox_id = ? AND sha256 IN ({marks})",  # noqa: S608
                       (mailbox_id, *batch))
        found.update((str(digest), int(copy)) for digest, copy in rows)
    return found & set(keys)


def record(mailbox_id: int, keys: Sequence[ImportKey]) -> Op[None]:
    if keys:
        yield Q("INSERT INTO imported (mailbox_id, sha256, copy) VALUES (?, ?, ?)",
                many=[(mailbox_id, digest, copy) for digest, copy in keys])
