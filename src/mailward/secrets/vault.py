"""Opening the store the way the config says, and rotating the master key crash-safely.

Rotation (``mailward secret rotate-key``) must never leave the key file and the
store half-swapped. Two files cannot be renamed at once, so the store's key id is
the commit record:

1. the new key is written to ``<key file>.next`` (0600, fsync, fsync of the dir);
2. the store, re-sealed under the new key, atomically replaces the old store:
   this rename is the commit point;
3. ``<key file>.next`` is renamed over the key file (fsync of the dir).

Whoever opens the store next (:func:`open_store`) compares key ids: if the store
needs the key in ``.next``, a crash hit between 2 and 3 and the rename is finished
(roll forward); if the store still matches the old key, a crash hit before 2 and
the stale ``.next`` is removed. At every instant one of the two key files opens the
store.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mailward import files
from mailward.config.secrets import SecretsSettings
from mailward.secrets.errors import MasterKeyError
from mailward.secrets.masterkey import MasterKey, encode_key, load_master_key, new_key, read_key_file
from mailward.secrets.resolve import resolve
from mailward.secrets.store import SealedStore, key_id, locked, read_file


@dataclass(frozen=True)
class SecretPaths:
    """The key file and the store file, absolute."""

    key_file: Path
    store_file: Path

    @classmethod
    def of(cls, settings: SecretsSettings, data_dir: str | os.PathLike[str]) -> SecretPaths:
        base = Path(data_dir)
        return cls(base / settings.master_key_file, base / settings.store_file)


def pending_key_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".next")


def open_store(paths: SecretPaths, environ: Mapping[str, str] | None = None) -> SealedStore:
    """Load the master key (see :mod:`mailward.secrets.masterkey`) and open the store.

    Finishes or discards an interrupted key rotation first (see the module doc).
    """
    try:
        with locked(paths.store_file):  # never recover while a rotation is under way
            return open_locked(paths, environ)
    except PermissionError:
        # a reader that may not write here leaves recovery to whoever can
        return SealedStore.open(paths.store_file, load_master_key(paths.key_file, environ))


def open_locked(paths: SecretPaths, environ: Mapping[str, str] | None = None) -> SealedStore:
    """open_store for a caller holding the store lock."""
    master = load_master_key(paths.key_file, environ)
    if master.path is not None:
        master = _recover_rotation(master, paths.store_file)
    return SealedStore.open(paths.store_file, master)


def _recover_rotation(master: MasterKey, store_file: Path) -> MasterKey:
    assert master.path is not None
    pending = pending_key_path(master.path)
    if not pending.exists():
        return master
    stored_id, _, _ = read_file(store_file)
    try:
        candidate = read_key_file(pending)
    except MasterKeyError:
        candidate = None
    if stored_id is not None and candidate is not None and hmac.compare_digest(stored_id, key_id(candidate)):
        # crash after the store was committed: finish step 3
        with contextlib.suppress(OSError):
            os.replace(pending, master.path)
            files.fsync_dir(master.path.parent)
        return MasterKey(candidate.key, f"key file {master.path}", master.path)
    # crash before the commit (or garbage): the old key is still the key
    with contextlib.suppress(OSError):
        os.unlink(pending)
    return master


def rotate_key(paths: SecretPaths, environ: Mapping[str, str] | None = None) -> SealedStore:
    """Re-seal every secret under a new master key, replacing the key file (see module doc).

    Only a key file can be rotated: a key from ``$MAILWARD_MASTER_KEY`` or a systemd
    credential raises :class:`MasterKeyError` (replace that key by hand: decrypt with
    the old one via ``mailward secret``, which is why this is refused rather than guessed).
    """
    with locked(paths.store_file):
        store = open_locked(paths, environ)
        old = store.master
        if old.path is None:
            raise MasterKeyError(
                f"the master key comes from {old.source}, which mailward cannot replace",
                "unset it so that the key file is used, then rotate; or keep that key",
            )
        pending = pending_key_path(old.path)
        key = new_key()
        files.write_atomic(
            pending, encode_key(key), files.SECRET_MODE, owner=files.inherited_owner(pending)
        )  # step 1
        new_master = MasterKey(key, old.source, old.path)
        resealed = store.resealed(new_master)
        resealed.save()  # step 2: the commit point
        os.replace(pending, old.path)  # step 3
        files.fsync_dir(old.path.parent)
        return resealed


class LazySecrets:
    """A secret source that opens the sealed store only when a ``secret:NAME`` is used.

    A configuration that names no secret never needs the master key.
    """

    def __init__(self, paths: SecretPaths, environ: Mapping[str, str] | None = None) -> None:
        self.paths = paths
        self._environ = environ
        self._store: SealedStore | None = None

    def get(self, name: str) -> str:
        if self._store is None:
            self._store = open_store(self.paths, self._environ)
        return self._store.get(name)

    def resolve(self, ref: str, key: str = "") -> str:
        """``ref`` itself, or the value of the secret it names (errors name ``key``)."""
        return resolve(ref, self, key)
