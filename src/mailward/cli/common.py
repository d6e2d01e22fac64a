"""What every ``mailward`` subcommand shares: finding and loading the config."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from mailward.config import ConfigError, LoadedConfig, load
from mailward.server.registry import protocol_rules

DEFAULT_CONFIG = "/etc/mailward/mailward.toml"
CONFIG_ENV = "MAILWARD_CONFIG"

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def default_config() -> str:
    """The configuration used when no ``-c`` is given."""
    return os.environ.get(CONFIG_ENV, DEFAULT_CONFIG)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=default_config(),
        metavar="FILE",
        help=f"configuration file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG})",
    )


def load_config(args: argparse.Namespace) -> LoadedConfig:
    """Load the config named by ``-c``; print every problem and exit 1 when it is invalid."""
    try:
        loaded = load(args.config, protocol_rules())
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_PROBLEMS) from None
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    return loaded


def print_usage(parser: argparse.ArgumentParser) -> int:
    """For a command group run without a subcommand: its help on stderr, the usage code."""
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def fail(message: str) -> int:
    """Print ``mailward: message`` to stderr and return the problems exit code."""
    print(f"mailward: {message}", file=sys.stderr)
    return EXIT_PROBLEMS


def read_hidden(prompt: str) -> str | None:
    """A secret value, never from argv (it would show in ``ps`` and shell history):
    prompted twice without echo on a terminal, else all of stdin (one trailing
    newline removed). ``None`` when the two prompts differ."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        second = getpass.getpass("again: ")
        return first if first == second else None
    data = sys.stdin.read()
    if data.endswith("\r\n"):
        return data[:-2]
    return data.removesuffix("\n")


def read_password(prompt: str) -> str | None:
    """A login password: as :func:`read_hidden` on a terminal; from stdin, one line, or
    the same line twice (the ``passwd`` convention, ``printf 'pw\\npw\\n' | ...``).
    ``None`` when the two differ. A password is one line: no line breaks in it."""
    if sys.stdin.isatty():
        return read_hidden(prompt)
    lines = sys.stdin.read().splitlines()
    if len(lines) == 2:
        return lines[0] if lines[0] == lines[1] else None
    if len(lines) > 2:
        raise PasswordLines(len(lines))
    return lines[0] if lines else ""


class PasswordLines(ValueError):
    """More than two lines on stdin: not a password given once or twice."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} lines on stdin: give the password on one line, or twice on two")

