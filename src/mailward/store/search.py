"""Search criteria a store evaluates: what IMAP SEARCH (RFC 9051 6.4.4) maps onto.

A criterion is a small tree of frozen dataclasses. The store works in its own terms:
UIDs (the IMAP session turns sequence sets into UIDs through its snapshot, which is
where sequence numbers live), seconds since the epoch (the session turns the RFC's
dates, "disregarding time and timezone", into the range of that day), and bytes.
Session state stays in the session: ``\\Recent``, NEW and OLD are its to evaluate.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from mailward.store.uidset import UidSet


@dataclass(frozen=True)
class Everything:
    """ALL."""


@dataclass(frozen=True)
class HasFlag:
    """A system flag (``\\Seen``) or keyword set (``present``) or not set; keywords are
    compared without regard to case."""

    flag: str
    present: bool = True


@dataclass(frozen=True)
class InternalDate:
    """The internal date is at or after ``since`` and before ``before`` (either may be
    None): BEFORE, ON and SINCE once the session has made days into seconds."""

    since: float | None = None
    before: float | None = None


@dataclass(frozen=True)
class Size:
    """RFC822.SIZE above ``larger`` and below ``smaller`` (LARGER n, SMALLER n)."""

    larger: int | None = None
    smaller: int | None = None


@dataclass(frozen=True)
class Uids:
    """UID set, and a sequence set once the session has mapped it."""

    uids: UidSet


@dataclass(frozen=True)
class ModSeqAtLeast:
    """MODSEQ n (RFC 7162 3.1.5): the message's MODSEQ is n or more."""

    modseq: int


@dataclass(frozen=True)
class All:
    """Every one of ``parts`` holds (IMAP's juxtaposition and parentheses)."""

    parts: tuple[Criterion, ...]


@dataclass(frozen=True)
class AnyOf:
    """OR: one of ``parts`` holds."""

    parts: tuple[Criterion, ...]


@dataclass(frozen=True)
class Not:
    part: Criterion


Criterion = Everything | HasFlag | InternalDate | Size | Uids | ModSeqAtLeast | All | AnyOf | Not


@dataclass(frozen=True)
class SearchResult:
    """The UIDs that match, ascending, and the highest MODSEQ among them (the MODSEQ
    of an ESEARCH or SEARCH reply, RFC 7162 3.1.5; 0 when nothing matched)."""

    uids: array[int]
    highest_modseq: int

    @classmethod
    def of(cls, rows: Sequence[tuple[int, int]]) -> SearchResult:
        return cls(array("I", (uid for uid, _ in rows)), max((m for _, m in rows), default=0))
