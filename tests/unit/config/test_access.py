"""File access answered for the user the server runs as, from mode bits and owners."""

from __future__ import annotations

import os
from pathlib import Path

from mailward.config.access import Identity, check, group_name, user_name

SERVICE = Identity(uid=998, gids=frozenset({998}), name="mailward")


def owner_desc(path: Path) -> str:
    st = path.stat()
    return f"owner {user_name(st.st_uid)}, group {group_name(st.st_gid)}"


def test_directory_not_writable_by_service_user(open_tmp: Path) -> None:
    data = open_tmp / "data"
    data.mkdir()
    data.chmod(0o750)
    denied = check(data, SERVICE, "write")
    assert denied is not None
    assert denied.message == f"not writable by uid 998 (mailward) ({owner_desc(data)}, mode 0750)"
    assert denied.fix == f"chown -R mailward {data}"


def test_owner_bits_apply_to_owner(open_tmp: Path) -> None:
    f = open_tmp / "f"
    f.write_text("x")
    f.chmod(0o604)
    if os.geteuid() == 0:
        os.chown(f, 4242, -1)
    me = Identity(uid=os.stat(f).st_uid, gids=frozenset({12345}), name="me")
    assert check(f, me, "read") is None  # owner has r
    f.chmod(0o044)
    assert check(f, me, "read") is not None  # owner bits win even when others may read
    assert check(f, SERVICE, "read") is None


def test_group_bits(open_tmp: Path) -> None:
    f = open_tmp / "f"
    f.write_text("x")
    f.chmod(0o640)
    member = Identity(uid=998, gids=frozenset({os.stat(f).st_gid}), name="mailward")
    assert check(f, member, "read") is None
    assert check(f, member, "write") is not None


def test_blocking_parent_directory_is_named(open_tmp: Path) -> None:
    secret_dir = open_tmp / "locked"
    secret_dir.mkdir()
    (secret_dir / "server.key").write_text("k")
    secret_dir.chmod(0o700)
    denied = check(secret_dir / "server.key", SERVICE, "read")
    assert denied is not None
    assert denied.path == str(secret_dir)
    assert denied.message == (
        f"directory {secret_dir} is not searchable by uid 998 (mailward) ({owner_desc(secret_dir)}, mode 0700)"
    )
    assert denied.fix == f"chmod o+x {secret_dir}, or make mailward its owner or a member of its group"


def test_missing_file(open_tmp: Path) -> None:
    denied = check(open_tmp / "nope", SERVICE, "read")
    assert denied is not None and denied.message == f"{open_tmp / 'nope'} does not exist"


def test_root_reads_everything_but_needs_an_x_bit_to_search(open_tmp: Path) -> None:
    root = Identity(0, frozenset({0}), "root")
    f = open_tmp / "f"
    f.write_text("x")
    f.chmod(0)
    assert check(f, root, "read") is None
