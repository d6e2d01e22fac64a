"""The streaming MIME parser: bytes in as they arrive, the part tree out at the end.

Sans-IO, one pass, memory bounded by the header sizes (RFC 2045, RFC 2046, RFC 5322).
Lines end at LF; a CR before it is part of the line break (bare LF is read as a line
break too, and noted as a defect). Bodies are scanned with bytes.find for lines that
start with "--", the only lines a boundary can be (RFC 2046 5.1.1).
"""

from __future__ import annotations

from typing import Protocol

from mailward.mime.content import IDENTITY_ENCODINGS, MESSAGE_SUBTYPES, Content, analyse
from mailward.mime.envelope import EMPTY_ENVELOPE, Envelope, build_envelope
from mailward.mime.headers import FIELD_LINE, FIELD_LINES, header_fields
from mailward.mime.structure import MessageStructure, Part

HEADER, LEAF, PREAMBLE, PARTS, EPILOGUE, MESSAGE = range(6)
# RFC 2046 5.1.1 allows transport padding after a boundary; a candidate line longer
# than the longest boundary plus this much is body text, whatever follows.
_PADDING = 1024
_LF = 0x0A


class Listener(Protocol):
    """What a consumer of leaf bodies hears while the parser runs (text.py)."""

    def top_header(self, fields: list[tuple[str, str]]) -> None: ...
    def leaf_begin(self, content: Content, media: tuple[str, str]) -> None: ...
    def leaf_body(self, data: bytes) -> None: ...
    def leaf_end(self) -> None: ...


class _Frame:
    """A part being parsed: on the stack from its first header byte to its end."""

    __slots__ = ("body_offset", "boundary", "children", "closed", "content", "depth", "envelope",
                 "header", "header_offset", "in_digest", "inner_envelope", "lf_at_body", "media",
                 "parent", "phase")

    def __init__(self, parent: _Frame | None, header_offset: int, lf: int) -> None:
        self.parent = parent
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.in_digest = parent is not None and parent.media == ("multipart", "digest")
        self.header_offset = header_offset
        self.header = bytearray()
        self.phase = HEADER
        self.body_offset = header_offset
        self.lf_at_body = lf
        self.content: Content | None = None
        self.media: tuple[str, str] = ("text", "plain")
        self.boundary = b""
        self.closed = False  # multipart: its close-delimiter was seen
        self.children: list[Part] = []
        self.envelope: Envelope | None = None  # of this header, when it heads a message
        self.inner_envelope: Envelope | None = None  # message/*: the encapsulated one's


class MimeParser:
    """Feed a message's bytes in any split with feed(); close() gives its structure.

    Never raises on bad input: every irregularity gets a defined reading and a line
    in MessageStructure.defects. Parts nested deeper than max_depth are opaque
    leaves (application/octet-stream); a header longer than max_header_bytes ends
    at the last whole line that fits, and the rest is read as the part's body;
    after max_parts parts no boundary is looked for, and the rest of the message
    is the body of the last part (so the tree, too, stays bounded).
    """

    def __init__(self, *, max_depth: int = 32, max_header_bytes: int = 256 * 1024,
                 max_parts: int = 10_000) -> None:
        self._max_depth = max(0, max_depth)
        self._max_parts = max(1, max_parts)
        self._parts = 1
        self._parts_full = False
        self._max_header = max(1, max_header_bytes)
        self._buf = b""
        self._pos = 0  # next byte of _buf to read
        self._base = 0  # offset in the message of _buf[0]
        self._tail = b""  # up to 3 bytes before _buf[0]
        self._lf = 0  # LFs before _buf[_pos]
        self._line_start = True  # _buf[_pos] starts a line
        self._final = False
        self._bare_lf = False
        self._defects: list[str] = []
        self._stack = [_Frame(None, 0, 0)]
        self._bounds: list[tuple[bytes, _Frame]] = []
        self._bound_limit = 0
        self._root: Part | None = None
        self._root_envelope: Envelope | None = None
        self._result: MessageStructure | None = None
        self.listener: Listener | None = None

    def feed(self, data: bytes) -> None:
        if self._result is not None:
            raise RuntimeError("feed() after close()")
        if not data:
            return
        self._buf = self._buf[self._pos:] + data if self._pos < len(self._buf) else bytes(data)
        self._pos = 0
        self._run()
        self._compact()

    def close(self) -> MessageStructure:
        if self._result is not None:
            return self._result
        self._final = True
        self._run()
        size = self._base + len(self._buf)
        last = self._before(len(self._buf), 1)
        while self._stack:
            self._end_top(size, 0, last != b"\n", eof=True)
        assert self._root is not None
        self._result = MessageStructure(self._root, self._root_envelope or EMPTY_ENVELOPE, size,
                                        tuple(self._defects))
        self._buf = b""
        return self._result

    # -- the buffer

    def _compact(self) -> None:
        pos = self._pos
        if pos:
            self._tail = (self._tail + self._buf[max(0, pos - 3):pos])[-3:]
            self._base += pos
            self._buf = self._buf[pos:]
            self._pos = 0

    def _before(self, p: int, n: int) -> bytes:
        """The n bytes before _buf[p] (fewer at the start of the message)."""
        if p >= n:
            return self._buf[p - n:p]
        return (self._tail + self._buf[:p])[-n:]

    def _advance(self, new: int, emit: Listener | None = None) -> None:
        buf, pos = self._buf, self._pos
        if new <= pos:
            return
        count = buf.count(b"\n", pos, new)
        if count:
            self._lf += count
            if not self._bare_lf:
                crlf = buf.count(b"\r\n", pos, new)
                if buf[pos] == _LF and self._before(pos, 1) == b"\r":
                    crlf += 1
                if crlf < count:
                    self._bare_lf = True
                    self._defect("bare LF line endings")
        if emit is not None:
            emit.leaf_body(buf[pos:new])
        self._pos = new
        self._line_start = buf[new - 1] == _LF

    def _defect(self, text: str) -> None:
        if len(self._defects) < 100:
            self._defects.append(text)

    # -- the scanners

    def _run(self) -> None:
        while self._stack:
            frame = self._stack[-1]
            scan = self._scan_header if frame.phase == HEADER else self._scan_body
            if not scan(frame):
                return

    def _scan_header(self, frame: _Frame) -> bool:
        """Header lines up to the empty line (RFC 5322 2.1). True when it ended."""
        buf = self._buf
        while self._pos < len(buf):
            pos = self._pos
            room = self._max_header - len(frame.header)
            run = FIELD_LINES.match(buf, pos, pos + room)
            if run is not None and not (self._bounds and (
                    buf.startswith(b"--", pos) or buf.find(b"\n--", pos, run.end()) >= 0)):
                # whole field lines, none of them a boundary: taken at once
                frame.header += buf[pos:run.end()]
                self._advance(run.end())
                continue
            eol = buf.find(b"\n", pos)
            if eol < 0 and not self._final:
                partial = len(buf) - pos
                may_be_boundary = bool(self._bounds) and partial <= self._bound_limit and (
                    buf.startswith(b"--", pos) or buf[pos:] == b"-")
                if len(frame.header) + partial > self._max_header and not may_be_boundary:
                    return self._header_overflow(frame)
                return False
            line_end = len(buf) if eol < 0 else eol + 1
            if buf.startswith(b"--", pos) and self._bounds and line_end - pos <= self._bound_limit:
                found = self._match(buf[pos:line_end])
                if found is not None:
                    self._boundary(found[0], found[1], pos, line_end)
                    return True
            if len(frame.header) + line_end - pos > self._max_header:
                return self._header_overflow(frame)
            line = buf[pos:line_end]
            if line in (b"\r\n", b"\n"):
                frame.header += line
                self._advance(line_end)
                self._end_header(frame)
                return True
            if FIELD_LINE.match(line) is None:
                # RFC 5322 2.1: the body follows the header; a line that is no field
                # starts the body (as Python's email reads it)
                self._defect(f"header without an empty line before the body at offset {self._base + pos}")
                self._end_header(frame)
                return True
            frame.header += line
            self._advance(line_end)
        return False

    def _header_overflow(self, frame: _Frame) -> bool:
        self._defect(f"header longer than {self._max_header} bytes at offset {frame.header_offset}:"
                     " the rest is read as body")
        self._end_header(frame)
        return True

    def _scan_body(self, frame: _Frame) -> bool:
        """Body bytes up to a boundary line of an enclosing multipart. True when found."""
        buf, n = self._buf, len(self._buf)
        emit = self.listener if frame.phase == LEAF else None
        if not self._bounds:
            self._advance(n, emit)
            return False
        while self._pos < n:
            pos = self._pos
            if self._line_start and buf.startswith(b"--", pos):
                candidate = pos
            elif self._line_start and n - pos < 2 and not self._final and buf[pos] == 0x2D:
                return False  # "-": a boundary line may be starting
            else:
                found = buf.find(b"\n--", pos)
                if found < 0:
                    last = buf.rfind(b"\n", pos)
                    if last >= 0 and buf[last + 1:] == b"-" and not self._final:
                        self._advance(last + 1, emit)
                        return False
                    self._advance(n, emit)
                    return False
                candidate = found + 1
            self._advance(candidate, emit)
            limit = candidate + self._bound_limit
            eol = buf.find(b"\n", candidate, limit)
            if eol >= 0:
                line_end = eol + 1
            elif n >= limit:
                # too long to be a boundary line: body text
                self._advance(limit, emit)
                continue
            elif self._final:
                line_end = n
            else:
                return False  # wait for the rest of the line
            match = self._match(buf[candidate:line_end])
            if match is not None:
                self._boundary(match[0], match[1], candidate, line_end)
                return True
            self._advance(line_end, emit)
        return False

    def _match(self, line: bytes) -> tuple[_Frame, bool] | None:
        """RFC 2046 5.1.1: "--" boundary ["--"] transport-padding CRLF, the innermost
        multipart's boundary tried first. Returns the multipart and whether it closes."""
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        for boundary, frame in self._bounds:
            if line.startswith(boundary, 2):
                rest = line[2 + len(boundary):]
                if rest[:2] == b"--" and not rest[2:].strip(b" \t"):
                    return frame, True
                if not rest.strip(b" \t"):
                    return frame, False
        return None

    def _boundary(self, multipart: _Frame, close: bool, start: int, line_end: int) -> None:
        """A boundary line at _buf[start:line_end] ends every part inside multipart."""
        before = self._before(start, 3)
        term = 2 if before.endswith(b"\r\n") else 1 if before.endswith(b"\n") else 0
        last_empty = len(before) <= term or before[-term - 1] == _LF
        end = self._base + start
        while self._stack[-1] is not multipart:
            self._end_top(end, term, not last_empty, eof=False)
        self._advance(line_end)
        if close:
            multipart.phase = EPILOGUE
            multipart.closed = True
        else:
            multipart.phase = PARTS
            self._push(_Frame(multipart, self._base + line_end, self._lf))
        self._rebound()

    def _push(self, frame: _Frame) -> None:
        self._stack.append(frame)
        self._parts += 1
        if self._parts >= self._max_parts and not self._parts_full:
            # Dovecot's limit of the same kind: no boundary is looked for any more
            self._parts_full = True
            self._defect(f"{self._max_parts} parts reached: the rest is read as the body of the last")

    def _rebound(self) -> None:
        if self._parts_full:
            self._bounds = []
            return
        self._bounds = [(f.boundary, f) for f in reversed(self._stack) if f.phase in (PREAMBLE, PARTS)]
        self._bound_limit = max((len(b) for b, _ in self._bounds), default=0) + 4 + _PADDING

    # -- ends of headers and parts

    def _end_header(self, frame: _Frame) -> None:
        frame.body_offset = self._base + self._pos
        frame.lf_at_body = self._lf
        self._read_header(frame)
        frame.phase = LEAF
        media, content = frame.media, frame.content
        assert content is not None
        if media[0] == "multipart":
            frame.phase = PREAMBLE
            self._rebound()
        elif media[0] == "message" and media[1] in MESSAGE_SUBTYPES and (
                content.encoding in IDENTITY_ENCODINGS) and not self._parts_full:
            frame.phase = MESSAGE
            self._push(_Frame(frame, frame.body_offset, self._lf))
        if frame.phase == LEAF and self.listener is not None:
            self.listener.leaf_begin(content, media)

    def _read_header(self, frame: _Frame) -> None:
        header = bytes(frame.header)
        frame.header = bytearray()
        fields = header_fields(header)
        defects = self._defects
        frame.content = content = analyse(fields, in_digest=frame.in_digest, defects=defects)
        frame.media = (content.media_type, content.media_subtype)
        if not header.isascii() and not _is_utf8(header):
            # RFC 6532 allows UTF-8 in header fields; other 8-bit bytes are kept as they are
            self._defect(f"8-bit bytes that are not UTF-8 in the header at offset {frame.header_offset}")
        if b"\x00" in header:
            self._defect(f"NUL in the header at offset {frame.header_offset}")
        parent = frame.parent
        if parent is None or parent.phase == MESSAGE:
            frame.envelope = build_envelope(fields)
            if parent is None and self.listener is not None:
                self.listener.top_header(fields)
        container = frame.media[0] == "multipart" or (
            frame.media[0] == "message" and frame.media[1] in MESSAGE_SUBTYPES)
        if frame.media[0] == "multipart":
            boundary = content.param("boundary")
            if not boundary:
                self._defect(f"multipart without a boundary at offset {frame.header_offset}:"
                             " read as text/plain")
                frame.media = ("text", "plain")
                container = False
            frame.boundary = (boundary or "").encode("utf-8", "surrogateescape")
        if container and frame.depth >= self._max_depth:
            self._defect(f"part nested deeper than {self._max_depth} at offset {frame.header_offset}"
                         " kept as application/octet-stream")
            frame.media = ("application", "octet-stream")

    def _end_top(self, end: int, term: int, last_unterminated: bool, *, eof: bool) -> None:
        """End the innermost part at a boundary line starting at end (after a line
        break of term bytes) or at the end of the message (eof)."""
        frame = self._stack.pop()
        if frame.phase == HEADER:
            stop = max(frame.header_offset, end - term)
            frame.header = frame.header[:stop - frame.header_offset]
            if frame.header:
                self._defect(f"header at offset {frame.header_offset} ends without an empty line")
            self._pos_free_end_header(frame, stop)
        body_offset = frame.body_offset
        lines = self._lf - frame.lf_at_body
        if eof:
            body_end = end
            lines += 1 if last_unterminated and end > body_offset else 0
        else:
            # RFC 2046 5.1.1: the line break before the boundary belongs to it, even when
            # it is the empty line after a header (the part then has no body)
            body_end = max(frame.header_offset, end - term)
            lines -= 1 if lines and not last_unterminated else 0
            if body_end <= body_offset:
                frame.body_offset, lines = body_end, 0
        if frame.phase == LEAF and self.listener is not None:
            self.listener.leaf_end()
        self._finish(frame, body_end, lines)
        self._rebound()

    def _pos_free_end_header(self, frame: _Frame, stop: int) -> None:
        """A header cut short by a boundary or the end: its body is empty, at stop."""
        frame.body_offset = stop
        frame.lf_at_body = self._lf
        self._read_header(frame)
        if frame.media[0] == "multipart":
            self._defect(f"multipart at offset {frame.header_offset} has no body: read as text/plain")
            frame.media = ("text", "plain")
        frame.phase = LEAF
        if self.listener is not None and frame.content is not None:
            self.listener.leaf_begin(frame.content, frame.media)

    def _finish(self, frame: _Frame, body_end: int, lines: int) -> None:
        content = frame.content
        assert content is not None
        media, children = frame.media, tuple(frame.children)
        envelope = None
        if frame.phase in (PREAMBLE, PARTS, EPILOGUE):
            if not frame.closed:
                self._defect(f"multipart at offset {frame.header_offset} without its close-delimiter")
            if not children:
                self._defect(f"multipart at offset {frame.header_offset} without parts read as text/plain")
                media = ("text", "plain")
        elif frame.phase == MESSAGE:
            envelope = frame.inner_envelope
        part = Part(
            header_offset=frame.header_offset, header_size=frame.body_offset - frame.header_offset,
            body_offset=frame.body_offset, body_size=body_end - frame.body_offset, body_lines=lines,
            media_type=media[0], media_subtype=media[1], params=content.params,
            content_id=content.content_id, description=content.description, encoding=content.encoding,
            md5=content.md5, disposition=content.disposition, disposition_params=content.disposition_params,
            language=content.language, location=content.location, children=children, envelope=envelope)
        parent = frame.parent
        if parent is None:
            self._root = part
            self._root_envelope = frame.envelope
        else:
            parent.children.append(part)
            if parent.phase == MESSAGE:
                parent.inner_envelope = frame.envelope


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse(data: bytes, *, max_depth: int = 32, max_header_bytes: int = 256 * 1024,
          max_parts: int = 10_000) -> MessageStructure:
    """The structure of a whole message (feed it whole, then close)."""
    parser = MimeParser(max_depth=max_depth, max_header_bytes=max_header_bytes, max_parts=max_parts)
    parser.feed(data)
    return parser.close()
