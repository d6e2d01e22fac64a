"""A reader must never undo a key rotation that is under way in another process."""

from __future__ import annotations

import threading
from pathlib import Path

from mailward.config.secrets import SecretsSettings
from mailward.secrets import SecretPaths, create_master_key, locked, open_locked, open_store
from mailward.secrets.masterkey import encode_key, new_key
from mailward.secrets.vault import pending_key_path


def test_reader_waits_for_rotation_instead_of_deleting_the_pending_key(tmp_path: Path) -> None:
    paths = SecretPaths.of(SecretsSettings(), tmp_path)
    create_master_key(paths.key_file)
    with locked(paths.store_file):
        store = open_locked(paths)
        store.set("db", "s3cret")
        store.save()
    pending = pending_key_path(paths.key_file)
    opened: list[str] = []
    with locked(paths.store_file):  # as rotate_key holds it, between its steps 1 and 2
        pending.write_bytes(encode_key(new_key()))
        reader = threading.Thread(target=lambda: opened.append(open_store(paths).get("db")))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive()  # it waits for the lock ...
        assert pending.exists()  # ... and has not thrown the rotation's new key away
    reader.join(10)
    assert opened == ["s3cret"]
