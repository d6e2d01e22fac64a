"""Conformance of accounts, the directory and login counters (AccountStore, CounterStore):
every test runs against SQLite and PostgreSQL, like test_store_conformance.py."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import (
    INBOX,
    Alias,
    AlreadyExists,
    LoginCounter,
    NotFound,
)
from mailward.store.sql import mailboxes as mb
from mailward.store.sql.base import Q
from mailward.store.sql.schema import LATEST
from mailward.store.sql.store import SqlStore

FP1 = "AA:" * 31 + "01"
FP2 = "AA:" * 31 + "02"


async def test_account_fields_and_update(store: SqlStore) -> None:
    plain = await store.create_account("plain@example.org")
    assert (plain.display_name, plain.enabled) == ("", True)
    assert await store.account_credentials(plain.id) == ""
    alice = await store.create_account("alice@example.org", quota_bytes=5, display_name="Alice A.",
                                       credentials="$argon2id$one")
    assert await store.account(alice.id) == alice
    assert (alice.name, alice.quota_bytes, alice.display_name, alice.enabled) == (
        "alice@example.org", 5, "Alice A.", True)
    assert await store.account_credentials(alice.id) == "$argon2id$one"
    off = await store.update_account(alice.id, enabled=False)
    assert (off.display_name, off.enabled) == ("Alice A.", False)  # None keeps the rest
    renamed = await store.update_account(alice.id, display_name="Alice", credentials="$argon2id$two")
    assert (renamed.display_name, renamed.enabled) == ("Alice", False)
    assert await store.account_credentials(alice.id) == "$argon2id$two"
    assert await store.update_account(alice.id) == renamed
    assert await store.find_account("alice@example.org") == renamed
    assert await store.find_account("Alice@example.org") is None  # exact match: callers normalise
    assert await store.list_accounts() == [renamed, plain]
    missing = alice.id + plain.id + 100
    for call in (store.account(missing), store.update_account(missing, enabled=True),
                 store.update_account(missing), store.account_credentials(missing)):
        with pytest.raises(NotFound):
            await call


async def test_domains(store: SqlStore) -> None:
    second = await store.add_domain("example.net")
    first = await store.add_domain("example.org")
    assert second.name == "example.net" and second.created > 0 and first.id != second.id
    with pytest.raises(AlreadyExists):
        await store.add_domain("example.org")
    assert await store.find_domain("example.org") == first
    assert await store.find_domain("EXAMPLE.org") is None
    assert await store.list_domains() == [second, first]
    account = await store.create_account("user@example.org")
    await store.remove_domain("example.org")
    assert await store.find_domain("example.org") is None
    assert await store.account(account.id) == account  # accounts are not touched
    with pytest.raises(NotFound):
        await store.remove_domain("example.org")
    assert await store.list_domains() == [second]


async def test_aliases(store: SqlStore) -> None:
    assert await store.add_alias("sales@example.org", "bob@example.org") == Alias(
        "sales@example.org", "bob@example.org")
    await store.add_alias("sales@example.org", "alice@example.org")
    await store.add_alias("info@example.org", "alice@example.org")
    await store.add_alias("@example.org", "catchall@example.org")  # the domain's catch-all
    await store.add_alias("team@example.org", "someone@remote.example")
    with pytest.raises(AlreadyExists):
        await store.add_alias("sales@example.org", "bob@example.org")
    assert await store.alias_targets("sales@example.org") == ["alice@example.org", "bob@example.org"]
    assert await store.alias_targets("@example.org") == ["catchall@example.org"]
    assert await store.alias_targets("nobody@example.org") == []
    assert await store.alias_targets("SALES@example.org") == []
    assert await store.aliases_to("alice@example.org") == ["info@example.org", "sales@example.org"]
    assert await store.aliases_to("carol@example.org") == []
    assert [(a.address, a.target) for a in await store.list_aliases()] == [
        ("@example.org", "catchall@example.org"),
        ("info@example.org", "alice@example.org"),
        ("sales@example.org", "alice@example.org"),
        ("sales@example.org", "bob@example.org"),
        ("team@example.org", "someone@remote.example"),
    ]
    assert await store.remove_alias("sales@example.org", "bob@example.org") == 1
    assert await store.remove_alias("sales@example.org", "bob@example.org") == 0
    await store.add_alias("sales@example.org", "carol@example.org")
    assert await store.remove_alias("sales@example.org") == 2
    assert await store.remove_alias("nobody@example.org") == 0
    assert await store.alias_targets("sales@example.org") == []
    assert len(await store.list_aliases()) == 3


async def test_app_passwords(store: SqlStore) -> None:
    alice = await store.create_account("alice@example.org")
    bob = await store.create_account("bob@example.org")
    phone = await store.add_app_password(alice.id, "phone", "$argon2id$phone")
    laptop = await store.add_app_password(alice.id, "laptop", "$argon2id$laptop")
    assert (phone.account_id, phone.label, phone.credentials) == (alice.id, "phone", "$argon2id$phone")
    assert "argon2id" not in repr(phone)  # credentials stay out of logs
    with pytest.raises(AlreadyExists):
        await store.add_app_password(alice.id, "phone", "$argon2id$other")
    bobs = await store.add_app_password(bob.id, "phone", "$argon2id$bob")  # labels are per account
    with pytest.raises(NotFound):
        await store.add_app_password(alice.id + bob.id + 100, "x", "y")
    assert await store.app_passwords(alice.id) == [phone, laptop]  # oldest first
    assert await store.app_passwords(bob.id) == [bobs]
    await store.revoke_app_password(alice.id, "phone")
    assert await store.app_passwords(alice.id) == [laptop]
    with pytest.raises(NotFound):
        await store.revoke_app_password(alice.id, "phone")
    with pytest.raises(NotFound):
        await store.revoke_app_password(bob.id, "laptop")
    again = await store.add_app_password(alice.id, "phone", "$argon2id$new")
    assert again.id != phone.id


async def test_client_certificates(store: SqlStore) -> None:
    alice = await store.create_account("alice@example.org", display_name="Alice")
    bob = await store.create_account("bob@example.org")
    cert = await store.add_client_certificate(alice.id, FP1, "laptop")
    assert (cert.fingerprint, cert.account_id, cert.label) == (FP1, alice.id, "laptop")
    plain = await store.add_client_certificate(alice.id, FP2)
    assert plain.label == ""
    with pytest.raises(AlreadyExists):
        await store.add_client_certificate(bob.id, FP1, "stolen")  # registered to anyone
    with pytest.raises(NotFound):
        await store.add_client_certificate(alice.id + bob.id + 100, "BB:01")
    assert await store.client_certificates(alice.id) == [cert, plain]
    assert await store.client_certificates(bob.id) == []
    assert await store.account_for_certificate(FP1) == alice
    assert await store.account_for_certificate(FP1.lower()) is None  # exact match
    await store.remove_client_certificate(FP1)
    assert await store.account_for_certificate(FP1) is None
    with pytest.raises(NotFound):
        await store.remove_client_certificate(FP1)
    assert await store.client_certificates(alice.id) == [plain]


async def test_delete_account_takes_app_passwords_and_certificates(store: SqlStore) -> None:
    alice = await store.create_account("alice@example.org")
    bob = await store.create_account("bob@example.org")
    await store.add_app_password(alice.id, "phone", "c")
    await store.add_client_certificate(alice.id, FP1)
    await store.add_app_password(bob.id, "phone", "c")
    await store.add_client_certificate(bob.id, FP2)
    await store.delete_account(alice.id)
    assert await store.app_passwords(alice.id) == []
    assert await store.client_certificates(alice.id) == []
    assert await store.account_for_certificate(FP1) is None
    assert await store.count("app_passwords") == 1 and await store.count("client_certificates") == 1
    assert await store.account_for_certificate(FP2) == bob  # bob's are untouched
    fresh = await store.create_account("carol@example.org")
    await store.add_client_certificate(fresh.id, FP1)  # free to register again
    with pytest.raises(NotFound):
        await store.delete_account(alice.id)


def bump(old: LoginCounter | None) -> LoginCounter:
    failures = old.failures + 1 if old else 1
    return LoginCounter(failures, failures, float(failures), blocked_until=failures * 10.0)


async def test_login_counters(store: SqlStore) -> None:
    assert await store.login_counter("ip:192.0.2.1") is None
    assert await store.login_counters() == []
    first = await store.update_login_counter("ip:192.0.2.1", bump)
    assert first == LoginCounter(1, 1, 1.0, 10.0)
    assert await store.update_login_counter("ip:192.0.2.1", bump) == LoginCounter(2, 2, 2.0, 20.0)
    assert await store.login_counter("ip:192.0.2.1") == LoginCounter(2, 2, 2.0, 20.0)
    await store.update_login_counter("account:bob@example.org", bump)
    await store.update_login_counter("account:alice@example.org", bump)
    keys = [key for key, _ in await store.login_counters()]
    assert keys == ["account:alice@example.org", "account:bob@example.org", "ip:192.0.2.1"]
    seen: list[LoginCounter | None] = []

    def clear(old: LoginCounter | None) -> None:
        seen.append(old)

    assert await store.update_login_counter("ip:192.0.2.1", clear) is None  # None deletes
    assert seen == [LoginCounter(2, 2, 2.0, 20.0)]
    assert await store.login_counter("ip:192.0.2.1") is None
    assert await store.update_login_counter("ip:192.0.2.9", clear) is None  # nothing made
    assert seen[-1] is None and await store.login_counter("ip:192.0.2.9") is None

    def broken(old: LoginCounter | None) -> LoginCounter:
        raise ValueError("bug in the caller")

    with pytest.raises(ValueError, match="bug"):
        await store.update_login_counter("account:bob@example.org", broken)
    assert await store.login_counter("account:bob@example.org") == LoginCounter(1, 1, 1.0, 10.0)
    assert await store.delete_login_counter("account:bob@example.org") is True
    assert await store.delete_login_counter("account:bob@example.org") is False
    assert [key for key, _ in await store.login_counters()] == ["account:alice@example.org"]


async def test_concurrent_counter_updates_lose_nothing(store: SqlStore) -> None:
    # The first twenty race to create the row; then each waits for the one before.
    keys = ["ip:198.51.100.7"] * 20 + ["ip:198.51.100.8"] * 5
    results = await asyncio.gather(*(store.update_login_counter(k, bump) for k in keys))
    assert sorted(r.failures for r in results if r is not None)[-1] == 20
    assert await store.login_counter("ip:198.51.100.7") == LoginCounter(20, 20, 20.0, 200.0)
    assert await store.login_counter("ip:198.51.100.8") == LoginCounter(5, 5, 5.0, 50.0)


def _v1_rows(name: str) -> Generator[Q, list[tuple[Any, ...]], int]:
    """An account as migration 1 knew it (no display name, enabled or credentials)."""
    rows = yield Q("INSERT INTO accounts (name, quota_bytes) VALUES (?, ?) RETURNING id", (name, 1000))
    return int(rows[0][0])


def _v1_messages(mailbox_id: int, account_id: int, contents: list[bytes]) -> Generator[Q, list[tuple[Any, ...]], None]:
    """Messages as migration 1 stored them: bytes and index rows, no structure."""
    for uid, content in enumerate(contents, 1):
        rows = yield Q("INSERT INTO blobs (size, refs) VALUES (?, 1) RETURNING id", (len(content),))
        blob_id = int(rows[0][0])
        yield Q("INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?, 0, ?)", (blob_id, content))
        yield Q("INSERT INTO messages (mailbox_id, uid, modseq, flags, internal_date, size, blob_id) "
                "VALUES (?, ?, 1, ' ', 0, ?, ?)", (mailbox_id, uid, len(content), blob_id))
    yield Q("UPDATE mailboxes SET uid_next = ?, highest_modseq = 1 WHERE id = ?", (len(contents) + 1, mailbox_id))
    yield Q("UPDATE accounts SET used_bytes = ?, messages = ? WHERE id = ?",
            (sum(map(len, contents)), len(contents), account_id))


def _v1_expunged(mailbox_id: int) -> Generator[Q, list[tuple[Any, ...]], None]:
    yield Q("INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
            many=[(mailbox_id, 90, 2), (mailbox_id, 91, 2)])


async def test_a_version_1_store_migrates_in_place(store_settings: StoreSettings, tmp_path: Path) -> None:
    old = await open_store(store_settings, tmp_path, lambda name: name, migrate=False)
    try:
        assert await old.migrate(upto=1) == [1]
        assert await old.schema_version() == 1
        account_id = await old._write(lambda ctx: _v1_rows("old@example.org"))
        inbox = await old._write(lambda ctx: mb.create_mailbox(account_id, INBOX, frozenset(), True))
        await old._write(lambda ctx: _v1_messages(inbox.id, account_id, [b"kept", b"also kept"]))
        await old._write(lambda ctx: _v1_expunged(inbox.id))
    finally:
        await old.close()
    new = await open_store(store_settings, tmp_path, lambda name: name)  # migrates on open
    try:
        assert await new.schema_version() == LATEST
        account = await new.find_account("old@example.org")
        assert account is not None
        assert (account.id, account.quota_bytes, account.display_name, account.enabled) == (
            account_id, 1000, "", True)
        assert await new.account_credentials(account_id) == ""
        assert [m.size for m in await new.messages(inbox.id)] == [4, 9]
        assert (await new.quota(account_id)).used_bytes == 13
        # migration 4: `store migrate` keeps the old messages' structure, the indexer their text
        assert await new.fill_structures() == 2
        blobs = [m.blob for m in await new.messages(inbox.id)]
        assert sorted(s.size for s in (await new.structures(blobs)).values()) == [4, 9]
        assert await new.index_text() == 2
        assert list((await new.changes_since(inbox.id, 0)).vanished) == [90, 91]
        # The expunged rows migration 1 left are counted: pruning sees them.
        new.expunged_keep = 1
        await new.expunge(inbox.id, deleted_only=False)
        assert await new.count("expunged") == 1
        await new.add_domain("example.org")
        assert await new.list_domains() != []
    finally:
        await new.close()
