"""The SMTP client's reading half, sans-IO: server replies and EHLO capabilities.

:class:`ReplyReader` takes the server's bytes in any pieces and returns whole
replies (RFC 5321 4.2) as :class:`~mailward.protocols.smtp.replies.Reply` values,
the enhanced status code (RFC 2034, RFC 3463) split off the text. Anything that is
not a reply raises :class:`SmtpClientProtocolError`, the one error the peer can cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailward.protocols.smtp.replies import Reply

# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; servers exceed it in
# EHLO lists and diagnostics, so be lenient but bounded.
MAX_REPLY_LINE = 4096
# A reply of more lines than this is a peer feeding us forever, not a reply.
MAX_REPLY_LINES = 200

# RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39
_CODE = re.compile(rb"^([2-5][0-5][0-9])(?:([ -])(.*))?$", re.DOTALL)
# RFC 3463 2: status-code = class "." subject "." detail; class 2, 4 or 5
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)")


class SmtpClientProtocolError(Exception):
    """The server sent something that is not SMTP (a bad reply, a reply nobody asked for)."""


@dataclass(frozen=True)
class Capabilities:
    """What the server offered in its EHLO reply (RFC 5321 4.1.1.1 ehlo-line).

    ``size`` is None when SIZE is not offered and 0 when it is offered without a
    fixed maximum (RFC 1870 4).
    """

    size: int | None = None
    pipelining: bool = False  # RFC 2920
    eightbitmime: bool = False  # RFC 6152
    smtputf8: bool = False  # RFC 6531
    chunking: bool = False  # RFC 3030
    binarymime: bool = False  # RFC 3030
    starttls: bool = False  # RFC 3207
    auth: frozenset[str] = frozenset()  # RFC 4954 mechanisms, upper case
    enhanced_status_codes: bool = False  # RFC 2034
    dsn: bool = False  # RFC 3461
    keywords: frozenset[str] = frozenset()  # every ehlo-keyword offered, upper case


NO_CAPABILITIES = Capabilities()


def parse_capabilities(reply: Reply) -> Capabilities:
    """The EHLO reply's lines after the first (the greeting domain), as :class:`Capabilities`."""
    size: int | None = None
    flags: set[str] = set()
    auth: set[str] = set()
    for line in reply.text.split("\n")[1:]:
        words = line.split()
        if not words:
            continue
        keyword = words[0].upper()
        params = words[1:]
        # Some servers still write the pre-standard "AUTH=PLAIN LOGIN" form.
        if keyword.startswith("AUTH="):
            params = [keyword[5:], *params]
            keyword = "AUTH"
        flags.add(keyword)
        if keyword == "AUTH":
            auth.update(p.upper() for p in params if p)
        elif keyword == "SIZE":
            # RFC 1870 4: size-param = [1*DIGIT]; absent or 0 means no fixed maximum
            size = int(params[0]) if params and params[0].isdigit() and len(params[0]) < 20 else 0
    return Capabilities(
        size=size,
        pipelining="PIPELINING" in flags,
        eightbitmime="8BITMIME" in flags,
        smtputf8="SMTPUTF8" in flags,
        chunking="CHUNKING" in flags,
        binarymime="BINARYMIME" in flags,
        starttls="STARTTLS" in flags,
        auth=frozenset(auth),
        enhanced_status_codes="ENHANCEDSTATUSCODES" in flags,
        dsn="DSN" in flags,
        keywords=frozenset(flags),
    )


class ReplyReader:
    """Collects reply lines into replies; ``feed`` bytes, then ``next_reply`` until None."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._code: bytes | None = None
        self._lines: list[str] = []

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def discard(self) -> bytes:
        """Forget what is buffered (RFC 3207 4.2 after STARTTLS); return it for the log."""
        data = bytes(self._buffer)
        self._buffer.clear()
        self._code = None
        self._lines = []
        return data

    @property
    def pending(self) -> bool:
        """True when bytes of an unfinished reply are buffered."""
        return bool(self._buffer) or self._code is not None

    def next_reply(self) -> Reply | None:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_REPLY_LINE:
                    raise SmtpClientProtocolError("reply line too long")
                return None
            if end > MAX_REPLY_LINE:
                raise SmtpClientProtocolError("reply line too long")
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            # RFC 5321 4.2 wants CRLF; a bare LF is read as one too (robustness, 4.5.3.1.5)
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            reply = self._line(raw)
            if reply is not None:
                return reply

    def _line(self, raw: bytes) -> Reply | None:
        match = _CODE.match(raw)
        if match is None:
            raise SmtpClientProtocolError(f"not a reply line: {raw[:60]!r}")
        code, sep, text = match.group(1), match.group(2), match.group(3) or b""
        if self._code is not None and code != self._code:
            # RFC 5321 4.2.1: every line of a multiline reply has the same code
            raise SmtpClientProtocolError("reply code changed inside a multiline reply")
        self._code = code
        self._lines.append(text.decode("utf-8", "replace"))  # RFC 6531 3.7.4: UTF-8 text
        if len(self._lines) > MAX_REPLY_LINES:
            raise SmtpClientProtocolError("reply has too many lines")
        if sep == b"-":
            return None
        lines, self._lines, self._code = self._lines, [], None
        return _reply(int(code), lines)


def _reply(code: int, lines: list[str]) -> Reply:
    """Split the enhanced status code (RFC 2034 3) off every line that carries it."""
    match = _ENHANCED.match(lines[0])
    if match is None or int(match.group(1)) != code // 100:
        return Reply(code, "", "\n".join(lines))
    status = ".".join(match.group(1, 2, 3))
    stripped = [line[len(status) :].lstrip(" ") if line.startswith(status) else line for line in lines]
    return Reply(code, status, "\n".join(stripped))
