"""The neutral SQL rewritten per database, and flag storage."""

from __future__ import annotations

from mailward.store.sql import dialect
from mailward.store.sql.base import flags_text, parse_flags


def test_sqlite_dialect() -> None:
    sql = "SELECT id FROM queue WHERE {flag:Seen} AND x = ? {skip_locked}"
    assert dialect.sqlite(sql) == "SELECT id FROM queue WHERE instr(flags, ' \\Seen ') > 0 AND x = ? "


def test_postgres_dialect() -> None:
    sql = "SELECT a FROM t WHERE b LIKE 'x%' AND c = ? {lock}"
    assert dialect.postgres(sql) == "SELECT a FROM t WHERE b LIKE 'x%%' AND c = %s FOR UPDATE"
    assert dialect.postgres("SELECT 1 {skip_locked}") == "SELECT 1 FOR UPDATE SKIP LOCKED"
    assert "strpos(flags, ' \\Deleted ') > 0" in dialect.postgres("{flag:Deleted}")


def test_flags_round_trip() -> None:
    flags = frozenset({"\\Seen", "$Forwarded", "\\Answered"})
    text = flags_text(flags)
    assert text == " $Forwarded \\Answered \\Seen "
    assert parse_flags(text) == flags
    assert flags_text(()) == " " and parse_flags(" ") == frozenset()
