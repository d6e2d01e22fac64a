"""Errors of the secret store: each says what is wrong and what to do."""

from __future__ import annotations

from mailward.config.problems import Problem


class SecretError(Exception):
    """Base of every secret-store error. ``fix`` says what to do, in the imperative."""

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}: {fix}" if fix else message)


class MasterKeyError(SecretError):
    """The master key is missing, unreadable, malformed, or not the one the store was sealed with."""


class SealedStoreError(SecretError):
    """The sealed store file is unreadable, malformed, or has been tampered with."""


class SecretNotFoundError(SecretError):
    """A ``secret:NAME`` reference names a secret the store does not hold.

    ``key`` is the config setting that holds the reference (empty when unknown).
    """

    def __init__(self, name: str, key: str = "") -> None:
        self.name = name
        self.key = key
        where = f"{key}: " if key else ""
        super().__init__(
            f'{where}secret "{name}" is not in the sealed store',
            f"add it with `mailward secret set {name}`",
        )

    def problem(self) -> Problem:
        """This error as a config problem (for ``config check`` and start-up)."""
        return Problem(self.key, f'secret "{self.name}" is not in the sealed store', self.fix)
