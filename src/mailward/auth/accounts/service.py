"""The one place accounts, domains, aliases, app passwords and certificates are changed.

``mailward domain|user|alias`` call it, and so will the web console (STYLE.md: the
CLI and the console share one service layer, as mox's ``admin`` package does). It
validates, spells names the one way the store keeps them (:mod:`names`), hashes
passwords (in a worker thread: argon2 is slow on purpose) and writes. Every
refusal is a :class:`ServiceError` whose message says what to do instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import argon2
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailward.auth.accounts import names
from mailward.auth.accounts.lookup import hash_app_password
from mailward.auth.passwords import DEFAULT_HASHER, PasswordError, make_credentials
from mailward.auth.sasl.external import certificate_fingerprint as certificate_fingerprint_of
from mailward.store.interface import (
    Account,
    AlreadyExists,
    AppPassword,
    ClientCertificate,
    Domain,
    NotFound,
    Store,
)

# RFC 6154 folders every new user gets, so that clients find them on first login
STANDARD_MAILBOXES = (
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Archive", "\\Archive"),
    ("Junk", "\\Junk"),
    ("Trash", "\\Trash"),
)
APP_PASSWORD_GROUPS = 4  # xxxx-xxxx-xxxx-xxxx: 16 characters of 32 = 80 bits
_APP_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l/1/o/0: read off a screen, typed on a phone


class ServiceError(Exception):
    """A request refused; the message is for the admin and says what to do."""


def fake_salt_key(master_key: bytes) -> bytes:
    """The key for SCRAM salts of unknown users (RFC 5802 9), derived from the master
    key so it is the same across restarts and on every node: a salt that changes
    for unknown names but not for real ones would tell which accounts exist."""
    return hmac.digest(master_key, b"mailward scram fake-salt key v1", "sha256")


def new_app_password() -> str:
    groups = ("".join(secrets.choice(_APP_ALPHABET) for _ in range(4)) for _ in range(APP_PASSWORD_GROUPS))
    return "-".join(groups)


@dataclass(frozen=True)
class AliasEntry:
    address: str
    targets: tuple[str, ...]


class AccountService:
    def __init__(self, store: Store, *, hasher: argon2.PasswordHasher = DEFAULT_HASHER) -> None:
        self.store = store
        self._hasher = hasher

    # --- domains -----------------------------------------------------------------

    async def add_domain(self, name: str) -> Domain:
        domain = _name(names.domain, name)
        try:
            return await self.store.add_domain(domain)
        except AlreadyExists:
            raise ServiceError(f"domain {domain} exists already") from None

    async def list_domains(self) -> list[Domain]:
        return await self.store.list_domains()

    async def remove_domain(self, name: str) -> None:
        domain = _name(names.domain, name)
        users = [a.name for a in await self.list_users(domain)]
        aliases = [a.address for a in await self.list_aliases() if _domain_of(a.address) == domain]
        if users or aliases:
            listed = ", ".join((users + aliases)[:5]) + (" ..." if len(users) + len(aliases) > 5 else "")
            raise ServiceError(
                f"domain {domain} still has {len(users)} user(s) and {len(aliases)} alias(es) "
                f"({listed}): remove them first with `mailward user remove` / `mailward alias remove`")
        try:
            await self.store.remove_domain(domain)
        except NotFound:
            raise ServiceError(f"there is no domain {domain} (see `mailward domain list`)") from None

    async def _require_domain(self, domain: str) -> None:
        if await self.store.find_domain(domain) is None:
            raise ServiceError(f"{domain} is not a local domain: add it first with "
                               f"`mailward domain add {domain}`")

    # --- users -------------------------------------------------------------------

    async def add_user(
        self, address: str, password: str | None, *, display_name: str = "", quota_bytes: int = 0
    ) -> Account:
        """A new user with INBOX and the standard folders; ``password`` None: none yet
        (the user can log in only with a certificate or an app password)."""
        name = _name(names.address, address)
        await self._require_domain(_domain_of(name))
        if quota_bytes < 0:
            raise ServiceError("the quota must be 0 (unlimited) or more bytes")
        if await self.store.alias_targets(name):
            raise ServiceError(f"{name} is an alias: remove it first (`mailward alias remove {name}`)")
        credentials = await self._hash(password) if password is not None else ""
        try:
            account = await self.store.create_account(
                name, quota_bytes=quota_bytes, display_name=display_name, credentials=credentials)
        except AlreadyExists:
            raise ServiceError(f"user {name} exists already") from None
        for folder, use in STANDARD_MAILBOXES:
            if await self.store.get_mailbox(account.id, folder) is None:
                await self.store.create_mailbox(account.id, folder, special_use=frozenset({use}))
        return account  # the store gave it an INBOX

    async def user(self, address: str) -> Account:
        name = _name(names.address, address)
        account = await self.store.find_account(name)
        if account is None:
            raise ServiceError(f"there is no user {name} (see `mailward user list`)")
        return account

    async def set_password(self, address: str, password: str) -> None:
        account = await self.user(address)
        await self.store.update_account(account.id, credentials=await self._hash(password))

    async def set_enabled(self, address: str, enabled: bool) -> Account:
        account = await self.user(address)
        return await self.store.update_account(account.id, enabled=enabled)

    async def set_quota(self, address: str, quota_bytes: int) -> None:
        if quota_bytes < 0:
            raise ServiceError("the quota must be 0 (unlimited) or more bytes")
        await self.store.set_quota((await self.user(address)).id, quota_bytes)

    async def list_users(self, domain: str | None = None) -> list[Account]:
        wanted = None if domain is None else _name(names.domain, domain)
        return [a for a in await self.store.list_accounts()
                if "@" in a.name and (wanted is None or _domain_of(a.name) == wanted)]

    async def remove_user(self, address: str) -> int:
        """Remove the user with all its mail; returns how many messages went with it."""
        account = await self.user(address)
        messages = (await self.store.quota(account.id)).messages
        await self.store.delete_account(account.id)
        for alias in await self.store.aliases_to(account.name):
            await self.store.remove_alias(alias, account.name)
        return messages

    async def _hash(self, password: str) -> str:
        try:
            credentials = await asyncio.to_thread(make_credentials, password, hasher=self._hasher)
        except PasswordError as exc:
            raise ServiceError(str(exc)) from None
        return credentials.to_text()

    # --- aliases -----------------------------------------------------------------

    async def add_alias(self, address: str, targets: list[str]) -> AliasEntry:
        """Mail to ``address`` (or, for ``@domain``, to any unknown address there) goes to
        each target: local users or aliases (which must exist) or outside addresses."""
        source = _name(names.alias_address, address)
        await self._require_domain(_domain_of(source))
        if not targets:
            raise ServiceError("name at least one target address")
        if not source.startswith("@") and await self.store.find_account(source) is not None:
            raise ServiceError(f"{source} is a user; an alias of the same address would never be used")
        wanted = [_name(names.address, t) for t in targets]
        for target in wanted:
            if target == source:
                raise ServiceError(f"{source} cannot be an alias of itself")
            local = await self.store.find_domain(_domain_of(target)) is not None
            if local and not await self._exists(target):
                raise ServiceError(f"{target} is in a local domain but is no user or alias: "
                                   f"add it first (`mailward user add {target}`)")
        for target in wanted:
            with contextlib.suppress(AlreadyExists):  # adding what is there changes nothing
                await self.store.add_alias(source, target)
        return AliasEntry(source, tuple(await self.store.alias_targets(source)))

    async def _exists(self, address: str) -> bool:
        if await self.store.find_account(address) is not None:
            return True
        return bool(await self.store.alias_targets(address))

    async def list_aliases(self) -> list[AliasEntry]:
        grouped: dict[str, list[str]] = {}
        for row in await self.store.list_aliases():
            grouped.setdefault(row.address, []).append(row.target)
        return [AliasEntry(address, tuple(targets)) for address, targets in grouped.items()]

    async def remove_alias(self, address: str, target: str | None = None) -> int:
        source = _name(names.alias_address, address)
        wanted = None if target is None else _name(names.address, target)
        removed = await self.store.remove_alias(source, wanted)
        if not removed:
            what = f"{source} -> {wanted}" if wanted else source
            raise ServiceError(f"there is no alias {what} (see `mailward alias list`)")
        return removed

    # --- app passwords -------------------------------------------------------------

    async def add_app_password(self, address: str, label: str) -> str:
        """A new random app password for one client; returned once, stored only hashed."""
        label = label.strip()
        if not label or len(label) > 64 or not label.isprintable():
            raise ServiceError("the label must be 1 to 64 printable characters, e.g. \"phone\"")
        account = await self.user(address)
        password = new_app_password()
        try:
            await self.store.add_app_password(account.id, label, hash_app_password(password))
        except AlreadyExists:
            raise ServiceError(f"{account.name} has an app password labelled {label!r} already: "
                               f"revoke it first or choose another label") from None
        return password

    async def list_app_passwords(self, address: str) -> list[AppPassword]:
        return await self.store.app_passwords((await self.user(address)).id)

    async def revoke_app_password(self, address: str, label: str) -> None:
        account = await self.user(address)
        try:
            await self.store.revoke_app_password(account.id, label)
        except NotFound:
            raise ServiceError(f"{account.name} has no app password labelled {label!r} "
                               f"(see `mailward user app-password list {account.name}`)") from None

    # --- client certificates (SASL EXTERNAL) -----------------------------------------

    async def add_certificate(self, address: str, certificate: str, label: str = "") -> ClientCertificate:
        """Register a client certificate, given as a SHA-256 fingerprint or as PEM text."""
        account = await self.user(address)
        fingerprint = certificate_fingerprint(certificate)
        try:
            return await self.store.add_client_certificate(account.id, fingerprint, label)
        except AlreadyExists:
            owner = await self.store.account_for_certificate(fingerprint)
            raise ServiceError(f"certificate {fingerprint} is registered already"
                               + (f" (to {owner.name})" if owner else "")) from None

    async def list_certificates(self, address: str) -> list[ClientCertificate]:
        return await self.store.client_certificates((await self.user(address)).id)

    async def remove_certificate(self, fingerprint: str) -> None:
        canonical = _name(names.fingerprint, fingerprint)
        try:
            await self.store.remove_client_certificate(canonical)
        except NotFound:
            raise ServiceError(f"certificate {canonical} is not registered") from None


def certificate_fingerprint(certificate: str) -> str:
    """The stored fingerprint of PEM text, or of a fingerprint in any common spelling."""
    if "-----BEGIN" in certificate:
        try:
            cert = x509.load_pem_x509_certificate(certificate.encode("ascii", "replace"))
        except ValueError as exc:
            raise ServiceError(f"not a readable PEM certificate: {exc}") from None
        return certificate_fingerprint_of(cert.public_bytes(Encoding.DER))
    return _name(names.fingerprint, certificate)


def _name(parse: Callable[[str], str], text: str) -> str:
    try:
        return parse(text)
    except names.InvalidName as exc:
        raise ServiceError(str(exc)) from None


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2]
