"""File access as a given user would have it, explained in words an admin can act on.

``os.access`` answers for the current process only, and root passes every
check. mailward must answer for the user it will run as (``user = ...``), so
this module works from the mode bits, owner and group along the whole path, and
says which component blocks and what to run. POSIX ACLs are not consulted.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Want = Literal["read", "write", "search"]
_BITS = {
    "read": (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH),
    "write": (stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH),
    "search": (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH),
}


@dataclass(frozen=True)
class Identity:
    """Who the server runs as."""

    uid: int
    gids: frozenset[int]
    name: str

    @classmethod
    def current(cls) -> Identity:
        uid = os.geteuid()
        return cls(uid, frozenset({os.getegid(), *os.getgroups()}), user_name(uid))

    @classmethod
    def of_user(cls, name: str) -> Identity:
        entry = pwd.getpwnam(name)
        return cls(entry.pw_uid, frozenset(os.getgrouplist(name, entry.pw_gid)), name)

    def label(self) -> str:
        return f"uid {self.uid}" if self.name == str(self.uid) else f"uid {self.uid} ({self.name})"


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def allows(st: os.stat_result, who: Identity, want: Want) -> bool:
    if who.uid == 0:
        # root bypasses read/write bits; search on a directory needs some x bit
        return want != "search" or bool(st.st_mode & 0o111) or not stat.S_ISDIR(st.st_mode)
    owner_bit, group_bit, other_bit = _BITS[want]
    if st.st_uid == who.uid:
        return bool(st.st_mode & owner_bit)
    if st.st_gid in who.gids:
        return bool(st.st_mode & group_bit)
    return bool(st.st_mode & other_bit)


def describe(st: os.stat_result) -> str:
    return f"owner {user_name(st.st_uid)}, group {group_name(st.st_gid)}, mode {stat.S_IMODE(st.st_mode):04o}"


@dataclass(frozen=True)
class Denied:
    """Why ``who`` cannot do ``want`` on a path: the blocking component and the fix."""

    path: str
    message: str
    fix: str


def check(path: str | os.PathLike[str], who: Identity, want: Want) -> Denied | None:
    """``None`` when ``who`` may ``want`` ``path``; else what blocks it.

    Every parent directory must be searchable; the path itself must exist.
    """
    target = Path(os.path.abspath(path))
    for parent in reversed(target.parents):
        try:
            st = parent.stat()
        except OSError:
            break
        if not allows(st, who, "search"):
            return Denied(
                str(parent),
                f"directory {parent} is not searchable by {who.label()} ({describe(st)})",
                f"chmod o+x {parent}, or make {who.name} its owner or a member of its group",
            )
    try:
        st = target.stat()
    except FileNotFoundError:
        return Denied(str(target), f"{target} does not exist", "")
    if allows(st, who, want):
        return None
    verb = {"read": "readable", "write": "writable", "search": "searchable"}[want]
    recursive = "-R " if stat.S_ISDIR(st.st_mode) else ""
    return Denied(
        str(target),
        f"not {verb} by {who.label()} ({describe(st)})",
        f"chown {recursive}{who.name} {target}",
    )


def denied_message(path: str, want: Want) -> str:
    """For a PermissionError the current process hit on ``path``."""
    denied = check(path, Identity.current(), want)
    return denied.message if denied else f"permission denied ({want})"


def fix_read(path: str) -> str:
    denied = check(path, Identity.current(), "read")
    return denied.fix if denied else f"make {path} readable by {Identity.current().name}"
