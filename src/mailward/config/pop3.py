"""The ``[pop3]`` section: session limits and policy of the POP3 listeners.

Listeners inherit these and may override any of them in ``[listener.pop3]``.
They map onto the POP3 core's ``Limits`` and ``Facts`` (``mailward.protocols.pop3.core``)
and the session's maildrop lease (``mailward.server.pop3``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailward.config.schema import setting


def _at_least(minimum: float, fix: str) -> Callable[[float], tuple[str, str] | None]:
    def check(value: float) -> tuple[str, str] | None:
        if value < minimum:
            return (f"must be at least {minimum:g}, got {value:g}", fix)
        return None

    return check


def _expire(value: str) -> tuple[str, str] | None:
    if value not in ("", "NEVER"):
        return (f'"{value}" is not "" or "NEVER"',
                'use "NEVER" (mailward never deletes mail on its own) or "" to say nothing')
    return None


@dataclass(frozen=True)
class Pop3Settings:
    idle_timeout: float = setting(
        600.0,
        "Seconds a POP3 client may stay silent before the connection is closed; RFC 1939 3 "
        "asks for at least 10 minutes.",
        check=_at_least(600, "use 600 or more (RFC 1939 3)"),
    )
    max_errors: int = setting(
        10,
        "Unknown commands and syntax errors a client may send before the connection is closed.",
        check=_at_least(1, "use 10"),
    )
    max_auth_failures: int = setting(
        3,
        "Failed logins on one connection before it is closed (the shared throttle in [auth] "
        "slows guessing across connections too).",
        check=_at_least(1, "use 3"),
    )
    max_commands: int = setting(
        100_000,
        "Commands in one session before the connection is closed.",
        check=_at_least(100, "use 100000"),
    )
    lease_seconds: float = setting(
        120.0,
        "How long the maildrop lock (one POP3 session per mailbox, across workers and nodes) "
        "lasts unless renewed; a session renews it every third of this, so a node that dies "
        "frees its users' maildrops after at most this long.",
        check=_at_least(10, "use 120"),
    )
    expire: str = setting(
        "",
        'RFC 2449 6.7 EXPIRE capability: "NEVER" to tell clients that the server never '
        'deletes mail they leave on it; "" advertises nothing.',
        check=_expire,
    )
    login_delay: int = setting(
        0,
        "RFC 2449 6.5 LOGIN-DELAY: seconds a client must wait between logins to one "
        "maildrop; an earlier login is refused with -ERR [LOGIN-DELAY]. 0: no delay, not "
        "advertised.",
        check=_at_least(0, "use 0, or e.g. 900 for 15 minutes"),
    )
