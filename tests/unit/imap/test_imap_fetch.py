"""FETCH and UID FETCH: macros, attributes, sections, partials, BINARY, modifiers.

RFC examples written from RFC 9051 6.4.5/6.4.9, RFC 3516 and RFC 7162 from memory.
"""

from __future__ import annotations

import pytest

from mailward.protocols.imap.commands import (
    BinarySize,
    BodySection,
    Fetch,
    FetchAttribute,
    Param,
    Partial,
    Section,
)
from mailward.protocols.imap.seqset import SequenceSet
from support.imap_feed import command, error


def fetch(line: bytes) -> Fetch:
    got = command(line)
    assert isinstance(got, Fetch)
    return got


def test_rfc_example_header_fields() -> None:
    got = fetch(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n")
    assert got == Fetch(
        "A654", False, SequenceSet.parse("2:4"),
        (FetchAttribute("FLAGS"), BodySection(Section((), "HEADER.FIELDS", ("DATE", "FROM")))),
    )
    assert got.sets_seen
    assert got.items[1].response_name == "BODY[HEADER.FIELDS (DATE FROM)]"  # type: ignore[union-attr]


def test_rfc_example_uid_fetch() -> None:
    assert fetch(b"A999 UID FETCH 4827313:4828442 FLAGS\r\n") == Fetch(
        "A999", True, SequenceSet.parse("4827313:4828442"), (FetchAttribute("FLAGS"),)
    )


@pytest.mark.parametrize(
    ("macro", "names"),
    [("ALL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]), ("FAST", ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]),
     ("FULL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"])],
)
def test_macros_expand(macro: str, names: list[str]) -> None:
    got = fetch(b"a FETCH 1 %s\r\n" % macro.lower().encode())
    assert got.macro == macro and got.items == tuple(FetchAttribute(n) for n in names)
    assert not got.sets_seen


def test_every_simple_attribute() -> None:
    names = "ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODY BODYSTRUCTURE UID MODSEQ"
    got = fetch(b"a FETCH * (%s)\r\n" % names.lower().encode())
    assert got.items == tuple(FetchAttribute(n) for n in names.split())


def test_sections_and_partials() -> None:
    got = fetch(
        b"a FETCH 1 (BODY[] BODY.PEEK[1.2.3] BODY[TEXT]<0.2048> BODY[1.MIME] BODY[2.HEADER] "
        b"BODY[3.HEADER.FIELDS.NOT (Received X-Spam)] BODY.PEEK[]<100.1>)\r\n"
    )
    assert got.items == (
        BodySection(Section()),
        BodySection(Section((1, 2, 3)), peek=True),
        BodySection(Section((), "TEXT"), Partial(0, 2048)),
        BodySection(Section((1,), "MIME")),
        BodySection(Section((2,), "HEADER")),
        BodySection(Section((3,), "HEADER.FIELDS.NOT", ("Received", "X-Spam"))),
        BodySection(Section(), Partial(100, 1), peek=True),
    )
    names = [i.response_name for i in got.items if isinstance(i, BodySection)]
    assert names == ["BODY[]", "BODY[1.2.3]", "BODY[TEXT]<0>", "BODY[1.MIME]", "BODY[2.HEADER]",
                     "BODY[3.HEADER.FIELDS.NOT (Received X-Spam)]", "BODY[]<100>"]


def test_peek_only_does_not_set_seen() -> None:
    assert not fetch(b"a FETCH 1 (BODY.PEEK[] RFC822.HEADER BINARY.PEEK[1])\r\n").sets_seen
    assert fetch(b"a FETCH 1 RFC822.TEXT\r\n").sets_seen
    assert fetch(b"a FETCH 1 BINARY[]\r\n").sets_seen


def test_binary_rfc3516() -> None:
    got = fetch(b"t FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1]<0.10> BINARY[2.1])\r\n")
    assert got.items == (
        BinarySize((1,)),
        BodySection(Section((1,)), Partial(0, 10), peek=True, binary=True),
        BodySection(Section((2, 1)), binary=True),
    )
    assert got.items[0].response_name == "BINARY.SIZE[1]"  # type: ignore[union-attr]
    assert got.items[1].response_name == "BINARY[1]<0>"  # type: ignore[union-attr]


def test_modifiers_rfc7162() -> None:
    got = fetch(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n")
    assert got.modifiers == (Param("CHANGEDSINCE", 12345),)
    got = fetch(b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n")
    assert got.modifiers == (Param("CHANGEDSINCE", 12345), Param("VANISHED"))


def test_sequence_sets_and_saved_result() -> None:
    assert fetch(b"a FETCH $ FLAGS\r\n").sequence_set == SequenceSet(saved=True)
    assert fetch(b"a FETCH 1,3:*,7 FLAGS\r\n").sequence_set == SequenceSet.parse("1,3:*,7")


@pytest.mark.parametrize(
    "line",
    [b"a FETCH 1\r\n", b"a FETCH FLAGS\r\n", b"a FETCH 0 FLAGS\r\n", b"a FETCH 1 ()\r\n", b"a FETCH 1 (FOO)\r\n",
     b"a FETCH 1 BODY[X]\r\n", b"a FETCH 1 BODY[MIME]\r\n", b"a FETCH 1 BODY[1.]\r\n", b"a FETCH 1 BODY[0]\r\n",
     b"a FETCH 1 BODY[HEADER.FIELDS]\r\n", b"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", b"a FETCH 1 BODY[]<1>\r\n",
     b"a FETCH 1 BODY[]<1.0>\r\n", b"a FETCH 1 BINARY[TEXT]\r\n", b"a FETCH 1 BODY.PEEK\r\n",
     b"a FETCH 1 (FLAGS\r\n", b"a FETCH 1 ALL ALL\r\n", b"a FETCH 1 (ALL)\r\n", b"a FETCH 1:2:3 FLAGS\r\n",
     b"a FETCH 4294967296 FLAGS\r\n", b"a FETCH 1 BODY[HEADER.FIELDS (A:B)]\r\n"],
)
def test_bad_fetch(line: bytes) -> None:
    assert error(line).tag == "a"
