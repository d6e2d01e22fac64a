"""Hypothesis: whatever the server sends, the client core raises nothing but its protocol error,
gives each transaction exactly one outcome, and does the same however the bytes are split."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.protocols.smtp.client import (
    NEED_DATA,
    ClientStateError,
    Closed,
    Event,
    Greeting,
    MessageOutcome,
    SmtpClient,
    SmtpClientProtocolError,
    TlsReady,
)
from mailward.protocols.smtp.client_commands import Envelope, Notify, Recipient

ENVELOPE = Envelope(
    "a@x.example",
    (Recipient("b@y.example", frozenset({Notify.FAILURE}), "b@y.example"), Recipient("c@y.example")),
)
MESSAGE = b"Subject: s\r\n\r\n.body\r\n"
LINES = [
    b"220 mx ready",
    b"250 ok",
    b"250 2.1.0 ok",
    b"250-mx",
    b"250-PIPELINING",
    b"250-CHUNKING",
    b"250-SIZE 100",
    b"250-SIZE",
    b"250-STARTTLS",
    b"250-DSN",
    b"250-AUTH PLAIN LOGIN",
    b"250-8BITMIME",
    b"251 will forward",
    b"334 VXNlcm5hbWU6",
    b"235 2.7.0 ok",
    b"354 go",
    b"421 4.3.2 bye",
    b"450 4.2.0 busy",
    b"452 4.5.3 too many",
    b"500 what",
    b"502 no",
    b"503 5.5.1 sequence",
    b"550 5.1.1 no such user",
    b"552 5.3.4 too big",
    b"554 no",
    b"221 bye",
    b"999 bad",
    b"",
    b"\xff\xfe",
]


class FuzzCaller:
    """Reacts like the relay would: EHLO, STARTTLS or AUTH when offered, a message, QUIT."""

    def __init__(self) -> None:
        self.sends = 0
        self.step = 0

    def react(self, client: SmtpClient, event: Event) -> None:
        if isinstance(event, TlsReady):
            client.tls_established()
            return
        if client.busy or client.closed:
            return
        if isinstance(event, Greeting) and event.reply.code == 220:
            client.hello()
            return
        self.step += 1
        caps = client.capabilities
        if not client.ready:
            client.quit()
            return
        if self.step == 1 and "PLAIN" in caps.auth:
            client.auth_plain("u", "p")
        elif self.step == 2 and caps.starttls:
            client.starttls()
        elif self.step <= 4:
            self.sends += 1
            client.send_mail(ENVELOPE, MESSAGE)
        else:
            client.quit()


def drive(pieces: list[bytes]) -> tuple[list[Event], bytes, int, bool]:
    client = SmtpClient("relay.example", chunk_size=7)
    caller = FuzzCaller()
    events: list[Event] = []
    out = bytearray()
    try:
        for piece in pieces:
            client.receive_data(piece)
            while (event := client.next_event()) is not NEED_DATA:
                assert not isinstance(event, type(NEED_DATA))
                events.append(event)
                caller.react(client, event)
                out += client.data_to_send()
    except SmtpClientProtocolError:
        events.append(Closed(None))  # type: ignore[arg-type]  # marks the error in the record
    except ClientStateError as exc:  # pragma: no cover - the caller never misuses the API
        raise AssertionError(exc) from exc
    outcomes = sum(isinstance(e, MessageOutcome) for e in events)
    assert outcomes <= caller.sends
    failed = bool(events) and isinstance(events[-1], Closed) and events[-1].reply is None
    if (not client.busy or client.closed) and not failed:
        assert outcomes == caller.sends
    return events, bytes(out), caller.sends, client.busy


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    drive([data])


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=30), st.lists(st.integers(0, 2000), max_size=5))
def test_reply_soup_is_split_invariant(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\r\n" for line in [b"220 mx ready", *lines])
    whole = drive([stream])
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert drive(pieces) == whole
    assert drive([stream[i : i + 1] for i in range(len(stream))]) == whole
