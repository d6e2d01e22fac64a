"""IMAP under a mixed client load: mailward against Dovecot, interleaved, plain and TLS.

Two servers run side by side for the whole run, each in a temp directory of its own:
- a real ``mailward serve`` (``mailward init`` for its certificate, the config's workers,
  default 0: one per core), listeners on 127.0.0.1: ``imap`` with ``tls = "none"`` and
  ``plaintext_login = "allow"``, ``imaps`` with implicit TLS;
- a private Dovecot (Debian's ``dovecot-imapd``: ``apt-get install -y dovecot-imapd``; the
  package's own service need not run) started as ``dovecot -F -c CONF`` with its own
  dovecot.conf, base_dir, state_dir, log file and Maildir under the temp dir, an imap and
  an imaps listener on 127.0.0.1, mailward's certificate and key, Dovecot's defaults
  otherwise (mail_fsync, the login processes' high-security mode).

Both have the same user and password, and the same argon2id hash parameters: Dovecot's
passwd-file gets an ``{ARGON2ID}`` hash made with mailward's profile (RFC 9106 low memory:
t=3, 64 MiB, p=4), so a LOGIN costs the same hashing on both. Before timing, the same
``--messages`` messages (2-20 KiB; plain text, text+HTML alternatives, some with a small
attachment) go into each INBOX through APPEND.

The load: ``--clients`` clients at once (threads in ``--client-procs`` processes, blocking
sockets, one command in flight each, synchronizing literals), ``--sessions`` sessions in
all per case. A session is LOGIN, SELECT INBOX, then ``--iterations`` times the mix:
  FETCH 50 (FLAGS ENVELOPE); FETCH 10 BODY.PEEK[HEADER]; FETCH 3 BODY.PEEK[] (whole
  messages); STORE 5 +FLAGS or -FLAGS (\\Flagged); SEARCH FLAGGED; SEARCH TEXT "word";
  APPEND one message; UID STORE of it +FLAGS.SILENT (\\Deleted); EXPUNGE; IDLE (enter,
  the continuation, DONE, the tagged OK)
and LOGOUT. The base messages are never deleted, so the mailbox stays at its size and
the numbers 1..--messages stay valid. Every reply must be OK.

Figures: total commands/s is all commands over the case's wall time. Per kind, the rate
is the kind's count over its summed latency, times the clients (what that kind would
reach with every client busy with it); the mean latency in ms beside it. Each round runs
every mode on both servers, the order of the servers rotated each round; the paired
ratio is mailward/Dovecot within a round. A target holds when the ratio holds in most
rounds. The two cores are shared with the load generator (the same for both servers).

    .venv/bin/python bench/imap.py [--rounds 5] [--modes plain,tls] [--clients 8]
                                   [--sessions 32] [--iterations 10] [--messages 1000]
    .venv/bin/python bench/imap.py --skip search-text        # the mix without SEARCH TEXT
    .venv/bin/python bench/imap.py --profile-dir /tmp/prof   # py-spy on mailward's workers

``--skip search-text`` (or other kinds of the mix, comma-separated) leaves them out: Dovecot
without a full-text index (Debian's default) reads every message for SEARCH TEXT, so
that one kind can weigh on its total more than the rest together.

``--profile-dir DIR``: ``py-spy record`` (``pip install py-spy``) samples every mailward
process during each mailward case and writes a flat profile per case (``--format raw``,
folded stacks) into DIR; the script prints the top functions by own time.

Loopback only; every loop is bounded in count and time; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import multiprocessing
import os
import pwd
import random
import re
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DOMAIN = "bench.example"
USER = f"user@{DOMAIN}"
PASSWORD = "bench imap password 2026"
HOSTNAME = "localhost"
RARE = "quokka"  # the word SEARCH TEXT looks for: in about one message in ten
TIMEOUT = 120.0  # seconds for any one reply
KINDS = ("login", "select", "fetch-envelope", "fetch-header", "fetch-body", "store", "search-flags",
         "search-text", "append", "expunge", "idle", "logout")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen[Any]) -> bool:
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


# --- the messages --------------------------------------------------------------------

WORDS = ["the", "meeting", "moved", "to", "thursday", "please", "review", "budget", "draft", "attached",
         "report", "numbers", "quarter", "team", "project", "schedule", "update", "customer", "invoice",
         "shipment", "delayed", "thanks", "regards", "server", "release", "notes", "changes", "config",
         "holiday", "lunch", "office", "network", "backup", "tomorrow", "question", "answer", "agenda",
         "minutes", "follow", "action", "items", "deadline", "friday", "summary"]


def _text(rng: random.Random, size: int, rare: bool) -> str:
    lines: list[str] = []
    length = 0
    while length < size:
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 13))]
        if rare and not lines:
            words.insert(rng.randint(0, len(words)), RARE)
        line = " ".join(words)
        lines.append(line)
        length += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def message(i: int) -> bytes:
    """Message ``i`` (deterministic): 2-20 KiB, plain, alternative or with an attachment."""
    rng = random.Random(i)
    size = rng.randint(2048, 20480)
    rare = i % 10 == 3
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))
    head = (f"From: Sender {i % 37} <sender{i % 37}@example.net>\r\nTo: User <{USER}>\r\n"
            f"Cc: team{i % 5}@example.org\r\nSubject: {subject}\r\n"
            f"Date: Mon, {1 + i % 28:02d} Dec 2025 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench.{i}@example.net>\r\nMIME-Version: 1.0\r\n")
    kind = i % 3
    if kind == 0:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + _text(rng, size, rare)).encode()
    if kind == 1:
        text = _text(rng, size // 2, rare)
        html = "<html><body><p>" + text.replace("\r\n", "</p>\r\n<p>") + "</p></body></html>\r\n"
        return (head + 'Content-Type: multipart/alternative; boundary="alt-b"\r\n\r\n'
                "--alt-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text +
                "--alt-b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "--alt-b--\r\n").encode()
    text = _text(rng, size // 2, rare)
    blob = bytes(rng.getrandbits(8) for _ in range(size // 3))
    import base64  # noqa: PLC0415 - only here
    b64 = base64.encodebytes(blob).decode().replace("\n", "\r\n")
    return (head + 'Content-Type: multipart/mixed; boundary="mix-b"\r\n\r\n'
            "--mix-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text +
            '--mix-b\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'
            'Content-Disposition: attachment; filename="data.bin"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--mix-b--\r\n").encode()


# --- the servers ---------------------------------------------------------------------


def mailward(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([PYTHON, "-m", "mailward.cli.main", *args], input=stdin, capture_output=True,
                            text=True, check=False, timeout=120)
    if result.returncode:
        raise SystemExit(f"mailward {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


class Server:
    name = ""
    proc: subprocess.Popen[Any]
    log: Path

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ports = {"plain": free_port(), "tls": free_port()}

    def pids(self) -> list[int]:
        kids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids += [int(p) for p in (task / "children").read_text().split()]
        return [self.proc.pid, *kids]

    def wait_ready(self) -> None:
        for port in self.ports.values():
            if not wait_for_port(port, 60, self.proc):
                self.stop()
                raise SystemExit(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        errors = [line for line in self.log.read_text().splitlines()
                  if " ERROR " in line or "Fatal:" in line or "Panic:" in line]
        if errors:
            print(f"{self.name} errors ({len(errors)}):\n" + "\n".join(errors[:10]), file=sys.stderr)


class Mailward(Server):
    name = "mailward"

    def __init__(self, base: Path, workers: int, log_level: str) -> None:
        super().__init__(base)
        mailward("init", "--dir", str(base), "--hostname", HOSTNAME)
        self.cert, self.key = base / "data/certs/server.crt", base / "data/certs/server.key"
        config = base / "bench.toml"
        config.write_text(
            f'hostname = "{HOSTNAME}"\ndata_dir = "data"\nlog_level = "{log_level}"\nworkers = {workers}\n\n'
            '[tls]\ncertificate = "certs/server.crt"\nkey = "certs/server.key"\n\n'
            "[limits]\nmax_connections = 10000\nmax_connections_per_ip = 10000\n\n"
            f'[[listener]]\nname = "imap"\nprotocol = "imap"\nrole = "imap"\n'
            f'address = "127.0.0.1:{self.ports["plain"]}"\ntls = "none"\nplaintext_login = "allow"\n\n'
            f'[[listener]]\nname = "imaps"\nprotocol = "imap"\nrole = "imap"\n'
            f'address = "127.0.0.1:{self.ports["tls"]}"\ntls = "implicit"\n')
        mailward("domain", "add", DOMAIN, "-c", str(config))
        mailward("user", "add", USER, "-c", str(config), stdin=f"{PASSWORD}\n{PASSWORD}\n")
        self.log = base / "serve.log"
        with self.log.open("w") as log:
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            self.proc = subprocess.Popen([PYTHON, "-m", "mailward.cli.main", "serve", "-c", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=base)
        self.wait_ready()


DOVECOT_CONF = """\
# a private Dovecot for bench/imap.py
base_dir = {base}/run
state_dir = {base}/state
instance_name = mailward-bench-{port}
listen = 127.0.0.1
protocols = imap
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
auth_mechanisms = plain login
disable_plaintext_auth = no
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
mail_location = maildir:{base}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
  default_fields = uid={uid} gid={gid} home={base}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class Dovecot(Server):
    name = "dovecot"

    def __init__(self, base: Path, cert: Path, key: Path) -> None:
        super().__init__(base)
        import argon2  # noqa: PLC0415 - mailward's dependency: the same profile as its passwords

        hasher = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)
        (base / "passwd").write_text(f"{USER}:{{ARGON2ID}}{hasher.hash(PASSWORD)}::::::\n")
        # the mail user: nobody (Dovecot refuses uid 0 for mail), the owner of mail/ and home/
        nobody = pwd.getpwnam("nobody")
        base.chmod(0o755)
        for sub in ("mail", "home", "state"):
            (base / sub).mkdir()
            if sub != "state":
                os.chown(base / sub, nobody.pw_uid, nobody.pw_gid)
        conf = base / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(base=base, port=self.ports["plain"], tls_port=self.ports["tls"],
                                            cert=cert, key=key, uid=nobody.pw_uid, gid=nobody.pw_gid))
        self.log = base / "dovecot.log"
        self.log.touch()
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("a"))
        self.wait_ready()


# --- the client ----------------------------------------------------------------------


class ImapError(RuntimeError):
    pass


class Client:
    """One IMAP session on a blocking socket, one command at a time."""

    LITERAL = re.compile(rb"\{(\d+)\}\r\n$")

    def __init__(self, port: int, context: ssl.SSLContext | None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = context.wrap_socket(sock, server_hostname=HOSTNAME) if context else sock
        self.stream = self.sock.makefile("rb", buffering=65536)
        self.tag = 0
        self.exists = 0
        self.line()  # the greeting

    def line(self) -> bytes:
        """One response line, literals included."""
        line = self.stream.readline()
        if not line:
            raise ImapError("closed by the server")
        while (m := self.LITERAL.search(line)) is not None:
            line += self.stream.read(int(m[1]))
            line += self.stream.readline()
        return line

    def send(self, data: bytes) -> bytes:
        self.tag += 1
        tag = b"a%d" % self.tag
        self.sock.sendall(tag + b" " + data + b"\r\n")
        return tag

    def reply(self, tag: bytes) -> list[bytes]:
        """The untagged lines up to ``tag``'s, which must be OK."""
        lines: list[bytes] = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ImapError(f"{line[:200]!r}")
                return lines
            if line.endswith(b" EXISTS\r\n"):
                self.exists = int(line.split()[1])
            lines.append(line)

    def command(self, data: bytes) -> list[bytes]:
        return self.reply(self.send(data))

    def append(self, body: bytes) -> int:
        """APPEND with a synchronizing literal; the UID from APPENDUID."""
        tag = self.send(b"APPEND INBOX {%d}" % len(body))
        line = self.line()
        if not line.startswith(b"+"):
            raise ImapError(f"no continuation for APPEND: {line[:200]!r}")
        self.sock.sendall(body + b"\r\n")
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ImapError(f"{line[:200]!r}")
                m = re.search(rb"\[APPENDUID \d+ (\d+)\]", line)
                if m is None:
                    raise ImapError(f"no APPENDUID: {line[:200]!r}")
                return int(m[1])

    def idle(self) -> None:
        tag = self.send(b"IDLE")
        while not (line := self.line()).startswith(b"+"):
            if line.startswith(tag + b" "):
                raise ImapError(f"IDLE refused: {line[:200]!r}")
        self.sock.sendall(b"DONE\r\n")
        self.reply(tag)

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@dataclass(frozen=True)
class Load:
    messages: int  # in INBOX before the load (numbers 1..messages stay valid)
    iterations: int  # mixes per session
    skip: frozenset[str]  # kinds left out of the mix


@dataclass
class Tally:
    count: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: collections.defaultdict[str, float] = field(
        default_factory=lambda: collections.defaultdict(float))


def _timed(tally: Tally, kind: str, start: float) -> None:
    tally.count[kind] += 1
    tally.seconds[kind] += time.perf_counter() - start


def session(port: int, context: ssl.SSLContext | None, load: Load, rng: random.Random, tally: Tally) -> None:
    t = time.perf_counter()
    client = Client(port, context)
    try:
        client.command(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()))
        _timed(tally, "login", t)
        t = time.perf_counter()
        client.command(b"SELECT INBOX")
        _timed(tally, "select", t)
        for it in range(load.iterations):
            mix(client, load, it, rng, tally)
        t = time.perf_counter()
        tag = client.send(b"LOGOUT")
        while not client.line().startswith(tag + b" OK"):
            pass
        _timed(tally, "logout", t)
    finally:
        client.close()


def mix(client: Client, load: Load, it: int, rng: random.Random, tally: Tally) -> None:
    messages = load.messages

    def run(kind: str, command: bytes) -> None:
        if kind in load.skip:
            return
        t = time.perf_counter()
        client.command(command)
        _timed(tally, kind, t)

    a = rng.randint(1, messages - 49)
    run("fetch-envelope", b"FETCH %d:%d (FLAGS ENVELOPE)" % (a, a + 49))
    a = rng.randint(1, messages - 9)
    run("fetch-header", b"FETCH %d:%d (BODY.PEEK[HEADER])" % (a, a + 9))
    a = rng.randint(1, messages - 2)
    run("fetch-body", b"FETCH %d:%d (BODY.PEEK[])" % (a, a + 2))
    a = rng.randint(1, messages - 4)
    run("store", b"STORE %d:%d %sFLAGS (\\Flagged)" % (a, a + 4, b"+" if it % 2 == 0 else b"-"))
    run("search-flags", b"SEARCH FLAGGED")
    run("search-text", b"SEARCH TEXT " + RARE.encode())
    if "append" not in load.skip:
        t = time.perf_counter()
        uid = client.append(message(rng.randint(0, messages - 1)))
        _timed(tally, "append", t)
        run("store", b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
        run("expunge", b"EXPUNGE")
    if "idle" not in load.skip:
        t = time.perf_counter()
        client.idle()
        _timed(tally, "idle", t)


def _client_proc(port: int, tls: bool, threads: int, sessions: int, load: Load, seed: int, out: Any) -> None:
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the bench's own certificate
    tally = Tally()
    lock = threading.Lock()
    left = [sessions]
    failures: list[str] = []

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        mine = Tally()
        while True:
            with lock:
                if left[0] <= 0 or failures:
                    break
                left[0] -= 1
            try:
                session(port, context, load, rng, mine)
            except (OSError, ImapError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                break
        with lock:
            tally.count.update(mine.count)
            for kind, spent in mine.seconds.items():
                tally.seconds[kind] += spent

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.send((dict(tally.count), dict(tally.seconds), failures))
    out.close()


@dataclass
class Result:
    total: float  # commands/s
    elapsed: float
    count: dict[str, int]
    seconds: dict[str, float]


def run_load(port: int, tls: bool, args: argparse.Namespace, seed: int) -> Result:
    procs = max(1, min(args.client_procs, args.clients))
    threads = [args.clients // procs + (1 if i < args.clients % procs else 0) for i in range(procs)]
    sessions = [args.sessions // procs + (1 if i < args.sessions % procs else 0) for i in range(procs)]
    load = Load(args.messages, args.iterations, frozenset(args.skip.split(",")) - {""})
    pipes, workers = [], []
    for i in range(procs):
        recv, send = multiprocessing.Pipe(duplex=False)
        pipes.append(recv)
        workers.append(multiprocessing.Process(target=_client_proc, args=(
            port, tls, threads[i], sessions[i], load, seed * 10 + i, send)))
    start = time.perf_counter()
    for w in workers:
        w.start()
    results = []
    for recv in pipes:
        if not recv.poll(3600):
            raise SystemExit("a client process did not finish within an hour")
        results.append(recv.recv())
    elapsed = time.perf_counter() - start
    for w in workers:
        w.join(60)
    count: collections.Counter[str] = collections.Counter()
    seconds: collections.defaultdict[str, float] = collections.defaultdict(float)
    for c, s, failures in results:
        if failures:
            raise SystemExit(f"the load failed: {failures[0]}")
        count.update(c)
        for kind, spent in s.items():
            seconds[kind] += spent
    return Result(sum(count.values()) / elapsed, elapsed, dict(count), dict(seconds))


def load_messages(port: int, count: int) -> None:
    """``count`` messages into INBOX through APPEND, from 4 sessions."""
    failures: list[str] = []

    def part(first: int) -> None:
        client = Client(port, None)
        try:
            client.command(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()))
            for i in range(first, count, 4):
                client.append(message(i))
            client.command(b"LOGOUT")
        except (OSError, ImapError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    pool = [threading.Thread(target=part, args=(n,)) for n in range(4)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise SystemExit(f"loading the messages failed: {failures[0]}")
    client = Client(port, None)
    client.command(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()))
    client.command(b"SELECT INBOX")
    client.close()
    if client.exists != count:
        raise SystemExit(f"{count} messages appended, {client.exists} in INBOX")


# --- profiling -----------------------------------------------------------------------


class Profiler:
    """``py-spy record`` on each of a server's processes while a case runs."""

    def __init__(self, directory: Path, label: str, pids: list[int]) -> None:
        spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        self.files = [directory / f"{label}-{pid}.txt" for pid in pids]
        self.procs = [subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "97",
                                        "--nonblocking", "--output", str(f)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                      for pid, f in zip(pids, self.files, strict=True)]
        time.sleep(1)  # attached

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


IDLE_FRAMES = ("EpollSelector.select", "_worker (concurrent/futures/thread.py)", "Condition.wait")


def summarize_profiles(directory: Path, top: int = 25) -> None:
    """Own time (leaf frame) and inclusive time per function over every folded stack in DIR,
    without the samples of threads that wait for work (py-spy cannot always tell)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for f in directory.glob("mailward-*.txt"):
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = [re.sub(r" \((.*?):\d+\)$", r" (\1)", fr) for fr in stack.split(";")]
            if frames[-1].startswith(IDLE_FRAMES):  # waiting for work, not working
                continue
            total += int(count)
            own[frames[-1]] += int(count)
            for fr in set(frames):
                inclusive[fr] += int(count)
    if not total:
        print("no profile samples")
        return
    print(f"\nprofile of mailward's processes ({total} samples not waiting for work): own time")
    for fr, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {fr}")
    print("inclusive time")
    for fr, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {fr}")


# --- rounds and figures --------------------------------------------------------------


def spread(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def orders(names: list[str], rounds: int) -> Iterator[tuple[int, list[str]]]:
    for r in range(rounds):
        shift = r % len(names)
        yield r + 1, names[shift:] + names[:shift]


def kind_rate(res: Result, kind: str, clients: int) -> float:
    return res.count[kind] / res.seconds[kind] * clients if res.seconds.get(kind) else 0.0


def report(results: dict[tuple[str, str], list[Result]], modes: list[str], args: argparse.Namespace) -> None:
    print(f"\nsummary, median [min-max] over {args.rounds} rounds, {args.clients} clients, "
          f"{args.sessions} sessions of {args.iterations} mixes"
          f"{', without ' + args.skip if args.skip else ''}:")
    for mode in modes:
        mw, dc = results[(mode, "mailward")], results[(mode, "dovecot")]
        print(f"  {mode}")
        print(f"    {'kind':<15} {'mailward cmd/s':>22} {'ms':>6} {'dovecot cmd/s':>22} {'ms':>6} "
              f"{'ratio':>6}")
        for kind in KINDS:
            if not all(x.count.get(kind) for x in mw + dc):
                continue
            m = [kind_rate(x, kind, args.clients) for x in mw]
            d = [kind_rate(x, kind, args.clients) for x in dc]
            m_ms = statistics.median(1000 * x.seconds[kind] / x.count[kind] for x in mw)
            d_ms = statistics.median(1000 * x.seconds[kind] / x.count[kind] for x in dc)
            ratio = statistics.median(a / b for a, b in zip(m, d, strict=True))
            print(f"    {kind:<15} {spread(m):>22} {m_ms:6.1f} {spread(d):>22} {d_ms:6.1f} {ratio:6.2f}")
        ratios = [a.total / b.total for a, b in zip(mw, dc, strict=True)]
        held = sum(r >= args.target for r in ratios)
        print(f"    {'total':<15} {spread([x.total for x in mw]):>22} {'':6} "
              f"{spread([x.total for x in dc]):>22} {'':6} {statistics.median(ratios):6.2f}")
        print(f"    paired ratio mailward/dovecot per round: {' '.join(f'{r:.2f}' for r in ratios)}; "
              f"{args.target}x held in {held} of {len(ratios)} rounds: "
              f"{'HOLDS' if held > len(ratios) / 2 else 'does not hold'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default="plain,tls")
    parser.add_argument("--clients", type=int, default=8, help="sessions at once")
    parser.add_argument("--sessions", type=int, default=32, help="sessions per case, in all")
    parser.add_argument("--iterations", type=int, default=10, help="mixes per session")
    parser.add_argument("--messages", type=int, default=1000, help="messages loaded before timing")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="mailward's workers (0: one per core)")
    parser.add_argument("--log-level", default="warning", help="mailward's log_level (to a file)")
    parser.add_argument("--skip", default="", help="kinds left out of the mix (some of "
                        "fetch-envelope,fetch-header,fetch-body,store,search-flags,search-text,append,idle; "
                        "append takes its STORE and EXPUNGE along)")
    parser.add_argument("--target", type=float, default=1.2)
    parser.add_argument("--profile-dir", type=Path, help="py-spy record mailward's processes into DIR")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if not set(args.skip.split(",")) - {""} <= set(KINDS) - {"login", "select", "logout"}:
        parser.error("--skip: kinds of the mix only")
    if shutil.which("dovecot") is None:
        raise SystemExit("dovecot is missing: apt-get install -y dovecot-imapd (its service need not run)")
    if os.geteuid() != 0:
        raise SystemExit("run as root: the private Dovecot drops to its dovecot/dovenull users")
    os.chdir(ROOT)
    version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"Dovecot {version}, Python {sys.version.split()[0]}")
    print(f"load average before: {load_average()}", flush=True)
    bases = [Path(tempfile.mkdtemp(prefix=f"imap-bench-{n}-")) for n in ("mailward", "dovecot")]
    servers: dict[str, Server] = {}
    try:
        mw = Mailward(bases[0], args.workers, args.log_level)
        servers["mailward"] = mw
        servers["dovecot"] = Dovecot(bases[1], mw.cert, mw.key)
        for name, server in servers.items():
            start = time.perf_counter()
            load_messages(server.ports["plain"], args.messages)
            print(f"{name}: {args.messages} messages appended in {time.perf_counter() - start:.1f} s",
                  flush=True)
        if args.profile_dir:
            args.profile_dir.mkdir(parents=True, exist_ok=True)
        results: dict[tuple[str, str], list[Result]] = {}
        for r, order in orders(list(servers), args.rounds):
            for mode in modes:
                for name in order:
                    server = servers[name]
                    spy = None
                    if args.profile_dir and name == "mailward":
                        spy = Profiler(args.profile_dir, f"mailward-r{r}-{mode}", server.pids())
                    try:
                        res = run_load(server.ports[mode], mode == "tls", args, r)
                    finally:
                        if spy:
                            spy.stop()
                    results.setdefault((mode, name), []).append(res)
                    print(f"round {r} {mode:<5} {name:<8} {res.total:7.1f} commands/s "
                          f"({sum(res.count.values())} in {res.elapsed:.1f} s); load {load_average()}",
                          flush=True)
        report(results, modes, args)
        if args.profile_dir:
            summarize_profiles(args.profile_dir)
    finally:
        for server in servers.values():
            server.stop()
        for base in bases:
            shutil.rmtree(base, ignore_errors=True)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
