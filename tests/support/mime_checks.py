"""Shared checks for the MIME tests: Python's email package as a second opinion."""

from __future__ import annotations

import email
import email.message
import email.utils

from mailward.mime import MessageStructure, Part, header_fields


def body(message: bytes, part: Part) -> bytes:
    return message[part.body_offset:part.body_offset + part.body_size]


def header(message: bytes, part: Part) -> bytes:
    return message[part.header_offset:part.header_offset + part.header_size]


def lines(data: bytes) -> int:
    """IMAP's body line count, written out the slow way."""
    count = data.count(b"\n")
    return count + (1 if data and not data.endswith(b"\n") else 0)


def compare_with_email(message: bytes, structure: MessageStructure) -> int:
    """Walk Python's parse and ours together; returns the number of parts compared."""
    python = email.message_from_bytes(message)
    return _compare(message, structure.root, python)


def _compare(message: bytes, part: Part, py: email.message.Message) -> int:
    assert f"{part.media_type}/{part.media_subtype}" == py.get_content_type()
    names = [name.lower() for name in py]
    assert [name for name, _ in header_fields(header(message, part))] == names
    if py.get("content-type") is not None:
        for name, value in part.params:
            raw = py.get_param(name)
            assert raw is not None, name
            assert email.utils.collapse_rfc2231_value(raw) == value, name  # type: ignore[arg-type]
    assert part.encoding == (py.get("content-transfer-encoding") or "7bit").strip().lower()
    if part.is_multipart or part.is_message:
        payload = py.get_payload()
        assert isinstance(payload, list)
        assert len(payload) == len(part.children)
        return 1 + sum(_compare(message, child, sub) for child, sub in zip(part.children, payload, strict=True))
    if part.encoding in ("7bit", "8bit", "binary"):
        raw = py.get_payload(decode=True)  # the bytes as they are, for these encodings
    else:
        text = py.get_payload()
        assert isinstance(text, str)
        raw = text.encode("ascii", "surrogateescape")
    assert body(message, part) == raw
    assert part.body_lines == lines(body(message, part))
    return 1
