"""Giving up root once the listening sockets are bound."""

from __future__ import annotations

import os
import pwd


def drop_to(user: str) -> None:
    """Switch the process to ``user`` and its groups, for good (no way back to root)."""
    entry = pwd.getpwnam(user)
    if os.geteuid() != 0:
        if os.geteuid() != entry.pw_uid:
            raise PermissionError(f"uid {os.geteuid()} cannot switch to {user}")
        return
    os.setgroups(os.getgrouplist(user, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - the kernel let us back: refuse to go on
        raise RuntimeError(f"could not drop root privileges for {user}")
    os.environ["HOME"] = entry.pw_dir
    os.environ["USER"] = os.environ["LOGNAME"] = user
