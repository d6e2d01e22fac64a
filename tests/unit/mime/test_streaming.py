"""Fed in any split, the parser gives the same structure; hypothesis finds no
exception; memory is bounded by the header sizes, not the message size."""

from __future__ import annotations

import base64
import random
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.mime import MessageStructure, MimeParser, TextExtractor, parse
from support.mime_checks import body, lines
from support.mime_corpus import CORPUS, all_messages, crlf


def fed(message: bytes, cuts: list[int], **limits: int) -> MessageStructure:
    parser = MimeParser(**limits)
    start = 0
    for cut in [*sorted(cuts), len(message)]:
        parser.feed(message[start:cut])
        start = max(start, cut)
    return parser.close()


def check_invariants(message: bytes, s: MessageStructure) -> None:
    """What holds for any input: parts nest inside their parent's body, a header
    is followed by its body, line counts match the bytes, the structure round-trips."""
    assert s.size == len(message)
    assert MessageStructure.from_bytes(s.to_bytes()) == s
    stack = [(s.root, 0, len(message))]
    while stack:
        part, low, high = stack.pop()
        assert low <= part.header_offset
        assert part.header_offset + part.header_size == part.body_offset
        assert part.body_offset + part.body_size <= high
        assert part.body_size >= 0 and part.body_lines == lines(body(message, part))
        if part.is_multipart:
            assert part.children
        if part.is_message:
            (child,) = part.children
            assert (child.header_offset, child.size) == (part.body_offset, part.body_size)
            assert part.envelope is not None
        stack.extend((c, part.body_offset, part.body_offset + part.body_size) for c in part.children)


def test_every_split_of_every_corpus_message_gives_the_same_structure() -> None:
    for name, message in all_messages().items():
        whole = parse(message)
        check_invariants(message, whole)
        for cut in range(len(message) + 1):
            assert fed(message, [cut]) == whole, (name, cut)


def test_byte_by_byte_and_random_chunks() -> None:
    rng = random.Random(20)
    for message in all_messages().values():
        whole = parse(message)
        assert fed(message, list(range(len(message)))) == whole
        for _ in range(20):
            cuts = [rng.randrange(len(message)) for _ in range(rng.randrange(1, 12))]
            assert fed(message, cuts) == whole


def test_splits_of_broken_mail() -> None:
    broken = [
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nX: y\n\nbare lf\n--b\r\n\r\ncrlf\r\n--b",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b--",
        b"Subject: \xff\x00\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner",
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n-\r\n--\r\n--b\r\n-",
    ]
    for message in broken:
        whole = parse(message)
        check_invariants(message, whole)
        for cut in range(len(message) + 1):
            for second in range(cut, len(message) + 1, 3):
                assert fed(message, [cut, second]) == whole


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_arbitrary_bytes(message: bytes, cuts: list[int]) -> None:
    whole = parse(message)
    check_invariants(message, whole)
    assert fed(message, [c for c in cuts if c <= len(message)]) == whole
    assert fed(message, list(range(len(message))), max_depth=2, max_header_bytes=50, max_parts=3) == fed(
        message, [], max_depth=2, max_header_bytes=50, max_parts=3)


PIECES = [b"\r\n", b"\n", b"--", b"-", b"\r", b" ", b"\t", b":", b";", b"\x00", b"\xff", b"=?", b"?=",
          b"boundary=", b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
          b"--b\r\n", b"--b--\r\n", b"\r\n\r\n"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus message with ranges deleted, pieces inserted, line ends changed."""
    message = bytearray(CORPUS[draw(st.sampled_from(sorted(CORPUS)))]())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(message)))
        if op == 0:
            del message[at:at + draw(st.integers(1, 80))]
        elif op == 1:
            message[at:at] = draw(st.sampled_from(PIECES))
        elif op == 2:
            message = bytearray(message.replace(b"\r\n", b"\n", draw(st.integers(1, 20))))
        else:
            message = message[:at]
    return bytes(message)


@settings(max_examples=300, deadline=None)
@given(mutated(), st.randoms(use_true_random=False))
def test_mutations_of_valid_multipart_messages(message: bytes, rng: random.Random) -> None:
    whole = parse(message)
    check_invariants(message, whole)
    cuts = [rng.randrange(len(message) + 1) for _ in range(rng.randrange(1, 8))]
    assert fed(message, cuts) == whole
    extractor = TextExtractor(max_chars=500)
    for start in range(0, len(message), 97):
        extractor.feed(message[start:start + 97])
    text = extractor.close()
    assert len(text.body) <= 500
    whole = TextExtractor(max_chars=500)
    whole.feed(message)
    assert whole.close() == text


def peak_while_feeding(message: bytes, consumer: MimeParser | TextExtractor, chunk: int = 64 * 1024) -> int:
    view = memoryview(message)
    tracemalloc.start()
    try:
        for start in range(0, len(message), chunk):
            consumer.feed(bytes(view[start:start + chunk]))
        consumer.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def big_message(size: int) -> bytes:
    """A multipart with a text part, a base64 attachment and a part of one long line."""
    attachment = base64.encodebytes(random.Random(1).randbytes(size // 2 * 3 // 4)).replace(b"\n", b"\r\n")
    return (crlf("From: a@example.org\nSubject: big\nContent-Type: multipart/mixed; boundary=big\n\n"
                 "--big\nContent-Type: text/plain\n\n") + b"line of text\r\n" * (size // 4 // 14)
            + crlf("--big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
            + attachment + crlf("--big\nContent-Type: application/x-one-line\n\n")
            + b"-" * (size // 4) + crlf("\n--big--\n"))


def test_fifty_megabytes_parse_in_bounded_memory() -> None:
    message = big_message(50 * 1024 * 1024)
    assert len(message) > 45 * 1024 * 1024
    peak = peak_while_feeding(message, MimeParser())
    assert peak < 1024 * 1024, peak  # a few 64 KiB chunks, not the message
    s = parse(message)
    assert [p.media_subtype for p in s.walk()] == ["mixed", "plain", "octet-stream", "x-one-line"]
    assert body(message, s.root.children[2]) == b"-" * (50 * 1024 * 1024 // 4)
    assert s.defects == ()


def test_fifty_megabytes_of_text_extract_in_bounded_memory() -> None:
    message = big_message(50 * 1024 * 1024)
    peak = peak_while_feeding(message, TextExtractor(max_chars=100_000))
    assert peak < 2 * 1024 * 1024, peak
