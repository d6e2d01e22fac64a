"""The account service against a real store: what the CLI and the console call."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mailward.auth.accounts import AccountService, ServiceError, StoreCredentials
from mailward.auth.passwords import verify_password
from mailward.store.interface import INBOX, Store
from mailward.tls import certs
from support.pki import TestCA

from .conftest import FAST


async def test_domains(service: AccountService) -> None:
    assert (await service.add_domain("Example.ORG")).name == "example.org"
    await service.add_domain("bücher.example")
    assert [d.name for d in await service.list_domains()] == ["example.org", "xn--bcher-kva.example"]
    with pytest.raises(ServiceError, match="exists already"):
        await service.add_domain("example.org.")
    with pytest.raises(ServiceError, match="not a domain name"):
        await service.add_domain("localhost")
    await service.remove_domain("xn--bcher-kva.example")
    with pytest.raises(ServiceError, match="no domain"):
        await service.remove_domain("xn--bcher-kva.example")


async def test_domain_with_users_is_not_removed(service: AccountService) -> None:
    await service.add_domain("example.org")
    await service.add_user("alice@example.org", "pw one two")
    await service.add_alias("info@example.org", ["alice@example.org"])
    with pytest.raises(ServiceError, match=r"1 user\(s\) and 1 alias\(es\).*alice@example.org"):
        await service.remove_domain("example.org")


async def test_add_user(service: AccountService, store: Store) -> None:
    with pytest.raises(ServiceError, match=r"mailward domain add example\.org"):
        await service.add_user("alice@example.org", "correct horse")
    await service.add_domain("example.org")
    account = await service.add_user("Alice@Example.org", "correct horse", display_name="Alice A.",
                                     quota_bytes=1 << 20)
    assert (account.name, account.display_name, account.quota_bytes, account.enabled) == (
        "alice@example.org", "Alice A.", 1 << 20, True)
    boxes = {b.name: b.special_use for b in await store.list_mailboxes(account.id)}
    assert boxes == {INBOX: frozenset(), "Drafts": {"\\Drafts"}, "Sent": {"\\Sent"},
                     "Archive": {"\\Archive"}, "Junk": {"\\Junk"}, "Trash": {"\\Trash"}}
    with pytest.raises(ServiceError, match="exists already"):
        await service.add_user("alice@EXAMPLE.org", "x y z")
    with pytest.raises(ServiceError, match="empty"):
        await service.add_user("bob@example.org", "")
    # no plaintext anywhere: the stored text is an argon2 hash and SCRAM keys
    stored = await store.account_credentials(account.id)
    assert "correct horse" not in stored and stored.startswith("$argon2id$")


async def test_passwords_and_disable(service: AccountService) -> None:
    await service.add_domain("example.org")
    await service.add_user("alice@example.org", "first password")
    lookup = StoreCredentials(service.store)
    creds = await lookup.credentials("ALICE@example.org")
    assert creds is not None and verify_password(creds, "first password", hasher=FAST)
    await service.set_password("alice@example.org", "second password")
    creds = await lookup.credentials("alice@example.org")
    assert creds is not None and verify_password(creds, "second password", hasher=FAST)
    assert not verify_password(creds, "first password", hasher=FAST)
    await service.set_enabled("alice@example.org", False)
    assert await lookup.credentials("alice@example.org") is None  # disabled: no login
    await service.set_enabled("alice@example.org", True)
    assert await lookup.credentials("alice@example.org") is not None
    assert await lookup.credentials("nobody@example.org") is None
    assert await lookup.credentials("not an address") is None
    await service.add_user("certonly@example.org", None)
    assert await lookup.credentials("certonly@example.org") is None


async def test_app_passwords(service: AccountService) -> None:
    await service.add_domain("example.org")
    await service.add_user("alice@example.org", "main password")
    phone = await service.add_app_password("alice@example.org", "phone")
    laptop = await service.add_app_password("alice@example.org", "laptop")
    assert phone != laptop and len(phone) == 19 and phone.count("-") == 3
    lookup = StoreCredentials(service.store)
    assert await lookup.check_app_password("alice@example.org", phone) == "phone"
    assert await lookup.check_app_password("Alice@Example.org", laptop) == "laptop"
    assert await lookup.check_app_password("alice@example.org", "main password") is None
    with pytest.raises(ServiceError, match="labelled 'phone' already"):
        await service.add_app_password("alice@example.org", "phone")
    assert [a.label for a in await service.list_app_passwords("alice@example.org")] == ["phone", "laptop"]
    assert all(phone not in a.credentials for a in await service.list_app_passwords("alice@example.org"))
    await service.revoke_app_password("alice@example.org", "phone")
    assert await lookup.check_app_password("alice@example.org", phone) is None
    with pytest.raises(ServiceError, match="no app password labelled 'phone'"):
        await service.revoke_app_password("alice@example.org", "phone")
    await service.set_enabled("alice@example.org", False)
    assert await lookup.check_app_password("alice@example.org", laptop) is None


async def test_certificates(service: AccountService, tmp_path: Path) -> None:
    await service.add_domain("example.org")
    await service.add_user("alice@example.org", None)
    await service.add_user("bob@example.org", None)
    issued = TestCA(tmp_path / "pki").issue("alice", ("alice.example.org",), client=True)
    pem = issued.cert_path.read_text()
    cert = await service.add_certificate("alice@example.org", pem, "laptop")
    # the fingerprint the TLS layer hands the session for this certificate
    assert cert.fingerprint == certs.fingerprint(issued.cert.public_bytes(Encoding.DER))
    lookup = StoreCredentials(service.store)
    assert await lookup.account_for_certificate(cert.fingerprint) == "alice@example.org"
    assert await lookup.account_for_certificate(cert.fingerprint.replace(":", "").lower()) == "alice@example.org"
    with pytest.raises(ServiceError, match=r"registered already.*alice@example\.org"):
        await service.add_certificate("bob@example.org", cert.fingerprint.lower())
    assert [c.label for c in await service.list_certificates("alice@example.org")] == ["laptop"]
    await service.set_enabled("alice@example.org", False)
    assert await lookup.account_for_certificate(cert.fingerprint) is None
    await service.remove_certificate(cert.fingerprint)
    with pytest.raises(ServiceError, match="not registered"):
        await service.remove_certificate(cert.fingerprint)
    with pytest.raises(ServiceError, match="PEM"):
        await service.add_certificate("bob@example.org", "-----BEGIN CERTIFICATE-----\nnonsense\n")


async def test_aliases(service: AccountService) -> None:
    await service.add_domain("example.org")
    await service.add_user("alice@example.org", "pw pw pw")
    await service.add_user("bob@example.org", "pw pw pw")
    entry = await service.add_alias("Team@example.org", ["alice@example.org", "Bob@Example.org"])
    assert entry.targets == ("alice@example.org", "bob@example.org")
    await service.add_alias("team@example.org", ["friend@elsewhere.example"])  # outside targets are fine
    await service.add_alias("@example.org", ["alice@example.org"])
    with pytest.raises(ServiceError, match="is a user"):
        await service.add_alias("alice@example.org", ["bob@example.org"])
    with pytest.raises(ServiceError, match="no user or alias"):
        await service.add_alias("x@example.org", ["ghost@example.org"])
    with pytest.raises(ServiceError, match="not a local domain"):
        await service.add_alias("x@other.example", ["alice@example.org"])
    with pytest.raises(ServiceError, match="alias: remove it first"):
        await service.add_user("team@example.org", "pw pw pw")
    listed = {e.address: e.targets for e in await service.list_aliases()}
    assert listed == {"@example.org": ("alice@example.org",),
                      "team@example.org": ("alice@example.org", "bob@example.org", "friend@elsewhere.example")}
    assert await service.remove_alias("team@example.org", "friend@elsewhere.example") == 1
    assert await service.remove_alias("team@example.org") == 2
    with pytest.raises(ServiceError, match="no alias"):
        await service.remove_alias("team@example.org")


async def test_remove_user_takes_mail_and_alias_rows(service: AccountService, store: Store) -> None:
    from mailward.store.interface import NewMessage

    await service.add_domain("example.org")
    alice = await service.add_user("alice@example.org", "pw pw pw")
    await service.add_user("bob@example.org", "pw pw pw")
    await service.add_alias("team@example.org", ["alice@example.org", "bob@example.org"])
    inbox = await store.get_mailbox(alice.id, INBOX)
    assert inbox is not None
    await store.append(inbox.id, [NewMessage(b"Subject: hi\r\n\r\nhello\r\n")])
    assert await service.remove_user("alice@example.org") == 1
    assert await store.find_account("alice@example.org") is None
    assert {e.address: e.targets for e in await service.list_aliases()} == {"team@example.org": ("bob@example.org",)}
    with pytest.raises(ServiceError, match=r"no user alice@example\.org"):
        await service.remove_user("alice@example.org")
