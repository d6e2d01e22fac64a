"""Long lines re-encoded before relaying: only the offending leaves change, the content stays."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.delivery.longlines import CannotReencode, has_long_line, reencode_long_lines
from mailward.protocols.smtp.client_commands import check_message

LONG_TEXT = ("w\u00f6rd " * 400).rstrip().encode("utf-8")  # 2,399 octets, one line
LONG_BINARY = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"") * 10


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_sendable(data: bytes) -> None:
    assert not has_long_line(data)
    check_message(data)  # the SMTP client takes it as it is


def test_short_lines_are_left_alone() -> None:
    message = b"Subject: x\r\n\r\nshort\r\n"
    result = reencode_long_lines(message)
    assert result.message is message and result.parts == () and not result.changed


def test_has_long_line_counts_octets_without_the_line_ending() -> None:
    assert not has_long_line(b"x" * 998 + b"\r\ny")
    assert has_long_line(b"y\r\n" + b"x" * 999 + b"\r\n")
    assert has_long_line(b"x" * 999)


def test_plain_message_becomes_quoted_printable() -> None:
    head = b"From: a@x.example\r\nTo: b@y.example\r\nSubject: long\r\n"
    message = head + b"\r\nfirst\r\n" + LONG_TEXT + b"\r\n.last\r\n"
    result = reencode_long_lines(message)
    assert result.parts == ("",)
    assert result.message.startswith(head + b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
    assert_sendable(result.message)
    parsed = parse(result.message)
    assert parsed.get_payload(decode=True) == b"first\r\n" + LONG_TEXT + b"\r\n.last\r\n"


def multipart(long_part: bytes, *, outer: str = "multipart/mixed") -> tuple[bytes, bytes, bytes]:
    keep = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nshort part\r\n with  spaces \r\n"
    message = (
        b"From: a@x.example\r\nMIME-Version: 1.0\r\nDKIM-Filter: none\r\n"
        b"Content-Type: " + outer.encode() + b'; boundary="b1"\r\n\r\n'
        b"preamble\r\n--b1\r\n" + keep + b"\r\n--b1  \r\n" + long_part + b"\r\n--b1--\r\nepilogue\r\n"
    )
    return message, keep, long_part


def test_only_the_offending_text_part_changes() -> None:
    long_part = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + LONG_TEXT + b"\r\n"
    message, keep, _ = multipart(long_part)
    result = reencode_long_lines(message)
    assert result.parts == ("2",)
    assert_sendable(result.message)
    head, _, _ = message.partition(b"preamble")
    assert result.message.startswith(head + b"preamble\r\n--b1\r\n" + keep + b"\r\n--b1  \r\n")
    assert result.message.endswith(b"\r\n--b1--\r\nepilogue\r\n")
    parts = list(parse(result.message).iter_parts())
    assert parts[1]["Content-Transfer-Encoding"] == "quoted-printable"
    assert parts[1].get_payload(decode=True) == LONG_TEXT + b"\r\n"
    assert parts[0].get_payload(decode=True) == b"short part\r\n with  spaces \r\n"


def test_non_text_part_becomes_base64() -> None:
    long_part = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + LONG_BINARY
    message, _, _ = multipart(long_part)
    result = reencode_long_lines(message)
    assert_sendable(result.message)
    part = list(parse(result.message).iter_parts())[1]
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_payload(decode=True) == LONG_BINARY
    assert part.get_all("Content-Transfer-Encoding") == ["base64"]


def test_nested_alternative_and_attached_message() -> None:
    inner = (
        b"From: c@z.example\r\nSubject: inner\r\n\r\n" + LONG_TEXT + b"\r\n"
    )
    message = (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n'
        b'--o\r\nContent-Type: multipart/alternative; boundary="i"\r\n\r\n'
        b"--i\r\nContent-Type: text/plain\r\n\r\nfine\r\n"
        b"--i\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>" + b"=41" * 400 + b"</p>\r\n"
        b"--i--\r\n"
        b"--o\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--o--\r\n"
    )
    result = reencode_long_lines(message)
    assert result.parts == ("1.2", "2")
    assert_sendable(result.message)
    outer = parse(result.message)
    alternative, attached = outer.iter_parts()
    html = list(alternative.iter_parts())[1]
    assert html.get_payload(decode=True) == b"<p>" + b"A" * 400 + b"</p>"
    encapsulated = attached.get_content()
    assert encapsulated["Subject"] == "inner"
    assert encapsulated.get_payload(decode=True) == LONG_TEXT  # the CRLF before --o-- is the delimiter's


def test_signed_and_header_and_unknown_encoding_are_refused() -> None:
    long_part = b"Content-Type: text/plain\r\n\r\n" + LONG_TEXT + b"\r\n"
    signed, _, _ = multipart(long_part, outer='multipart/signed; protocol="application/pgp-signature"')
    with pytest.raises(CannotReencode, match="RFC 1847"):
        reencode_long_lines(signed)
    with pytest.raises(CannotReencode, match="header"):
        reencode_long_lines(b"Subject: " + b"x" * 1000 + b"\r\n\r\nbody\r\n")
    with pytest.raises(CannotReencode, match="x-uuencode"):
        reencode_long_lines(b"Content-Transfer-Encoding: x-uuencode\r\n\r\n" + b"x" * 1000 + b"\r\n")
    with pytest.raises(CannotReencode, match="boundary"):
        reencode_long_lines(b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n' + b"x" * 1000 + b"\r\n")


def test_dkim_signed_message_is_refused_unless_allowed() -> None:
    message = b"DKIM-Signature: v=1; a=ed25519-sha256; d=x.example\r\nSubject: s\r\n\r\n" + LONG_TEXT + b"\r\n"
    with pytest.raises(CannotReencode, match="DKIM"):
        reencode_long_lines(message)
    result = reencode_long_lines(message, allow_breaking_dkim=True)
    assert_sendable(result.message)
    assert parse(result.message).get_payload(decode=True) == LONG_TEXT + b"\r\n"


def test_signed_part_untouched_when_the_long_line_is_elsewhere() -> None:
    signed = (
        b'Content-Type: multipart/signed; boundary="s"; protocol="application/pgp-signature"\r\n\r\n'
        b"--s\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n--s\r\n"
        b"Content-Type: application/pgp-signature\r\n\r\nSIG\r\n--s--\r\n"
    )
    long_part = b"Content-Type: text/plain\r\n\r\n" + LONG_TEXT + b"\r\n"
    message = (
        b'Content-Type: multipart/mixed; boundary="m"\r\nMIME-Version: 1.0\r\n\r\n--m\r\n' + signed
        + b"\r\n--m\r\n" + long_part + b"\r\n--m--\r\n"
    )
    result = reencode_long_lines(message)
    assert result.parts == ("2",)
    assert signed in result.message
    assert_sendable(result.message)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.binary(max_size=3000).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), min_size=1, max_size=5),
    st.booleans(),
)
def test_any_body_comes_out_sendable_with_the_same_content(lines: list[bytes], text: bool) -> None:
    body = b"\r\n".join(lines) + b"\r\n"
    content_type = b"text/plain; charset=utf-8" if text else b"application/octet-stream"
    message = b"Content-Type: " + content_type + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    result = reencode_long_lines(message)
    assert_sendable(result.message)
    assert result.changed == has_long_line(body)
    assert parse(result.message).get_payload(decode=True) == body
