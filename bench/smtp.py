"""End-to-end SMTP delivery rate: messages accepted, durable and counted in the store.

For each case a fresh data directory gets a real ``mailward serve`` (default embedded
store, one mx listener on 127.0.0.1) and one local user. A load generator sends N
messages, one per connection, from S sessions at once. The clock runs from the
generator's start to its exit: every message's 250 comes only after its bytes are
durable, so by then all N are stored. The server is then stopped and the messages
are counted in the user's INBOX, and the case counts only if all N are there.

Load generators:
- plain SMTP: Postfix's ``smtp-source`` (Debian package ``postfix``, C, one process
  for all sessions). ``smtp-sink``, Postfix's discard server, gives the generator's
  own ceiling on this machine (``--sink``).
- STARTTLS: ``smtp-source`` speaks no TLS, so a Python client (blocking sockets, a
  thread per session) runs in ``--client-procs`` processes. It shares the two cores
  with the server, so the STARTTLS figures are a lower bound.

    .venv/bin/python bench/smtp.py [--messages 2000] [--sessions 1,10,50] [--sizes 1024,102400]
                                   [--modes plain,starttls] [--sink] [--log-level warning]
    .venv/bin/python bench/smtp.py --memory 8 --messages 10000   # RSS as messages grow
    .venv/bin/python bench/smtp.py --event-loops asyncio,uvloop --rounds 3   # paired, rotated
    .venv/bin/python bench/smtp.py --server-src /work/wt-old/src --rounds 3  # another tree, paired

Modes: ``plain`` and ``starttls`` deliver messages; ``handshake`` counts STARTTLS
sessions that send no mail (connect, EHLO, STARTTLS, the TLS handshake, EHLO, QUIT):
``--messages`` of them, in handshakes/s. ``--server-src PATH`` runs each case also on a
server from another source tree (with this venv; PATH is the tree's ``src``), the two
interleaved with the order rotated, and prints the paired ratio of this tree to it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DOMAIN = "bench.example"
RCPT = f"user@{DOMAIN}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mailward(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([PYTHON, "-m", "mailward.cli.main", *args], input=stdin, capture_output=True,
                            text=True, check=False, timeout=120)
    if result.returncode:
        raise SystemExit(f"mailward {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


WORKERS = 0  # the config's workers (0: one per core, the default); --workers sets it
LOG_LEVEL = "warning"  # --log-level; the default config's is "info": two lines per message
EVENT_LOOP = "asyncio"  # the config's event_loop; --event-loops compares several
SERVER_SRC = ROOT / "src"  # the tree the server runs from; --server-src compares another
SERVER_ENV: dict[str, str] = {}  # more environment for the server; --env-variant compares


def setup(base: Path, port: int, tls: str) -> Path:
    mailward("init", "--dir", str(base), "--hostname", "mail.bench.example")
    config = base / "bench.toml"
    config.write_text(
        f'hostname = "mail.bench.example"\ndata_dir = "data"\nlog_level = "{LOG_LEVEL}"\n'
        f'workers = {WORKERS}\n'
        # an older tree may not know the setting: write it only when it is not the default
        + (f'event_loop = "{EVENT_LOOP}"\n' if EVENT_LOOP != "asyncio" else "") + "\n"
        f'[tls]\ncertificate = "certs/server.crt"\nkey = "certs/server.key"\n\n'
        f'[limits]\nmax_connections = 10000\nmax_connections_per_ip = 10000\n\n'
        f'[[listener]]\nname = "mx"\nprotocol = "smtp"\nrole = "mx"\naddress = "127.0.0.1:{port}"\n'
        f'tls = "{tls}"\n')
    mailward("domain", "add", DOMAIN, "-c", str(config))
    mailward("user", "add", RCPT, "--no-password", "-c", str(config))
    return config


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen[Any]) -> bool:
    """Whether something accepts on ``port`` within ``seconds`` (no longer once ``proc`` ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
    return False


class Server:
    def __init__(self, config: Path, port: int) -> None:
        # the log goes to a file, as to journald: a pipe nobody reads would stall the server
        self.log = config.parent / "serve.log"
        with self.log.open("w") as log:
            # PYTHONPATH goes ahead of the venv's editable install of this checkout
            env = {**os.environ, **SERVER_ENV, "PYTHONPATH": str(SERVER_SRC)}
            self.proc = subprocess.Popen([PYTHON, "-m", "mailward.cli.main", "serve", "-c", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=log, env=env)
        if wait_for_port(port, 30, self.proc):
            return
        self.stop()
        raise SystemExit("mailward serve did not start")

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
            print("server errors:\n" + "\n".join(errors[:10]), file=sys.stderr)


def count_stored(config: Path) -> int:
    out = mailward("user", "list", DOMAIN, "-c", str(config))
    for line in out.splitlines():
        if line.startswith(RCPT + "\t"):
            return int(line.split(", ")[-1].split(" message")[0])
    raise SystemExit(f"{RCPT} missing from `mailward user list`:\n{out}")


def smtp_source(port: int, messages: int, sessions: int, size: int) -> None:
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-M", "client.bench.example", "-f", "sender@client.bench.example", "-t", RCPT, f"127.0.0.1:{port}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode:
        raise SystemExit(f"smtp-source failed: {result.stderr}")


# --- a Python STARTTLS client (smtp-source has no TLS) ----------------------------------


def _expect(stream: Any, code: bytes) -> None:
    while True:
        line = stream.readline()
        if not line.startswith(code):
            raise RuntimeError(f"expected {code!r}, got {line!r}")
        if line[3:4] != b"-":
            return


def _one_tls_message(port: int, body: bytes | None, context: ssl.SSLContext) -> None:
    """One message over STARTTLS; ``body`` None: the session only, no message."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = raw.makefile("rb")
        _expect(stream, b"220")
        raw.sendall(b"EHLO client.bench.example\r\n")
        _expect(stream, b"250")
        raw.sendall(b"STARTTLS\r\n")
        _expect(stream, b"220")
        with context.wrap_socket(raw, server_hostname="mail.bench.example") as tls:
            stream = tls.makefile("rb")
            tls.sendall(b"EHLO client.bench.example\r\n")
            _expect(stream, b"250")
            if body is None:
                tls.sendall(b"QUIT\r\n")
                _expect(stream, b"221")
                return
            envelope = b"MAIL FROM:<sender@client.bench.example>\r\nRCPT TO:<" + RCPT.encode() + b">\r\n"
            tls.sendall(envelope + b"DATA\r\n")
            _expect(stream, b"250")
            _expect(stream, b"250")
            _expect(stream, b"354")
            tls.sendall(body + b".\r\n")
            _expect(stream, b"250")
            tls.sendall(b"QUIT\r\n")
            _expect(stream, b"221")


def _tls_worker(port: int, messages: int, sessions: int, size: int | None) -> None:
    """``sessions`` threads with blocking sockets, as most SMTP clients are written (the ssl
    module lets go of the GIL while it waits and while it does the handshake's
    cryptography)."""
    line = b"x" * 76 + b"\r\n"
    body = None if size is None else b"Subject: bench\r\n\r\n" + line * max(size // len(line), 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the bench's own self-signed certificate
    left = [messages]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def session() -> None:
        while True:
            with lock:
                if left[0] <= 0 or failures:
                    return
                left[0] -= 1
            try:
                _one_tls_message(port, body, context)
            except BaseException as exc:  # reported by the process's exit status
                failures.append(exc)
                return

    threads = [threading.Thread(target=session) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def tls_source(port: int, messages: int, sessions: int, size: int | None, procs: int) -> None:
    procs = max(1, min(procs, sessions))
    share = [messages // procs + (1 if i < messages % procs else 0) for i in range(procs)]
    per = [sessions // procs + (1 if i < sessions % procs else 0) for i in range(procs)]
    workers = [multiprocessing.Process(target=_tls_worker, args=(port, m, s, size))
               for m, s in zip(share, per, strict=True)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(1800)
        if w.exitcode != 0:
            raise SystemExit("the STARTTLS client failed")


def sink_ceiling(messages: int, sessions: int, size: int) -> float:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen(["smtp-sink", *user, "-c", f"127.0.0.1:{port}", "1000"],
                            stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, 10, sink)
        start = time.perf_counter()
        smtp_source(port, messages, sessions, size)
        return messages / (time.perf_counter() - start)
    finally:
        sink.terminate()
        sink.wait()


def run_case(mode: str, messages: int, sessions: int, size: int, procs: int) -> float:
    base = Path(tempfile.mkdtemp(prefix="mailward-bench-"))
    try:
        port = free_port()
        config = setup(base, port, "none" if mode == "plain" else "starttls")
        server = Server(config, port)
        try:
            start = time.perf_counter()
            if mode == "plain":
                smtp_source(port, messages, sessions, size)
            else:
                tls_source(port, messages, sessions, None if mode == "handshake" else size, procs)
            elapsed = time.perf_counter() - start
        finally:
            server.stop()
        stored = count_stored(config)
        if stored != (0 if mode == "handshake" else messages):
            raise SystemExit(f"{mode} {sessions} sessions {size} B: {stored} of {messages} messages stored")
        return messages / elapsed
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _server_pids(pid: int) -> list[int]:
    """The server process and its workers."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


def memory_growth(rounds: int, per_round: int, sessions: int, size: int) -> None:
    """Resident memory of each server process after each round of messages, on one server."""
    base = Path(tempfile.mkdtemp(prefix="mailward-bench-"))
    try:
        port = free_port()
        config = setup(base, port, "none")
        server = Server(config, port)
        try:
            time.sleep(2)  # every worker up
            print(f"memory     {'start':>6}            RSS KiB per process "
                  f"{' '.join(str(_rss_kib(p)) for p in _server_pids(server.proc.pid))}", flush=True)
            for done in range(1, rounds + 1):
                smtp_source(port, per_round, sessions, size)
                print(f"memory     {done * per_round:>6} messages  RSS KiB per process "
                      f"{' '.join(str(_rss_kib(p)) for p in _server_pids(server.proc.pid))}", flush=True)
        finally:
            server.stop()
        stored = count_stored(config)
        if stored != rounds * per_round:
            raise SystemExit(f"memory: {stored} of {rounds * per_round} messages stored")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", default="1,10,50")
    parser.add_argument("--sizes", default="1024,102400")
    parser.add_argument("--modes", default="plain,starttls")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--sink", action="store_true", help="also measure smtp-source against smtp-sink")
    parser.add_argument("--workers", type=int, default=0, help="the server's workers (0: one per core)")
    parser.add_argument("--log-level", default="warning",
                        help='the server\'s log_level (the default config\'s is "info"); '
                             "the log goes to a file")
    parser.add_argument("--event-loops", default="",
                        help="compare the server on these event loops (e.g. asyncio,uvloop): each "
                        "case runs on each loop in every round, the order rotated, and prints "
                        "medians, min-max and the ratio of the others to the first")
    parser.add_argument("--server-src", type=Path, metavar="PATH",
                        help="compare with a server run from another tree's src (e.g. an older "
                             "commit's worktree), interleaved and paired like --event-loops")
    parser.add_argument("--env-variant", metavar="NAME=VALUE", default="",
                        help="compare the server with and without NAME=VALUE in its environment "
                             "(e.g. PYTHONMALLOC=malloc), interleaved and paired like --event-loops")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of --event-loops, --server-src or --env-variant")
    parser.add_argument("--memory", type=int, metavar="ROUNDS", default=0,
                        help="instead: RSS of the server processes after each of ROUNDS rounds "
                             "of --messages 1 KiB messages from 50 sessions, on one server")
    args = parser.parse_args()
    global WORKERS, LOG_LEVEL  # settings of the whole run
    WORKERS, LOG_LEVEL = args.workers, args.log_level
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source is missing: apt-get install postfix (it need not run)")
    os.chdir(ROOT)
    if args.memory:
        memory_growth(args.memory, args.messages, 50, 1024)
        return
    if args.server_src:
        compare(args, [("other", "asyncio", args.server_src.resolve(), {}),
                       ("this", "asyncio", ROOT / "src", {})])
        return
    if args.env_variant:
        compare(args, [("as-is", "asyncio", ROOT / "src", {}),
                       (args.env_variant, "asyncio", ROOT / "src", dict([args.env_variant.split("=", 1)]))])
        return
    if args.event_loops:
        compare(args, [(loop, loop, ROOT / "src", {}) for loop in args.event_loops.split(",")])
        return
    for size in (int(s) for s in args.sizes.split(",")):
        for sessions in (int(s) for s in args.sessions.split(",")):
            if args.sink:
                rate = sink_ceiling(args.messages, sessions, size)
                print(f"smtp-sink  {size:>6} B  {sessions:>2} sessions  {rate:8.0f} msg/s "
                      "(generator ceiling)", flush=True)
            for mode in args.modes.split(","):
                # every size gets the full count: a short run of big messages (a quarter of
                # them, once) lasted about a second and measured mostly its own start
                rate = run_case(mode, args.messages, sessions, size, args.client_procs)
                print(f"{mode:<9}  {size:>6} B  {sessions:>2} sessions  {rate:8.0f} msg/s delivered "
                      f"({args.messages} messages)", flush=True)


Variant = tuple[str, str, Path, dict[str, str]]  # a name, the event loop, the tree, more environment


def compare(args: argparse.Namespace, variants: list[Variant]) -> None:
    """The same cases on each variant, interleaved: round r starts with variant r mod n;
    the ratios are of each variant to the first, round by round."""
    global EVENT_LOOP, SERVER_SRC, SERVER_ENV  # the settings of the run in progress
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for name, loop, src, _ in variants:  # that each server runs the tree it is said to
        found = subprocess.run([PYTHON, "-c", "import mailward.server.connection as c; print(c.__file__)"],
                               capture_output=True, text=True, check=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(src)}).stdout.strip()
        print(f"{name}: event loop {loop}, code from {found}", flush=True)
    names = [name for name, _, _, _ in variants]
    for size in (int(s) for s in args.sizes.split(",")):
        for sessions in (int(s) for s in args.sessions.split(",")):
            for mode in args.modes.split(","):
                rates: dict[str, list[float]] = {name: [] for name in names}
                for r in range(args.rounds):
                    for name, loop, src, env in variants[r % len(variants):] + variants[:r % len(variants)]:
                        EVENT_LOOP, SERVER_SRC, SERVER_ENV = loop, src, env
                        rates[name].append(run_case(mode, args.messages, sessions, size, args.client_procs))
                unit = "handshakes/s" if mode == "handshake" else "msg/s"
                for name in names:
                    ratio = [b / a for a, b in zip(rates[names[0]], rates[name], strict=True)]
                    print(f"{mode:<9} {size:>6} B {sessions:>2} sessions {name:<8} median "
                          f"{statistics.median(rates[name]):7.0f} {unit} (min {min(rates[name]):.0f}, max "
                          f"{max(rates[name]):.0f}); paired ratio to {names[0]}: median "
                          f"{statistics.median(ratio):.2f} (min {min(ratio):.2f}, max {max(ratio):.2f})",
                          flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
