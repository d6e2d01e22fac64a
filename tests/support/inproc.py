"""Helpers for tests that run a ``mailward`` subcommand in the test's own process, and check
the files it leaves."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

from mailward.cli import cert_cmd


def run_cert(*argv: str) -> int:
    """``mailward cert ...`` in this process; its exit status."""
    parser = argparse.ArgumentParser(prog="mailward")
    cert_cmd.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def mode(path: Path) -> int:
    """A file's permission bits."""
    return stat.S_IMODE(path.stat().st_mode)
