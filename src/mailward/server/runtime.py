"""The server's life in a process: bind, drop privileges, run one process or a supervisor
and its workers, handle signals, and run the background jobs.

``mailward serve`` checks the configuration, sets up logging and calls :func:`run`;
everything about processes and signals is here. Background jobs are one registry
(:data:`JOBS`): each has a name, an interval, whether one process runs it for the
whole server or every worker does, a log line when a pass fails, and a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pwd
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from mailward.auth.accounts import server_salt_key
from mailward.config import Config, ConfigError, ListenerSettings, LoadedConfig, load
from mailward.server import logs, pidfile
from mailward.server.app import ReloadReport, Server, TlsFactory
from mailward.server.counts import Counts, SharedCounts
from mailward.server.logs import setup_logging
from mailward.server.loop import LoopFactory, loop_factory
from mailward.server.loop import run as run_on
from mailward.server.memory import MemoryReleaser, allocator, trim_free_memory
from mailward.server.preflight import secret_source, tls_prefix
from mailward.server.privileges import drop_to
from mailward.server.registry import protocol_rules, protocols
from mailward.server.services import StartupError, open_service_store, open_services, secret_resolver
from mailward.server.sockets import BindError, bind
from mailward.server.workers import Supervisor, WorkerContext
from mailward.store.factory import PeerFeed, ServerHold
from mailward.store.indexing import index_pass
from mailward.store.interface import StoreUnavailable
from mailward.tls.context import ServerContextSource
from mailward.tls.source import source_for_listener

log = logging.getLogger("mailward.server")

EXIT_OK = 0
EXIT_PROBLEMS = 1

# how often certificate and key files are checked for changes on disk
CERTIFICATE_POLL_SECONDS = 5.0
LOGIN_PRUNE_SECONDS = 60.0
# how often a worker looks whether enough connections ended to give memory back
MEMORY_RELEASE_SECONDS = 5.0
# how often a process checks that no change notification was lost (store.check_feed):
# an IDLE session then hears of a change at most this late even when its event is gone
FEED_CHECK_SECONDS = 5.0
# how often the text indexer runs a pass (see mailward.store.indexing)
TEXT_INDEX_SECONDS = 1.0


def run(loaded: LoadedConfig, config_path: str) -> int:
    """Serve ``loaded`` (checked already) until a stop signal; the exit status."""
    config = loaded.config
    log.info("memory: Python objects allocated by %s", allocator())
    sockets: dict[str, socket.socket] = {}
    try:
        for index, listener in config.numbered_listeners():
            sockets[listener.name] = bind(listener.bind, f"listener[{index}].address")
    except BindError as exc:
        log.error("%s", loaded.locate(exc.problem))
        for sock in sockets.values():
            sock.close()
        return EXIT_PROBLEMS
    record = pidfile.write(config.data_dir)  # for `mailward reload`, `stop` and `config check`
    try:
        return _run_bound(loaded, sockets, config_path)
    finally:
        pidfile.remove(record)


def _run_bound(loaded: LoadedConfig, sockets: dict[str, socket.socket], config_path: str) -> int:
    config = loaded.config
    factory = loop_factory(config.event_loop)  # config check made sure it imports
    if config.user:  # drop_to imports everything the server will need first
        entry = pwd.getpwnam(config.user)
        logs.give_log_file(config.log_file, entry.pw_uid, entry.pw_gid)
        drop_to(config.user)
    salt_key = server_salt_key(config)  # once: every worker hands out the same salts
    _tune_gc()
    count = config.worker_count
    if count == 1:
        return run_on(serve(loaded, sockets, config_path, tls_factory(config), salt_key), factory)
    return _serve_workers(loaded, sockets, config_path, count, salt_key, factory)


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
    trim_free_memory()  # pages free now are not shared with the workers: a worker's use of one is its own
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, middle, old)


def _serve_workers(loaded: LoadedConfig, sockets: dict[str, socket.socket], config_path: str,
                   count: int, salt_key: bytes, factory: LoopFactory | None) -> int:
    """Several worker processes (see :mod:`mailward.server.workers`): the store is locked
    and migrated once, here, before they start."""
    config = loaded.config
    try:
        try:
            hold = ServerHold(config.store, config.data_dir, count)
        except StoreUnavailable as exc:
            log.error("%s: store: %s", loaded.file, exc)
            return EXIT_PROBLEMS
        try:
            if not asyncio.run(_store_opens(loaded)):
                return EXIT_PROBLEMS
            # an entry per client address and per logged-in user, each for an open connection
            capacity = 2 * sum(listener.limits.max_connections for listener in config.listener) or 1
            counts = SharedCounts(max(len(config.listener), 1), capacity, workers=count)
            tls = tls_factory(config)

            def work(worker: WorkerContext) -> int:
                setup_logging(config.log_level, worker.index + 1, log_file=config.log_file,
                              syslog=config.syslog)
                mine, peers = counts.for_worker(worker.index), hold.feed_for(worker.index)
                main = serve(loaded, sockets, config_path, tls, salt_key, worker, mine, peers)
                return run_on(main, factory)

            log.info("starting %d worker processes", count)
            with counts:
                return Supervisor(count, work, counts.forget_worker).run()
        finally:
            hold.close()
    finally:
        for sock in sockets.values():
            sock.close()


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
    try:
        return await _run_server(loaded, sockets, config_path, server, worker)
    finally:
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
    jobs = BackgroundJobs(server, first_process=worker is None or worker.index == 0)
    jobs.start()
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
    await jobs.stop()
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


# --- background jobs -------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A background job: ``run`` once every ``interval`` seconds. ``everywhere``: every
    worker runs it (it looks after that process's own state); otherwise one process
    runs it for the whole server (the first worker, or the only process)."""

    name: str
    interval: float
    run: Callable[[Server], Awaitable[None]]
    everywhere: bool = False


async def _prune_login_counters(server: Server) -> None:
    """Forget failed-login counters whose window or block is over; one-off failures from
    many addresses would otherwise pile up in the store. Any node may do it: pruning
    re-checks each counter under its lock."""
    assert server.services is not None
    pruned = await server.services.auth.throttle.prune()
    if pruned:
        log.debug("forgot %d expired login counter(s)", pruned)


async def _poll_certificates(server: Server) -> None:
    """Certificate and key files changed on disk (a renewal): every process reloads its own."""
    report = server.poll_certificates()
    if report.applied or report.problems:
        _log_report(report)


_releaser = MemoryReleaser()  # each worker's own, after the fork


async def _release_memory(server: Server) -> None:
    """Connections have ended: give back what they held (see :mod:`mailward.server.memory`)."""
    ended = sum(listener.ended for listener in server.listeners.values())
    if _releaser.due(ended, server.open_connections):
        for listener in server.listeners.values():
            listener.compact()
        if isinstance(server.counts, SharedCounts):
            server.counts.release_pages()
        found = _releaser.release(ended)
        log.debug("memory released after %d connection(s) ended (%d unreachable objects)", ended, found)


async def _check_feed(server: Server) -> None:
    """Change events lost on the way (a NOTIFY from a node that died after its commit, a
    datagram between workers): this process's subscribers re-read (see Store.check_feed)."""
    assert server.services is not None
    behind = await server.services.store.check_feed()
    if behind:
        log.info("change feed: %d mailbox(es) had changes without an event; their sessions re-read",
                 behind)


async def _index_text(server: Server) -> None:
    """Index the searchable text of newly stored messages (see mailward.store.indexing):
    delivery never waits for it, and while this process serves clients it takes at
    most a twentieth of the time."""
    assert server.services is not None
    done = await index_pass(server.services.store, busy=lambda: server.open_connections > 0)
    if done:
        log.debug("text indexer: %d message(s) indexed", done)


JOBS: tuple[Job, ...] = (
    Job("login-counters", LOGIN_PRUNE_SECONDS, _prune_login_counters),
    Job("certificates", CERTIFICATE_POLL_SECONDS, _poll_certificates, everywhere=True),
    Job("memory", MEMORY_RELEASE_SECONDS, _release_memory, everywhere=True),
    Job("feed-backstop", FEED_CHECK_SECONDS, _check_feed, everywhere=True),
    Job("text-indexer", TEXT_INDEX_SECONDS, _index_text),
)


class BackgroundJobs:
    """The jobs of one process, each in a task of its own; a failing pass is logged and
    the job goes on at its next interval."""

    def __init__(self, server: Server, *, first_process: bool) -> None:
        self._server = server
        self._first = first_process
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, jobs: Iterable[Job] = JOBS) -> None:
        loop = asyncio.get_running_loop()
        for job in jobs:
            if job.everywhere or self._first:
                self._tasks.append(loop.create_task(self._every(job), name=f"mailward-job-{job.name}"))

    async def _every(self, job: Job) -> None:
        while True:
            await asyncio.sleep(job.interval)
            try:
                await job.run(self._server)
            except Exception:
                log.exception("background job %s failed; again in %.0f s", job.name, job.interval)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


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


