"""A small typed-schema engine over frozen dataclasses.

Each configuration section is a frozen dataclass whose fields are declared with
:func:`setting`, carrying a doc string (the annotated sample config is rendered
from it) and an optional check. :func:`build` turns parsed TOML into the
dataclass, collecting every problem with its key path instead of stopping at
the first.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Literal[...]``
of strings, ``tuple[str, ...]``, nested dataclasses (TOML tables),
``tuple[Dataclass, ...]`` (arrays of tables), and :data:`PathStr` (a string
naming a file, resolved against a base directory).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from mailward.config.problems import Problem


class _PathMarker:
    """Marks a ``str`` field as a file-system path."""


PathStr = Annotated[str, _PathMarker()]
"""A path; relative values are resolved against the context's base directory."""

Check = Callable[[Any], "str | tuple[str, str] | None"]
"""A field check: returns ``None`` when fine, else a message or (message, fix)."""

T = TypeVar("T")


def setting(default: Any, doc: str, *, check: Check | None = None, sample: bool = True) -> Any:
    """Declare a configuration setting.

    ``doc`` is shown above the key in the generated sample config. ``check``
    validates the typed value. ``sample=False`` leaves the key out of the
    sample (for settings only tests or experts use).
    """
    meta = {"doc": doc, "check": check, "sample": sample}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple or a default_factory-free immutable default")
    if dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class BuildContext:
    """What building needs besides the data.

    ``base_dir`` is where relative paths start. ``relabel`` maps a key path to
    the path a problem should name instead: a listener's TLS settings are the
    global ``[tls]`` merged with the listener's own, and a bad value that came
    from ``[tls]`` is reported there, once, not under every listener.
    ``partial``: build a section even when some of its settings fail, with those
    at their defaults (for ``config check``, which goes on to check the settings
    that did validate; never for a configuration that is served).
    """

    base_dir: Path
    relabel: Mapping[str, str] = field(default_factory=dict)
    partial: bool = False

    def path_of(self, prefix: str, key: str) -> str:
        path = join(prefix, key)
        return self.relabel.get(path, path)


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _describe(value: object) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    kind = kinds.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return kind
    return f"{kind} ({_toml_value(value)})"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


toml_value = _toml_value


def fields_of(cls: type[Any]) -> list[tuple[dataclasses.Field[Any], Any]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def build(
    cls: type[T],
    data: Mapping[str, Any],
    prefix: str,
    ctx: BuildContext,
    problems: list[Problem],
) -> T | None:
    """Build ``cls`` from ``data``; append problems; ``None`` if any field failed
    (unless ``ctx.partial``: then failed fields keep their defaults, and a section
    keeps the settings of it that validated)."""
    known = fields_of(cls)
    names = [f.name for f, _ in known]
    ok = True
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            fix = f'did you mean "{close[0]}"?' if close else f"remove it (known keys: {', '.join(names)})"
            problems.append(Problem(ctx.path_of(prefix, key), "unknown key", fix))
            ok = False
    values: dict[str, Any] = {}
    for f, hint in known:
        if f.name not in data:
            default = _resolved_default(f, hint, join(prefix, f.name), ctx, problems)
            if default is not dataclasses.MISSING:
                values[f.name] = default
            continue
        path = ctx.path_of(prefix, f.name)
        before = len(problems)
        value = _convert(hint, data[f.name], path, ctx, problems)
        if len(problems) > before:
            ok = False
            if ctx.partial and dataclasses.is_dataclass(value):
                values[f.name] = value  # a section: the settings of it that validated
            continue
        check = f.metadata.get("check")
        if check is not None:
            verdict = check(value)
            if verdict is not None:
                message, fix = verdict if isinstance(verdict, tuple) else (verdict, "")
                problems.append(Problem(path, message, fix))
                ok = False
                continue
        values[f.name] = value
    if not ok and not ctx.partial:
        return None
    return cls(**values)


def _resolved_default(
    f: dataclasses.Field[Any], hint: Any, path: str, ctx: BuildContext, problems: list[Problem]
) -> Any:
    """A default that depends on the context: a relative path, or a section holding one."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, {}, path, ctx, problems)
    if typing.get_origin(hint) is Annotated and isinstance(f.default, str) and f.default:
        return _convert(hint, f.default, path, ctx, problems)
    return dataclasses.MISSING


def _convert(hint: Any, raw: Any, path: str, ctx: BuildContext, problems: list[Problem]) -> Any:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *marks = typing.get_args(hint)
        value = _convert(base, raw, path, ctx, problems)
        if any(isinstance(m, _PathMarker) for m in marks) and isinstance(value, str) and value:
            return str(ctx.base_dir / value)
        return value
    if origin is Literal:
        choices = typing.get_args(hint)
        if raw in choices and isinstance(raw, str):
            return raw
        listed = ", ".join(_toml_value(c) for c in choices)
        problems.append(
            Problem(path, f"expected one of {listed}, got {_describe(raw)}", "use one of those values")
        )
        return None
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(args[0], raw, path, ctx, problems)
    if origin is tuple:
        (item,) = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if not isinstance(raw, list):
            problems.append(Problem(path, f"expected an array, got {_describe(raw)}", "write it as [ ... ]"))
            return None
        items = [_convert(item, v, f"{path}[{i}]", ctx, problems) for i, v in enumerate(raw)]
        return tuple(items)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(raw, dict):
            problems.append(
                Problem(path, f"expected a table, got {_describe(raw)}", f"write it as a [{path}] table")
            )
            return None
        return build(hint, raw, path, ctx, problems)
    return _scalar(hint, raw, path, problems)


def _scalar(hint: Any, raw: Any, path: str, problems: list[Problem]) -> Any:
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        problems.append(
            Problem(path, f"expected true or false, got {_describe(raw)}", "write true or false, unquoted")
        )
        return None
    if hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        problems.append(
            Problem(path, f"expected an integer, got {_describe(raw)}", "write a whole number, unquoted")
        )
        return None
    if hint is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        problems.append(Problem(path, f"expected a number, got {_describe(raw)}", "write a number, unquoted"))
        return None
    if hint is str:
        if isinstance(raw, str):
            return raw
        problems.append(
            Problem(path, f"expected a string, got {_describe(raw)}", "put the value in double quotes")
        )
        return None
    raise TypeError(f"unsupported setting type {hint!r} at {path}")


# --- checks shared by several sections -------------------------------------------


def positive(value: float) -> tuple[str, str] | None:
    if value <= 0:
        return (f"must be greater than 0, got {value}", "use a positive value")
    return None


def non_negative(value: float) -> tuple[str, str] | None:
    if value < 0:
        return (f"must not be negative, got {value}", "use 0 or more")
    return None


SECRET_PREFIX = "secret:"  # noqa: S105 - a reference prefix, not a password


_SECRET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # as mailward.secrets.store.NAME_RE


def secret_reference(value: str) -> tuple[str, str] | None:
    """A password setting: empty, or ``secret:NAME``; never the password itself."""
    if not value:
        return None
    if value.startswith(SECRET_PREFIX) and _SECRET_NAME.fullmatch(value[len(SECRET_PREFIX):]):
        return None
    fix = 'store it with `mailward secret set NAME` and write "secret:NAME" here'
    head, sep, name = value.partition(":")
    if sep and head.strip().lower() in ("secret", "secrets") and _SECRET_NAME.fullmatch(name.strip()):
        wrong = "spaces around the secret name" if head == "secret" else f'"{head}{sep}" is not the prefix'
        return (f'{wrong}: a reference is "{SECRET_PREFIX}NAME", lower case, nothing between',
                f'write "{SECRET_PREFIX}{name.strip()}"')
    if value.startswith(SECRET_PREFIX):
        return (f'"{SECRET_PREFIX}" is not followed by a usable secret name',
                "name a secret of `mailward secret list` (letters, digits, '.', '_' and '-')")
    # the value itself is never echoed: it may be the password
    return (f'has no "{SECRET_PREFIX}" prefix: a password is never written in the config itself',
            f'if it names a secret (see `mailward secret list`), put "{SECRET_PREFIX}" before the name; '
            f"else {fix}")


def at_least(minimum: int, fix: str) -> Callable[[int], tuple[str, str] | None]:
    """A ``check=`` for a number setting: ``minimum`` or more, else (problem, ``fix``)."""

    def check(value: int) -> tuple[str, str] | None:
        if value < minimum:
            return (f"must be at least {minimum}, got {value}", fix)
        return None

    return check
