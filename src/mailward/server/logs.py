"""Where the server's log goes: stderr (the default, for systemd's journal or a
supervisor), a file (``log_file``: reopened when logrotate moves it, and on SIGHUP),
and syslog (``syslog = true``: facility mail, through /dev/log, which journald reads).

A worker process (numbered from 1) says which one it is in every line, since several
processes share each of these and each logs its own connections.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

SYSLOG_SOCKET = "/dev/log"
LOG_FILE_MODE = 0o640


class _LogFile(logging.handlers.WatchedFileHandler):
    """A watched log file created 0640 whatever the umask, the first time and after each
    rotation (the standard handler creates it with the process's umask)."""

    def _open(self):  # type: ignore[no-untyped-def]  # the hook FileHandler opens through
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_FILE_MODE)
        if os.fstat(fd).st_size == 0:
            os.fchmod(fd, LOG_FILE_MODE)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(level: str, worker: int | None = None, *, log_file: str = "",
                  syslog: bool = False) -> None:
    tag = "" if worker is None else f" (worker {worker})"
    handlers: list[logging.Handler] = []
    if log_file:
        handlers.append(_LogFile(log_file, encoding="utf-8"))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{tag}: %(message)s"))
    if syslog:
        to_syslog = logging.handlers.SysLogHandler(
            SYSLOG_SOCKET, facility=logging.handlers.SysLogHandler.LOG_MAIL
        )
        # syslog stamps the time itself; the tag is what `journalctl -t mailward` selects
        to_syslog.setFormatter(logging.Formatter(f"mailward[{os.getpid()}]: %(levelname)s %(name)s{tag}: "
                                                 "%(message)s"))
        handlers.append(to_syslog)
    root = logging.getLogger("mailward")
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    root.propagate = False


def give_log_file(path: str, uid: int, gid: int) -> None:
    """Hand the log file (opened by now, as root) to the user the server will run as,
    before privileges are dropped, so that the workers it forks can open it."""
    if path and os.geteuid() == 0:
        os.chown(path, uid, gid)


def reopen() -> None:
    """Reopen the log file (SIGHUP): after a rotation the next line goes to the new one."""
    for handler in logging.getLogger("mailward").handlers:
        if isinstance(handler, _LogFile):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                handler.stream = None  # the next line opens it anew
            finally:
                handler.release()
