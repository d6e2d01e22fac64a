"""``mailward auth blocked`` and ``mailward auth unblock IP|USER``.

Both work on the store's counters directly, with the server running or not, so
an admin who locked themselves out can always get back in.
"""

from __future__ import annotations

import argparse
from typing import Any

from mailward.auth.accounts import AccountService, StoreCounters
from mailward.auth.throttle import Blocked, Throttle, format_time
from mailward.cli.common import EXIT_OK, fail, print_usage
from mailward.cli.service import add_command, with_service
from mailward.config import Config


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    auth = subparsers.add_parser("auth", help="login throttling: who is blocked, unblock",
                                 description="Inspect and lift login blocks (see [auth] in the config).")
    commands = auth.add_subparsers(title="auth commands", metavar="COMMAND")
    auth.set_defaults(func=lambda _args: print_usage(auth))
    add_command(commands, "blocked", "list the addresses and accounts refused now", cmd_blocked)
    add_command(commands, "unblock", "forget the failed logins of an address (or network) or account",
             cmd_unblock, "subject")


def _throttle(service: AccountService, config: Config) -> Throttle:
    return Throttle(config.auth, StoreCounters(service.store))


def cmd_blocked(args: argparse.Namespace) -> int:
    async def call(service: AccountService, config: Config) -> list[Blocked]:
        return await _throttle(service, config).blocked()

    blocked = with_service(args, call)
    for entry in blocked:
        print(f"{entry.kind}\t{entry.subject}\t{entry.failures} failure(s)\tuntil {format_time(entry.until)}")
    if not blocked:
        print("nothing is blocked")
    return EXIT_OK


def cmd_unblock(args: argparse.Namespace) -> int:
    async def call(service: AccountService, config: Config) -> bool:
        return await _throttle(service, config).unblock(args.subject)

    if not with_service(args, call):
        return fail(f"no failed logins are recorded for {args.subject} (see `mailward auth blocked`)")
    print(f"{args.subject} unblocked: its failed logins are forgotten")
    return EXIT_OK
