"""The worker supervisor's ways out: a worker that fails while starting, and workers that
keep dying. Real forks, in a process of their own (:mod:`support.supervised`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mailward.server import workers
from support.proc import env


def supervise(case: str, directory: Path) -> tuple[dict[str, Any], list[list[str]]]:
    result = subprocess.run([sys.executable, "-m", "support.supervised", case, str(directory)],
                            capture_output=True, text=True, env=env(), timeout=60, check=True)
    starts = [line.split() for line in (directory / "starts").read_text().splitlines()]
    return json.loads(result.stdout.splitlines()[-1]), starts


def test_a_worker_failing_while_starting_stops_the_server_with_its_status(tmp_path: Path) -> None:
    began = time.monotonic()
    result, starts = supervise("failing-while-starting", tmp_path)
    assert result["status"] == 7
    assert time.monotonic() - began < 20  # the healthy worker was stopped, not waited for
    assert sorted(index for index, _ in starts) == ["0", "1"]  # nothing was started again
    assert result["forgotten"] == []


def test_a_worker_that_dies_after_starting_is_replaced_until_they_keep_dying(tmp_path: Path) -> None:
    result, starts = supervise("dying-after-start", tmp_path)
    assert result["status"] == workers.EXIT_FAILED
    # each death within the window is replaced, until one more than MAX_RESTARTS
    assert len(starts) == workers.MAX_RESTARTS + 1
    assert len({pid for _, pid in starts}) == len(starts)  # a new process each time
    assert {index for index, _ in starts} == {"0"}  # in the dead worker's place
    assert result["forgotten"] == [0] * workers.MAX_RESTARTS  # its connections counted out each time
