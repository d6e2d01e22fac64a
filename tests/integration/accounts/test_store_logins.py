"""Logins against the store: SCRAM with an independent client, and throttling kept in the store."""

from __future__ import annotations

import base64

import argon2
import pytest
from scramp import ScramClient

from mailward.auth.accounts import AccountService, StoreCounters, StoreCredentials, fake_salt_key
from mailward.auth.passwords import needs_rehash, verify_password
from mailward.auth.sasl import (
    ConnectionFacts,
    Failure,
    FailureReason,
    SaslExchange,
    Success,
    create_mechanism,
)
from mailward.auth.sasl.steps import Challenge
from mailward.auth.throttle import Throttle
from mailward.config.auth import AuthSettings
from mailward.store.interface import Store

from .conftest import FAST

FACTS = ConnectionFacts("tls-only", True, None, None)


async def scram_login(store: Store, username: str, password: str, key: bytes | None = None) -> tuple[object, str]:
    client = ScramClient(["SCRAM-SHA-256"], username, password)
    mech = create_mechanism("SCRAM-SHA-256", FACTS, fake_salt_key=key)
    assert mech is not None
    exchange = SaslExchange(mech, StoreCredentials(store), hasher=FAST)
    first = await exchange.start(client.get_client_first().encode())
    assert isinstance(first, Challenge)
    client.set_server_first(first.data.decode())
    outcome = await exchange.respond(client.get_client_final().encode())
    if isinstance(outcome, Success):
        client.set_server_final(outcome.data.decode())  # the server proved it knows the keys
    return outcome, first.data.decode()


async def test_scram_against_scramp(service: AccountService) -> None:
    await service.add_domain("example.org")
    await service.add_user("alice@example.org", "pencil sharpener")
    outcome, _ = await scram_login(service.store, "alice@example.org", "pencil sharpener")
    assert isinstance(outcome, Success) and outcome.username == "alice@example.org"
    outcome, _ = await scram_login(service.store, "alice@example.org", "pencil")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.BAD_CREDENTIALS


async def test_unknown_users_get_a_stable_salt_from_the_master_key(service: AccountService) -> None:
    key = fake_salt_key(b"k" * 32)
    _, first_a = await scram_login(service.store, "ghost@example.org", "x", key)
    _, first_b = await scram_login(service.store, "ghost@example.org", "x", fake_salt_key(b"k" * 32))
    _, other_key = await scram_login(service.store, "ghost@example.org", "x", fake_salt_key(b"j" * 32))

    def salt(server_first: str) -> str:
        return dict(item.split("=", 1) for item in server_first.split(","))["s"]

    assert salt(first_a) == salt(first_b)  # as after a restart: the same as a real user's would be
    assert salt(first_a) != salt(other_key)
    assert len(base64.b64decode(salt(first_a))) == 16


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings() -> AuthSettings:
    return AuthSettings(delay_after=2, initial_delay=1.0, delay_factor=2.0, max_delay=4.0, ip_block_after=4,
                        account_block_after=6, block_duration=60.0, allowlist=())


async def test_throttle_counts_in_the_store_across_instances(store: Store, settings: AuthSettings) -> None:
    clock = Clock()
    one = Throttle(settings, StoreCounters(store), clock)
    two = Throttle(settings, StoreCounters(store), clock)  # another node on the same store
    assert (await one.record_failure("192.0.2.7", "alice")).delay == 0.0
    assert (await two.record_failure("192.0.2.7", "alice")).delay == 1.0
    assert (await one.record_failure("192.0.2.7", "alice")).delay == 2.0
    verdict = await two.record_failure("192.0.2.7", "alice")
    assert verdict.refused and verdict.retry_at == clock.now + 60.0
    assert [(b.kind, b.subject, b.failures) for b in await one.blocked()] == [("ip", "192.0.2.7", 4)]
    clock.now += 59.0
    assert (await two.check("192.0.2.7")).refused
    assert await one.unblock("192.0.2.7")
    assert not (await two.check("192.0.2.7")).refused
    # the account's count stays (an address with no failure of its own would wait 3 s at
    # most): and the nodes take the account's slots one after another
    await one.record_failure("192.0.2.8")
    await two.record_failure("192.0.2.9")
    assert (await two.check("192.0.2.8", "alice")).delay == 4.0
    queued = await one.check("192.0.2.9", "alice")  # the next slot is 8 s off: over max_delay
    assert queued.refused and queued.subject == "user:alice" and queued.retry_at == clock.now + 4.0
    clock.now += 3600.0
    assert await one.prune() == 3  # the account's count and the two other addresses'
    assert await StoreCounters(store).items() == []


async def test_old_hashes_are_replaced_after_a_login(store: Store) -> None:
    weak = AccountService(store, hasher=FAST)
    await weak.add_domain("example.org")
    await weak.add_user("alice@example.org", "pencil sharpener")
    lookup = StoreCredentials(store)
    stronger = argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    mech = create_mechanism("PLAIN", FACTS)
    assert mech is not None
    exchange = SaslExchange(mech, lookup, hasher=stronger)
    outcome = await exchange.start(b"\x00Alice@example.org\x00pencil sharpener")
    assert isinstance(outcome, Success) and exchange.rehashed is not None
    await lookup.save_rehash(outcome.username, exchange.rehashed)
    creds = await lookup.credentials("alice@example.org")
    assert creds is not None and not needs_rehash(creds, hasher=stronger)
    assert verify_password(creds, "pencil sharpener", hasher=stronger)
