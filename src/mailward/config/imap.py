"""The ``[imap]`` section: limits and timeouts of the IMAP listeners.

Listeners inherit these and may override any of them in ``[listener.imap]``. They
map onto the IMAP core's ``Limits`` (``mailward.protocols.imap.parser``) and the
session's timers (``mailward.server.imap.session``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.config.schema import at_least, setting
from mailward.config.smtp import MIB


@dataclass(frozen=True)
class ImapSettings:
    max_line: int = setting(
        64 * 1024,
        "Octets of one command's text, literals excluded; a longer line closes the session "
        "with BYE (RFC 7162 4 asks servers to take at least 8192).",
        check=at_least(8192, "use 65536"),
    )
    max_literal: int = setting(
        64 * 1024,
        "Octets of one literal in any command but APPEND (a password, a search string); "
        "a larger one is refused before its octets are read.",
        check=at_least(1024, "use 65536"),
    )
    append_limit: int = setting(
        50 * MIB,
        "Largest message APPEND takes, in octets; advertised as APPENDLIMIT (RFC 7889) and "
        "refused before its octets are read (NO [TOOBIG]).",
        check=at_least(1024, "use 52428800 for 50 MiB"),
    )
    idle_timeout: int = setting(
        30 * 60,
        "Seconds a logged-in session may stay silent, IDLE included (RFC 9051 5.4: at least "
        "30 minutes). Before login the listener's limits.idle_timeout applies.",
        check=at_least(30 * 60, "use 1800 (RFC 9051 5.4)"),
    )
    max_errors: int = setting(
        20,
        "BAD replies a client may get before the session is closed with BYE.",
        check=at_least(1, "use 20"),
    )
    max_connections_per_user: int = setting(
        20,
        "Sessions one user may have open at once, on every IMAP listener and worker together; "
        "a login beyond gets NO [LIMIT] (RFC 5530). A mail program keeps up to five.",
        check=at_least(1, "use 20"),
    )
    max_failed_commands: int = setting(
        50,
        "Commands refused (NO or BAD) in a row after which the session is closed with BYE: "
        "a client that gets nowhere is not kept busy.",
        check=at_least(5, "use 50"),
    )
    max_commands_before_login: int = setting(
        30,
        "Commands a connection may send before it logs in; more close it with BYE.",
        check=at_least(10, "use 30"),
    )
    max_login_failures: int = setting(
        3,
        "Failed logins on one connection before it is closed with BYE (the login throttle "
        "counts across connections too).",
        check=at_least(1, "use 3"),
    )
