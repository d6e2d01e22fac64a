"""Finding the folders and messages of a Maildir tree (admin.mailbox_import.scan_maildir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailward.admin.mailbox_import import TransferError, read_maildir_message, scan_maildir, target_name


def folder(path: Path, *files: str) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for name in files:
        (path / name).write_bytes(b"Subject: x\n\nbody\n")


def test_layout_fs_and_maildirpp_folders(tmp_path: Path) -> None:
    folder(tmp_path, "cur/2.b:2,S", "cur/1.a:2,", "new/3.c", "tmp/4.d")
    folder(tmp_path / "Projects" / "Entw&APw-rfe", "cur/5.e:2,F")
    folder(tmp_path / ".Sent", "cur/6.f:2,RS")
    (tmp_path / "Projects" / "notes.txt").write_text("not a folder")
    (tmp_path / "Projects" / "loop").symlink_to(tmp_path)  # not followed
    (tmp_path / "subscriptions").write_text("V\t2\n\nINBOX\nProjects\tEntw&APw-rfe\n")
    found = {f.name: f for f in scan_maildir(tmp_path)}
    assert list(found) == ["INBOX", "Sent", "Projects/Entwürfe"]
    # no dovecot-uidlist: by file name (Dovecot's names begin with the time)
    assert [(m.path.name, m.letters) for m in found["INBOX"].messages] == [
        ("1.a:2,", ""), ("2.b:2,S", "S"), ("3.c", "")]
    assert [m.letters for m in found["Projects/Entwürfe"].messages] == ["F"]
    assert {n: f.subscribed for n, f in found.items()} == {"INBOX": True, "Sent": False, "Projects/Entwürfe": True}


def test_uidlist_order_and_keywords_file(tmp_path: Path) -> None:
    folder(tmp_path, "cur/1.a,S=17:2,Sa", "cur/2.b,S=17:2,", "new/3.c,S=17")
    (tmp_path / "dovecot-uidlist").write_text("3 V1 N4 G0\n1 :3.c,S=17\n2 W20 :1.a,S=17:2,\n3 :2.b,S=17\n")
    (tmp_path / "dovecot-keywords").write_text("0 $Forwarded\n")
    (inbox,) = scan_maildir(tmp_path)
    assert [m.path.name for m in inbox.messages] == ["3.c,S=17", "1.a,S=17:2,Sa", "2.b,S=17:2,"]
    assert inbox.keywords == {0: "$Forwarded"}
    assert inbox.subscribed  # no subscriptions file: every folder


def test_a_message_file_read_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "1.a"
    path.write_bytes(b"Subject: x\n\nbody\r\nend")
    os.utime(path, (1_600_000_000, 1_600_000_000))
    prepared = read_maildir_message(path, frozenset({"\\Seen"}))
    assert prepared.data == b"Subject: x\r\n\r\nbody\r\nend"
    assert prepared.internal_date == 1_600_000_000.0 and prepared.flags == {"\\Seen"}


def test_no_maildir(tmp_path: Path) -> None:
    with pytest.raises(TransferError, match="no such directory"):
        scan_maildir(tmp_path / "missing")
    with pytest.raises(TransferError, match="not a Maildir"):
        scan_maildir(tmp_path)


def test_into() -> None:
    assert target_name(None, "Sent") == "Sent"
    assert target_name("Old/", "INBOX") == "Old"
    assert target_name("Old", "Lists/Py") == "Old/Lists/Py"
