"""``mailward config check``: every check ``serve`` runs, without serving."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailward.cli.common import EXIT_OK, EXIT_PROBLEMS, add_config_argument, load_config
from mailward.config import Severity
from mailward.server.preflight import check_ports, preflight


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="check the configuration")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="run every check that serve runs before it listens",
        description=(
            "Validate the configuration and run every check that `mailward serve` runs before "
            "it listens: files readable and directories writable by the user the server runs "
            "as, addresses free. Prints one line per problem; exits 1 if any is an error."
        ),
    )
    add_config_argument(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    loaded = load_config(args)
    problems = [loaded.locate(p) for p in preflight(loaded.config, extra=(check_ports,))]
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = sum(p.severity is Severity.ERROR for p in problems)
    if errors:
        print(f"{loaded.file}: {errors} error{'s' if errors > 1 else ''}", file=sys.stderr)
        return EXIT_PROBLEMS
    listeners = len(loaded.config.listener)
    print(f"{loaded.file}: ok ({listeners} listener{'' if listeners == 1 else 's'})")
    return EXIT_OK
