"""Sequence sets and modified UTF-7 names (RFC 9051 9, RFC 3501 5.1.3)."""

from __future__ import annotations

import pytest

from mailward.protocols.imap.mutf7 import MUtf7Error, decode_mutf7, encode_mutf7
from mailward.protocols.imap.seqset import STAR, SeqRange, SequenceSet, SequenceSetError


def test_sequence_set_parse_and_resolve() -> None:
    s = SequenceSet.parse("2,4:7,9,12:*")
    assert s.ranges == (SeqRange(2, 2), SeqRange(4, 7), SeqRange(9, 9), SeqRange(12, STAR))
    assert s.resolve(15) == [(2, 2), (4, 7), (9, 9), (12, 15)]
    assert list(s.numbers(13)) == [2, 4, 5, 6, 7, 9, 12, 13]
    assert s.contains(6, 15) and not s.contains(8, 15)
    assert s.uses_star and not SequenceSet.parse("1").uses_star


def test_reversed_ranges_star_beyond_the_end_and_overlaps() -> None:
    # RFC 9051 9: "2:4" and "4:2" are the same; "*:4" with 3 messages is 3:4
    assert SequenceSet.parse("4:2").resolve(10) == [(2, 4)]
    assert SequenceSet.parse("*:4").resolve(3) == [(3, 4)]
    assert list(SequenceSet.parse("*:4").numbers(3)) == [3]
    assert SequenceSet.parse("1:5,3:8,10,9").resolve(100) == [(1, 10)]
    assert SequenceSet.parse("*").resolve(0) == []


def test_saved_result() -> None:
    saved = SequenceSet.parse("$")
    assert saved.saved and str(saved) == "$"
    with pytest.raises(ValueError):
        saved.resolve(5)


@pytest.mark.parametrize("text", ["", "0", "1:", ":1", "1::2", "1:2:3", "a", "01", "4294967296", "1,,2", "$,1", "-1"])
def test_bad_sequence_sets(text: str) -> None:
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(text)


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", b"INBOX"),
        ("~peter/mail/日本語/台北", b"~peter/mail/&ZeVnLIqe-/&U,BTFw-"),  # RFC 3501 5.1.3
        ("A & B", b"A &- B"),
        ("Entwürfe", b"Entw&APw-rfe"),
        ("été", b"&AOk-t&AOk-"),
        ("😀", b"&2D3eAA-"),
        ("", b""),
    ],
)
def test_modified_utf7(name: str, wire: bytes) -> None:
    assert encode_mutf7(name) == wire
    assert decode_mutf7(wire) == name


@pytest.mark.parametrize(
    "wire",
    [b"&", b"&AOk", b"&AOk=-", b"&AO/-", b"&AGE-", b"&AOk", b"\xc3\xa9", b"a\tb", b"&Zm9v-", b"&AOl-"],
)
def test_bad_modified_utf7(wire: bytes) -> None:
    with pytest.raises(MUtf7Error):
        decode_mutf7(wire)


def test_sequence_set_from_numbers() -> None:
    assert str(SequenceSet.from_numbers([7, 1, 2, 3, 3, 9, 10])) == "1:3,7,9:10"
    assert str(SequenceSet.from_numbers([])) == ""
    assert str(SequenceSet.from_numbers([5])) == "5"
    assert str(SequenceSet.from_numbers([304, 319, 320], keep_order=True)) == "304,319:320"
    assert str(SequenceSet.from_numbers([9, 8, 3, 4], keep_order=True)) == "9,8,3:4"
