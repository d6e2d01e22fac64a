"""The open-files limit: every connection is a file descriptor.

Debian starts processes with a soft limit of 1,024 open files and a hard limit of
524,288 (systemd's default), so a server that kept the soft limit would fail to
accept its 1,001st connection with EMFILE. ``serve`` raises its soft limit to the
hard one at start and logs the figure; :func:`check_open_files` warns, in
``config check`` and at start, when the listeners' ``max_connections`` cannot fit
under the hard limit.
"""

from __future__ import annotations

import resource
from collections.abc import Iterable

from mailward.config import Config, Problem, Severity
from mailward.config.access import Identity

# What a process holds besides its connections: listening sockets, the store's files
# and connections, log files, the supervisor's pipes, the interpreter's own.
MARGIN = 64
_UNLIMITED_TARGET = 1 << 20  # RLIM_INFINITY is not accepted as a soft limit everywhere


def hard_limit() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else int(hard)


def raise_open_files() -> tuple[int, int]:
    """Raise this process's soft open-files limit to the hard one; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard_limit()
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # a hard limit the kernel caps lower (nr_open)
            return int(soft), int(soft)
        return int(soft), target
    return int(soft), int(soft)


def open_files_needed(config: Config) -> int:
    """The descriptors one process may need: with several workers, any one of them may
    hold every connection (the counts are shared, the descriptors are not)."""
    return sum(listener.limits.max_connections for listener in config.listener) + MARGIN


def check_open_files(config: Config, who: Identity) -> Iterable[Problem]:
    needed = open_files_needed(config)
    limit = hard_limit()
    if needed > limit:
        yield Problem(
            "limits.max_connections",
            f"the listeners' max_connections add up to {needed - MARGIN}, and a process needs "
            f"about {needed} open files for them, but may have only {limit} (the hard limit "
            "here): connections past it are not accepted",
            "raise the limit (LimitNOFILE= in the systemd unit, or `ulimit -Hn` in the shell "
            "that starts mailward), or lower max_connections",
            Severity.WARNING,
        )
