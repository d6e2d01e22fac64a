"""Who an envelope recipient is: local account(s), unknown, disabled or not ours.

Resolution follows what an admin of Postfix virtual domains expects:

1. an address in no local domain is ``REMOTE`` (only submission may send there);
2. an account with that exact address gets it (an account wins over an alias);
3. an alias sends it to each of its targets, recursively (aliases of aliases, up
   to :data:`MAX_DEPTH`), local targets to their accounts, others onward;
4. otherwise the domain's catch-all (``@domain``) applies, as an alias would;
5. otherwise the address is ``UNKNOWN`` (550 5.1.1 at RCPT time, never a bounce).

Local parts with routing characters (``%``, ``!``) or quoting match nothing, even a
catch-all: they are ``ROUTING``, refused, so the percent hack can never relay.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailward.auth.accounts import names
from mailward.store.interface import Account, AccountStore

MAX_DEPTH = 8  # alias chains longer than this are a loop or a mistake
MAX_TARGETS = 1000  # accounts and forwards one recipient may expand to


class Kind(enum.Enum):
    LOCAL = "local"  # delivered to ``accounts`` (and sent on to ``forward``)
    UNKNOWN = "unknown"  # a local domain, but no such user
    DISABLED = "disabled"  # every account it reaches is disabled
    REMOTE = "remote"  # not a local domain
    ROUTING = "routing"  # percent hack, bang path, quoted local part: refused
    LOOP = "loop"  # the aliases loop or expand too far: a configuration error


@dataclass(frozen=True)
class Resolution:
    address: str  # as looked up (lower-case); the address as given when not parsable
    kind: Kind
    accounts: tuple[Account, ...] = ()  # enabled accounts, each once
    forward: tuple[str, ...] = ()  # non-local addresses aliases send the mail on to


class Resolver:
    """Resolves envelope addresses against the account store (every call reads it fresh:
    another node or the admin may have changed accounts since)."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store

    async def is_local_domain(self, domain: str) -> bool:
        try:
            return await self._store.find_domain(names.domain(domain)) is not None
        except names.InvalidName:
            return False

    async def resolve(self, local_part: str, domain: str) -> Resolution:
        if not await self.is_local_domain(domain):
            return Resolution(f"{local_part}@{domain}", Kind.REMOTE)
        address = names.lookup_address(local_part, domain)
        if address is None:
            return Resolution(f"{local_part}@{domain}", Kind.ROUTING)
        found: dict[int, Account] = {}
        forward: list[str] = []
        outcome = await self._expand(address, found, forward, 0, set())
        if outcome is Kind.LOOP:
            return Resolution(address, Kind.LOOP)
        if outcome is Kind.UNKNOWN:
            return Resolution(address, Kind.UNKNOWN)
        enabled = tuple(a for a in found.values() if a.enabled)
        disabled = len(enabled) < len(found)
        if not enabled and not forward:
            return Resolution(address, Kind.DISABLED if disabled else Kind.UNKNOWN)
        return Resolution(address, Kind.LOCAL, enabled, tuple(dict.fromkeys(forward)))

    async def _expand(
        self, address: str, found: dict[int, Account], forward: list[str], depth: int, seen: set[str]
    ) -> Kind:
        """Add what ``address`` (stored form, in a local domain) reaches; UNKNOWN when it is nobody."""
        if depth > MAX_DEPTH or len(found) + len(forward) > MAX_TARGETS:
            return Kind.LOOP
        if address in seen:
            return Kind.LOCAL  # a cycle through an address already expanded adds nothing
        seen.add(address)
        account = await self._store.find_account(address)
        if account is not None:
            found[account.id] = account
            return Kind.LOCAL
        targets = await self._store.alias_targets(address)
        if not targets:
            targets = await self._store.alias_targets("@" + address.rpartition("@")[2])
            if not targets:
                return Kind.UNKNOWN
        for target in targets:
            dom = target.rpartition("@")[2]
            if not await self.is_local_domain(dom):
                forward.append(target)
                continue
            if await self._expand(target, found, forward, depth + 1, seen) is Kind.LOOP:
                return Kind.LOOP
        return Kind.LOCAL

    async def may_send_as(self, account: Account, sender: str) -> bool:
        """Whether ``account`` may use ``sender`` as its envelope sender on submission: its
        own address, or an alias (not a catch-all) that delivers to it."""
        try:
            address = names.address(sender)
        except names.InvalidName:
            return False
        if address == account.name:
            return True
        return address in await self._store.aliases_to(account.name)
