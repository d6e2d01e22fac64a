"""One log line per login attempt: protocol, peer, mechanism, user, outcome. Never a password.

Sessions call :func:`log_login` with the :class:`~mailward.auth.sasl.Outcome` of an
exchange; nothing here accepts a password or a client response, so none can leak.
User names come from the peer: control characters are escaped so that a crafted
name cannot forge log lines.
"""

from __future__ import annotations

import logging

from mailward.auth.sasl.steps import Failure, Success

log = logging.getLogger("mailward.auth")

_MAX_NAME = 256


def clean(text: str | None) -> str:
    """``text`` safe for a log line: control characters escaped, length bounded, quoted."""
    if text is None:
        return "-"
    shown = text[:_MAX_NAME]
    escaped = "".join(c if c.isprintable() and c != '"' else f"\\x{ord(c):02x}" for c in shown)
    return f'"{escaped}"' + ("..." if len(text) > _MAX_NAME else "")


def login_message(
    *,
    protocol: str,
    peer: str,
    mechanism: str,
    username: str | None,
    outcome: Success | Failure,
    tls: bool | None = None,
) -> str:
    """The line :func:`log_login` writes (for tests and for other sinks)."""
    parts = [f"protocol={protocol}", f"peer={peer}", f"mechanism={mechanism}"]
    if tls is not None:
        parts.append(f"tls={'yes' if tls else 'no'}")
    if isinstance(outcome, Success):
        parts.insert(0, "login ok")
        parts.append(f"user={clean(outcome.username)}")
        if outcome.authzid != outcome.username:
            parts.append(f"as={clean(outcome.authzid)}")
    else:
        parts.insert(0, "login failed")
        parts.append(f"user={clean(username)}")
        parts.append(f"reason={outcome.reason.value}")
        if outcome.detail:
            parts.append(f"detail={clean(outcome.detail)}")
    return " ".join(parts)


def log_login(
    *,
    protocol: str,
    peer: str,
    mechanism: str,
    username: str | None,
    outcome: Success | Failure,
    tls: bool | None = None,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = log,
) -> None:
    """Log a finished login: INFO for success, WARNING for failure."""
    level = logging.INFO if isinstance(outcome, Success) else logging.WARNING
    logger.log(level, "%s", login_message(
        protocol=protocol, peer=peer, mechanism=mechanism, username=username, outcome=outcome, tls=tls
    ))
