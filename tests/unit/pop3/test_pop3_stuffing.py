"""RETR and TOP output: byte-stuffing, the terminator and TOP's line count, whatever the chunking."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.protocols.pop3.stuffing import MessageWriter


def reference(message: bytes, lines: int | None = None) -> bytes:
    """The same output, the slow obvious way: split into lines, cut, stuff, terminate."""
    parts = re.findall(rb"[^\n]*\n|[^\n]+$", message)  # LF ends a line, nothing else
    if lines is not None:
        kept, header, body = [], True, 0
        for part in parts:
            if not header and body == lines:
                break
            kept.append(part)
            if header and part.rstrip(b"\n").strip(b"\r") == b"" and part.endswith(b"\n"):
                header = False
            elif not header:
                body += 1
        parts = kept
    out = b"".join(b"." + p if p.startswith(b".") else p for p in parts)
    if out and not out.endswith(b"\n"):
        out += b"\r\n"
    return out + b".\r\n"


def write(chunks: list[bytes], lines: int | None = None) -> bytes:
    writer = MessageWriter(lines)
    out = b""
    for chunk in chunks:
        out += writer.feed(chunk)
    return out + writer.end()


def every_split(message: bytes) -> list[list[bytes]]:
    return [[message], [message[i : i + 1] for i in range(len(message))],
            *([message[:i], message[i:]] for i in range(1, len(message)))]


CASES = [
    (b"", None, b".\r\n"),
    (b".\r\n", None, b"..\r\n.\r\n"),
    (b"a\r\n.\r\n..\r\nb", None, b"a\r\n..\r\n...\r\nb\r\n.\r\n"),
    (b"H: v\r\n\r\n1\r\n2\r\n3\r\n", 2, b"H: v\r\n\r\n1\r\n2\r\n.\r\n"),
    (b"H: v\r\n\r\n1\r\n", 0, b"H: v\r\n\r\n.\r\n"),
    (b"H: v\r\n\r\n.1\r\n", 5, b"H: v\r\n\r\n..1\r\n.\r\n"),
    (b"H: v\r\nno body", 3, b"H: v\r\nno body\r\n.\r\n"),
    (b".H: v\r\n\r\nbody", 1, b"..H: v\r\n\r\nbody\r\n.\r\n"),
    (b"H: v\n\n.b\nc\n", 1, b"H: v\n\n..b\n.\r\n"),
]


@pytest.mark.parametrize(("message", "lines", "expected"), CASES)
def test_cases_in_every_split(message: bytes, lines: int | None, expected: bytes) -> None:
    for chunks in every_split(message):
        assert write(chunks, lines) == expected, chunks


def test_top_stops_reading() -> None:
    writer = MessageWriter(1)
    assert writer.feed(b"H: v\r\n\r\nline\r\nmore") == b"H: v\r\n\r\nline\r\n"
    assert writer.done
    assert writer.feed(b"ignored\r\n") == b""


def test_negative_lines_is_a_misuse() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        MessageWriter(-1)


LINES = st.lists(st.sampled_from([b"", b".", b"..", b"a", b"H: v", b". x", b"\r"]), max_size=12)
ENDS = st.sampled_from([b"\r\n", b"\n"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    parts = draw(LINES)
    return b"".join(p + draw(ENDS) for p in parts) + draw(st.sampled_from([b"", b"tail", b".tail"]))


@settings(max_examples=400, deadline=None)
@given(messages(), st.one_of(st.none(), st.integers(0, 6)), st.lists(st.integers(1, 40), max_size=8))
def test_against_the_reference(message: bytes, lines: int | None, cuts: list[int]) -> None:
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(message[pos : pos + cut])
        pos += cut
    chunks.append(message[pos:])
    assert write(chunks, lines) == reference(message, lines)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=6))
def test_retr_output_unstuffs_to_the_message(message: bytes, cuts: list[int]) -> None:
    """A client that unstuffs per RFC 1939 gets the message back, with a CRLF added if its
    last line had none, and sees the terminator only at the end."""
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(message[pos : pos + cut])
        pos += cut
    chunks.append(message[pos:])
    out = write(chunks)
    assert out.endswith(b".\r\n")
    body = out[:-3]
    lines = body.split(b"\n")
    assert all(line != b".\r" for line in lines[:-1])  # no early terminator line
    unstuffed = b"\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    expected = message if message.endswith(b"\n") or not message else message + b"\r\n"
    assert unstuffed == expected
