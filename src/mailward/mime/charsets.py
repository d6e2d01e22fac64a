"""Charset names of mail (RFC 2978 registry names and the aliases mail uses) to Python codecs."""

from __future__ import annotations

import codecs

# Names seen in real mail that Python's codec registry does not know, or knows as
# something else (RFC 1556: iso-8859-8-i is iso-8859-8 in logical order).
_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "x-user-defined": "windows-1252",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac-roman",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "utf-8",  # 8-bit bytes labelled us-ascii are read as UTF-8 (a superset), not dropped
}


def codec_name(charset: str | None) -> str | None:
    """The Python text codec for a MIME charset name, or None when it has none."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # bytes-to-bytes codecs (zlib, base64, rot13) are not charsets
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_text(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode bytes in a charset; unknown charsets read as UTF-8. Never raises.

    Returns the text and whether the charset was known and the bytes valid in it.
    """
    name = codec_name(charset)
    ok = name is not None
    try:
        return data.decode(name or "utf-8", "strict"), ok
    except (UnicodeError, LookupError, ValueError):
        pass
    try:
        return data.decode(name or "utf-8", "replace"), False
    except (UnicodeError, LookupError, ValueError):
        return data.decode("utf-8", "replace"), False


def incremental_decoder(charset: str | None) -> codecs.IncrementalDecoder:
    """A streaming decoder for a charset (unknown ones as UTF-8), replacing bad bytes."""
    name = codec_name(charset) or "utf-8"
    try:
        return codecs.getincrementaldecoder(name)(errors="replace")
    except (LookupError, ValueError):
        return codecs.getincrementaldecoder("utf-8")(errors="replace")


def unescape_raw(value: str) -> str:
    """Raw header text (UTF-8 read with surrogateescape) with invalid bytes made U+FFFD."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value
