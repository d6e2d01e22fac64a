"""Creating files and directories with explicit modes, whatever the process umask.

Modes are set at creation (``os.open`` / ``os.mkdir`` with the mode, then
``fchmod``/``chmod`` to undo the umask), never widened afterwards, so a secret
is not readable by others even for an instant.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DIR_MODE = 0o750
SECRET_MODE = 0o600


def make_dir(path: str | os.PathLike[str], mode: int = DIR_MODE, *, uid: int = -1, gid: int = -1) -> bool:
    """Create ``path`` (and missing parents, with the same mode); ``True`` if this created it.

    An existing directory keeps its mode: mailward never loosens or tightens
    what an admin set by hand.
    """
    target = Path(path)
    if target.is_dir():
        return False
    if not target.parent.is_dir():
        make_dir(target.parent, mode, uid=uid, gid=gid)
    os.mkdir(target, mode)
    os.chmod(target, mode)
    if uid != -1 or gid != -1:
        os.chown(target, uid, gid)
    return True


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    mode: int,
    *,
    owner: tuple[int, int] | None = None,
) -> None:
    """Write ``data`` to ``path`` durably: a temporary file, fsync, rename, fsync of the directory.

    ``owner`` is a (uid, gid) pair for ``fchown``; -1 leaves one as it is.
    (To create a file that must not exist yet, use :func:`write_new`.)
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def inherited_owner(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """The owner a file written at ``path`` by root should get: that of the file it
    replaces, else that of its directory; ``None`` when not running as root.

    So that ``sudo mailward secret set`` leaves a file readable by the user the
    server runs as, instead of handing it to root.
    """
    if os.geteuid() != 0:
        return None
    target = Path(path)
    for candidate in (target, target.parent):
        try:
            st = os.stat(candidate, follow_symlinks=False)
        except FileNotFoundError:
            continue
        return st.st_uid, st.st_gid
    return None


def write_new(
    path: str | os.PathLike[str], data: bytes, mode: int = SECRET_MODE, owner: tuple[int, int] | None = None
) -> None:
    """Create ``path`` exclusively with ``mode`` (never following a symlink), write, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)  # the open mode is filtered by the umask
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
