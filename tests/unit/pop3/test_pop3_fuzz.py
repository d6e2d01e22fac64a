"""Hypothesis: whatever the client sends, the core answers with well-formed replies,
never raises, and answers the same however the input is cut."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.protocols.pop3.core import Limits
from support.pop3_driver import TLS_FACTS, run

STATUS_LINE = re.compile(rb"^(\+OK|-ERR)( .*)?$")
WORDS = [
    b"USER alice", b"PASS secret", b"PASS x", b"AUTH PLAIN", b"AUTH PLAIN AGFsaWNlAHNlY3JldA==", b"AUTH",
    b"*", b"=", b"STAT", b"LIST", b"LIST 1", b"LIST 9", b"UIDL", b"UIDL 2", b"RETR 1", b"RETR 2", b"RETR 3",
    b"TOP 2 1", b"TOP 3 0", b"DELE 1", b"DELE 2", b"RSET", b"NOOP", b"CAPA", b"UTF8", b"STLS", b"APOP a b",
    b"QUIT", b".", b"", b"x" * 300, b"\xff\xfe", b"\r",
]
LIMITS = Limits(max_errors=100, max_auth_failures=100, max_commands=1000)


def well_formed(output: bytes) -> None:
    """Every response starts with a status line; a multi-line one ends with ".": message
    lines may say anything, so check only that the output ends a line."""
    assert output.endswith(b"\r\n")
    assert STATUS_LINE.match(output.split(b"\r\n", 1)[0])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    well_formed(run([data], facts=TLS_FACTS, limits=LIMITS).output)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=30), st.integers(0, 2000), st.sampled_from([b"\r\n", b"\n"]))
def test_command_sequences_split_anywhere(words: list[bytes], cut: int, end: bytes) -> None:
    script = b"".join(w + end for w in words)
    cut = min(cut, len(script))
    whole = run([script], facts=TLS_FACTS, limits=LIMITS)
    well_formed(whole.output)
    assert run([script[:cut], script[cut:]], facts=TLS_FACTS, limits=LIMITS) == whole
    assert run([bytes([b]) for b in script], facts=TLS_FACTS, limits=LIMITS) == whole
