"""Sequence sets (RFC 9051 9 ``sequence-set``), ``*`` and the saved search result ``$``.

A set is kept as written (ranges whose ends may be ``*``) and resolved against the
largest number in use when the session applies it: ``*`` is the largest message
sequence number or UID of the mailbox (RFC 9051 6.4.8: ``n:*`` includes the last
message even when n is beyond it).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal


class _Star(enum.Enum):
    STAR = "*"

    def __repr__(self) -> str:
        return "STAR"


STAR = _Star.STAR
"""The ``*`` of a sequence set: the largest number in use."""

SeqNumber = int | Literal[_Star.STAR]

MAX_NUMBER = 0xFFFFFFFF  # RFC 9051 9: nz-number fits in 32 bits


class SequenceSetError(ValueError):
    """The text is not a sequence set."""


@dataclass(frozen=True, slots=True)
class SeqRange:
    """``first:last`` as written (``first`` may be larger than ``last``: RFC 9051 9 seq-range)."""

    first: SeqNumber
    last: SeqNumber

    def resolve(self, largest: int) -> tuple[int, int]:
        """(low, high), with ``*`` replaced by ``largest``."""
        a = largest if self.first is STAR else self.first
        b = largest if self.last is STAR else self.last
        return (a, b) if a <= b else (b, a)

    def __str__(self) -> str:
        first = "*" if self.first is STAR else str(self.first)
        if self.first == self.last:
            return first
        return first + ":" + ("*" if self.last is STAR else str(self.last))


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A sequence set, or ``$`` (RFC 5182 SEARCHRES: the result of the last SEARCH ... SAVE)."""

    ranges: tuple[SeqRange, ...] = ()
    saved: bool = False  # "$"

    @classmethod
    def parse(cls, text: str) -> SequenceSet:
        """Parse ``1,3:5,7:*`` or ``$``; :class:`SequenceSetError` if malformed."""
        if text == "$":
            return cls(saved=True)
        if not text:
            raise SequenceSetError("empty sequence set")
        return cls(tuple(_parse_range(item) for item in text.split(",")))

    @classmethod
    def of(cls, *numbers: int) -> SequenceSet:
        """The numbers as written, one range each (``of(3, 1)`` is ``3,1``)."""
        return cls(tuple(SeqRange(n, n) for n in numbers))

    @classmethod
    def from_numbers(cls, numbers: Iterable[int], *, keep_order: bool = False) -> SequenceSet:
        """The shortest set of runs: ``[1, 2, 3, 7]`` is ``1:3,7``.

        Sorted unless ``keep_order`` (COPYUID's two sets must pair up in order, RFC 4315 3).
        """
        values = list(numbers) if keep_order else sorted(set(numbers))
        ranges: list[SeqRange] = []
        start = prev = None
        for n in values:
            if prev is not None and n == prev + 1:
                prev = n
                continue
            if start is not None and prev is not None:
                ranges.append(SeqRange(start, prev))
            start = prev = n
        if start is not None and prev is not None:
            ranges.append(SeqRange(start, prev))
        return cls(tuple(ranges))

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged (low, high) ranges with ``*`` as ``largest``.

        ``$`` cannot be resolved here: the session substitutes the saved result first.
        An empty mailbox (``largest`` 0) resolves to nothing.
        """
        if self.saved:
            raise ValueError("'$' is resolved by the session from its saved result")
        if largest <= 0:
            return []
        spans = sorted(r.resolve(largest) for r in self.ranges)
        merged: list[tuple[int, int]] = []
        for low, high in spans:
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return merged

    def numbers(self, largest: int) -> Iterator[int]:
        """Every number of the set up to ``largest``, ascending, each once."""
        for low, high in self.resolve(largest):
            yield from range(low, min(high, largest) + 1)

    def contains(self, number: int, largest: int) -> bool:
        return any(low <= number <= high for low, high in self.resolve(largest))

    @property
    def uses_star(self) -> bool:
        return any(r.first is STAR or r.last is STAR for r in self.ranges)

    def __str__(self) -> str:
        return "$" if self.saved else ",".join(str(r) for r in self.ranges)


def _parse_number(text: str) -> SeqNumber:
    if text == "*":
        return STAR
    # RFC 9051 9: nz-number = digit-nz *DIGIT, at most 4294967295
    if not (text.isascii() and text.isdigit()) or text[0] == "0":
        raise SequenceSetError(f"not a sequence number: {text[:20]!r}")
    value = int(text)
    if value > MAX_NUMBER:
        raise SequenceSetError("sequence number beyond 4294967295")
    return value


def _parse_range(item: str) -> SeqRange:
    first, sep, last = item.partition(":")
    if not sep:
        number = _parse_number(first)
        return SeqRange(number, number)
    if ":" in last:
        raise SequenceSetError("a range has two ends")
    return SeqRange(_parse_number(first), _parse_number(last))
