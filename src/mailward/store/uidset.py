"""Sets of UIDs as sorted, disjoint, inclusive ranges (RFC 9051 9 "sequence-set").

``UidSet.parse("1:3,7,10:*", uid_max=12)`` is the set an IMAP UID command names;
the store takes these as they are and never expands ``1:*`` into a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

UID_MAX = 0xFFFFFFFF  # RFC 9051 9: nz-number fits in 32 bits


@dataclass(frozen=True)
class UidSet:
    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, uids: Iterable[int]) -> UidSet:
        out: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            if out and out[-1][1] + 1 == uid:
                out[-1] = (out[-1][0], uid)
            else:
                out.append((uid, uid))
        return cls(tuple(out))

    @classmethod
    def span(cls, first: int, last: int = UID_MAX) -> UidSet:
        return cls(((first, last),)) if first <= last else cls()

    @classmethod
    def all(cls) -> UidSet:
        return cls.span(1)

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> UidSet:
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted((min(a, b), max(a, b)) for a, b in ranges):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return cls(tuple(merged))

    @classmethod
    def parse(cls, text: str, uid_max: int) -> UidSet:
        """Parse an IMAP sequence-set of UIDs; ``*`` is ``uid_max`` (RFC 9051 6.4.9)."""

        def num(part: str) -> int:
            if part == "*":
                return uid_max
            if not part.isdigit() or int(part) == 0:
                raise ValueError(f"not a UID: {part!r}")
            return int(part)

        ranges = []
        for item in text.split(","):
            lo, sep, hi = item.partition(":")
            ranges.append((num(lo), num(hi if sep else lo)))
        return cls.from_ranges(ranges)

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and any(lo <= uid <= hi for lo, hi in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.ranges:
            yield from range(lo, hi + 1)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in self.ranges)

    def sql(self, column: str, placeholder: str) -> tuple[str, list[int]]:
        """A WHERE fragment selecting ``column`` in this set, and its parameters."""
        if not self.ranges:
            return "FALSE", []
        parts = [f"{column} BETWEEN {placeholder} AND {placeholder}"] * len(self.ranges)
        params = [n for r in self.ranges for n in r]
        return "(" + " OR ".join(parts) + ")", params
