"""Modified UTF-7 mailbox names (RFC 3501 5.1.3; RFC 9051 keeps it for IMAP4rev1 clients).

Printable US-ASCII (0x20-0x7E) stands for itself, except "&", written "&-"; every other
run of characters is UTF-16BE in modified BASE64 ("," instead of "/", no padding),
between "&" and "-".
"""

from __future__ import annotations

import binascii


class MUtf7Error(ValueError):
    """The bytes are not a valid modified UTF-7 name."""


def _b64(text: str) -> bytes:
    raw = text.encode("utf-16-be")
    return binascii.b2a_base64(raw, newline=False).rstrip(b"=").replace(b"/", b",")


def encode_mutf7(name: str) -> bytes:
    """Encode a mailbox name as modified UTF-7 (RFC 3501 5.1.3)."""
    out = bytearray()
    pending: list[str] = []
    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            if pending:
                out += b"&" + _b64("".join(pending)) + b"-"
                pending.clear()
            out += b"&-" if char == "&" else char.encode("ascii")
        else:
            pending.append(char)
    if pending:
        out += b"&" + _b64("".join(pending)) + b"-"
    return bytes(out)


def _decode_run(run: bytes) -> str:
    # RFC 3501 5.1.3: modified BASE64, no padding; "," for "/"
    if b"/" in run or b"=" in run:
        raise MUtf7Error("'/' and '=' are not modified BASE64")
    padded = run.replace(b",", b"/") + b"=" * (-len(run) % 4)
    try:
        raw = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error as exc:
        raise MUtf7Error("bad modified BASE64") from exc
    if len(raw) % 2:
        raise MUtf7Error("odd number of UTF-16 octets")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise MUtf7Error("bad UTF-16 in a shifted run") from exc
    if any(0x20 <= ord(c) <= 0x7E for c in text):
        # RFC 3501 5.1.3: printable US-ASCII MUST NOT be encoded in modified BASE64
        raise MUtf7Error("printable US-ASCII encoded in BASE64")
    # the canonical form only: re-encoding must give back the same octets
    if _b64(text) != run:
        raise MUtf7Error("not the canonical encoding")
    return text


def decode_mutf7(data: bytes) -> str:
    """Decode a modified UTF-7 name; :class:`MUtf7Error` if it is not one."""
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        if byte != 0x26:  # "&"
            if not 0x20 <= byte <= 0x7E:
                raise MUtf7Error("8-bit or control octet in a modified UTF-7 name")
            out.append(chr(byte))
            i += 1
            continue
        end = data.find(b"-", i + 1)
        if end < 0:
            raise MUtf7Error("'&' without the closing '-'")
        if end == i + 1:
            out.append("&")
        else:
            out.append(_decode_run(data[i + 1 : end]))
        i = end + 1
    return "".join(out)
