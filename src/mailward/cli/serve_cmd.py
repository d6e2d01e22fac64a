"""``mailward serve``: run the server in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import pwd
import signal
import socket
import sys
from typing import Any

from mailward.auth.accounts import server_salt_key
from mailward.auth.throttle import Throttle
from mailward.cli.common import EXIT_OK, EXIT_PROBLEMS, add_config_argument, check_config
from mailward.cli.store_cmd import secret_resolver
from mailward.config import Config, ConfigError, ListenerSettings, LoadedConfig, Severity, load
from mailward.server import logs, pidfile
from mailward.server.app import ReloadReport, Server, TlsFactory
from mailward.server.counts import Counts, SharedCounts
from mailward.server.logs import setup_logging
from mailward.server.preflight import secret_source, tls_prefix
from mailward.server.privileges import drop_to
from mailward.server.registry import protocol_rules, protocols
from mailward.server.runtime_check import warn_runtime
from mailward.server.services import StartupError, open_service_store, open_services
from mailward.server.sockets import BindError, bind
from mailward.server.trace import TRACE  # noqa: F401 - registers the level name for log_level
from mailward.server.workers import Supervisor, WorkerContext
from mailward.store.factory import sqlite_directory
from mailward.store.interface import StoreUnavailable
from mailward.store.sqlite.backend import lock_store
from mailward.store.sqlite.peers import PeerFeed, PeerLinks
from mailward.tls.context import ServerContextSource
from mailward.tls.native_probe import log_features
from mailward.tls.source import source_for_listener

log = logging.getLogger("mailward.server")

# how often certificate and key files are checked for changes on disk
CERTIFICATE_POLL_SECONDS = 5.0
LOGIN_PRUNE_SECONDS = 60


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
    checked = check_config(args.config, extra=(warn_runtime,))
    loaded = checked.loaded
    if loaded is None:  # no logging set up from a config that failed: every problem on stderr
        for problem in checked.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    config = loaded.config
    setup_logging(config.log_level, log_file=config.log_file, syslog=config.syslog)
    log_features()  # probed by the checks above, before any worker forks: they inherit it
    for problem in checked.problems:
        (log.error if problem.severity is Severity.ERROR else log.warning)("%s", problem)
    if checked.errors:
        return EXIT_PROBLEMS
    sockets: dict[str, socket.socket] = {}
    try:
        for index, listener in enumerate(config.listener):
            sockets[listener.name] = bind(listener.bind, f"listener[{index}].address")
    except BindError as exc:
        log.error("%s", loaded.locate(exc.problem))
        for sock in sockets.values():
            sock.close()
        return EXIT_PROBLEMS
    record = pidfile.write(config.data_dir)  # for `mailward reload`, `stop` and `config check`
    try:
        return _run_bound(loaded, sockets, args.config)
    finally:
        pidfile.remove(record)


def _run_bound(loaded: LoadedConfig, sockets: dict[str, socket.socket], config_path: str) -> int:
    config = loaded.config
    if config.user:  # drop_to imports everything the server will need first
        entry = pwd.getpwnam(config.user)
        logs.give_log_file(config.log_file, entry.pw_uid, entry.pw_gid)
        drop_to(config.user)
    salt_key = server_salt_key(config)  # once: every worker hands out the same salts
    _tune_gc()
    # The stdlib event loop, not uvloop: uvloop's server-side start_tls loses the
    # handshake now and then (about half the runs here; uvloop issue #707), and every
    # TLS connection, implicit or STARTTLS, goes through start_tls.
    count = config.worker_count
    if count == 1:
        return asyncio.run(serve(loaded, sockets, config_path, tls_factory(config), salt_key))
    return _serve_workers(loaded, sockets, config_path, count, salt_key)


# Collect the youngest generation after this many new container objects, not 700: a
# message makes thousands (coroutines, futures, small records), nearly all freed by
# reference counting, and frequent collections cost about 6% of the CPU per message.
GC_THRESHOLD = 20_000


def _tune_gc() -> None:
    """Move everything built at start-up (modules, config, TLS contexts) out of the
    collector's sight for good, and collect young objects less often. Done before the
    workers fork, so that collections in them leave the shared start-up pages alone."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, middle, old)


def _serve_workers(loaded: LoadedConfig, sockets: dict[str, socket.socket], config_path: str,
                   count: int, salt_key: bytes) -> int:
    """Several worker processes (see :mod:`mailward.server.workers`): the store is locked
    and migrated once, here, before they start."""
    config = loaded.config
    lock_fd = -1
    try:
        try:
            if config.store.backend == "sqlite":
                lock_fd = lock_store(sqlite_directory(config.data_dir))
        except StoreUnavailable as exc:
            log.error("%s: store: %s", loaded.file, exc)
            return EXIT_PROBLEMS
        if not asyncio.run(_store_opens(loaded)):
            return EXIT_PROBLEMS
        capacity = sum(listener.limits.max_connections for listener in config.listener) or 1
        counts = SharedCounts(max(len(config.listener), 1), capacity, workers=count)
        factory = tls_factory(config)
        # PostgreSQL's LISTEN/NOTIFY reaches every worker; the embedded store needs these
        links = PeerLinks(count) if config.store.backend == "sqlite" else None

        def work(worker: WorkerContext) -> int:
            setup_logging(config.log_level, worker.index + 1, log_file=config.log_file, syslog=config.syslog)
            mine = counts.for_worker(worker.index)
            peers = links.for_worker(worker.index) if links is not None else None
            return asyncio.run(serve(loaded, sockets, config_path, factory, salt_key, worker, mine, peers))

        log.info("starting %d worker processes", count)
        try:
            with counts:
                return Supervisor(count, work, counts.forget_worker).run()
        finally:
            if links is not None:
                links.close()
    finally:
        for sock in sockets.values():
            sock.close()
        if lock_fd >= 0:
            os.close(lock_fd)


async def _store_opens(loaded: LoadedConfig) -> bool:
    """Open the store once (migrating it), and close it: the workers open their own and
    build the services on it."""
    try:
        store = await open_service_store(loaded.config, secret_resolver(loaded.config), exclusive=False)
    except StartupError as exc:
        log.error("%s: %s", loaded.file, exc)
        return False
    await store.close()
    return True


def tls_factory(config: Config) -> TlsFactory:
    """Builds each listener's TLS context source, naming its settings' key path in problems."""
    secrets = secret_source(config)
    numbered = {listener.name: (i, listener) for i, listener in config.numbered_listeners()}

    def build(settings: ListenerSettings) -> ServerContextSource:
        return source_for_listener(
            settings,
            key_prefix=tls_prefix(config, *numbered[settings.name]) if settings.name in numbered else None,
            hostname=config.server_name,
            resolve_secret=secrets.resolve,
        )

    return build


async def serve(
    loaded: LoadedConfig,
    sockets: dict[str, socket.socket],
    config_path: str,
    factory: TlsFactory,
    salt_key: bytes,
    worker: WorkerContext | None = None,
    counts: Counts | None = None,
    peers: PeerFeed | None = None,
) -> int:
    """The server in this process: all of it, or one ``worker`` of several."""
    # opened after privileges were dropped, so that the files it creates are the service user's
    try:
        # a worker's store was migrated by the supervisor; not migrating again lets a worker
        # started while the store is not writable start, and take mail once it is again
        services = await open_services(loaded.config, salt_key, secret_resolver(loaded.config),
                                       exclusive=worker is None, peers=peers, migrate=worker is None)
    except StartupError as exc:
        log.error("%s: %s", loaded.file, exc)
        for sock in sockets.values():
            sock.close()
        return EXIT_PROBLEMS
    server = Server(loaded, protocols(), factory, services, counts)
    pruner = None
    if worker is None or worker.index == 0:  # one process prunes for all
        pruner = asyncio.get_running_loop().create_task(_prune_login_counters(services.auth.throttle))
    try:
        return await _run_server(loaded, sockets, config_path, server, worker)
    finally:
        if pruner is not None:
            pruner.cancel()
        await services.store.close()


async def _run_server(
    loaded: LoadedConfig,
    sockets: dict[str, socket.socket],
    config_path: str,
    server: Server,
    worker: WorkerContext | None,
) -> int:
    try:
        # the workers all listen on the sockets bound before they forked: one says so
        await server.start(sockets, announce=worker is None or worker.index == 0)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("%s", loaded.locate(problem))
        return EXIT_PROBLEMS
    stop = asyncio.Event()

    def on_stop() -> None:
        if stop.is_set():
            log.warning("second stop signal: closing every connection now")
            server.hurry()
        stop.set()

    def on_reload() -> None:
        logs.reopen()  # logrotate moved the file: the lines from here on go to the new one
        new = _reread(config_path)
        if new is not None:
            _log_report(server.reload(new))

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop)
    loop.add_signal_handler(signal.SIGHUP, on_reload)
    poller = loop.create_task(_poll_certificates(server))
    if worker is None:
        log.info("mailward started (pid %d)", os.getpid())
    else:
        def on_supervisor_gone() -> None:
            loop.remove_reader(worker.parent_fd)
            log.error("worker %d: the supervisor process is gone; stopping", worker.index)
            stop.set()

        loop.add_reader(worker.parent_fd, on_supervisor_gone)
        worker.ready()
        log.info("mailward started (pid %d, worker %d of %d)", os.getpid(), worker.index + 1, worker.count)
    await stop.wait()
    poller.cancel()
    await server.stop()
    return EXIT_OK


def _reread(config_path: str) -> LoadedConfig | None:
    try:
        return load(config_path, protocol_rules())
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("reload: %s", problem)
        log.error("reload: configuration not applied; still running the previous one")
        return None


def _log_report(report: ReloadReport) -> None:
    for problem in report.problems:
        log.error("reload: %s: previous TLS settings stay in use", problem)
    for problem in report.warnings:
        log.warning("reload: %s", problem)
    log.info("reload: applied: %s", ", ".join(report.applied) or "nothing changed")
    if report.needs_restart:
        log.warning("reload: needs a restart: %s", "; ".join(report.needs_restart))


async def _prune_login_counters(throttle: Throttle) -> None:
    """Forget failed-login counters whose window or block is over; one-off failures from
    many addresses would otherwise pile up in the store. Any node may do it: pruning
    re-checks each counter under its lock."""
    while True:
        await asyncio.sleep(LOGIN_PRUNE_SECONDS)
        try:
            pruned = await throttle.prune()
        except Exception:
            log.exception("pruning login counters failed; trying again in %ds", LOGIN_PRUNE_SECONDS)
        else:
            if pruned:
                log.debug("forgot %d expired login counter(s)", pruned)


async def _poll_certificates(server: Server) -> None:
    while True:
        await asyncio.sleep(CERTIFICATE_POLL_SECONDS)
        report = server.poll_certificates()
        if report.applied or report.problems:
            _log_report(report)
