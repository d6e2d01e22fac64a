"""mbox framing (RFC 4155): separators, mboxrd quoting, dates, flags in headers."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.admin import mbox

MBOX = (b"From alice@example.org Tue Dec  8 00:06:07 2026\n"
        b"Status: RO\nX-Status: AF\nX-Keywords: Junk $Forwarded\nSubject: one\nX-UID: 7\n\n"
        b"Hello\n>From the past\n>>From further\nFrom not after a blank line\n\n"
        b"From bob@example.org Wed Dec  9 01:02:03 +0100 2026\n"
        b"Subject: two\n\nFrom inside, not a date\n\n\n"
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
        b"Subject: three\n\nlast line without LF")


def messages(lines: list[bytes]) -> list[tuple[mbox.FromLine, bytes]]:
    splitter = mbox.MboxSplitter()
    out: list[tuple[mbox.FromLine, bytes]] = []
    current: list[bytes] | None = None
    start: mbox.FromLine | None = None
    for event in [e for line in lines for e in splitter.feed(line)] + splitter.end():
        if isinstance(event, mbox.Start):
            start, current = event.from_line, []
        elif isinstance(event, mbox.Line):
            assert current is not None
            current.append(event.data)
        else:
            assert start is not None and current is not None
            out.append((start, b"".join(current)))
            current = None
    return out


def test_messages_are_split_on_from_lines_after_an_empty_line() -> None:
    found = messages(MBOX.splitlines(keepends=True))
    assert [f.sender for f, _ in found] == ["alice@example.org", "bob@example.org", "MAILER-DAEMON"]
    assert found[0][0].date == calendar.timegm((2026, 12, 8, 0, 6, 7))
    assert found[1][0].date == calendar.timegm((2026, 12, 9, 1, 2, 3))
    assert found[2][0].date == 0.0
    assert found[0][1].endswith(b"Hello\nFrom the past\n>From further\nFrom not after a blank line\n")
    # the empty line before a From line is the separator's; one more is the message's
    assert found[1][1] == b"Subject: two\n\nFrom inside, not a date\n\n"
    assert found[2][1] == b"Subject: three\n\nlast line without LF"


def test_text_before_the_first_from_line_is_no_message() -> None:
    splitter = mbox.MboxSplitter()
    events = [e for line in b"junk\nmore\n\n".splitlines(keepends=True) for e in splitter.feed(line)]
    assert events == [] and splitter.skipped == 3
    assert splitter.end() == []


@pytest.mark.parametrize(("line", "sender", "stamp"), [
    (b"From a@b Tue Dec  8 00:06:07 2026\n", "a@b", (2026, 12, 8, 0, 6, 7)),
    (b"From a@b  Mon Feb 29 23:59 2016\n", "a@b", (2016, 2, 29, 23, 59, 0)),
    (b"From a@b Sat Jan  3 10:00:00 PST 2009\n", "a@b", (2009, 1, 3, 10, 0, 0)),
])
def test_from_line_dates(line: bytes, sender: str, stamp: tuple[int, ...]) -> None:
    parsed = mbox.parse_from_line(line)
    assert parsed == mbox.FromLine(sender, float(calendar.timegm((*stamp, 0, 0, 0))))


@pytest.mark.parametrize("line", [b"From here to there\n", b"From a@b Tue Dec 32 00:00:00 2026\n",
                                  b"From a@b Tue Foo  8 00:00:00 2026\n", b"Fromage Tue Dec  8 00:00:00 2026\n",
                                  b"From a@b Tue Dec  8 25:00:00 2026\n"])
def test_lines_that_are_no_separators(line: bytes) -> None:
    assert mbox.parse_from_line(line) is None


def test_from_line_rendered_in_utc() -> None:
    line = mbox.render_from_line("a@b", calendar.timegm((2026, 12, 8, 0, 6, 7)))
    assert line == b"From a@b Tue Dec  8 00:06:07 2026\n"
    assert mbox.parse_from_line(line) == mbox.FromLine("a@b", float(calendar.timegm((2026, 12, 8, 0, 6, 7))))


@given(st.integers(0, 5), st.sampled_from([b"From x", b"From ", b"Frog", b"x From ", b""]))
def test_mboxrd_quoting_is_undone(depth: int, rest: bytes) -> None:
    line = b">" * depth + rest + b"\n"
    assert mbox.unquote(mbox.quote(line)) == line
    assert mbox.quote(line) != line or not (b">" * depth + rest).lstrip(b">").startswith(b"From ")


def test_flags_are_read_and_the_bookkeeping_headers_taken_out() -> None:
    header = [b"Subject: one\n", b"Status: RO\n", b"X-Status: ADFT\n", b"X-Keywords: Junk,\n",
              b" $Forwarded\n", b"X-UID: 7\n", b"Content-Length: 10\n", b"X-IMAPbase: 1 2\n",
              b"To: bob\n", b"\tcontinued\n"]
    flags, kept = mbox.header_flags(header)
    assert flags == {"\\Seen", "\\Answered", "\\Deleted", "\\Flagged", "\\Draft", "Junk", "$Forwarded"}
    assert kept == [b"Subject: one\n", b"To: bob\n", b"\tcontinued\n"]
    assert mbox.header_flags([b"Status: O\n"]) == (frozenset(), [])
    assert mbox.flag_headers(flags) == b"Status: RO\nX-Status: ADFT\nX-Keywords: $Forwarded Junk\n"
    assert mbox.flag_headers(()) == b"Status: O\n"


def test_crlf_files_split_alike() -> None:
    lines = MBOX.splitlines(keepends=True)
    # CRLF files: the separator's empty line is CRLF too
    crlf = [line.replace(b"\n", b"\r\n") for line in lines]
    found = messages(crlf)
    assert [f.sender for f, _ in found] == ["alice@example.org", "bob@example.org", "MAILER-DAEMON"]
    assert found[1][1] == b"Subject: two\r\n\r\nFrom inside, not a date\r\n\r\n"
