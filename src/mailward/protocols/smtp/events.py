"""What the SMTP core tells its session.

Some events are decisions the session must answer with
:meth:`~mailward.protocols.smtp.core.SmtpCore.answer` before the core reads
further (``MailFrom``, ``RcptTo``, ``MessageComplete``, ``AuthRequest``,
``AuthResponse``); the others are news the session acts on.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.protocols.smtp.address import Address


@dataclass(frozen=True)
class Hello:
    """The client said EHLO (``esmtp``) or HELO; any open transaction was reset."""

    domain: str
    esmtp: bool


@dataclass(frozen=True)
class MailFrom:
    """Decide: may this sender start a transaction? ``sender`` is None for ``<>``."""

    sender: Address | None
    size: int | None
    body: str  # "7BIT" or "8BITMIME"
    smtputf8: bool


@dataclass(frozen=True)
class RcptTo:
    """Decide: is this a recipient we take mail for (or may relay to)?

    ``postmaster`` is true for ``RCPT TO:<Postmaster>`` without a domain, which every
    server must accept (RFC 5321 4.5.1): ``recipient`` then has the local part as
    written and an empty domain; the session maps it to the postmaster of a local domain.
    """

    recipient: Address
    postmaster: bool = False


@dataclass(frozen=True)
class DataChunk:
    """The next piece of the message, dot-unstuffed (DATA) or as sent (BDAT)."""

    data: bytes


@dataclass(frozen=True)
class MessageComplete:
    """Decide: the message is whole (``size`` octets); store it, then answer."""

    size: int


@dataclass(frozen=True)
class Reset:
    """Drop the transaction and any message bytes received so far; ``reason`` is for the log."""

    reason: str


@dataclass(frozen=True)
class AuthRequest:
    """Decide: AUTH ``mechanism`` with an optional initial response (already base64-decoded).

    Answer with ``auth_challenge(data)`` to send a 334 challenge, or
    ``answer(reply)`` to finish (235 on success).
    """

    mechanism: str
    initial_response: bytes | None


@dataclass(frozen=True)
class AuthResponse:
    """Decide: the client's answer to the last challenge (base64-decoded)."""

    data: bytes


@dataclass(frozen=True)
class AuthCancelled:
    """The client cancelled the exchange with ``*``; the core replied already."""


@dataclass(frozen=True)
class StartTls:
    """Flush what is queued, run the TLS handshake, then call ``tls_started``."""


@dataclass(frozen=True)
class Close:
    """Flush what is queued and close the connection; ``reason`` is for the log."""

    reason: str


class Sentinel:
    """What :meth:`~mailward.protocols.smtp.core.SmtpCore.next_event` returns when it has
    no event: :data:`NEED_DATA` or :data:`PAUSED`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = Sentinel("NEED_DATA")
"""No event until more bytes arrive: flush what is queued and read."""

PAUSED = Sentinel("PAUSED")
"""A decision is pending: answer it before asking for the next event."""

Event = (
    Hello
    | MailFrom
    | RcptTo
    | DataChunk
    | MessageComplete
    | Reset
    | AuthRequest
    | AuthResponse
    | AuthCancelled
    | StartTls
    | Close
)
