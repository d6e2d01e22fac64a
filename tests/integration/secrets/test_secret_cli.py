"""`mailward secret ...` end to end: real files, real umasks, key rotation and its crashes."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.cli import common, secret_cmd
from mailward.secrets import MasterKeyError, SealedStore, SecretPaths, create_master_key, open_store, vault
from mailward.secrets.masterkey import read_key_file
from support.inproc import mode

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, SecretPaths]:
    data = tmp_path / "data"
    config = tmp_path / "mailward.toml"
    config.write_text(f'data_dir = "{data}"\n')
    paths = SecretPaths(data / "secrets" / "master.key", data / "secrets" / "sealed.json")
    create_master_key(paths.key_file)
    return config, paths


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def run(config: Path, *argv: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch) -> int:
    parser = argparse.ArgumentParser(prog="mailward")
    secret_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["secret", *argv, "-c", str(config)])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return int(args.func(args))


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_set_list_remove(
    setup: tuple[Path, SecretPaths], umask: None, mask: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, paths = setup
    os.umask(mask)
    assert run(config, "set", "smarthost", stdin="s3cret-value\n", monkeypatch=monkeypatch) == 0
    assert run(config, "set", "db", stdin="with\ttab and trailing space \r\n", monkeypatch=monkeypatch) == 0
    assert mode(paths.store_file) == 0o600
    assert mode(paths.store_file.parent) == 0o700
    assert not [p for p in paths.store_file.parent.iterdir() if p.name.endswith(".tmp")]
    store = open_store(paths, {})
    assert store.get("smarthost") == "s3cret-value"
    assert store.get("db") == "with\ttab and trailing space "
    assert b"s3cret" not in paths.store_file.read_bytes()
    capsys.readouterr()
    assert run(config, "list", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert out == "db\nsmarthost\n" and "s3cret" not in out
    assert run(config, "remove", "db", monkeypatch=monkeypatch) == 0
    assert run(config, "remove", "db", monkeypatch=monkeypatch) == 1
    assert open_store(paths, {}).names() == ["smarthost"]


def test_empty_value_and_bad_name_are_refused(
    setup: tuple[Path, SecretPaths], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, paths = setup
    assert run(config, "set", "x", stdin="\n", monkeypatch=monkeypatch) == 1
    assert run(config, "set", "a/b", stdin="v", monkeypatch=monkeypatch) == 1
    assert "not a usable secret name" in capsys.readouterr().err
    assert not paths.store_file.exists()


def test_prompt_on_a_terminal(setup: tuple[Path, SecretPaths], monkeypatch: pytest.MonkeyPatch) -> None:
    config, paths = setup
    answers = iter(["typed", "typed", "one", "other"])
    monkeypatch.setattr(common.getpass, "getpass", lambda prompt: next(answers))

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    parser = argparse.ArgumentParser()
    secret_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["secret", "set", "p", "-c", str(config)])
    monkeypatch.setattr(sys, "stdin", Tty())
    assert args.func(args) == 0
    assert args.func(args) == 1  # the two prompts differ: nothing changes
    assert open_store(paths, {}).get("p") == "typed"


def test_set_from_a_pipe_in_a_real_process(setup: tuple[Path, SecretPaths]) -> None:
    config, paths = setup
    script = (
        "import argparse, sys; from mailward.cli import secret_cmd\n"
        "p = argparse.ArgumentParser(); secret_cmd.register(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "secret", "set", "relay", "-c", str(config)],
        input=b"piped value\n", capture_output=True, check=False, timeout=60,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stderr
    assert open_store(paths, {}).get("relay") == "piped value"


def test_wrong_key_from_the_environment(
    setup: tuple[Path, SecretPaths], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = setup
    assert run(config, "set", "a", stdin="v", monkeypatch=monkeypatch) == 0
    monkeypatch.setenv("MAILWARD_MASTER_KEY", "A" * 43 + "=")
    capsys.readouterr()
    assert run(config, "list", monkeypatch=monkeypatch) == 1
    err = capsys.readouterr().err
    assert "the master key from $MAILWARD_MASTER_KEY is not the key" in err


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_rotate_key(
    setup: tuple[Path, SecretPaths], umask: None, mask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, paths = setup
    os.umask(mask)
    for name in ("a", "b", "c"):
        assert run(config, "set", name, stdin=f"value {name}", monkeypatch=monkeypatch) == 0
    old = read_key_file(paths.key_file)
    assert run(config, "rotate-key", monkeypatch=monkeypatch) == 0
    new = read_key_file(paths.key_file)
    assert new.key != old.key
    assert mode(paths.key_file) == 0o600 and mode(paths.store_file) == 0o600
    assert not vault.pending_key_path(paths.key_file).exists()
    store = open_store(paths, {})
    assert {n: store.get(n) for n in store.names()} == {n: f"value {n}" for n in "abc"}
    with pytest.raises(MasterKeyError):
        SealedStore.open(paths.store_file, old)


def test_rotate_refuses_a_key_from_the_environment(
    setup: tuple[Path, SecretPaths], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, paths = setup
    monkeypatch.setenv("MAILWARD_MASTER_KEY", paths.key_file.read_text().strip())
    assert run(config, "rotate-key", monkeypatch=monkeypatch) == 1
    assert "cannot replace" in capsys.readouterr().err


class Crash(Exception):
    pass


def _seed(paths: SecretPaths) -> bytes:
    store = open_store(paths, {})
    store.set("a", "alpha")
    store.save()
    return paths.key_file.read_bytes()


def test_crash_before_the_store_is_committed(
    setup: tuple[Path, SecretPaths], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, paths = setup
    old_key_file = _seed(paths)

    def crash(self: SealedStore, master: object) -> SealedStore:
        raise Crash

    monkeypatch.setattr(SealedStore, "resealed", crash)
    with pytest.raises(Crash):
        vault.rotate_key(paths, {})
    assert vault.pending_key_path(paths.key_file).exists()
    monkeypatch.undo()
    store = open_store(paths, {})  # the old key still opens it; the stale .next goes
    assert store.get("a") == "alpha"
    assert paths.key_file.read_bytes() == old_key_file
    assert not vault.pending_key_path(paths.key_file).exists()


def test_crash_after_the_store_is_committed(
    setup: tuple[Path, SecretPaths], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, paths = setup
    old_key_file = _seed(paths)
    real_save = SealedStore.save

    def save_then_crash(self: SealedStore) -> None:
        real_save(self)
        raise Crash

    monkeypatch.setattr(SealedStore, "save", save_then_crash)
    with pytest.raises(Crash):
        vault.rotate_key(paths, {})
    monkeypatch.undo()
    assert paths.key_file.read_bytes() == old_key_file  # step 3 never ran
    store = open_store(paths, {})  # rolls forward
    assert store.get("a") == "alpha"
    assert paths.key_file.read_bytes() != old_key_file
    assert mode(paths.key_file) == 0o600
    assert not vault.pending_key_path(paths.key_file).exists()
    assert open_store(paths, {}).get("a") == "alpha"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another user")
def test_root_keeps_the_owner_of_the_files(setup: tuple[Path, SecretPaths]) -> None:
    """`sudo mailward secret set` must not leave the store readable by root alone."""
    _, paths = setup
    directory = paths.store_file.parent
    os.chown(directory, 4321, 4321)
    store = open_store(paths, {})
    store.set("a", "alpha")
    store.save()  # new file: the directory's owner
    assert (paths.store_file.stat().st_uid, paths.store_file.stat().st_gid) == (4321, 4321)
    os.chown(paths.store_file, 5432, 4321)
    store.set("b", "beta")
    store.save()  # replaced file: its previous owner
    assert paths.store_file.stat().st_uid == 5432
    assert mode(paths.store_file) == 0o600
