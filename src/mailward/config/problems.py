"""Configuration problems: what is wrong, where, and how to fix it.

Every check in mailward (syntax, types, unknown keys, files, ports) reports a
:class:`Problem` instead of raising, so that one run lists everything at once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailward.config.load import LoadedConfig


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration.

    ``key`` is the dotted path of the setting (``listener[1].tls.key``), empty
    for problems of the file as a whole. ``fix`` says what to do, in the
    imperative, and is always given for errors.
    """

    key: str
    message: str
    fix: str = ""
    severity: Severity = Severity.ERROR
    file: str = ""
    line: int | None = None

    def located(self, file: str, line: int | None) -> Problem:
        """This problem with a file (and line, when known) attached."""
        return Problem(self.key, self.message, self.fix, self.severity, file, line)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        key = f"{self.key}: " if self.key else ""
        fix = f": {self.fix}" if self.fix else ""
        return f"{where}{prefix}{key}{self.message}{fix}"


class ConfigError(Exception):
    """Raised when a configuration has at least one error; carries them all.

    ``partial``, when the file could be parsed: the configuration with every setting
    that failed at its default and every listener that failed left out, and
    ``partial.failed`` naming the settings that failed. ``config check`` (and serve's
    start-up check) run the remaining checks on it, so that one run reports every
    problem; nothing may serve it.
    """

    def __init__(self, problems: Iterable[Problem], partial: LoadedConfig | None = None) -> None:
        self.problems = tuple(problems)
        self.partial = partial
        super().__init__("\n".join(str(p) for p in self.problems))


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]
