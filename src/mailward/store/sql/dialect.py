"""Rewrite the neutral SQL of :mod:`mailward.store.sql` for one database."""

from __future__ import annotations

import functools
import re

_FLAG = re.compile(r"\{flag:(\w+)\}")
# {in_ranges:COLUMN}: COLUMN lies in one of the ranges of one parameter, a JSON array of
# [low, high] pairs (a UID set too long to write as one BETWEEN per range)
_IN_RANGES = re.compile(r"\{in_ranges:([\w.]+)\}")
_SQLITE_IN_RANGES = ("EXISTS (SELECT 1 FROM json_each(?) r WHERE {column} BETWEEN "
                     "json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]'))")
_POSTGRES_IN_RANGES = ("EXISTS (SELECT 1 FROM jsonb_array_elements(?::jsonb) r WHERE "
                       "{column} BETWEEN (r ->> 0)::bigint AND (r ->> 1)::bigint)")


# {contains:COLUMN}: COLUMN of blob_text holds one parameter as a substring, answered
# from the trigram index (SQLite FTS5 GLOB, PostgreSQL pg_trgm LIKE) for three
# characters or more; the parameter's wildcard characters are matched as themselves.
_CONTAINS = re.compile(r"\{contains:([\w.]+)\}")
_SQLITE_CONTAINS = ("{column} GLOB '*' || replace(replace(replace(?, '[', '[[]'), '*', '[*]'), '?', '[?]') "
                    "|| '*'")
_POSTGRES_CONTAINS = ("{column} LIKE '%' || replace(replace(replace(?, '\\', '\\\\'), '%', '\\%'), "
                      "'_', '\\_') || '%'")


@functools.lru_cache(maxsize=512)
def sqlite(sql: str) -> str:
    sql = sql.replace("{lock}", "").replace("{skip_locked}", "").replace("{instr}", "instr")
    sql = sql.replace("{text_key}", "rowid")  # blob_text is an FTS5 table keyed by rowid
    sql = _CONTAINS.sub(lambda m: _SQLITE_CONTAINS.format(column=m.group(1)), sql)
    sql = _IN_RANGES.sub(lambda m: _SQLITE_IN_RANGES.format(column=m.group(1)), sql)
    # A flag is stored as " \Name " inside the space-framed flags column.
    return _FLAG.sub(lambda m: f"instr(flags, ' \\{m.group(1)} ') > 0", sql)


@functools.lru_cache(maxsize=512)
def postgres(sql: str) -> str:
    sql = sql.replace("{lock}", "FOR UPDATE").replace("{skip_locked}", "FOR UPDATE SKIP LOCKED")
    sql = sql.replace("{instr}", "strpos").replace("{text_key}", "blob_id")
    sql = _CONTAINS.sub(lambda m: _POSTGRES_CONTAINS.format(column=m.group(1)), sql)
    sql = _IN_RANGES.sub(lambda m: _POSTGRES_IN_RANGES.format(column=m.group(1)), sql)
    sql = _FLAG.sub(lambda m: f"strpos(flags, ' \\{m.group(1)} ') > 0", sql)
    return sql.replace("%", "%%").replace("?", "%s")
