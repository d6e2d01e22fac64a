"""The DATA reader against a plain line-by-line reading of RFC 5321 4.1.1.4 and 4.5.2.

The reader takes whole runs of lines at once with searches (its fast paths); the
reference here reads one line at a time. Whatever the input and however it is split,
both must pass on the same bytes and stop at the same line for the same reason.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailward.protocols.smtp.body import DataReader, Outcome

# lines built from the bytes that matter, so that dots at line starts, bare CR and LF,
# and end markers in every position come up often
PIECES = [b"\r\n", b"\r", b"\n", b".", b"..", b".\r\n", b"\r\n.\r\n", b"\r\n..", b"a", b"text "]


def reference(data: bytes) -> tuple[Outcome, bytes]:
    """The outcome and the unstuffed body, judging complete lines only."""
    out = []
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        line = data[pos : nl + 1]
        pos = nl + 1
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            return Outcome.BARE_LINE_ENDING, b"".join(out)
        if line == b".\r\n":
            return Outcome.END, b"".join(out)
        out.append(line[1:] if line.startswith(b".") else line)
    return Outcome.MORE, b"".join(out)


def read(pieces: list[bytes]) -> tuple[Outcome, bytes]:
    """Feeds ``pieces`` as the SMTP core does: what is not consumed waits for more."""
    reader = DataReader()
    buf = bytearray()
    out = []
    for piece in pieces:
        buf += piece
        while buf:
            step = reader.feed(buf)
            out.append(step.data)
            del buf[: step.consumed]
            if step.outcome is not Outcome.MORE:
                return step.outcome, b"".join(out)
            if not step.consumed:
                break
    return Outcome.MORE, b"".join(out)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.lists(st.integers(0, 300), max_size=5))
@example([b"a", b"\r\n", b".", b"\r\n"], [])
@example([b"a", b"\n", b".", b"\r\n"], [])
@example([b"\n", b"a", b"\r\n.\r\n"], [])
@example([b"a", b"\r", b"a", b"\r\n.\r\n"], [])
@example([b"text ", b"\r\n..", b"\r\n.\r\n", b"\r"], [])
def test_matches_the_line_by_line_reading(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    expected_outcome, expected_body = reference(data)
    outcome, body = read(split(data, cuts))
    assert outcome is expected_outcome
    assert body == expected_body


def test_a_long_body_without_dots_is_passed_on_whole() -> None:
    line = b"La de da de da 1. La de da de da 2. La de da de da 3.\r\n"
    data = line * 2000 + b".\r\nQUIT\r\n"
    step = DataReader().feed(data)
    assert step.outcome is Outcome.END
    assert step.data == line * 2000
    assert data[step.consumed :] == b"QUIT\r\n"
