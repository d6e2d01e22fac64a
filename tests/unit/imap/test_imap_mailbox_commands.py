"""SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE, STATUS,
GETQUOTA, GETQUOTAROOT; mailbox names (modified UTF-7, UTF-8, INBOX).

RFC examples written from RFC 9051 6.3, RFC 6154, RFC 7162, RFC 9208 from memory.
"""

from __future__ import annotations

import pytest

from mailward.protocols.imap.commands import (
    Create,
    Delete,
    Examine,
    GetQuota,
    GetQuotaRoot,
    Namespace,
    Param,
    Rename,
    Select,
    Status,
    Subscribe,
    Unsubscribe,
)
from mailward.protocols.imap.commands.base import Context
from mailward.protocols.imap.seqset import SequenceSet
from support.imap_feed import command, error

UTF8 = Context(utf8=True)


def test_select_and_examine_rfc_examples() -> None:
    assert command(b"A142 SELECT INBOX\r\n") == Select("A142", "INBOX")
    examine = command(b"A932 EXAMINE blurdybloop\r\n")
    assert examine == Examine("A932", "blurdybloop")
    assert isinstance(examine, Examine) and examine.read_only
    assert not Select("a", "INBOX").read_only


def test_select_parameters_are_parsed_generically() -> None:
    # RFC 7162 3.1.8 and 3.2.5
    assert command(b"a SELECT INBOX (CONDSTORE)\r\n") == Select("a", "INBOX", (Param("CONDSTORE"),))
    qresync = command(b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n")
    assert qresync == Select(
        "A02", "INBOX", (Param("QRESYNC", (67890007, 20050715194045000, "41,43:211,214:541")),)
    )
    assert command(b"a SELECT x (FOO 1:5 BAR $ BAZ)\r\n") == Select(
        "a", "x", (Param("FOO", SequenceSet.parse("1:5")), Param("BAR", SequenceSet(saved=True)), Param("BAZ"))
    )


@pytest.mark.parametrize(
    "line", [b"a SELECT\r\n", b"a SELECT x (\r\n", b"a SELECT x ()y\r\n", b"a SELECT x y\r\n",
             b"a SELECT x (A ((((((((((1))))))))))\r\n"]
)
def test_bad_select(line: bytes) -> None:
    assert error(line).tag == "a"


def test_inbox_is_case_insensitive_also_as_a_parent() -> None:
    assert command(b"a SELECT inbox\r\n") == Select("a", "INBOX")
    assert command(b'a SELECT "InBoX"\r\n') == Select("a", "INBOX")
    assert command(b"a SELECT inbox/Sub\r\n") == Select("a", "INBOX/Sub")
    assert command(b"a SELECT inboxes\r\n") == Select("a", "inboxes")


def test_modified_utf7_names_unless_utf8_is_on() -> None:
    assert command(b"a SELECT &AOk-t&AOk-\r\n") == Select("a", "été")
    assert command(b"a SELECT &AOk-t&AOk-\r\n", UTF8) == Select("a", "&AOk-t&AOk-")
    assert command('a SELECT "été"\r\n'.encode(), UTF8) == Select("a", "été")
    assert error('a SELECT "été"\r\n'.encode()).text.startswith("mailbox name")
    assert error(b"a SELECT &AOk\r\n").tag == "a"
    assert error(b'a SELECT "\xff"\r\n', UTF8).tag == "a"


def test_create_rfc_examples() -> None:
    assert command(b"A003 CREATE owatagusiam/\r\n") == Create("A003", "owatagusiam/")
    assert command(b"A004 CREATE owatagusiam/blurdybloop\r\n") == Create("A004", "owatagusiam/blurdybloop")
    # RFC 6154 5.2 (CREATE-SPECIAL-USE)
    assert command(b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n") == Create(
        "t1", "MySpecial", ("\\Drafts", "\\Sent")
    )
    assert command(b"t1 CREATE x (USE ())\r\n") == Create("t1", "x")
    assert command(b"t1 CREATE x (USE (\\Junk) FOO 5)\r\n") == Create("t1", "x", ("\\Junk",), (Param("FOO", 5),))
    assert error(b"t1 CREATE x (USE \\Junk)\r\n").tag == "t1"


def test_delete_rename_subscribe_rfc_examples() -> None:
    assert command(b"A683 DELETE blurdybloop\r\n") == Delete("A683", "blurdybloop")
    assert command(b"A683 RENAME blurdybloop sarasoop\r\n") == Rename("A683", "blurdybloop", "sarasoop")
    assert command(b"A686 RENAME INBOX old-mail\r\n") == Rename("A686", "INBOX", "old-mail")
    assert command(b"A002 SUBSCRIBE #news.comp.mail.mime\r\n") == Subscribe("A002", "#news.comp.mail.mime")
    assert command(b"A002 UNSUBSCRIBE #news.comp.mail.mime\r\n") == Unsubscribe("A002", "#news.comp.mail.mime")
    assert error(b"a RENAME x\r\n").tag == "a"
    assert error(b"a DELETE x y\r\n").tag == "a"


def test_namespace_and_quota() -> None:
    assert command(b"A001 NAMESPACE\r\n") == Namespace("A001")
    assert command(b'G0001 GETQUOTA "!partition/sda4"\r\n') == GetQuota("G0001", "!partition/sda4")  # RFC 9208 4.2
    assert command(b"G0002 GETQUOTAROOT INBOX\r\n") == GetQuotaRoot("G0002", "INBOX")  # RFC 9208 4.3
    assert command(b'a GETQUOTA ""\r\n') == GetQuota("a", "")


def test_status_rfc_example_and_extensions() -> None:
    assert command(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n") == Status(
        "A042", "blurdybloop", ("UIDNEXT", "MESSAGES")
    )
    line = b"a status INBOX (messages uidnext uidvalidity unseen deleted size recent highestmodseq)\r\n"
    assert command(line) == Status(
        "a", "INBOX",
        ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ"),
    )


@pytest.mark.parametrize(
    "line", [b"a STATUS x ()\r\n", b"a STATUS x (FOO)\r\n", b"a STATUS x MESSAGES\r\n", b"a STATUS (MESSAGES)\r\n"]
)
def test_bad_status(line: bytes) -> None:
    assert error(line).tag == "a"
