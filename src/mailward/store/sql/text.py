"""What IMAP needs of a message besides its bytes: its MIME structure and the text
SEARCH looks in.

The structure (:class:`mailward.mime.MessageStructure`, serialized) is written with
the bytes, in the same transaction (``blobs.structure``). The searchable text is
written after the commit, by the text indexer (a background job), so that delivery
does not wait for it: ``blobs.text_state`` says which messages it has yet to do, and
a search looks at a mailbox's pending messages itself before it runs (so a message
not yet indexed is still found).

The text is kept in ``blob_text``: ``headers`` one line per field of the top-level
header, ``name:value`` (RFC 2047 words decoded), and ``body`` the text of the text
parts (transfer encodings and charsets undone), both case-folded, so that a search
string, case-folded the same way, is matched as a substring without regard to case
(RFC 9051 6.4.4). Copies of a message share one blob, so they share both.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

from mailward.mime import MessageStructure, SearchText
from mailward.store.interface import BlobRef
from mailward.store.sql import schema
from mailward.store.sql.base import Op, Q


@dataclass(frozen=True)
class TextRow:
    """The searchable text of one blob."""

    blob_id: int
    headers: str
    body: str


def fold(text: str) -> str:
    """Text as it is indexed and searched: case-folded, without the NUL characters that
    PostgreSQL's text type refuses."""
    return text.casefold().replace("\0", "")


def text_row(blob_id: int, text: SearchText) -> TextRow:
    headers = "\n".join(f"{name.lower()}:{_one_line(value)}" for name, value in text.headers)
    return TextRow(blob_id, fold(headers), fold(text.body))


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def pending(limit: int, mailbox_id: int | None = None) -> Op[list[BlobRef]]:
    """Blobs of mailbox messages whose text is not indexed yet (of one mailbox, or any)."""
    if mailbox_id is None:
        rows = yield Q(f"SELECT id, size FROM blobs WHERE text_state = {schema.TEXT_PENDING} "  # noqa: S608
                       "ORDER BY id LIMIT ?", (limit,))
    else:
        rows = yield Q("SELECT DISTINCT b.id, b.size FROM messages m JOIN blobs b ON b.id = m.blob_id "  # noqa: S608
                       f"WHERE m.mailbox_id = ? AND b.text_state = {schema.TEXT_PENDING} "
                       "ORDER BY b.id LIMIT ?", (mailbox_id, limit))
    return [BlobRef(int(i), int(size)) for i, size in rows]


def save_text(rows: Sequence[TextRow]) -> Op[int]:
    """Write the text of blobs still pending; a blob that another indexer (another node)
    did first, or that is gone, is left alone. How many were written."""
    done = 0
    for row in rows:
        claimed = yield Q(f"UPDATE blobs SET text_state = {schema.TEXT_INDEXED} "  # noqa: S608
                          f"WHERE id = ? AND text_state = {schema.TEXT_PENDING} RETURNING id", (row.blob_id,))
        if not claimed:
            continue
        yield Q("INSERT INTO blob_text ({text_key}, headers, body) VALUES (?, ?, ?)",
                (row.blob_id, row.headers, row.body))
        done += 1
    return done


def structures(blob_ids: Sequence[int]) -> Op[dict[int, bytes | None]]:
    """The stored structure of each blob there is (None where it has none yet)."""
    out: dict[int, bytes | None] = {}
    for i in range(0, len(blob_ids), 500):
        batch = blob_ids[i:i + 500]
        rows = yield Q(f"SELECT id, structure FROM blobs WHERE id IN ({', '.join('?' * len(batch))})",  # noqa: S608
                       batch)
        out.update((int(i), None if s is None else bytes(s)) for i, s in rows)
    return out


def missing_structures(limit: int, after: int = 0) -> Op[list[BlobRef]]:
    """Mailbox messages' blobs stored before structures were kept, in id order after ``after``."""
    rows = yield Q("SELECT id, size FROM blobs WHERE structure IS NULL AND "  # noqa: S608
                   f"text_state <> {schema.TEXT_NONE} AND id > ? ORDER BY id LIMIT ?", (after, limit))
    return [BlobRef(int(i), int(size)) for i, size in rows]


def set_structures(items: Sequence[tuple[int, bytes]]) -> Op[None]:
    yield Q("UPDATE blobs SET structure = ? WHERE id = ?", many=[(data, blob_id) for blob_id, data in items])


def header_has(headers: str | None, name: str | None, needle: str | None) -> bool | None:
    """SQL ``mw_header_has(headers, name, needle)``: a line ``name:value`` of ``headers``
    has ``needle`` in its value (SQLite's connections register it; PostgreSQL has the
    same function in SQL, made by migration 4)."""
    if headers is None or name is None or needle is None:
        return None
    prefix = name + ":"
    return any(line.startswith(prefix) and needle in line[len(prefix):] for line in headers.split("\n"))


def decoded(data: bytes) -> MessageStructure:
    """The structure stored as ``data``, decoded once and kept for a while (the process's
    last STRUCTURE_CACHE): clients fetch the same ENVELOPEs and BODYSTRUCTUREs again and
    again. Keyed by the stored bytes themselves, so an entry can never stand for another
    message's structure. ValueError for bytes that are no structure of this version."""
    found = _DECODED.get(data)
    if found is None:
        found = _DECODED[data] = MessageStructure.from_bytes(data)
        if len(_DECODED) > STRUCTURE_CACHE:
            _DECODED.popitem(last=False)
    else:
        _DECODED.move_to_end(data)
    return found


STRUCTURE_CACHE = 2048
_DECODED: collections.OrderedDict[bytes, MessageStructure] = collections.OrderedDict()
