"""The incremental IMAP command parser, sans-IO (the shape of h11's Connection and of
Stalwart's imap-proto Receiver).

The session feeds bytes with :meth:`CommandParser.receive` and calls
:meth:`CommandParser.next_command` until it returns :data:`NEED_MORE_DATA`. Each call
returns one of:

- a :class:`~mailward.protocols.imap.commands.Command` (a frozen dataclass per command);
- :class:`NeedLiteral`: a literal's header arrived, before its octets. For a
  synchronizing literal (``{n}``) the session sends ``+ Ready`` (RFC 9051 7.5) and keeps
  feeding; for a non-synchronizing one (``{n+}``, RFC 7888) it sends nothing. To refuse
  it anyway (e.g. APPEND over quota) it calls :meth:`CommandParser.refuse_literal`; to
  take an APPEND message's octets as they arrive rather than whole in the command, it
  calls :meth:`CommandParser.stream_literal`;
- :class:`LiteralChunk`: octets of a streamed literal, in order, the last one marked;
- :class:`ParseError`: the client sent nonsense. It carries the tag when one could be
  read; the session answers ``tag BAD text`` (or ``* BAD`` without a tag), or
  ``NO [TOOBIG]`` when ``status`` says so, and goes on with the next command -- unless
  ``close`` is set, when it sends ``* BYE`` with the code and closes.

Limits (:class:`Limits`) are checked before any octet of a literal is buffered.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Literal

from mailward.protocols.imap.commands import PARSERS, UID_COMMANDS, Command, Context
from mailward.protocols.imap.reader import LITERAL_HEADER, Reader, Syntax

_APPEND_MAILBOX = re.compile(rb"[^ ]+ APPEND ~?\{[0-9]+\+?\}\Z", re.IGNORECASE)
LITERAL_MINUS_MAX = 4096  # RFC 7888 4: LITERAL- allows non-synchronizing literals up to 4096 octets


@dataclass(frozen=True)
class Limits:
    """What the session allows; every field comes from a setting."""

    max_line: int = 64 * 1024
    """Octets of a command's text, literals excluded (RFC 7162 4 asks for at least 8192)."""
    max_literal: int = 64 * 1024
    """One literal of any command but APPEND."""
    max_command_literals: int = 256 * 1024
    """All literals of one command but APPEND."""
    max_append_literal: int = 50 * 1024 * 1024
    """One APPEND message (APPENDLIMIT, RFC 7889)."""
    max_append_total: int = 100 * 1024 * 1024
    """All the messages of one MULTIAPPEND (RFC 3502)."""
    literal_minus: bool = False
    """LITERAL- is advertised instead of LITERAL+: {n+} only up to 4096 octets."""


class NeedMoreData:
    """Nothing complete yet: feed more bytes."""

    def __repr__(self) -> str:
        return "NEED_MORE_DATA"


NEED_MORE_DATA = NeedMoreData()


@dataclass(frozen=True)
class NeedLiteral:
    """A literal of ``size`` octets is announced and will be read.

    ``command`` is the command name as far as it could be read ("APPEND", "LOGIN", ...;
    "" if not), ``binary`` is True for literal8 (``~{n}``, RFC 3516).
    """

    tag: str | None
    command: str
    size: int
    synchronizing: bool
    binary: bool = False


@dataclass(frozen=True)
class LiteralChunk:
    """Octets of a literal the session chose to stream (:meth:`CommandParser.stream_literal`),
    as they arrive; ``last`` on the chunk that completes it (possibly empty)."""

    data: bytes
    last: bool

    def __repr__(self) -> str:
        return f"LiteralChunk({len(self.data)} octets, last={self.last})"


@dataclass(frozen=True)
class ParseError:
    """The peer sent something the grammar or the limits do not allow.

    ``status`` is the tagged reply to send ("BAD" for syntax, "NO" for a refused
    literal), ``code`` its response code if any ("TOOBIG"); with ``close`` the session
    sends ``* BYE [code] text`` and closes (RFC 7888 4: a non-synchronizing literal it
    will not take; a line over the limit). ``text`` is ours, safe to send.
    """

    tag: str | None
    text: str
    status: Literal["BAD", "NO"] = "BAD"
    code: str | None = None
    close: bool = False
    command: str = ""


MAX_TEXT = 120  # octets of an error text
MAX_NAME = 40  # octets of a command name in a ParseError


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


class _Mode(enum.Enum):
    COMMAND = "reading command text"
    LITERAL = "reading a literal"
    CLOSED = "closed"


class _TooLong(Exception):
    pass


@dataclass
class _Command:
    """The command being assembled: text, literal, text, ..."""

    parts: list[bytes] = field(default_factory=list)
    streamed: dict[int, int] = field(default_factory=dict)  # part index -> size
    text_total: int = 0
    literal_total: int = 0


Result = Command | NeedMoreData | NeedLiteral | LiteralChunk | ParseError


class CommandParser:
    """Bytes in, commands out. ``context`` and ``limits`` may be replaced between commands
    (after ENABLE UTF8=ACCEPT, after login when APPENDLIMIT is known)."""

    def __init__(self, limits: Limits | None = None, context: Context | None = None) -> None:
        self.limits = limits or Limits()
        self.context = context or Context()
        self._buf = bytearray()
        self._scan = 0  # no LF in _buf before this offset
        self._mode = _Mode.COMMAND
        self._command = _Command()
        self._literal = bytearray()
        self._literal_left = 0
        self._announced: NeedLiteral | None = None
        self._streaming = False

    # --- the session's side -----------------------------------------------------------

    def receive(self, data: bytes) -> None:
        if self._mode is not _Mode.CLOSED:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received and not yet consumed."""
        return len(self._buf)

    @property
    def closed(self) -> bool:
        return self._mode is _Mode.CLOSED

    @property
    def in_command(self) -> bool:
        """True while a command is partly received."""
        return bool(self._command.parts) or self._mode is _Mode.LITERAL

    def discard_buffered(self) -> int:
        """Drop what was received and not consumed (STARTTLS: RFC 9051 6.2.1); the count."""
        dropped = len(self._buf)
        self._buf.clear()
        self._scan = 0
        return dropped

    def next_command(self) -> Result:
        while True:
            if self._mode is _Mode.CLOSED:
                return NEED_MORE_DATA
            if self._mode is _Mode.LITERAL and self._streaming:
                return self._stream_chunk()
            if self._mode is _Mode.LITERAL:
                if not self._fill_literal():
                    return NEED_MORE_DATA
                continue
            try:
                line = self._take_line(self._command.text_total)
            except _TooLong:
                return self._fatal(self._tag_and_command()[0], "command line too long")
            if line is None:
                return NEED_MORE_DATA
            self._command.text_total += len(line)
            if not line and not self._command.parts:
                continue  # a blank line between commands: nothing to answer
            result = self._on_line(line)
            if result is not None:
                return result

    def refuse_literal(self) -> None:
        """Refuse the literal just announced by :class:`NeedLiteral`.

        Synchronizing: the command is dropped and parsing resumes with the next line (the
        session answers ``tag NO`` or ``tag BAD``; the client sends no octets). Not
        synchronizing: its octets are on their way, so the parser closes (RFC 7888 4:
        the session sends ``* BYE [TOOBIG]`` and closes the connection).
        """
        announced = self._announced
        if announced is None or self._mode is not _Mode.LITERAL:
            raise RuntimeError("no literal is being read")
        self._reset()
        if announced.synchronizing:
            self._mode = _Mode.COMMAND
        else:
            self._close()

    def stream_literal(self) -> None:
        """Hand the octets of the literal just announced to the session, chunk by chunk.

        :meth:`next_command` then returns :class:`LiteralChunk` values as octets arrive
        instead of buffering them (an APPEND of many megabytes is never whole in memory);
        in the command the message is an :class:`AppendMessage` with ``streamed_size``
        set and no data. Only APPEND messages may be streamed: another literal streamed
        makes the command a ParseError.
        """
        if self._announced is None or self._mode is not _Mode.LITERAL:
            raise RuntimeError("no literal is being read")
        self._streaming = True

    def next_line(self) -> bytes | NeedMoreData | ParseError:
        """A raw line without its CRLF: AUTHENTICATE responses, IDLE's DONE.

        Only between commands. A line over ``limits.max_line`` gives a closing ParseError.
        """
        if self.in_command:
            raise RuntimeError("next_line() while a command is being received")
        if self._mode is _Mode.CLOSED:
            return NEED_MORE_DATA
        try:
            line = self._take_line(0)
        except _TooLong:
            return self._fatal(None, "line too long")
        return NEED_MORE_DATA if line is None else line

    # --- framing ------------------------------------------------------------------------

    def _take_line(self, used: int) -> bytes | None:
        buf = self._buf
        lf = buf.find(b"\n", self._scan)
        if lf < 0:
            self._scan = len(buf)
            if used + len(buf) > self.limits.max_line + 1:  # a CR may end the line
                raise _TooLong
            return None
        end = lf - 1 if lf and buf[lf - 1] == 0x0D else lf
        if used + end > self.limits.max_line:
            raise _TooLong
        line = bytes(buf[:end])
        del buf[: lf + 1]
        self._scan = 0
        return line

    def _on_line(self, line: bytes) -> Result | None:
        command = self._command
        command.parts.append(line)
        match = LITERAL_HEADER.search(line)
        if match is None:
            self._reset()
            return self._parse(command.parts, command.streamed)
        size = int(match.group(2))
        synchronizing = not match.group(3)
        tag, name = self._tag_and_command()
        refusal = self._check_literal(name, size, synchronizing)
        if refusal is not None:
            self._reset()
            if not synchronizing:
                return self._fatal(tag, refusal, "TOOBIG", name)
            return ParseError(tag, refusal, "NO", "TOOBIG", command=name)
        command.literal_total += size
        self._mode = _Mode.LITERAL
        self._literal = bytearray()
        self._literal_left = size
        self._announced = NeedLiteral(tag, name, size, synchronizing, bool(match.group(1)))
        return self._announced

    def _check_literal(self, command: str, size: int, synchronizing: bool) -> str | None:
        limits = self.limits
        if not synchronizing and limits.literal_minus and size > LITERAL_MINUS_MAX:
            return "non-synchronizing literal over 4096 octets (LITERAL-)"
        # the mailbox name of APPEND is no message: it has the small limit
        parts = self._command.parts
        append = command == "APPEND" and not (len(parts) == 1 and _APPEND_MAILBOX.match(parts[0]))
        if size > (limits.max_append_literal if append else limits.max_literal):
            return "message too big" if append else "literal too big"
        total = limits.max_append_total if append else limits.max_command_literals
        if self._command.literal_total + size > total:
            return "command too big"
        return None

    def _stream_chunk(self) -> LiteralChunk | NeedMoreData:
        pending = bytes(self._literal)  # octets buffered before stream_literal() was called
        take = min(self._literal_left, len(self._buf))
        if not take and not pending and self._literal_left:
            return NEED_MORE_DATA
        data = pending + bytes(self._buf[:take])
        del self._buf[:take]
        self._literal = bytearray()
        self._literal_left -= take
        if self._literal_left:
            return LiteralChunk(data, last=False)
        command = self._command
        assert self._announced is not None
        command.streamed[len(command.parts)] = self._announced.size
        command.parts.append(b"")
        self._end_literal()
        return LiteralChunk(data, last=True)

    def _end_literal(self) -> None:
        self._literal = bytearray()
        self._announced = None
        self._streaming = False
        self._mode = _Mode.COMMAND
        self._scan = 0

    def _fill_literal(self) -> bool:
        take = min(self._literal_left, len(self._buf))
        if take:
            self._literal += self._buf[:take]
            del self._buf[:take]
            self._literal_left -= take
        if self._literal_left:
            return False
        self._command.parts.append(bytes(self._literal))
        self._end_literal()
        return True

    def _reset(self) -> None:
        self._command = _Command()
        self._literal = bytearray()
        self._literal_left = 0
        self._announced = None
        self._streaming = False
        self._mode = _Mode.COMMAND

    def _close(self) -> None:
        self._mode = _Mode.CLOSED
        self._buf.clear()
        self._scan = 0

    def _fatal(self, tag: str | None, text: str, code: str | None = None, command: str = "") -> ParseError:
        self._reset()
        self._close()
        return ParseError(tag, text, "BAD", code, close=True, command=command)

    def _tag_and_command(self) -> tuple[str | None, str]:
        """The tag and command name from the command's first line (or the buffer), if readable."""
        first = self._command.parts[0] if self._command.parts else bytes(self._buf[:200])
        reader = Reader([first])
        tag: str | None = None
        name = ""
        try:
            tag = reader.tag()
            reader.sp()
            name = reader.keyword()
            if name == "UID":
                reader.sp()
                name = reader.keyword()
        except Syntax:
            pass
        return tag, name[:MAX_NAME]

    # --- grammar -------------------------------------------------------------------------

    def _parse(self, parts: list[bytes], streamed: dict[int, int]) -> Command | ParseError:
        reader = Reader(parts, streamed)
        tag: str | None = None
        name = ""
        try:
            tag = reader.tag()
            reader.sp()
            name = reader.keyword("a command name")
            uid = False
            if name == "UID":
                reader.sp()
                name, uid = reader.keyword("a command name"), True
                if name not in UID_COMMANDS:
                    raise Syntax(f"UID {name} is not a command")
            parser = PARSERS.get(name)
            if parser is None:
                raise Syntax("unknown command")
            return parser(reader, tag, self.context, uid)
        except Syntax as exc:
            # the text may quote a word of the client's: keep it short
            return ParseError(tag, _short(str(exc)), command=name[:MAX_NAME])
