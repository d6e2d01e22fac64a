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
class HeaderContains:
    """HEADER ``name`` ``value`` (and FROM, TO, CC, BCC, SUBJECT): a field of the
    message's header of that name holds ``value`` in its value, RFC 2047 words decoded,
    without regard to case; an empty ``value`` matches every message with such a field
    (RFC 9051 6.4.4)."""

    name: str
    value: str


@dataclass(frozen=True)
class BodyContains:
    """BODY: the text of the message's text parts holds ``value`` (decoded, any case)."""

    value: str


@dataclass(frozen=True)
class TextContains:
    """TEXT: the header or the body holds ``value``."""

    value: str


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


Criterion = (Everything | HasFlag | InternalDate | Size | Uids | ModSeqAtLeast | HeaderContains
             | BodyContains | TextContains | All | AnyOf | Not)

TEXT_CRITERIA = (HeaderContains, BodyContains, TextContains)


def needs_text(criterion: Criterion) -> bool:
    """Whether ``criterion`` looks at the searchable text (so pending messages must be
    indexed first)."""
    match criterion:
        case All(parts) | AnyOf(parts):
            return any(needs_text(p) for p in parts)
        case Not(part):
            return needs_text(part)
    return isinstance(criterion, TEXT_CRITERIA)


@dataclass(frozen=True)
class SearchResult:
    """The UIDs that match, ascending, and the highest MODSEQ among them (the MODSEQ
    of an ESEARCH or SEARCH reply, RFC 7162 3.1.5; 0 when nothing matched)."""

    uids: array[int]
    highest_modseq: int

    @classmethod
    def of(cls, rows: Sequence[tuple[int, int]]) -> SearchResult:
        return cls(array("I", (uid for uid, _ in rows)), max((m for _, m in rows), default=0))
