"""``data_dir/mailward.pid``: which process is the running server (its supervisor).

Written once ``serve`` holds its ports, removed when it ends. ``mailward reload`` and
``mailward stop`` signal that process; ``config check`` recognises ports it holds, so
that a check before a reload is useful. A stale file (the server was killed) is told
apart by asking the kernel whether the pid still runs ``mailward serve``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mailward import files

NAME = "mailward.pid"


def path_in(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / NAME


def write(data_dir: str | os.PathLike[str]) -> Path:
    """Record this process as the running server; the path, for :func:`remove`."""
    path = path_in(data_dir)
    files.write_atomic(path, f"{os.getpid()}\n".encode(), 0o644)
    return path


def remove(path: Path) -> None:
    """Forget the record, if it is still this process's."""
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()


def running(data_dir: str | os.PathLike[str]) -> int | None:
    """The pid of the server running from ``data_dir``, or ``None`` (none, or a stale file)."""
    try:
        pid = int(path_in(data_dir).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_server(pid) else None


def is_server(pid: int) -> bool:
    """Does ``pid`` run ``mailward serve`` (and not some process that took its number)?"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in argv and any(b"mailward" in part for part in argv)


def family(pid: int) -> set[int]:
    """``pid`` and its children (the supervisor's workers hold the same sockets)."""
    pids = {pid}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                pids.add(int(proc.name))
    return pids
