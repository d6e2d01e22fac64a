"""What every ``mailward`` subcommand shares: finding and loading the config."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from mailward.config import ConfigError, LoadedConfig, Problem, Severity, load
from mailward.server.preflight import Check, check_ports, preflight
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


@dataclass(frozen=True)
class Checked:
    """What :func:`check_config` found."""

    file: str
    loaded: LoadedConfig | None
    """The configuration, when it validated; ``None`` when it did not (nothing to serve)."""
    problems: tuple[Problem, ...]
    """Every problem, located: the file's, then those of the checks ``serve`` runs."""
    checked: bool = True
    """Whether the checks ran (not when the file could not be read or parsed)."""

    @property
    def errors(self) -> int:
        return sum(p.severity is Severity.ERROR for p in self.problems)


def check_config(path: str, extra: Sequence[Check] = ()) -> Checked:
    """Load ``path`` and run every start-up check (and ``extra``) in one go.

    When settings fail validation, the checks still run on everything that did
    validate (the listeners that parsed, their ports and TLS files, ...), ports
    included, so that the admin sees every problem at once, not in rounds."""
    try:
        loaded = load(path, protocol_rules())
    except ConfigError as exc:
        partial = exc.partial
        if partial is None:
            return Checked(path, None, exc.problems, checked=False)
        checks = (*extra, *(() if check_ports in extra else (check_ports,)))
        found = preflight(partial.config, checks, partial.failed)
        return Checked(path, None, (*exc.problems, *partial.warnings, *map(partial.locate, found)))
    found = preflight(loaded.config, extra)
    return Checked(path, loaded, (*loaded.warnings, *map(loaded.locate, found)))


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

