"""APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502 6), BINARY's literal8 (RFC 3516 4.4)
and UTF8=ACCEPT's ``UTF8 (literal8)`` (RFC 6855 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailward.protocols.imap.commands.base import Command, Context, flag_list, mailbox
from mailward.protocols.imap.reader import Reader, Syntax


@dataclass(frozen=True)
class AppendMessage:
    """One message of an APPEND: its flags and internal date if given, and its octets.

    ``binary``: sent as literal8 (may hold NUL; RFC 3516 4.4); ``utf8``: sent as
    ``UTF8 (...)`` (RFC 6855 4: may have UTF-8 headers).
    """

    data: bytes
    flags: tuple[str, ...] | None = None
    internal_date: datetime | None = None
    binary: bool = False
    utf8: bool = False
    streamed_size: int | None = None
    """Set when the session streamed the octets (:meth:`CommandParser.stream_literal`):
    ``data`` is then empty and the octets are the ones it received as LiteralChunks."""

    @property
    def streamed(self) -> bool:
        return self.streamed_size is not None

    @property
    def size(self) -> int:
        return len(self.data) if self.streamed_size is None else self.streamed_size

    def __repr__(self) -> str:
        return (
            f"AppendMessage({self.size} octets{', streamed' if self.streamed else ''}, flags={self.flags!r}, "
            f"internal_date={self.internal_date!r}, binary={self.binary}, utf8={self.utf8})"
        )


@dataclass(frozen=True)
class Append(Command):
    """APPEND with one message or, MULTIAPPEND, several (stored all or none: RFC 3502 6.3.11)."""

    name = "APPEND"
    mailbox: str
    messages: tuple[AppendMessage, ...]


def _message(reader: Reader) -> AppendMessage:
    flags: tuple[str, ...] | None = None
    internal_date: datetime | None = None
    if reader.at(b"("):
        flags = flag_list(reader)
        reader.sp()
    if reader.at(b'"'):
        internal_date = reader.date_time()
        reader.sp()
    utf8 = reader.accept(b"UTF8 (")
    if not reader.at_literal():
        raise Syntax("expected the message as a literal")
    value = reader.literal()
    if utf8:
        reader.expect(b")")
    size = value.size if value.streamed else None
    return AppendMessage(value.data, flags, internal_date, value.binary, utf8, size)


def parse_append(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    name = mailbox(reader, context)
    messages: list[AppendMessage] = []
    while reader.at_sp() or not messages:
        reader.sp()
        messages.append(_message(reader))
    reader.end()
    return Append(tag, name, tuple(messages))
