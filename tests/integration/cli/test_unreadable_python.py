"""A Python the service user cannot read (a venv or pyenv under /root, mode 0700): `config
check` says so, and `serve` started as root still serves STARTTLS and logins after it has
dropped to that user, because it imported everything first; admin commands too.

The Python here is this one, reached through a 0700 directory of symlinks (its standard
library as PYTHONHOME, its site-packages, mailward's source): once the process is
``nobody``, no module file is readable any more, whatever the machine's layout."""

from __future__ import annotations

import os
import queue
import re
import smtplib
import ssl
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

from support.proc import TESTS_DIR, Running, any_free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")

PASSWORD = "alice-secret-1"


class Private:
    """This Python, its libraries and mailward behind ``root`` (0700)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        (root / "home" / "lib").mkdir(parents=True)
        (root / "home" / "lib" / version).symlink_to(sysconfig.get_paths()["stdlib"])
        (root / "site").symlink_to(sysconfig.get_paths()["purelib"])
        (root / "src").symlink_to(Path(__import__("mailward").__file__).parent.parent)
        (root / "tests").symlink_to(TESTS_DIR)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONHOME": str(root / "home"),
            "PYTHONPATH": os.pathsep.join(str(root / d) for d in ("src", "tests", "site")),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.python = getattr(sys, "_base_executable", sys.executable)

    def argv(self, *args: str) -> list[str]:
        return [self.python, "-S", "-m", "support.mailward_line", *args]

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True, env=self.env,
                              cwd="/", timeout=60, check=False)


class PrivateRunning(Running):
    """``mailward serve`` on the private Python (Running's line reading, another command)."""

    def __init__(self, private: Private, *args: str) -> None:
        self.proc = subprocess.Popen(private.argv(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=private.env, cwd="/")
        self.lines = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


@pytest.fixture
def site(open_tmp: Path) -> tuple[Private, Path]:
    private = Private(open_tmp / "private")
    target = open_tmp / "site"
    made = private.run("init", "--dir", str(target), "--user", "nobody", "--dev-ports", "--hostname",
                       "mail.example.org")
    assert made.returncode == 0, made.stderr
    config = target / "mailward.toml"
    any_free_port(config)
    config.write_text(config.read_text().replace("# workers = 0", "workers = 1"))
    return private, config


def test_check_reports_a_python_the_service_user_cannot_read(site: tuple[Private, Path]) -> None:
    private, config = site
    result = private.run("config", "check", "-c", str(config))
    assert result.returncode == 1
    # one line per blocking directory (here the interpreter may be under a /root of its own)
    lines = [line for line in result.stderr.splitlines() if f"directory {private.root} " in line]
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith(f"{config}:15: user: nobody cannot read ")
    assert "the Python standard library" in line and "the Python package mailward" in line
    assert f"directory {private.root} is not searchable by uid 65534 (nobody)" in line
    assert line.endswith("or install Python and mailward where nobody can read them (not under /root)")


def test_serve_and_admin_commands_run_after_the_drop(site: tuple[Private, Path]) -> None:
    private, config = site
    for command, stdin in ((("domain", "add", "example.org"), ""), (("user", "add", "alice@example.org"),
                                                                     PASSWORD + "\n")):
        done = private.run(*command, "-c", str(config), stdin=stdin)
        assert done.returncode == 0, done.stderr  # these drop to nobody before opening the store
    running = PrivateRunning(private, "serve", "-c", str(config))
    try:
        running.wait_for(r"WARNING .*user: nobody cannot read ")
        ports: dict[str, int] = {}
        while len(ports) < 3:
            match = running.wait_for(r"listening: (mx|submission|submissions) smtp .* on 127\.0\.0\.1:(\d+)")
            ports[match.group(1)] = int(match.group(2))
        running.wait_for(r"mailward started")
        context = ssl.create_default_context(cafile=str(config.parent / "data" / "certs" / "server.crt"))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", ports["mx"], timeout=10) as client:
            client.starttls(context=context)
            assert client.sendmail("a@remote.example", ["alice@example.org"], "Subject: 1\r\n\r\nmx\r\n") == {}
        with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=10) as client:
            client.starttls(context=context)
            assert client.login("alice@example.org", PASSWORD)[0] == 235
            assert client.sendmail("alice@example.org", ["alice@example.org"], "Subject: 2\r\n\r\nsub\r\n") == {}
        running.signal(15)
        assert running.wait() == 0
        assert not [line for line in running.lines if re.search(r"internal error|ModuleNotFound|Traceback", line)]
    finally:
        running.stop()
    listed = private.run("user", "list", "-c", str(config))
    assert listed.returncode == 0 and "2 message(s)" in listed.stdout, listed.stdout + listed.stderr
