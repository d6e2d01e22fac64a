"""What the POP3 core tells its session.

Decisions must be answered before the core reads further: :class:`PasswordLogin`,
:class:`AuthRequest`, :class:`AuthResponse` (with ``answer``, ``auth_challenge`` or
``logged_in``), :class:`Retrieve` (``answer``, then the message's bytes) and
:class:`Update` (``answer``). The others are news the session acts on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Sentinel(enum.Enum):
    NEED_DATA = "need data"  # feed more bytes
    PAUSED = "paused"  # a decision is waiting for its answer


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED


@dataclass(frozen=True)
class PasswordLogin:
    """Decide: USER then PASS (RFC 1939 7) with these credentials."""

    username: str
    password: str


@dataclass(frozen=True)
class AuthRequest:
    """Decide: AUTH (RFC 5034 4) with a mechanism the facts allow; ``initial`` is the
    decoded initial response (``b""`` for ``=``), None when the client sent none."""

    mechanism: str
    initial: bytes | None


@dataclass(frozen=True)
class AuthResponse:
    """Decide: the client's decoded answer to the last challenge."""

    data: bytes


@dataclass(frozen=True)
class AuthCancelled:
    """The client cancelled the exchange with ``*``, or broke its syntax (replied already)."""

    reason: str


@dataclass(frozen=True)
class StartTls:
    """STLS was accepted (``+OK`` is queued): send it, then run the handshake, then call
    ``tls_started``. What the client pipelined after STLS has been discarded."""


@dataclass(frozen=True)
class Retrieve:
    """Decide: RETR (``lines`` None) or TOP ``lines`` of message ``index`` (0-based in the
    maildrop). Answer ``+OK``, then send the message through a
    :class:`~mailward.protocols.pop3.stuffing.MessageWriter`; or answer ``-ERR``."""

    index: int
    lines: int | None


@dataclass(frozen=True)
class Update:
    """Decide: QUIT in the TRANSACTION state (RFC 1939 6): remove ``uids`` (maybe none)
    and release the maildrop; answer ``+OK`` or ``-ERR``. The connection then closes."""

    uids: tuple[int, ...]


@dataclass(frozen=True)
class Close:
    """The core is done; close the connection after sending what is queued."""

    reason: str


Event = PasswordLogin | AuthRequest | AuthResponse | AuthCancelled | StartTls | Retrieve | Update | Close
