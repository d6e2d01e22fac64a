"""Recipient resolution: users, aliases, catch-alls, and everything that must never relay."""

from __future__ import annotations

import pytest

from mailward.auth.accounts import AccountService
from mailward.delivery.recipients import Kind, Resolver


@pytest.fixture
async def resolver(service: AccountService) -> Resolver:
    await service.add_domain("example.org")
    await service.add_domain("example.net")
    await service.add_user("alice@example.org", "pw pw pw")
    await service.add_user("bob@example.org", "pw pw pw")
    await service.add_user("carol@example.net", "pw pw pw")
    await service.add_user("östen@example.org", "pw pw pw")
    await service.add_alias("team2@example.net", ["carol@example.net", "alice@example.org"])
    await service.add_alias("team@example.org", ["alice@example.org", "bob@example.org", "team2@example.net"])
    await service.add_alias("ext@example.org", ["friend@elsewhere.example"])
    await service.add_alias("@example.net", ["carol@example.net"])
    return Resolver(service.store)


async def names_of(resolver: Resolver, local: str, domain: str) -> tuple[Kind, list[str], tuple[str, ...]]:
    r = await resolver.resolve(local, domain)
    return r.kind, sorted(a.name for a in r.accounts), r.forward


async def test_users_and_case(resolver: Resolver) -> None:
    assert await names_of(resolver, "Alice", "EXAMPLE.org") == (Kind.LOCAL, ["alice@example.org"], ())
    assert await names_of(resolver, "ÖSTEN", "example.org") == (Kind.LOCAL, ["östen@example.org"], ())


async def test_aliases_expand_recursively_once_each(resolver: Resolver) -> None:
    kind, accounts, forward = await names_of(resolver, "team", "example.org")
    assert (kind, accounts, forward) == (
        Kind.LOCAL, ["alice@example.org", "bob@example.org", "carol@example.net"], ())
    assert await names_of(resolver, "ext", "example.org") == (Kind.LOCAL, [], ("friend@elsewhere.example",))


async def test_catch_all_only_where_set(resolver: Resolver) -> None:
    assert await names_of(resolver, "anything", "example.net") == (Kind.LOCAL, ["carol@example.net"], ())
    assert (await resolver.resolve("anything", "example.org")).kind is Kind.UNKNOWN


async def test_remote_and_routing_forms(resolver: Resolver) -> None:
    assert (await resolver.resolve("user", "remote.example")).kind is Kind.REMOTE
    assert (await resolver.resolve("alice", "example.org.remote.example")).kind is Kind.REMOTE
    # the percent hack and bang paths are refused even where a catch-all would take anything
    for local in ("user%remote.example", "remote.example!user", '"user@remote.example"'):
        assert (await resolver.resolve(local, "example.net")).kind is Kind.ROUTING
        assert (await resolver.resolve(local, "example.org")).kind is Kind.ROUTING


async def test_disabled(resolver: Resolver, service: AccountService) -> None:
    await service.set_enabled("bob@example.org", False)
    assert (await resolver.resolve("bob", "example.org")).kind is Kind.DISABLED
    # an alias still reaches its enabled members
    kind, accounts, _ = await names_of(resolver, "team", "example.org")
    assert kind is Kind.LOCAL and "bob@example.org" not in accounts


async def test_alias_loops_are_caught(service: AccountService) -> None:
    await service.add_domain("loop.example")
    await service.add_user("seed@loop.example", "pw pw pw")
    await service.add_alias("a@loop.example", ["seed@loop.example"])
    await service.add_alias("b@loop.example", ["a@loop.example"])
    await service.add_alias("a@loop.example", ["b@loop.example"])  # a -> b -> a: a cycle
    resolver = Resolver(service.store)
    assert await names_of(resolver, "a", "loop.example") == (Kind.LOCAL, ["seed@loop.example"], ())
    chain = ["seed@loop.example"]
    for i in range(12):  # a chain deeper than MAX_DEPTH
        await service.add_alias(f"c{i}@loop.example", [chain[-1]])
        chain.append(f"c{i}@loop.example")
    assert (await resolver.resolve("c11", "loop.example")).kind is Kind.LOOP


async def test_may_send_as(resolver: Resolver, service: AccountService) -> None:
    alice = await service.user("alice@example.org")
    assert await resolver.may_send_as(alice, "Alice@Example.org")
    assert await resolver.may_send_as(alice, "team@example.org")  # an alias that reaches her
    assert not await resolver.may_send_as(alice, "bob@example.org")
    assert await resolver.may_send_as(alice, "team2@example.net")  # team2 names her directly
    assert not await resolver.may_send_as(alice, "someone@example.net")  # a catch-all is no address of hers
    assert not await resolver.may_send_as(alice, "not an address")
