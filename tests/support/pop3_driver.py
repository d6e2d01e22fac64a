"""Drive the POP3 core with a script, the way a session would, for tests.

The maildrop is :data:`MESSAGES` (bytes in UID order); the password is ``secret``
for any user; PLAIN is the only SASL mechanism the driver understands.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterator, Sequence

from mailward.protocols.pop3 import replies as R
from mailward.protocols.pop3.core import Facts, Limits, Pop3Core
from mailward.protocols.pop3.events import (
    NEED_DATA,
    PAUSED,
    AuthCancelled,
    AuthRequest,
    AuthResponse,
    Close,
    PasswordLogin,
    Retrieve,
    StartTls,
    Update,
)
from mailward.protocols.pop3.maildrop import Maildrop
from mailward.protocols.pop3.stuffing import MessageWriter

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
FACTS = Facts(tls_available=True, password_after_tls=True, mechanisms_need_tls=("PLAIN", "LOGIN"),
              mechanisms=("SCRAM-SHA-256",))
TLS_FACTS = Facts(tls_active=True, password_allowed=True, mechanisms=MECHANISMS)
MESSAGES = (
    b"Subject: one\r\n\r\nfirst body\r\n",
    b"Subject: two\r\nX: y\r\n\r\n.dotted\r\nline 2\r\n..two dots\r\nline 4\r\n",
    b"Subject: three\r\n\r\nno final newline",
)
UID_VALIDITY = 1700000000
UIDS = (3, 7, 9)


def maildrop(messages: Sequence[bytes] = MESSAGES, uids: Sequence[int] = UIDS) -> Maildrop:
    return Maildrop(UID_VALIDITY, array("I", uids), array("Q", [len(m) for m in messages]))


@dataclasses.dataclass
class Result:
    output: bytes
    events: list[object]

    @property
    def lines(self) -> list[str]:
        return self.output.decode("utf-8", "replace").split("\r\n")[:-1]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


def _login(core: Pop3Core, event: object, messages: Sequence[bytes]) -> None:
    if isinstance(event, PasswordLogin):
        good = event.password == "secret"
    elif isinstance(event, AuthRequest) and event.initial is None:
        core.auth_challenge(b"")
        return
    else:
        assert isinstance(event, (AuthRequest, AuthResponse))
        data = event.initial if isinstance(event, AuthRequest) else event.data
        good = data is not None and data.split(b"\0")[-1:] == [b"secret"]
    if good:
        core.logged_in(maildrop(messages, UIDS[: len(messages)]))
    else:
        core.answer(R.AUTH_FAILED)


def run(
    pieces: list[bytes],
    facts: Facts = FACTS,
    limits: Limits | None = None,
    messages: Sequence[bytes] = MESSAGES,
    update_fails: bool = False,
) -> Result:
    core = Pop3Core(facts, limits)
    out = bytearray(core.data_to_send())
    events: list[object] = []
    closed = False
    for piece in pieces:
        if closed:
            break
        core.receive_data(piece)
        while True:
            event = core.next_event()
            if event is NEED_DATA:
                break
            assert event is not PAUSED
            events.append(event)
            if isinstance(event, (PasswordLogin, AuthRequest, AuthResponse)):
                _login(core, event, messages)
            elif isinstance(event, Retrieve):
                message = messages[event.index]
                core.answer(R.message_follows(len(message)))
                out += core.data_to_send()
                writer = MessageWriter(event.lines)
                out += writer.feed(message) + writer.end()
            elif isinstance(event, Update):
                core.answer(R.UPDATE_FAILED if update_fails else R.BYE)
            elif isinstance(event, StartTls):
                out += core.data_to_send()
                core.tls_started(TLS_FACTS)
            elif isinstance(event, Close):
                closed = True
                break
            else:
                assert isinstance(event, AuthCancelled)
        out += core.data_to_send()
    return Result(bytes(out), events)


def splits(script: bytes) -> Iterator[list[bytes]]:
    """The script whole, byte by byte, and cut in two at every offset."""
    yield [script]
    yield [script[i : i + 1] for i in range(len(script))]
    for i in range(1, len(script)):
        yield [script[:i], script[i:]]


def run_all_splits(script: bytes, **kwargs: object) -> Result:
    """Run every split; assert they all agree; return the whole-script result."""
    whole = run([script], **kwargs)  # type: ignore[arg-type]
    for pieces in splits(script):
        result = run(pieces, **kwargs)  # type: ignore[arg-type]
        assert result.output == whole.output, (pieces, result.output, whole.output)
        assert result.events == whole.events
    return whole
