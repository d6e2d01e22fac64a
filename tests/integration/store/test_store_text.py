"""Message structure kept with the bytes, and header, body and text search (both backends)."""

from __future__ import annotations

import base64

import pytest

from mailward.mime import parse
from mailward.store.interface import INBOX, NewMessage
from mailward.store.search import (
    All,
    AnyOf,
    BodyContains,
    Criterion,
    HasFlag,
    HeaderContains,
    Not,
    TextContains,
)
from mailward.store.sql.base import Q
from mailward.store.sql.store import SqlStore
from mailward.store.uidset import UidSet

PLAIN = (b"From: Alice Example <alice@example.org>\r\n"
         b"To: bob@example.net, \"Carol C.\" <carol@example.net>\r\n"
         b"Subject: Quarterly report 50% done [draft]\r\n"
         b"X-Project: Apollo\r\n"
         b"\r\n"
         b"The numbers are in. Wildcards * and ? and _ stay literal.\r\n")

ENCODED = (b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\r\n"
           b"To: alice@example.org\r\n"
           b"Subject: =?iso-8859-1?q?=C4rger_mit_dem_Zug?=\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n"
           b"\r\n"
           b"Gr=FC=DFe aus K=F6ln, die Stra=DFe ist gesperrt.\r\n")

_RUSSIAN = "Привет, это секретный отчёт о проекте Зевс"  # noqa: RUF001
_B64 = base64.encodebytes(_RUSSIAN.encode()).replace(b"\n", b"\r\n")
MULTIPART = (b"From: Dmitri <dmitri@example.ru>\r\n"
             b"To: alice@example.org\r\n"
             b"Subject: files\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
             b"\r\n"
             b"preamble text never searched\r\n"
             b"--XYZ\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"\r\n" + _B64 +
             b"--XYZ\r\n"
             b"Content-Type: text/html; charset=utf-8\r\n"
             b"\r\n"
             b"<html><body><p>Meeting at <b>noon</b></p></body></html>\r\n"
             b"--XYZ\r\n"
             b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"\r\n"
             b"aGlkZGVuIGJpbmFyeSB0ZXh0\r\n"  # "hidden binary text": not a text part
             b"--XYZ--\r\n")

CORPUS = (PLAIN, ENCODED, MULTIPART)


async def inbox_with(store: SqlStore, name: str, messages: tuple[bytes, ...] = CORPUS) -> int:
    account = await store.create_account(name)
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    await store.append(box.id, [NewMessage(m) for m in messages])
    return box.id


async def uids(store: SqlStore, mailbox_id: int, criterion: Criterion) -> list[int]:
    return list((await store.search(mailbox_id, criterion)).uids)


async def test_structure_is_kept_with_the_bytes_and_shared_by_copies(store: SqlStore) -> None:
    box = await inbox_with(store, "s@example.org")
    infos = await store.messages(box)
    kept = await store.structures([m.blob for m in infos])
    assert [kept[m.blob.id] for m in infos] == [parse(m) for m in CORPUS]
    assert kept[infos[2].blob.id].root.media_type == "multipart"

    other = await store.create_mailbox((await store.mailbox(box)).account_id, "Other")
    await store.copy(box, UidSet.of([3]), other.id)
    copied = (await store.messages(other.id))[0]
    assert copied.blob == infos[2].blob
    assert (await store.structures([copied.blob]))[copied.blob.id] == parse(MULTIPART)


async def test_structures_leave_out_what_is_gone(store: SqlStore) -> None:
    box = await inbox_with(store, "g@example.org")
    infos = await store.messages(box)
    await store.expunge(box, UidSet.of([1]), deleted_only=False)
    kept = await store.structures([m.blob for m in infos])
    assert sorted(kept) == sorted(m.blob.id for m in infos[1:])


async def test_a_structured_message_streamed_in_is_parsed_as_it_streams(store: SqlStore) -> None:
    account = await store.create_account("st@example.org")
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None

    async def chunks() -> object:
        for i in range(0, len(MULTIPART), 7):
            yield MULTIPART[i:i + 7]

    (added,) = await store.deliver([box.id], NewMessage(chunks()))  # type: ignore[arg-type]
    assert (await store.structures([added.blob]))[added.blob.id] == parse(MULTIPART)


async def _forget_structures(store: SqlStore) -> None:
    def op(ctx: object) -> object:
        yield Q("UPDATE blobs SET structure = NULL")

    await store._write(op)  # type: ignore[arg-type]


async def test_messages_stored_without_a_structure_get_one(store: SqlStore) -> None:
    """As after migration 4 on a store with older mail: `store migrate` fills them in,
    and a read that needs one before that parses and keeps it."""
    box = await inbox_with(store, "old@example.org")
    infos = await store.messages(box)
    await _forget_structures(store)
    assert (await store.structures([infos[0].blob]))[infos[0].blob.id] == parse(PLAIN)
    assert await store.fill_structures(batch=1) == 2  # the one just parsed was kept
    assert await store.fill_structures() == 0
    await _forget_structures(store)
    seen: list[int] = []
    assert await store.fill_structures(batch=2, progress=seen.append) == 3
    assert seen == [2, 3]
    kept = await store.structures([m.blob for m in infos])
    assert [kept[m.blob.id] for m in infos] == [parse(m) for m in CORPUS]


async def test_queue_bytes_are_never_indexed(store: SqlStore) -> None:
    from mailward.store.interface import Envelope

    await store.enqueue(Envelope("a@example.org", ("b@example.net",)), PLAIN)
    assert await store.index_text() == 0


async def test_the_indexer_does_each_message_once(store: SqlStore) -> None:
    await inbox_with(store, "i@example.org")
    assert await store.index_text(limit=2) == 2
    assert await store.index_text(limit=2) == 1
    assert await store.index_text() == 0


@pytest.mark.parametrize(("criterion", "expected"), [
    # header fields, RFC 2047 words decoded, any case
    (HeaderContains("subject", "quarterly"), [1]),
    (HeaderContains("SUBJECT", "ÄRGER"), [2]),
    (HeaderContains("from", "jürgen müller"), [2]),
    (HeaderContains("from", "alice"), [1]),
    (HeaderContains("to", "alice"), [2, 3]),
    (HeaderContains("to", "carol c."), [1]),
    (HeaderContains("x-project", "pol"), [1]),
    (HeaderContains("x-project", ""), [1]),  # the field is there
    (HeaderContains("x-missing", ""), []),
    (HeaderContains("subject", "50%"), [1]),  # wildcard characters are themselves
    (HeaderContains("subject", "[draft]"), [1]),
    (HeaderContains("subject", "5_"), []),
    (HeaderContains("subject", "q"), [1]),  # short strings (no trigram) too
    (HeaderContains("to", "bob@example.org"), []),
    # a value in another field does not match
    (HeaderContains("subject", "alice"), []),
    # bodies: transfer encodings and charsets undone, HTML without its tags
    (BodyContains("straße"), [2]),
    (BodyContains("STRASSE"), [2]),  # case folding: ß and SS
    (BodyContains("köln"), [2]),
    (BodyContains("секретный отчёт"), [3]),
    (BodyContains("meeting at noon"), [3]),
    (BodyContains("<b>"), []),
    (BodyContains("hidden binary"), []),
    (BodyContains("preamble"), []),
    (BodyContains("* and ?"), [1]),
    (BodyContains("_"), [1]),
    (BodyContains("quarterly"), []),  # the subject is not the body
    (BodyContains(""), [1, 2, 3]),
    # TEXT: header or body
    (TextContains("quarterly"), [1]),
    (TextContains("зевс"), [3]),
    (TextContains("x-project"), [1]),  # field names are part of the header
    (TextContains("nowhere at all"), []),
    # with the other criteria
    (Not(BodyContains("noon")), [1, 2]),
    (AnyOf((HeaderContains("subject", "files"), BodyContains("numbers"))), [1, 3]),
    (All((TextContains("alice"), Not(HasFlag("\\Seen")))), [1, 2, 3]),
])
async def test_text_criteria(store: SqlStore, criterion: Criterion, expected: list[int]) -> None:
    box = await inbox_with(store, "t@example.org")
    assert await uids(store, box, criterion) == expected


async def test_a_message_the_indexer_has_not_reached_is_found(store: SqlStore) -> None:
    box = await inbox_with(store, "p@example.org", (PLAIN,))
    assert await uids(store, box, BodyContains("numbers")) == [1]
    await store.append(box, [NewMessage(ENCODED)])  # no indexer pass in between
    assert await uids(store, box, BodyContains("köln")) == [2]
    assert await store.index_text() == 0  # the search did them


async def test_expunged_text_goes_with_the_bytes(store: SqlStore) -> None:
    box = await inbox_with(store, "e@example.org")
    await store.index_text()
    await store.expunge(box, UidSet.of([1, 2, 3]), deleted_only=False)
    rows = await store._read(_count_text)  # type: ignore[arg-type]
    assert rows == 0


def _count_text() -> object:
    rows = yield Q("SELECT count(*) FROM blob_text")
    return int(rows[0][0])


async def test_every_way_in_keeps_the_structure_at_once(store: SqlStore) -> None:
    """append, deliver and import write the structure in the same transaction as the
    bytes: none is left for `store migrate` to fill in."""
    box = await inbox_with(store, "w@example.org", (PLAIN,))
    await store.deliver([box], NewMessage(ENCODED))
    await store.import_messages(box, [(("cd" * 32, 0), NewMessage(MULTIPART))])
    assert await store.fill_structures() == 0
