"""The parser on hand-written messages: boundary rules, line counts, and broken mail,
each with the exact structure expected."""

from __future__ import annotations

from mailward.mime import MimeParser, Part, parse
from support.mime_checks import body, header, lines

HEAD = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"


def kinds(part: Part) -> list[str]:
    return [f"{part.media_type}/{part.media_subtype}", *(k for c in part.children for k in kinds(c))]


def test_line_break_before_a_boundary_belongs_to_the_boundary() -> None:
    m = HEAD + b"preamble\r\n--b\r\n\r\none\r\ntwo\r\n\r\n--b  \t\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b-- \r\nepilogue\r\n"
    s = parse(m)
    first, second = s.root.children
    assert body(m, first) == b"one\r\ntwo\r\n"  # the blank line is body; the CRLF before "--b" is not
    assert first.body_lines == 2
    assert header(m, first) == b"\r\n"
    assert body(m, second) == b"<p>x</p>"
    assert second.body_lines == 1
    assert (second.media_type, second.media_subtype) == ("text", "html")
    assert body(m, s.root) == m[len(HEAD):]  # preamble and epilogue stay in the multipart's body
    assert s.root.body_lines == lines(m[len(HEAD):])
    assert s.defects == ()


def test_body_lines_count_a_last_line_without_a_break() -> None:
    for text, count in [(b"", 0), (b"x", 1), (b"x\r\n", 1), (b"x\r\ny", 2), (b"\r\n", 1), (b"\r\n\r\n", 2)]:
        m = b"Subject: s\r\n\r\n" + text
        s = parse(m)
        assert (s.root.body_size, s.root.body_lines) == (len(text), count), text


def test_final_boundary_never_sent() -> None:
    m = HEAD + b"--b\r\n\r\nfirst\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part, cut\r\n"
    s = parse(m)
    assert [body(m, p) for p in s.root.children] == [b"first", b"second part, cut\r\n"]
    assert s.defects == ("multipart at offset 0 without its close-delimiter",)


def test_final_boundary_at_the_end_without_a_line_break() -> None:
    m = HEAD + b"--b\r\n\r\nonly\r\n--b--"
    s = parse(m)
    assert [body(m, p) for p in s.root.children] == [b"only"]
    assert s.defects == ()


def test_boundary_never_seen_reads_as_text_plain() -> None:
    m = HEAD + b"--other\r\n\r\ntext\r\n--other--\r\n"
    s = parse(m)
    assert kinds(s.root) == ["text/plain"]
    assert s.root.params == (("boundary", "b"),)
    assert body(m, s.root) == m[len(HEAD):]
    assert s.defects == ("multipart at offset 0 without its close-delimiter",
                         "multipart at offset 0 without parts read as text/plain")


def test_multipart_without_boundary_parameter() -> None:
    m = b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n"
    s = parse(m)
    assert kinds(s.root) == ["text/plain"]
    assert s.root.children == ()
    assert s.defects == ("multipart without a boundary at offset 0: read as text/plain",)


def test_inner_multipart_closed_by_the_outer_boundary() -> None:
    m = (HEAD + b"--b\r\nContent-Type: multipart/alternative; boundary=\"bb\"\r\n\r\n"
         b"--bb\r\n\r\ninner\r\n--b\r\n\r\nouter second\r\n--b--\r\n")
    s = parse(m)
    assert kinds(s.root) == ["multipart/mixed", "multipart/alternative", "text/plain", "text/plain"]
    inner = s.root.children[0]
    assert body(m, inner.children[0]) == b"inner"
    assert body(m, inner) == b"--bb\r\n\r\ninner"
    assert body(m, s.root.children[1]) == b"outer second"
    assert s.defects == (f"multipart at offset {len(HEAD) + 5} without its close-delimiter",)


def test_boundary_that_extends_an_outer_one() -> None:
    # RFC 2046 5.1.1: the innermost boundary is tried first; "--bb" is not "--b"
    m = (HEAD + b"--b\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n--bb\r\n\r\nx\r\n--bb--\r\n"
         b"--b--\r\n")
    s = parse(m)
    assert kinds(s.root) == ["multipart/mixed", "multipart/mixed", "text/plain"]
    assert s.defects == ()


def test_lookalike_boundary_lines_are_body() -> None:
    m = HEAD + b"--b\r\n\r\n--bx\r\n-- b\r\n --b\r\n--b-x\r\n--b--\r\n"
    s = parse(m)
    assert body(m, s.root.children[0]) == b"--bx\r\n-- b\r\n --b\r\n--b-x"


def test_part_header_cut_by_a_boundary() -> None:
    m = HEAD + b"--b\r\nContent-Type: text/html\r\n--b\r\n--b\r\n\r\nlast\r\n--b--\r\n"
    s = parse(m)
    first, empty, last = s.root.children
    assert header(m, first) == b"Content-Type: text/html"
    assert (first.media_subtype, first.body_size, first.body_lines) == ("html", 0, 0)
    assert first.body_offset == first.header_offset + first.header_size
    assert (empty.header_size, empty.body_size) == (0, 0)
    assert body(m, last) == b"last"
    assert s.defects == (f"header at offset {len(HEAD) + 5} ends without an empty line",)


def test_header_without_a_body() -> None:
    s = parse(b"Subject: no body\r\nFrom: x@y")
    assert (s.root.header_size, s.root.body_offset, s.root.body_size) == (27, 27, 0)
    assert s.envelope.subject == "no body"
    assert s.defects == ("header at offset 0 ends without an empty line",)
    s = parse(b"Subject: empty body\r\n\r\n")
    assert (s.root.header_size, s.root.body_size, s.defects) == (23, 0, ())


def test_empty_message() -> None:
    s = parse(b"")
    assert (s.size, s.root.header_size, s.root.body_size, kinds(s.root)) == (0, 0, 0, ["text/plain"])
    assert s.root.params == (("charset", "us-ascii"),)


def test_line_that_is_not_a_field_starts_the_body() -> None:
    m = b"Subject: s\r\nthis is not a field\r\nX: y\r\n"
    s = parse(m)
    assert header(m, s.root) == b"Subject: s\r\n"
    assert body(m, s.root) == b"this is not a field\r\nX: y\r\n"
    assert s.defects == ("header without an empty line before the body at offset 12",)


def test_bare_lf_offsets_stay_exact() -> None:
    m = (b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\ntwo\n"
         b"--b\r\n\r\nmixed\r\n--b--\n")
    s = parse(m)
    first, second = s.root.children
    assert header(m, first) == b"Content-Type: text/plain\n\n"
    assert (body(m, first), first.body_lines) == (b"one\ntwo", 2)
    assert body(m, second) == b"mixed"
    assert s.defects == ("bare LF line endings",)


def test_eight_bit_and_nul_bytes_in_headers() -> None:
    m = b"Subject: caf\xe9\x00 bar\r\nFrom: \xff@example.org\r\n\r\nbody"
    s = parse(m)
    assert s.envelope.subject == "caf\udce9\x00 bar"
    assert s.envelope.subject.encode("utf-8", "surrogateescape") == b"caf\xe9\x00 bar"
    assert s.envelope.from_[0].mailbox == "\udcff"
    assert s.defects == ("8-bit bytes that are not UTF-8 in the header at offset 0", "NUL in the header at offset 0")
    assert body(m, s.root) == b"body"


def test_unknown_charset_is_a_defect_not_an_error() -> None:
    s = parse(b"Content-Type: text/plain; charset=x-no-such\r\n\r\nbody")
    assert s.root.params == (("charset", "x-no-such"),)
    assert s.defects == ("unknown charset 'x-no-such' (text is read as UTF-8)",)


def test_invalid_content_type_reads_as_text_plain() -> None:
    s = parse(b"Content-Type: garbage\r\n\r\nbody")
    assert (kinds(s.root), s.root.params) == (["text/plain"], (("charset", "us-ascii"),))
    assert s.defects == ("invalid Content-Type 'garbage' read as text/plain",)


def nested(depth: int) -> bytes:
    m = b"leaf\r\n"
    for level in reversed(range(depth)):
        m = (f"Content-Type: multipart/mixed; boundary=\"l{level}\"\r\n\r\n--l{level}\r\n".encode()
             + m + f"\r\n--l{level}--\r\n".encode())
    return m


def test_nesting_deeper_than_max_depth_is_an_opaque_leaf() -> None:
    m = nested(5)
    parser = MimeParser(max_depth=2)
    parser.feed(m)
    s = parser.close()
    assert kinds(s.root) == ["multipart/mixed", "multipart/mixed", "application/octet-stream"]
    opaque = s.root.children[0].children[0]
    assert opaque.params == (("boundary", "l2"),)
    assert body(m, opaque).startswith(b"--l2\r\n") and body(m, opaque).endswith(b"--l2--\r\n")
    assert s.defects == (f"part nested deeper than 2 at offset {opaque.header_offset} kept as application/octet-stream",)
    assert len(parse(nested(40)).walk()) == 33  # the default max_depth is 32


def test_message_rfc822_nesting_counts_too() -> None:
    m = b"Subject: x\r\n\r\nin"
    for _ in range(4):
        m = b"Content-Type: message/rfc822\r\n\r\n" + m
    parser = MimeParser(max_depth=3)
    parser.feed(m)
    s = parser.close()
    assert kinds(s.root) == ["message/rfc822"] * 3 + ["application/octet-stream"]


def test_transfer_encoded_message_is_a_leaf() -> None:
    m = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpi\r\n"
    s = parse(m)
    assert (kinds(s.root), s.root.children, s.root.envelope, s.root.is_message) == (
        ["message/rfc822"], (), None, False)


def test_header_over_max_header_bytes() -> None:
    m = b"Subject: s\r\nX-Long: " + b"x" * 200 + b"\r\nFrom: a@b\r\n\r\nbody\r\n"
    parser = MimeParser(max_header_bytes=100)
    parser.feed(m)
    s = parser.close()
    assert header(m, s.root) == b"Subject: s\r\n"
    assert body(m, s.root) == m[12:]
    assert s.envelope.subject == "s" and s.envelope.from_ == ()
    assert s.defects == ("header longer than 100 bytes at offset 0: the rest is read as body",)


def test_long_body_line_then_a_boundary() -> None:
    m = HEAD + b"--b\r\n\r\n" + b"--" + b"y" * 5000 + b"\r\n--b\r\n\r\nsecond\r\n--b--\r\n"
    for chunk in (7, 4096, len(m)):
        parser = MimeParser()
        for i in range(0, len(m), chunk):
            parser.feed(m[i:i + chunk])
        s = parser.close()
        assert [body(m, p) for p in s.root.children] == [b"--" + b"y" * 5000, b"second"]


def test_feed_after_close_is_a_usage_error() -> None:
    parser = MimeParser()
    parser.feed(b"Subject: x\r\n\r\n")
    assert parser.close() is parser.close()
    try:
        parser.feed(b"more")
    except RuntimeError:
        pass
    else:
        raise AssertionError("feed() after close() was accepted")


def test_part_count_limit_keeps_the_tree_bounded() -> None:
    m = HEAD + b"--b\r\n\r\nx\r\n" * 10 + b"--b--\r\n"
    parser = MimeParser(max_parts=4)
    parser.feed(m)
    s = parser.close()
    assert len(s.walk()) == 4
    first, second, last = s.root.children
    assert [body(m, first), body(m, second)] == [b"x", b"x"]
    assert body(m, last) == b"x\r\n" + b"--b\r\n\r\nx\r\n" * 7 + b"--b--\r\n"
    assert s.defects == ("4 parts reached: the rest is read as the body of the last",
                         "multipart at offset 0 without its close-delimiter")
    assert len(parse(HEAD + b"--b\r\n\r\nx\r\n" * 20_000).walk()) == 10_000  # the default


def test_boundary_line_that_would_overflow_a_header_is_still_a_boundary() -> None:
    m = HEAD + b"--b\r\nX-Fill: " + b"f" * 64 + b"\r\n--b\r\n\r\nsecond\r\n--b--\r\n"
    structures = set()
    for chunk in (1, 2, 5, len(m)):
        parser = MimeParser(max_header_bytes=75)
        for i in range(0, len(m), chunk):
            parser.feed(m[i:i + chunk])
        structures.add(parser.close())
    (s,) = structures
    assert header(m, s.root.children[0]) == b"X-Fill: " + b"f" * 64
    assert body(m, s.root.children[1]) == b"second"
