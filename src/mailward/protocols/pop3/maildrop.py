"""The maildrop as a POP3 session sees it in the TRANSACTION state (RFC 1939 5).

Messages are numbered from 1 in the order they had when the session began, and keep
their numbers until it ends; a message marked deleted keeps its number too, but is
left out of STAT, LIST and UIDL, and may not be retrieved.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Maildrop:
    """The messages of the maildrop when the session took its lock.

    ``uids`` and ``sizes`` are columns in UID order (message ``n`` is index ``n - 1``).
    A message's unique-id (RFC 1939 7 UIDL) is ``uid_validity.uid``: the pair that
    names it in IMAP too, so it is stable for as long as the message exists.
    """

    uid_validity: int
    uids: array[int]
    sizes: array[int]

    def __post_init__(self) -> None:
        if len(self.uids) != len(self.sizes):
            raise ValueError("a maildrop needs one size per UID")

    def __len__(self) -> int:
        return len(self.uids)

    def unique_id(self, index: int) -> str:
        return f"{self.uid_validity}.{self.uids[index]}"


@dataclass
class Transaction:
    """The TRANSACTION state: the maildrop and the messages marked deleted (indexes)."""

    maildrop: Maildrop
    deleted: set[int] = field(default_factory=set)

    def live(self) -> range:
        return range(len(self.maildrop))

    def stat(self) -> tuple[int, int]:
        """How many messages are not marked deleted, and their size in octets."""
        sizes = self.maildrop.sizes
        count = len(sizes) - len(self.deleted)
        total = sum(sizes) - sum(sizes[i] for i in self.deleted)
        return count, total

    def deleted_uids(self) -> tuple[int, ...]:
        return tuple(self.maildrop.uids[i] for i in sorted(self.deleted))
