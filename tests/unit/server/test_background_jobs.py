"""The runtime's background jobs: one registry, each job on its interval, failures logged."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest

from mailward.server.app import Server
from mailward.server.memory import RELEASE_AFTER, MemoryReleaser
from mailward.server.runtime import JOBS, BackgroundJobs, Job


def test_the_registry_names_each_job_once() -> None:
    names = [job.name for job in JOBS]
    assert len(names) == len(set(names)) and {"login-counters", "certificates"} <= set(names)
    assert all(job.interval > 0 for job in JOBS)


async def test_a_failing_pass_is_logged_and_the_job_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    passes: list[str] = []

    async def flaky(server: Server) -> None:
        passes.append("pass")
        if len(passes) == 1:
            raise RuntimeError("the store is away")

    async def everywhere(server: Server) -> None:
        passes.append("everywhere")

    server = cast(Server, object())
    jobs = BackgroundJobs(server, first_process=False)  # a second worker: "everywhere" jobs only
    jobs.start([Job("flaky", 0.01, flaky, everywhere=True), Job("once", 0.01, everywhere)])
    async with asyncio.timeout(5):
        while passes.count("pass") < 3:
            await asyncio.sleep(0.01)
    await jobs.stop()
    assert "everywhere" not in passes  # only the first process runs the server-wide ones
    [record] = [r for r in caplog.records if "background job" in r.getMessage()]
    assert record.getMessage() == "background job flaky failed; again in 0 s"
    count = len(passes)
    await asyncio.sleep(0.05)
    assert len(passes) == count  # stopped for good


def test_memory_is_given_back_after_enough_connections_or_the_last_one() -> None:
    releaser = MemoryReleaser()
    assert not releaser.due(0, 0)  # nothing ended yet
    assert not releaser.due(RELEASE_AFTER - 1, 5)  # a few ended, others still open
    assert releaser.due(RELEASE_AFTER, 5)
    assert releaser.due(3, 0)  # the last open one ended
    releaser.release(3)
    assert not releaser.due(3, 0)  # nothing new since
    assert releaser.due(3 + RELEASE_AFTER, 1000)
