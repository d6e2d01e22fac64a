"""RFC 2047 encoded words in header values."""

from __future__ import annotations

import binascii
import re

from mailward.mime.charsets import decode_text, unescape_raw

# RFC 2047 section 2, with RFC 2231 section 5's language suffix (charset*lang).
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=")
_SPACE = " \t\r\n"
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    data = text.encode("ascii", "surrogateescape")
    try:
        if encoding in "Bb":
            # RFC 2047 4.1; missing padding is common and harmless
            if not _BASE64.fullmatch(data):
                return None
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
        # RFC 2047 4.2: "_" is a space, =XX a byte
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return None


def decode_header_value(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded. Never raises.

    White space between two adjacent encoded words is dropped (RFC 2047 6.2);
    adjacent words in one charset are decoded together, so a character split
    across two words comes out whole. Unknown charsets read as UTF-8, invalid
    bytes become U+FFFD, and a word that cannot be decoded is kept as it is.
    """
    if "=?" not in value:
        return unescape_raw(value)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos:match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            continue
        charset = match.group(1).lower()
        if not (pending and gap.strip(_SPACE) == ""):
            _flush(out, pending, pending_charset)
            out.append(unescape_raw(gap))
        elif charset != pending_charset:
            _flush(out, pending, pending_charset)
        pending.append(data)
        pending_charset = charset
        pos = match.end()
    _flush(out, pending, pending_charset)
    out.append(unescape_raw(value[pos:]))
    return "".join(out)


def _flush(out: list[str], pending: list[bytes], charset: str) -> None:
    if pending:
        out.append(decode_text(b"".join(pending), charset)[0])
        pending.clear()
