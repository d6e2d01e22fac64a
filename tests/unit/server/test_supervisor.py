"""The worker supervisor's ways out: a worker that fails while starting, and workers that
keep dying. Real forks; each worker here is a few lines that report to a file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mailward.server import workers
from mailward.server.workers import Supervisor, WorkerContext


def note(path: Path, text: str) -> None:
    with path.open("a") as log:
        log.write(text + "\n")


def test_a_worker_failing_while_starting_stops_the_server_with_its_status(tmp_path: Path) -> None:
    starts = tmp_path / "starts"

    def work(context: WorkerContext) -> int:
        note(starts, str(context.index))
        if context.index == 1:
            return 7  # before ready(): its replacement would fail the same way
        context.ready()
        time.sleep(30)  # until the supervisor stops it
        return 0

    began = time.monotonic()
    status = Supervisor(2, work).run()
    assert status == 7
    assert time.monotonic() - began < 20  # the healthy worker was stopped, not waited for
    assert sorted(starts.read_text().split()) == ["0", "1"]  # nothing was started again


def test_a_worker_that_dies_after_starting_is_replaced_until_they_keep_dying(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    forgotten: list[int] = []

    def work(context: WorkerContext) -> int:
        note(starts, f"{context.index} {os.getpid()}")
        context.ready()
        return 3

    def forget(index: int) -> int:
        forgotten.append(index)
        return 0

    status = Supervisor(1, work, forget).run()
    assert status == workers.EXIT_FAILED
    lines = starts.read_text().splitlines()
    # each death within the window is replaced until one more than MAX_RESTARTS
    assert len(lines) == workers.MAX_RESTARTS + 1
    assert len({line.split()[1] for line in lines}) == len(lines)  # a new process each time
    assert {line.split()[0] for line in lines} == {"0"}  # in the dead worker's place
    assert forgotten == [0] * workers.MAX_RESTARTS  # its connections counted out each time
