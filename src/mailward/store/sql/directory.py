"""Operations on the directory: domains, aliases, app passwords, client certificates,
and the login-throttle counters every node shares.

Names are stored and matched exactly as given: lower-casing and IDNA are the
account service's job. Inserts use ``ON CONFLICT DO NOTHING ... RETURNING``, so a
duplicate is seen in the same statement on both databases, whatever other nodes
are doing at the time; the caller gets :class:`AlreadyExists`.

Lists are sorted here rather than with ``ORDER BY``: PostgreSQL's collation would
order text unlike SQLite's, and both backends must answer alike.
"""

from __future__ import annotations

from mailward.store.interface import (
    Account,
    Alias,
    AlreadyExists,
    AppPassword,
    ClientCertificate,
    CounterUpdate,
    Domain,
    LoginCounter,
    NotFound,
    StoreError,
)
from mailward.store.sql.base import Ctx, Op, Q, Row
from mailward.store.sql.mailboxes import ACCOUNT_COLUMNS, account_of, get_account

# --- domains -------------------------------------------------------------------------


def domain_of(row: Row) -> Domain:
    return Domain(int(row[0]), row[1], float(row[2]))


def add_domain(ctx: Ctx, name: str) -> Op[Domain]:
    rows = yield Q("INSERT INTO domains (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING "
                   "RETURNING id, name, created", (name, ctx.now))
    if not rows:
        raise AlreadyExists(f"domain {name!r} exists")
    return domain_of(rows[0])


def find_domain(name: str) -> Op[Domain | None]:
    rows = yield Q("SELECT id, name, created FROM domains WHERE name = ?", (name,))
    return domain_of(rows[0]) if rows else None


def list_domains() -> Op[list[Domain]]:
    rows = yield Q("SELECT id, name, created FROM domains")
    return sorted((domain_of(r) for r in rows), key=lambda d: d.name)


def remove_domain(name: str) -> Op[None]:
    rows = yield Q("DELETE FROM domains WHERE name = ? RETURNING id", (name,))
    if not rows:
        raise NotFound(f"no domain {name!r}")


# --- aliases -------------------------------------------------------------------------


def add_alias(address: str, target: str) -> Op[Alias]:
    rows = yield Q("INSERT INTO aliases (address, target) VALUES (?, ?) "
                   "ON CONFLICT (address, target) DO NOTHING RETURNING address", (address, target))
    if not rows:
        raise AlreadyExists(f"alias {address!r} already goes to {target!r}")
    return Alias(address, target)


def alias_targets(address: str) -> Op[list[str]]:
    rows = yield Q("SELECT target FROM aliases WHERE address = ?", (address,))
    return sorted(str(r[0]) for r in rows)


def aliases_to(target: str) -> Op[list[str]]:
    rows = yield Q("SELECT address FROM aliases WHERE target = ?", (target,))
    return sorted(str(r[0]) for r in rows)


def list_aliases() -> Op[list[Alias]]:
    rows = yield Q("SELECT address, target FROM aliases")
    return sorted((Alias(r[0], r[1]) for r in rows), key=lambda a: (a.address, a.target))


def remove_alias(address: str, target: str | None) -> Op[int]:
    if target is None:
        rows = yield Q("DELETE FROM aliases WHERE address = ? RETURNING target", (address,))
    else:
        rows = yield Q("DELETE FROM aliases WHERE address = ? AND target = ? RETURNING target",
                       (address, target))
    return len(rows)


# --- app passwords -------------------------------------------------------------------

APP_PASSWORD_COLUMNS = "id, account_id, label, credentials, created"  # noqa: S105 (column names)


def app_password_of(row: Row) -> AppPassword:
    pid, account_id, label, credentials, created = row
    return AppPassword(int(pid), int(account_id), label, credentials, float(created))


def add_app_password(ctx: Ctx, account_id: int, label: str, credentials: str) -> Op[AppPassword]:
    yield from get_account(account_id)  # NotFound, on SQLite too (no foreign-key error there)
    rows = yield Q("INSERT INTO app_passwords (account_id, label, credentials, created) "  # noqa: S608
                   "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, label) DO NOTHING "
                   f"RETURNING {APP_PASSWORD_COLUMNS}", (account_id, label, credentials, ctx.now))
    if not rows:
        raise AlreadyExists(f"account {account_id} has an app password {label!r}")
    return app_password_of(rows[0])


def app_passwords(account_id: int) -> Op[list[AppPassword]]:
    rows = yield Q(f"SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords WHERE account_id = ? "  # noqa: S608
                   "ORDER BY created, id", (account_id,))
    return [app_password_of(r) for r in rows]


def revoke_app_password(account_id: int, label: str) -> Op[None]:
    rows = yield Q("DELETE FROM app_passwords WHERE account_id = ? AND label = ? RETURNING id",
                   (account_id, label))
    if not rows:
        raise NotFound(f"account {account_id} has no app password {label!r}")


# --- client certificates (SASL EXTERNAL) ---------------------------------------------

CERTIFICATE_COLUMNS = "fingerprint, account_id, label, created"


def certificate_of(row: Row) -> ClientCertificate:
    fingerprint, account_id, label, created = row
    return ClientCertificate(fingerprint, int(account_id), label, float(created))


def add_client_certificate(ctx: Ctx, account_id: int, fingerprint: str, label: str) -> Op[ClientCertificate]:
    yield from get_account(account_id)
    rows = yield Q("INSERT INTO client_certificates (fingerprint, account_id, label, created) "  # noqa: S608
                   "VALUES (?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING "
                   f"RETURNING {CERTIFICATE_COLUMNS}", (fingerprint, account_id, label, ctx.now))
    if not rows:
        raise AlreadyExists(f"client certificate {fingerprint} is registered already")
    return certificate_of(rows[0])


def client_certificates(account_id: int) -> Op[list[ClientCertificate]]:
    rows = yield Q(f"SELECT {CERTIFICATE_COLUMNS} FROM client_certificates WHERE account_id = ? "  # noqa: S608
                   "ORDER BY created, fingerprint", (account_id,))
    return [certificate_of(r) for r in rows]


def remove_client_certificate(fingerprint: str) -> Op[None]:
    rows = yield Q("DELETE FROM client_certificates WHERE fingerprint = ? RETURNING account_id",
                   (fingerprint,))
    if not rows:
        raise NotFound(f"client certificate {fingerprint} is not registered")


def account_for_certificate(fingerprint: str) -> Op[Account | None]:
    columns = ", ".join(f"a.{c.strip()}" for c in ACCOUNT_COLUMNS.split(","))
    rows = yield Q(f"SELECT {columns} FROM client_certificates c "  # noqa: S608
                   "JOIN accounts a ON a.id = c.account_id WHERE c.fingerprint = ?", (fingerprint,))
    return account_of(rows[0]) if rows else None


# --- login counters ------------------------------------------------------------------

COUNTER_COLUMNS = "failures, streak, last_failure, blocked_until, next_slot"
_LOCK_TRIES = 5  # each lost race means another node's write committed: few are possible


def counter_of(row: Row) -> LoginCounter:
    failures, streak, last_failure, blocked_until, next_slot = row
    return LoginCounter(int(failures), int(streak), float(last_failure), float(blocked_until),
                        float(next_slot))


def login_counter(key: str) -> Op[LoginCounter | None]:
    rows = yield Q(f"SELECT {COUNTER_COLUMNS} FROM login_counters WHERE key = ?", (key,))  # noqa: S608
    return counter_of(rows[0]) if rows else None


def _lock_counter(key: str) -> Op[LoginCounter | None]:
    """Lock the counter's row until the transaction ends, creating it (as a
    placeholder the caller overwrites or deletes) when there is none; the counter
    it held, or None when it was created now.

    Two nodes may both find no row: both INSERT, one wins and the other's INSERT
    waits for that commit, then does nothing, and its next SELECT locks the row.
    """
    for _ in range(_LOCK_TRIES):
        rows = yield Q(f"SELECT {COUNTER_COLUMNS} FROM login_counters WHERE key = ? {{lock}}",  # noqa: S608
                       (key,))
        if rows:
            return counter_of(rows[0])
        rows = yield Q("INSERT INTO login_counters (key, failures, streak, last_failure, blocked_until) "
                       "VALUES (?, 0, 0, 0, 0) ON CONFLICT (key) DO NOTHING RETURNING key", (key,))
        if rows:
            return None
        # Another node inserted it, or deleted it between our INSERT and SELECT: again.
    raise StoreError(f"login counter {key!r} kept changing under us")


def update_login_counter(key: str, fn: CounterUpdate) -> Op[LoginCounter | None]:
    old = yield from _lock_counter(key)
    new = fn(old)  # plain Python, while the row is locked
    if new is None:
        yield Q("DELETE FROM login_counters WHERE key = ?", (key,))
    else:
        yield Q("UPDATE login_counters SET failures = ?, streak = ?, last_failure = ?, blocked_until = ?, "
                "next_slot = ? WHERE key = ?",
                (new.failures, new.streak, new.last_failure, new.blocked_until, new.next_slot, key))
    return new


def delete_login_counter(key: str) -> Op[bool]:
    rows = yield Q("DELETE FROM login_counters WHERE key = ? RETURNING key", (key,))
    return bool(rows)


def login_counters() -> Op[list[tuple[str, LoginCounter]]]:
    rows = yield Q(f"SELECT key, {COUNTER_COLUMNS} FROM login_counters")  # noqa: S608
    return sorted(((str(r[0]), counter_of(r[1:])) for r in rows), key=lambda item: item[0])
