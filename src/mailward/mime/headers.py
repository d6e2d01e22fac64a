"""Header blocks: fields split, unfolded and named (RFC 5322 sections 2.2 and 3.6)."""

from __future__ import annotations

import re

# RFC 5322 2.2: a field name is printable US-ASCII but the colon; obs-optional (4.5.3)
# allows white space before the colon. A line starting with WSP continues a field.
FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:|[ \t]")
# one or more whole lines that are each a field line
FIELD_LINES = re.compile(rb"(?:(?:[\x21-\x39\x3b-\x7e]+[ \t]*:|[ \t])[^\n]*\n)+")


def raw_text(data: bytes) -> str:
    """Header bytes as text: UTF-8 (RFC 6532), other bytes kept as surrogate escapes.

    ``text.encode("utf-8", "surrogateescape")`` gives the bytes back exactly.
    """
    return data.decode("utf-8", "surrogateescape")


def header_fields(header: bytes) -> list[tuple[str, str]]:
    """The fields of one header block: (name in lower case, unfolded raw value).

    Unfolding removes each line break that precedes white space (RFC 5322 2.2.3);
    the value's leading and trailing white space is dropped. Lines that are not
    fields (no name, continuation lines before any field) are skipped; the block
    ends at the first empty line.
    """
    fields: list[tuple[str, str]] = []
    name: str | None = None
    value: list[bytes] = []
    for raw_line in header.split(b"\n"):
        line = raw_line[:-1] if raw_line.endswith(b"\r") else raw_line
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                value.append(line)
            continue
        if name is not None:
            fields.append((name, _value(value)))
            name = None
        if not line:
            break
        match = FIELD_LINE.match(line)
        if match is None:
            continue
        colon = line.index(b":")
        name = line[:colon].rstrip(b" \t").decode("ascii").lower()
        value = [line[colon + 1:]]
    if name is not None:
        fields.append((name, _value(value)))
    return fields


def _value(lines: list[bytes]) -> str:
    return raw_text(b"".join(lines).strip(b" \t\r\n"))


def first(fields: list[tuple[str, str]], name: str) -> str | None:
    """The value of the first field of that name (lower case), or None."""
    for field, value in fields:
        if field == name:
            return value
    return None
