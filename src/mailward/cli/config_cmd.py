"""``mailward config check``: every check ``serve`` runs, without serving."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailward.cli.common import EXIT_OK, EXIT_PROBLEMS, add_config_argument, check_config
from mailward.server.preflight import check_ports
from mailward.server.runtime_check import check_runtime
from mailward.server.store_check import check_store_connection
from mailward.tls.native_probe import features


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="check the configuration")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="run every check that serve runs before it listens",
        description=(
            "Validate the configuration and run every check that `mailward serve` runs before "
            "it listens: files readable and directories writable by the user the server runs "
            "as (the Python installation included), addresses free, the database reachable "
            "with the configured TLS settings. Settings that fail validation do not stop the "
            "other checks. Prints which native OpenSSL features (TLS 1.3 suites, groups, "
            "tls-exporter) work here, then one line per problem; exits 1 if any is an error."
        ),
    )
    add_config_argument(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    print(features().summary())  # probed once here; the TLS and SCRAM-PLUS checks use it
    checked = check_config(args.config, extra=(check_ports, check_runtime, check_store_connection))
    for problem in checked.problems:
        print(problem, file=sys.stderr)
    errors = checked.errors
    if not checked.checked:
        return EXIT_PROBLEMS
    if errors or checked.loaded is None:
        print(f"{checked.file}: {errors} error{'s' if errors > 1 else ''}", file=sys.stderr)
        return EXIT_PROBLEMS
    listeners = len(checked.loaded.config.listener)
    print(f"{checked.file}: ok ({listeners} listener{'' if listeners == 1 else 's'})")
    return EXIT_OK
