"""Moving a store between backends keeps every UIDVALIDITY, UID and MODSEQ."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mailward.cli import store_cmd
from mailward.config.store import StoreSettings
from mailward.store.factory import open_store
from mailward.store.interface import INBOX, Envelope, FlagOp, LoginCounter, NewMessage, StoreError
from mailward.store.search import BodyContains
from mailward.store.sql.store import SqlStore
from mailward.store.transfer import copy_store
from mailward.store.uidset import UidSet
from support.postgres import PostgresServer


async def fill(store: SqlStore) -> None:
    for name in ("a@example.org", "b@example.org"):
        account = await store.create_account(name, quota_bytes=10_000_000, display_name=name[0].upper(),
                                              credentials=f"creds-{name}")
        inbox = await store.get_mailbox(account.id, INBOX)
        assert inbox is not None
        sent = await store.create_mailbox(account.id, "Sent", special_use=frozenset({"\\Sent"}))
        await store.append(inbox.id, [NewMessage(b"msg %d\r\n" % i * 50) for i in range(12)])
        await store.append(sent.id, [NewMessage(bytes(300_000))])  # two blob chunks
        await store.store_flags(inbox.id, UidSet.of([2, 3, 5]), FlagOp.ADD, frozenset({"\\Deleted"}))
        await store.expunge(inbox.id)
        await store.copy(inbox.id, UidSet.of([1, 4]), sent.id)
        await store.import_messages(sent.id, [(("ab" * 32, 0), NewMessage(b"imported\r\n"))])
        await store.add_app_password(account.id, "phone", f"app-{name}")
        await store.add_client_certificate(account.id, f"AA:{name}", "laptop")
    await store.update_account(1, enabled=False)
    await store.enqueue(Envelope("a@example.org", ("x@remote.example",)), b"queued")
    await store.add_domain("example.org")
    await store.add_alias("sales@example.org", "a@example.org")
    await store.add_alias("sales@example.org", "b@example.org")
    await store.update_login_counter("ip:192.0.2.1", lambda old: LoginCounter(3, 2, 1.5, 99.0))


async def snapshot(store: SqlStore) -> list[object]:
    out: list[object] = []
    for account in await store.list_accounts():
        out.append((account, await store.quota(account.id), await store.account_credentials(account.id)))
        out.append((await store.app_passwords(account.id), await store.client_certificates(account.id)))
        for box in await store.list_mailboxes(account.id):
            out.append(box)
            out.append(await store.changes_since(box.id, 0))
            out.append(await store.imported(box.id))
            messages = await store.messages(box.id)
            for m in messages:
                out.append(b"".join([c async for c in store.read(m.blob)]))
            structures = await store.structures([m.blob for m in messages])
            out.append([structures[m.blob.id] for m in messages])
            # the text is indexed anew in the target; a search finds the same
            out.append(list((await store.search(box.id, BodyContains("msg 7"))).uids))
    # and only mailbox messages get indexed, not the queue's bytes
    assert await store.index_text() == 0
    for entry in await store.queue_entries():
        out.append((entry.envelope, entry.status, b"".join([c async for c in store.read(entry.blob)])))
    out += [await store.list_domains(), await store.list_aliases(), await store.login_counters()]
    return out


async def test_sqlite_to_postgres_and_back(pg_server: PostgresServer, tmp_path: Path) -> None:
    pg = StoreSettings(backend="postgres", postgres=await pg_server.create_database())
    source = await open_store(StoreSettings(), tmp_path / "one")
    middle = await open_store(pg, tmp_path)
    back = await open_store(StoreSettings(), tmp_path / "two")
    try:
        await fill(source)
        seen: list[tuple[str, int, int]] = []
        report = await copy_store(source, middle, lambda t, d, n: seen.append((t, d, n)))
        assert report.rows["accounts"] == 2 and report.rows["messages"] == 2 * (12 - 3 + 2 + 1 + 1)
        assert [report.rows[t] for t in ("domains", "aliases", "app_passwords", "client_certificates",
                                         "login_counters", "imported")] == [1, 2, 2, 2, 1, 2]
        assert seen[-1][1] == seen[-1][2]
        await copy_store(middle, back)
        expected = await snapshot(source)
        assert await snapshot(middle) == expected
        assert await snapshot(back) == expected
        # Work continues where the source left off: ids, UIDs and UIDVALIDITY move on.
        for store in (source, middle):
            account = await store.find_account("b@example.org")
            assert account is not None
            inbox = await store.get_mailbox(account.id, INBOX)
            assert inbox is not None
            added = await store.append(inbox.id, [NewMessage(b"after")])
            assert added[0].uid == 13
            fresh = await store.create_account("c@example.org")
            assert fresh.id == 3
            phone = await store.add_app_password(fresh.id, "phone", "x")
            assert phone.id == 3  # identity columns of the new tables move on too
            assert (await store.add_domain("example.net")).id == 2
        with pytest.raises(StoreError, match="not empty"):
            await copy_store(source, middle)
    finally:
        for s in (source, middle, back):
            await s.close()


def _config(directory: Path) -> Path:
    directory.mkdir()
    path = directory / "mailward.toml"
    path.write_text(f'data_dir = "{directory / "data"}"\n')
    return path


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    store_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


async def test_cli_migrate_and_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    one, two = _config(tmp_path / "one"), _config(tmp_path / "two")
    assert await asyncio.to_thread(_run, ["store", "migrate", "-c", str(one)]) == 0
    assert "applied migration(s) 1" in capsys.readouterr().out
    assert await asyncio.to_thread(_run, ["store", "migrate", "-c", str(one)]) == 0
    assert "up to date" in capsys.readouterr().out
    store = await open_store(StoreSettings(), tmp_path / "one" / "data")
    await fill(store)
    expected = await snapshot(store)
    await store.close()
    assert await asyncio.to_thread(_run, ["store", "copy", "-c", str(one), "--to", str(two)]) == 0
    assert "copied 2 account(s)" in capsys.readouterr().out
    copied = await open_store(StoreSettings(), tmp_path / "two" / "data")
    try:
        assert await snapshot(copied) == expected
    finally:
        await copied.close()
    assert await asyncio.to_thread(_run, ["store", "copy", "-c", str(one), "--to", str(two)]) == 1
    assert "not empty" in capsys.readouterr().err
