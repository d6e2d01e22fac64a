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

That was not enough: after 7,500 unfinished handshakes a worker still kept 1.75 times
its start, and all of it was Python's own allocator (pymalloc). It takes memory in
arenas of 1 MiB and gives one back only once every object in it is freed; a flood
fills dozens of them, and a few objects that outlive it (a grown table, a cached
string) pin most of them, their free pools resident and useless to anything but more
Python objects: 10 MiB in 662 empty pools held by 10 arenas, around 8 KiB of live
objects. So ``serve`` runs the server on glibc's malloc (``PYTHONMALLOC=malloc``,
:func:`use_system_allocator`: the allocator is chosen when the interpreter starts, so
the process executes itself again with it set, before anything else), where
``malloc_trim`` hands back every free page wherever it lies (what it costs in start
size and throughput: README, "Memory per connection"). An admin who sets
``PYTHONMALLOC`` keeps what they set.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys
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


def trim_free_memory() -> None:
    """Hand the free pages of glibc's heap back to the system (``malloc_trim(0)``)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
        trim_free_memory()
        return found


ALLOCATOR_VARIABLE = "PYTHONMALLOC"
SYSTEM_ALLOCATOR = "malloc"


def allocator_command(own_command_line: bool) -> list[str] | None:
    """The command that runs this process again on glibc's malloc, or None: the allocator
    was chosen already (by us, or by the admin), Python ignores the environment (``-E``,
    ``-I``), there is no glibc to give memory back, or the arguments ``serve`` runs with
    are not this process's own command line (called from another program)."""
    if ALLOCATOR_VARIABLE in os.environ or sys.flags.ignore_environment or not own_command_line:
        return None
    if _malloc_trim() is None or not sys.executable or not sys.orig_argv:
        return None
    return list(sys.orig_argv)


def use_system_allocator(own_command_line: bool) -> None:
    """Execute this process again with ``PYTHONMALLOC=malloc`` (same pid, arguments,
    descriptors and working directory) unless :func:`allocator_command` says not to.
    Call it first thing: what was done before runs again. If the exec fails, the process
    goes on with the allocator it has (:func:`allocator` says which)."""
    command = allocator_command(own_command_line)
    if command is None:
        return
    os.environ[ALLOCATOR_VARIABLE] = SYSTEM_ALLOCATOR  # putenv: the new image gets it
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, command)  # noqa: S606 - this very program, its own arguments
    except OSError:
        del os.environ[ALLOCATOR_VARIABLE]


def allocator() -> str:
    """The allocator Python's objects come from in this process, as the log names it."""
    chosen = None if sys.flags.ignore_environment else os.environ.get(ALLOCATOR_VARIABLE)
    return f"{ALLOCATOR_VARIABLE}={chosen}" if chosen else "pymalloc (Python's default)"
