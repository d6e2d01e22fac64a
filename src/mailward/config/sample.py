"""Render the annotated sample configuration from the models' doc strings.

Settings given in ``values`` are written as active keys; every other setting
is written commented out with its default, so the file documents itself and
defaults can improve in later versions without editing it.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from mailward.config.model import Config, ListenerSettings
from mailward.config.schema import fields_of, toml_value

_WIDTH = 88


def _comment(doc: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(doc, _WIDTH - 2, break_on_hyphens=False)]


def _is_section(default: Any) -> bool:
    return dataclasses.is_dataclass(default) and not isinstance(default, type)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _render_keys(cls: type[Any], values: Mapping[str, Any], skip: Sequence[str] = ()) -> list[str]:
    out: list[str] = []
    for f, _hint in fields_of(cls):
        if f.name in skip or not f.metadata.get("sample", True) or _is_section(_default(f)):
            continue
        out.extend(_comment(f.metadata["doc"]))
        if f.name in values:
            out.append(f"{f.name} = {toml_value(values[f.name])}")
        else:
            out.append(f"# {f.name} = {toml_value(_default(f))}")
        out.append("")
    return out


def _render_sections(
    cls: type[Any], prefix: str, sections: Mapping[str, Mapping[str, Any]] | None = None
) -> list[str]:
    """Every nested table of ``cls``, with its keys, then its own nested tables.

    ``sections`` maps a table's dotted name (``"tls"``) to the keys to set in it.
    """
    sections = sections or {}
    out: list[str] = []
    for f, _hint in fields_of(cls):
        default = _default(f)
        if not _is_section(default) or not f.metadata.get("sample", True):
            continue
        name = f"{prefix}{f.name}"
        out.extend(["", f"[{name}]", *_comment(f.metadata["doc"]), ""])
        out.extend(_render_keys(type(default), sections.get(name, {})))
        out.extend(_render_sections(type(default), f"{name}.", sections))
    return out


def render(
    values: Mapping[str, Any],
    listeners: Sequence[Mapping[str, Any]],
    header: str,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The sample file: ``values`` are global settings to set, ``sections`` the settings to set
    in tables (``{"tls": {"rsa_certificate": ...}}``), ``listeners`` the [[listener]]s."""
    out = [*_comment(header), ""]
    out.extend(_render_keys(Config, values))
    out.extend(_render_sections(Config, "", sections))
    out.append("")
    if not listeners:
        out.extend(_comment("No protocol in this build has listeners yet; [[listener]] tables go here."))
    for listener in listeners:
        out.append("[[listener]]")
        for f, _hint in fields_of(ListenerSettings):
            if f.name in listener:
                out.append(f"{f.name} = {toml_value(listener[f.name])}")
        out.append("")
    out.extend(
        _comment(
            "A listener may override [tls] in a [listener.tls_options] table, [limits] in a "
            "[listener.limits] table and its protocol's own section in a table of that name "
            "([listener.smtp] for an SMTP listener), placed after its [[listener]] keys."
        )
    )
    return "\n".join(out).rstrip() + "\n"
