"""Where the master key comes from, and creating it owner-only whatever the umask."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailward.secrets import MasterKeyError, create_master_key, load_master_key
from mailward.secrets.masterkey import new_key
from support.inproc import mode


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o000, 0o777])
def test_create_master_key_modes(tmp_path: Path, umask: Callable[[int], int], mask: int) -> None:
    umask(mask)
    path = tmp_path / "data" / "secrets" / "master.key"
    created = create_master_key(path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    assert load_master_key(path, {}).key == created.key
    assert len(base64.b64decode(path.read_bytes())) == 32


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_create_master_key_group_directory(tmp_path: Path, umask: Callable[[int], int], mask: int) -> None:
    umask(mask)
    path = tmp_path / "secrets" / "master.key"
    create_master_key(path, dir_mode=0o750)
    assert mode(path.parent) == 0o750
    assert mode(path) == 0o600


def test_create_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = create_master_key(path)
    with pytest.raises(MasterKeyError, match="already exists"):
        create_master_key(path)
    assert load_master_key(path, {}).key == first.key


def test_create_does_not_follow_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "master.key").symlink_to(target)
    with pytest.raises(MasterKeyError, match="already exists"):
        create_master_key(tmp_path / "master.key")
    assert not target.exists()


def test_source_order(tmp_path: Path) -> None:
    file_key = create_master_key(tmp_path / "master.key")
    env_key, cred_key = new_key(), new_key()
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mailward-master-key").write_bytes(cred_key)
    env = {"MAILWARD_MASTER_KEY": base64.b64encode(env_key).decode(), "CREDENTIALS_DIRECTORY": str(creds)}
    got = load_master_key(tmp_path / "master.key", env)
    assert got.key == env_key and got.source == "$MAILWARD_MASTER_KEY" and got.path is None
    del env["MAILWARD_MASTER_KEY"]
    got = load_master_key(tmp_path / "master.key", env)
    assert got.key == cred_key and "systemd credential" in got.source
    (creds / "mailward-master-key").write_text(base64.b64encode(cred_key).decode() + "\n")
    assert load_master_key(tmp_path / "master.key", env).key == cred_key
    (creds / "mailward-master-key").unlink()  # credential directory without ours: next source
    got = load_master_key(tmp_path / "master.key", env)
    assert got.key == file_key.key and got.path == tmp_path / "master.key"


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!", "not a base64 master key"), (base64.b64encode(b"short").decode(), "32 bytes, got 5")],
)
def test_bad_env_key(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(MasterKeyError, match=message) as err:
        load_master_key(tmp_path / "k", {"MAILWARD_MASTER_KEY": value})
    assert "$MAILWARD_MASTER_KEY" in str(err.value)
    assert value not in str(err.value) or len(value) < 12


def test_missing_key_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="mailward init"):
        load_master_key(tmp_path / "master.key", {})


@pytest.mark.parametrize("bits", [0o640, 0o604, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, bits: int) -> None:
    path = tmp_path / "master.key"
    create_master_key(path)
    path.chmod(bits)
    with pytest.raises(MasterKeyError, match=re.escape(f"chmod 600 {path}")):
        load_master_key(path, {})


def test_corrupt_key_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    create_master_key(path)
    path.write_text("garbage")
    with pytest.raises(MasterKeyError, match=re.escape(f"key file {path}: not a base64 master key")):
        load_master_key(path, {})
