"""Running an account-service call from the command line: open the store the config
names, call, close, and turn refusals into one line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mailward.auth.accounts import AccountService, ServiceError
from mailward.cli.common import add_config_argument, fail, load_config
from mailward.config import Config
from mailward.server.privileges import drop_to
from mailward.server.services import secret_resolver
from mailward.store.factory import open_store
from mailward.store.interface import StoreError

T = TypeVar("T")


class CommandFailed(Exception):
    """Print the message and exit with the problems code."""


def with_service(args: argparse.Namespace, call: Callable[[AccountService, Config], Awaitable[T]]) -> T:
    """``call(service, config)`` against the store; :class:`CommandFailed` on a refusal.

    Run as root with ``user`` set in the config, the command first becomes that user,
    as ``serve`` does: files the store creates (the SQLite WAL, say) then belong to
    the server, which could not open them otherwise.
    """
    config = load_config(args).config
    if config.user and os.geteuid() == 0:
        try:
            drop_to(config.user)
        except (OSError, KeyError) as exc:
            raise CommandFailed(f"cannot become user {config.user} (the config's `user`): {exc}") from None

    async def run() -> T:
        store = await open_store(config.store, config.data_dir, secret_resolver(config), exclusive=False)
        try:
            return await call(AccountService(store), config)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (ServiceError, StoreError) as exc:
        raise CommandFailed(str(exc)) from None


def add_command(commands: argparse._SubParsersAction[Any], name: str, help_text: str, func: Any,
                *positionals: str) -> argparse.ArgumentParser:
    """A subcommand with positionals, ``-c``, and refusals printed as one line."""
    description = help_text[0].upper() + help_text[1:] + "."
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=description)
    for positional in positionals:
        parser.add_argument(positional, metavar=positional.upper())
    add_config_argument(parser)
    parser.set_defaults(func=_guard(func))
    return parser


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except CommandFailed as exc:
            return fail(str(exc))
    return run
