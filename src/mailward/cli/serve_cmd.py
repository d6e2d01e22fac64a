"""``mailward serve``: run the server in the foreground.

The command checks the configuration, sets up logging and hands over to
:mod:`mailward.server.runtime`, which owns processes, signals and background jobs."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from mailward.cli.common import EXIT_PROBLEMS, add_config_argument, check_config
from mailward.config import Severity
from mailward.server import memory, runtime
from mailward.server.logs import setup_logging
from mailward.server.rlimits import raise_open_files
from mailward.server.runtime_check import warn_runtime
from mailward.server.trace import TRACE  # noqa: F401 - registers the level name for log_level
from mailward.tls.native_probe import log_features

log = logging.getLogger("mailward.server")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the server in the foreground",
        description=(
            "Run every configured listener. SIGTERM or SIGINT stops accepting and lets open "
            "connections finish for shutdown_grace seconds (a second signal closes them at "
            "once); SIGHUP re-reads the configuration and the certificates."
        ),
    )
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    memory.use_system_allocator(getattr(args, "own_command_line", False))  # may start this process again
    files_before, files_now = raise_open_files()  # before anything opens a file
    checked = check_config(args.config, extra=(warn_runtime,))
    loaded = checked.loaded
    if loaded is None:  # no logging set up from a config that failed: every problem on stderr
        for problem in checked.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    config = loaded.config
    setup_logging(config.log_level, log_file=config.log_file, syslog=config.syslog)
    if files_now != files_before:
        log.info("open files: limit raised from %d to %d", files_before, files_now)
    else:
        log.info("open files: limit %d", files_now)
    log_features()  # probed by the checks above, before any worker forks: they inherit it
    for problem in checked.problems:
        (log.error if problem.severity is Severity.ERROR else log.warning)("%s", problem)
    if checked.errors:
        return EXIT_PROBLEMS
    return runtime.run(loaded, args.config)
