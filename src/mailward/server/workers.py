"""Worker processes: several event loops serving the same listening sockets.

One Python process runs Python on one core at a time, so ``serve`` forks
``workers`` processes (one per core by default) after binding its ports and
dropping privileges. Each worker runs the whole server (every listener, its own
store connections, its own TLS contexts) on the inherited sockets; the kernel
hands each new connection to whichever worker accepts it first. The connection
limits are shared (:class:`~mailward.server.counts.SharedCounts`), the login
throttle and everything else lives in the store, which every worker opens.

The supervisor (the process that forked them) does nothing but watch:

- SIGTERM, SIGINT and SIGHUP are passed on to every worker, which stops or
  reloads as a single server would (a second stop signal closes connections at
  once). Workers run in their own process group, so a Ctrl-C in a terminal
  reaches the supervisor alone and each worker hears it once.
- A worker that dies while serving is replaced; one that fails before it was
  ready (the store cannot be opened, a TLS file went bad) stops the whole
  server with its exit status, since its replacement would fail the same way.
  Workers that keep dying (:data:`MAX_RESTARTS` in :data:`RESTART_WINDOW`
  seconds) stop it too.
- Each worker watches a pipe from the supervisor and stops when the
  supervisor is gone (killed with SIGKILL, say), so no orphan keeps the ports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("mailward.server")

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
EXIT_FAILED = 1
_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


@dataclass(frozen=True)
class WorkerContext:
    """What a worker is told: which one it is, and how to talk to the supervisor."""

    index: int
    count: int
    ready_fd: int  # write one byte here once serving
    parent_fd: int  # readable (EOF) when the supervisor is gone

    def ready(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, b"1")
            os.close(self.ready_fd)


@dataclass
class _Worker:
    index: int
    pid: int
    ready_fd: int
    ready: bool = False

    @property
    def number(self) -> int:
        """The worker's name in the log: numbered from 1, as its own log lines are."""
        return self.index + 1

    def check_ready(self) -> bool:
        if not self.ready:
            with contextlib.suppress(OSError):
                readable, _, _ = select.select([self.ready_fd], [], [], 0)
                self.ready = bool(readable) and os.read(self.ready_fd, 1) == b"1"
        return self.ready


class Supervisor:
    """Forks ``count`` workers that each run ``work(context)`` and return an exit status."""

    def __init__(self, count: int, work: Callable[[WorkerContext], int],
                 forget: Callable[[int], int] | None = None) -> None:
        """``forget(index)``: take a dead worker's share out of anything shared (its open
        connections from the counts), before another takes its place; returns how many."""
        self.count = count
        self.work = work
        self.forget = forget
        self.workers: dict[int, _Worker] = {}
        self.stopping = False
        self.status = 0
        self.restarts: deque[float] = deque()
        # the workers read EOF from this pipe once every copy of its write end is closed,
        # which happens when the supervisor exits, however it exits
        self._alive_r, self._alive_w = os.pipe()

    def run(self) -> int:
        if threading.active_count() > 1:
            log.warning("forking workers with %d threads running", threading.active_count())
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        try:
            for index in range(self.count):
                if self.stopping:  # told to stop while starting: the rest need not start
                    break
                self._spawn(index)
            while self.workers:
                self._reap()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._alive_w)
            os.close(self._alive_r)
        return self.status

    def _spawn(self, index: int) -> None:
        ready_r, ready_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        # no signal may run the supervisor's handler in the new process
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        pid = os.fork()
        if pid == 0:  # the worker
            code = EXIT_FAILED
            try:
                os.setpgid(0, 0)
                for sig in _SIGNALS:
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
                os.close(ready_r)
                os.close(self._alive_w)
                for other in self.workers.values():
                    os.close(other.ready_fd)
                code = self.work(WorkerContext(index, self.count, ready_w, self._alive_r))
            except BaseException:
                log.exception("worker %d failed", index + 1)
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also here: whichever runs first, it holds before any signal
        os.close(ready_w)
        self.workers[pid] = _Worker(index, pid, ready_r)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # a pending stop signal reaches it now

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _stop_all(self) -> None:
        self.stopping = True
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap(self) -> None:
        try:
            pid, wait_status = os.waitpid(-1, 0)  # PEP 475: signals run their handler and wait on
        except ChildProcessError:
            self.workers.clear()
            return
        worker = self.workers.pop(pid, None)
        if worker is None:
            return
        was_ready = worker.check_ready()
        os.close(worker.ready_fd)
        code = os.waitstatus_to_exitcode(wait_status)
        how = f"exit status {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        if self.stopping:
            # a worker told to stop before its own handlers were in place dies of the signal
            if code != 0 and code not in (-signal.SIGTERM, -signal.SIGINT):
                self.status = self.status or (code if code > 0 else EXIT_FAILED)
            return
        if not was_ready:
            log.error("worker %d (pid %d) failed while starting (%s): stopping", worker.number, pid, how)
            self.status = code if code > 0 else EXIT_FAILED
            self._stop_all()
            return
        now = time.monotonic()
        self.restarts.append(now)
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) > MAX_RESTARTS:
            log.error("workers ended %d times in %.0f s: stopping", len(self.restarts), RESTART_WINDOW)
            self.status = EXIT_FAILED
            self._stop_all()
            return
        dropped = self.forget(worker.index) if self.forget is not None else 0
        log.error("worker %d (pid %d) ended (%s) with %d connection(s) open; starting another",
                  worker.number, pid, how, dropped)
        self._spawn(worker.index)
