"""The ``[smtp]`` section: message and session limits of the SMTP listeners.

Listeners inherit these and may override any of them in ``[listener.smtp]``.
They map onto the SMTP core's ``Limits`` (``mailward.protocols.smtp.core``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.config.schema import at_least, setting

MIB = 1024 * 1024


@dataclass(frozen=True)
class SmtpSettings:
    max_message_size: int = setting(
        50 * MIB,
        "Largest message accepted, in bytes; advertised with SIZE (RFC 1870) and enforced "
        "while the message arrives, not after.",
        check=at_least(1024, "use 1024 or more, e.g. 52428800 for 50 MiB"),
    )
    max_recipients: int = setting(
        100,
        "Recipients per message; more get 452 4.5.3 and the client sends them in another "
        "message (RFC 5321 4.5.3.1.8 asks servers to take at least 100).",
        check=at_least(1, "use 100"),
    )
    max_errors: int = setting(
        20,
        "Error replies (5xx) a client may get before the connection is closed with 421.",
        check=at_least(1, "use 20"),
    )
    max_junk_commands: int = setting(
        100,
        "Commands that deliver nothing (NOOP, RSET, VRFY, HELP, EHLO ...) a client may send "
        "between two messages it delivers before the connection is closed with 421.",
        check=at_least(1, "use 100"),
    )
