"""Content-Type and Content-Disposition parameters (RFC 2045 5.1, RFC 2231, RFC 2183)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.mime.params import content_type, disposition, languages


def test_type_subtype_and_parameters() -> None:
    assert content_type('Text/HTML; Charset="UTF-8"; format=flowed') == (
        "text", "html", (("charset", "UTF-8"), ("format", "flowed")))


def test_comments_and_quoting() -> None:
    # RFC 2045 5.1 example: comments are allowed and not part of values
    assert content_type('text/plain; charset=us-ascii (Plain text)') == (
        "text", "plain", (("charset", "us-ascii"),))
    assert content_type(r'text/plain; name="a \"quoted\"; name"') == (
        "text", "plain", (("name", 'a "quoted"; name'),))


def test_invalid_types() -> None:
    assert content_type("text") is None
    assert content_type("text/") is None
    assert content_type("te xt/plain") is None


def test_rfc2231_examples() -> None:
    # RFC 2231 section 3, 4 and 4.1 examples
    assert content_type("message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n"
                        " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"")[2] == (
        ("access-type", "URL"), ("url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"))
    assert content_type("application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A")[2] == (
        ("title", "This is ***fun***"),)
    assert content_type("application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
                        " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"")[2] == (
        ("title", "This is even more ***fun*** isn't it!"),)


def test_rfc2231_charsets_and_order() -> None:
    assert disposition("attachment; filename*1*=%A9.txt; filename*0*=iso-8859-1''caf%E9%20") == (
        "attachment", (("filename", "café ©.txt"),))
    assert disposition("attachment; filename=plain.txt; filename*=utf-8''%E2%82%AC.txt") == (
        "attachment", (("filename", "€.txt"),))
    assert disposition("attachment; filename*=unknown''%C3%A9") == ("attachment", (("filename", "é"),))
    assert disposition("attachment; filename*=utf-8''%FF") == ("attachment", (("filename", "\ufffd"),))


def test_first_occurrence_wins_and_junk_is_skipped() -> None:
    assert content_type("text/plain; charset=a; charset=b; junk; =x; ;") == (
        "text", "plain", (("charset", "a"),))


def test_disposition_and_languages() -> None:
    assert disposition("INLINE") == ("inline", ())
    assert disposition("@@; filename=x") == (None, (("filename", "x"),))
    assert languages("en-GB, fr (French),, de") == ("en-GB", "fr", "de")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*list("ab*0123'%;=\"\\() /"), "*0*=", "utf-8''", "%E2"]), max_size=80).map("".join))
def test_parameters_never_raise(value: str) -> None:
    content_type("text/plain;" + value)
    disposition("attachment;" + value)
