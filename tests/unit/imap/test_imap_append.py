"""APPEND: flags, date-time, literal, literal8, MULTIAPPEND, UTF8 (...).

RFC examples written from RFC 9051 6.3.12, RFC 3502 6 and RFC 6855 4 from memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailward.protocols.imap.commands import Append, AppendMessage, Noop
from mailward.protocols.imap.parser import (
    NEED_MORE_DATA,
    CommandParser,
    LiteralChunk,
    NeedLiteral,
    ParseError,
)
from support.imap_feed import command, error, run_all_ways

MESSAGE = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    b"Subject: afternoon meeting\r\n"
    b"To: mooch@owatagu.siam.edu.example\r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)


def test_rfc_example_with_a_synchronizing_literal() -> None:
    script = b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n"
    results = run_all_ways(script, every_offset=False)
    assert results == [
        NeedLiteral("A003", "APPEND", len(MESSAGE), synchronizing=True),
        Append("A003", "saved-messages", (AppendMessage(MESSAGE, ("\\Seen",)),)),
    ]


def test_rfc_example_with_a_non_synchronizing_literal() -> None:
    script = b"A003 APPEND saved-messages (\\Seen) {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n"
    assert command(script) == Append("A003", "saved-messages", (AppendMessage(MESSAGE, ("\\Seen",)),))


def test_date_time_and_no_flags() -> None:
    got = command(b'a APPEND INBOX " 7-Feb-1994 21:52:25 -0800" {2+}\r\nhi\r\n')
    zone = timezone(-timedelta(hours=8))
    assert got == Append("a", "INBOX", (AppendMessage(b"hi", None, datetime(1994, 2, 7, 21, 52, 25, tzinfo=zone)),))
    assert command(b'a APPEND inbox () "17-Jul-1996 02:44:25 +0530" {0+}\r\n\r\n') == Append(
        "a", "INBOX",
        (AppendMessage(b"", (), datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=5, minutes=30)))),),
    )


def test_multiappend_rfc_example() -> None:
    # RFC 3502 6: two messages in one command
    first, second = b"Date: x\r\n\r\nbody one\r\n", b"Date: y\r\n\r\nbody two\r\n"
    script = (
        b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(first) + first
        + b' (\\Seen) " 1-Aug-2002 22:00:00 +0200" {%d}\r\n' % len(second) + second + b"\r\n"
    )
    got = command(script)
    assert isinstance(got, Append) and [m.data for m in got.messages] == [first, second]
    assert got.messages[1].internal_date == datetime(2002, 8, 1, 22, tzinfo=timezone(timedelta(hours=2)))


def test_literal8_and_utf8() -> None:
    assert command(b"a APPEND x ~{3+}\r\na\x00b\r\n") == Append("a", "x", (AppendMessage(b"a\x00b", binary=True),))
    # RFC 6855 4
    assert command(b"a APPEND x UTF8 (~{4+}\r\n\xc3\xa9t\xc3)\r\n") == Append(
        "a", "x", (AppendMessage(b"\xc3\xa9t\xc3", binary=True, utf8=True),)
    )
    assert command(b"a APPEND x (\\Draft) utf8 ({2+}\r\nhi)\r\n") == Append(
        "a", "x", (AppendMessage(b"hi", ("\\Draft",), utf8=True),)
    )


def test_repr_does_not_dump_the_message() -> None:
    assert "Hello Joe" not in repr(AppendMessage(MESSAGE))


@pytest.mark.parametrize(
    "line",
    [b"a APPEND x\r\n", b'a APPEND x "hello"\r\n', b"a APPEND x (\\Seen)\r\n", b'a APPEND x "bad date" {1+}\r\nx\r\n',
     b'a APPEND x "31-Feb-2020 00:00:00 +0000" {1+}\r\nx\r\n', b'a APPEND x "1-Feb-2020 25:00:00 +0000" {1+}\r\nx\r\n',
     b"a APPEND x {1+}\r\nxy\r\n", b"a APPEND x UTF8 {1+}\r\nx\r\n", b"a APPEND x UTF8 ({1+}\r\nx\r\n"],
)
def test_bad_append(line: bytes) -> None:
    assert error(line).tag == "a"


def stream_appends(chunks: list[bytes]) -> tuple[list[bytes], list[object]]:
    """Feed ``chunks``, streaming every APPEND literal over 5 octets: (streamed literals, results)."""
    parser = CommandParser()
    streamed: list[bytes] = []
    current = bytearray()
    results: list[object] = []
    for chunk in chunks:
        parser.receive(chunk)
        while (item := parser.next_command()) is not NEED_MORE_DATA:
            if isinstance(item, LiteralChunk):
                current += item.data
                if item.last:
                    streamed.append(bytes(current))
                    current.clear()
            else:
                results.append(item)
                if isinstance(item, NeedLiteral) and item.command == "APPEND" and item.size > 5:
                    parser.stream_literal()
    return streamed, results


def test_append_messages_may_be_streamed_in_chunks() -> None:
    first, second = b"Subject: one\r\n\r\nbody one\r\n", b"Subject: two\r\n\r\nbody two\r\n"
    script = (
        b"a APPEND {5}\r\nDraft (\\Seen) {%d}\r\n" % len(first) + first
        + b" {3+}\r\nabc ~{%d+}\r\n" % len(second) + second + b"\r\nb NOOP\r\n"
    )
    expected = (
        [first, second],
        [
            NeedLiteral("a", "APPEND", 5, True),
            NeedLiteral("a", "APPEND", len(first), True),
            NeedLiteral("a", "APPEND", 3, False),
            NeedLiteral("a", "APPEND", len(second), False, binary=True),
            Append("a", "Draft", (
                AppendMessage(b"", ("\\Seen",), streamed_size=len(first)),
                AppendMessage(b"abc"),
                AppendMessage(b"", binary=True, streamed_size=len(second)),
            )),
            Noop("b"),
        ],
    )
    assert stream_appends([script]) == expected
    assert stream_appends([bytes([b]) for b in script]) == expected
    for cut in range(1, len(script)):
        assert stream_appends([script[:cut], script[cut:]]) == expected


def test_chunks_are_what_arrived_not_the_whole_message() -> None:
    parser = CommandParser()
    parser.receive(b"a APPEND x {10}\r\n")
    assert isinstance(parser.next_command(), NeedLiteral)
    parser.stream_literal()
    assert parser.next_command() is NEED_MORE_DATA
    parser.receive(b"0123")
    assert parser.next_command() == LiteralChunk(b"0123", last=False)
    assert parser.next_command() is NEED_MORE_DATA
    parser.receive(b"456789\r\n")
    assert parser.next_command() == LiteralChunk(b"456789", last=True)
    got = parser.next_command()
    assert isinstance(got, Append) and got.messages[0].size == 10 and got.messages[0].streamed
    assert "streamed" in repr(got.messages[0])


def test_an_empty_streamed_literal_gives_one_last_chunk() -> None:
    parser = CommandParser()
    parser.receive(b"a APPEND x {0+}\r\n\r\n")
    assert isinstance(parser.next_command(), NeedLiteral)
    parser.stream_literal()
    assert parser.next_command() == LiteralChunk(b"", last=True)
    assert parser.next_command() == Append("a", "x", (AppendMessage(b"", streamed_size=0),))


def test_streaming_a_literal_that_is_not_a_message_is_bad() -> None:
    parser = CommandParser()
    parser.receive(b"a LOGIN {2+}\r\nab pw\r\n")
    assert isinstance(parser.next_command(), NeedLiteral)
    parser.stream_literal()
    assert parser.next_command() == LiteralChunk(b"ab", last=True)
    assert parser.next_command() == ParseError("a", "only an APPEND message may be streamed", command="LOGIN")


def test_stream_literal_without_one_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        CommandParser().stream_literal()
