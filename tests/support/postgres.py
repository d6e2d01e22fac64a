"""A private PostgreSQL cluster for tests: initdb + pg_ctl, TLS on, a test CA.

The cluster listens on 127.0.0.1 on a free port (and a unix socket in its own
temporary directory), accepts only TLS on TCP (``hostssl``, SCRAM passwords), and
is torn down at the end. PostgreSQL refuses to run as root: when the tests run
as root, the server runs as the ``postgres`` user (or ``nobody``) via runuser.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

from mailward.config.store import PostgresSettings
from support.pki import TestCA

ADMIN = "mailward_test"
PASSWORD = "test-password-not-secret"
_names = itertools.count(1)


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
    return Path(initdb).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged user the server runs as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no postgres or nobody user to run PostgreSQL as")


@dataclass
class PostgresServer:
    root: Path
    port: int
    ca: TestCA
    user: pwd.struct_passwd | None
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user.pw_name, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.data / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}{tail}")
        return done

    def settings(self, dbname: str = "postgres", **changes: object) -> PostgresSettings:
        base = PostgresSettings(
            host="127.0.0.1",
            port=self.port,
            dbname=dbname,
            user=ADMIN,
            password=PASSWORD,
            sslmode="verify-full",
            sslrootcert=str(self.ca.cert_path),
            pool_min=1,
            pool_max=8,
            connect_timeout=10.0,
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    async def create_database(self, prefix: str = "t") -> PostgresSettings:
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        conninfo = f"host={self.sockets} port={self.port} dbname=postgres user={ADMIN}"
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            # ICU's English order (case and accents folded at first, as on most production
            # servers), not the cluster's C locale: a query sorting text with ORDER BY would
            # then come back unlike SQLite's byte order, and the tests see it
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 '
                               "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
        return self.settings(name)


def _configure(server: PostgresServer, fsync: bool) -> None:
    issued = server.ca.issue("pg-server", ("localhost", "127.0.0.1"))
    for src, dst in ((issued.cert_path, "server.crt"), (issued.key_path, "server.key")):
        shutil.copyfile(src, server.data / dst)
        os.chmod(server.data / dst, 0o600)
    conf = [
        f"port = {server.port}",
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{server.sockets}'",
        "ssl = on",
        "ssl_cert_file = 'server.crt'",
        "ssl_key_file = 'server.key'",
        "max_connections = 200",
        "shared_buffers = 64MB",
        f"fsync = {'on' if fsync else 'off'}",
        f"synchronous_commit = {'on' if fsync else 'off'}",
        f"full_page_writes = {'on' if fsync else 'off'}",
    ]
    with open(server.data / "postgresql.conf", "a") as f:
        f.write("\n".join(conf) + "\n")
    (server.data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
    )
    if server.user is not None:
        for path in (server.data / "server.crt", server.data / "server.key", server.data / "pg_hba.conf"):
            os.chown(path, server.user.pw_uid, server.user.pw_gid)


@contextlib.contextmanager
def postgres_cluster(*, fsync: bool = False) -> Iterator[PostgresServer]:
    """Start a private cluster; stop it and remove its files on exit."""
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="mailward-pg-"))
    os.chmod(root, 0o755)  # the server user must reach its data dir below
    server = PostgresServer(root, free_port(), TestCA(root / "ca"), user, pg_bin())
    for d in (server.data, server.sockets):
        d.mkdir(mode=0o700)
        if user is not None:
            os.chown(d, user.pw_uid, user.pw_gid)
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    os.chmod(pwfile, 0o644)
    started = False
    try:
        server.run(
            "initdb",
            "-D",
            str(server.data),
            "-U",
            ADMIN,
            f"--pwfile={pwfile}",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        _configure(server, fsync)
        server.run(
            "pg_ctl", "-D", str(server.data), "-l", str(server.data / "server.log"), "-w", "-t", "60", "start"
        )
        started = True
        yield server
    finally:
        if started:
            with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
                server.run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
