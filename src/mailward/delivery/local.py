"""Local delivery: one message into the INBOX of each recipient account, as one durable write.

Protocol-free: SMTP (and later LMTP or the queue's local transport) map what this
returns or raises to their own replies. The store writes the message once (one
blob) into every INBOX in one operation and returns only when it is durable; when
an account is over quota it writes nothing and says which (``QuotaExceeded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailward.store.interface import (
    INBOX,
    Account,
    AlreadyExists,
    Appended,
    MessageSource,
    NewMessage,
    QuotaExceeded,
    Store,
)


@dataclass(frozen=True)
class Delivered:
    """The message is durable in each account's INBOX."""

    accounts: tuple[Account, ...]
    appended: tuple[Appended, ...]


class OverQuota(Exception):
    """Nothing was delivered: ``accounts`` are over quota.

    ``permanent`` is true when every recipient account is over quota, so the
    message cannot be delivered to anyone now (SMTP 552 5.2.2); otherwise the
    sender should retry later (452 4.2.2), as the others would have taken it.
    """

    def __init__(self, accounts: Sequence[Account], permanent: bool) -> None:
        self.accounts = tuple(accounts)
        self.permanent = permanent
        super().__init__(f"over quota: {', '.join(a.name for a in self.accounts)}")


def unique(accounts: Iterable[Account]) -> tuple[Account, ...]:
    """Each account once, in first-seen order (several recipients may reach one account)."""
    seen: dict[int, Account] = {}
    for account in accounts:
        seen.setdefault(account.id, account)
    return tuple(seen.values())


async def inbox_id(store: Store, account: Account) -> int:
    """The account's INBOX, created when it is missing (new accounts may have none yet)."""
    mailbox = await store.get_mailbox(account.id, INBOX)
    if mailbox is not None:
        return mailbox.id
    try:
        return (await store.create_mailbox(account.id, INBOX)).id
    except AlreadyExists:  # created meanwhile by another session or node
        mailbox = await store.get_mailbox(account.id, INBOX)
        if mailbox is None:
            raise
        return mailbox.id


async def over_quota(store: Store, accounts: Iterable[Account], incoming: int = 0) -> tuple[Account, ...]:
    """The accounts that cannot take a message now: already full, or (with the size the
    client declared, RFC 1870) full once ``incoming`` more bytes arrive."""
    full: list[Account] = []
    for account in unique(accounts):
        usage = await store.quota(account.id)
        if usage.limit_bytes <= 0:
            continue
        if usage.used_bytes >= usage.limit_bytes or usage.used_bytes + incoming > usage.limit_bytes:
            full.append(account)
    return tuple(full)


async def deliver(store: Store, accounts: Sequence[Account], content: MessageSource) -> Delivered:
    """Write ``content`` once into every account's INBOX; return when it is durable.

    ``content`` may be a stream (never whole in memory): it is read once. Raises
    :class:`OverQuota` when an account is over quota (nothing written), and lets
    store errors (``StoreUnavailable`` and kin) through for the caller to answer
    as a temporary failure.
    """
    targets = unique(accounts)
    if not targets:
        raise ValueError("deliver needs at least one account")
    mailbox_ids = [await inbox_id(store, account) for account in targets]
    try:
        appended = await store.deliver(mailbox_ids, NewMessage(content))
    except QuotaExceeded as exc:
        named = set(exc.account_ids)
        over = tuple(a for a in targets if a.id in named)
        # permanent only when every target is named; anything less (or odder) is worth a retry
        raise OverQuota(over or targets, permanent=bool(over) and len(over) == len(targets)) from None
    return Delivered(targets, tuple(appended))
