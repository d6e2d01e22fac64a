"""The embedded store on a file system that turns read-only and back (issue 18: a worker
started while the store was not writable answered 451 for good, even once it was again).

Runs in a mount namespace of its own (``unshare -m``), where the test's data directory
is bind-mounted onto itself and remounted read-only and read-write; nothing outside the
namespace sees the mounts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import proc

SCRIPT = textwrap.dedent('''
    import asyncio, subprocess, sys
    from pathlib import Path
    from mailward.store.interface import StoreUnavailable
    from mailward.store.sqlite.backend import SqliteStore

    data, view = Path(sys.argv[1]), Path(sys.argv[2])

    def mount(*options: str) -> None:
        subprocess.run(["mount", *options, str(data), str(view)], check=True)

    async def main() -> None:
        # the supervisor migrated; another worker has the store open, writable, meanwhile
        other = await SqliteStore.open(data / "store", exclusive=False)
        await other.add_domain("before.example")
        # the same directory seen through a read-only mount (a mount with files open for
        # writing cannot be remounted read-only, so the worker gets a view of its own)
        mount("--bind")
        mount("-o", "remount,bind,ro")
        # a worker started now (no migration: the supervisor did it) must start all the same
        worker = await SqliteStore.open(view / "store", migrate=False, exclusive=False)
        print("read:", [d.name for d in await worker.list_domains()])
        try:
            await worker.add_domain("during.example")
        except StoreUnavailable as exc:
            print("refused:", exc)
        mount("-o", "remount,bind,rw")
        await worker.add_domain("after.example")  # by itself, with no restart and no signal
        print("written:", sorted(d.name for d in await worker.list_domains()))
        await worker.close()
        await other.close()

    asyncio.run(main())
''')


def _namespaces_work() -> bool:
    try:
        done = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10, check=False)
        return done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _namespaces_work(), reason="needs root and unshare -m (mount namespaces)")
def test_a_store_opened_while_read_only_takes_writes_again_once_it_is_writable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, view = tmp_path / "data", tmp_path / "view"
    data.mkdir()
    view.mkdir()
    result = subprocess.run(
        ["unshare", "-m", sys.executable, "-c", SCRIPT, str(data), str(view)],
        capture_output=True, text=True, env=proc.env(), timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "read: ['before.example']"
    assert lines[1].startswith("refused: the store is not writable: ")
    assert lines[2] == "written: ['after.example', 'before.example']"
    assert "is not writable now" in result.stderr or "is not writable" in result.stderr
    assert "writable again" in result.stderr
    assert "Traceback" not in result.stderr
