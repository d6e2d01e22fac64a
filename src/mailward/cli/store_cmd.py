"""``mailward store migrate`` and ``mailward store copy --to CONFIG``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import IO, Any

from mailward.cli.common import EXIT_OK, EXIT_PROBLEMS, add_config_argument, fail, load_config, print_usage
from mailward.config import ConfigError, load
from mailward.server.registry import protocol_rules
from mailward.server.services import secret_resolver
from mailward.store.factory import open_store
from mailward.store.interface import StoreError
from mailward.store.transfer import copy_store


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("store", help="the mail store: migrations, moving between backends",
                                   description="Manage the mail store.")
    commands = parser.add_subparsers(title="store commands", metavar="COMMAND")
    parser.set_defaults(func=lambda args: print_usage(parser))

    migrate = commands.add_parser("migrate", help="apply pending schema migrations",
                                  description="Apply the store's pending schema migrations "
                                  "(serve also applies them on start), then keep the MIME "
                                  "structure of messages stored before mailward kept it.")
    add_config_argument(migrate)
    migrate.set_defaults(func=cmd_migrate)

    copy = commands.add_parser(
        "copy", help="copy everything into the store another config names",
        description="Copy accounts, mailboxes (with UIDVALIDITY, UIDs and MODSEQs), messages and "
        "the queue from this config's store into the (empty) store that --to names, e.g. from "
        "SQLite to PostgreSQL. Stop the server first.")
    add_config_argument(copy)
    copy.add_argument("--to", required=True, metavar="CONFIG", help="config file naming the target store")
    copy.set_defaults(func=cmd_copy)


def cmd_migrate(args: argparse.Namespace) -> int:
    config = load_config(args).config

    def progress(done: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rmessage structures kept: {done}   ")
            sys.stderr.flush()

    async def run() -> tuple[list[int], int]:
        store = await open_store(config.store, config.data_dir, secret_resolver(config),
                                 migrate=False)
        try:
            applied = await store.migrate()
            # messages stored before structures were kept (migration 4) get theirs now
            return applied, await store.fill_structures(progress=progress)
        finally:
            await store.close()

    try:
        applied, filled = asyncio.run(run())
    except StoreError as exc:
        return fail(str(exc))
    if filled and sys.stderr.isatty():
        sys.stderr.write("\n")
    if applied:
        print(f"applied migration(s) {', '.join(map(str, applied))}")
    else:
        print("the store is up to date")
    if filled:
        print(f"kept the MIME structure of {filled} message(s) stored before")
    return EXIT_OK


class ProgressBar:
    """One line redrawn in place on a terminal; silence elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, table: str, done: int, total: int) -> None:
        if not self.tty:
            return
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} rows ({table})   ")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def cmd_copy(args: argparse.Namespace) -> int:
    source_config = load_config(args).config
    try:
        target_config = load(args.to, protocol_rules()).config
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    bar = ProgressBar(sys.stderr)

    async def run() -> dict[str, int]:
        source = await open_store(source_config.store, source_config.data_dir,
                                  secret_resolver(source_config))
        try:
            target = await open_store(target_config.store, target_config.data_dir,
                                      secret_resolver(target_config))
            try:
                return (await copy_store(source, target, bar)).rows
            finally:
                await target.close()
        finally:
            await source.close()

    try:
        rows = asyncio.run(run())
    except StoreError as exc:
        bar.end()
        return fail(str(exc))
    bar.end()
    print(f"copied {rows.get('accounts', 0)} account(s), {rows.get('mailboxes', 0)} mailbox(es), "
          f"{rows.get('messages', 0)} message(s), {rows.get('queue', 0)} queue entr(y/ies)")
    return EXIT_OK
