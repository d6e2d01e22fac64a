"""IMAP section numbers (RFC 9051 6.4.5) and the stored serialization."""

from __future__ import annotations

import json

import pytest

from mailward.mime import FORMAT_VERSION, MessageStructure, parse
from support.mime_checks import body
from support.mime_corpus import CORPUS, crlf


def rfc9051_example() -> bytes:
    """The example of RFC 9051 6.4.5, built as a message."""
    return crlf("""Subject: example
Content-Type: MULTIPART/MIXED; boundary=b0

--b0
Content-Type: TEXT/PLAIN

part 1
--b0
Content-Type: APPLICATION/OCTET-STREAM

part 2
--b0
Content-Type: MESSAGE/RFC822

Subject: inner
Content-Type: MULTIPART/MIXED; boundary=b3

--b3
Content-Type: TEXT/PLAIN

part 3.1
--b3
Content-Type: APPLICATION/OCTET-STREAM

part 3.2
--b3--
--b0
Content-Type: IMAGE/GIF

part 4
--b0
Content-Type: MULTIPART/MIXED; boundary=b5

--b5
Content-Type: IMAGE/GIF

part 5.1
--b5
Content-Type: MESSAGE/RFC822

Subject: inner 5.2
Content-Type: MULTIPART/ALTERNATIVE; boundary=b52

--b52
Content-Type: TEXT/PLAIN

part 5.2.1
--b52
Content-Type: TEXT/RICHTEXT

part 5.2.2
--b52--
--b5--
--b0--
""")


@pytest.mark.parametrize(("section", "text"), [
    ((1,), b"part 1"), ((2,), b"part 2"), ((3, 1), b"part 3.1"), ((3, 2), b"part 3.2"),
    ((4,), b"part 4"), ((5, 1), b"part 5.1"), ((5, 2, 1), b"part 5.2.1"), ((5, 2, 2), b"part 5.2.2"),
])
def test_rfc9051_section_numbers(section: tuple[int, ...], text: bytes) -> None:
    m = rfc9051_example()
    part = parse(m).part(section)
    assert part is not None and body(m, part) == text


def test_sections_of_message_parts_and_misses() -> None:
    m = rfc9051_example()
    s = parse(m)
    three = s.part((3,))
    assert three is not None and three.is_message and three.envelope is not None
    assert three.envelope.subject == "inner"
    assert (three.media_type, three.media_subtype) == ("message", "rfc822")
    assert s.part(()) == s.root
    for missing in [(0,), (6,), (1, 1), (3, 3), (5, 2, 3), (4, 1), (5, 2, 1, 1)]:
        assert s.part(missing) is None, missing


def test_non_multipart_message_has_only_part_one() -> None:
    s = parse(b"Subject: x\r\n\r\nbody")
    assert s.part((1,)) == s.root
    assert s.part((2,)) is None and s.part((1, 1)) is None
    inner = parse(b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ntext")
    # part 1 of that message is its body, the message/rfc822 entity; 1.1 is the body
    # of the encapsulated message
    assert inner.part((1,)) == inner.root
    assert inner.part((1, 1)) == inner.root.children[0]
    assert inner.part((1, 2)) is None


def test_round_trip_is_exact_and_compact() -> None:
    m = rfc9051_example()
    s = parse(m)
    data = s.to_bytes()
    assert MessageStructure.from_bytes(data) == s
    assert json.loads(data)["v"] == FORMAT_VERSION
    assert len(data) < 120 * len(s.walk())


def test_round_trip_keeps_eight_bit_header_bytes() -> None:
    s = parse(b"Subject: \xff\xfe caf\xc3\xa9\r\nFrom: \"N\xe4me\" <a@b>\r\n\r\n")
    again = MessageStructure.from_bytes(s.to_bytes())
    assert again == s
    assert again.envelope.subject is not None
    assert again.envelope.subject.encode("utf-8", "surrogateescape") == b"\xff\xfe caf\xc3\xa9"


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b'{"v": 2}', b'{"v": 0, "root": []}', b'{"v": "1"}',
    b'{"v": 1}', b'{"v": 1, "size": 1, "defects": [], "envelope": [], "root": []}',
    b"[" * 100_000,
])
def test_wrong_or_malformed_data_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="message structure"):
        MessageStructure.from_bytes(data)


def test_a_field_of_the_wrong_type_raises_value_error() -> None:
    obj = json.loads(parse(CORPUS["forwarded"]()).to_bytes())
    obj["root"][16][1][0] = "0"  # a header offset as a string
    with pytest.raises(ValueError, match="malformed"):
        MessageStructure.from_bytes(json.dumps(obj).encode())
