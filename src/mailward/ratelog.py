"""Log lines for known conditions that may repeat for every connection (a full disk):
one line per interval, with a count of the ones left out, and never a traceback. A
log that may sit on the same full disk must not grow by a traceback per message."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def warning(self, key: str, message: str) -> bool:
        """Log ``message`` unless a line for ``key`` was logged within the interval;
        return whether it was logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._left_out[key] = self._left_out.get(key, 0) + 1
            return False
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        suffix = f" ({left_out} more like it in the last {now - last:.0f} s)" if left_out and last else ""
        self._log.warning("%s%s", message, suffix)
        return True
