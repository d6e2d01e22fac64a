"""The account store as the SASL exchange and the throttle need it.

:class:`StoreCredentials` answers "what are this user's credentials" and "whose
certificate is this" from the store, so every node sees the same accounts;
:class:`StoreCounters` keeps the throttle's counters in the store, so failed logins
count across nodes (DESIGN.md "Beyond one machine").
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from mailward.auth.accounts import names
from mailward.auth.passwords import Credentials
from mailward.auth.throttle import Update
from mailward.store.interface import Account, AccountStore, CounterStore, LoginCounter

log = logging.getLogger("mailward.auth")

APP_PASSWORD_SCHEME = "sha256$"  # noqa: S105 (a hash scheme name)


def hash_app_password(password: str) -> str:
    """App passwords are random (see :func:`service.new_app_password`), ~100 bits: a
    plain SHA-256 suffices, where a chosen password needs argon2's slowness."""
    return APP_PASSWORD_SCHEME + hashlib.sha256(password.encode("utf-8")).hexdigest()


class StoreCredentials:
    """:class:`~mailward.auth.sasl.exchange.CredentialLookup` over the account store.

    Disabled accounts have no credentials (they cannot log in); names are looked
    up in their stored form, so ``Alice@Example.ORG`` logs in as alice@example.org.
    """

    def __init__(self, store: AccountStore) -> None:
        self._store = store

    async def account(self, username: str) -> Account | None:
        """The enabled account ``username`` names, in any spelling, or ``None``."""
        try:
            name = names.address(username)
        except names.InvalidName:
            return None
        account = await self._store.find_account(name)
        return account if account is not None and account.enabled else None

    async def credentials(self, username: str) -> Credentials | None:
        account = await self.account(username)
        if account is None:
            return None
        text = await self._store.account_credentials(account.id)
        if not text:
            return None  # no password set: only EXTERNAL or app passwords
        try:
            return Credentials.from_text(text)
        except ValueError:
            log.error("account %s: stored credentials are unreadable; set a new password "
                      "with `mailward user passwd %s`", account.name, account.name)
            return None

    async def save_rehash(self, username: str, credentials: Credentials) -> None:
        """Keep credentials an exchange re-derived after a login (``SaslExchange.rehashed``:
        the stored hash used weaker argon2 parameters than the server's now)."""
        account = await self.account(username)
        if account is not None:
            await self._store.update_account(account.id, credentials=credentials.to_text())

    async def check_app_password(self, username: str, password: str) -> str | None:
        """The label of the app password ``password`` is, or ``None``."""
        account = await self.account(username)
        if account is None:
            return None
        offered = hash_app_password(password).encode()
        match = None
        for app in await self._store.app_passwords(account.id):
            # compare against every one, so the time does not tell which (or whether) matched
            if hmac.compare_digest(offered, app.credentials.encode()):
                match = app.label
        return match

    async def account_for_certificate(self, fingerprint: str) -> str | None:
        try:
            canonical = names.fingerprint(fingerprint)
        except names.InvalidName:
            return None
        account = await self._store.account_for_certificate(canonical)
        return account.name if account is not None and account.enabled else None


class StoreCounters:
    """The throttle's :class:`~mailward.auth.throttle.CounterBackend` in the store."""

    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def get(self, key: str) -> LoginCounter | None:
        return await self._store.login_counter(key)

    async def update(self, key: str, fn: Update) -> LoginCounter | None:
        return await self._store.update_login_counter(key, fn)

    async def delete(self, key: str) -> bool:
        return await self._store.delete_login_counter(key)

    async def items(self) -> list[tuple[str, LoginCounter]]:
        return await self._store.login_counters()
