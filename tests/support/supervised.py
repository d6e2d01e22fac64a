"""Runs a :class:`~mailward.server.workers.Supervisor` in a process of its own, for the
supervisor tests (forking the test process itself, with its threads, is unsafe):

    python -m support.supervised CASE DIR

Each worker appends a line to ``DIR/starts``; the supervisor's exit status and the
indexes it was told to forget are printed as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from mailward.server.workers import Supervisor, WorkerContext


def _note(path: Path, text: str) -> None:
    with path.open("a") as log:
        log.write(text + "\n")


def main(case: str, directory: Path) -> None:
    starts = directory / "starts"
    forgotten: list[int] = []

    def failing_while_starting(context: WorkerContext) -> int:
        _note(starts, f"{context.index} {os.getpid()}")
        if context.index == 1:
            return 7  # before ready(): its replacement would fail the same way
        context.ready()
        time.sleep(30)  # until the supervisor stops it
        return 0

    def dying_after_start(context: WorkerContext) -> int:
        _note(starts, f"{context.index} {os.getpid()}")
        context.ready()
        return 3

    def forget(index: int) -> int:
        forgotten.append(index)
        return 0

    if case == "failing-while-starting":
        status = Supervisor(2, failing_while_starting, forget).run()
    else:
        status = Supervisor(1, dying_after_start, forget).run()
    print(json.dumps({"status": status, "forgotten": forgotten}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
