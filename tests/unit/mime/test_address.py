"""Address lists as IMAP's ENVELOPE wants them (RFC 5322 3.4, RFC 9051 7.5.2)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.mime import MISSING_HOST, Address, build_envelope, parse_address_list

END = Address(None, None, None, None)


def test_name_addr_and_addr_spec() -> None:
    assert parse_address_list("Joe Q. Public <john.q.public@example.com>") == (
        Address("Joe Q. Public", None, "john.q.public", "example.com"),)
    assert parse_address_list("jdoe@example.org, \"Mary Smith\" <mary@x.test>") == (
        Address(None, None, "jdoe", "example.org"), Address("Mary Smith", None, "mary", "x.test"))


def test_groups() -> None:
    # RFC 5322 A.1.3
    assert parse_address_list("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;") == (
        Address(None, None, "A Group", None), Address("Ed Jones", None, "c", "a.test"),
        Address(None, None, "joe", "where.test"), Address("John", None, "jdoe", "one.test"), END)
    assert parse_address_list("Undisclosed recipients:;") == (Address(None, None, "Undisclosed recipients", None), END)
    assert parse_address_list("g: a@b") == (Address(None, None, "g", None), Address(None, None, "a", "b"), END)


def test_comments() -> None:
    # RFC 5322 A.5: comments are not part of the address; a comment names a bare address
    assert parse_address_list("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>") == (
        Address("Pete", None, "pete", "silly.test"),)
    assert parse_address_list("pete@silly.test (Pete Smith)") == (Address("Pete Smith", None, "pete", "silly.test"),)
    assert parse_address_list("<pete@silly.test> (Pete (the) Smith)") == (
        Address("Pete (the) Smith", None, "pete", "silly.test"),)


def test_quoted_local_parts_keep_their_quotes() -> None:
    assert parse_address_list('"john \\"j\\" doe"@example.org') == (
        Address(None, None, '"john \\"j\\" doe"', "example.org"),)
    assert parse_address_list('"Doe, John" <"a b"@[192.0.2.1]>') == (Address("Doe, John", None, '"a b"', "[192.0.2.1]"),)


def test_obsolete_forms() -> None:
    assert parse_address_list("<@one.test,@two.test:joe@where.test>") == (
        Address(None, "@one.test,@two.test", "joe", "where.test"),)
    assert parse_address_list("john . q @ example . com") == (Address(None, None, "john.q", "example.com"),)
    assert parse_address_list(",, a@b ,") == (Address(None, None, "a", "b"),)


def test_missing_parts() -> None:
    assert parse_address_list("root") == (Address(None, None, "root", MISSING_HOST),)
    assert parse_address_list("Name <>") == (Address("Name", None, "MISSING_MAILBOX", MISSING_HOST),)
    assert parse_address_list("<>") == ()
    assert parse_address_list('"unterminated <a@b>') == (Address(None, None, '"unterminated <a@b>"', MISSING_HOST),)
    assert parse_address_list("") == () and parse_address_list(None) == ()


def test_envelope_defaults_sender_and_reply_to_to_from() -> None:
    fields = [("from", "a@b"), ("sender", ""), ("subject", "s"), ("from", "ignored@x")]
    e = build_envelope(fields)
    assert e.from_ == e.sender == e.reply_to == (Address(None, None, "a", "b"),)
    assert (e.to, e.date, e.message_id, e.subject) == ((), None, None, "s")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*list('ab@<>,;:."()\\[] '), "=?utf-8?q?x?="]), max_size=60).map("".join))
def test_address_lists_never_raise(value: str) -> None:
    for address in parse_address_list(value):
        # a NIL host only ever marks a group
        assert address.host is not None or address.name is None
        address.decoded_name()


SIMPLE_PIECES = ["a", "b.c", "Jo", "Q.", " ", "  ", "\t", '"', ",", "<", ">", "@", "x-y", "_", "\\", "(", ")", ";", "é"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(SIMPLE_PIECES), max_size=12).map("".join),
       st.sampled_from(["u@h.example", "<u@h.example>", " u.v@h-1.example ", "<a@b"]))
def test_the_fast_path_reads_as_the_tokenizer_does(name: str, address: str) -> None:
    from mailward.mime.address import _parse_tokens
    for value in (address, name + address, f'"{name}" {address}', f"{name} {address}"):
        assert parse_address_list(value) == _parse_tokens(value), value
