"""How a session drives the core: a tiny loop in the test (answers only NOOP, LOGIN,
APPEND and LOGOUT) that shows the continuation, error and close paths end to end,
with exact transcripts."""

from __future__ import annotations

from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import Append, Login, Logout, Noop
from mailward.protocols.imap.parser import (
    NEED_MORE_DATA,
    CommandParser,
    Limits,
    LiteralChunk,
    NeedLiteral,
    ParseError,
)
from mailward.protocols.imap.response import Encoder, Status
from mailward.protocols.imap.state import Authenticated, NotAuthenticated, State, allowed


class Loop:
    def __init__(self, limits: Limits | None = None) -> None:
        self.parser = CommandParser(limits)
        self.encoder = Encoder()
        self.state: State = NotAuthenticated()
        self.out = bytearray()
        self.closed = False
        self.streamed = bytearray()

    def feed(self, data: bytes) -> bytes:
        self.parser.receive(data)
        while not self.closed and (item := self.parser.next_command()) is not NEED_MORE_DATA:
            self.step(item)
        out = bytes(self.out)
        self.out.clear()
        return out

    def step(self, item: object) -> None:
        enc = self.encoder
        if isinstance(item, NeedLiteral):
            if item.command == "APPEND" and item.size > 10:
                self.parser.stream_literal()
            if item.synchronizing:
                self.out += enc.continuation()
        elif isinstance(item, LiteralChunk):
            self.streamed += item.data
        elif isinstance(item, ParseError):
            code = codes.ResponseCode(item.code) if item.code else None
            if item.close:
                self.out += enc.untagged_status(Status.BYE, item.text, code)
                self.closed = True
            elif item.tag is None:
                self.out += enc.untagged_status(Status.BAD, item.text, code)
            else:
                self.out += enc.tagged(item.tag, Status[item.status], item.text, code)
        elif not allowed(self.state, item):  # type: ignore[arg-type]
            self.out += enc.tagged(item.tag, Status.BAD, "not in this state")  # type: ignore[attr-defined]
        elif isinstance(item, Login):
            self.state = Authenticated()
            self.out += enc.tagged(item.tag, Status.OK, "LOGIN completed")
        elif isinstance(item, Append):
            sizes = " ".join(str(m.size) for m in item.messages)
            self.out += enc.tagged(item.tag, Status.OK, f"APPEND {sizes}")
        elif isinstance(item, Noop | Logout):
            self.out += enc.tagged(item.tag, Status.OK, f"{item.name} completed")


def test_synchronizing_literal_gets_one_continuation_and_pipelining_works() -> None:
    loop = Loop()
    assert loop.feed(b"a1 LOGIN {4}\r\n") == b"+ Ready\r\n"
    assert loop.feed(b"fred {2}\r\n") == b"+ Ready\r\n"
    assert loop.feed(b"pw\r\na2 NOOP\r\na3 NOOP\r\n") == (
        b"a1 OK LOGIN completed\r\na2 OK NOOP completed\r\na3 OK NOOP completed\r\n"
    )


def test_non_synchronizing_literals_get_no_continuation() -> None:
    loop = Loop()
    assert loop.feed(b"a1 LOGIN {4+}\r\nfred {2+}\r\npw\r\n") == b"a1 OK LOGIN completed\r\n"


def test_wrong_state_and_syntax_errors_keep_the_session() -> None:
    loop = Loop()
    assert loop.feed(b"a1 APPEND INBOX {1+}\r\nx\r\nb1 LOGIN x\r\n\r\n(\r\nc1 NOOP\r\n") == (
        b"a1 BAD not in this state\r\nb1 BAD expected a space\r\n* BAD expected a tag\r\nc1 OK NOOP completed\r\n"
    )


def test_too_big_literals() -> None:
    loop = Loop(Limits(max_literal=100, max_append_literal=1000))
    loop.feed(b"a LOGIN u p\r\n")
    assert loop.feed(b"b APPEND INBOX {1001}\r\nc NOOP\r\n") == (
        b"b NO [TOOBIG] message too big\r\nc OK NOOP completed\r\n"
    )
    assert loop.feed(b"d APPEND INBOX {1001+}\r\n" + b"x" * 1001 + b"\r\ne NOOP\r\n") == (
        b"* BYE [TOOBIG] message too big\r\n"
    )


def test_a_streamed_append() -> None:
    loop = Loop()
    loop.feed(b"a LOGIN u p\r\n")
    assert loop.feed(b"b APPEND INBOX {20}\r\n") == b"+ Ready\r\n"
    assert loop.feed(b"0123456789") == b""
    assert loop.feed(b"abcdefghij {3+}\r\nxyz\r\n") == b"b OK APPEND 20 3\r\n"
    assert bytes(loop.streamed) == b"0123456789abcdefghij"


def test_line_too_long_closes() -> None:
    loop = Loop(Limits(max_line=50))
    assert loop.feed(b"a NOOP" + b" " * 60) == b"* BYE command line too long\r\n"
    assert loop.closed
