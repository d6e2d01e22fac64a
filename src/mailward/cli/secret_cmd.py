"""``mailward secret set|list|remove|rotate-key``: the sealed secret store.

Values are never taken from the command line (they would show in ``ps`` and in
shell history): ``set`` prompts without echo on a terminal, else reads stdin.
"""

from __future__ import annotations

import argparse
from typing import Any

from mailward.cli.common import (
    EXIT_OK,
    add_config_argument,
    fail,
    load_config,
    print_usage,
    read_hidden,
)
from mailward.secrets import (
    PREFIX,
    SecretError,
    SecretPaths,
    check_name,
    locked,
    open_locked,
    open_store,
    rotate_key,
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "secret",
        help="keep passwords encrypted, for the config to use as secret:NAME",
        description="Manage the sealed secret store (AES-256-GCM under the master key).",
    )
    commands = parser.add_subparsers(title="secret commands", metavar="COMMAND")
    parser.set_defaults(func=lambda _args: print_usage(parser))

    set_parser = commands.add_parser(
        "set", help="add or replace a secret (value from a prompt, or from stdin)"
    )
    set_parser.add_argument("name", metavar="NAME")
    add_config_argument(set_parser)
    set_parser.set_defaults(func=cmd_set)

    list_parser = commands.add_parser("list", help="list the names of the secrets (never values)")
    add_config_argument(list_parser)
    list_parser.set_defaults(func=cmd_list)

    remove_parser = commands.add_parser("remove", help="remove a secret")
    remove_parser.add_argument("name", metavar="NAME")
    add_config_argument(remove_parser)
    remove_parser.set_defaults(func=cmd_remove)

    rotate_parser = commands.add_parser(
        "rotate-key", help="re-seal every secret under a new master key (key file only)"
    )
    add_config_argument(rotate_parser)
    rotate_parser.set_defaults(func=cmd_rotate_key)


def _paths(args: argparse.Namespace) -> SecretPaths:
    config = load_config(args).config
    return SecretPaths.of(config.secrets, config.data_dir)


def cmd_set(args: argparse.Namespace) -> int:
    paths = _paths(args)
    try:
        check_name(args.name)
    except SecretError as exc:
        return fail(str(exc))
    value = read_hidden(f"value of secret {args.name}")
    if value is None:
        return fail("the two values differ; nothing was changed")
    if not value:
        return fail("the value is empty; nothing was changed")
    try:
        with locked(paths.store_file):
            store = open_locked(paths)
            existed = args.name in store
            store.set(args.name, value)
            store.save()
    except (SecretError, OSError) as exc:
        return fail(str(exc))
    verb = "replaced" if existed else "set"
    print(f'secret {args.name} {verb}; use it in the config as "{PREFIX}{args.name}"')
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    paths = _paths(args)
    try:
        store = open_store(paths)
    except (SecretError, OSError) as exc:
        return fail(str(exc))
    for name in store.names():
        print(name)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    paths = _paths(args)
    try:
        with locked(paths.store_file):
            store = open_locked(paths)
            if not store.remove(args.name):
                return fail(f'no secret "{args.name}" in {paths.store_file}')
            store.save()
    except (SecretError, OSError) as exc:
        return fail(str(exc))
    print(f"secret {args.name} removed")
    return EXIT_OK


def cmd_rotate_key(args: argparse.Namespace) -> int:
    paths = _paths(args)
    try:
        store = rotate_key(paths)
    except (SecretError, OSError) as exc:
        return fail(str(exc))
    print(f"master key {paths.key_file} replaced; {len(store.names())} secret(s) re-sealed")
    print("update any copy of the old key you keep (backups need the new one from now on)")
    return EXIT_OK
