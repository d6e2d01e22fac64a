"""A message as RETR and TOP send it (RFC 1939 3): byte-stuffed, ended by ``.CRLF``.

:class:`MessageWriter` takes the stored message in chunks of any size and returns
the bytes to send for each, so that a message is streamed, never held whole. A line
that begins with ``.`` gets one more in front; the response ends with ``.CRLF`` on a
line of its own, a CRLF added first when the message's last line has none. For TOP,
the writer passes the header, the blank line after it and then ``lines`` lines of the
body (RFC 1939 7), and says :attr:`done` once it wants no more input.
"""

from __future__ import annotations

TERMINATOR = b".\r\n"


class MessageWriter:
    def __init__(self, lines: int | None = None) -> None:
        if lines is not None and lines < 0:
            raise ValueError("TOP takes a non-negative number of lines")
        self._lines = lines  # TOP's body lines still to send; None: the whole message (RETR)
        self._at_line_start = True  # the next byte begins a line
        self._in_header = True
        self._line_blank = True  # the current line has held nothing but CRs so far
        self._ended_with_lf = True  # an empty message needs no CRLF before the terminator
        self.done = False  # TOP has sent all it will

    def feed(self, chunk: bytes) -> bytes:
        """The bytes to send for the next ``chunk`` of the message."""
        if self.done or not chunk:
            return b""
        if self._lines is None:
            return self._stuff(chunk)
        return self._top(chunk)

    def end(self) -> bytes:
        """What ends the response: CRLF if the last line had none, then ``.CRLF``."""
        return TERMINATOR if self._ended_with_lf else b"\r\n" + TERMINATOR

    def _stuff(self, chunk: bytes) -> bytes:
        # RFC 1939 3: "each line ... that begins with the termination octet" is stuffed; a
        # line begins after every LF (a bare LF too: a client splitting on LF is safe)
        out = chunk.replace(b"\n.", b"\n..")
        if self._at_line_start and chunk[:1] == b".":
            out = b"." + out
        self._at_line_start = self._ended_with_lf = chunk[-1:] == b"\n"
        return out

    def _top(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        pos, size = 0, len(chunk)
        while pos < size:
            newline = chunk.find(b"\n", pos)
            end = size if newline < 0 else newline + 1
            piece = chunk[pos:end]
            if self._at_line_start and piece[:1] == b".":
                out.append(b".")
            out.append(piece)
            content = piece if newline < 0 else piece[:-1]
            if content.strip(b"\r"):
                self._line_blank = False
            self._at_line_start = self._ended_with_lf = newline >= 0
            pos = end
            if newline >= 0 and self._line_ended():
                self.done = True
                break
        return b"".join(out)

    def _line_ended(self) -> bool:
        """A line ended: True when TOP has sent all it was asked for."""
        blank, self._line_blank = self._line_blank, True
        assert self._lines is not None
        if self._in_header:
            if blank:  # the empty line that ends the header (RFC 5322 2.1)
                self._in_header = False
                return self._lines == 0
            return False
        self._lines -= 1
        return self._lines == 0
