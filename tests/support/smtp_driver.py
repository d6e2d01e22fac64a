"""Drive the SMTP core with a script, the way a session would, for tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from mailward.protocols.smtp import replies as R
from mailward.protocols.smtp.core import Facts, Limits, SmtpCore
from mailward.protocols.smtp.events import (
    NEED_DATA,
    PAUSED,
    AuthRequest,
    AuthResponse,
    Close,
    DataChunk,
    MailFrom,
    MessageComplete,
    RcptTo,
    Reset,
    StartTls,
)
from mailward.protocols.smtp.replies import Reply

FACTS = Facts(hostname="mx.example.org", tls_available=True)

Decide = Callable[[object], Reply]


def accept_all(event: object) -> Reply:
    if isinstance(event, MailFrom):
        return R.SENDER_OK
    if isinstance(event, RcptTo):
        return R.RECIPIENT_OK if event.recipient.domain == "example.org" else R.RELAY_DENIED
    if isinstance(event, MessageComplete):
        return R.MESSAGE_ACCEPTED
    if isinstance(event, (AuthRequest, AuthResponse)):
        return R.AUTH_OK
    raise AssertionError(f"unexpected decision {event}")


@dataclasses.dataclass
class Result:
    output: bytes
    events: list[object]

    @property
    def lines(self) -> list[str]:
        return self.output.decode().split("\r\n")[:-1]

    @property
    def message(self) -> bytes:
        """The body the session would keep: what came after the last Reset (which discards)."""
        data = bytearray()
        for event in self.events:
            if isinstance(event, Reset):
                data.clear()
            elif isinstance(event, DataChunk):
                data += event.data
        return bytes(data)

    def kinds(self) -> list[str]:
        """Event names, with runs of DataChunk folded into one (chunking differs by split),
        and left out before a Reset, which discards them (how much came first differs too)."""
        names: list[str] = []
        for event in self.events:
            name = type(event).__name__
            if name == "Reset" and names and names[-1] == "DataChunk":
                names.pop()
            if not (name == "DataChunk" and names and names[-1] == name):
                names.append(name)
        return names


def run(
    pieces: list[bytes],
    facts: Facts = FACTS,
    limits: Limits | None = None,
    decide: Decide = accept_all,
    on_auth: Callable[[SmtpCore, object], None] | None = None,
) -> Result:
    core = SmtpCore(facts, limits)
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
            if isinstance(event, (AuthRequest, AuthResponse)) and on_auth is not None:
                on_auth(core, event)
            elif isinstance(event, (MailFrom, RcptTo, MessageComplete, AuthRequest, AuthResponse)):
                core.answer(decide(event))
            elif isinstance(event, StartTls):
                out += core.data_to_send()
                core.tls_started(dataclasses.replace(core.facts, tls_active=True))
            elif isinstance(event, Close):
                closed = True
                break
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
        assert result.message == whole.message
        assert result.kinds() == whole.kinds()
    return whole
