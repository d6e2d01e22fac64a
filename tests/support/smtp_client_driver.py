"""Drives the sans-IO SMTP client core with a scripted server stream and a simple caller."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailward.protocols.smtp.client import (
    NEED_DATA,
    Closed,
    Event,
    Greeting,
    MessageOutcome,
    Ready,
    Refused,
    SmtpClient,
    TlsReady,
)
from mailward.protocols.smtp.client_commands import Envelope, Recipient

MESSAGE = b"Subject: hi\r\n\r\nline one\r\n.dot line\r\nlast"


@dataclass
class Run:
    events: list[Event] = field(default_factory=list)
    sent: bytes = b""


@dataclass
class Caller:
    """The relay's part: EHLO, optionally AUTH, one message, QUIT."""

    envelope: Envelope = field(
        default_factory=lambda: Envelope("a@x.example", (Recipient("b@y.example"), Recipient("c@y.example")))
    )
    message: bytes = MESSAGE
    messages: int = 1
    auth: tuple[str, str, str] | None = None  # (mechanism, user, password)
    authed: bool = False

    def react(self, client: SmtpClient, event: Event) -> None:
        if isinstance(event, Greeting):
            if event.reply.code == 220:
                client.hello()
            else:
                client.quit()
        elif isinstance(event, (Ready, MessageOutcome)):
            self.next_step(client)
        elif isinstance(event, Refused):
            if not client.busy and not client.closed:
                client.quit()
        elif isinstance(event, TlsReady):
            raise AssertionError("no STARTTLS in this script")
        elif not client.busy and not client.closed and not isinstance(event, Closed):
            self.next_step(client)

    def next_step(self, client: SmtpClient) -> None:
        if client.busy or client.closed:
            return
        if self.auth is not None and not self.authed:
            self.authed = True
            mechanism, user, password = self.auth
            if mechanism == "PLAIN":
                client.auth_plain(user, password)
            else:
                client.auth_login(user, password)
            return
        if self.messages > 0:
            self.messages -= 1
            client.send_mail(self.envelope, self.message)
        else:
            client.quit()


def run(pieces: list[bytes], caller: Caller | None = None, *, chunk_size: int = 1 << 20) -> Run:
    """Feed the server's bytes in ``pieces``; the caller acts on each event as it comes."""
    caller = caller or Caller()
    client = SmtpClient("relay.example", chunk_size=chunk_size)
    result = Run()
    out = bytearray()
    for piece in pieces:
        client.receive_data(piece)
        while True:
            event = client.next_event()
            if event is NEED_DATA:
                break
            assert not isinstance(event, type(NEED_DATA))
            result.events.append(event)
            caller.react(client, event)
            out += client.data_to_send()
    result.sent = bytes(out)
    return result


def splits(data: bytes) -> list[list[bytes]]:
    """``data`` cut in two at every offset."""
    return [[data[:i], data[i:]] for i in range(len(data) + 1)]
