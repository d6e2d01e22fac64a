"""The protocol transcript at TRACE level: commands and replies, never credentials or contents.

What the client sends is shown line by line only when the line starts with an SMTP
command verb; AUTH keeps only its mechanism name. Everything else (AUTH responses,
message contents, noise) is shown as a count of octets. The core knows exactly
where each command ends, but a transcript must never be the reason a password
reaches a log file, so this errs on the side of hiding.
"""

from __future__ import annotations

import logging

from mailward.server.trace import TRACE

_VERBS = frozenset(
    {"EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "EXPN", "HELP", "QUIT"}
    | {"STARTTLS"}
)
_MAX_SHOWN = 512


def _shown(line: bytes) -> str:
    text = line[:_MAX_SHOWN].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("..." if len(line) > _MAX_SHOWN else "")


def client_lines(data: bytes, *, in_body: bool = False, in_auth: bool = False) -> list[str]:
    """What to log of ``data`` the client sent (``in_body``: the core is reading a message;
    ``in_auth``: it is in an AUTH exchange)."""
    if in_body:
        return [f"C: [{len(data)} octets of message data]"]
    if in_auth:
        return [f"C: [{len(data)} octets of AUTH data]"]
    out: list[str] = []
    hidden = 0
    for line in data.split(b"\r\n"):
        verb = line.split(b" ", 1)[0].upper()
        if in_auth:  # whatever follows an AUTH command may be its responses
            hidden += len(line) + 2 if line else 0
        elif verb == b"AUTH":
            words = line.split(b" ")
            mechanism = _shown(words[1] if len(words) > 1 else b"")
            out.append(f"C: AUTH {mechanism}" + (" ***" if len(words) > 2 else ""))
            in_auth = True
        elif verb.decode("ascii", "replace") in _VERBS:
            out.append("C: " + _shown(line))
        elif line:
            hidden += len(line) + 2
    if hidden:
        out.append(f"C: [{hidden} octets not shown]")
    return out


def server_lines(data: bytes) -> list[str]:
    """What to log of the replies in ``data`` (334 challenges are not shown)."""
    out = []
    for line in data.split(b"\r\n"):
        if line.startswith(b"334"):
            out.append("S: 334 [challenge]")
        elif line:
            out.append("S: " + _shown(line))
    return out


class Transcript:
    def __init__(self, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self._log = log

    @property
    def enabled(self) -> bool:
        return self._log.isEnabledFor(TRACE)

    def received(self, data: bytes, *, in_body: bool, in_auth: bool) -> None:
        if self.enabled:
            for line in client_lines(data, in_body=in_body, in_auth=in_auth):
                self._log.log(TRACE, "%s", line)

    def sent(self, data: bytes) -> None:
        if self.enabled:
            for line in server_lines(data):
                self._log.log(TRACE, "%s", line)
