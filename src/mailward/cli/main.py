"""``mailward``: one command to set up, check, run and administer the server."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mailward import __version__
from mailward.cli import (
    auth_cmd,
    cert_cmd,
    config_cmd,
    domain_cmd,
    init_cmd,
    secret_cmd,
    serve_cmd,
    store_cmd,
    user_cmd,
)
from mailward.cli.common import EXIT_USAGE

# each module adds its subcommands with register(subparsers)
COMMANDS = (init_cmd, config_cmd, serve_cmd, cert_cmd, secret_cmd, store_cmd, domain_cmd, user_cmd,
            auth_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailward",
        description="A secure all-in-one mail server.",
    )
    parser.add_argument("--version", action="version", version=f"mailward {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
