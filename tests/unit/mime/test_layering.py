"""mime/ is sans-IO and standard library only (DESIGN.md, Layout)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import mailward.mime

IO_MODULES = {"asyncio", "ssl", "socket", "os", "io", "pathlib", "shutil", "tempfile", "subprocess", "threading"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_mime_imports_only_the_standard_library_and_no_io() -> None:
    package = Path(mailward.mime.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in imported(path):
            top = name.split(".")[0]
            if name.startswith("mailward."):
                assert name.startswith("mailward.mime"), (path.name, name)
                continue
            assert top in sys.stdlib_module_names, (path.name, name)
            assert top not in IO_MODULES, (path.name, name)
        assert "open(" not in path.read_text(), path.name
