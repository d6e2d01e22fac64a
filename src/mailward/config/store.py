"""The ``[store]`` section: where accounts, mailboxes, messages and the queue live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailward.config.problems import Problem, Severity
from mailward.config.schema import PathStr, positive, secret_reference, setting

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
WEAK_SSLMODES = ("disable", "allow", "prefer", "require")


def _check_port(value: int) -> tuple[str, str] | None:
    if not 0 < value < 65536:
        return (f"port {value} is out of range 1-65535", "use the port PostgreSQL listens on, often 5432")
    return None


@dataclass(frozen=True)
class PostgresSettings:
    host: str = setting("localhost", "Database host name (checked against its certificate) or a "
                        "unix socket directory (starting with /).")
    port: int = setting(5432, "Database port.", check=_check_port)
    dbname: str = setting("mailward", "Database name.")
    user: str = setting("mailward", "Database user.")
    password: str = setting("", 'Password, best as "secret:NAME" (see `mailward secret set`). '
                            "Empty: none (client certificate or peer authentication).",
                            check=secret_reference)
    sslmode: SslMode = setting(
        "verify-full",
        "verify-full checks the server's certificate and name; anything weaker lets a machine in the "
        "middle read the mail and is refused unless allow_insecure_sslmode is true.")
    allow_insecure_sslmode: bool = setting(
        False, "Accept an sslmode weaker than verify-ca (only for a database on this machine).")
    sslrootcert: PathStr = setting("", "PEM bundle of the CA(s) the server certificate must chain to. "
                                   'Empty: libpq\'s default (~/.postgresql/root.crt); "system" for '
                                   "the system's trust store.")
    sslcert: PathStr = setting("", "Client certificate (PEM) when the server asks for one.")
    sslkey: PathStr = setting("", "Key of the client certificate (PEM, mode 0600).")
    pool_min: int = setting(2, "Connections kept open.", check=positive)
    pool_max: int = setting(20, "Most connections open at once.", check=positive)
    connect_timeout: float = setting(10.0, "Seconds to wait for a connection.", check=positive)


@dataclass(frozen=True)
class StoreSettings:
    backend: Literal["sqlite", "postgres"] = setting(
        "sqlite",
        "sqlite: embedded, one node, under data_dir/store. postgres: a PostgreSQL database shared "
        "by every node, over verified TLS.")
    postgres: PostgresSettings = setting(PostgresSettings(), "The database, when backend = \"postgres\".")


def check_store(settings: StoreSettings, prefix: str = "store") -> list[Problem]:
    """Problems of a store section that no single field's check can see."""
    if settings.backend != "postgres":
        return []
    pg = settings.postgres
    problems = []
    if pg.sslmode in WEAK_SSLMODES and not pg.host.startswith("/"):
        severity = Severity.WARNING if pg.allow_insecure_sslmode else Severity.ERROR
        problems.append(Problem(
            f"{prefix}.postgres.sslmode",
            f'"{pg.sslmode}" does not verify the database server\'s certificate',
            'use "verify-full" with sslrootcert naming the CA (or set allow_insecure_sslmode = true '
            "for a database on this machine)", severity))
    if pg.pool_min > pg.pool_max:
        problems.append(Problem(f"{prefix}.postgres.pool_min", f"{pg.pool_min} is above pool_max "
                                f"({pg.pool_max})", "make pool_min at most pool_max"))
    if bool(pg.sslcert) != bool(pg.sslkey):
        problems.append(Problem(f"{prefix}.postgres.sslcert", "sslcert and sslkey go together",
                                "set both or neither"))
    return problems
