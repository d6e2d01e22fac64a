"""SEARCH and UID SEARCH: every criterion of RFC 9051 and RFC 3501, CHARSET, RETURN, $.

RFC examples written from RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 4731, RFC 5182 and RFC
7162 from memory.
"""

from __future__ import annotations

from datetime import date

import pytest

from mailward.protocols.imap.commands import Search
from mailward.protocols.imap.commands.search import (
    All,
    And,
    DateCriterion,
    FlagCriterion,
    HeaderCriterion,
    ModSeqCriterion,
    Not,
    Or,
    SearchKey,
    SetCriterion,
    SizeCriterion,
    TextCriterion,
)
from mailward.protocols.imap.seqset import SequenceSet
from support.imap_feed import command, error


def search(line: bytes) -> Search:
    got = command(line)
    assert isinstance(got, Search)
    return got


def key(text: bytes) -> SearchKey:
    return search(b"a SEARCH " + text + b"\r\n").criteria


def test_rfc_examples() -> None:
    assert search(b'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n') == Search(
        "A282", False,
        And((FlagCriterion("\\Flagged"), DateCriterion("SINCE", date(1994, 2, 1)),
             Not(HeaderCriterion("FROM", "Smith")))),
    )
    assert key(b'TEXT "string not in mailbox"') == TextCriterion("TEXT", "string not in mailbox")
    cyrillic = "отпуск".encode()
    got = search(b"A284 SEARCH CHARSET UTF-8 TEXT {%d}\r\n" % len(cyrillic) + cyrillic + b"\r\n")
    assert got == Search("A284", False, TextCriterion("TEXT", "отпуск"), "UTF-8")
    # RFC 4731 / RFC 9051 6.4.4
    got = search(b'A285 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n')
    assert got.return_options == ("MIN", "COUNT")
    assert search(b"A286 SEARCH RETURN () UNSEEN\r\n").return_options == ()
    # RFC 5182 2.4
    got = search(b'A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n')
    assert got.return_options == ("SAVE",)
    assert search(b"A283 UID SEARCH UID $ SMALLER 4096\r\n") == Search(
        "A283", True, And((SetCriterion(SequenceSet(saved=True), uid=True), SizeCriterion(False, 4096)))
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"ALL", All()),
        (b"ANSWERED", FlagCriterion("\\Answered")), (b"UNANSWERED", FlagCriterion("\\Answered", False)),
        (b"DELETED", FlagCriterion("\\Deleted")), (b"UNDELETED", FlagCriterion("\\Deleted", False)),
        (b"DRAFT", FlagCriterion("\\Draft")), (b"UNDRAFT", FlagCriterion("\\Draft", False)),
        (b"FLAGGED", FlagCriterion("\\Flagged")), (b"UNFLAGGED", FlagCriterion("\\Flagged", False)),
        (b"SEEN", FlagCriterion("\\Seen")), (b"UNSEEN", FlagCriterion("\\Seen", False)),
        (b"RECENT", FlagCriterion("\\Recent")), (b"OLD", FlagCriterion("\\Recent", False)),
        (b"NEW", And((FlagCriterion("\\Recent"), FlagCriterion("\\Seen", False)))),
        (b"KEYWORD $Forwarded", FlagCriterion("$Forwarded")), (b"UNKEYWORD $Junk", FlagCriterion("$Junk", False)),
        (b"BCC x", HeaderCriterion("BCC", "x")), (b"CC x", HeaderCriterion("CC", "x")),
        (b"FROM x", HeaderCriterion("FROM", "x")), (b"TO x", HeaderCriterion("TO", "x")),
        (b'SUBJECT "a b"', HeaderCriterion("SUBJECT", "a b")),
        (b'HEADER Message-ID "<x@y>"', HeaderCriterion("MESSAGE-ID", "<x@y>")),
        (b'HEADER X-Empty ""', HeaderCriterion("X-EMPTY", "")),
        (b"BODY hello", TextCriterion("BODY", "hello")), (b"TEXT hello", TextCriterion("TEXT", "hello")),
        (b"BEFORE 1-Feb-1994", DateCriterion("BEFORE", date(1994, 2, 1))),
        (b'ON "01-Feb-1994"', DateCriterion("ON", date(1994, 2, 1))),
        (b"SINCE 28-feb-2000", DateCriterion("SINCE", date(2000, 2, 28))),
        (b"SENTBEFORE 1-Jan-2020", DateCriterion("BEFORE", date(2020, 1, 1), sent=True)),
        (b"SENTON 1-Jan-2020", DateCriterion("ON", date(2020, 1, 1), sent=True)),
        (b"SENTSINCE 1-Jan-2020", DateCriterion("SINCE", date(2020, 1, 1), sent=True)),
        (b"LARGER 1000", SizeCriterion(True, 1000)), (b"SMALLER 0", SizeCriterion(False, 0)),
        (b"UID 1:*", SetCriterion(SequenceSet.parse("1:*"), uid=True)),
        (b"1,3:5", SetCriterion(SequenceSet.parse("1,3:5"))), (b"$", SetCriterion(SequenceSet(saved=True))),
        (b"*", SetCriterion(SequenceSet.parse("*"))),
        (b"NOT SEEN", Not(FlagCriterion("\\Seen"))),
        (b"OR SEEN (FLAGGED DRAFT)", Or(FlagCriterion("\\Seen"), And((FlagCriterion("\\Flagged"), FlagCriterion("\\Draft"))))),
        (b"(SEEN)", FlagCriterion("\\Seen")),
        (b"MODSEQ 620162338", ModSeqCriterion(620162338)),  # RFC 7162 3.1.5
        (b'MODSEQ "/flags/\\\\draft" all 620162338', ModSeqCriterion(620162338, ("/flags/\\draft", "all"))),
    ],
)
def test_each_criterion(text: bytes, expected: SearchKey) -> None:
    assert key(text) == expected
    assert key(text.lower()) == expected or b'"' in text or b"$" in text or b"/" in text  # keywords any case


def test_nested_or_not_and_lists() -> None:
    assert key(b"OR OR SEEN DRAFT NOT (DELETED LARGER 5)") == Or(
        Or(FlagCriterion("\\Seen"), FlagCriterion("\\Draft")),
        Not(And((FlagCriterion("\\Deleted"), SizeCriterion(True, 5)))),
    )


def test_sequence_number_use_is_known() -> None:
    assert not search(b"a UID SEARCH UID 1:5 SEEN\r\n").uses_sequence_numbers
    assert search(b"a UID SEARCH NOT OR SEEN 1:5\r\n").uses_sequence_numbers


def test_other_charsets_are_kept_for_the_session_to_refuse() -> None:
    got = search(b"a SEARCH CHARSET iso-8859-1 TEXT {1}\r\n\xe9\r\n")
    assert got.charset == "ISO-8859-1" and got.criteria == TextCriterion("TEXT", "é")
    assert error(b"a SEARCH CHARSET UTF-8 TEXT {1}\r\n\xe9\r\n").text == "search string is not UTF-8"


@pytest.mark.parametrize(
    "text",
    [b"", b"FOO", b"SEEN FOO", b"FROM", b"BEFORE 1994", b"BEFORE 1-Foo-1994", b"BEFORE 31-Feb-1994",
     b"LARGER x", b"OR SEEN", b"NOT", b"(SEEN", b"()", b"UID", b"UID x", b"KEYWORD", b"HEADER x", b"0",
     b"RETURN (FOO) ALL", b"CHARSET", b"MODSEQ x", b"MODSEQ \"/x\" all 5", b"MODSEQ \"/flags/x\" none 5",
     b"NOT " * 40 + b"SEEN", b"(" * 40 + b"SEEN" + b")" * 40, b"SEEN  DRAFT"],
)
def test_bad_search(text: bytes) -> None:
    assert error(b"a SEARCH " + text + b"\r\n").tag == "a"
