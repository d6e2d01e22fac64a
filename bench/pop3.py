"""POP3 download rate: mailward against a private Dovecot, the same mail, interleaved rounds.

One run sets up both servers on 127.0.0.1 with non-privileged ports, each with its own
directory: a real ``mailward serve`` (default embedded store, a POP3 listener with
implicit TLS or none, an mx listener to deliver through) and Debian's Dovecot
(``dovecot-pop3d``) started from a configuration written here, with its own base,
state and mail directories (Maildir), listening only on 127.0.0.1. Dovecot runs in its
documented high-performance login mode (``service_count = 0``, a login process per
core), so the comparison is with a tuned peer, not its defaults.

For each size, K users get N/K messages each: delivered to mailward by SMTP, then read
back from it once by POP3 and written as they are into the users' Maildirs for Dovecot,
so both serve the same bytes. Passwords are argon2id on both sides (mailward's own
hashes; Dovecot's ``ARGON2ID`` scheme).

A round: K clients (threads in ``--client-procs`` processes) log in, one per maildrop,
wait for each other, then each RETRs every message of its maildrop (keep mode, one
command at a time, as most clients do) and QUITs. The clock runs from the first
client's first RETR to the last client's last byte, so logins (argon2) are left out and
what is measured is the download. Each round checks that every message arrived whole.
Beside the rates, the CPU time each server's processes used per message (from
``/proc``: unlike the rates, it does not depend on what else runs on the machine).
Rounds alternate the servers, the order rotated each round; the script prints medians,
min-max, the paired ratio mailward/Dovecot, and the load average before and after.

    .venv/bin/python bench/pop3.py [--messages 2000] [--clients 10] [--sizes 1024,102400]
                                   [--rounds 5] [--mode tls|plain] [--client-procs 2]

Dovecot is not installed by ``make test`` (the tests do not need it): install it with
``apt-get install dovecot-pop3d`` first.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import poplib
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DOMAIN = "bench.example"
PASSWORD = "bench-password-1"
MAIL_USER = "nobody"  # Dovecot's mail processes may not run as root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen[Any] | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.05)
    return False


def mailward(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([PYTHON, "-m", "mailward.cli.main", *args], input=stdin, capture_output=True,
                            text=True, check=False, timeout=120)
    if result.returncode:
        raise SystemExit(f"mailward {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def users(size: int, clients: int) -> list[str]:
    return [f"s{size}-{k}@{DOMAIN}" for k in range(clients)]


def message(i: int, size: int) -> bytes:
    """About ``size`` bytes, CRLF lines, some starting with "." (stuffed on the way out)."""
    line = b"x" * 76 + b"\r\n"
    dotted = b".x" + b"x" * 74 + b"\r\n"
    head = b"From: bench@client.example\r\nTo: user@bench.example\r\nSubject: bench %d\r\n\r\n" % i
    lines = max((size - len(head)) // len(line), 1)
    return head + b"".join(dotted if n % 10 == 0 else line for n in range(lines))


# --- mailward ------------------------------------------------------------------------------


class Mailward:
    name = "mailward"

    def __init__(self, base: Path, tls: bool, workers: int, log_level: str) -> None:
        self.base = base
        self.port = free_port()
        self.mx = free_port()
        mailward("init", "--dir", str(base), "--hostname", "mail.bench.example")
        self.config = base / "bench.toml"
        self.config.write_text(
            f'hostname = "mail.bench.example"\ndata_dir = "data"\nlog_level = "{log_level}"\n'
            f"workers = {workers}\n\n"
            '[tls]\ncertificate = "certs/server.crt"\nkey = "certs/server.key"\n\n'
            "[limits]\nmax_connections = 10000\nmax_connections_per_ip = 10000\n\n"
            f'[[listener]]\nname = "mx"\nprotocol = "smtp"\nrole = "mx"\naddress = "127.0.0.1:{self.mx}"\n'
            'tls = "none"\n\n'
            f'[[listener]]\nname = "pop3"\nprotocol = "pop3"\naddress = "127.0.0.1:{self.port}"\n'
            + ('tls = "implicit"\n' if tls else 'tls = "none"\nplaintext_login = "allow"\n'))
        mailward("domain", "add", DOMAIN, "-c", str(self.config))
        self.log = base / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def certificate(self) -> tuple[Path, Path]:
        return self.base / "data" / "certs" / "server.crt", self.base / "data" / "certs" / "server.key"

    def add_user(self, address: str) -> None:
        mailward("user", "add", address, "-c", str(self.config), stdin=PASSWORD + "\n")

    def start(self) -> None:
        with self.log.open("a") as log:
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            self.proc = subprocess.Popen([PYTHON, "-m", "mailward.cli.main", "serve", "-c", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=log, env=env)
        if not (wait_for_port(self.port, 30, self.proc) and wait_for_port(self.mx, 30, self.proc)):
            self.stop()
            raise SystemExit(f"mailward serve did not start; see {self.log}")

    def deliver(self, address: str, messages: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", self.mx, local_hostname="client.bench.example", timeout=120) as client:
            for body in messages:
                client.sendmail("bench@client.example", [address], body)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        errors = [line for line in self.log.read_text().splitlines() if " ERROR " in line]
        if errors:
            print("mailward errors:\n" + "\n".join(errors[:10]), file=sys.stderr)


# --- Dovecot -------------------------------------------------------------------------------


class Dovecot:
    name = "dovecot"

    def __init__(self, base: Path, tls: bool, certificate: tuple[Path, Path]) -> None:
        self.base = base
        self.port = free_port()
        self.tls = tls
        mail = pwd.getpwnam(MAIL_USER)
        self.uid, self.gid = mail.pw_uid, mail.pw_gid
        for sub in ("run", "state", "homes"):
            (base / sub).mkdir(parents=True)
        os.chown(base / "homes", self.uid, self.gid)
        base.chmod(0o755)  # the mail processes (nobody) go through it to the homes
        self.passwd = base / "passwd"
        self.passwd.write_text("")
        cert, key = certificate
        listener = (f"  inet_listener pop3s {{\n    port = {self.port}\n    ssl = yes\n  }}\n"
                    "  inet_listener pop3 {\n    port = 0\n  }\n") if tls else (
                    f"  inet_listener pop3 {{\n    port = {self.port}\n  }}\n"
                    "  inet_listener pop3s {\n    port = 0\n  }\n")
        cores = os.cpu_count() or 1
        self.config = base / "dovecot.conf"
        self.config.write_text(f"""\
base_dir = {base}/run
state_dir = {base}/state
instance_name = mailward-bench-{os.getpid()}
log_path = {base}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = {"required" if tls else "no"}
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={base}/homes/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
service pop3-login {{
{listener}  service_count = 0
  process_min_avail = {cores}
}}
service pop3 {{
  process_limit = 10000
}}
service anvil {{
  client_limit = 20000
}}
default_client_limit = 20000
mail_max_userip_connections = 10000
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def add_user(self, address: str) -> None:
        hashed = subprocess.run(["doveadm", "-c", str(self.config), "pw", "-s", "ARGON2ID", "-p", PASSWORD],
                                capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        with self.passwd.open("a") as passwd:
            passwd.write(f"{address}:{hashed}\n")

    def deliver(self, address: str, messages: list[bytes]) -> None:
        """Into the Maildir as they are: the bytes mailward serves for the same messages."""
        maildir = self.base / "homes" / address / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for i, body in enumerate(messages):
            (maildir / "new" / f"{1_700_000_000 + i}.M{i}P{os.getpid()}.bench").write_bytes(body)
        for path in (self.base / "homes" / address, *(self.base / "homes" / address).rglob("*")):
            os.chown(path, self.uid, self.gid)

    def start(self) -> None:
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port, 30, self.proc):
            self.stop()
            raise SystemExit(f"dovecot did not start; see {self.base}/dovecot.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- CPU time of a server ------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process tree: each live process's own, plus what its reaped children
    used (Dovecot's pop3 processes end with their session); 0 for a process gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(int(child)) for child in children)


# --- the clients ---------------------------------------------------------------------------


class Reader:
    """Replies off a socket: a status line, or a multi-line response to its terminator."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("closed by the server")
        self.buf += data

    def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:end])
        del self.buf[: end + 2]
        if not out.startswith(b"+OK"):
            raise RuntimeError(f"unexpected reply {out[:200]!r}")
        return out

    def multiline(self) -> int:
        """The octets of a multi-line response after its status line, terminator included."""
        self.line()
        scanned = 0
        while (end := self.buf.find(b"\r\n.\r\n", max(scanned - 4, 0))) < 0:
            scanned = len(self.buf)
            self._fill()
        size = end + 5
        del self.buf[:size]
        return size


def _session(port: int, tls: bool, user: str, barrier: Barrier, results: Any) -> None:
    try:
        results.put(_retrieve_all(port, tls, user, barrier))
    except Exception as exc:  # the round fails, and says why
        barrier.abort()
        results.put(f"{user}: {exc!r}")


def _retrieve_all(port: int, tls: bool, user: str, barrier: Barrier) -> tuple[float, float, int, int]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the bench's own self-signed certificate
    raw = socket.create_connection(("127.0.0.1", port), timeout=120)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = context.wrap_socket(raw, server_hostname="mail.bench.example") if tls else raw
    with sock:
        reader = Reader(sock)
        reader.line()
        sock.sendall(f"USER {user}\r\n".encode())
        reader.line()
        sock.sendall(f"PASS {PASSWORD}\r\n".encode())
        reader.line()
        sock.sendall(b"STAT\r\n")
        count = int(reader.line().split()[1])
        barrier.wait(120)
        started = time.time()
        octets = 0
        for number in range(1, count + 1):
            sock.sendall(b"RETR %d\r\n" % number)
            octets += reader.multiline()
        ended = time.time()
        sock.sendall(b"QUIT\r\n")
        reader.line()
    return started, ended, count, octets


def _client_proc(port: int, tls: bool, accounts: list[str], barrier: Barrier, results: Any) -> None:
    threads = [threading.Thread(target=_session, args=(port, tls, user, barrier, results))
               for user in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _sample_cpu(pid: int, into: Any) -> None:
    into.value = cpu_seconds(pid)


def download(
    port: int, tls: bool, accounts: list[str], procs: int, server_pid: int,
) -> tuple[float, int, int, float]:
    """One round: (seconds, messages, octets) of every client's RETRs, and the server's CPU
    seconds from when every client had logged in to when the last one was done."""
    procs = max(1, min(procs, len(accounts)))
    at_start: Any = multiprocessing.Value("d", 0.0)
    # the last client to arrive takes the sample, before any of them sends RETR
    barrier = multiprocessing.Barrier(len(accounts),
                                      action=functools.partial(_sample_cpu, server_pid, at_start))
    results: Any = multiprocessing.Queue()
    shares = [accounts[i::procs] for i in range(procs)]
    workers = [multiprocessing.Process(target=_client_proc, args=(port, tls, share, barrier, results))
               for share in shares]
    for w in workers:
        w.start()
    got = [results.get(timeout=1800) for _ in accounts]
    cpu = cpu_seconds(server_pid) - at_start.value
    for w in workers:
        w.join(60)
    failed = [g for g in got if isinstance(g, str)]
    if failed:
        raise SystemExit("POP3 clients failed:\n" + "\n".join(failed[:5]))
    started = min(g[0] for g in got)
    ended = max(g[1] for g in got)
    return ended - started, sum(g[2] for g in got), sum(g[3] for g in got), cpu


def read_back(port: int, tls: bool, user: str) -> list[bytes]:
    """The messages as mailward serves them, unstuffed (poplib), to give Dovecot the same."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = (poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=120) if tls
              else poplib.POP3("127.0.0.1", port, timeout=120))
    try:
        client.user(user)
        client.pass_(PASSWORD)
        count = client.stat()[0]
        return [b"".join(line + b"\r\n" for line in client.retr(n)[1]) for n in range(1, count + 1)]
    finally:
        client.quit()


# --- the run -------------------------------------------------------------------------------


def setup(
    servers: tuple[Mailward, Dovecot], sizes: list[int], messages: int, clients: int, tls: bool,
) -> None:
    ours, dovecot = servers
    for size in sizes:
        for address in users(size, clients):
            ours.add_user(address)
            dovecot.add_user(address)
    ours.start()
    per_user = messages // clients
    for size in sizes:
        for address in users(size, clients):
            ours.deliver(address, [message(i, size) for i in range(per_user)])
            stored = read_back(ours.port, tls, address)
            if len(stored) != per_user:
                raise SystemExit(f"{address}: {len(stored)} of {per_user} messages stored")
            dovecot.deliver(address, stored)
    dovecot.start()


def report(size: int, rates: dict[str, list[tuple[float, float, float]]], messages: int) -> None:
    for name, values in rates.items():
        per_s = [v[0] for v in values]
        mb_s = [v[1] for v in values]
        cpu = [v[2] for v in values]
        print(f"{size:>6} B  {name:<8} median {statistics.median(per_s):7.0f} msg/s "
              f"(min {min(per_s):.0f}, max {max(per_s):.0f})  {statistics.median(mb_s):7.1f} MB/s "
              f"(min {min(mb_s):.1f}, max {max(mb_s):.1f})  server CPU {statistics.median(cpu):.3f} ms/msg "
              f"(min {min(cpu):.3f}, max {max(cpu):.3f})  [{messages} messages]", flush=True)
    ratio = [a[0] / b[0] for a, b in zip(rates["mailward"], rates["dovecot"], strict=True)]
    cpu_ratio = [b[2] / a[2] for a, b in zip(rates["mailward"], rates["dovecot"], strict=True) if a[2] > 0]
    print(f"{size:>6} B  paired ratio mailward/dovecot: median {statistics.median(ratio):.2f} "
          f"(min {min(ratio):.2f}, max {max(ratio):.2f}); Dovecot's CPU per message over mailward's: "
          f"median {statistics.median(cpu_ratio):.2f} (min {min(cpu_ratio):.2f}, max {max(cpu_ratio):.2f})",
          flush=True)


def main() -> None:
    if shutil.which("dovecot") is None:
        raise SystemExit("bench/pop3.py needs Dovecot's POP3 server: apt-get install dovecot-pop3d")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per size, over all clients")
    parser.add_argument("--clients", type=int, default=10, help="parallel clients, one maildrop each")
    parser.add_argument("--sizes", default="1024,102400")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=("tls", "plain"), default="tls",
                        help="tls: implicit TLS (995-style) on both; plain: no TLS")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="mailward's workers (0: one per core)")
    parser.add_argument("--log-level", default="warning",
                        help="mailward's log_level (the log goes to a file)")
    parser.add_argument("--keep", action="store_true", help="keep the directories (printed) afterwards")
    args = parser.parse_args()
    if shutil.which("dovecot") is None:
        raise SystemExit("dovecot is missing: apt-get install dovecot-pop3d (it need not run)")
    if os.geteuid() != 0:
        raise SystemExit("run as root: Dovecot's mail processes switch to the user 'nobody'")
    os.chdir(ROOT)
    tls = args.mode == "tls"
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="mailward-bench-pop3-"))
    base.chmod(0o755)  # Dovecot's auth (user dovecot) and mail (nobody) processes read below it
    ours = Mailward(base / "mailward", tls, args.workers, args.log_level)
    dovecot = Dovecot(base / "dovecot", tls, ours.certificate)
    try:
        setup((ours, dovecot), sizes, args.messages, args.clients, tls)
        version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True, check=False).stdout
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.mode}; {args.clients} clients; "
              f"Dovecot {version.strip()}; {os.cpu_count()} cores", flush=True)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        servers = [ours, dovecot]
        for size in sizes:
            accounts = users(size, args.clients)
            for server in servers:  # a pass each first: Dovecot builds its index, caches warm
                assert server.proc is not None
                download(server.port, tls, accounts, args.client_procs, server.proc.pid)
            rates: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in servers}
            expected: int | None = None
            for r in range(args.rounds):
                for server in servers[r % 2:] + servers[:r % 2]:
                    assert server.proc is not None
                    seconds, count, octets, cpu = download(server.port, tls, accounts, args.client_procs,
                                                           server.proc.pid)
                    if count != (args.messages // args.clients) * args.clients:
                        raise SystemExit(f"{server.name}: {count} messages downloaded")
                    if expected is not None and octets != expected:
                        raise SystemExit(f"{server.name}: {octets} octets, the other server sent {expected}")
                    expected = octets
                    rates[server.name].append((count / seconds, octets / seconds / 1e6, cpu / count * 1e3))
            report(size, rates, (args.messages // args.clients) * args.clients)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        dovecot.stop()
        ours.stop()
        if args.keep:
            print(f"kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
