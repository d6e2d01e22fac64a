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


class LocalCounts:
    """The counts of one process."""

    def __init__(self) -> None:
        self._totals: collections.Counter[int] = collections.Counter()
        self._per_ip: collections.Counter[tuple[int, str]] = collections.Counter()

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


_SLOT = struct.Struct("=17sI")  # key (listener index + 16-byte address), open connections
_TOTAL = struct.Struct("=I")


def _key(listener: int, ip: str) -> bytes:
    for family in (socket.AF_INET6, socket.AF_INET):
        try:
            packed = socket.inet_pton(family, ip)
        except OSError:
            continue
        return bytes([listener]) + packed.rjust(16, b"\0")
    # not an IP address (never from a TCP peer): still one key per text
    return bytes([listener]) + zlib.crc32(ip.encode()).to_bytes(4, "big").rjust(16, b"\xff")


class SharedCounts:
    """Counts shared by the processes forked after it was made.

    The per-address counts live in an open-addressing hash table (linear probing,
    backward-shift deletion, so there are no tombstones to clean up) with room for
    ``capacity`` addresses with connections open at once; beyond that, new
    addresses are refused (``capacity`` should be at least the sum of the
    listeners' ``max_connections``).
    """

    def __init__(self, listeners: int, capacity: int) -> None:
        if not 0 < listeners <= 255:
            raise ValueError("between 1 and 255 listeners")
        size = 8
        while size < 2 * capacity:
            size *= 2
        self._mask = size - 1
        self._capacity = capacity
        self._totals = mmap.mmap(-1, _TOTAL.size * listeners)  # MAP_SHARED | MAP_ANONYMOUS
        self._table = mmap.mmap(-1, _SLOT.size * size)
        self._used = mmap.mmap(-1, _TOTAL.size)  # addresses in the table
        # flock, not fcntl record locks: those belong to a whole process, and the kernel's
        # deadlock check then sees a worker whose I/O thread waits for the store's write
        # lock as blocked, and fails another worker's lock here with EDEADLK
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the counts
        self._fd = -1
        self._fd_pid = -1

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

    def admit(self, listener: int, ip: str, limits: LimitsSettings) -> str:
        key = _key(listener, ip)
        with self._locked():
            (total,) = _TOTAL.unpack_from(self._totals, listener * _TOTAL.size)
            index, count = self._find(key)
            refused = refusal(total, count, limits, ip)
            if refused:
                return refused
            if count == 0:
                (used,) = _TOTAL.unpack_from(self._used, 0)
                if used >= self._capacity:
                    return f"refused: {used} client addresses connected, the most this server tracks"
                _TOTAL.pack_into(self._used, 0, used + 1)
            _SLOT.pack_into(self._table, index * _SLOT.size, key, count + 1)
            _TOTAL.pack_into(self._totals, listener * _TOTAL.size, total + 1)
        return ""

    def release(self, listener: int, ip: str) -> None:
        key = _key(listener, ip)
        with self._locked():
            (total,) = _TOTAL.unpack_from(self._totals, listener * _TOTAL.size)
            _TOTAL.pack_into(self._totals, listener * _TOTAL.size, max(total - 1, 0))
            index, count = self._find(key)
            if count > 1:
                _SLOT.pack_into(self._table, index * _SLOT.size, key, count - 1)
            elif count == 1:
                self._remove(index)
                (used,) = _TOTAL.unpack_from(self._used, 0)
                _TOTAL.pack_into(self._used, 0, used - 1)

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
        _SLOT.pack_into(self._table, hole * _SLOT.size, bytes(17), 0)

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
        with self._locked():
            (total,) = _TOTAL.unpack_from(self._totals, listener * _TOTAL.size)
            return int(total)
