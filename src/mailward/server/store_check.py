"""``config check`` connects to the database the way ``serve`` will.

A CA that does not verify the server, a password the server refuses or a
database that does not answer pass every check of the settings alone: only a
connection finds them. The check opens the store through the same factory and
backend code as ``serve`` (the configured TLS settings, ``migrate=False``, a
short timeout) and closes it again; every failure is a problem, never a
traceback. The files ``serve`` reads for it after dropping privileges (the
sealed secret store, the master key, the CA and client certificate) are
checked as the service user first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pwd
from collections.abc import Iterable

from mailward.config import Config, Problem, Severity
from mailward.config.access import Identity
from mailward.config.store import check_store
from mailward.secrets import ENV_VAR, LazySecrets, SecretError, SecretNotFoundError, SecretPaths, is_reference
from mailward.server.preflight import check_readable, needs
from mailward.store.factory import open_store
from mailward.store.interface import StoreError, StoreUnreachable

CHECK_TIMEOUT = 5.0
"""Seconds the check waits for the database at most (``connect_timeout``, if shorter)."""

_KEY = "store.postgres"


@needs("store", "secrets")
def check_store_connection(config: Config, who: Identity) -> Iterable[Problem]:
    """Connect to the PostgreSQL store as ``serve`` would; nothing for the embedded store."""
    if config.store.backend != "postgres":
        return []
    if any(p.severity is Severity.ERROR for p in check_store(config.store)):
        return []  # the settings are wrong already (reported by check_store_settings)
    served = _as_served(config, who)
    unreadable = list(_files_read(served, who, defaulted=served is not config))
    if unreadable:
        return unreadable
    password, problems = _password(served)
    if password is None:
        return problems
    return list(_connect(served, password))


def _as_served(config: Config, who: Identity) -> Config:
    """The settings libpq will use in ``serve``: without sslrootcert it reads
    ~/.postgresql/root.crt, and ``serve`` runs with the service user's home, not the
    home of whoever runs the check."""
    pg = config.store.postgres
    if pg.sslrootcert or pg.sslmode not in ("verify-ca", "verify-full") or who.uid == os.geteuid():
        return config
    try:
        home = pwd.getpwuid(who.uid).pw_dir
    except KeyError:
        return config
    default = os.path.join(home, ".postgresql", "root.crt")
    return dataclasses.replace(config, store=dataclasses.replace(
        config.store, postgres=dataclasses.replace(pg, sslrootcert=default)))


def _files_read(config: Config, who: Identity, *, defaulted: bool) -> Iterable[Problem]:
    """The files ``serve`` reads to connect, after it has become ``who``; ``defaulted``:
    sslrootcert is libpq's default for ``who``, not a setting."""
    pg = config.store.postgres
    for name in ("sslrootcert", "sslcert", "sslkey"):
        path = getattr(pg, name)
        if not path or os.path.basename(path) == "system":  # "system": the system's trust store
            continue
        for found in check_readable(f"{_KEY}.{name}", path, who):
            if defaulted and name == "sslrootcert":
                yield Problem(
                    found.key, f"not set, so libpq reads {path} as {who.name} in serve: {found.message}",
                    "set store.postgres.sslrootcert to the CA file that signed the database server's "
                    'certificate (or "system" for the system\'s trust store)')
            else:
                yield found
    if is_reference(pg.password):
        paths = SecretPaths.of(config.secrets, config.data_dir)
        yield from check_readable("secrets.store_file", str(paths.store_file), who)
        if not os.environ.get(ENV_VAR) and not os.environ.get("CREDENTIALS_DIRECTORY"):
            yield from check_readable("secrets.master_key_file", str(paths.key_file), who)


def _password(config: Config) -> tuple[str | None, list[Problem]]:
    """The database password (``secret:NAME`` resolved), or the problems resolving it."""
    ref = config.store.postgres.password
    secrets = LazySecrets(SecretPaths.of(config.secrets, config.data_dir))
    key = f"{_KEY}.password"
    try:
        return secrets.resolve(ref, key), []
    except SecretNotFoundError as exc:
        return None, [exc.problem()]
    except SecretError as exc:
        return None, [Problem(key, f"cannot resolve {ref}: {exc.message}", exc.fix)]


def _connect(config: Config, password: str) -> Iterable[Problem]:
    pg = config.store.postgres
    quick = dataclasses.replace(pg, connect_timeout=min(pg.connect_timeout, CHECK_TIMEOUT), pool_min=1)
    settings = dataclasses.replace(config.store, postgres=quick)

    async def connect() -> None:
        store = await open_store(settings, config.data_dir, lambda _name: password, migrate=False)
        await store.close()

    try:
        asyncio.run(asyncio.wait_for(connect(), quick.connect_timeout * 3))
    except StoreUnreachable as exc:
        yield Problem(exc.key, exc.reason, exc.fix)
    except TimeoutError:
        yield Problem(_KEY, f"the database at {pg.host}:{pg.port} did not finish opening in "
                      f"{quick.connect_timeout * 3:g}s", "check that PostgreSQL is up and not overloaded")
    except (StoreError, OSError) as exc:
        yield Problem(_KEY, f"cannot open the database at {pg.host}:{pg.port}: {exc}",
                      "check the database settings and the server's log")
    except Exception as exc:  # a check reports; it never ends in a traceback
        yield Problem(_KEY, f"opening the database at {pg.host}:{pg.port} failed: "
                      f"{type(exc).__name__}: {exc}", "check the database settings and the server's log")
