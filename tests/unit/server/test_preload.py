"""What the server imports before it drops privileges covers every import it makes later."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import mailward

SRC = Path(mailward.__file__).parent


def imports_inside_functions() -> set[str]:
    """Every module named by an import statement in a function body of src/mailward."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
                    # `from package import module` imports the submodule
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules_after_preload() -> set[str]:
    """sys.modules of a fresh interpreter after preload()."""
    code = (
        "import json, sys\n"
        "from mailward.server.privileges import preload\n"
        "preload()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout))


def test_the_walk_finds_the_lazy_imports_it_must() -> None:
    """The walk below is only as good as what it sees: these are known lazy imports."""
    found = imports_inside_functions()
    assert {"mailward.store.postgres.backend", "mailward.store.sqlite.backend", "_ssl"} <= found


def test_preload_imports_every_lazy_import() -> None:
    lazy = imports_inside_functions()
    loaded = modules_after_preload()
    # a `from package import name` where name is not a module leaves no entry of its own
    missing = {name for name in lazy if name not in loaded and name.rpartition(".")[0] not in loaded}
    assert not missing, f"imported inside functions but not by preload(): {sorted(missing)}"


def test_preload_imports_what_the_libraries_import_late() -> None:
    """Found by running sessions as a user that cannot read Python's own directory: the
    thread pool (SQLite's I/O, asyncio.to_thread), the platform's sysconfig data (the first
    tls-exporter use, in a STARTTLS session), temporary files (message staging)."""
    loaded = modules_after_preload()
    assert {"concurrent.futures.thread", "tempfile", "encodings.idna"} <= loaded
    assert any(name.startswith("_sysconfigdata") for name in loaded)
