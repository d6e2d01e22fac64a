"""Rewrite the neutral SQL of :mod:`mailward.store.sql` for one database."""

from __future__ import annotations

import functools
import re

_FLAG = re.compile(r"\{flag:(\w+)\}")


@functools.lru_cache(maxsize=512)
def sqlite(sql: str) -> str:
    sql = sql.replace("{lock}", "").replace("{skip_locked}", "")
    # A flag is stored as " \Name " inside the space-framed flags column.
    return _FLAG.sub(lambda m: f"instr(flags, ' \\{m.group(1)} ') > 0", sql)


@functools.lru_cache(maxsize=512)
def postgres(sql: str) -> str:
    sql = sql.replace("{lock}", "FOR UPDATE").replace("{skip_locked}", "FOR UPDATE SKIP LOCKED")
    sql = _FLAG.sub(lambda m: f"strpos(flags, ' \\{m.group(1)} ') > 0", sql)
    return sql.replace("%", "%%").replace("?", "%s")
