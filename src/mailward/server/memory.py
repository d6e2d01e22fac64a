"""Giving memory back once connections have ended.

A connection that ended is freed by reference counting, but what it held stays with the
process: CPython's allocator and glibc's keep freed blocks for reuse, and objects that
were caught in a reference cycle (an exception's traceback through a handshake's frames,
say) wait for a full collection, which a server that froze its start-up objects and
raised the collection thresholds (``runtime._tune_gc``) seldom runs. Measured with
``bench/idle.py --flood``: 2,000 unfinished handshakes left a worker at three times its
starting size after they were gone, and a second flood added as much again.

So once enough connections have ended (or the last open one has), a background job
runs a full collection and asks glibc to return free memory to the system
(``malloc_trim``, through ctypes: a plain C function, no struct layouts involved).
"""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable

RELEASE_AFTER = 256  # connections ended since the last release


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function


class MemoryReleaser:
    """Decides when a release is due, from the count of connections ended so far."""

    def __init__(self) -> None:
        self._released_at = 0

    def due(self, ended: int, open_now: int) -> bool:
        new = ended - self._released_at
        return new >= RELEASE_AFTER or (new > 0 and open_now == 0)

    def release(self, ended: int) -> int:
        """Collect and trim; the objects the collection found unreachable."""
        self._released_at = ended
        found = gc.collect()
        trim = _malloc_trim()
        if trim is not None:
            trim(0)
        return found
