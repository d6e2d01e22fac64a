"""``secret:NAME`` references in the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mailward.config.problems import Problem
from mailward.secrets.errors import SecretError, SecretNotFoundError

PREFIX = "secret:"


class SecretSource(Protocol):
    """Anything that returns a secret's value or raises :class:`SecretNotFoundError`."""

    def get(self, name: str) -> str: ...


def is_reference(value: str) -> bool:
    return value.startswith(PREFIX)


def resolve(ref: str, source: SecretSource | None, key: str = "") -> str:
    """The value ``ref`` stands for: a ``secret:NAME`` is looked up, anything else is itself.

    ``key`` names the config setting, for the error. Raises
    :class:`SecretNotFoundError` (naming ``key`` and the secret) when it is missing,
    or :class:`SecretError` when ``source`` is ``None`` (no store could be opened).
    """
    if not is_reference(ref):
        return ref
    name = ref[len(PREFIX) :]
    if source is None:
        raise SecretError(
            f'{key + ": " if key else ""}refers to secret "{name}" but the secret store is not available',
            "fix the master key or the store first",
        )
    try:
        return source.get(name)
    except SecretNotFoundError:
        raise SecretNotFoundError(name, key) from None


def resolve_all(refs: Mapping[str, str], source: SecretSource | None) -> tuple[dict[str, str], list[Problem]]:
    """Resolve every ``key -> ref``; collect a :class:`Problem` per failure instead of stopping."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for key, ref in refs.items():
        try:
            values[key] = resolve(ref, source, key)
        except SecretNotFoundError as exc:
            problems.append(exc.problem())
        except SecretError as exc:
            problems.append(Problem(key, exc.message, exc.fix))
    return values, problems
