"""Running ``mailward`` (with the test line protocol) as a real subprocess."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent


def command(
    args: Sequence[str], *, umask: int | None = None, user: str | None = None,
    open_files: tuple[int, int] | None = None,
) -> list[str]:
    """``open_files``: the (soft, hard) open-files limit to start it with (util-linux prlimit)."""
    cmd = [sys.executable, "-m", "support.mailward_line", *args]
    if open_files is not None:
        cmd = ["prlimit", f"--nofile={open_files[0]}:{open_files[1]}", "--", *cmd]
    if umask is not None:
        cmd = ["sh", "-c", f'umask {umask:04o}; exec "$@"', "sh", *cmd]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user_group(user)}", "--clear-groups", *cmd]
    return cmd


def user_group(user: str) -> str:
    import grp
    import pwd

    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS_DIR), "PYTHONDONTWRITEBYTECODE": "1"}


def mailward(
    *args: str, umask: int | None = None, user: str | None = None, cwd: Path | None = None,
    stdin: str = "", open_files: tuple[int, int] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(args, umask=umask, user=user, open_files=open_files),
        input=stdin,
        capture_output=True,
        text=True,
        env=env(),
        cwd=cwd or "/",
        timeout=60,
        check=False,
    )


class Running:
    """A ``mailward serve`` in the background whose log lines can be awaited."""

    def __init__(
        self, *args: str, user: str | None = None, umask: int | None = None,
        open_files: tuple[int, int] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            command(args, umask=umask, user=user, open_files=open_files),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd="/",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """The first new log line matching ``pattern``; fails after ``timeout`` seconds."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if match := regex.search(line):
                return match
        raise AssertionError(f"no log line matching {pattern!r}; got:\n" + "\n".join(self.lines))

    def find(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """A log line matching ``pattern``, among those read so far or the next ones (the
        workers of one server log in no fixed order)."""
        regex = re.compile(pattern)
        for line in self.lines:
            if match := regex.search(line):
                return match
        return self.wait_for(pattern, timeout)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def any_free_port(config: Path) -> None:
    """Let the listeners `init` wrote pick free ports on loopback: the machine running the
    tests may hold 25, 2525 or any other fixed port."""
    config.write_text(re.sub(r'address = "0\.0\.0\.0:\d+"', 'address = "127.0.0.1:0"', config.read_text()))
