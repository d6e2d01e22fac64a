"""CAPABILITY, NOOP, LOGOUT, STARTTLS, AUTHENTICATE, LOGIN, ENABLE, ID, IDLE.

The examples marked RFC are written from the RFCs' text from memory (RFC 9051 6.1-6.3,
RFC 3501, RFC 4959, RFC 5161, RFC 2971); no copy of the RFCs was at hand.
"""

from __future__ import annotations

import base64

import pytest

from mailward.protocols.imap.commands import (
    Authenticate,
    Capability,
    Enable,
    Id,
    Idle,
    Login,
    Logout,
    Noop,
    SaslResponse,
    StartTls,
    is_done,
    parse_sasl_response,
)
from mailward.protocols.imap.commands.base import Context
from mailward.protocols.imap.parser import ParseError
from mailward.protocols.imap.reader import Syntax
from support.imap_feed import command, error


def test_rfc_examples_without_arguments() -> None:
    assert command(b"abcd CAPABILITY\r\n") == Capability("abcd")  # RFC 9051 6.1.1
    assert command(b"a002 NOOP\r\n") == Noop("a002")  # RFC 9051 6.1.2
    assert command(b"A023 LOGOUT\r\n") == Logout("A023")  # RFC 9051 6.1.3
    assert command(b"a002 STARTTLS\r\n") == StartTls("a002")  # RFC 9051 6.2.1
    assert command(b"a002 IDLE\r\n") == Idle("a002")  # RFC 9051 6.3.13


def test_command_names_are_case_insensitive() -> None:
    assert command(b"a capability\r\n") == Capability("a")
    assert command(b"a LoGoUt\r\n") == Logout("a")


@pytest.mark.parametrize("line", [b"a NOOP x\r\n", b"a NOOP \r\n", b"a CAPABILITY (\r\n", b"a IDLE DONE\r\n"])
def test_arguments_where_none_belong_are_bad(line: bytes) -> None:
    assert error(line).tag == "a"


def test_tags_may_hold_any_astring_char_but_plus() -> None:
    assert command(b"A]1.x NOOP\r\n") == Noop("A]1.x")
    assert error(b"a+b NOOP\r\n").tag == "a"  # the tag ends at "+"


def test_login_rfc_example_and_strings() -> None:
    assert command(b"a001 LOGIN SMITH SESAME\r\n") == Login("a001", "SMITH", "SESAME")  # RFC 9051 6.2.3
    assert command(b'a LOGIN "fred smith" "p\\"w\\\\"\r\n') == Login("a", "fred smith", 'p"w\\')
    assert command(b"a LOGIN {4}\r\nfr d {3+}\r\n\"x)\r\n") == Login("a", "fr d", '"x)')
    assert command("a LOGIN \"jürgen\" \"pässword\"\r\n".encode()) == Login("a", "jürgen", "pässword")
    assert error("a LOGIN jürgen pw\r\n".encode()).tag == "a"  # 8-bit only in strings (RFC 9051 9)


def test_login_hides_the_password_in_its_repr() -> None:
    assert "SESAME" not in repr(Login("a", "SMITH", "SESAME"))


@pytest.mark.parametrize(
    "line",
    [b"a LOGIN\r\n", b"a LOGIN fred\r\n", b"a LOGIN fred pw extra\r\n", b'a LOGIN "fred pw\r\n',
     b"a LOGIN fred\xff pw\r\n", b'a LOGIN "a\\b" pw\r\n', b"a LOGIN (fred) pw\r\n"],
)
def test_bad_login(line: bytes) -> None:
    assert error(line).tag == "a"


def test_authenticate_rfc_examples() -> None:
    assert command(b"A001 AUTHENTICATE GSSAPI\r\n") == Authenticate("A001", "GSSAPI")  # RFC 9051 6.2.2
    # RFC 4959 3: SASL-IR
    plain = base64.b64encode(b"\x00tim\x00tanstaaftanstaaf")
    assert command(b"a AUTHENTICATE PLAIN " + plain + b"\r\n") == Authenticate(
        "a", "PLAIN", b"\x00tim\x00tanstaaftanstaaf"
    )
    assert command(b"a authenticate external =\r\n") == Authenticate("a", "EXTERNAL", b"")


@pytest.mark.parametrize(
    "line", [b"a AUTHENTICATE\r\n", b"a AUTHENTICATE PLAIN !!!!\r\n", b"a AUTHENTICATE PLAIN abc\r\n",
             b"a AUTHENTICATE PLAIN \r\n"]
)
def test_bad_authenticate(line: bytes) -> None:
    assert isinstance(error(line), ParseError)


def test_sasl_responses_and_cancel() -> None:
    assert parse_sasl_response(b"dGVzdA==") == SaslResponse(b"test")
    assert parse_sasl_response(b"") == SaslResponse(b"")
    assert parse_sasl_response(b"*") == SaslResponse(cancelled=True)
    with pytest.raises(Syntax):
        parse_sasl_response(b"dGVzdA")


def test_idle_done() -> None:
    assert is_done(b"DONE") and is_done(b"done")
    assert not is_done(b"DONE ") and not is_done(b"a NOOP")


def test_enable_rfc_examples() -> None:
    assert command(b"t2 ENABLE CONDSTORE X-GOOD-IDEA\r\n") == Enable("t2", ("CONDSTORE", "X-GOOD-IDEA"))  # RFC 5161
    assert command(b"a enable IMAP4rev2 utf8=accept\r\n") == Enable("a", ("IMAP4REV2", "UTF8=ACCEPT"))
    assert error(b"a ENABLE\r\n").tag == "a"


def test_id_rfc_example() -> None:
    # RFC 2971 3.3
    line = b'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")\r\n'
    assert command(line) == Id(
        "a023", (("name", "sodr"), ("version", "19.34"), ("vendor", "Pink Floyd Music Limited"))
    )
    assert command(b"a ID NIL\r\n") == Id("a", None)
    assert command(b'a ID ("os" NIL)\r\n') == Id("a", (("os", None),))


def test_id_limits_and_errors() -> None:
    pairs = b" ".join(b'"f%d" "v"' % i for i in range(31))
    assert error(b"a ID (" + pairs + b")\r\n").text == "more than 30 ID field-value pairs"
    assert error(b'a ID ("name")\r\n').tag == "a"
    assert error(b"a ID (name x)\r\n").tag == "a"  # fields are strings, not atoms
    assert error(b"a ID\r\n").tag == "a"


def test_context_does_not_change_login() -> None:
    assert command(b"a LOGIN u p\r\n", Context(utf8=True)) == Login("a", "u", "p")
