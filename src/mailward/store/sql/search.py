"""Criteria of :mod:`mailward.store.search` as one SQL statement over ``messages``."""

from __future__ import annotations

import json
from typing import Any

from mailward.store.search import (
    All,
    AnyOf,
    BodyContains,
    Criterion,
    Everything,
    HasFlag,
    HeaderContains,
    InternalDate,
    ModSeqAtLeast,
    Not,
    SearchResult,
    Size,
    TextContains,
    Uids,
)
from mailward.store.sql.base import Op, Q
from mailward.store.sql.text import fold

_INLINE_RANGES = 32  # a UID set of more ranges goes as one JSON parameter
_TRIGRAM = 3  # a search string this long or longer is looked up in the trigram index


def where(criterion: Criterion, params: list[Any]) -> str:
    """A condition on ``m`` (a messages row) for ``criterion``; its parameters appended."""
    match criterion:
        case Everything():
            return "TRUE"
        case HasFlag(flag, present):
            # flags are stored framed by spaces (sql.base.flags_text): match a whole one
            params.append(f" {flag.lower()} ")
            return f"{{instr}}(lower(m.flags), ?) {'>' if present else '='} 0"
        case InternalDate(since, before):
            return _range("m.internal_date", since, before, params)
        case Size(larger, smaller):
            terms = []
            if larger is not None:
                terms.append("m.size > ?")
                params.append(larger)
            if smaller is not None:
                terms.append("m.size < ?")
                params.append(smaller)
            return " AND ".join(terms) or "TRUE"
        case Uids(uids):
            if len(uids.ranges) > _INLINE_RANGES:
                params.append(json.dumps(uids.ranges))
                return "{in_ranges:m.uid}"
            sql, values = uids.sql("m.uid", "?")
            params.extend(values)
            return f"({sql})"
        case ModSeqAtLeast(modseq):
            params.append(modseq)
            return "m.modseq >= ?"
        case HeaderContains(name, value):
            return _header(fold(name), fold(value), params)
        case BodyContains(value):
            return _contains("body", fold(value), params)
        case TextContains(value):
            needle = fold(value)
            return f"({_contains('headers', needle, params)} OR {_contains('body', needle, params)})"
        case All(parts):
            return "(" + " AND ".join(where(p, params) for p in parts) + ")" if parts else "TRUE"
        case AnyOf(parts):
            return "(" + " OR ".join(where(p, params) for p in parts) + ")" if parts else "FALSE"
        case Not(part):
            return f"NOT ({where(part, params)})"
    raise TypeError(f"not a search criterion: {criterion!r}")


def _contains(column: str, needle: str, params: list[Any]) -> str:
    """``column`` of the message's text holds ``needle``: from the trigram index when it
    is long enough, else by looking at the message's own row."""
    if not needle:
        return "TRUE"  # every text holds the empty string
    params.append(needle)
    if len(needle) >= _TRIGRAM:
        return f"m.blob_id IN (SELECT {{text_key}} FROM blob_text WHERE {{contains:{column}}})"  # noqa: S608
    return (f"EXISTS (SELECT 1 FROM blob_text t WHERE t.{{text_key}} = m.blob_id "  # noqa: S608
            f"AND {{instr}}(t.{column}, ?) > 0)")


def _header(name: str, needle: str, params: list[Any]) -> str:
    if len(needle) >= _TRIGRAM:
        params.extend((needle, name, needle))
        return ("m.blob_id IN (SELECT {text_key} FROM blob_text WHERE {contains:headers} "
                "AND mw_header_has(headers, ?, ?))")
    params.extend((name, needle))
    return ("EXISTS (SELECT 1 FROM blob_text t WHERE t.{text_key} = m.blob_id "
            "AND mw_header_has(t.headers, ?, ?))")


def _range(column: str, since: float | None, before: float | None, params: list[Any]) -> str:
    terms = []
    if since is not None:
        terms.append(f"{column} >= ?")
        params.append(since)
    if before is not None:
        terms.append(f"{column} < ?")
        params.append(before)
    return " AND ".join(terms) or "TRUE"


def search(mailbox_id: int, criterion: Criterion) -> Op[SearchResult]:
    params: list[Any] = [mailbox_id]
    condition = where(criterion, params)
    rows = yield Q(f"SELECT m.uid, m.modseq FROM messages m WHERE m.mailbox_id = ? AND {condition} "  # noqa: S608
                   "ORDER BY m.uid", params)
    return SearchResult.of([(int(uid), int(modseq)) for uid, modseq in rows])
