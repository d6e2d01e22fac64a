"""What SEARCH reads: decoded header fields and the text of text parts."""

from __future__ import annotations

from mailward.mime import SearchText, TextExtractor
from support.mime_corpus import CORPUS, crlf


def extract(message: bytes, chunk: int = 0, **options: int) -> SearchText:
    extractor = TextExtractor(**options)
    step = chunk or len(message) or 1
    for start in range(0, len(message), step):
        extractor.feed(message[start:start + step])
    return extractor.close()


def test_legacy_charsets_and_transfer_encodings_are_undone() -> None:
    m = CORPUS["legacy_charsets"]()
    expected = "Grüße aus Köln, café.\nこんにちは世界\n“Smart quotes” \u2013 and the € sign\nПривет, мир"  # noqa: RUF001 (Cyrillic on purpose)
    for chunk in (0, 1, 3, 64):
        text = extract(m, chunk)
        assert text.body == expected, chunk
        assert dict(text.headers)["subject"] == "Привет"


def test_html_is_stripped_and_attachments_skipped() -> None:
    text = extract(CORPUS["calendar_invite"]())
    assert text.body == ("You are invited to Planning.\nYou are invited to Planning.\n"
                         "BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nUID:ev1@example.org\n"
                         "SUMMARY:Planning\nDTSTART:20261210T100000Z\nEND:VEVENT\nEND:VCALENDAR")


def test_encapsulated_messages_are_searched_too() -> None:
    text = extract(CORPUS["forwarded"]())
    assert text.body == "See the message below.\nPlain plans.\nHTML plans."
    assert ("subject", "Fwd: plans") in text.headers
    assert ("subject", "plans") not in text.headers  # only the top-level header


def test_html_entities_scripts_and_split_tags() -> None:
    html = ("<html><head><title>T</title><style>p {color: red}</style></head><body>"
            "<p>Fish &amp; chips &eacute;t&#233;</p><script>var x = '<p>';</script>"
            "<!-- a <b>comment</b> -->after</body></html>")
    m = crlf("Content-Type: text/html; charset=utf-8\n\n" + html)
    for chunk in (0, 1, 2, 5, 17):
        assert extract(m, chunk).body == "Fish & chips été\nafter", chunk


def test_quoted_printable_soft_breaks_across_chunks() -> None:
    m = crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
             "Gr=C3=BC=C3=9Fe, a long=\nline joined=\n=20here\n")
    for chunk in range(1, 12):
        assert extract(m, chunk).body == "Grüße, a longline joined here", chunk


def test_bad_charset_and_bad_base64_never_raise() -> None:
    m = crlf(b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=no-such\n\n"
             b"caf\xc3\xa9\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
             b"!!!!\nw6k=\n--b\nContent-Type: text/plain; charset=utf-8\n\n\xff\n--b--\n")
    assert extract(m).body == "café\né\n\ufffd"


def test_max_chars_cuts_the_text() -> None:
    m = crlf("Subject: s\n\n" + "word " * 1000)
    assert extract(m, 7, max_chars=12).body == "word word wo"
    assert extract(m, max_chars=0).body == ""


def test_long_quoted_printable_line_and_long_tag_in_any_split() -> None:
    qp = "x" * 1500 + "=41" * 200 + "=\n" + "y" * 10
    m = crlf("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n" + qp)
    assert extract(m).body == "x" * 1500 + "A" * 200 + "y" * 10
    html = "before<" + "a" * 70_000 + ">after"
    h = crlf("Content-Type: text/html\n\n" + html)
    assert extract(h).body == "beforeafter"
    for chunk in (1, 2, 1000, 4096, 65536):
        assert extract(m, chunk).body == extract(m).body, chunk
        assert extract(h, chunk).body == "beforeafter", chunk
