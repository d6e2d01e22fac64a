"""ENVELOPE, BODY and BODYSTRUCTURE rendered from the stored MIME structure (RFC 9051 7.5.2)."""

from __future__ import annotations

from mailward.mime import parse
from mailward.protocols.imap.response import Encoder
from mailward.server.imap.structure import body_structure, envelope

ENC = Encoder()

SIMPLE = (b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
          b"From: Terry Gray <gray@cac.washington.edu>\r\n"
          b"Subject: IMAP4rev2 WG mtg summary and minutes\r\n"
          b"To: imap@cac.washington.edu\r\n"
          b"cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
          b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
          b"\r\n"
          b"line one\r\nline two\r\n")


def test_the_rfc_example_envelope() -> None:
    """RFC 9051 7.5.2's ENVELOPE example, for the header it describes."""
    assert envelope(parse(SIMPLE).envelope, ENC) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>")')


def test_a_text_message() -> None:
    root = parse(SIMPLE).root
    assert body_structure(root, ENC, extended=False) == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 20 2)'
    assert body_structure(root, ENC) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 20 2 NIL NIL NIL NIL)')


def test_a_text_part_without_a_charset_is_us_ascii() -> None:
    root = parse(b"Subject: x\r\n\r\nhello\r\n").root
    assert body_structure(root, ENC, extended=False) == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1)'


MIXED = (b"From: a@example.org\r\n"
         b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
         b"\r\n"
         b"--b1\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n"
         b"Content-Language: en, de\r\n"
         b"\r\n"
         b"Gr=C3=BC=C3=9Fe\r\n"
         b"--b1\r\n"
         b"Content-Type: application/pdf; name=\"r.pdf\"\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
         b"Content-ID: <part2@example.org>\r\n"
         b"Content-Description: the report\r\n"
         b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
         b"Content-Location: http://example.org/r.pdf\r\n"
         b"\r\n"
         b"JVBERi0xLjQK\r\n"
         b"--b1--\r\n")


def test_a_multipart_message_with_every_field() -> None:
    root = parse(MIXED).root
    text = (b'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1 NIL NIL ("en" "de") NIL)')
    pdf = (b'("APPLICATION" "PDF" ("NAME" "r.pdf") "<part2@example.org>" "the report" "BASE64" 12 '
           b'"Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" "report.pdf")) NIL "http://example.org/r.pdf")')
    assert body_structure(root, ENC) == b"(" + text + pdf + b' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)'
    assert body_structure(root, ENC, extended=False) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1)'
        b'("APPLICATION" "PDF" ("NAME" "r.pdf") "<part2@example.org>" "the report" "BASE64" 12) "MIXED")')


def test_a_forwarded_message_carries_its_envelope_and_structure() -> None:
    inner = b"From: c@example.net\r\nSubject: inner\r\n\r\nhi\r\n"
    outer = (b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n" + inner)
    root = parse(outer).root
    assert body_structure(root, ENC, extended=False) == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ' + str(len(inner)).encode() + b' '
        b'(NIL "inner" ((NIL NIL "c" "example.net")) ((NIL NIL "c" "example.net")) ((NIL NIL "c" "example.net")) '
        b'NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 4 1) 4)')


def test_values_that_cannot_be_quoted_are_literals_and_8bit_bytes_stay_themselves() -> None:
    message = b"Subject: caf\xe9 \"quoted\"\r\nFrom: a@example.org\r\n\r\n."
    env = envelope(parse(message).envelope, ENC)
    assert b'{13}\r\ncaf\xe9 "quoted"' in env  # latin-1 byte: not UTF-8, so a literal
    assert b'"caf\xc3\xa9 \\"quoted\\""' in envelope(parse(message.replace(b"\xe9", b"\xc3\xa9")).envelope,
                                                      Encoder(utf8=True))


def test_groups_and_missing_fields() -> None:
    message = b"To: friends: a@example.org, b@example.org;\r\n\r\n"
    env = envelope(parse(message).envelope, ENC)
    assert env == (b'(NIL NIL NIL NIL NIL ((NIL NIL "friends" NIL)(NIL NIL "a" "example.org")'
                   b'(NIL NIL "b" "example.org")(NIL NIL NIL NIL)) NIL NIL NIL NIL)')


def test_a_kept_structure_is_rendered_once_per_encoding() -> None:
    from mailward.server.imap import structure as module

    structure = parse(MIXED)
    first = envelope(structure.envelope, ENC)
    assert envelope(structure.envelope, ENC) is first  # the same object kept by the store: rendered once
    again = parse(MIXED)  # an equal structure in another object: rendered anew, the same bytes
    assert envelope(again.envelope, ENC) == first and envelope(again.envelope, ENC) is not first
    utf8 = Encoder(utf8=True)
    assert body_structure(structure.root, utf8) is not body_structure(structure.root, ENC)
    assert body_structure(structure.root, ENC, extended=False) != body_structure(structure.root, ENC)
    assert len(module._RENDERED) <= module.RENDERED_CACHE
