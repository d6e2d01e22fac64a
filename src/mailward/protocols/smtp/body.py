"""Message bodies: the DATA reader (dot-unstuffing, end of data) and the BDAT chunk reader.

Only CRLF ends a line. A bare LF or a bare CR in DATA ends the session: the
forms ``\\n.\\n``, ``\\n.\\r\\n``, ``\\r\\n.\\n`` and ``\\r.\\r\\n`` are how SMTP
smuggling (CVE-2023-51766 and kin) makes two servers disagree about where a
message ends, so none of them is taken for anything (RFC 5321 2.3.8, 4.1.1.4).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# a line with no CRLF yet is passed on in pieces of this size, keeping memory bounded
_PIECE = 64 * 1024
# What makes a run of whole lines need more than a copy: a CR not followed by LF, and an
# LF not preceded by CR or followed by a dot (a stuffed dot, or the end of data). Both
# start with one literal byte, which the regular expression engine finds fast: the two
# searches cost a third of what counting CR, LF and CRLF with bytes methods did.
_BARE_CR = re.compile(rb"\r(?!\n)")
_BARE_LF_OR_DOT = re.compile(rb"\n(?:(?<!\r\n)|\.)")


class Outcome(enum.Enum):
    MORE = "more"  # everything given was consumed; send more
    END = "end"  # the end of the body was reached
    BARE_LINE_ENDING = "bare line ending"


@dataclass
class Step:
    outcome: Outcome
    data: bytes  # body bytes to pass on (unstuffed)
    consumed: int  # input bytes used


class DataReader:
    """Reads a DATA body (RFC 5321 4.1.1.4, 4.5.2) from successive buffers."""

    def __init__(self) -> None:
        self.at_line_start = True

    def feed(self, buf: bytes | bytearray) -> Step:
        last = buf.rfind(b"\n")
        if last >= 0:
            step = self._whole_lines(buf, last + 1)
            if step is not None:
                return step
        return self._line_by_line(buf)

    def _whole_lines(self, buf: bytes | bytearray, stop: int) -> Step | None:
        """The complete lines in ``buf[:stop]`` at once, with a search and a copy rather
        than a loop per line; ``None`` when the line-by-line reader must say what they
        hold (a bare CR or LF, or the end of data on the first line)."""
        if self.at_line_start and buf.startswith(b".\r\n"):
            return None
        start = 1 if self.at_line_start and buf.startswith(b".") else 0
        end, outcome, consumed = stop, Outcome.MORE, stop
        special = _BARE_LF_OR_DOT.search(buf, 0, stop)
        if special is not None:
            at = special.start()  # an LF: after CR when the match has the dot too
            if special.end() - at == 2 and buf.startswith(b".\r\n", at + 1):
                end, outcome, consumed = at + 1, Outcome.END, at + 4
            else:
                return self._stuffed(buf, stop, start)
        if _BARE_CR.search(buf, 0, end) is not None:
            return None
        self.at_line_start = True  # the lines end with CRLF: the next byte starts a line
        return Step(outcome, bytes(buf[start:end]), consumed)

    def _stuffed(self, buf: bytes | bytearray, stop: int, start: int) -> Step | None:
        """:meth:`_whole_lines` when a line after the first starts with a dot (or an LF
        is bare): CR, LF and CRLF counted up to the end of data, the dots taken out."""
        marker = buf.find(b"\r\n.\r\n", 0, stop)
        if marker >= 0:
            end, outcome, consumed = marker + 2, Outcome.END, marker + 5
        else:
            end, outcome, consumed = stop, Outcome.MORE, stop
        crlf = buf.count(b"\r\n", 0, end)
        if buf.count(b"\n", 0, end) != crlf or buf.count(b"\r", 0, end) != crlf:
            return None
        self.at_line_start = True
        return Step(outcome, bytes(buf[start:end]).replace(b"\r\n.", b"\r\n"), consumed)

    def _line_by_line(self, buf: bytes | bytearray) -> Step:
        out = bytearray()
        pos = 0
        end = len(buf)
        while pos < end:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                return self._partial(buf, pos, out)
            line = bytes(buf[pos : nl + 1])
            if len(line) < 2 or line[-2] != 0x0D or b"\r" in line[:-2]:
                return Step(Outcome.BARE_LINE_ENDING, bytes(out), nl + 1)
            pos = nl + 1
            if self.at_line_start and line[:1] == b".":
                if line == b".\r\n":
                    return Step(Outcome.END, bytes(out), pos)
                line = line[1:]  # RFC 5321 4.5.2: remove the stuffed dot
            out += line
            self.at_line_start = True
        return Step(Outcome.MORE, bytes(out), pos)

    def _partial(self, buf: bytes | bytearray, pos: int, out: bytearray) -> Step:
        """No LF in ``buf[pos:]``: pass on what cannot be part of a line ending or a lone dot."""
        rest = bytes(buf[pos:])
        keep = 1 if rest.endswith(b"\r") else 0  # a CR at the end may be half of CRLF
        if self.at_line_start and len(rest) < 3 and b".\r\n".startswith(rest):
            return Step(Outcome.MORE, bytes(out), pos)  # may become the end marker
        if len(rest) - keep < _PIECE and self.at_line_start:
            return Step(Outcome.MORE, bytes(out), pos)  # wait for the line, to unstuff it
        piece = rest[: len(rest) - keep]
        if b"\r" in piece:
            return Step(Outcome.BARE_LINE_ENDING, bytes(out), len(buf))
        if self.at_line_start and piece[:1] == b".":
            piece = piece[1:]
        out += piece
        self.at_line_start = False
        return Step(Outcome.MORE, bytes(out), pos + len(rest) - keep)


_BARE_LF = re.compile(rb"(?<!\r)\n")


class LineEndingCheck:
    """Finds a bare CR or LF in a BDAT message, whose chunks may split a CRLF between them.

    BDAT needs no dot-stuffing, but a message with a bare line ending is refused all the
    same: relayed over DATA, ``\\n.\\n`` or ``\\r.\\r`` in it would end the message early
    at a server that takes bare line endings (the SMTP smuggling forms).
    """

    def __init__(self) -> None:
        self._cr_pending = False  # the last byte seen was a CR, which an LF may follow

    def feed(self, data: bytes) -> bool:
        """True when ``data`` (the next bytes of the message) holds a bare CR or LF."""
        if not data:
            return False
        if self._cr_pending:
            if data[0] != 0x0A:
                return True
        elif data[0] == 0x0A:
            return True
        self._cr_pending = data.endswith(b"\r")
        body = data[:-1] if self._cr_pending else data
        return _BARE_CR.search(body) is not None or _BARE_LF.search(body, 1) is not None

    def finish(self) -> bool:
        """True when the message ended in a CR that no LF followed."""
        return self._cr_pending


class ChunkReader:
    """Reads exactly ``size`` octets of a BDAT chunk (RFC 3030 2), as sent."""

    def __init__(self, size: int) -> None:
        self.left = size

    def feed(self, buf: bytes | bytearray) -> Step:
        take = min(self.left, len(buf))
        self.left -= take
        outcome = Outcome.END if self.left == 0 else Outcome.MORE
        return Step(outcome, bytes(buf[:take]), take)
