"""Hypothesis: whatever arrives, the parser answers with typed results only, the same
however the bytes are split; values survive encoder -> parser round trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.protocols.imap.commands import Command, Id, Login, Select, normalise_mailbox
from mailward.protocols.imap.commands.base import Context
from mailward.protocols.imap.mutf7 import decode_mutf7, encode_mutf7
from mailward.protocols.imap.parser import (
    NEED_MORE_DATA,
    CommandParser,
    Limits,
    LiteralChunk,
    NeedLiteral,
    ParseError,
)
from mailward.protocols.imap.response import Encoder
from mailward.protocols.imap.seqset import SequenceSet
from support.imap_feed import run

LIMITS = Limits(max_line=300, max_literal=64, max_command_literals=100, max_append_literal=80, max_append_total=120)
WORDS = [
    b"a", b"A1", b"UID", b"FETCH", b"STORE", b"SEARCH", b"COPY", b"MOVE", b"EXPUNGE", b"APPEND", b"LOGIN",
    b"AUTHENTICATE", b"LIST", b"LSUB", b"SELECT", b"EXAMINE", b"CREATE", b"STATUS", b"ID", b"ENABLE", b"NOOP",
    b"IDLE", b"DONE", b"GETQUOTA", b"RENAME", b"1:*", b"$", b"*", b"1,2", b"(", b")", b"[", b"]", b"<0.5>",
    b"BODY[]", b"BODY.PEEK[1.HEADER.FIELDS (A B)]", b"BINARY[1]", b"FLAGS", b"+FLAGS.SILENT", b"\\Seen",
    b"(\\Seen)", b"INBOX", b"&AOk-", b'"q"', b'"a\\"b"', b'""', b"NIL", b"{3}", b"{3+}", b"~{2+}", b"{0}",
    b"{70+}", b"{99999999999}", b"RETURN", b"(MIN)", b"CHARSET", b"UTF-8", b"OR", b"NOT", b"FROM", b"SINCE",
    b"1-Feb-1994", b'" 7-Feb-1994 21:52:25 -0800"', b"UTF8", b"USE", b"(CONDSTORE)", b"(CHANGEDSINCE 5)",
    b" ", b"  ", b"\r\n", b"\n", b"\r", b"\x00", b"\xff", b"\xc3\xa9",
]
TYPED = (Command, NeedLiteral, ParseError)


def typed_only(results: list[object]) -> None:
    for result in results:
        assert isinstance(result, TYPED), result


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=5))
def test_random_bytes_give_typed_results_only(data: bytes, cuts: list[int]) -> None:
    whole = run([data], LIMITS)
    typed_only(list(whole))
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert run(pieces, LIMITS) == whole


@settings(max_examples=600, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), max_size=8),
       st.lists(st.integers(0, 2000), max_size=6), st.booleans())
def test_command_soup_is_typed_and_split_invariant(lines: list[list[bytes]], cuts: list[int], utf8: bool) -> None:
    script = b"".join(b"t " + b" ".join(words) + b"\r\n" for words in lines)
    context = Context(utf8=utf8)
    whole = run([script], LIMITS, context)
    typed_only(list(whole))
    points = sorted({c % (len(script) + 1) for c in cuts})
    pieces = [script[a:b] for a, b in zip([0, *points], [*points, len(script)], strict=True)]
    assert run(pieces, LIMITS, context) == whole
    assert run([bytes([b]) for b in script], LIMITS, context) == whole


TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(TEXT, TEXT, st.booleans())
def test_astrings_round_trip_through_login(user: str, password: str, utf8: bool) -> None:
    encoder = Encoder(utf8)
    script = b"a LOGIN " + encoder.astring(user) + b" " + encoder.astring(password) + b"\r\n"
    results = [r for r in run([script]) if not isinstance(r, NeedLiteral)]
    assert results == [Login("a", user, password)]


@settings(max_examples=400, deadline=None)
@given(TEXT.filter(bool), st.booleans())
def test_mailbox_names_round_trip(name: str, utf8: bool) -> None:
    encoder = Encoder(utf8)
    script = b"a SELECT " + encoder.mailbox(name) + b"\r\n"
    results = [r for r in run([script], context=Context(utf8=utf8)) if not isinstance(r, NeedLiteral)]
    assert results == [Select("a", normalise_mailbox(name))]


@settings(max_examples=400, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_modified_utf7_round_trips(name: str) -> None:
    encoded = encode_mutf7(name)
    assert encoded.isascii() and all(0x20 <= b <= 0x7E for b in encoded)
    assert decode_mutf7(encoded) == name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2**32 - 1) | st.just(0), st.integers(1, 2**32 - 1) | st.just(0)),
                min_size=1, max_size=8))
def test_sequence_sets_round_trip(ranges: list[tuple[int, int]]) -> None:
    text = ",".join(
        ("*" if a == 0 else str(a)) + ("" if a == b else ":" + ("*" if b == 0 else str(b))) for a, b in ranges
    )
    parsed = SequenceSet.parse(text)
    assert str(parsed) == text
    assert SequenceSet.parse(str(parsed)) == parsed


def run_streaming(chunks: list[bytes]) -> list[object]:
    """Feed ``chunks`` streaming every APPEND literal; chunks are joined per literal."""
    parser = CommandParser(LIMITS)
    out: list[object] = []
    current = bytearray()
    for chunk in chunks:
        parser.receive(chunk)
        for _ in range(10_000):
            item = parser.next_command()
            if item is NEED_MORE_DATA:
                break
            if isinstance(item, LiteralChunk):
                current += item.data
                if item.last:
                    out.append(bytes(current))
                    current.clear()
                continue
            assert isinstance(item, TYPED), item
            out.append(item)
            if isinstance(item, NeedLiteral) and item.command == "APPEND":
                parser.stream_literal()
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*WORDS, b"APPEND x", b"{2+}\r\nab", b"~{1+}\r\n\x00"]), min_size=1,
                         max_size=10), max_size=6), st.lists(st.integers(0, 2000), max_size=6))
def test_streamed_literals_are_split_invariant(lines: list[list[bytes]], cuts: list[int]) -> None:
    script = b"".join(b"t " + b" ".join(words) + b"\r\n" for words in lines)
    whole = run_streaming([script])
    points = sorted({c % (len(script) + 1) for c in cuts})
    pieces = [script[a:b] for a, b in zip([0, *points], [*points, len(script)], strict=True)]
    assert run_streaming(pieces) == whole
    assert run_streaming([bytes([b]) for b in script]) == whole


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TEXT, st.none() | TEXT), max_size=5), st.booleans())
def test_strings_and_nstrings_round_trip_through_id(pairs: list[tuple[str, str | None]], utf8: bool) -> None:
    encoder = Encoder(utf8)
    body = b" ".join(encoder.string(f) + b" " + (b"NIL" if v is None else encoder.string(v)) for f, v in pairs)
    script = b"a ID " + (b"(" + body + b")" if pairs else b"NIL") + b"\r\n"
    results = [r for r in run([script]) if not isinstance(r, NeedLiteral)]
    assert results == [Id("a", tuple(pairs) if pairs else None)]
