"""``mailward mailbox import|export``: moving mail in from Dovecot, Mercury or mbox, and out.

The command parses arguments and draws progress; the work is in
:mod:`mailward.admin.mailbox_import` and :mod:`mailward.admin.mailbox_export`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from mailward.admin.mailbox_export import export_maildir, export_mbox
from mailward.admin.mailbox_import import TransferError, import_maildir, import_mbox
from mailward.auth.accounts import AccountService
from mailward.cli.common import EXIT_OK, print_usage
from mailward.cli.service import CommandFailed, add_command, with_service
from mailward.config import Config

LINE_EVERY = 1000  # plain progress: a line every this many messages ...
LINE_SECONDS = 10.0  # ... or this many seconds, whichever comes first


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("mailbox", help="mailboxes: import from Maildir or mbox, export",
                                   description="Move a user's mail in from a Maildir (Dovecot) or an mbox "
                                   "file, or out to either.")
    commands = parser.add_subparsers(title="mailbox commands", metavar="COMMAND")
    parser.set_defaults(func=lambda _args: print_usage(parser))

    imp = add_command(commands, "import", "import a Maildir tree or an mbox file into a user's mailboxes "
                      "(again: adds only what is new)", cmd_import, "user")
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("--maildir", type=Path, metavar="DIR", help="the top of a Maildir (its INBOX)")
    source.add_argument("--mbox", type=Path, metavar="FILE", help="an mbox file")
    imp.add_argument("--into", metavar="MAILBOX", default=None,
                     help="put the mail here (and the folders below it) instead of INBOX")

    exp = add_command(commands, "export", "write a user's mailboxes as a Maildir tree, or one as an "
                      "mbox file", cmd_export, "user")
    target = exp.add_mutually_exclusive_group(required=True)
    target.add_argument("--maildir", type=Path, metavar="DIR", help="a new or empty directory")
    target.add_argument("--mbox", type=Path, metavar="FILE", help="a new file")
    exp.add_argument("--mailbox", metavar="NAME", default=None,
                     help="only this mailbox (Maildir: at the top; mbox: default INBOX)")


class LineProgress:
    """Not a terminal: one plain line every :data:`LINE_EVERY` messages or
    :data:`LINE_SECONDS` seconds, and one at the end."""

    def __init__(self, verb: str, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.verb, self.stream, self.clock = verb, stream, clock
        self.total, self.unit = 0, "messages"
        self.shown, self.since = 0, clock()
        self.done, self.mailbox = 0, ""
        self.started = False

    def start(self, total: int, unit: str) -> None:
        self.total, self.unit, self.started = total, unit, True

    def update(self, done: int, mailbox: str) -> None:
        self.done, self.mailbox = done, mailbox
        many = self.unit == "messages" and done - self.shown >= LINE_EVERY
        if many or self.clock() - self.since >= LINE_SECONDS:
            self._line()

    def _line(self) -> None:
        self.shown, self.since = self.done, self.clock()
        if self.unit == "bytes":
            amount = f"{self.done >> 20} of {self.total >> 20} MiB"
        else:
            amount = f"{self.done} of {self.total} messages"
        print(f"{self.verb}: {amount} ({self.mailbox})", file=self.stream, flush=True)

    def close(self) -> None:
        if self.started and (self.done != self.shown or not self.total):
            self._line()


class BarProgress:
    """On a terminal: a progress bar (rich) on stderr."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True))
        self.task: TaskID | None = None

    def start(self, total: int, unit: str) -> None:
        self.bar.start()
        self.task = self.bar.add_task(f"{self.verb} {unit}", total=total)

    def update(self, done: int, mailbox: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=done, description=f"{self.verb} {mailbox}")

    def close(self) -> None:
        self.bar.stop()


def _progress(verb: str) -> LineProgress | BarProgress:
    return BarProgress(verb) if sys.stderr.isatty() else LineProgress(verb, sys.stderr)


def _problems(problems: list[str]) -> None:
    for problem in problems:
        print(f"mailward: warning: {problem}", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> int:
    progress = _progress("importing")

    async def call(service: AccountService, _config: Config) -> Any:
        try:
            if args.maildir is not None:
                return await import_maildir(service, args.user, args.maildir, into=args.into,
                                            progress=progress)
            return await import_mbox(service, args.user, args.mbox, into=args.into, progress=progress)
        except TransferError as exc:
            raise CommandFailed(str(exc)) from None
        finally:
            progress.close()

    report = with_service(args, call)
    _problems(report.problems)
    print(f"imported {report.added} message(s) into {len(report.mailboxes)} mailbox(es) "
          f"({report.created} created); {report.skipped} imported before, skipped")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    progress = _progress("exporting")

    async def call(service: AccountService, _config: Config) -> Any:
        try:
            if args.maildir is not None:
                return await export_maildir(service, args.user, args.maildir, mailbox=args.mailbox,
                                            progress=progress)
            return await export_mbox(service, args.user, args.mbox, mailbox=args.mailbox, progress=progress)
        except TransferError as exc:
            raise CommandFailed(str(exc)) from None
        finally:
            progress.close()

    report = with_service(args, call)
    _problems(report.problems)
    print(f"exported {report.messages} message(s) from {len(report.mailboxes)} mailbox(es)")
    return EXIT_OK
