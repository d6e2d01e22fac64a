"""STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, CHECK, CLOSE, UNSELECT.

RFC examples written from RFC 9051 6.4, RFC 6851, RFC 4315, RFC 3691 and RFC 7162 from
memory.
"""

from __future__ import annotations

import pytest

from mailward.protocols.imap.commands import (
    Check,
    Close,
    Copy,
    Expunge,
    Move,
    Param,
    Store,
    StoreAction,
    Unselect,
)
from mailward.protocols.imap.seqset import SequenceSet
from support.imap_feed import command, error


def test_store_rfc_example() -> None:
    assert command(b"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n") == Store(
        "A003", False, SequenceSet.parse("2:4"), StoreAction.ADD, False, ("\\Deleted",)
    )


def test_store_forms() -> None:
    assert command(b"a STORE 1 FLAGS.SILENT ()\r\n") == Store("a", False, SequenceSet.of(1), StoreAction.REPLACE, True, ())
    assert command(b"a UID STORE 1:* -flags \\seen $Junk\r\n") == Store(
        "a", True, SequenceSet.parse("1:*"), StoreAction.REMOVE, False, ("\\Seen", "$Junk")
    )
    # RFC 7162 3.1.3
    assert command(b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n") == Store(
        "d105", False, SequenceSet.parse("7,5,9"), StoreAction.ADD, True, ("\\Deleted",),
        (Param("UNCHANGEDSINCE", 320162338),),
    )


@pytest.mark.parametrize(
    "line",
    [b"a STORE 1 +FLAGS\r\n", b"a STORE 1 FLAG (\\Seen)\r\n", b"a STORE 1 +FLAGS.LOUD (\\Seen)\r\n",
     b"a STORE +FLAGS (\\Seen)\r\n", b"a STORE 1 *FLAGS (\\Seen)\r\n", b"a STORE 1 FLAGS (\\Seen\r\n",
     b"a STORE 1 FLAGS (\\)\r\n", b"a STORE 1 FLAGS (a\"b)\r\n", b"a STORE 1 (UNCHANGEDSINCE 5 FLAGS x\r\n"],
)
def test_bad_store(line: bytes) -> None:
    assert error(line).tag == "a"


def test_copy_move_rfc_examples() -> None:
    assert command(b"A003 COPY 2:4 MEETING\r\n") == Copy("A003", False, SequenceSet.parse("2:4"), "MEETING")
    assert command(b"a UID MOVE 42:69 foo\r\n") == Move("a", True, SequenceSet.parse("42:69"), "foo")  # RFC 6851
    assert command(b"a MOVE $ inbox\r\n") == Move("a", False, SequenceSet(saved=True), "INBOX")
    assert error(b"a COPY 1\r\n").tag == "a"
    assert error(b"a UID MOVE foo 1\r\n").tag == "a"


def test_expunge_and_uid_expunge() -> None:
    assert command(b"A202 EXPUNGE\r\n") == Expunge("A202")
    assert command(b"A003 UID EXPUNGE 3000:3002\r\n") == Expunge("A003", True, SequenceSet.parse("3000:3002"))  # RFC 4315
    assert error(b"a EXPUNGE 1\r\n").tag == "a"
    assert error(b"a UID EXPUNGE\r\n").tag == "a"


def test_check_close_unselect() -> None:
    assert command(b"FXXZ CHECK\r\n") == Check("FXXZ")
    assert command(b"A341 CLOSE\r\n") == Close("A341")
    assert command(b"A342 UNSELECT\r\n") == Unselect("A342")  # RFC 3691
    assert error(b"a CLOSE now\r\n").tag == "a"
