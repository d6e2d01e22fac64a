"""The IMAP parser's framing: lines, literals, limits, resynchronisation, raw lines."""

from __future__ import annotations

import pytest

from mailward.protocols.imap.commands import Append, AppendMessage, Login, Noop
from mailward.protocols.imap.parser import NEED_MORE_DATA, CommandParser, Limits, NeedLiteral, ParseError
from support.imap_feed import run, run_all_ways


def test_a_command_arrives_when_its_line_is_complete() -> None:
    parser = CommandParser()
    parser.receive(b"a1 NO")
    assert parser.next_command() is NEED_MORE_DATA
    parser.receive(b"OP\r")
    assert parser.next_command() is NEED_MORE_DATA
    parser.receive(b"\n")
    assert parser.next_command() == Noop("a1")
    assert parser.next_command() is NEED_MORE_DATA


def test_pipelined_commands_come_one_by_one() -> None:
    assert run_all_ways(b"a NOOP\r\nb NOOP\r\nc noop\r\n") == [Noop("a"), Noop("b"), Noop("c")]


def test_a_bare_lf_ends_a_line_too_and_blank_lines_are_ignored() -> None:
    assert run_all_ways(b"a NOOP\n\r\n\nb NOOP\r\n") == [Noop("a"), Noop("b")]


def test_synchronizing_literal_is_announced_before_its_octets() -> None:
    parser = CommandParser()
    parser.receive(b"a1 LOGIN {5}\r\n")
    assert parser.next_command() == NeedLiteral("a1", "LOGIN", 5, synchronizing=True)
    assert parser.next_command() is NEED_MORE_DATA  # announced once
    parser.receive(b"fred ")
    assert parser.next_command() is NEED_MORE_DATA
    parser.receive(b" {4}\r\n")
    assert parser.next_command() == NeedLiteral("a1", "LOGIN", 4, synchronizing=True)
    parser.receive(b"p\r\nw\r\n")
    assert parser.next_command() == Login("a1", "fred ", "p\r\nw")


def test_non_synchronizing_literals_need_no_continuation() -> None:
    results = run_all_ways(b"a1 LOGIN {4+}\r\nfred {2+}\r\npw\r\n")
    assert results == [
        NeedLiteral("a1", "LOGIN", 4, synchronizing=False),
        NeedLiteral("a1", "LOGIN", 2, synchronizing=False),
        Login("a1", "fred", "pw"),
    ]


def test_literal_octets_are_not_parsed_as_lines() -> None:
    # a literal holding CRLF and what looks like a command and a literal header
    script = b"x LOGIN {21+}\r\nb NOOP\r\nc LOGIN {3}\r\n pw\r\n"
    assert run_all_ways(script)[-1] == Login("x", "b NOOP\r\nc LOGIN {3}\r\n", "pw")


def test_zero_length_literal() -> None:
    assert run_all_ways(b"a LOGIN {0}\r\n {0+}\r\n\r\n")[-1] == Login("a", "", "")


def test_literal8_is_announced_as_binary() -> None:
    results = run_all_ways(b"a APPEND x ~{3+}\r\na\x00b\r\n")
    assert results[0] == NeedLiteral("a", "APPEND", 3, synchronizing=False, binary=True)
    assert isinstance(results[1], Append) and results[1].messages[0].data == b"a\x00b"


def test_nul_in_a_plain_literal_is_bad() -> None:
    results = run_all_ways(b"a LOGIN {3+}\r\na\x00b x\r\nb NOOP\r\n")
    assert results[1] == ParseError("a", "NUL in a literal (RFC 9051 4.3: use literal8)", command="LOGIN")
    assert results[2] == Noop("b")


def test_literal_over_the_limit_is_refused_before_its_octets() -> None:
    limits = Limits(max_literal=10)
    parser = CommandParser(limits)
    parser.receive(b"a LOGIN {11}\r\n")
    assert parser.next_command() == ParseError("a", "literal too big", "NO", "TOOBIG", command="LOGIN")
    # the client got NO instead of "+": it sends the next command
    parser.receive(b"b NOOP\r\n")
    assert parser.next_command() == Noop("b")


def test_append_has_its_own_limit() -> None:
    limits = Limits(max_literal=10, max_append_literal=100)
    assert run([b"a APPEND x {50+}\r\n" + b"m" * 50 + b"\r\n"], limits)[-1] == Append(
        "a", "x", (AppendMessage(b"m" * 50),)
    )
    refused = run([b"a APPEND x {101}\r\n"], limits)
    assert refused == [ParseError("a", "message too big", "NO", "TOOBIG", command="APPEND")]


def test_uid_prefix_does_not_hide_the_command_name() -> None:
    assert run([b"a UID SEARCH TEXT {70000}\r\n"])[0] == ParseError(
        "a", "literal too big", "NO", "TOOBIG", command="SEARCH"
    )


def test_refused_non_synchronizing_literal_closes() -> None:
    parser = CommandParser(Limits(max_literal=10))
    parser.receive(b"a LOGIN {11+}\r\nxxxxxxxxxxx x\r\nb NOOP\r\n")
    assert parser.next_command() == ParseError("a", "literal too big", "BAD", "TOOBIG", close=True, command="LOGIN")
    assert parser.closed
    assert parser.next_command() is NEED_MORE_DATA
    parser.receive(b"c NOOP\r\n")
    assert parser.next_command() is NEED_MORE_DATA


def test_literal_minus_allows_only_4096_octets_non_synchronizing() -> None:
    limits = Limits(literal_minus=True, max_literal=10_000)
    ok = run([b"a LOGIN {4096+}\r\n" + b"u" * 4096 + b" p\r\n"], limits)
    assert isinstance(ok[-1], Login)
    too_big = run([b"a LOGIN {4097+}\r\n"], limits)
    assert too_big == [ParseError("a", "non-synchronizing literal over 4096 octets (LITERAL-)", "BAD", "TOOBIG",
                                  close=True, command="LOGIN")]
    # a synchronizing literal of that size is fine under LITERAL-
    assert run([b"a LOGIN {4097}\r\n"], limits) == [NeedLiteral("a", "LOGIN", 4097, True)]


def test_the_literals_of_one_command_have_a_total() -> None:
    limits = Limits(max_literal=10, max_command_literals=15)
    results = run([b"a LOGIN {8+}\r\n12345678 {8}\r\n"], limits)
    assert results[-1] == ParseError("a", "command too big", "NO", "TOOBIG", command="LOGIN")


def test_session_may_refuse_a_synchronizing_literal_and_the_parser_resyncs() -> None:
    parser = CommandParser()
    parser.receive(b"a APPEND x {500}\r\n")
    assert parser.next_command() == NeedLiteral("a", "APPEND", 500, True)
    parser.refuse_literal()
    parser.receive(b"b NOOP\r\n")
    assert parser.next_command() == Noop("b")


def test_session_refusing_a_non_synchronizing_literal_closes_the_parser() -> None:
    parser = CommandParser()
    parser.receive(b"a APPEND x {500+}\r\nxxx")
    assert parser.next_command() == NeedLiteral("a", "APPEND", 500, False)
    parser.refuse_literal()
    assert parser.closed


def test_refuse_literal_without_one_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        CommandParser().refuse_literal()


def test_line_over_the_limit_closes_even_before_its_end() -> None:
    parser = CommandParser(Limits(max_line=20))
    parser.receive(b"tag1 LOGIN " + b"x" * 30)
    assert parser.next_command() == ParseError("tag1", "command line too long", close=True)
    assert parser.closed


def test_line_limit_counts_the_text_of_every_line_of_a_command() -> None:
    limits = Limits(max_line=30)
    assert isinstance(run([b"a LOGIN {1+}\r\nu {1+}\r\np\r\n"], limits)[-1], Login)
    results = run([b"a LOGIN {1+}\r\nu" + b" " * 20 + b"{1+}\r\np\r\n"], limits)
    assert results[-1] == ParseError("a", "command line too long", close=True)


def test_exactly_at_the_line_limit_is_fine() -> None:
    line = b"a LOGIN u " + b"p" * 10
    assert isinstance(run_all_ways(line + b"\r\n", Limits(max_line=len(line)))[0], Login)
    assert run_all_ways(line + b"\r\n", Limits(max_line=len(line) - 1))[0].close  # type: ignore[union-attr]


def test_syntax_error_keeps_the_tag_and_the_next_command_is_read() -> None:
    results = run_all_ways(b"a17 LOGIN onlyone\r\nb NOOP\r\n")
    assert results == [ParseError("a17", "expected a space", command="LOGIN"), Noop("b")]


def test_syntax_error_after_literals_resyncs_after_the_whole_command() -> None:
    results = run_all_ways(b"a LOGIN {3+}\r\nu\r\n {3+}\r\nNOP extra\r\nb NOOP\r\n")
    assert results[-2:] == [ParseError("a", "unexpected text at the end of the command", command="LOGIN"), Noop("b")]


def test_error_without_a_tag() -> None:
    assert run_all_ways(b"+ NOOP\r\n") == [ParseError(None, "expected a tag")]
    assert run_all_ways(b"(\r\n") == [ParseError(None, "expected a tag")]


def test_unknown_command_and_bad_uid_command() -> None:
    assert run_all_ways(b"a XYZZY\r\n") == [ParseError("a", "unknown command", command="XYZZY")]
    assert run_all_ways(b"a UID LOGIN\r\n") == [ParseError("a", "UID LOGIN is not a command", command="LOGIN")]
    assert run_all_ways(b"a\r\n") == [ParseError("a", "expected a space")]


def test_next_line_reads_raw_lines_between_commands() -> None:
    parser = CommandParser(Limits(max_line=10))
    parser.receive(b"a IDLE\r\nDO")
    assert parser.next_command() is not NEED_MORE_DATA
    assert parser.next_line() is NEED_MORE_DATA
    parser.receive(b"NE\r\nb NOOP\r\n")
    assert parser.next_line() == b"DONE"
    assert parser.next_command() == Noop("b")
    parser.receive(b"x" * 12)
    assert parser.next_line() == ParseError(None, "line too long", close=True)


def test_next_line_inside_a_command_is_a_programming_error() -> None:
    parser = CommandParser()
    parser.receive(b"a LOGIN {3}\r\n")
    parser.next_command()
    with pytest.raises(RuntimeError):
        parser.next_line()


def test_discard_buffered_drops_what_was_pipelined_after_starttls() -> None:
    parser = CommandParser()
    parser.receive(b"a STARTTLS\r\nb LOGIN u p\r\n")
    assert parser.next_command() is not NEED_MORE_DATA
    assert parser.discard_buffered() == len(b"b LOGIN u p\r\n")
    assert parser.next_command() is NEED_MORE_DATA
    assert parser.buffered == 0


def test_byte_by_byte_feeding_is_linear() -> None:
    # a long line fed one octet at a time: the parser must not rescan from the start
    parser = CommandParser(Limits(max_line=300_000))
    script = b"a SEARCH " + b"1," * 100_000 + b"2\r\n"
    for i in range(len(script)):
        parser.receive(script[i : i + 1])
        result = parser.next_command()
    assert not isinstance(result, ParseError) and result is not NEED_MORE_DATA


def test_the_mailbox_name_of_append_has_the_small_limit() -> None:
    limits = Limits(max_literal=10, max_append_literal=100)
    assert run([b"a APPEND {11}\r\n"], limits) == [ParseError("a", "literal too big", "NO", "TOOBIG", command="APPEND")]
    ok = run([b"a append {5}\r\nDraft {50}\r\n" + b"m" * 50 + b"\r\n"], limits)
    assert ok[-1] == Append("a", "Draft", (AppendMessage(b"m" * 50),))


def test_error_texts_and_names_stay_short() -> None:
    [result] = run_all_ways(b"a SEARCH " + b"X" * 500 + b"\r\n", every_offset=False)
    assert isinstance(result, ParseError) and len(result.text) <= 120 and result.text.endswith("...")
    [result] = run_all_ways(b"a " + b"Y" * 500 + b"\r\n", every_offset=False)
    assert isinstance(result, ParseError) and result.command == "Y" * 40
