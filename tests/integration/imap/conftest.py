"""IMAP fixtures: the real server with IMAP and SMTP listeners (see support.imap)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.imap import ImapEnv


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ImapEnv]:
    imap_env = ImapEnv(tmp_path)
    try:
        imap_env.start()
        yield imap_env
    finally:
        imap_env.stop()
