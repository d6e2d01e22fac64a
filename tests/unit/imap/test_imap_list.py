"""LIST (basic, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE) and LSUB.

RFC examples written from RFC 9051 6.3.9, RFC 3501 6.3.9, RFC 5258 5, RFC 5819 and RFC
6154 from memory.
"""

from __future__ import annotations

import pytest

from mailward.protocols.imap.commands import List, Lsub
from mailward.protocols.imap.commands.base import Context
from support.imap_feed import command, error


def test_basic_list_rfc_examples() -> None:
    assert command(b'A101 LIST "" ""\r\n') == List("A101", "", ("",))
    assert command(b'A102 LIST #news.comp.mail.misc ""\r\n') == List("A102", "#news.comp.mail.misc", ("",))
    assert command(b'A103 LIST /usr/staff/jones ""\r\n') == List("A103", "/usr/staff/jones", ("",))
    assert command(b"A202 LIST ~/Mail/ %\r\n") == List("A202", "~/Mail/", ("%",))
    assert command(b'A682 LIST "" *\r\n') == List("A682", "", ("*",))
    assert command(b'a LIST "" foo/%/bar*]\r\n') == List("a", "", ("foo/%/bar*]",))


def test_extended_list_rfc_examples() -> None:
    subscribed = command(b'A02 LIST (SUBSCRIBED) "" "*"\r\n')
    assert subscribed == List("A02", "", ("*",), frozenset({"SUBSCRIBED"}), extended=True)
    children = command(b'A03 LIST () "" "%" RETURN (CHILDREN)\r\n')
    assert children == List("A03", "", ("%",), frozenset(), frozenset({"CHILDREN"}), extended=True)
    both = command(b'A05 LIST (REMOTE SUBSCRIBED) "" "*"\r\n')
    assert isinstance(both, List) and both.selection == {"REMOTE", "SUBSCRIBED"}
    recursive = command(b'A06 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"\r\n')
    assert isinstance(recursive, List) and recursive.selection == {"SUBSCRIBED", "RECURSIVEMATCH"}
    several = command(b'A10 LIST "" ("INBOX" "Drafts" "Sent/%")\r\n')
    assert several == List("A10", "", ("INBOX", "Drafts", "Sent/%"), extended=True)


def test_list_status_and_special_use() -> None:
    # RFC 5819 2
    assert command(b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))\r\n') == List(
        "A01", "", ("%",), return_status=("MESSAGES", "UNSEEN"), extended=True
    )
    # RFC 6154 5.1
    assert command(b't1 LIST "" "%" RETURN (SPECIAL-USE)\r\n') == List(
        "t1", "", ("%",), return_options=frozenset({"SPECIAL-USE"}), extended=True
    )
    assert command(b't3 LIST (SPECIAL-USE) "" "*"\r\n') == List(
        "t3", "", ("*",), frozenset({"SPECIAL-USE"}), extended=True
    )
    many = command(b'a LIST "" * RETURN (SUBSCRIBED CHILDREN STATUS (SIZE) SPECIAL-USE)\r\n')
    assert isinstance(many, List)
    assert many.return_options == {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"} and many.return_status == ("SIZE",)


def test_list_patterns_are_decoded_like_names() -> None:
    assert command(b'a LIST "" &AOk-*\r\n') == List("a", "", ("é*",))
    assert command('a LIST "" "é*"\r\n'.encode(), Context(utf8=True)) == List("a", "", ("é*",))


@pytest.mark.parametrize(
    "line",
    [b'a LIST ""\r\n', b"a LIST (FOO) \"\" *\r\n", b'a LIST (RECURSIVEMATCH) "" *\r\n', b'a LIST "" ()\r\n',
     b'a LIST "" * RETURN (FOO)\r\n', b'a LIST "" * RETURN CHILDREN\r\n', b'a LIST "" * (x)\r\n',
     b'a LIST "" * RETURN (STATUS ())\r\n', b"a LIST * *\r\n"],
)
def test_bad_list(line: bytes) -> None:
    assert error(line).tag == "a"


def test_lsub_rfc_example() -> None:
    assert command(b'A002 LSUB "#news." "comp.mail.*"\r\n') == Lsub("A002", "#news.", "comp.mail.*")
    assert command(b'a LSUB "" %\r\n') == Lsub("a", "", "%")
    assert error(b'a LSUB ""\r\n').tag == "a"
