"""Hypothesis: whatever the client sends, the core answers with well-formed replies and never raises."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.protocols.smtp.core import Limits
from support.smtp_driver import run

REPLY_LINE = re.compile(rb"^\d{3}[ -].*$")
WORDS = [
    b"EHLO c",
    b"HELO c",
    b"MAIL FROM:<a@r.example>",
    b"MAIL FROM:<>",
    b"RCPT TO:<b@example.org>",
    b"RCPT TO:<x@elsewhere.example>",
    b"DATA",
    b"BDAT 3",
    b"BDAT 0 LAST",
    b"BDAT 2 LAST",
    b"RSET",
    b"NOOP",
    b"VRFY x",
    b"QUIT",
    b"AUTH PLAIN",
    b".",
    b"..",
    b"x" * 40,
    b"",
    b"\r",
    b"\n",
    b"\xff\xfe",
]
LIMITS = Limits(max_message_size=200, max_recipients=3, max_errors=50, max_junk_commands=50)


def well_formed(output: bytes) -> None:
    assert output.endswith(b"\r\n")
    for line in output.split(b"\r\n")[:-1]:
        assert REPLY_LINE.match(line), line


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    well_formed(run([data], limits=LIMITS).output)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=25), st.lists(st.integers(0, 400), max_size=4))
def test_command_soup_is_split_invariant(words: list[bytes], cuts: list[int]) -> None:
    script = b"\r\n".join(words) + b"\r\n"
    whole = run([script], limits=LIMITS)
    well_formed(whole.output)
    points = sorted({c % (len(script) + 1) for c in cuts})
    pieces = [script[a:b] for a, b in zip([0, *points], [*points, len(script)], strict=True)]
    split = run(pieces, limits=LIMITS)
    assert split.output == whole.output
    assert split.message == whole.message
    assert split.kinds() == whole.kinds()
