"""The response encoder (RFC 9051 7, 9): status responses, data, continuations, and values.

Values are Python values, typed where the grammar needs a choice:

- ``None`` -> NIL; ``int`` -> number; ``str`` / ``bytes`` -> string, which
  :meth:`Encoder.string` writes as a quoted string when it can (no CR, LF or NUL;
  8-bit only as UTF-8 and only once UTF8=ACCEPT or IMAP4rev2 is on) and as a literal
  otherwise; the empty string is ``""``;
- :class:`Atom` (FLAGS, \\Seen, EXISTS), :class:`AString` (atom if it can be, string
  otherwise), :class:`Mailbox` (modified UTF-7 unless UTF-8 is on), :class:`Raw`
  (already rendered, e.g. a BODYSTRUCTURE), a tuple or list -> parenthesised list;
- :class:`LiteralData` -> always a literal (message text held in memory);
- :class:`Stream` -> a literal whose octets the session writes itself, in chunks.

A response is a :class:`Response`: a tuple of ``bytes`` and :class:`Stream` pieces. The
session writes the bytes; at a Stream (its ``{size}\\r\\n`` header is already in the
bytes before it) it writes exactly ``size`` octets from ``source``, then goes on.
"""

from __future__ import annotations

import binascii
import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from mailward.protocols.imap.codes import ResponseCode
from mailward.protocols.imap.mutf7 import encode_mutf7
from mailward.protocols.imap.reader import ASTRING_CHARS

_ATOM = re.compile(r'[\x21-\x7e]+', re.ASCII)
_NOT_ATOM = re.compile(r'[ (){"]')


class Status(enum.Enum):
    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    PREAUTH = "PREAUTH"  # untagged only, the greeting (RFC 9051 7.1.4)
    BYE = "BYE"  # untagged only (RFC 9051 7.1.5)


@dataclass(frozen=True)
class Atom:
    """A token written as is: keywords, flags (``\\Seen``), capabilities, FETCH item names."""

    value: str

    def __post_init__(self) -> None:
        if not _ATOM.fullmatch(self.value) or _NOT_ATOM.search(self.value):
            raise ValueError(f"not an atom: {self.value!r}")


@dataclass(frozen=True)
class AString:
    """``astring``: an atom when it can be one (and is not NIL), a string otherwise."""

    value: str | bytes


@dataclass(frozen=True)
class Mailbox:
    """A mailbox name: modified UTF-7 (RFC 3501 5.1.3) unless UTF-8 is on (RFC 6855 3).

    An astring, or a string where the grammar says so (``string``: NAMESPACE prefixes).
    """

    name: str
    string: bool = False


@dataclass(frozen=True)
class Raw:
    """Octets already in protocol syntax (the lead's BODYSTRUCTURE and ENVELOPE)."""

    data: bytes


@dataclass(frozen=True)
class LiteralData:
    """Octets always sent as a literal; ``binary`` for literal8 (``~{n}``, RFC 3516 4.2)."""

    data: bytes
    binary: bool = False


@dataclass(frozen=True)
class Stream:
    """A literal of ``size`` octets the session copies from ``source`` (its own handle)."""

    size: int
    source: object = None
    binary: bool = False


Value: TypeAlias = (
    "int | str | bytes | Atom | AString | Mailbox | Raw | LiteralData | Stream | Sequence[Value] | None"
)
Piece: TypeAlias = bytes | Stream


@dataclass(frozen=True)
class Response:
    """One response: bytes and streamed literals, in order."""

    pieces: tuple[Piece, ...]

    def __iter__(self) -> Iterator[Piece]:
        return iter(self.pieces)

    def __bytes__(self) -> bytes:
        """The response as bytes; only when it streams nothing."""
        if any(isinstance(p, Stream) for p in self.pieces):
            raise ValueError("this response streams a literal: write its pieces")
        return b"".join(p for p in self.pieces if isinstance(p, bytes))


class _Builder:
    """Collects bytes (joined once) and the streams between them."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self.chunk: list[bytes] = []
        self.add = self.chunk.append

    def stream(self, stream: Stream) -> None:
        self.add((b"~{" if stream.binary else b"{") + str(stream.size).encode() + b"}\r\n")
        self.pieces.append(b"".join(self.chunk))
        self.chunk.clear()
        self.pieces.append(stream)

    def response(self) -> Response:
        if self.chunk:
            self.pieces.append(b"".join(self.chunk))
        return Response(tuple(self.pieces))


def _quotable(data: bytes, utf8: bool) -> bool:
    if b"\r" in data or b"\n" in data or b"\x00" in data:
        return False
    if data.isascii():
        return True
    if not utf8:
        return False
    try:
        data.decode("utf-8")  # RFC 9051 9 / RFC 6855 3: QUOTED-CHAR =/ UTF8-2 / UTF8-3 / UTF8-4
    except UnicodeDecodeError:
        return False
    return True


class Encoder:
    """Renders responses; ``utf8`` is True once UTF8=ACCEPT or IMAP4rev2 is enabled."""

    def __init__(self, utf8: bool = False) -> None:
        self.utf8 = utf8

    # --- values ---------------------------------------------------------------------

    def string(self, value: str | bytes) -> bytes:
        """``string``: quoted if it can be, a literal otherwise (RFC 9051 4.3)."""
        data = value.encode("utf-8") if isinstance(value, str) else value
        if _quotable(data, self.utf8):
            return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        return b"{" + str(len(data)).encode() + b"}\r\n" + data

    def astring(self, value: str | bytes) -> bytes:
        data = value.encode("utf-8") if isinstance(value, str) else value
        if data and all(c in ASTRING_CHARS for c in data) and data.upper() != b"NIL":
            return data
        return self.string(data)

    def mailbox(self, name: str, string: bool = False) -> bytes:
        wire = name.encode("utf-8") if self.utf8 else encode_mutf7(name)
        return self.string(wire) if string else self.astring(wire)

    def _value(self, out: _Builder, value: Value) -> None:
        if isinstance(value, int):  # the common cases first
            if isinstance(value, bool) or value < 0:
                raise TypeError(f"not an IMAP number: {value!r}")
            out.add(b"%d" % value)
        elif isinstance(value, Atom):
            out.add(value.value.encode("ascii"))
        elif isinstance(value, Raw):
            out.add(value.data)
        elif value is None:
            out.add(b"NIL")
        elif isinstance(value, str | bytes):
            out.add(self.string(value))
        elif isinstance(value, AString):
            out.add(self.astring(value.value))
        elif isinstance(value, Mailbox):
            out.add(self.mailbox(value.name, value.string))
        elif isinstance(value, LiteralData):
            out.add((b"~{" if value.binary else b"{") + b"%d}\r\n" % len(value.data) + value.data)
        elif isinstance(value, Stream):
            out.stream(value)
        else:
            self._list(out, value)

    def _list(self, out: _Builder, values: Sequence[Value]) -> None:
        out.add(b"(")
        self._spaced(out, values)
        out.add(b")")

    def _spaced(self, out: _Builder, values: Sequence[Value]) -> None:
        for i, item in enumerate(values):
            if i:
                out.add(b" ")
            self._value(out, item)

    def value(self, value: Value) -> Response:
        out = _Builder()
        self._value(out, value)
        return out.response()

    # --- responses ------------------------------------------------------------------

    def _text(self, text: str) -> bytes:
        # RFC 9051 9: text = 1*TEXT-CHAR (no CR, LF); a leading "[" would read as a code
        clean = "".join(" " if c in "\r\n\x00" else c for c in text).strip() or "done"
        if clean.startswith("["):
            clean = "(" + clean[1:]
        return clean.encode("utf-8") if self.utf8 else clean.encode("ascii", "replace")

    def _status(self, prefix: bytes, status: Status, text: str, code: ResponseCode | None) -> bytes:
        line = prefix + b" " + status.value.encode() + b" "
        if code is not None:
            line += bytes(code) + b" "
        return line + self._text(text) + b"\r\n"

    def tagged(self, tag: str, status: Status, text: str, code: ResponseCode | None = None) -> bytes:
        """``tag OK/NO/BAD [code] text`` (RFC 9051 7.1)."""
        if status not in (Status.OK, Status.NO, Status.BAD):
            raise ValueError(f"{status.value} is never tagged")
        return self._status(tag.encode("ascii"), status, text, code)

    def untagged_status(self, status: Status, text: str, code: ResponseCode | None = None) -> bytes:
        """``* OK/NO/BAD/PREAUTH/BYE [code] text``."""
        return self._status(b"*", status, text, code)

    def untagged(self, *values: Value) -> Response:
        """``* value value ...``: ``untagged(23, Atom("EXISTS"))`` is ``* 23 EXISTS``."""
        out = _Builder()
        out.add(b"* ")
        self._spaced(out, values)
        out.add(b"\r\n")
        return out.response()

    def fetch(self, number: int, items: Sequence[tuple[str, Value]]) -> Response:
        """``* n FETCH (NAME value ...)``; names as :class:`BodySection.response_name` gives."""
        flat: list[Value] = []
        for name, item in items:
            flat += [Raw(name.encode("ascii")), item]
        return self.untagged(number, Atom("FETCH"), flat)

    def continuation(self, text: str = "Ready") -> bytes:
        """``+ text`` (RFC 9051 7.5): for a synchronizing literal, IDLE."""
        return b"+ " + self._text(text) + b"\r\n"

    @staticmethod
    def continuation_data(data: bytes) -> bytes:
        """``+ base64`` (RFC 9051 7.5): a SASL challenge; an empty one is ``+ ``."""
        return b"+ " + binascii.b2a_base64(data, newline=False) + b"\r\n"
