"""Structured MIME fields: Content-Type and Content-Disposition values with their
parameters (RFC 2045 5.1, RFC 2183 2), RFC 2231 continuations and charsets, and
Content-Language lists (RFC 3282)."""

from __future__ import annotations

import re
import urllib.parse

from mailward.mime.charsets import decode_text

# RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
# RFC 2231 3 and 4: name*N for continuations, a trailing * for an encoded value
_SECTION = re.compile(r"^([^*]+)(?:\*([0-9]{1,4}))?(\*)?$")


def _segments(value: str) -> list[str]:
    """Split at ';' outside quoted strings, dropping comments (RFC 5322 3.2.2)."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0
    i = 0
    while i < len(value):
        char = value[i]
        if quoted:
            current.append(char)
            if char == "\\" and i + 1 < len(value):
                i += 1
                current.append(value[i])
            elif char == '"':
                quoted = False
        elif depth:
            if char == "\\":
                i += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char == '"':
            quoted = True
            current.append(char)
        elif char == "(":
            depth = 1
        elif char == ";":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    segments.append("".join(current))
    return segments


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"':
        inner = value[1:-1] if value.endswith('"') else value[1:]
        return re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL)
    return value


def _extended(value: str, *, first: bool) -> tuple[bytes, str | None]:
    """RFC 2231 4: [charset'language']percent-encoded, to bytes and the charset."""
    charset = None
    if first:
        pieces = value.split("'", 2)
        if len(pieces) == 3:
            charset, _, value = pieces
    return urllib.parse.unquote_to_bytes(value), charset or None


def parameters(segments: list[str]) -> tuple[tuple[str, str], ...]:
    """Parameters of a structured field, names lower case, values decoded.

    RFC 2231 continuations are joined in section order and decoded in the charset
    of section 0; an encoded ``name*`` wins over a plain ``name``; otherwise the
    first occurrence of a name wins. Segments without '=' are ignored.
    """
    order: list[str] = []
    plain: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for segment in segments:
        name, sep, value = segment.partition("=")
        match = _SECTION.match(name.strip().lower())
        if not sep or match is None:
            continue
        base, number, star = match.group(1), match.group(2), match.group(3)
        if base not in order:
            order.append(base)
        value = value.strip() if star else _unquote(value)
        if number is None and not star:
            plain.setdefault(base, value)
        else:
            parts = sections.setdefault(base, {})
            parts.setdefault(int(number or 0), (value, bool(star)))
    result: list[tuple[str, str]] = []
    for base in order:
        if base in sections:
            result.append((base, _join_sections(sections[base])))
        else:
            result.append((base, plain[base]))
    return tuple(result)


def _join_sections(parts: dict[int, tuple[str, bool]]) -> str:
    data = bytearray()
    charset = None
    for index, number in enumerate(sorted(parts)):
        value, star = parts[number]
        if star:
            chunk, found = _extended(value, first=index == 0)
            charset = found if index == 0 else charset
            data += chunk
        else:
            data += _unquote(value).encode("utf-8", "surrogateescape")
    return decode_text(bytes(data), charset)[0]


def content_type(value: str) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    """type, subtype (lower case) and parameters of a Content-Type value, or None
    when the type is not type/subtype of tokens (RFC 2045 5.2 then applies)."""
    segments = _segments(value)
    kind, slash, sub = segments[0].partition("/")
    kind, sub = kind.strip().lower(), sub.strip().lower()
    if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(sub):
        return None
    return kind, sub, parameters(segments[1:])


def disposition(value: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """RFC 2183 2: the disposition type (lower case) and its parameters."""
    segments = _segments(value)
    kind = segments[0].strip().lower()
    return (kind if _TOKEN.fullmatch(kind) else None), parameters(segments[1:])


def languages(value: str) -> tuple[str, ...]:
    """RFC 3282 2: Content-Language is a comma-separated list of language tags."""
    text = "".join(_segments(value))
    return tuple(tag.strip() for tag in text.split(",") if tag.strip())
