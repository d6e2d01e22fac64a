"""The grammar primitives of RFC 9051 9 over one received command.

A command arrives as ``parts``: text, literal, text, literal, ..., text. Each text
part is a line without its CRLF; one that is followed by a literal ends with the
literal's ``{n}``, ``{n+}`` or ``~{n}`` header. :class:`Reader` walks the parts
and raises :class:`Syntax` on anything the grammar does not allow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from mailward.protocols.imap.seqset import SequenceSet, SequenceSetError

# RFC 9051 9: ATOM-CHAR = any CHAR except atom-specials; atom-specials = "(" / ")" /
# "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
ATOM_CHARS = frozenset(c for c in range(0x21, 0x7F) if c not in _ATOM_SPECIALS)
ASTRING_CHARS = ATOM_CHARS | {ord("]")}  # ASTRING-CHAR = ATOM-CHAR / resp-specials
TAG_CHARS = ASTRING_CHARS - {ord("+")}  # tag = 1*<any ASTRING-CHAR except "+">
LIST_CHARS = ATOM_CHARS | set(b"%*]")  # list-char = ATOM-CHAR / list-wildcards / resp-specials
SEQ_CHARS = frozenset(b"0123456789:*,$")
_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


def _run_of(chars: frozenset[int] | set[int]) -> re.Pattern[bytes]:
    """A pattern matching the longest run (possibly empty) of ``chars``."""
    return re.compile(b"[" + b"".join(re.escape(bytes([c])) for c in sorted(chars)) + b"]*")


_ATOM_RUN = _run_of(ATOM_CHARS)
_ASTRING_RUN = _run_of(ASTRING_CHARS)
_TAG_RUN = _run_of(TAG_CHARS)
_LIST_RUN = _run_of(LIST_CHARS)
_SEQ_RUN = _run_of(SEQ_CHARS)
_NAME_RUN = _run_of(_NAME_CHARS)
_DIGIT_RUN = _run_of(frozenset(b"0123456789"))

LITERAL_HEADER = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\Z")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)
# QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\\" quoted-specials (and UTF-8)
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_ESCAPED = re.compile(rb'\\(["\\])')
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")


@dataclass(frozen=True)
class LiteralValue:
    """A literal as read: its octets (empty if the session streamed them), literal8 or not."""

    data: bytes
    binary: bool
    size: int
    streamed: bool = False


class Syntax(Exception):
    """The command does not follow the grammar; the message is safe to show the client."""


class Reader:
    """A cursor over the parts of one command."""

    def __init__(self, parts: list[bytes], streamed: dict[int, int] | None = None) -> None:
        self.parts = parts
        self.streamed = streamed or {}  # literal part index -> size, for those the session took as chunks
        self.index = 0  # always a text part (even index)
        self.pos = 0
        self.text = parts[0]  # the current text part

    # --- looking -------------------------------------------------------------------

    def peek(self) -> int | None:
        """The next octet of the current text part, or None at its end."""
        pos = self.pos
        return self.text[pos] if pos < len(self.text) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.text) and self.index == len(self.parts) - 1

    def startswith(self, word: bytes) -> bool:
        """Case-insensitive look-ahead (IMAP keywords are case-insensitive)."""
        return self.text[self.pos : self.pos + len(word)].upper() == word  # words are given upper-case

    def at_sp(self) -> bool:
        return self.peek() == 0x20

    def at(self, char: bytes) -> bool:
        return self.peek() == char[0]

    # --- consuming -----------------------------------------------------------------

    def expect(self, word: bytes) -> None:
        if not self.startswith(word):
            raise Syntax(f"expected {word.decode()}")
        self.pos += len(word)

    def accept(self, word: bytes) -> bool:
        if self.startswith(word):
            self.pos += len(word)
            return True
        return False

    def sp(self) -> None:
        if self.peek() != 0x20:
            raise Syntax("expected a space")
        self.pos += 1

    def end(self) -> None:
        if not self.at_end():
            raise Syntax("unexpected text at the end of the command")

    def _run(self, run: re.Pattern[bytes]) -> bytes:
        match = run.match(self.text, self.pos)
        assert match is not None  # a run may be empty: the pattern always matches
        self.pos = match.end()
        return match.group()

    def atom(self, what: str = "an atom") -> str:
        """``atom = 1*ATOM-CHAR`` as written."""
        word = self._run(_ATOM_RUN)
        if not word:
            raise Syntax(f"expected {what}")
        return word.decode("ascii")

    def keyword(self, what: str = "a keyword") -> str:
        """An atom, upper-cased (command names, option names)."""
        return self.atom(what).upper()

    def name_token(self) -> str:
        """Letters, digits, "." and "-", upper-cased: FETCH items, section words, options."""
        word = self._run(_NAME_RUN)
        if not word:
            raise Syntax("expected a name")
        return word.decode("ascii").upper()

    def tag(self) -> str:
        word = self._run(_TAG_RUN)
        if not word:
            raise Syntax("expected a tag")
        return word.decode("ascii")

    def number(self, *, nonzero: bool = False, limit: int = 0xFFFFFFFF) -> int:
        """``number`` (32 bits) or ``number64`` with ``limit``; ``nz-number`` if ``nonzero``."""
        digits = self._run(_DIGIT_RUN)
        if not digits or len(digits) > 20:
            raise Syntax("expected a number")
        value = int(digits)
        if value > limit or (nonzero and (value == 0 or digits[0] == 0x30)):
            raise Syntax("number out of range")
        return value

    def seq_token(self) -> bytes:
        """The octets a sequence set or number may be made of (``0-9 : * , $``)."""
        return self._run(_SEQ_RUN)

    def sequence_set(self) -> SequenceSet:
        try:
            return SequenceSet.parse(self.seq_token().decode("ascii"))
        except SequenceSetError as exc:
            raise Syntax(str(exc)) from None

    def quoted(self) -> bytes:
        """``quoted``: DQUOTE *QUOTED-CHAR DQUOTE, 8-bit allowed as UTF-8 (RFC 9051 9)."""
        match = _QUOTED.match(self.text, self.pos)
        if match is None:
            raise Syntax("bad quoted string (unterminated, or CR, NUL or a stray backslash in it)")
        self.pos = match.end()
        body = match.group(1)
        return _ESCAPED.sub(rb"\1", body) if b"\\" in body else body

    def literal(self) -> LiteralValue:
        """A literal (its header ends the text part)."""
        match = LITERAL_HEADER.match(self.text, self.pos)
        if match is None or self.index + 1 >= len(self.parts):
            raise Syntax("bad literal")
        index = self.index + 1
        data = self.parts[index]
        binary = bool(match.group(1))
        if not binary and b"\x00" in data:
            raise Syntax("NUL in a literal (RFC 9051 4.3: use literal8)")
        self.index += 2
        self.pos = 0
        self.text = self.parts[self.index]
        if index in self.streamed:
            return LiteralValue(b"", binary, self.streamed[index], streamed=True)
        return LiteralValue(data, binary, len(data))

    def at_literal(self) -> bool:
        return self.peek() in (0x7B, 0x7E)  # "{" or "~"

    def string(self) -> bytes:
        """``string = quoted / literal``."""
        if self.at(b'"'):
            return self.quoted()
        if self.at(b"{"):
            value = self.literal()
            if value.streamed:
                raise Syntax("only an APPEND message may be streamed")
            return value.data
        raise Syntax("expected a string")

    def astring(self) -> bytes:
        """``astring = 1*ASTRING-CHAR / string``."""
        if self.at(b'"') or self.at(b"{"):
            return self.string()
        word = self._run(_ASTRING_RUN)
        if not word:
            raise Syntax("expected an astring")
        return word

    def nstring(self) -> bytes | None:
        if self.startswith(b"NIL") and self._nil_ends():
            self.pos += 3
            return None
        return self.string()

    def _nil_ends(self) -> bool:
        after = self.text[self.pos + 3 : self.pos + 4]
        return not after or after[0] not in ASTRING_CHARS

    def list_mailbox(self) -> bytes:
        """``list-mailbox = 1*list-char / string`` (wildcards allowed)."""
        if self.at(b'"') or self.at(b"{"):
            return self.string()
        word = self._run(_LIST_RUN)
        if not word:
            raise Syntax("expected a mailbox pattern")
        return word

    def parenthesised(self, item: str = "a list") -> None:
        if not self.accept(b"("):
            raise Syntax(f"expected {item}")

    def date_time(self) -> datetime:
        """``date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE``."""
        match = _DATE_TIME.match(self.text, self.pos)
        if match is None:
            raise Syntax("bad date-time")
        day, month, year, hh, mm, ss, sign, zh, zm = match.groups()
        try:
            zone = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == b"-" else 1)
            value = datetime(
                int(year), _month(month), int(day.strip() or b"0"), int(hh), int(mm), int(ss),
                tzinfo=timezone(zone),
            )
        except ValueError:
            raise Syntax("bad date-time") from None
        self.pos = match.end()
        return value

    def date(self) -> date:
        """``date = date-text / DQUOTE date-text DQUOTE`` (SEARCH)."""
        quoted = self.accept(b'"')
        match = _DATE.match(self.text, self.pos)
        if match is None:
            raise Syntax("bad date")
        try:
            value = date(int(match.group(3)), _month(match.group(2)), int(match.group(1)))
        except ValueError:
            raise Syntax("bad date") from None
        self.pos = match.end()
        if quoted:
            self.expect(b'"')
        return value


def _month(name: bytes) -> int:
    try:
        return MONTHS.index(name.decode("ascii").upper()) + 1
    except ValueError:
        raise Syntax("bad month") from None
