"""mbox framing (RFC 4155) as pure functions: finding the messages, undoing and doing
the ``>From `` quoting, the ``From `` line's date, and the flags kept in headers.

- A message starts at a ``From `` line that is the first line of the file or follows
  an empty line, and whose date can be read ("From sender Tue Dec  8 00:06:07 2026",
  asctime in UTC); the empty line before it ends the message before and is not part
  of it (RFC 4155 2). A ``From `` line anywhere else is a body line, as written.
- Quoting is mboxrd's: a writer puts ``>`` before every line that matches ``>*From ``,
  a reader takes one off. An mboxo writer quoted only ``From ``; reading its file
  as mboxrd takes one ``>`` too many off a body line that began ``>From `` itself.
- Flags: like Dovecot, the importer reads ``Status`` (R: \\Seen), ``X-Status``
  (A: \\Answered, F: \\Flagged, T: \\Draft, D: \\Deleted) and ``X-Keywords`` and takes
  them, with the other headers Dovecot keeps for its own bookkeeping (``X-UID``,
  ``X-IMAP``, ``X-IMAPbase``, ``Content-Length``), out of the message: Dovecot never
  shows them to a client either. The exporter writes them back.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_FROM = re.compile(
    rb"From (\S*) +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +"
    rb"(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))?(?: +[A-Z]{3,4}| +[+-]\d{4})? +(\d{4})\b")
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_QUOTED = re.compile(rb">*From ")

# Headers Dovecot's mbox keeps its state in and hides from clients (its mbox_hide_headers).
BOOKKEEPING_HEADERS = frozenset({b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase",
                                 b"content-length"})
_X_STATUS = {"A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}
_LETTER_OF = {flag: letter for letter, flag in _X_STATUS.items()}


@dataclass(frozen=True)
class FromLine:
    sender: str
    date: float  # seconds since the epoch (the line's time, taken as UTC per RFC 4155)


def parse_from_line(line: bytes) -> FromLine | None:
    """The sender and date of a ``From `` separator line, or None when it is none."""
    match = _FROM.match(line)
    if match is None:
        return None
    sender, month, day, hour, minute, second, year = match.groups()
    try:
        stamp = calendar.timegm((int(year), _MONTHS[month], int(day), int(hour), int(minute),
                                 int(second or 0), 0, 0, 0))
        time.gmtime(stamp)
    except (ValueError, OverflowError):
        return None
    if not (1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60 and int(second or 0) < 61):
        return None
    return FromLine(sender.decode("utf-8", "replace") or "MAILER-DAEMON", float(stamp))


def render_from_line(sender: str, date: float) -> bytes:
    """``From sender asctime\\n`` (RFC 4155: the date in UTC)."""
    stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(date))
    return f"From {sender or 'MAILER-DAEMON'} {stamp}\n".encode()


def unquote(line: bytes) -> bytes:
    """mboxrd: one ``>`` off a line that matches ``>+From ``."""
    return line[1:] if line.startswith(b">") and _QUOTED.match(line) else line


def quote(line: bytes) -> bytes:
    """mboxrd: one ``>`` before a line that matches ``>*From ``."""
    return b">" + line if _QUOTED.match(line) else line


@dataclass(frozen=True)
class Start:
    """A message begins; ``from_line`` is its separator."""

    from_line: FromLine


@dataclass(frozen=True)
class Line:
    """A line of the current message, unquoted, with its LF (the last may lack one)."""

    data: bytes


@dataclass(frozen=True)
class End:
    """The current message is whole."""


Event = Start | Line | End


class MboxSplitter:
    """Fed an mbox's lines in order (each with its LF), says where messages begin and
    end and gives their lines. Text before the first ``From `` line is no message and
    is skipped (``skipped`` counts its lines)."""

    def __init__(self) -> None:
        self._in_message = False
        self._blank_pending = b""  # an empty line that may be the separator's
        self._after_blank = True  # the next line may be a separator
        self.skipped = 0

    def feed(self, line: bytes) -> list[Event]:
        events: list[Event] = []
        if self._after_blank and line.startswith(b"From "):
            from_line = parse_from_line(line)
            if from_line is not None:
                if self._in_message:
                    events.append(End())
                self._in_message, self._blank_pending, self._after_blank = True, b"", False
                events.append(Start(from_line))
                return events
        if self._blank_pending:
            events.append(Line(self._blank_pending))
            self._blank_pending = b""
        blank = line in (b"\n", b"\r\n")
        self._after_blank = blank
        if not self._in_message:
            self.skipped += 1
        elif blank:
            self._blank_pending = line
        else:
            events.append(Line(unquote(line)))
        return events

    def end(self) -> list[Event]:
        """At the end of the file: the last message is whole (its closing empty line,
        if it has one, is the separator's and is dropped)."""
        if not self._in_message:
            return []
        self._in_message, self._blank_pending = False, b""
        return [End()]


def header_name(line: bytes) -> bytes | None:
    """The lowercased field name of a header line, None for a continuation line."""
    if line[:1] in (b" ", b"\t"):
        return None
    name, colon, _ = line.partition(b":")
    return name.strip().lower() if colon else b""


def header_flags(header: Sequence[bytes]) -> tuple[frozenset[str], list[bytes]]:
    """The flags that ``Status``, ``X-Status`` and ``X-Keywords`` give, and the header
    lines without Dovecot's bookkeeping fields (continuation lines go with their field)."""
    flags: set[str] = set()
    kept: list[bytes] = []
    dropping = False
    current: bytes | None = None
    for line in header:
        name = header_name(line)
        if name is None:
            if dropping and current is not None:
                current += line
            else:
                kept.append(line)
            continue
        if current is not None:
            flags |= _field_flags(current)
        dropping = name in BOOKKEEPING_HEADERS
        current = line if dropping else None
        if not dropping:
            kept.append(line)
    if current is not None:
        flags |= _field_flags(current)
    return frozenset(flags), kept


def _field_flags(field: bytes) -> set[str]:
    name, _, value = field.partition(b":")
    text = value.decode("utf-8", "replace").strip()
    key = name.strip().lower()
    if key == b"status":
        return {"\\Seen"} if "R" in text else set()
    if key == b"x-status":
        return {_X_STATUS[c] for c in text if c in _X_STATUS}
    if key == b"x-keywords":
        return {word for word in re.split(r"[\s,]+", text) if word and not word.startswith("\\")}
    return set()


def flag_headers(flags: Iterable[str]) -> bytes:
    """The ``Status``, ``X-Status`` and ``X-Keywords`` lines for ``flags`` (LF-ended)."""
    flags = set(flags)
    out = b"Status: RO\n" if "\\Seen" in flags else b"Status: O\n"
    letters = "".join(sorted(_LETTER_OF[f] for f in flags if f in _LETTER_OF))
    if letters:
        out += f"X-Status: {letters}\n".encode()
    keywords = sorted(f for f in flags if not f.startswith("\\"))
    if keywords:
        out += ("X-Keywords: " + " ".join(keywords) + "\n").encode()
    return out
