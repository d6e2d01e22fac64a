"""Lines longer than SMTP allows, re-encoded before a message leaves (RFC 5321 4.5.3.1.6).

The SMTP listener takes lines of any length; another server need not, and the SMTP
client never sends one (:func:`~mailward.protocols.smtp.client_commands.check_message`).
:func:`reencode_long_lines` finds the leaf parts that hold a line over 998 octets and
re-encodes only those: text as quoted-printable, anything else as base64 (RFC 2045 6.7,
6.8), with the standard library's codecs. Every other byte of the message stays as it
was. When that cannot be done without changing what a signature covers (inside
multipart/signed or multipart/encrypted, RFC 1847; a DKIM-Signature, RFC 6376), in a
header, or under an unknown transfer encoding, it raises :class:`CannotReencode` and
the caller bounces the message.

A pure function: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import binascii
import email.base64mime
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser

MAX_LINE = 998  # RFC 5321 4.5.3.1.6, without the CRLF
# RFC 2045 6.1: the encodings that leave the bytes as they are
IDENTITY = frozenset({"7bit", "8bit", "binary"})
SIGNED = frozenset({"multipart/signed", "multipart/encrypted"})  # RFC 1847
MAX_DEPTH = 50  # nesting of multiparts and messages we follow before giving up

_CTE_FIELD = re.compile(rb"^content-transfer-encoding[ \t]*:", re.IGNORECASE)
_HEADER_PARSER = BytesHeaderParser(policy=email.policy.default)


class CannotReencode(ValueError):
    """The message has a line over 998 octets that cannot be re-encoded; bounce it."""


@dataclass(frozen=True)
class Reencoded:
    """The message to send, and the parts re-encoded (MIME part numbers, "" for the whole)."""

    message: bytes
    parts: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.parts)


def has_long_line(data: bytes, limit: int = MAX_LINE) -> bool:
    """True when a line of ``data`` (CRLF or LF ended) is longer than ``limit`` octets."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        length = end - start - (1 if end > start and data[end - 1 : end] == b"\r" else 0)
        if length > limit:
            return True
        start = end + 1
    return False


def reencode_long_lines(
    message: bytes, *, limit: int = MAX_LINE, allow_breaking_dkim: bool = False
) -> Reencoded:
    """``message`` with every long line gone, or :class:`CannotReencode`.

    ``allow_breaking_dkim``: re-encode even when the message carries a DKIM-Signature
    (its body hash will no longer match); by default such a message is refused.
    """
    if not has_long_line(message, limit):
        return Reencoded(message, ())
    head, _body = _split_entity(message)
    if not allow_breaking_dkim and _header_names(head) & {"dkim-signature"}:
        raise CannotReencode("a DKIM signature covers the body that would be re-encoded")
    done: list[str] = []
    out = _entity(message, "", limit, done, depth=0, top=True)
    return Reencoded(out, tuple(done))


def _split_entity(entity: bytes) -> tuple[bytes, bytes]:
    """(header block with its final CRLF, body) split at the first empty line (RFC 5322 2.1).

    The message has CRLF line endings (the SMTP listener refuses bare ones).
    """
    if entity.startswith(b"\r\n"):
        return b"", entity[2:]
    at = entity.find(b"\r\n\r\n")
    return (entity, b"") if at < 0 else (entity[: at + 2], entity[at + 4 :])


def _header_names(head: bytes) -> set[str]:
    return {name.lower() for name in _parse_headers(head).keys()}  # noqa: SIM118


def _parse_headers(head: bytes) -> EmailMessage:
    parsed = _HEADER_PARSER.parsebytes(head + b"\r\n")
    assert isinstance(parsed, EmailMessage)
    return parsed


def _entity(entity: bytes, path: str, limit: int, done: list[str], *, depth: int, top: bool) -> bytes:
    if depth > MAX_DEPTH:
        raise CannotReencode("MIME nesting too deep")
    head, body = _split_entity(entity)
    if has_long_line(head, limit):
        raise CannotReencode(f"header line over {limit} octets in part {path or 'the message'}")
    if not has_long_line(body, limit):
        return entity
    headers = _parse_headers(head)
    content_type = headers.get_content_type()
    if content_type in SIGNED:
        raise CannotReencode(f"long line inside {content_type} (RFC 1847): re-encoding breaks it")
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_boundary()
        if boundary:
            delimiter = boundary.encode("utf-8", "replace")
            return head + b"\r\n" + _multipart(body, delimiter, path, limit, done, depth)
    if content_type in ("message/rfc822", "message/global"):
        # RFC 2046 5.2.1: an encapsulated message is never encoded; fix inside it
        return head + b"\r\n" + _entity(body, path, limit, done, depth=depth + 1, top=False)
    return _leaf(head, body, headers, path, done, top=top)


def _multipart(body: bytes, boundary: bytes, path: str, limit: int, done: list[str], depth: int) -> bytes:
    """RFC 2046 5.1.1: delimiters are "--boundary" lines; the CRLF before one belongs to it."""
    lines = body.split(b"\r\n")
    delimiter = b"--" + boundary
    marks = [
        i for i, line in enumerate(lines)
        if line.startswith(delimiter) and line[len(delimiter) :].rstrip(b" \t") in (b"", b"--")
    ]
    if not marks:
        raise CannotReencode("multipart without its boundary")
    out = [b"\r\n".join(lines[: marks[0] + 1])]
    for n, (start, end) in enumerate(zip(marks, [*marks[1:], None], strict=True), 1):
        if lines[start][len(delimiter) :].rstrip(b" \t") == b"--":
            out.extend(lines[start + 1 :])  # the epilogue, as it was
            break
        part = b"\r\n".join(lines[start + 1 : end])
        number = f"{path}.{n}" if path else str(n)
        out.append(_entity(part, number, limit, done, depth=depth + 1, top=False))
        if end is not None:
            out.append(lines[end])
    return b"\r\n".join(out)


def _leaf(head: bytes, body: bytes, headers: EmailMessage, path: str, done: list[str], *, top: bool) -> bytes:
    cte = str(headers.get("content-transfer-encoding", "7bit")).strip().lower()
    if cte in IDENTITY:
        data = body
    elif cte == "quoted-printable":
        data = binascii.a2b_qp(body)
    elif cte == "base64":
        try:
            data = binascii.a2b_base64(body)
        except binascii.Error as exc:
            raise CannotReencode(f"part {path or 'the message'}: bad base64") from exc
    else:
        raise CannotReencode(f"part {path or 'the message'}: unknown transfer encoding {cte!r}")
    crlf = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if headers.get_content_maintype() == "text":
        # RFC 2045 6.7: line breaks stay hard breaks; long lines get soft breaks (76)
        encoded = binascii.b2a_qp(crlf, quotetabs=False, istext=True, header=False)
        # b2a_qp ends soft breaks with LF unless the text's first line break is CRLF
        encoded = encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        new_cte = "quoted-printable"
        if not encoded.endswith(b"\r\n") and crlf.endswith(b"\r\n"):
            encoded += b"\r\n"
    else:
        encoded = email.base64mime.body_encode(data, maxlinelen=76, eol="\r\n").encode("ascii")
        new_cte = "base64"
    done.append(path)
    fields = _drop_cte(head)
    if top and "mime-version" not in _header_names(head):
        fields += b"MIME-Version: 1.0\r\n"  # RFC 2045 4: the encoding means MIME
    fields += f"Content-Transfer-Encoding: {new_cte}\r\n".encode("ascii")
    return fields + b"\r\n" + encoded


def _drop_cte(head: bytes) -> bytes:
    """The header block without its Content-Transfer-Encoding field (folded lines too)."""
    out: list[bytes] = []
    skipping = False
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = bool(_CTE_FIELD.match(line))
        if not skipping:
            out.append(line)
    return b"".join(line + b"\r\n" for line in out)
