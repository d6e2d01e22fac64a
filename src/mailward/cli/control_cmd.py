"""``mailward reload`` and ``mailward stop``: signal the server running from the
configuration's data directory (its pid file, :mod:`mailward.server.pidfile`)."""

from __future__ import annotations

import argparse
import os
import signal
import time
from typing import Any

from mailward.cli.common import EXIT_OK, add_config_argument, fail, load_config
from mailward.server import pidfile

STOP_WAIT = 60.0  # seconds `stop` waits; shutdown_grace is 30 by default


def register(subparsers: Any) -> None:
    reload = subparsers.add_parser(
        "reload", help="re-read the configuration and certificates of the running server (SIGHUP)",
        description="Send SIGHUP to the running server. Run `mailward config check` first: "
                    "a configuration with errors is not applied, and the server's log says why.",
    )
    add_config_argument(reload)
    reload.set_defaults(func=cmd_reload)
    stop = subparsers.add_parser(
        "stop", help="stop the running server (SIGTERM) and wait until it has",
        description="Send SIGTERM to the running server and wait for it to finish its "
                    "connections (up to shutdown_grace) and exit.",
    )
    add_config_argument(stop)
    stop.add_argument("--no-wait", action="store_true", help="send the signal and return")
    stop.set_defaults(func=cmd_stop)


def _server(args: argparse.Namespace) -> tuple[int | None, str]:
    data_dir = load_config(args).config.data_dir
    return pidfile.running(data_dir), str(pidfile.path_in(data_dir))


def cmd_reload(args: argparse.Namespace) -> int:
    pid, where = _server(args)
    if pid is None:
        return fail(f"no server is running from this configuration ({where}): start it with mailward serve")
    os.kill(pid, signal.SIGHUP)
    print(f"sent SIGHUP to the server (pid {pid}); its log says what was applied")
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    pid, where = _server(args)
    if pid is None:
        return fail(f"no server is running from this configuration ({where})")
    os.kill(pid, signal.SIGTERM)
    if args.no_wait:
        print(f"sent SIGTERM to the server (pid {pid})")
        return EXIT_OK
    deadline = time.monotonic() + STOP_WAIT
    while pidfile.is_server(pid):
        if time.monotonic() > deadline:
            return fail(f"the server (pid {pid}) is still stopping after {STOP_WAIT:.0f} s; see its log")
        time.sleep(0.1)
    print(f"the server (pid {pid}) stopped")
    return EXIT_OK
