"""The IMAP core is sans-IO: the standard library only, and none of its I/O modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import mailward.protocols.imap as core

IO_MODULES = {"asyncio", "ssl", "socket", "selectors", "threading", "subprocess", "time", "os", "io", "logging"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_only_the_standard_library_and_no_io() -> None:
    files = list(Path(core.__file__).parent.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        for name in imported(path):
            top = name.split(".")[0]
            if name.startswith("mailward."):
                assert name.startswith("mailward.protocols.imap"), (path, name)
                continue
            assert top in sys.stdlib_module_names, (path, name)
            assert top not in IO_MODULES, (path, name)
