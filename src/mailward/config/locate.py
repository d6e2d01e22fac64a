"""Map key paths (``listener[1].tls_options.key``) to line numbers in a TOML file.

``tomllib`` gives values, not positions. This scanner follows table headers and
``key =`` lines, which covers how configuration files are written (inline tables
and multi-line values are located by their first line).
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*((?:[A-Za-z0-9_-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"))*)\s*=')


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip('"') for p in re.findall(r'"[^"]*"|[^.]+', dotted)]


def key_lines(text: str) -> dict[str, int]:
    """Return ``{key path: line number}`` for every table and key in ``text``."""
    lines: dict[str, int] = {}
    counters: dict[str, int] = {}
    table: list[str] = []
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = False
            continue
        header = _HEADER.match(line)
        if header:
            table = _resolve_table(_parts(header.group(2)), header.group(1) == "[[", counters)
            lines.setdefault(".".join(table), number)
            continue
        key = _KEY.match(line)
        if key:
            path = ".".join([*table, *_parts(key.group(1))])
            lines.setdefault(path, number)
            rest = line[key.end() :]
            if rest.count('"""') == 1 or rest.count("'''") == 1:
                in_multiline = True
    return lines


def _resolve_table(parts: list[str], array: bool, counters: dict[str, int]) -> list[str]:
    """Turn a header's parts into an indexed path, e.g. listener.limits -> listener[2].limits."""
    resolved: list[str] = []
    for i, part in enumerate(parts):
        plain = ".".join([*_strip_indexes(resolved), part])
        last = i == len(parts) - 1
        if last and array:
            counters[plain] = counters.get(plain, -1) + 1
            # a new element of an array of tables forgets its children's counters
            for name in [n for n in counters if n.startswith(plain + ".")]:
                del counters[name]
            resolved.append(f"{part}[{counters[plain]}]")
        elif plain in counters:
            resolved.append(f"{part}[{counters[plain]}]")
        else:
            resolved.append(part)
    return resolved


def _strip_indexes(parts: list[str]) -> list[str]:
    return [p.split("[", 1)[0] for p in parts]


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path``, or of its nearest enclosing table that has one."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None
