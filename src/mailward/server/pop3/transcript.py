"""The POP3 transcript at TRACE level: commands and replies, never credentials or mail.

A client line is shown only when it starts with a POP3 command; PASS keeps only its
name, AUTH only its mechanism, and what is sent during a SASL exchange is shown as a
count of octets. Message contents (RETR, TOP) never pass through here: the session
logs only their status line. Errs on the side of hiding, as SMTP's transcript does.
"""

from __future__ import annotations

import logging

from mailward.server.trace import TRACE

_SHOWN = frozenset({"USER", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA",
                    "STLS", "UTF8"})
_MAX_SHOWN = 256


def _shown(line: bytes) -> str:
    text = line[:_MAX_SHOWN].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("..." if len(line) > _MAX_SHOWN else "")


def client_lines(data: bytes, *, in_auth: bool = False) -> list[str]:
    """What to log of ``data`` the client sent (``in_auth``: a SASL exchange is going on)."""
    if in_auth:
        return [f"C: [{len(data)} octets of AUTH data]"]
    out: list[str] = []
    hidden = 0
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r")
        verb = line.split(b" ", 1)[0].upper().decode("ascii", "replace")
        if in_auth:  # whatever follows an AUTH command may be its responses
            hidden += len(raw) + 1 if raw else 0
        elif verb in ("PASS", "APOP"):
            out.append(f"C: {verb} ***")
        elif verb == "AUTH":
            words = line.split(b" ")
            mechanism = _shown(words[1]) if len(words) > 1 else ""
            out.append(f"C: AUTH {mechanism}" + (" ***" if len(words) > 2 else ""))
            in_auth = len(words) > 1
        elif verb in _SHOWN:
            out.append("C: " + _shown(line))
        elif line:
            hidden += len(raw) + 1
    if hidden:
        out.append(f"C: [{hidden} octets not shown]")
    return out


def server_lines(data: bytes) -> list[str]:
    """What to log of the replies in ``data`` (SASL challenges are not shown)."""
    return ["S: + [challenge]" if line.startswith(b"+ ") else "S: " + _shown(line)
            for line in data.split(b"\r\n") if line]


class Transcript:
    def __init__(self, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self._log = log
        self.enabled = log.isEnabledFor(TRACE)

    def received(self, data: bytes, *, in_auth: bool) -> None:
        if self.enabled:
            for line in client_lines(data, in_auth=in_auth):
                self._log.log(TRACE, "%s", line)

    def sent(self, data: bytes) -> None:
        if self.enabled:
            for line in server_lines(data):
                self._log.log(TRACE, "%s", line)
