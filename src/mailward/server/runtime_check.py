"""Can the service user read the Python and the mailward it runs on?

A Python or a virtualenv under /root (mode 0700), or a package directory only
root can read, passes every check of the configuration; the server then loses
each import it makes after dropping privileges, and ``mailward`` started as that
user (systemd's ``User=``) does not start at all. ``serve`` imports what it needs
before the drop (:func:`mailward.server.privileges.preload`); this check tells the
admin about the installation, answering for the service user from the mode bits
and owners along each path (:mod:`mailward.config.access`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator

from mailward.config import Config, Problem, Severity
from mailward.config.access import Identity, Want, check
from mailward.server.privileges import LAZY_IMPORTS, preload

# the libraries the server runs on, besides the standard library
LIBRARIES = ("argon2", "cffi", "cryptography", "psycopg", "psycopg_binary", "psycopg_pool")


def runtime_paths() -> Iterator[tuple[str, str, Want]]:
    """(what, path, access needed) for the interpreter, the standard library and the packages."""
    preload()  # what the server imports: their files are the ones to reach
    yield "the Python interpreter", os.path.realpath(sys.executable), "read"
    stdlib = os.path.dirname(os.__file__)
    yield "the Python standard library", os.__file__, "read"
    modules = {name: sys.modules.get(name) for name in ("mailward", *LIBRARIES, *LAZY_IMPORTS)}
    for name, module in modules.items():
        path = getattr(module, "__file__", None)
        if path:  # None: not installed (psycopg_binary is optional), or built in
            inside = path.startswith(stdlib + os.sep)
            yield "the Python standard library" if inside else f"the Python package {name}", path, "read"


def check_runtime(config: Config, who: Identity, severity: Severity = Severity.ERROR) -> Iterable[Problem]:
    """The service user reaches every file of :func:`runtime_paths`: one problem per
    directory or file that blocks it, naming what it blocks."""
    if who.uid == 0 or who.uid == os.geteuid():
        return  # whoever runs this check read all of it already
    blocked: dict[tuple[str, str], list[str]] = {}
    for what, path, want in runtime_paths():
        denied = check(path, who, want)
        if denied is not None:
            blocked.setdefault((denied.message, denied.fix), []).append(what)
    for (message, fix), whats in blocked.items():
        listed = ", ".join(dict.fromkeys(whats))
        yield Problem(
            "user",
            f"{who.name} cannot read {listed}: {message}",
            f"{fix}; or install Python and mailward where {who.name} can read them (not under /root)",
            severity,
        )


def warn_runtime(config: Config, who: Identity) -> Iterable[Problem]:
    """:func:`check_runtime` for ``serve``, which preloads its modules before the drop and
    so runs anyway; ``mailward`` run as that user (systemd ``User=``) does not."""
    return check_runtime(config, who, Severity.WARNING)
