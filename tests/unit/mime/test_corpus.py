"""Real-world-shaped messages: exact part trees, and Python's email package agrees."""

from __future__ import annotations

import pytest

from mailward.mime import Address, MessageStructure, Part, parse
from support.mime_checks import body, compare_with_email, header
from support.mime_corpus import CORPUS, all_messages


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_email_package_agrees_on_offsets_types_and_params(name: str) -> None:
    message = CORPUS[name]()
    structure = parse(message)
    assert compare_with_email(message, structure) == len(structure.walk())
    assert structure.size == len(message)
    assert structure.root.header_offset == 0
    assert structure.root.body_offset + structure.root.body_size == len(message)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_no_defects_in_well_formed_mail(name: str) -> None:
    assert parse(CORPUS[name]()).defects == ()


def at(message: bytes, text: bytes) -> int:
    assert message.count(text) == 1, text
    return message.index(text)


def leaf(message: bytes, head: bytes, text: bytes, media: str, **fields: object) -> Part:
    """A leaf part whose header starts with head and whose whole body is text."""
    kind, sub = media.split("/")
    start, body_start = at(message, head), at(message, text)
    values: dict[str, object] = dict(
        header_offset=start, header_size=body_start - start, body_offset=body_start,
        body_size=len(text), body_lines=text.count(b"\n") + (0 if text.endswith(b"\n") else 1),
        media_type=kind, media_subtype=sub, params=(), content_id=None, description=None,
        encoding="7bit", md5=None, disposition=None, disposition_params=(), language=None,
        location=None, children=(), envelope=None)
    values.update(fields)
    return Part(**values)  # type: ignore[arg-type]


def test_forwarded_as_attachment_whole_tree() -> None:
    m = CORPUS["forwarded"]()
    s = parse(m)
    plain = leaf(m, b"Content-Type: text/plain; charset=utf-8", b"See the message below.", "text/plain",
                 params=(("charset", "utf-8"),))
    inner_plain = leaf(m, b"Content-Type: text/plain; charset=us-ascii", b"Plain plans.", "text/plain",
                       params=(("charset", "us-ascii"),))
    inner_html = leaf(m, b"Content-Type: text/html", b"<p>HTML plans.</p>", "text/html",
                      params=(("charset", "us-ascii"),))
    alt_start = at(m, b"From: Grace")
    alt_body = at(m, b"--inner-alt\r\nContent-Type: text/plain")
    alt_end = at(m, b"--inner-alt--") + len(b"--inner-alt--")
    alternative = Part(alt_start, alt_body - alt_start, alt_body, alt_end - alt_body, 9,
                       "multipart", "alternative", (("boundary", "inner-alt"),), None, None, "7bit",
                       None, None, (), None, None, (inner_plain, inner_html), None)
    rfc822_start = at(m, b"Content-Type: message/rfc822")
    envelope = s.root.children[1].envelope
    assert envelope is not None
    assert envelope.subject == "plans"
    assert envelope.from_ == (Address("Grace", None, "grace", "example.com"),)
    assert envelope.cc == (Address(None, None, "team", None), Address(None, None, "heidi", "example.com"),
                           Address(None, None, "ivan", "example.com"), Address(None, None, None, None))
    assert envelope.in_reply_to == "<older@example.com>"
    assert envelope.date == "Sun, 6 Dec 2026 09:30:00 +0100"
    forwarded = Part(rfc822_start, alt_start - rfc822_start, alt_start, alt_end - alt_start, 19,
                     "message", "rfc822", (("name", "plans.eml"),), None, None, "7bit", None,
                     "attachment", (("filename", "plans.eml"),), None, None, (alternative,), envelope)
    outer_body = at(m, b"--fwd-outer\r\nContent-Type: text/plain")
    root = Part(0, outer_body, outer_body, len(m) - outer_body, 28, "multipart", "mixed",
                (("boundary", "fwd-outer"),), None, None, "7bit", None, None, (), None, None,
                (plain, forwarded), None)
    assert s.root == root
    assert s.envelope.subject == "Fwd: plans"
    assert s.envelope.message_id == "<fwd1@example.org>"


def test_digest_parts_default_to_message_rfc822() -> None:
    m = CORPUS["digest"]()
    s = parse(m)
    digest = s.root.children[1]
    assert (digest.media_type, digest.media_subtype) == ("multipart", "digest")
    first, second = digest.children
    # RFC 2046 5.1.5: no Content-Type in a digest part means message/rfc822
    assert (first.media_type, first.media_subtype, first.params) == ("message", "rfc822", ())
    assert header(m, first) == b"\r\n"
    inner = first.children[0]
    expected_inner = leaf(m, b"From: Carol", b"First digest message body.\r\n", "text/plain",
                          params=(("charset", "us-ascii"),))
    assert inner == expected_inner
    assert first.envelope is not None and first.envelope.message_id == "<d1@example.com>"
    assert second.children[0].params == (("charset", "utf-8"),)
    assert body(m, second) == m[at(m, b"From: Dave"):at(m, b"Second digest message body.\r\n") + 29]
    # inside the encapsulated message the default is text/plain again
    assert (inner.media_type, inner.media_subtype) == ("text", "plain")
    footer = s.root.children[2]
    assert footer.disposition == "inline"
    assert body(m, footer) == b"Digest footer text."
    assert s.part((2, 1, 1)) == inner
    assert s.part((2, 2)) == second


def test_tnef_attachment() -> None:
    m = CORPUS["tnef"]()
    s = parse(m)
    tnef = s.root.children[1]
    assert (tnef.media_type, tnef.media_subtype) == ("application", "ms-tnef")
    assert tnef.params == (("name", "winmail.dat"),)
    assert (tnef.disposition, tnef.disposition_params) == ("attachment", (("filename", "winmail.dat"),))
    assert tnef.encoding == "base64"
    import base64
    assert base64.b64decode(body(m, tnef))[:4] == b"\x78\x9f\x3e\x22"
    assert s.root.children[0].encoding == "quoted-printable"


def test_smime_signed_whole_tree() -> None:
    m = CORPUS["smime_signed"]()
    s = parse(m)
    text = leaf(m, b"Content-Type: text/plain; charset=utf-8", b"Signed text.", "text/plain",
                params=(("charset", "utf-8"),))
    sig_start = at(m, b"Content-Type: application/pkcs7-signature")
    sig_body = at(m, b"MIIF")
    sig_end = at(m, b"\r\n------sig-boundary--")
    signature = Part(sig_start, sig_body - sig_start, sig_body, sig_end - sig_body, 2, "application",
                     "pkcs7-signature", (("name", "smime.p7s"),), None, "S/MIME Cryptographic Signature",
                     "base64", None, "attachment", (("filename", "smime.p7s"),), None, None, (), None)
    preamble = at(m, b"This is an S/MIME")
    root = Part(0, preamble, preamble, len(m) - preamble, 18, "multipart", "signed",
                (("protocol", "application/pkcs7-signature"), ("micalg", "sha-256"),
                 ("boundary", "----sig-boundary")),
                None, None, "7bit", None, None, (), None, None, (text, signature), None)
    assert s.root == root
    assert body(m, signature).endswith(b"==\r\n")  # the blank line before the boundary is body


def test_calendar_invite() -> None:
    m = CORPUS["calendar_invite"]()
    s = parse(m)
    calendar = s.part((1, 3))
    assert calendar is not None
    assert (calendar.media_type, calendar.media_subtype) == ("text", "calendar")
    assert calendar.params == (("charset", "UTF-8"), ("method", "REQUEST"))
    assert body(m, calendar).startswith(b"BEGIN:VCALENDAR\r\n")
    assert body(m, calendar).endswith(b"END:VCALENDAR")
    assert calendar.body_lines == 8
    ics = s.part((2,))
    assert ics is not None and ics.disposition_params == (("filename", "invite.ics"),)
    assert [p.media_subtype for p in s.walk()] == ["mixed", "alternative", "plain", "html", "calendar", "ics"]


def test_legacy_charsets_bodies_are_exact() -> None:
    m = CORPUS["legacy_charsets"]()
    s = parse(m)
    charsets = [p.param("charset") for p in s.root.children]
    assert charsets == ["iso-8859-1", "ISO-2022-JP", "windows-1252", "koi8-r"]
    assert body(m, s.root.children[1]).decode("iso-2022-jp") == "こんにちは世界"
    assert body(m, s.root.children[2]).decode("windows-1252") == "“Smart quotes” \u2013 and the € sign"
    assert s.envelope.decoded_subject() == "Привет"


def test_rfc2231_parameters_whole_part() -> None:
    m = CORPUS["rfc2231"]()
    s = parse(m)
    expected = leaf(m, b"Content-Type: application/pdf", b"UERG", "application/pdf",
                    params=(("name", "€ rates for 2027.pdf"),), content_id="<rates@example.org>",
                    encoding="base64", md5="Q2hlY2sgSW50ZWdyaXR5IQ==", disposition="attachment",
                    disposition_params=(("filename", "€ rates for 2027.pdf"), ("size", "3")),
                    language=("en-GB", "fr"), location="https://example.org/rates.pdf")
    assert s.root.children[1] == expected
    # no Content-Type parameters given: none reported (the RFC 2045 5.2 default is for a
    # missing or invalid field only)
    assert s.root.children[0].params == ()


def test_encoded_subjects() -> None:
    s = parse(CORPUS["encoded_subjects"]())
    raw = "=?UTF-8?B?w5xiZXI=?= =?UTF-8?Q?_gr=C3=BC=C3=9Fe?= =?ISO-8859-1?Q?caf=E9?= tail"
    assert s.envelope.subject == raw
    assert s.envelope.decoded_subject() == "Über grüßecafé tail"


def test_addresses_envelope() -> None:
    s = parse(CORPUS["addresses"]())
    e = s.envelope
    assert e.from_ == (Address("Smith, John", None, '"john smith"', "example.org"),)
    assert e.sender == (Address("The Secretary", None, "secretary", "example.org"),)
    assert e.reply_to == (Address(None, None, "Mailing List", None), Address(None, None, "ml", "example.org"),
                          Address("Q. Public", None, "qp", "example.net"), Address(None, None, None, None))
    assert e.to == (Address(None, None, "undisclosed-recipients", None), Address(None, None, None, None))
    assert e.cc == (Address(None, "@relay.example", "routed", "example.com"),
                    Address(None, None, "root", ".MISSING-HOST-NAME."),
                    Address("=?utf-8?Q?J=C3=B6rg?=", None, "jorg", "example.de"))
    assert e.cc[2].decoded_name() == "Jörg"
    assert e.bcc == (Address(None, None, "hidden", "example.org"),)
    assert e.in_reply_to == "<a@x> <b@y>"
    assert e.decoded().cc[2].name == "Jörg"


def test_message_global_is_parsed_inside() -> None:
    m = CORPUS["message_global"]()
    s = parse(m)
    glob = s.root.children[0]
    assert (glob.media_type, glob.media_subtype) == ("message", "global")
    assert glob.envelope is not None
    assert glob.envelope.subject == "Grüße"
    assert glob.envelope.from_ == (Address("Jürgen", None, "jürgen", "bücher.example"),)
    assert body(m, glob.children[0]).decode() == "Grüße!"
    assert s.part((1, 1)) == glob.children[0]


def test_every_corpus_structure_round_trips() -> None:
    for message in all_messages().values():
        s = parse(message)
        assert MessageStructure.from_bytes(s.to_bytes()) == s
