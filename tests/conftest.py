"""Fixtures shared by every test directory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.tls import native_probe


def pytest_sessionstart(session: pytest.Session) -> None:
    """Probe the native OpenSSL calls once, as serve does at start, while this process has
    one thread: a fork later, beside other threads, could inherit a lock one of them holds."""
    native_probe.features()


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory that other users can search (pytest's tmp_path is 0700 under root).

    For tests that act as, or answer for, an unprivileged user.
    """
    path = Path(tempfile.mkdtemp(prefix="mailward-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--event-loop", choices=("asyncio", "uvloop"), default="asyncio",
        help="the event loop the async tests (and the servers they start in-process) run on",
    )


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """pytest-asyncio's hook: ``--event-loop uvloop`` runs every in-process server on uvloop."""
    if config.getoption("--event-loop") != "uvloop":
        import asyncio

        return {"asyncio": asyncio.new_event_loop}
    import uvloop

    return {"uvloop": uvloop.new_event_loop}
