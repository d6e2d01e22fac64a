"""Fixtures shared by every test directory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


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
