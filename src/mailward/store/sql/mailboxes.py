"""Operations on accounts and mailboxes."""

from __future__ import annotations

from collections.abc import Sequence

from mailward.store.interface import (
    DELIMITER,
    INBOX,
    SPECIAL_USES,
    Account,
    AlreadyExists,
    ChangeEvent,
    ChangeKind,
    Mailbox,
    MailboxStatus,
    NotFound,
    QuotaUsage,
    StoreError,
)
from mailward.store.sql.base import Ctx, Op, Q, Row, add_blob_refs

MAILBOX_COLUMNS = "id, account_id, name, uid_validity, uid_next, highest_modseq, special_use, subscribed"
ACCOUNT_COLUMNS = "id, name, quota_bytes, display_name, enabled"


def normalize_name(name: str) -> str:
    """RFC 9051 5.1: INBOX is case-insensitive; other names are kept as given."""
    if not name or name.startswith(DELIMITER) or name.endswith(DELIMITER) or "//" in name:
        raise StoreError(f"invalid mailbox name {name!r}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise StoreError(f"invalid mailbox name {name!r}: control characters")
    head, sep, rest = name.partition(DELIMITER)
    if head.upper() == INBOX:
        return INBOX + sep + rest
    return name


def check_special_use(uses: frozenset[str]) -> str:
    unknown = uses - SPECIAL_USES
    if unknown:
        raise StoreError(f"unknown special-use attribute(s): {', '.join(sorted(unknown))}")
    return " ".join(sorted(uses))


def mailbox_of(row: Row) -> Mailbox:
    mid, account_id, name, validity, uid_next, modseq, special, subscribed = row
    return Mailbox(int(mid), int(account_id), name, int(validity), int(uid_next), int(modseq),
                   frozenset(special.split()), bool(subscribed))


def get_mailbox(mailbox_id: int, *, lock: bool = False) -> Op[Mailbox]:
    rows = yield Q(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?" + (" {lock}" if lock else ""),  # noqa: S608
                   (mailbox_id,))
    if not rows:
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox_of(rows[0])


def find_mailbox(account_id: int, name: str) -> Op[Mailbox | None]:
    rows = yield Q(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?",  # noqa: S608
                   (account_id, normalize_name(name)))
    return mailbox_of(rows[0]) if rows else None


def list_mailboxes(account_id: int) -> Op[list[Mailbox]]:
    rows = yield Q(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ?",  # noqa: S608
                   (account_id,))
    # Sorted here, not by ORDER BY: PostgreSQL's collation would order names unlike SQLite's.
    return sorted((mailbox_of(r) for r in rows), key=lambda m: m.name)


def create_mailbox(account_id: int, name: str, special_use: frozenset[str], subscribed: bool) -> Op[Mailbox]:
    name = normalize_name(name)
    special = check_special_use(special_use)
    rows = yield Q("SELECT id FROM accounts WHERE id = ?", (account_id,))
    if not rows:
        raise NotFound(f"no account {account_id}")
    if (yield from find_mailbox(account_id, name)) is not None:
        raise AlreadyExists(f"mailbox {name!r} exists")
    rows = yield Q("UPDATE meta SET value = value + 1 WHERE key = 'uid_validity' RETURNING value")
    validity = int(rows[0][0]) & 0xFFFFFFFF or 1  # RFC 9051 9: nz-number
    rows = yield Q(
        "INSERT INTO mailboxes (account_id, name, uid_validity, uid_next, highest_modseq, "  # noqa: S608
        f"special_use, subscribed) VALUES (?, ?, ?, 1, 1, ?, ?) RETURNING {MAILBOX_COLUMNS}",
        (account_id, name, validity, special, int(subscribed)))
    return mailbox_of(rows[0])


def rename_mailbox(ctx: Ctx, mailbox_id: int, new_name: str) -> Op[Mailbox]:
    """Rename a mailbox and its inferiors (RFC 9051 6.3.6); UIDVALIDITY is kept."""
    box = yield from get_mailbox(mailbox_id, lock=True)
    new_name = normalize_name(new_name)
    if box.name == INBOX:
        raise StoreError("renaming INBOX moves its messages: do it with create and move")
    if (yield from find_mailbox(box.account_id, new_name)) is not None:
        raise AlreadyExists(f"mailbox {new_name!r} exists")
    if new_name.startswith(box.name + DELIMITER):
        raise StoreError("cannot rename a mailbox into itself")
    boxes = yield from list_mailboxes(box.account_id)
    for other in boxes:
        if other.id == box.id or other.name.startswith(box.name + DELIMITER):
            renamed = new_name + other.name[len(box.name):]
            yield Q("UPDATE mailboxes SET name = ? WHERE id = ?", (renamed, other.id))
            ctx.events.append(ChangeEvent(other.id, ChangeKind.MAILBOX, other.highest_modseq))
    return (yield from get_mailbox(mailbox_id))


def _release_mailbox(mailbox_id: int, account_id: int) -> Op[None]:
    rows = yield Q("SELECT blob_id, size FROM messages WHERE mailbox_id = ?", (mailbox_id,))
    if rows:
        yield Q("UPDATE accounts SET used_bytes = used_bytes - ?, messages = messages - ? WHERE id = ?",
                (sum(int(r[1]) for r in rows), len(rows), account_id))
        yield from add_blob_refs([int(r[0]) for r in rows], -1)
    yield Q("DELETE FROM messages WHERE mailbox_id = ?", (mailbox_id,))
    yield Q("DELETE FROM expunged WHERE mailbox_id = ?", (mailbox_id,))
    yield Q("DELETE FROM mailboxes WHERE id = ?", (mailbox_id,))


def delete_mailbox(ctx: Ctx, mailbox_id: int) -> Op[None]:
    box = yield from get_mailbox(mailbox_id, lock=True)
    if box.name == INBOX:
        raise StoreError("INBOX cannot be deleted (RFC 9051 6.3.5)")
    yield from _release_mailbox(box.id, box.account_id)
    ctx.events.append(ChangeEvent(box.id, ChangeKind.MAILBOX, box.highest_modseq + 1))


def set_subscribed(mailbox_id: int, subscribed: bool) -> Op[None]:
    rows = yield Q("UPDATE mailboxes SET subscribed = ? WHERE id = ? RETURNING id",
                   (int(subscribed), mailbox_id))
    if not rows:
        raise NotFound(f"no mailbox {mailbox_id}")


def set_special_use(mailbox_id: int, special_use: frozenset[str]) -> Op[None]:
    rows = yield Q("UPDATE mailboxes SET special_use = ? WHERE id = ? RETURNING id",
                   (check_special_use(special_use), mailbox_id))
    if not rows:
        raise NotFound(f"no mailbox {mailbox_id}")


def status(mailbox_id: int) -> Op[MailboxStatus]:
    box = yield from get_mailbox(mailbox_id)
    rows = yield Q(
        "SELECT count(*), "
        "coalesce(sum(CASE WHEN {flag:Seen} THEN 0 ELSE 1 END), 0), "
        "coalesce(sum(CASE WHEN {flag:Deleted} THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ?", (mailbox_id,))
    count, unseen, deleted, size = rows[0]
    return MailboxStatus(box, int(count), int(unseen), int(deleted), int(size))


# --- accounts ------------------------------------------------------------------------


def account_of(row: Row) -> Account:
    account_id, name, quota_bytes, display_name, enabled = row
    return Account(int(account_id), name, int(quota_bytes), display_name, bool(enabled))


def create_account(name: str, quota_bytes: int, display_name: str, credentials: str) -> Op[Account]:
    rows = yield Q("SELECT id FROM accounts WHERE name = ?", (name,))
    if rows:
        raise AlreadyExists(f"account {name!r} exists")
    rows = yield Q("INSERT INTO accounts (name, quota_bytes, display_name, credentials) "  # noqa: S608
                   f"VALUES (?, ?, ?, ?) RETURNING {ACCOUNT_COLUMNS}",
                   (name, quota_bytes, display_name, credentials))
    account = account_of(rows[0])
    yield from create_mailbox(account.id, INBOX, frozenset(), True)
    return account


def get_account(account_id: int) -> Op[Account]:
    rows = yield Q(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,))  # noqa: S608
    if not rows:
        raise NotFound(f"no account {account_id}")
    return account_of(rows[0])


def find_account(name: str) -> Op[Account | None]:
    rows = yield Q(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?", (name,))  # noqa: S608
    return account_of(rows[0]) if rows else None


def list_accounts() -> Op[list[Account]]:
    rows = yield Q(f"SELECT {ACCOUNT_COLUMNS} FROM accounts")  # noqa: S608
    # Sorted here, not by ORDER BY: PostgreSQL's collation would order names unlike SQLite's.
    return sorted((account_of(r) for r in rows), key=lambda a: a.name)


def update_account(account_id: int, display_name: str | None, enabled: bool | None,
                   credentials: str | None) -> Op[Account]:
    changes: dict[str, str | int] = {}
    if display_name is not None:
        changes["display_name"] = display_name
    if enabled is not None:
        changes["enabled"] = int(enabled)
    if credentials is not None:
        changes["credentials"] = credentials
    if not changes:
        return (yield from get_account(account_id))
    sets = ", ".join(f"{column} = ?" for column in changes)
    rows = yield Q(f"UPDATE accounts SET {sets} WHERE id = ? RETURNING {ACCOUNT_COLUMNS}",  # noqa: S608
                   (*changes.values(), account_id))
    if not rows:
        raise NotFound(f"no account {account_id}")
    return account_of(rows[0])


def account_credentials(account_id: int) -> Op[str]:
    rows = yield Q("SELECT credentials FROM accounts WHERE id = ?", (account_id,))
    if not rows:
        raise NotFound(f"no account {account_id}")
    return str(rows[0][0])


def set_quota(account_id: int, quota_bytes: int) -> Op[None]:
    rows = yield Q("UPDATE accounts SET quota_bytes = ? WHERE id = ? RETURNING id", (quota_bytes, account_id))
    if not rows:
        raise NotFound(f"no account {account_id}")


def delete_account(ctx: Ctx, account_id: int) -> Op[None]:
    """The account, its mailboxes and messages; app passwords and client certificates
    go with it (ON DELETE CASCADE)."""
    for box in (yield from list_mailboxes(account_id)):
        yield from _release_mailbox(box.id, account_id)
        ctx.events.append(ChangeEvent(box.id, ChangeKind.MAILBOX, box.highest_modseq + 1))
    rows = yield Q("DELETE FROM accounts WHERE id = ? RETURNING id", (account_id,))
    if not rows:
        raise NotFound(f"no account {account_id}")


def quota(account_id: int) -> Op[QuotaUsage]:
    rows = yield Q("SELECT used_bytes, quota_bytes, messages FROM accounts WHERE id = ?", (account_id,))
    if not rows:
        raise NotFound(f"no account {account_id}")
    used, limit, count = rows[0]
    return QuotaUsage(account_id, int(used), int(limit), int(count))


def highest_modseqs(mailbox_ids: Sequence[int]) -> Op[dict[int, int]]:
    """Each existing mailbox's HIGHESTMODSEQ, a few hundred ids per statement."""
    found: dict[int, int] = {}
    for i in range(0, len(mailbox_ids), 500):
        batch = mailbox_ids[i:i + 500]
        marks = ", ".join("?" * len(batch))
        rows = yield Q(f"SELECT id, highest_modseq FROM mailboxes WHERE id IN ({marks})", batch)  # noqa: S608
        found.update((int(mailbox_id), int(modseq)) for mailbox_id, modseq in rows)
    return found
