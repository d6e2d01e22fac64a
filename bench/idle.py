"""Memory held by idle sessions, and by TLS handshakes that never finish.

Each case gets a fresh server directory (``mailward init --dev-ports``, listeners on
127.0.0.1 with ports the kernel picks, connection limits raised for the bench) and a
real ``mailward serve`` with the config's workers (default 0: one per core). Its
memory is the PSS (``/proc/PID/smaps_rollup``) summed over the supervisor and every
worker: shared pages are counted once between them.

Idle sessions (default): after a warm-up (a few sessions opened and closed, so that what
is allocated once is not counted per session), N sessions are opened and held in one
of three modes, and the PSS is taken before, while they are held, and after they are
closed and the server has dropped them:
- plain: the mx listener; the 220 greeting, EHLO and its reply, then silence;
- implicit: the submissions listener (implicit TLS); handshake, greeting, EHLO;
- starttls: the mx listener; greeting, EHLO, STARTTLS, handshake, EHLO again.
While they are held, a fresh client of the same mode times its greeting and its EHLO
answer (from connect, handshakes included). The sessions come from addresses spread over
127.1.0.0/16, 40 from each. The client keeps no TLS state once a session is open (the
SSLObject is dropped, the socket stays): the bench's own memory stays small, and the
server sees an idle client all the same.

``--flood N``: N connections to the implicit-TLS listener that send part of a
ClientHello (``--flood-bytes``, default half of one; 0: nothing) and never finish the
handshake. The PSS is taken before, while they are all held (accepted and read by the
server), and after they are closed (by the client, or with ``--flood-wait`` by the
server's handshake timeout) and the server has dropped every one of them. The flood is
repeated on the same server (``--flood-repeat``, default 2): memory a second flood does
not add to is kept for reuse; memory that grows with every flood is held, or is garbage
the cyclic collector has not reached yet. With
``--flood-collect`` every worker is then asked (through a sitecustomize the bench puts on
its PYTHONPATH) to run ``gc.collect()`` and then glibc's ``malloc_trim(0)``, with the PSS
taken after each: what goes then was garbage in reference cycles, or free memory glibc
kept; what stays is held. Besides the PSS, each worker's anonymous and shared-memory PSS
(``Pss_Anon`` + ``Pss_Shmem``) is printed: a worker's share of file pages moves with the
other processes on the machine that map the same libraries. ``--warm-up N`` sets how many
connections come before the 'before' figure (default 20); the 'after' figure waits for the
server to log the end of every connection, then ``--settle`` seconds.

``--server-src PATH`` runs a second server from another source tree with the same venv
(``PYTHONPATH=PATH/src``): "new" is this checkout, "old" is PATH. Rounds interleave the
two, the order rotated each round, and the summary gives medians, min-max and new/old.

    .venv/bin/python bench/idle.py [--sessions 1000] [--modes plain,implicit,starttls]
                                   [--rounds 3] [--server-src /work/wt-old]
    .venv/bin/python bench/idle.py --flood 2000 [--flood-bytes 0] [--flood-wait] [--flood-repeat 2]
                                   [--flood-collect] [--server-src ...]

Loopback only; every loop is bounded by a deadline; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOSTNAME = "localhost"
CONCURRENCY = 64  # sessions being opened at once
PER_IP = 40  # sessions from each source address (the default per-IP limit is 50)
WARM_UP = 20
PROBES = 5
OPEN_TIMEOUT = 60.0
MODES = ("plain", "implicit", "starttls")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def source_address(i: int) -> str:
    k = i // PER_IP
    return f"127.1.{k // 250}.{k % 250 + 1}"


# --- the server ----------------------------------------------------------------------


def mailward(*args: str) -> None:
    result = subprocess.run([PYTHON, "-m", "mailward.cli.main", *args], capture_output=True, text=True,
                            check=False, timeout=120)
    if result.returncode:
        raise SystemExit(f"mailward {' '.join(args)} failed:\n{result.stderr}")


def setup(base: Path, workers: int, log_level: str, limit: int) -> Path:
    """``mailward init`` in ``base``, then listeners on 127.0.0.1:0 and limits raised."""
    mailward("init", "--dir", str(base), "--dev-ports", "--hostname", HOSTNAME)
    config = base / "mailward.toml"
    text = config.read_text()
    text = re.sub(r'address = "0\.0\.0\.0:\d+"', 'address = "127.0.0.1:0"', text)
    text = re.sub(r"^hostname = .*$", lambda m: f'{m.group(0)}\nworkers = {workers}\n'
                  f'log_level = "{log_level}"', text, count=1, flags=re.MULTILINE)
    text = re.sub(r"^\[limits\]$", f"[limits]\nmax_connections = {limit}\nmax_connections_per_ip = {limit}",
                  text, count=1, flags=re.MULTILINE)
    config.write_text(text)
    return config


def server_env(src: Path, hooks: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # ahead of the venv's editable install of this checkout
    env["PYTHONPATH"] = f"{hooks}:{src}" if hooks else str(src)
    return env


# --flood-collect: a sitecustomize for the server's processes, so that the bench can ask
# each worker to collect its garbage (SIGUSR1) and glibc to give free memory back to the
# kernel (SIGUSR2); each writes a line to HOOKS/PID when done. A diagnosis, not a setting.
COLLECT_HOOKS = """\
import ctypes, gc, os, signal
_DONE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "{pid}")
def _done(what):
    with open(_DONE.format(pid=os.getpid()), "a") as f:
        f.write(what + "\\n")
def _collect(signum, frame):
    _done(f"gc.collect {gc.collect()}")
def _trim(signum, frame):
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    _done("malloc_trim")
signal.signal(signal.SIGUSR1, _collect)
signal.signal(signal.SIGUSR2, _trim)
"""


def code_path(src: Path) -> str:
    """Where the server started from ``src`` takes its connection code from."""
    result = subprocess.run([PYTHON, "-c", "import mailward.server.connection as c; print(c.__file__)"],
                            capture_output=True, text=True, check=True, env=server_env(src), timeout=60)
    return result.stdout.strip()


class Server:
    """``mailward serve`` from ``src``, ready once every worker logged that it started."""

    def __init__(self, config: Path, src: Path, hooks: Path | None = None) -> None:
        # the log goes to a file, as to journald: a pipe nobody reads would stall the server
        self.log = config.parent / "serve.log"
        self.hooks = hooks
        with self.log.open("w") as log:
            self.proc = subprocess.Popen([PYTHON, "-m", "mailward.cli.main", "serve", "-c", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=log, env=server_env(src, hooks),
                                         cwd=config.parent)
        self.ports: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            text = self.log.read_text()
            for name, port in re.findall(r"listening: (\S+) .* on 127\.0\.0\.1:(\d+)$", text, re.MULTILINE):
                self.ports.setdefault(name, int(port))
            workers = re.search(r"starting (\d+) worker processes", text)
            started = text.count("mailward started")
            if {"mx", "submissions"} <= self.ports.keys() and started >= (int(workers[1]) if workers else 1):
                return
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"mailward serve did not start:\n{self.log.read_text()[-3000:]}")

    def ends_logged(self, listener: str) -> int:
        """Connections on ``listener`` whose end the server has logged (one line each)."""
        text = self.log.read_text()
        return len(re.findall(rf" listener={re.escape(listener)} .* outcome=", text))

    def pids(self) -> list[int]:
        """The supervisor and its workers (its children)."""
        kids: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                kids += [int(p) for p in (task / "children").read_text().split()]
        return [self.proc.pid, *kids]

    def pss(self) -> tuple[int, list[int]]:
        """PSS in KiB: the sum, and each process's (supervisor first)."""
        each = [_pss_kib(pid) for pid in self.pids()]
        return sum(each), each

    def own(self) -> list[int]:
        """Each worker's anonymous and shared-memory PSS in KiB (see OWN_FIELDS)."""
        return [_pss_kib(pid, OWN_FIELDS) for pid in self.pids()[1:]]

    def ask_workers(self, sig: int) -> bool:
        """Send ``sig`` to every worker (see COLLECT_HOOKS); whether all answered in 30 s."""
        hooks = self.hooks
        assert hooks is not None
        workers = self.pids()[1:]

        def lines(pid: int) -> int:
            done = hooks / str(pid)
            return len(done.read_text().splitlines()) if done.exists() else 0

        want = {pid: lines(pid) + 1 for pid in workers}
        for pid in workers:
            os.kill(pid, sig)
        return wait_until(lambda: all(lines(pid) >= n for pid, n in want.items()), 30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        errors = [line for line in self.log.read_text().splitlines() if " ERROR " in line]
        if errors:
            print(f"server errors ({len(errors)}):\n" + "\n".join(errors[:5]), file=sys.stderr)


def _pss_kib(pid: int, fields: tuple[str, ...] = ("Pss:",)) -> int:
    total = 0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith(fields):
                total += int(line.split()[1])
    return total


# A process's share of file pages (libpython, libcrypto) shrinks as other processes on the
# machine map the same files, and grows as they go: on a shared machine the PSS of a
# worker that did nothing moves by a MiB or two. Its anonymous and shared-memory pages
# are its own (or its server's): what a flood leaves behind is there.
OWN_FIELDS = ("Pss_Anon:", "Pss_Shmem:")


@dataclass
class SocketCounts:
    open: int  # server-side sockets of the listener that still hold a process's attention
    unread: int  # of them, those with bytes the server has not read
    backlog: int  # connections waiting to be accepted


def socket_counts(port: int) -> SocketCounts:
    """The listener's sockets on 127.0.0.1:``port``, from /proc/net/tcp (LISTEN and
    TIME_WAIT are not connections a process holds)."""
    counts = SocketCounts(0, 0, 0)
    suffix = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if not fields[1].endswith(suffix):
                continue
            rx_queue = int(fields[4].split(":")[1], 16)
            if fields[3] == "0A":  # LISTEN: rx_queue is the accept queue
                counts.backlog += rx_queue
            elif fields[3] != "06":  # TIME_WAIT
                counts.open += 1
                counts.unread += rx_queue > 0
    return counts


def wait_until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


# --- the client ----------------------------------------------------------------------


class Client:
    """One SMTP client on a non-blocking socket, TLS over two MemoryBIOs when asked."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = b""
        self.tls: ssl.SSLObject | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()

    @classmethod
    async def connect(cls, port: int, source: str) -> Client:
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((source, 0))
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def _recv(self) -> bytes:
        data = await self.loop.sock_recv(self.sock, 65536)
        if not data:
            raise ConnectionError("closed by the server")
        return data

    async def _flush(self) -> None:
        if self.outgoing.pending:
            await self.loop.sock_sendall(self.sock, self.outgoing.read())

    async def handshake(self, context: ssl.SSLContext) -> None:
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=HOSTNAME)
        self.buffer = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                self.incoming.write(await self._recv())
        await self._flush()

    async def send(self, data: bytes) -> None:
        if self.tls is None:
            await self.loop.sock_sendall(self.sock, data)
            return
        self.tls.write(data)
        await self._flush()

    async def _more(self) -> None:
        if self.tls is None:
            self.buffer += await self._recv()
            return
        while True:
            try:
                self.buffer += self.tls.read(65536)
                return
            except ssl.SSLWantReadError:
                await self._flush()  # nothing, unless OpenSSL answers a KeyUpdate
                self.incoming.write(await self._recv())

    async def expect(self, code: bytes) -> None:
        """Read one whole reply, which must have ``code``."""
        while True:
            while b"\r\n" not in self.buffer:
                await self._more()
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if not line.startswith(code):
                raise RuntimeError(f"expected {code.decode()}, got {line[:80]!r}")
            if line[3:4] != b"-":
                return

    def hold(self) -> socket.socket:
        """Forget the TLS state, keep the connection."""
        self.tls = None
        return self.sock


async def open_session(mode: str, port: int, source: str, context: ssl.SSLContext) -> tuple[Client, float]:
    """A session in ``mode`` up to the answer to its (last) EHLO; and when the greeting came."""
    start = time.perf_counter()
    client = await Client.connect(port, source)
    try:
        if mode == "implicit":
            await client.handshake(context)
        await client.expect(b"220")
        greeting = time.perf_counter() - start
        await client.send(b"EHLO client.localhost\r\n")
        await client.expect(b"250")
        if mode == "starttls":
            await client.send(b"STARTTLS\r\n")
            await client.expect(b"220")
            await client.handshake(context)
            await client.send(b"EHLO client.localhost\r\n")
            await client.expect(b"250")
    except BaseException:
        client.sock.close()
        raise
    return client, greeting


async def open_many(count: int, first: int,
                    opener: Callable[[int], Awaitable[socket.socket]]) -> list[socket.socket]:
    """``count`` connections from ``opener(i)`` (a coroutine giving a socket), CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)
    held: list[socket.socket] = []

    async def one(i: int) -> None:
        async with gate, asyncio.timeout(OPEN_TIMEOUT):
            held.append(await opener(i))

    try:
        async with asyncio.TaskGroup() as group:
            for i in range(first, first + count):
                group.create_task(one(i))
    except BaseException:
        close_all(held)
        raise
    return held


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()
    socks.clear()


def tls_context(config: Path) -> ssl.SSLContext:
    """A client context that trusts the server's own self-signed certificate."""
    context = ssl.create_default_context(cafile=str(config.parent / "data" / "certs" / "server.crt"))
    context.check_hostname = True
    return context


# --- idle sessions -------------------------------------------------------------------


@dataclass
class IdleResult:
    before: int
    held: int
    after: int  # once they are closed and the server dropped them
    per_session: float  # KiB
    greeting_ms: float  # medians over the probes
    ehlo_ms: float
    ehlo_max_ms: float
    open_s: float


# Seconds to wait after the server dropped the connections before "after" is taken: a
# worker gives memory back in a background job every 5 s (mailward.server.memory).
SETTLE = 7.0
LOGGED_ENDS = True  # the server's log_level logs one line per connection (info or finer)


def drop_and_wait(server: Server, port: int, socks: list[socket.socket], ended: int,
                  seconds: float = 120) -> bool:
    """Close ``socks``, wait until the server has dropped them and (at log level info or
    finer) logged the end of ``ended`` connections on the listener in all, then ``SETTLE``
    seconds. The sockets close before a busy worker has run the end of every connection:
    on a loaded machine that took it more than 15 s after 3,750 of them."""
    close_all(socks)
    dropped = wait_until(lambda: socket_counts(port).open == 0, seconds)
    if LOGGED_ENDS:
        name = next(n for n, p in server.ports.items() if p == port)
        dropped &= wait_until(lambda: server.ends_logged(name) >= ended, seconds)
    time.sleep(SETTLE)
    return dropped


async def idle_case(server: Server, mode: str, sessions: int, context: ssl.SSLContext) -> IdleResult:
    port = server.ports["submissions" if mode == "implicit" else "mx"]

    async def opener(i: int) -> socket.socket:
        client, _ = await open_session(mode, port, source_address(i), context)
        return client.hold()

    # warm-up: what the first sessions allocate once (on every worker) is not per session
    warm = await open_many(WARM_UP, 0, opener)
    if not drop_and_wait(server, port, warm, WARM_UP):
        print("  warm-up sessions not dropped by the server within 120 s", file=sys.stderr)
    before, _ = server.pss()
    start = time.perf_counter()
    held = await open_many(sessions, 0, opener)
    open_s = time.perf_counter() - start
    try:
        held_pss, _ = server.pss()
        greetings, ehlos = [], []
        for _ in range(PROBES):
            probe_start = time.perf_counter()
            client, greeting = await open_session(mode, port, "127.0.0.1", context)
            ehlos.append(time.perf_counter() - probe_start)
            greetings.append(greeting)
            client.sock.close()
            await asyncio.sleep(0.05)
    finally:
        if not drop_and_wait(server, port, held, WARM_UP + sessions + PROBES):
            print(f"  {socket_counts(port).open} sessions not dropped by the server within 120 s",
                  file=sys.stderr)
    after, _ = server.pss()
    return IdleResult(before, held_pss, after, (held_pss - before) / sessions,
                      statistics.median(greetings) * 1000, statistics.median(ehlos) * 1000,
                      max(ehlos) * 1000, open_s)


# --- the flood of unfinished handshakes ----------------------------------------------


def partial_client_hello(size: int) -> bytes:
    """The first ``size`` bytes of a real ClientHello (-1: half of it)."""
    context = ssl.create_default_context()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_hostname=HOSTNAME)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    return hello[: len(hello) // 2 if size < 0 else size]


@dataclass
class FloodResult:
    before: tuple[int, list[int]]
    held: list[tuple[int, list[int]]]  # one per flood
    after: list[tuple[int, list[int]]]
    collected: list[tuple[int, int]]  # --flood-collect: after gc.collect, then after malloc_trim
    own_before: list[int]  # each worker's Pss_Anon + Pss_Shmem
    own_after: list[list[int]]  # one per flood
    held_ok: bool
    dropped_s: float  # the first flood's, from the held figure to the last one dropped


async def flood_case(server: Server, count: int, hello: bytes, wait_server: bool, repeat: int) -> FloodResult:
    """``repeat`` floods one after the other on the same server: memory that a second flood
    does not add to is kept for reuse (by the allocators), not leaked."""
    port = server.ports["submissions"]

    async def opener(i: int) -> socket.socket:
        client = await Client.connect(port, source_address(i))
        if hello:
            await client.send(hello)
        return client.hold()

    def all_taken() -> bool:  # every one accepted, and its bytes read by the server
        counts = socket_counts(port)
        return counts.open >= count and counts.backlog == 0 and counts.unread == 0

    warm = await open_many(WARM_UP, 0, opener)  # as for idle sessions: what is allocated once
    if not drop_and_wait(server, port, warm, WARM_UP):
        print("  warm-up connections not dropped by the server within 120 s", file=sys.stderr)
    result = FloodResult(server.pss(), [], [], [], server.own(), [], True, 0.0)
    for n in range(repeat):
        held = await open_many(count, 0, opener)
        result.held_ok &= wait_until(all_taken, 60)
        result.held.append(server.pss())
        start = time.monotonic()
        # with wait_server, the server's handshake timeout closes them; then the client lets go
        if wait_server and not wait_until(lambda held=held: _closed(held), 120):  # type: ignore[misc]
            print("  the server did not close every connection within 120 s", file=sys.stderr)
        if not drop_and_wait(server, port, held, WARM_UP + (n + 1) * count):
            print(f"  {socket_counts(port).open} connections not dropped by the server within 120 s",
                  file=sys.stderr)
        if n == 0:
            result.dropped_s = time.monotonic() - start
        result.after.append(server.pss())
        result.own_after.append(server.own())
        if server.hooks is not None:
            answered = server.ask_workers(signal.SIGUSR1)
            after_gc, _ = server.pss()
            answered &= server.ask_workers(signal.SIGUSR2)
            after_trim, _ = server.pss()
            if not answered:
                print("  a worker did not answer SIGUSR1/SIGUSR2 within 30 s", file=sys.stderr)
            result.collected.append((after_gc, after_trim))
    return result


def _closed(socks: list[socket.socket]) -> bool:
    """Whether the server ended every one of ``socks``: EOF, an error, or an alert (which
    comes just before the close)."""
    for sock in socks:
        try:
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            pass
    return True


# --- rounds and figures --------------------------------------------------------------


@contextlib.contextmanager
def fresh_server(src: Path, workers: int, log_level: str, limit: int,
                 collect: bool = False) -> Iterator[tuple[Server, Path]]:
    base = Path(tempfile.mkdtemp(prefix="mailward-idle-"))
    try:
        config = setup(base, workers, log_level, limit)
        hooks = None
        if collect:
            hooks = base / "hooks"
            hooks.mkdir()
            (hooks / "sitecustomize.py").write_text(COLLECT_HOOKS)
        server = Server(config, src, hooks)
        try:
            yield server, config
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def orders(labels: list[str], rounds: int) -> Iterator[tuple[int, list[str]]]:
    for r in range(rounds):
        shift = r % len(labels)
        yield r + 1, labels[shift:] + labels[:shift]


def run_idle(args: argparse.Namespace, sources: dict[str, Path]) -> None:
    modes = args.modes.split(",")
    results: dict[tuple[str, str], list[IdleResult]] = {}
    for r, order in orders(list(sources), args.rounds):
        for mode in modes:
            for label in order:
                with fresh_server(sources[label], args.workers, args.log_level, args.sessions * 2 + 1000) \
                        as (server, config):
                    res = asyncio.run(idle_case(server, mode, args.sessions, tls_context(config)))
                results.setdefault((mode, label), []).append(res)
                print(f"round {r} {label:<3} {mode:<8} {args.sessions} sessions: PSS before "
                      f"{res.before} KiB, held {res.held} KiB, after {res.after} KiB, "
                      f"{res.per_session:.1f} KiB per session; "
                      f"opened in {res.open_s:.1f} s; fresh client greeting {res.greeting_ms:.1f} ms, "
                      f"EHLO answer {res.ehlo_ms:.1f} ms (median of {PROBES}, max {res.ehlo_max_ms:.1f})",
                      flush=True)
    print(f"\nsummary, {args.sessions} idle sessions, median [min-max] over {args.rounds} rounds:")
    for mode in modes:
        for label in sources:
            rs = results[(mode, label)]
            print(f"  {mode:<8} {label:<3} per session {spread([x.per_session for x in rs])} KiB; "
                  f"held {spread([x.held / 1024 for x in rs])} MiB "
                  f"(before {spread([x.before / 1024 for x in rs])}, "
                  f"after {spread([x.after / 1024 for x in rs])}); "
                  f"fresh client EHLO answer {spread([x.ehlo_ms for x in rs])} ms "
                  f"(greeting {spread([x.greeting_ms for x in rs])} ms)")
        if len(sources) == 2:
            new = statistics.median(x.per_session for x in results[(mode, "new")])
            old = statistics.median(x.per_session for x in results[(mode, "old")])
            new_ms = statistics.median(x.ehlo_ms for x in results[(mode, "new")])
            old_ms = statistics.median(x.ehlo_ms for x in results[(mode, "old")])
            print(f"  {mode:<8} new/old per session {new / old:.2f}, "
                  f"fresh client EHLO answer {new_ms / old_ms:.2f}")


def run_flood(args: argparse.Namespace, sources: dict[str, Path]) -> None:
    hello = partial_client_hello(args.flood_bytes)
    how = "the server's handshake timeout" if args.flood_wait else "the client"
    print(f"flood: {args.flood} connections to the implicit-TLS listener, each sends {len(hello)} bytes "
          f"of a ClientHello and waits; closed by {how}")
    results: dict[str, list[FloodResult]] = {}
    for r, order in orders(list(sources), args.rounds):
        for label in order:
            limit = args.flood * 2 + 1000
            with fresh_server(sources[label], args.workers, args.log_level, limit, args.flood_collect) \
                    as (server, _):
                res = asyncio.run(flood_case(server, args.flood, hello, args.flood_wait, args.flood_repeat))
            results.setdefault(label, []).append(res)
            note = "" if res.held_ok else " (not all of them seen by the server!)"
            print(f"round {r} {label:<3} PSS KiB (all [supervisor, workers]) before {res.before[0]} "
                  f"{res.before[1]}, held {res.held[0][0]} {res.held[0][1]}{note}, after {res.after[0][0]} "
                  f"{res.after[0][1]} (dropped {res.dropped_s:.1f} s after the held figure); after/before "
                  f"{res.after[0][0] / res.before[0]:.3f}; "
                  f"{(res.held[0][0] - res.before[0]) / args.flood:.1f} KiB per connection held", flush=True)
            for n, own in enumerate(res.own_after, 1):
                print(f"        flood {n}: each worker's own memory (Pss_Anon+Pss_Shmem) before "
                      f"{res.own_before} KiB, after {own}: after/before "
                      f"{[round(a / b, 3) for a, b in zip(own, res.own_before, strict=False)]}", flush=True)
            for n, (held, after) in enumerate(zip(res.held[1:], res.after[1:], strict=True), 2):
                print(f"        flood {n} on the same server: held {held[0]} {held[1]}, after {after[0]} "
                      f"{after[1]}; after/before {after[0] / res.before[0]:.3f}", flush=True)
            for n, (after_gc, after_trim) in enumerate(res.collected, 1):
                print(f"        flood {n}, then in every worker gc.collect(): {after_gc} "
                      f"({after_gc / res.before[0]:.3f}), then malloc_trim(0): {after_trim} "
                      f"({after_trim / res.before[0]:.3f} of before)", flush=True)
    print(f"\nsummary, flood of {args.flood}, median [min-max] over {args.rounds} rounds "
          "(MiB, all processes):")
    for label in sources:
        rs = results[label]
        print(f"  {label:<3} before {spread([x.before[0] / 1024 for x in rs])}, held "
              f"{spread([x.held[0][0] / 1024 for x in rs])}, "
              f"after {spread([x.after[0][0] / 1024 for x in rs])}; "
              f"after/before {spread([x.after[0][0] / x.before[0] for x in rs], 3)}; per connection held "
              f"{spread([(x.held[0][0] - x.before[0]) / args.flood for x in rs])} KiB")
        for name, ratios in (("PSS", _worker_pss_ratios),
                             ("own memory (Pss_Anon+Pss_Shmem)", _worker_own_ratios)):
            first = [max(ratios(x, 0)) for x in rs]
            last = [max(ratios(x, -1)) for x in rs]
            print(f"      each worker's {name}, the larger after/before of the workers: after flood 1 "
                  f"{spread(first, 3)}, after flood {args.flood_repeat} {spread(last, 3)}")
        if args.flood_collect:
            print(f"      after flood {args.flood_repeat}, gc.collect() and malloc_trim(0): "
                  f"{spread([x.collected[-1][1] / 1024 for x in rs])}, "
                  f"after/before {spread([x.collected[-1][1] / x.before[0] for x in rs], 3)}")
        if args.flood_repeat > 1:
            print(f"      after flood {args.flood_repeat}: {spread([x.after[-1][0] / 1024 for x in rs])}, "
                  f"after/before {spread([x.after[-1][0] / x.before[0] for x in rs], 3)}")


def _worker_pss_ratios(result: FloodResult, flood: int) -> list[float]:
    return [a / b for a, b in zip(result.after[flood][1][1:], result.before[1][1:], strict=False)]


def _worker_own_ratios(result: FloodResult, flood: int) -> list[float]:
    return [a / b for a, b in zip(result.own_after[flood], result.own_before, strict=False)]


def main() -> None:
    global SETTLE, WARM_UP, LOGGED_ENDS  # noqa: PLW0603 - the settings of the whole run
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000, help="idle sessions held in each mode")
    parser.add_argument("--modes", default=",".join(MODES), help=f"some of {','.join(MODES)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-src", type=Path, metavar="PATH",
                        help='also run the server from the source tree PATH ("old"), interleaved')
    parser.add_argument("--flood", type=int, metavar="N", default=0,
                        help="instead: N TLS connections that never finish the handshake")
    parser.add_argument("--flood-bytes", type=int, default=-1,
                        help="bytes of a ClientHello each flood connection sends (-1: half; 0: none)")
    parser.add_argument("--flood-wait", action="store_true",
                        help="let the server's handshake timeout close the flood, not the client")
    parser.add_argument("--flood-repeat", type=int, default=2, metavar="K",
                        help="floods one after the other on each server (a leak grows with each)")
    parser.add_argument("--flood-collect", action="store_true",
                        help="after each flood, have every worker run gc.collect(), then malloc_trim(0) "
                             "(hooks in a sitecustomize), and take the PSS after each: garbage, "
                             "memory glibc keeps, or memory held")
    parser.add_argument("--settle", type=float, default=7.0,
                        help="seconds to wait after the server dropped the connections before the "
                        "'after' figure (its memory job runs every 5 s)")
    parser.add_argument("--warm-up", type=int, default=WARM_UP, metavar="N",
                        help="connections (of the case's own kind) opened and closed before the "
                        "'before' figure, so that what the first ones allocate once is not counted")
    parser.add_argument("--workers", type=int, default=0, help="the server's workers (0: one per core)")
    parser.add_argument("--log-level", default="info", help="the server's log_level (to a file)")
    args = parser.parse_args()
    SETTLE, WARM_UP = args.settle, args.warm_up
    LOGGED_ENDS = args.log_level.lower() in {"info", "debug", "trace"}
    if any(m not in MODES for m in args.modes.split(",")):
        parser.error(f"--modes: some of {','.join(MODES)}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it too
    need = max(args.sessions, args.flood) + 100
    if hard < need:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is below the {need} descriptors needed")
    sources = {"new": ROOT / "src"}
    if args.server_src:
        sources["old"] = args.server_src.resolve() / "src"
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"RLIMIT_NOFILE {soft} -> {hard}")
    for label, src in sources.items():
        print(f"server {label}: {code_path(src)}")
    print(f"warm-up {WARM_UP} connections, settle {SETTLE:.0f} s", flush=True)
    print(f"load average before: {load_average()}", flush=True)
    if args.flood:
        run_flood(args, sources)
    else:
        run_idle(args, sources)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
