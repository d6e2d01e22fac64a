"""Header fields (RFC 5322 2.2) and RFC 2047 encoded words."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.mime import decode_header_value, header_fields


def test_fields_are_named_in_lower_case_and_unfolded() -> None:
    header = (b"Subject: first\r\n  and folded\r\n\tagain\r\nX-Empty:\r\nFROM : a@b\n"
              b"not a field\r\n\r\nBody: not header\r\n")
    assert header_fields(header) == [
        ("subject", "first  and folded\tagain"), ("x-empty", ""), ("from", "a@b")]


def test_continuation_before_any_field_is_ignored() -> None:
    assert header_fields(b" stray\r\nA: 1\r\n") == [("a", "1")]


def test_eight_bit_bytes_survive_as_surrogate_escapes() -> None:
    (name, value), = header_fields(b"Subject: caf\xe9 \xc3\xa9\r\n")
    assert (name, value) == ("subject", "caf\udce9 é")
    assert value.encode("utf-8", "surrogateescape") == b"caf\xe9 \xc3\xa9"
    assert decode_header_value(value) == "caf\ufffd é"


def test_b_and_q_words() -> None:
    assert decode_header_value("=?utf-8?B?SGVsbG8=?=") == "Hello"
    assert decode_header_value("=?ISO-8859-1?Q?Andr=E9_Pirard?=") == "André Pirard"
    assert decode_header_value("=?utf-8?b?SGVsbG8?=") == "Hello"  # padding missing


def test_rfc2047_examples_section_8() -> None:
    # RFC 2047 section 8: white space between adjacent encoded words is not displayed
    assert decode_header_value("(=?ISO-8859-1?Q?a?=)") == "(a)"
    assert decode_header_value("(=?ISO-8859-1?Q?a?= b)") == "(a b)"
    assert decode_header_value("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)") == "(ab)"
    assert decode_header_value("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)") == "(ab)"
    assert decode_header_value("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)") == "(ab)"
    assert decode_header_value("(=?ISO-8859-1?Q?a_b?=)") == "(a b)"
    assert decode_header_value("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)") == "(a b)"


def test_a_character_split_across_two_words() -> None:
    # "é" is C3 A9: a sender that splits the bytes still gets one character
    assert decode_header_value("=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?=") == "café"


def test_rfc2231_language_suffix() -> None:
    assert decode_header_value("=?US-ASCII*EN?Q?Keith_Moore?=") == "Keith Moore"


def test_unknown_and_bad_charsets_do_not_raise() -> None:
    assert decode_header_value("=?x-unheard-of?Q?caf=C3=A9?=") == "café"
    assert decode_header_value("=?base64?Q?abc?=") == "abc"  # a bytes codec is no charset
    assert decode_header_value("=?utf-8?Q?bad=FF?=") == "bad\ufffd"
    assert decode_header_value("=?utf-8?B?###?=") == "=?utf-8?B?###?="


def test_text_around_words_is_kept() -> None:
    assert decode_header_value("Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from me") == "Re: Grüße from me"
    assert decode_header_value("no words here") == "no words here"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"=?qQbB_ -abc", "=?utf-8?", "?=", "=?x?q?", "=C3", "=A9"]),
                max_size=60).map("".join))
def test_decoding_never_raises(value: str) -> None:
    assert isinstance(decode_header_value(value), str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_header_fields_never_raise(header: bytes) -> None:
    for name, value in header_fields(header):
        assert name == name.lower() and "\n" not in value.rstrip()
