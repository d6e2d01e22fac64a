"""Plain progress lines of `mailward mailbox import|export` when stderr is no terminal."""

from __future__ import annotations

import io

from mailward.cli.mailbox_cmd import LINE_EVERY, LINE_SECONDS, LineProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_so_many_messages_or_seconds_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    progress = LineProgress("importing", out, clock)
    progress.start(2500, "messages")
    for done in range(1, 2501):
        progress.update(done, "INBOX")
        if done == 1500:
            clock.now += LINE_SECONDS  # a slow stretch: a line on time as well
    progress.close()
    assert out.getvalue().splitlines() == [
        f"importing: {LINE_EVERY} of 2500 messages (INBOX)",
        "importing: 1501 of 2500 messages (INBOX)",
        "importing: 2500 of 2500 messages (INBOX)",
    ]


def test_bytes_in_mib_and_nothing_before_start() -> None:
    out, clock = io.StringIO(), Clock()
    progress = LineProgress("importing", out, clock)
    progress.close()
    assert out.getvalue() == ""
    progress.start(300 << 20, "bytes")
    progress.update(10 << 20, "INBOX")
    assert out.getvalue() == ""  # bytes: by time only
    clock.now += LINE_SECONDS
    progress.update(20 << 20, "INBOX")
    progress.update(300 << 20, "INBOX")
    progress.close()
    assert out.getvalue().splitlines() == ["importing: 20 of 300 MiB (INBOX)", "importing: 300 of 300 MiB (INBOX)"]
