"""Several sessions on one mailbox, and IDLE across two nodes on one PostgreSQL database."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.config.store import StoreSettings
from support.imap import ImapEnv, message
from support.postgres import PostgresServer, postgres_cluster

ALICE = "alice@example.org"


def ok(result: tuple[str, list[object]]) -> list[object]:
    status, data = result
    assert status == "OK", (status, data)
    return data


def uids(data: list[object]) -> list[int]:
    return [int(m.group(1)) for d in data if isinstance(d, bytes) and (m := re.search(rb"UID (\d+)", d))]


def test_three_sessions_see_each_others_changes_when_the_rfc_allows(env: ImapEnv) -> None:
    for n in range(4):
        env.deliver(ALICE, message(f"m{n}"))
    reader, flagger, expunger = env.login(), env.login(), env.login()
    try:
        for client in (reader, flagger, expunger):
            ok(client.select("INBOX"))
        ok(flagger.store("1", "+FLAGS", "(\\Flagged)"))
        ok(expunger.store("3", "+FLAGS", "(\\Deleted)"))
        ok(expunger.expunge())
        env.deliver(ALICE, message("m4"))
        # a FETCH by number: the flag change and the new message, no EXPUNGE
        data = ok(reader.fetch("1:4", "(UID FLAGS)"))
        # 3 is gone from the store but keeps its number; 1's new flags come as a FETCH too
        assert sorted(set(uids(data))) == [1, 2, 4]
        assert "EXPUNGE" not in reader.untagged_responses
        assert reader.untagged_responses.pop("EXISTS")[-1] == b"5"
        assert any(b"\\Flagged" in d for d in data if isinstance(d, bytes))
        # NOOP: now the expunge, highest number first; numbers move down
        ok(reader.noop())
        assert reader.untagged_responses.pop("EXPUNGE") == [b"3"]
        assert uids(ok(reader.fetch("1:*", "(UID)"))) == [1, 2, 4, 5]
        # the others converge too
        for client in (flagger, expunger):
            ok(client.noop())
            assert uids(ok(client.fetch("1:*", "(UID)"))) == [1, 2, 4, 5]
        # a UID FETCH may be told of an expunge at once (RFC 9051 7.5.1)
        ok(expunger.store("1", "+FLAGS", "(\\Deleted)"))
        ok(expunger.expunge())
        ok(reader.uid("FETCH", "1:*", "(FLAGS)"))
        assert reader.untagged_responses.pop("EXPUNGE") == [b"1"]
    finally:
        for client in (reader, flagger, expunger):
            client.logout()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    with postgres_cluster() as server:
        yield server


async def test_idle_on_one_node_hears_of_mail_delivered_on_another(pg_server: PostgresServer,
                                                                 tmp_path: Path) -> None:
    settings = StoreSettings(backend="postgres", postgres=await pg_server.create_database())
    node_a = ImapEnv(tmp_path / "a", store=settings)
    node_b = ImapEnv(tmp_path / "b", store=settings, seed=False)
    node_a.start()
    try:
        node_b.start()
        try:
            client = node_a.login()
            ok(client.select("INBOX"))
            tag = client._new_tag()
            client.send(tag + b" IDLE\r\n")
            assert client.readline().startswith(b"+ ")
            started = time.monotonic()
            node_b.deliver(ALICE, message("from node b"))  # through node B's SMTP listener
            assert client.readline() == b"* 1 EXISTS\r\n"
            assert time.monotonic() - started < 2.0  # LISTEN/NOTIFY, not the backstop's 5 s
            client.send(b"DONE\r\n")
            while not client.readline().startswith(tag):
                pass
            client.logout()
        finally:
            node_b.stop()
    finally:
        node_a.stop()
