"""Throttling under a fake clock: exact delays, blocks, windows, allowlist, unblock."""

from __future__ import annotations

import dataclasses

import pytest

from mailward.auth.throttle import ALLOW, Blocked, MemoryBackend, Throttle, Verdict
from mailward.config.auth import AuthSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, **changes: object) -> Throttle:
    return Throttle(dataclasses.replace(AuthSettings(), **changes), MemoryBackend(), clock)  # type: ignore[arg-type]


IP = "192.0.2.7"


async def test_growing_delay_then_block(clock: Clock) -> None:
    # defaults: delay after 3, 1 s doubling up to 30 s, block after 10 for 900 s
    t = make(clock)
    delays = []
    for _ in range(9):
        allowed = await t.check(IP, "alice")
        assert allowed.action == "allow"
        clock.advance(allowed.delay)  # the attempt waits, then fails
        verdict = await t.record_failure(IP, "alice")
        delays.append(verdict.delay)
        clock.advance(1)
    assert delays == [0, 0, 1, 2, 4, 8, 16, 30, 30]
    verdict = await t.record_failure(IP, "alice")  # the 10th
    assert verdict == Verdict("refuse", retry_at=clock.now + 900, subject=f"ip:{IP}")
    assert (await t.check(IP, "bob")).refused  # the address is blocked, whoever it tries
    assert not (await t.check("198.51.100.1", "alice")).refused  # the account is not (30)
    clock.advance(899.999)
    assert (await t.check(IP)).refused
    clock.advance(0.001)
    assert await t.check(IP) == ALLOW  # block over: counting starts again


async def test_failures_during_a_block_do_not_extend_it(clock: Clock) -> None:
    t = make(clock, ip_block_after=2, block_duration=60.0)
    await t.record_failure(IP)
    await t.record_failure(IP)
    until = (await t.check(IP)).retry_at
    clock.advance(30)
    await t.record_failure(IP)
    assert (await t.check(IP)).retry_at == until


async def test_window_forgets(clock: Clock) -> None:
    t = make(clock, ip_window=100.0, account_window=200.0)
    for _ in range(5):
        await t.record_failure(IP, "alice")
    assert (await t.check(IP, "alice")).delay == 4
    clock.advance(99.9)
    assert (await t.check(IP)).delay == 4
    clock.advance(0.1)
    assert (await t.check(IP)).delay == 0  # address forgotten after 100 s
    await t.record_failure("203.0.113.9")  # another address, with a failure of its own
    assert (await t.check("203.0.113.9", "alice")).delay == 4  # account still counted
    clock.advance(100)
    assert (await t.check("203.0.113.9", "alice")).delay == 0


async def test_account_block_from_many_addresses(clock: Clock) -> None:
    t = make(clock, account_block_after=5, block_duration=600.0)
    for i in range(5):
        await t.record_failure(f"198.51.100.{i}", "Alice@Example.org")
    verdict = await t.check("198.51.100.0", "alice@example.org")  # one of the guessers
    assert verdict.refused and verdict.subject == "user:alice@example.org"
    assert verdict.retry_at == clock.now + 600
    # an address with no failures of its own (the owner, perhaps) is checked, after 3 s
    assert await t.check("203.0.113.1", "alice@example.org") == Verdict("allow", delay=3.0)
    assert sorted(await t.blocked(), key=lambda b: b.kind) == [
        Blocked("user", "alice@example.org", 5, clock.now + 600)]
    assert await t.unblock("alice@EXAMPLE.org")
    assert not (await t.check("198.51.100.0", "alice@example.org")).refused
    assert not await t.unblock("alice@example.org")


async def test_success_resets_account_and_streak_not_address_failures(clock: Clock) -> None:
    t = make(clock, ip_block_after=6)
    for _ in range(4):
        await t.record_failure(IP, "alice")
    assert (await t.check(IP, "alice")).delay == 2
    await t.record_success(IP, "alice")
    assert await t.check(IP, "alice") == ALLOW  # no delay for the user who got it right
    await t.record_failure(IP, "bob")
    assert (await t.record_failure(IP, "bob")).refused  # 6 failures from this address in all


async def test_allowlist(clock: Clock) -> None:
    t = make(clock, ip_block_after=1, account_block_after=1, allowlist=("10.0.0.0/8", "::1"))
    for ip in ("10.1.2.3", "::1", "::ffff:10.0.0.1"):
        for _ in range(5):
            await t.record_failure(ip, "alice")
        assert await t.check(ip, "alice") == ALLOW
    assert await t.blocked() == []
    await t.record_failure("192.0.2.98", "alice")  # from outside the account does get blocked
    assert (await t.check("10.1.2.3", "alice")) == ALLOW  # ...but not for the admin's network
    verdict = await t.check("192.0.2.98", "alice")
    assert verdict.refused  # its own block (ip_block_after = 1), and the account's


async def test_loopback_is_throttled_by_default(clock: Clock) -> None:
    t = make(clock, ip_block_after=1)
    for ip in ("127.0.0.1", "127.8.9.10", "::1"):
        await t.record_failure(ip)
        assert (await t.check(ip)).refused, ip


async def test_an_allowlisted_webmail_host(clock: Clock) -> None:
    t = make(clock, ip_block_after=1, allowlist=("127.0.0.1/32",))
    await t.record_failure("127.0.0.1", "alice")
    assert await t.check("127.0.0.1", "alice") == ALLOW
    await t.record_failure("127.0.0.2")
    assert (await t.check("127.0.0.2")).refused


OWNER_IP = "198.51.100.20"


async def test_a_known_address_skips_the_account_counter(clock: Clock) -> None:
    t = make(clock)
    await t.record_success(OWNER_IP, "alice")  # the owner logged in from here before
    for _ in range(40):  # an attacker elsewhere: the account is delayed, then blocked
        await t.record_failure(f"203.0.113.{_ % 4}", "Alice")
        clock.advance(1)
    await t.record_failure("192.0.2.99")  # an address with a failure of its own
    assert (await t.check("192.0.2.99", "alice")).refused  # the account block
    assert await t.check("192.0.2.100", "alice") == Verdict("allow", delay=3.0)  # a clean one: 3 s
    assert await t.check(OWNER_IP, "ALICE") == ALLOW  # the owner's address: no wait, no block
    assert await t.check(OWNER_IP, "bob") == ALLOW
    await t.record_success(OWNER_IP, "alice")  # the owner's login does not lift the block
    assert (await t.check("192.0.2.99", "alice")).refused
    # 10 each, and the account
    assert sorted(b.kind for b in await t.blocked()) == ["ip", "ip", "ip", "ip", "user"]


async def test_a_known_address_still_pays_for_its_own_failures(clock: Clock) -> None:
    t = make(clock, ip_block_after=5)
    await t.record_success(OWNER_IP, "alice")
    for _ in range(4):
        await t.record_failure(OWNER_IP, "alice")
    assert (await t.check(OWNER_IP, "alice")).delay == 2.0  # its own streak of 4
    await t.record_failure(OWNER_IP, "alice")
    assert (await t.check(OWNER_IP, "alice")).refused  # its own block


async def test_known_addresses_are_forgotten_after_the_ttl(clock: Clock) -> None:
    t = make(clock, known_address_ttl=3600.0, account_block_after=3, account_window=10 * 86400.0,
             block_duration=10 * 86400.0)
    await t.record_success(OWNER_IP, "alice")
    for n in range(3):
        await t.record_failure(f"203.0.113.{n}", "alice")
    assert await t.check(OWNER_IP, "alice") == ALLOW
    clock.advance(3600)
    # no longer known: a clean address, which waits for the blocked account, briefly
    assert await t.check(OWNER_IP, "alice") == Verdict("allow", delay=3.0)
    assert await t.prune() == 4  # the known record and the addresses' counts; the block stands
    assert len(await t.blocked()) == 1


async def test_known_addresses_can_be_turned_off(clock: Clock) -> None:
    t = make(clock, known_address_ttl=0.0, account_block_after=1)
    await t.record_success(OWNER_IP, "alice")
    await t.record_failure("203.0.113.1", "alice")
    assert await t.check(OWNER_IP, "alice") == Verdict("allow", delay=3.0)  # not known: a clean address
    assert [key for key, _ in await t.backend.items()] == ["ip:203.0.113.1", "user:alice"]  # nothing known


async def test_ipv6_counted_per_prefix(clock: Clock) -> None:
    t = make(clock, ip_block_after=3)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
        await t.record_failure(host)
    assert (await t.check("2001:db8:1:2::99")).refused
    assert not (await t.check("2001:db8:1:3::1")).refused
    assert [b.subject for b in await t.blocked()] == ["2001:db8:1:2::/64"]
    assert await t.unblock("2001:db8:1:2::77")  # any address in the network lifts it
    assert not (await t.check("2001:db8:1:2::99")).refused


async def test_ipv4_mapped_is_ipv4(clock: Clock) -> None:
    t = make(clock, ip_block_after=2)
    await t.record_failure("::ffff:192.0.2.7")
    await t.record_failure(IP)
    assert (await t.check("::ffff:192.0.2.7")).refused
    assert await t.unblock(IP)


async def test_blocked_and_unblock_addresses(clock: Clock) -> None:
    t = make(clock, ip_block_after=1, block_duration=10.0)
    await t.record_failure(IP)
    await t.record_failure("198.51.100.5")
    assert [b.subject for b in await t.blocked()] == ["192.0.2.7", "198.51.100.5"]
    assert await t.unblock("198.51.100.5")
    assert not await t.unblock("203.0.113.1")
    assert not await t.unblock("127.0.0.1")  # allowlisted: never counted
    clock.advance(10)
    assert await t.blocked() == []


def test_delay_for_custom_settings(clock: Clock) -> None:
    t = make(clock, delay_after=1, initial_delay=0.5, delay_factor=3.0, max_delay=10.0)
    assert [t.delay_for(n) for n in range(6)] == [0.0, 0.5, 1.5, 4.5, 10.0, 10.0]


async def test_prune(clock: Clock) -> None:
    backend = MemoryBackend()
    t = Throttle(dataclasses.replace(AuthSettings(), ip_block_after=2, block_duration=50.0), backend, clock)
    await t.record_failure("198.51.100.1", "alice")
    await t.record_failure(IP)
    await t.record_failure(IP)  # blocked for 50 s
    clock.advance(100)
    await t.record_failure("198.51.100.2")  # fresh
    assert await t.prune() == 1  # the block is over; the others are within their windows
    assert [k for k, _ in await backend.items()] == ["ip:198.51.100.1", "ip:198.51.100.2", "user:alice"]
    clock.advance(900)  # both addresses past ip_window (900 s); the account's is 3600 s
    assert await t.prune() == 2
    assert [k for k, _ in await backend.items()] == ["user:alice"]


ATTACKER = "203.0.113.66"


async def test_a_clean_address_waits_at_most_clean_address_max_wait(clock: Clock) -> None:
    # the issue-18 find: 10 wrong passwords from one address, and the owner, with the right
    # one from a clean address, waited for the account's delay (up to max_delay, 30 s)
    t = make(clock, ip_block_after=100)
    for _ in range(12):
        await t.record_failure(ATTACKER, "alice")
    assert t.delay_for(12) == 30.0
    assert await t.check("198.51.100.1", "alice") == Verdict("allow", delay=3.0)
    t = make(clock, ip_block_after=100, clean_address_max_wait=1.0)
    for _ in range(12):
        await t.record_failure(ATTACKER, "alice")
    assert await t.check("198.51.100.1", "alice") == Verdict("allow", delay=1.0)


async def test_a_clean_address_is_checked_during_the_account_block(clock: Clock) -> None:
    t = make(clock, account_block_after=5, ip_block_after=100)
    for _ in range(5):
        await t.record_failure(ATTACKER, "alice")
    assert (await t.check(ATTACKER, "alice")).refused
    assert await t.check("198.51.100.1", "alice") == Verdict("allow", delay=3.0)
    # its first failure makes it count as the attackers do: refused from then on
    await t.record_failure("198.51.100.1", "alice")
    assert (await t.check("198.51.100.1", "alice")).refused


async def test_guesses_from_many_addresses_are_checked_one_after_another(clock: Clock) -> None:
    t = make(clock, ip_block_after=100)
    for _ in range(5):
        await t.record_failure(ATTACKER, "alice")
    assert t.delay_for(5) == 4.0  # the account's delay: one checked guess per 4 s
    guessers = [f"192.0.2.{n}" for n in range(10)]
    for ip in guessers:
        await t.record_failure(ip, "mallory")  # each with a failure of its own elsewhere
    verdicts = [await t.check(ip, "alice") for ip in guessers]  # all at the same moment
    assert [v.delay for v in verdicts if not v.refused] == [4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]
    assert all(v.refused and v.subject == "user:alice" for v in verdicts[7:])  # over max_delay
    # one address alone gets no more: the slots are the account's, not the address's
    clock.advance(28.0)
    assert (await t.check(ATTACKER, "alice")).delay == 4.0
    # and the owner, from a clean address, waits 3 s at most, whatever is queued
    assert await t.check("198.51.100.1", "alice") == Verdict("allow", delay=3.0)
