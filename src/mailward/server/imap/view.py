"""The selected mailbox as the client knows it: sequence numbers, and what it has yet to hear.

An IMAP session numbers the messages of its selected mailbox 1..n in UID order
(RFC 9051 2.3.1.2). Other sessions (on this node or another) add, flag and expunge
messages at any time; the session learns of it from the store (``changes_since``
its HIGHESTMODSEQ) and tells its client only at the moments the RFCs allow:

- EXPUNGE (or VANISHED under QRESYNC) renumbers messages, so it is never sent while
  no command is in progress, nor during FETCH, STORE or SEARCH by sequence number
  (RFC 9051 7.5.1); until then the expunged message keeps its number;
- EXISTS only grows (RFC 9051 7.4.1); flag changes go out as untagged FETCH FLAGS.

:class:`MailboxView` is sans-IO: the session feeds it the store's changes and asks
it for the updates it may send now. It keeps its messages column by column
(``array``), like the store's :class:`~mailward.store.interface.Snapshot`, so a
session on a 100,000-message mailbox holds about 1.6 MB, not an object per message.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from mailward.store.interface import Changes, Mailbox, MessageInfo, Snapshot
from mailward.store.uidset import UidSet


@dataclass(frozen=True)
class Expunged:
    """``n EXPUNGE`` (RFC 9051 7.5.1): message ``seq`` is gone; later ones move down."""

    seq: int
    uid: int


@dataclass(frozen=True)
class Vanished:
    """``VANISHED uids`` (RFC 7162 3.2.10), sent instead of EXPUNGE once QRESYNC is enabled."""

    uids: UidSet


@dataclass(frozen=True)
class Exists:
    """``n EXISTS`` (RFC 9051 7.4.1)."""

    count: int


@dataclass(frozen=True)
class FlagsChanged:
    """``seq FETCH (UID uid FLAGS (...) MODSEQ (m))``: another session changed the flags."""

    seq: int
    uid: int
    flags: frozenset[str]
    modseq: int


Update = Expunged | Vanished | Exists | FlagsChanged


class MailboxView:
    """One session's view of its selected mailbox."""

    def __init__(self, snapshot: Snapshot, *, read_only: bool = False) -> None:
        self.mailbox: Mailbox = snapshot.mailbox
        self.read_only = read_only
        self.uids = array("I", snapshot.uids)
        self.modseqs = array("Q", snapshot.modseqs)
        self.flag_ids = array("I", snapshot.flag_ids)
        self._flag_sets: list[frozenset[str]] = list(snapshot.flag_sets)
        self._flag_index = {flags: i for i, flags in enumerate(self._flag_sets)}
        # the newest change the view has taken in (from the snapshot, then from changes)
        self.announced_keywords: frozenset[str] = frozenset()  # in the last FLAGS sent
        self.highest_modseq = snapshot.mailbox.highest_modseq
        self.uid_next = snapshot.mailbox.uid_next
        # learned of, not yet told: expunged known UIDs, new messages, flag changes
        self._expunged: set[int] = set()
        self._new: dict[int, tuple[frozenset[str], int]] = {}
        self._flags: dict[int, tuple[frozenset[str], int]] = {}

    # --- numbers ---------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of messages the client knows of (EXISTS as last told)."""
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def uid_of(self, seq: int) -> int:
        return self.uids[seq - 1]

    def flags_of(self, seq: int) -> frozenset[str]:
        return self._flag_sets[self.flag_ids[seq - 1]]

    def modseq_of(self, seq: int) -> int:
        return self.modseqs[seq - 1]

    def expunged(self, uid: int) -> bool:
        """Expunged by someone, and the client not told yet."""
        return uid in self._expunged

    def uids_of_seqs(self, ranges: Iterable[tuple[int, int]]) -> UidSet:
        """The UIDs of message sequence numbers (ranges already resolved, ``*`` as the
        count); numbers past the end name nothing (RFC 9051 9: a sequence set of numbers
        that do not exist is the caller's to refuse with BAD when all are past the end)."""
        out = []
        count = len(self.uids)
        for a, b in ranges:
            lo, hi = max(1, min(a, b)), min(count, max(a, b))
            if lo <= hi:
                out.append((self.uids[lo - 1], self.uids[hi - 1]))
        # contiguous numbers map to UID ranges that hold only known UIDs in between
        return _known(UidSet.from_ranges(out), self.uids)

    def known_uids(self, uids: UidSet) -> UidSet:
        """The members of ``uids`` the client knows of (for UID commands: a UID set may
        name UIDs that never existed, RFC 9051 6.4.9)."""
        return _known(uids, self.uids)

    # --- learning of changes ---------------------------------------------------------

    def absorb(self, changes: Changes) -> None:
        """Take in the store's changes since :attr:`highest_modseq` (or an own write's)."""
        for info in changes.changed:
            self._changed(info)
        for uid in changes.vanished:
            if uid in self._new:
                del self._new[uid]
            elif self.seq_of(uid) is not None:
                self._expunged.add(uid)
                self._flags.pop(uid, None)
        self.highest_modseq = max(self.highest_modseq, changes.highest_modseq)

    def _changed(self, info: MessageInfo) -> None:
        seq = self.seq_of(info.uid)
        if seq is None:
            if info.uid >= self.uid_next or info.uid in self._new:
                self._new[info.uid] = (info.flags, info.modseq)
            return
        if info.uid in self._expunged:
            return
        told = self.flags_of(seq)
        if info.flags != told or info.modseq != self.modseq_of(seq):
            self._flags[info.uid] = (info.flags, info.modseq)

    @property
    def pending(self) -> bool:
        return bool(self._expunged or self._new or self._flags)

    # --- telling the client ----------------------------------------------------------

    def updates(self, *, expunges: bool, vanished: bool = False, flags: bool = True) -> list[Update]:
        """What may be told now, applied to the view. ``expunges``: a command is in
        progress that allows EXPUNGE (not FETCH, STORE or SEARCH by number); ``vanished``:
        QRESYNC is on (VANISHED instead of EXPUNGE); ``flags``: flag changes too (a
        session that has nothing else to say may hold them back)."""
        out: list[Update] = []
        if expunges and self._expunged:
            out += self._apply_expunges(vanished)
        if self._new:
            self._apply_new()
            out.append(Exists(len(self.uids)))
        if flags and self._flags:
            out += self._apply_flags()
        return out

    def _apply_expunges(self, vanished: bool) -> list[Update]:
        gone_set = set(self._expunged)
        gone = sorted(gone_set)
        self._expunged.clear()
        keep = [i for i, uid in enumerate(self.uids) if uid not in gone_set]
        out: list[Update]
        if vanished:
            out = [Vanished(UidSet.of(gone))]
        else:  # highest number first: each number is right when the client reads it
            out = [Expunged(seq, uid) for uid in reversed(gone) if (seq := self.seq_of(uid)) is not None]
        self.uids = array("I", (self.uids[i] for i in keep))
        self.modseqs = array("Q", (self.modseqs[i] for i in keep))
        self.flag_ids = array("I", (self.flag_ids[i] for i in keep))
        return out

    def _apply_new(self) -> None:
        for uid in sorted(self._new):
            flags, modseq = self._new[uid]
            self.uids.append(uid)
            self.modseqs.append(modseq)
            self.flag_ids.append(self._flag_id(flags))
            self.uid_next = max(self.uid_next, uid + 1)
        self._new.clear()

    def _apply_flags(self) -> list[Update]:
        out: list[Update] = []
        for uid in sorted(self._flags):
            flags, modseq = self._flags[uid]
            seq = self.seq_of(uid)
            if seq is None:
                continue
            self.flag_ids[seq - 1] = self._flag_id(flags)
            self.modseqs[seq - 1] = modseq
            out.append(FlagsChanged(seq, uid, flags, modseq))
        self._flags.clear()
        return out

    def set_flags(self, uid: int, flags: frozenset[str], modseq: int) -> None:
        """The session's own STORE: the reply carries the flags, so nothing is pending."""
        seq = self.seq_of(uid)
        if seq is None:
            return
        self.flag_ids[seq - 1] = self._flag_id(flags)
        self.modseqs[seq - 1] = modseq
        self._flags.pop(uid, None)

    def _flag_id(self, flags: frozenset[str]) -> int:
        found = self._flag_index.get(flags)
        if found is None:
            found = self._flag_index[flags] = len(self._flag_sets)
            self._flag_sets.append(flags)
        return found

    @property
    def keywords(self) -> frozenset[str]:
        """Keywords set on some message, as the client was told (FLAGS, PERMANENTFLAGS)."""
        used = set(self.flag_ids)
        return frozenset(f for i in used for f in self._flag_sets[i] if not f.startswith("\\"))


def _known(uids: UidSet, present: array[int]) -> UidSet:
    """The members of ``uids`` that are in ``present`` (sorted), as a UidSet."""
    out: list[int] = []
    for lo, hi in uids.ranges:
        i = bisect.bisect_left(present, lo)
        j = bisect.bisect_right(present, hi)
        out.extend(present[i:j])
    return UidSet.of(out)
