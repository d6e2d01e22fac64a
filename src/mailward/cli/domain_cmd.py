"""``mailward domain add|list|remove`` and ``mailward alias add|list|remove``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from mailward.auth.accounts import AccountService
from mailward.cli.common import EXIT_OK, print_usage
from mailward.cli.service import add_command, with_service
from mailward.config import Config


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    domain = subparsers.add_parser("domain", help="the domains this server receives mail for",
                                   description="Manage local domains.")
    commands = domain.add_subparsers(title="domain commands", metavar="COMMAND")
    domain.set_defaults(func=lambda _args: print_usage(domain))
    add_command(commands, "add", "add a local domain", cmd_domain_add, "domain")
    add_command(commands, "list", "list the local domains", cmd_domain_list)
    add_command(commands, "remove", "remove a domain (it must have no users or aliases left)",
             cmd_domain_remove, "domain")

    alias = subparsers.add_parser(
        "alias", help="addresses that deliver to other addresses",
        description="Manage aliases. An alias delivers to one or many targets: users, other "
        "aliases, or outside addresses. @example.org is the catch-all of example.org: it gets "
        "mail for every address there that is no user or alias.")
    commands = alias.add_subparsers(title="alias commands", metavar="COMMAND")
    alias.set_defaults(func=lambda _args: print_usage(alias))
    add = add_command(commands, "add", "add an alias (or more targets to one)", cmd_alias_add, "address")
    add.add_argument("targets", nargs="+", metavar="TARGET", help="where the mail goes")
    add_command(commands, "list", "list the aliases", cmd_alias_list)
    remove = add_command(commands, "remove", "remove an alias, or one target of it", cmd_alias_remove,
                         "address")
    remove.add_argument("target", nargs="?", metavar="TARGET", help="only this target")


def cmd_domain_add(args: argparse.Namespace) -> int:
    domain = with_service(args, lambda s, _c: s.add_domain(args.domain))
    print(f"domain {domain.name} added; add users with `mailward user add USER@{domain.name}`")
    return EXIT_OK


def cmd_domain_list(args: argparse.Namespace) -> int:
    for domain in with_service(args, lambda s, _c: s.list_domains()):
        print(f"{domain.name}\tsince {time.strftime('%Y-%m-%d', time.gmtime(domain.created))}")
    return EXIT_OK


def cmd_domain_remove(args: argparse.Namespace) -> int:
    with_service(args, lambda s, _c: s.remove_domain(args.domain))
    print(f"domain {args.domain} removed")
    return EXIT_OK


def cmd_alias_add(args: argparse.Namespace) -> int:
    entry = with_service(args, lambda s, _c: s.add_alias(args.address, list(args.targets)))
    print(f"{entry.address} -> {', '.join(entry.targets)}")
    return EXIT_OK


def cmd_alias_list(args: argparse.Namespace) -> int:
    for entry in with_service(args, lambda s, _c: s.list_aliases()):
        print(f"{entry.address}\t{', '.join(entry.targets)}")
    return EXIT_OK


def cmd_alias_remove(args: argparse.Namespace) -> int:
    async def call(service: AccountService, _config: Config) -> int:
        return await service.remove_alias(args.address, args.target)

    removed = with_service(args, call)
    print(f"removed {removed} alias row(s) of {args.address}")
    return EXIT_OK
