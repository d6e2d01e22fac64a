"""Load a TOML configuration file into a validated :class:`Config`."""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailward.config import access
from mailward.config.locate import key_lines, line_of
from mailward.config.model import Config, ListenerSettings, ProtocolRules, parse_address
from mailward.config.problems import ConfigError, Problem, Severity
from mailward.config.schema import BuildContext, build

# sections every listener inherits from the global level, and under which key (a protocol's
# own section is inherited by its listeners only: ProtocolRules.settings)
_INHERITED_TABLES = {"tls_options": "tls", "limits": "limits"}
_INHERITED_SCALARS = ("plaintext_login", "scram_plus")
_REQUIRED_LISTENER_KEYS = {
    "name": 'name = "submission"',
    "protocol": 'protocol = "smtp"',
    "address": 'address = "0.0.0.0:587"',
    "tls": 'tls = "starttls-required"',
}


@dataclasses.dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration, with where it came from (to locate later problems)."""

    config: Config
    file: str
    lines: Mapping[str, int]
    warnings: tuple[Problem, ...] = ()
    failed: frozenset[str] = frozenset()
    """Settings that failed validation (only in :attr:`ConfigError.partial`)."""

    def locate(self, problem: Problem) -> Problem:
        if problem.file:
            return problem
        return problem.located(self.file, line_of(dict(self.lines), problem.key))


def load(path: str | os.PathLike[str], protocols: Mapping[str, ProtocolRules]) -> LoadedConfig:
    """Read, parse and validate ``path``; raise :class:`ConfigError` with every problem.

    ``protocols`` names the protocols this build can serve, with their rules;
    a listener naming another protocol is an error.
    """
    file = str(path)
    text = _read(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, exc)]) from None
    lines = key_lines(text)
    problems: list[Problem] = []
    config = from_dict(data, Path(file).resolve().parent, protocols, problems)
    located = [p.located(file, line_of(lines, p.key)) for p in problems]
    errors = [p for p in located if p.severity is Severity.ERROR]
    warnings = tuple(p for p in located if p not in errors)
    if errors or config is None:
        partial = from_dict(data, Path(file).resolve().parent, protocols, [], partial=True)
        failed = frozenset(p.key for p in errors)
        checkable = None if partial is None else LoadedConfig(partial, file, lines, warnings, failed)
        raise ConfigError(errors, checkable)
    return LoadedConfig(config, file, lines, warnings)


def _read(file: str) -> str:
    try:
        with open(file, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        problem = Problem("", "no such file", "create it with `mailward init`, or name another with -c FILE")
    except PermissionError:
        problem = Problem("", access.denied_message(file, "read"), access.fix_read(file))
    except IsADirectoryError:
        problem = Problem("", "is a directory, not a file", "name the configuration file itself")
    except UnicodeDecodeError as exc:
        problem = Problem("", f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8")
    raise ConfigError([problem.located(file, None)])


def _syntax_problem(file: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    line: int | None = None
    if "(at line " in message:
        message, _, where = message.rpartition(" (at line ")
        number = where.split(",", 1)[0].rstrip(")")
        line = int(number) if number.isdigit() else None
    return Problem("", f"TOML syntax error: {message}", "correct the syntax on that line").located(file, line)


def from_dict(
    data: Mapping[str, Any],
    config_dir: Path,
    protocols: Mapping[str, ProtocolRules],
    problems: list[Problem],
    *,
    partial: bool = False,
) -> Config | None:
    """Validate parsed TOML; problems are appended (without file or line).

    ``partial``: see :attr:`ConfigError.partial`; ``None`` only when the file's
    structure leaves nothing to check."""
    data = dict(data)
    raw_listeners = data.pop("listener", [])
    raw_data_dir = data.get("data_dir", Config.__dataclass_fields__["data_dir"].default)
    data_dir = config_dir / raw_data_dir if isinstance(raw_data_dir, str) else config_dir
    ctx = BuildContext(base_dir=data_dir, partial=partial)
    config = build(Config, data, "", ctx, problems)

    listeners: list[tuple[int, ListenerSettings]] = []
    if not isinstance(raw_listeners, list):
        problems.append(
            Problem("listener", "must be written as [[listener]] tables", "use [[listener]] headers")
        )
        raw_listeners = []
    for index, raw in enumerate(raw_listeners):
        listener = _listener(index, raw, data, ctx, protocols, problems)
        if listener is not None:
            listeners.append((index, listener))
    _check_listener_set(listeners, problems)

    _dedupe(problems)
    if config is None or (len(listeners) != len(raw_listeners) and not partial):
        return None
    numbers = tuple(index for index, _ in listeners)
    return dataclasses.replace(
        config, data_dir=str(data_dir), listener=tuple(lst for _, lst in listeners),
        listener_index=numbers if numbers != tuple(range(len(numbers))) else ())


def _listener(
    index: int,
    raw: Any,
    data: Mapping[str, Any],
    ctx: BuildContext,
    protocols: Mapping[str, ProtocolRules],
    problems: list[Problem],
) -> ListenerSettings | None:
    prefix = f"listener[{index}]"
    if not isinstance(raw, dict):
        problems.append(Problem(prefix, "must be a table", "use a [[listener]] header"))
        return None
    merged = dict(raw)
    before = len(problems)
    own_table = _protocol_tables(prefix, raw, merged, protocols, problems)
    relabel: dict[str, str] = {}
    for own, inherited in _INHERITED_TABLES.items():
        _inherit(prefix, own, inherited, raw, data, merged, relabel)
    for key in _INHERITED_SCALARS:
        if key not in raw and key in data:
            merged[key] = data[key]
            relabel[f"{prefix}.{key}"] = key
    for key, example in _REQUIRED_LISTENER_KEYS.items():
        if key not in raw:
            problems.append(Problem(f"{prefix}.{key}", "missing", f"add {example}"))
    listener = build(ListenerSettings, merged, prefix, dataclasses.replace(ctx, relabel=relabel), problems)
    if own_table and listener is not None:
        listener = _with_protocol_settings(prefix, own_table, listener, raw, data, ctx, problems)
    failed = problems[before:]
    if listener is None or (failed and not (ctx.partial and _usable(prefix, failed))):
        return None
    return _apply_protocol_rules(prefix, listener, "role" in raw, protocols, problems)


def _inherit(
    prefix: str,
    own: str,
    inherited: str,
    raw: Mapping[str, Any],
    data: Mapping[str, Any],
    merged: dict[str, Any],
    relabel: dict[str, str],
) -> None:
    """Merge the global table ``inherited`` under the listener's ``own`` table; problems
    with an inherited key are reported at the global key, where it is written."""
    base = data.get(inherited, {})
    override = raw.get(own, {})
    if isinstance(base, dict) and isinstance(override, dict):
        merged[own] = {**base, **override}
        relabel.update({f"{prefix}.{own}.{k}": f"{inherited}.{k}" for k in base if k not in override})


def _protocol_tables(
    prefix: str,
    raw: Mapping[str, Any],
    merged: dict[str, Any],
    protocols: Mapping[str, ProtocolRules],
    problems: list[Problem],
) -> str:
    """Take the protocols' own tables out of ``merged`` (they are built apart, with the
    protocol's type); the name of this listener's, or "" if its protocol has none.
    A table of another protocol is a problem."""
    rules = protocols.get(raw.get("protocol", "")) if isinstance(raw.get("protocol"), str) else None
    own = rules.settings if rules is not None else ""
    users: dict[str, list[str]] = {}
    for name, other in protocols.items():
        if other.settings:
            users.setdefault(other.settings, []).append(name)
    for table, names in users.items():
        if table not in merged:
            continue
        del merged[table]
        if table != own and rules is not None:
            listed = " or ".join(f'"{n}"' for n in sorted(names))
            problems.append(Problem(
                f"{prefix}.{table}", f"[listener.{table}] is for listeners of protocol {listed}, "
                f'not "{raw.get("protocol")}"', "remove the table, or move it to such a listener"))
    return own


def _with_protocol_settings(
    prefix: str,
    table: str,
    listener: ListenerSettings,
    raw: Mapping[str, Any],
    data: Mapping[str, Any],
    ctx: BuildContext,
    problems: list[Problem],
) -> ListenerSettings | None:
    kind = typing.get_type_hints(Config).get(table)
    if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        raise ValueError(f"a protocol names settings {table!r}, which is no section of Config")
    merged: dict[str, Any] = {}
    relabel: dict[str, str] = {}
    _inherit(prefix, table, table, raw, data, merged, relabel)
    values = merged.get(table, raw.get(table, {}))
    if not isinstance(values, dict):
        problems.append(Problem(f"{prefix}.{table}", "must be a table", f"write it as [listener.{table}]"))
        return None
    settings = build(kind, values, f"{prefix}.{table}", dataclasses.replace(ctx, relabel=relabel), problems)
    if settings is None:
        return None
    return dataclasses.replace(listener, protocol_settings=settings)


def _usable(prefix: str, problems: list[Problem]) -> bool:
    """Whether a listener with these problems can still be checked (its port bound, its
    TLS files read): its own name, protocol, role, address and mode validated."""
    essential = {f"{prefix}.{key}" for key in (*_REQUIRED_LISTENER_KEYS, "role")} | {prefix}
    return not any(p.key in essential for p in problems)


def _apply_protocol_rules(
    prefix: str,
    listener: ListenerSettings,
    role_given: bool,
    protocols: Mapping[str, ProtocolRules],
    problems: list[Problem],
) -> ListenerSettings | None:
    rules = protocols.get(listener.protocol)
    if rules is None:
        known = ", ".join(f'"{name}"' for name in sorted(protocols)) or "none yet"
        problems.append(
            Problem(
                f"{prefix}.protocol", f'unknown protocol "{listener.protocol}"', f"this build serves: {known}"
            )
        )
        return None
    if not role_given:
        return dataclasses.replace(listener, role=rules.roles[0])
    if listener.role not in rules.roles:
        roles = ", ".join(f'"{r}"' for r in rules.roles)
        problems.append(
            Problem(
                f"{prefix}.role", f'{listener.protocol} has no role "{listener.role}"', f"use one of {roles}"
            )
        )
        return None
    if listener.tls in ("starttls", "starttls-required") and not rules.starttls:
        problems.append(
            Problem(f"{prefix}.tls", f"{listener.protocol} has no STARTTLS", 'use "implicit" or "none"')
        )
        return None
    return listener


def _check_listener_set(listeners: list[tuple[int, ListenerSettings]], problems: list[Problem]) -> None:
    seen_names: dict[str, int] = {}
    seen_binds: list[tuple[int, ListenerSettings]] = []
    for index, listener in listeners:
        if listener.name in seen_names:
            problems.append(
                Problem(
                    f"listener[{index}].name",
                    f'"{listener.name}" is also the name of listener[{seen_names[listener.name]}]',
                    "give every listener its own name",
                )
            )
            continue
        seen_names[listener.name] = index
        for other_index, other in seen_binds:
            if _overlaps(listener.address, other.address):
                problems.append(
                    Problem(
                        f"listener[{index}].address",
                        f"{listener.address} overlaps listener[{other_index}] "
                        f'("{other.name}", {other.address})',
                        "give each listener its own port",
                    )
                )
        seen_binds.append((index, listener))


def _overlaps(a: str, b: str) -> bool:
    pa, pb = parse_address(a), parse_address(b)
    if isinstance(pa, tuple) or isinstance(pb, tuple) or pa.port != pb.port or pa.port == 0:
        return False
    if pa.host == pb.host or "::" in (pa.host, pb.host):
        return True  # Linux binds "::" dual-stack: it overlaps every address
    return "0.0.0.0" in (pa.host, pb.host) and pa.family == pb.family == socket.AF_INET  # noqa: S104


def _dedupe(problems: list[Problem]) -> None:
    unique = list(dict.fromkeys(problems))
    problems[:] = unique
