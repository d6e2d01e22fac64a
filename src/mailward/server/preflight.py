"""The checks ``serve`` runs before it listens; ``mailward config check`` runs the same.

Each check returns problems instead of raising, so one run reports everything.
Checks answer for the user the server will run as (``user = ...``), not for
whoever runs the check.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterable

from mailward.config import Config, ListenerSettings, Problem, Severity
from mailward.config.access import Identity, Want, check
from mailward.config.store import check_store
from mailward.secrets import LazySecrets, SecretPaths
from mailward.server import pidfile
from mailward.server.loop import check_event_loop
from mailward.server.rlimits import check_open_files
from mailward.server.sockets import BindError, bind, holders_of
from mailward.tls.checks import check_tls, pairs_of
from mailward.tls.native_probe import TLS_EXPORTER, NativeFeatures, features

Check = Callable[[Config, Identity], Iterable[Problem]]


def needs(*keys: str) -> Callable[[Check], Check]:
    """Mark a check as reading the settings under ``keys`` as a whole: it is skipped
    (see :func:`preflight`) when one of them failed validation, instead of checking
    defaults in their place (a connection to the default database, say)."""

    def mark(check: Check) -> Check:
        setattr(check, "needs", keys)  # noqa: B010 - an attribute of a function
        return check

    return mark


def run_as(config: Config) -> Identity:
    """Who the server will run as: ``user`` when set and known, else the current user."""
    if config.user:
        try:
            return Identity.of_user(config.user)
        except KeyError:
            pass
    return Identity.current()


def check_user(config: Config, who: Identity) -> Iterable[Problem]:
    if not config.user:
        if os.geteuid() == 0:
            yield Problem(
                "user",
                "not set, so mailward would run as root",
                'create an unprivileged user (useradd --system mailward) and set user = "mailward"',
                Severity.WARNING,
            )
        return
    try:
        entry = pwd.getpwnam(config.user)
    except KeyError:
        yield Problem(
            "user",
            f'no such user "{config.user}"',
            f"create it: useradd --system --home-dir {config.data_dir} "
            f"--shell /usr/sbin/nologin {config.user}",
        )
        return
    if entry.pw_uid == 0:
        yield Problem("user", "is root", "name an unprivileged user")
    elif os.geteuid() not in (0, entry.pw_uid):
        yield Problem(
            "user",
            f"uid {os.geteuid()} cannot switch to {config.user} (uid {entry.pw_uid})",
            f"start mailward as root or as {config.user}",
        )


def check_data_dir(config: Config, who: Identity) -> Iterable[Problem]:
    path = config.data_dir
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.exists(path) else "does not exist"
        yield Problem(
            "data_dir",
            f"{path} {what}",
            f"create it: install -d -m 0750 -o {who.name} {path}",
        )
        return
    wants: tuple[Want, ...] = ("write", "search")
    for want in wants:
        denied = check(path, who, want)
        if denied:
            message = denied.message if denied.path != path else f"{path}: {denied.message}"
            yield Problem("data_dir", message, denied.fix)
            return


def check_listeners(config: Config, who: Identity) -> Iterable[Problem]:
    if not config.listener:
        yield Problem(
            "listener",
            "none configured, so the server accepts no connections",
            "add [[listener]] tables",
            Severity.WARNING,
        )


def check_ports(config: Config, who: Identity) -> Iterable[Problem]:
    """Bind every listener's address and let go again; only for ``config check``. A port
    held by the server running from this data directory is no problem: a check before
    ``mailward reload`` is what the admin wants."""
    server = pidfile.running(config.data_dir)
    ours = pidfile.family(server) if server is not None else set()
    for index, listener in config.numbered_listeners():
        try:
            bind(listener.bind, f"listener[{index}].address").close()
        except BindError as exc:
            holders = holders_of(listener.bind.port) if ours else None
            if holders and {pid for pid, _ in holders} <= ours:
                continue  # this server's own port
            yield exc.problem


def check_readable(key: str, path: str, who: Identity) -> Iterable[Problem]:
    """A file named by ``key`` that the server must read."""
    denied = check(path, who, "read")
    if denied is None:
        return
    if not os.path.exists(path):
        yield Problem(key, f"{path} does not exist", "create it or correct the path")
    else:
        message = denied.message if denied.path != path else f"{path}: {denied.message}"
        yield Problem(key, message, denied.fix)


def tls_prefix(config: Config, index: int, listener: ListenerSettings) -> str:
    """Where the TLS problems of ``listener`` (``listener[index]`` in the file) are
    reported: ``tls`` when it only inherits."""
    return "tls" if listener.tls_options == config.tls else f"listener[{index}].tls_options"


def secret_source(config: Config) -> LazySecrets:
    return LazySecrets(SecretPaths.of(config.secrets, config.data_dir))


def check_tls_material(config: Config, who: Identity) -> Iterable[Problem]:
    """Each distinct TLS setting of a TLS listener: policy, files (as ``who`` reads them), keys."""
    checked: set[str] = set()
    secrets = secret_source(config)
    for index, listener in config.numbered_listeners():
        prefix = tls_prefix(config, index, listener)
        if listener.tls == "none" or prefix in checked:
            continue
        checked.add(prefix)
        settings = listener.tls_options
        unreadable: list[Problem] = []
        for pair in pairs_of(settings, prefix):
            unreadable.extend(check_readable(pair.cert_setting, pair.certificate, who))
            unreadable.extend(check_readable(pair.key_setting, pair.key, who))
        yield from unreadable
        said = {p.key for p in unreadable}
        for problem in check_tls(settings, prefix, config.server_name, resolve_secret=secrets.resolve):
            if problem.key not in said:  # one message per file: the one naming the service user
                yield problem


def check_channel_binding(config: Config, who: Identity) -> Iterable[Problem]:
    return scram_plus_problems(config, features())


def scram_plus_problems(config: Config, found: NativeFeatures) -> list[Problem]:
    """SCRAM-SHA-256-PLUS needs the tls-exporter channel binding: without it (the start-up
    probe found the ctypes call not working) ``scram_plus = "advertised"`` is refused, and
    "on-request", which would quietly accept no -PLUS at all, is a warning."""
    if found.works(TLS_EXPORTER):
        return []
    why = found.why(TLS_EXPORTER)
    problems: list[Problem] = []
    said: set[str] = set()
    for index, listener in config.numbered_listeners():
        if listener.tls == "none":
            continue  # no TLS, no channel binding to miss
        inherited = listener.scram_plus == config.scram_plus
        key = "scram_plus" if inherited else f"listener[{index}].scram_plus"
        if key in said:
            continue
        said.add(key)
        if listener.scram_plus == "advertised":
            problems.append(Problem(
                key,
                'is "advertised", but SCRAM-SHA-256-PLUS cannot be offered: its tls-exporter channel '
                f"binding needs SSL_export_keying_material (ssl offers only tls-unique), and {why}",
                'set scram_plus = "on-request" (SCRAM-SHA-256 stays on offer), or run mailward on '
                "CPython 3.11 to 3.13 with the shared libssl its _ssl module links",
            ))
        else:
            problems.append(Problem(
                key,
                f"SCRAM-SHA-256-PLUS is not accepted here: no tls-exporter channel binding ({why}); "
                "clients that ask for it get SCRAM-SHA-256 only",
                "run mailward on CPython 3.11 to 3.13 with the shared libssl its _ssl module links "
                "to have it",
                Severity.WARNING,
            ))
    return problems


def check_store_settings(config: Config, who: Identity) -> Iterable[Problem]:
    return check_store(config.store)


CHECKS: tuple[Check, ...] = (
    check_user,
    check_data_dir,
    check_listeners,
    check_open_files,
    check_event_loop,
    check_tls_material,
    check_channel_binding,
    check_store_settings,
)


# checks that stay useful when data_dir failed validation (every other check reads a
# path that starts at data_dir, so it would report on the wrong directory)
WITHOUT_DATA_DIR: tuple[Check, ...] = (check_user, check_listeners, check_open_files, check_ports)


def preflight(
    config: Config, extra: Iterable[Check] = (), failed: frozenset[str] = frozenset()
) -> list[Problem]:
    """Every check's problems. ``failed``: the settings of a partial configuration (see
    :attr:`mailward.config.ConfigError.partial`) that failed validation; problems of
    those settings are left out, since they stand at their defaults, not the file's values."""
    who = run_as(config)
    problems: list[Problem] = []
    for run in (*CHECKS, *extra):
        if "data_dir" in failed and run not in WITHOUT_DATA_DIR:
            continue
        if any(_about(f, frozenset(getattr(run, "needs", ()))) for f in failed):
            continue
        problems.extend(p for p in run(config, who) if not _about(p.key, failed))
    return problems


def _about(key: str, failed: frozenset[str]) -> bool:
    """Whether ``key`` is one of the ``failed`` settings or inside one."""
    return any(key == f or key.startswith((f"{f}.", f"{f}[")) for f in failed)
