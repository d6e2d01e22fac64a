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
    control_cmd,
    domain_cmd,
    init_cmd,
    mailbox_cmd,
    secret_cmd,
    serve_cmd,
    store_cmd,
    user_cmd,
)
from mailward.cli.common import EXIT_USAGE, default_config

# each module adds its subcommands with register(subparsers)
COMMANDS = (init_cmd, config_cmd, serve_cmd, control_cmd, cert_cmd, secret_cmd, store_cmd, domain_cmd,
            user_cmd, auth_cmd, mailbox_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailward",
        description="A secure all-in-one mail server.",
    )
    parser.add_argument("--version", action="version", version=f"mailward {__version__}")
    # `mailward -c FILE user list` as well as `mailward user list -c FILE`
    parser.add_argument("-c", "--config", dest="config_before", metavar="FILE", default=None,
                        help="configuration file, for any command (also accepted after it)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # `serve` executes this process again (mailward.server.memory) only from its own command line
    args.own_command_line = argv is None or list(argv) == sys.argv[1:]
    before = args.config_before
    if before is not None and not hasattr(args, "config"):
        parser.error("-c: this command reads no configuration file")
    if before is not None:
        after = args.config
        if after != default_config() and after != before:
            parser.error(f"two configuration files given: {before} and {after}")
        args.config = before
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
