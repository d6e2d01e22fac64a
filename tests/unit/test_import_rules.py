"""Layering rules, checked on the source: which packages may import what."""

from __future__ import annotations

import ast
from pathlib import Path

import mailward

SRC = Path(mailward.__file__).parent
BACKENDS = ("mailward.store.sqlite", "mailward.store.postgres", "sqlite3", "psycopg", "psycopg_pool")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def banned_in(names: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == b or n.startswith(b + ".") for b in banned))


def offenders(paths: list[Path], banned: tuple[str, ...]) -> dict[str, list[str]]:
    found = {path.name if not path.is_relative_to(SRC) else str(path.relative_to(SRC)):
             banned_in(imports(path), banned) for path in paths}
    return {name: bad for name, bad in found.items() if bad}


def test_only_the_store_factory_imports_a_backend() -> None:
    # server/, cli/ and the store's copy code work on the Store interface and what the
    # factory returns (the embedded store's lock and worker links included)
    paths = [*(SRC / "server").rglob("*.py"), *(SRC / "cli").rglob("*.py"), SRC / "store" / "transfer.py",
             *(SRC / "admin").rglob("*.py")]
    assert offenders(paths, BACKENDS) == {}


def test_the_rule_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlite3\nimport os\nfrom mailward.store.sqlite.backend import SqliteStore\n")
    assert offenders([bad], BACKENDS) == {"bad.py": ["mailward.store.sqlite.backend", "sqlite3"]}
