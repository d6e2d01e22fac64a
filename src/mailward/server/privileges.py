"""Giving up root once the listening sockets are bound.

Everything the process will import is imported first (:func:`preload`): the service
user may be unable to read the directories Python and mailward were installed in (a
pyenv or venv under /root, mode 0700), and an import after the drop would then fail
in the middle of a session (a STARTTLS answered with an internal error) or of an
admin command. ``config check`` reports such an installation (see
:mod:`mailward.server.runtime_check`); the preload keeps the server working anyway.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import pwd
import sysconfig

import mailward

# Modules imported inside functions, by mailward or by the libraries it calls, on
# paths run after the drop; tests/unit/server/test_preload.py finds mailward's own
# and runs a session to catch the rest. Every mailward module is imported as well.
LAZY_IMPORTS = (
    "_ssl",
    "concurrent.futures.process",
    "concurrent.futures.thread",
    "encodings.idna",
    "stringprep",
    "tempfile",
    "unicodedata",
)


def mailward_modules() -> list[str]:
    """Every module of the mailward package, by name."""
    return [info.name for info in pkgutil.walk_packages(mailward.__path__, "mailward.")]


def preload() -> None:
    """Import every module the process may need once it has dropped privileges."""
    for name in (*mailward_modules(), *LAZY_IMPORTS):
        importlib.import_module(name)
    # imports the platform's _sysconfigdata_* module, which tls-exporter's first use
    # (auth/channel_binding.py, in a STARTTLS session) would otherwise import
    sysconfig.get_config_vars()


def drop_to(user: str) -> None:
    """Switch the process to ``user`` and its groups, for good (no way back to root).

    Whatever it will import is imported first (see the module doc)."""
    entry = pwd.getpwnam(user)
    if os.geteuid() != 0:
        if os.geteuid() != entry.pw_uid:
            raise PermissionError(f"uid {os.geteuid()} cannot switch to {user}")
        return
    preload()
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
