"""Open connections per listener and per client address, and the limits on them.

A listener asks :meth:`Counts.admit` before it serves a connection and calls
:meth:`Counts.release` when the connection ends. With one process the counts are
plain dictionaries (:class:`LocalCounts`). With several worker processes
(``workers``) every worker accepts on the same sockets, so the counts must be
shared, or a client could hold ``max_connections_per_ip`` connections in each
worker: :class:`SharedCounts` keeps them in memory mapped before the workers
fork, under an ``fcntl`` lock (which the kernel releases when a process dies,
so a worker killed while holding it cannot freeze the others).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import mmap
import os
import socket
import struct
import tempfile
import zlib
from collections.abc import Iterator
from typing import Protocol

from mailward.config.limits import LimitsSettings


def refusal(total: int, from_ip: int, limits: LimitsSettings, ip: str) -> str:
    """Why a new connection is refused when ``total`` and ``from_ip`` are open already ("" if not)."""
    if total >= limits.max_connections:
        return f"refused: listener full ({limits.max_connections} connections)"
    if from_ip >= limits.max_connections_per_ip:
        return f"refused: {limits.max_connections_per_ip} connections from {ip} already"
    return ""


class Counts(Protocol):
    def admit(self, listener: int, ip: str, limits: LimitsSettings) -> str:
        """Count a new connection unless a limit refuses it; the refusal ("" when admitted)."""
        ...

    def release(self, listener: int, ip: str) -> None:
        """An admitted connection ended."""
        ...

    def admit_user(self, user: str, limit: int) -> bool:
        """Count a session logged in as ``user`` (any listener) unless ``limit`` are open."""
        ...

    def release_user(self, user: str) -> None:
        """A session counted by :meth:`admit_user` ended."""
        ...


class LocalCounts:
    """The counts of one process."""

    def __init__(self) -> None:
        self._totals: collections.Counter[int] = collections.Counter()
        self._per_ip: collections.Counter[tuple[int, str]] = collections.Counter()
        self._per_user: collections.Counter[str] = collections.Counter()

    def admit(self, listener: int, ip: str, limits: LimitsSettings) -> str:
        refused = refusal(self._totals[listener], self._per_ip[listener, ip], limits, ip)
        if not refused:
            self._totals[listener] += 1
            self._per_ip[listener, ip] += 1
        return refused

    def release(self, listener: int, ip: str) -> None:
        self._totals[listener] -= 1
        self._per_ip[listener, ip] -= 1
        if self._per_ip[listener, ip] <= 0:
            del self._per_ip[listener, ip]

    def admit_user(self, user: str, limit: int) -> bool:
        if self._per_user[user] >= limit:
            return False
        self._per_user[user] += 1
        return True

    def release_user(self, user: str) -> None:
        self._per_user[user] -= 1
        if self._per_user[user] <= 0:
            del self._per_user[user]


# frees the pages of shared memory (punches a hole), where MADV_DONTNEED would only
# unmap them from this process; reading the range afterwards gives zeros (Linux only)
_MADV_REMOVE: int | None = getattr(mmap, "MADV_REMOVE", None)

_SLOT = struct.Struct("=18sI")  # key (worker, listener, 16-byte address), open connections
_TOTAL = struct.Struct("=I")


def _key(worker: int, listener: int, ip: str) -> bytes:
    head = bytes([worker, listener])
    for family in (socket.AF_INET6, socket.AF_INET):
        try:
            packed = socket.inet_pton(family, ip)
        except OSError:
            continue
        return head + packed.rjust(16, b"\0")
    # not an IP address (never from a TCP peer): still one key per text
    return head + zlib.crc32(ip.encode()).to_bytes(4, "big").rjust(16, b"\xff")


USERS = 255  # the "listener" byte of a user's key (listeners are numbered 0-254)


def _user_key(worker: int, user: str) -> bytes:
    digest = hashlib.blake2b(user.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return bytes([worker, USERS]) + digest


class SharedCounts:
    """Counts shared by the worker processes forked after it was made.

    Each worker counts its own connections (:meth:`for_worker` says which worker
    this process is), and a limit applies to the sum over the workers, so that
    when a worker dies the supervisor can take its connections out of the counts
    (:meth:`forget_worker`) before it starts another.

    The per-address counts live in an open-addressing hash table (linear probing,
    backward-shift deletion, so there are no tombstones to clean up) with room for
    ``capacity`` (worker, listener, address) entries at once; beyond that, new
    addresses are refused (``capacity`` should be at least the sum of the
    listeners' ``max_connections``, as each entry holds an open connection).

    The table is sized for the limits (22 bytes a slot, two slots per connection), and
    hashing spreads the addresses of a flood over all of it: each page a slot was
    written in stays in memory. When the table is empty it is all zeros, and
    :meth:`release_pages` hands its pages back (``MADV_REMOVE``; the next entry maps one
    page again).
    """

    def __init__(self, listeners: int, capacity: int, workers: int = 1) -> None:
        if not 0 < listeners < USERS or not 0 < workers <= 255:
            raise ValueError("between 1 and 254 listeners and 1 and 255 workers")
        size = 8
        while size < 2 * capacity:
            size *= 2
        self._mask = size - 1
        self._capacity = capacity
        self._listeners = listeners
        self._workers = workers
        self.worker = 0  # which worker this process is
        self._totals = mmap.mmap(-1, _TOTAL.size * listeners * workers)  # MAP_SHARED | MAP_ANONYMOUS
        self._table = mmap.mmap(-1, _SLOT.size * size)
        self._used = mmap.mmap(-1, _TOTAL.size)  # entries in the table
        # flock, not fcntl record locks: those belong to a whole process, and the kernel's
        # deadlock check then sees a worker whose I/O thread waits for the store's write
        # lock as blocked, and fails another worker's lock here with EDEADLK
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the counts
        self._fd = -1
        self._fd_pid = -1

    def for_worker(self, worker: int) -> SharedCounts:
        """Count this process's connections as ``worker``'s (call it once, in the worker)."""
        if not 0 <= worker < self._workers:
            raise ValueError(f"no worker {worker}")
        self.worker = worker
        return self

    def _lock_fd(self) -> int:
        """This process's own open file description of the lock file (one flock each)."""
        if self._fd_pid != os.getpid():
            self._fd = os.open(f"/proc/self/fd/{self._file.fileno()}", os.O_RDWR | os.O_CLOEXEC)
            self._fd_pid = os.getpid()
        return self._fd

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = self._lock_fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _slot(self, index: int) -> tuple[bytes, int]:
        key, count = _SLOT.unpack_from(self._table, index * _SLOT.size)
        return key, count

    def _find(self, key: bytes) -> tuple[int, int]:
        """The slot holding ``key`` and its count, or the empty slot it would go in and 0."""
        index = zlib.crc32(key) & self._mask
        while True:
            found, count = self._slot(index)
            if count == 0 or found == key:
                return index, count
            index = (index + 1) & self._mask

    def _total_at(self, worker: int, listener: int) -> int:
        (total,) = _TOTAL.unpack_from(self._totals, (worker * self._listeners + listener) * _TOTAL.size)
        return int(total)

    def _set_total(self, worker: int, listener: int, value: int) -> None:
        _TOTAL.pack_into(self._totals, (worker * self._listeners + listener) * _TOTAL.size, value)

    def _add_used(self, delta: int) -> None:
        (used,) = _TOTAL.unpack_from(self._used, 0)
        _TOTAL.pack_into(self._used, 0, used + delta)

    def admit(self, listener: int, ip: str, limits: LimitsSettings) -> str:
        mine = _key(self.worker, listener, ip)
        with self._locked():
            total = sum(self._total_at(w, listener) for w in range(self._workers))
            from_ip = sum(self._find(_key(w, listener, ip))[1] for w in range(self._workers))
            refused = refusal(total, from_ip, limits, ip)
            if refused:
                return refused
            index, count = self._find(mine)
            if count == 0:
                (used,) = _TOTAL.unpack_from(self._used, 0)
                if used >= self._capacity:
                    return f"refused: {used} client addresses connected, the most this server tracks"
                self._add_used(1)
            _SLOT.pack_into(self._table, index * _SLOT.size, mine, count + 1)
            self._set_total(self.worker, listener, self._total_at(self.worker, listener) + 1)
        return ""

    def release(self, listener: int, ip: str) -> None:
        mine = _key(self.worker, listener, ip)
        with self._locked():
            self._set_total(self.worker, listener, max(self._total_at(self.worker, listener) - 1, 0))
            index, count = self._find(mine)
            if count > 1:
                _SLOT.pack_into(self._table, index * _SLOT.size, mine, count - 1)
            elif count == 1:
                self._remove(index)
                self._add_used(-1)

    def admit_user(self, user: str, limit: int) -> bool:
        """Sessions per user across the workers; they share the table with the addresses
        (``capacity`` counts both: each holds an open connection)."""
        mine = _user_key(self.worker, user)
        with self._locked():
            if sum(self._find(_user_key(w, user))[1] for w in range(self._workers)) >= limit:
                return False
            index, count = self._find(mine)
            if count == 0:
                (used,) = _TOTAL.unpack_from(self._used, 0)
                if used >= self._capacity:
                    return False
                self._add_used(1)
            _SLOT.pack_into(self._table, index * _SLOT.size, mine, count + 1)
        return True

    def release_user(self, user: str) -> None:
        mine = _user_key(self.worker, user)
        with self._locked():
            index, count = self._find(mine)
            if count > 1:
                _SLOT.pack_into(self._table, index * _SLOT.size, mine, count - 1)
            elif count == 1:
                self._remove(index)
                self._add_used(-1)

    def forget_worker(self, worker: int) -> int:
        """Take a dead worker's connections out of the counts; how many there were."""
        with self._locked():
            gone = 0
            for listener in range(self._listeners):
                gone += self._total_at(worker, listener)
                self._set_total(worker, listener, 0)
            index = 0
            while index <= self._mask:
                key, count = self._slot(index)
                if count and key[0] == worker:
                    self._remove(index)  # a later entry may move here: look at this slot again
                    self._add_used(-1)
                    continue
                index += 1
            return gone

    def release_pages(self) -> bool:
        """If the table is empty (all zeros), give its pages back; whether it was. Every
        process's mapping loses them at once, so this is a call for the memory job (a few
        seconds apart), not for every connection's end."""
        with self._locked():
            (used,) = _TOTAL.unpack_from(self._used, 0)
            if used or _MADV_REMOVE is None:
                return False
            with contextlib.suppress(OSError):  # a kernel without it for shared memory: kept
                self._table.madvise(_MADV_REMOVE)
            return True

    def _remove(self, hole: int) -> None:
        """Empty slot ``hole``, moving back later entries of its probe run so none is cut off."""
        mask = self._mask
        probe = hole
        while True:
            probe = (probe + 1) & mask
            key, count = self._slot(probe)
            if count == 0:
                break
            home = zlib.crc32(key) & mask
            # the entry at ``probe`` may stay if its home lies cyclically in (hole, probe]
            if (hole < probe and hole < home <= probe) or (hole > probe and (home > hole or home <= probe)):
                continue
            _SLOT.pack_into(self._table, hole * _SLOT.size, key, count)
            hole = probe
        _SLOT.pack_into(self._table, hole * _SLOT.size, bytes(_SLOT.size - _TOTAL.size), 0)

    def snapshot(self) -> list[tuple[bytes, int]]:
        """Every slot in use: its key and count (for tests and metrics)."""
        with self._locked():
            slots = (self._slot(index) for index in range(self._mask + 1))
            return [(key, count) for key, count in slots if count]

    def close(self) -> None:
        if self._fd >= 0 and self._fd_pid == os.getpid():
            os.close(self._fd)
        self._fd = -1
        self._file.close()
        for shared in (self._totals, self._table, self._used):
            shared.close()

    def __enter__(self) -> SharedCounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def total(self, listener: int) -> int:
        """Open connections on ``listener``, in every worker."""
        with self._locked():
            return sum(self._total_at(w, listener) for w in range(self._workers))
