"""The sealed secret store: one JSON file of values encrypted with AES-256-GCM.

Format (version 1)::

    {"format": "mailward-sealed-secrets", "version": 1, "key_id": "<16 hex>",
     "secrets": {"NAME": {"nonce": "<b64, 12 bytes>", "ciphertext": "<b64>"}, ...},
     "mac": "<b64 HMAC-SHA256>"}

Keys: the AES-256-GCM key, the HMAC key and the key id are derived from the master
key with HKDF-SHA256 under distinct labels (NIST SP 800-108 style key separation),
so the master key itself never touches data. Each value has a fresh random 96-bit
nonce (NIST SP 800-38D 8.2.2) and the secret's name (with the format label) as
associated data: a ciphertext moved to another name fails its tag. The HMAC over the
canonical file detects removed or added entries and a changed key id. The key id
tells "wrong master key" apart from "file tampered with". What no single file can
detect: an attacker replacing the whole file with an older copy sealed under the
same key (rollback); protect backups accordingly.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hmac
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailward import files
from mailward.config import access
from mailward.secrets.errors import MasterKeyError, SealedStoreError, SecretError, SecretNotFoundError
from mailward.secrets.masterkey import MasterKey
from mailward.secrets.resolve import resolve

FORMAT = "mailward-sealed-secrets"
VERSION = 1
NONCE_BYTES = 12  # 96 bits: NIST SP 800-38D 5.2.1.1
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_AAD_PREFIX = b"mailward-secret-v1\x00"


def check_name(name: str) -> None:
    """Raise :class:`SecretError` unless ``name`` is a usable secret name."""
    if not NAME_RE.fullmatch(name):
        raise SecretError(
            f'"{name}" is not a usable secret name',
            "use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)",
        )


def _derive(key: bytes, label: str, length: int = 32) -> bytes:
    info = f"mailward sealed store v{VERSION}: {label}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class _Keys:
    aead: AESGCM
    mac: bytes = field(repr=False)  # never in a repr or a traceback
    key_id: str
    source: str

    @classmethod
    def of(cls, master: MasterKey) -> _Keys:
        return cls(
            AESGCM(_derive(master.key, "aes-256-gcm")),
            _derive(master.key, "hmac-sha256"),
            _derive(master.key, "key id", 8).hex(),
            master.source,
        )


def key_id(master: MasterKey) -> str:
    """A public identifier of ``master`` (8 bytes of HKDF output, hex): reveals nothing of it."""
    return _derive(master.key, "key id", 8).hex()


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def _aad(name: str) -> bytes:
    return _AAD_PREFIX + name.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _canonical(key_id_hex: str, entries: dict[str, Sealed]) -> bytes:
    body = {
        "format": FORMAT,
        "version": VERSION,
        "key_id": key_id_hex,
        "secrets": {
            name: {"nonce": _b64(s.nonce), "ciphertext": _b64(s.ciphertext)}
            for name, s in sorted(entries.items())
        },
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


class SealedStore:
    """The secrets of one store file, held sealed in memory and opened one at a time."""

    def __init__(self, path: Path, master: MasterKey, entries: dict[str, Sealed] | None = None) -> None:
        self.path = path
        self.master = master
        self._keys = _Keys.of(master)
        self._entries: dict[str, Sealed] = dict(entries or {})

    # --- reading -----------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], master: MasterKey) -> SealedStore:
        """Read and check ``path``; a missing file is an empty store.

        Raises :class:`MasterKeyError` if ``master`` is not the key the store was
        sealed with, :class:`SealedStoreError` if the file is malformed or modified.
        """
        target = Path(path)
        stored_id, entries, raw = read_file(target)
        if stored_id is None:
            return cls(target, master)
        keys = _Keys.of(master)
        if not hmac.compare_digest(stored_id, keys.key_id):
            raise MasterKeyError(
                f"the master key from {master.source} is not the key {target} was sealed with "
                f"(key id {keys.key_id}, the store needs {stored_id})",
                "supply the right key; if it is lost, so are the secrets: remove the store "
                "and set them again",
            )
        expected = hmac.new(keys.mac, _canonical(stored_id, entries), "sha256").digest()
        if not hmac.compare_digest(expected, raw):
            raise SealedStoreError(
                f"{target}: integrity check failed: the file was modified outside mailward",
                "restore it from a backup, or remove it and set the secrets again",
            )
        return cls(target, master, entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> str:
        """The value of ``name``; :class:`SecretNotFoundError` if absent."""
        sealed = self._entries.get(name)
        if sealed is None:
            raise SecretNotFoundError(name)
        try:
            plain = self._keys.aead.decrypt(sealed.nonce, sealed.ciphertext, _aad(name))
        except InvalidTag:
            raise SealedStoreError(
                f'{self.path}: secret "{name}" fails its integrity check (tampered or moved)',
                f"set it again with `mailward secret set {name}`",
            ) from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise SealedStoreError(
                f'{self.path}: secret "{name}" is not UTF-8',
                f"set it again with `mailward secret set {name}`",
            ) from None

    def resolve(self, ref: str, key: str = "") -> str:
        """``ref`` itself, or the value of the secret a ``secret:NAME`` reference names
        (:class:`SecretNotFoundError` naming ``key`` and the secret when it is missing)."""
        return resolve(ref, self, key)

    # --- changing ----------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        check_name(name)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._keys.aead.encrypt(nonce, value.encode("utf-8"), _aad(name))
        self._entries[name] = Sealed(nonce, ciphertext)

    def remove(self, name: str) -> bool:
        return self._entries.pop(name, None) is not None

    def resealed(self, master: MasterKey) -> SealedStore:
        """A copy of this store with every value sealed under ``master`` (same path)."""
        other = SealedStore(self.path, master)
        for name in self._entries:
            other.set(name, self.get(name))
        return other

    def serialize(self) -> bytes:
        canonical = _canonical(self._keys.key_id, self._entries)
        body = json.loads(canonical)
        body["mac"] = _b64(hmac.new(self._keys.mac, canonical, "sha256").digest())
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("utf-8")

    def save(self) -> None:
        """Write the store atomically (0600 temp file, fsync, rename, fsync of the directory)."""
        files.make_dir(self.path.parent, 0o700)
        files.write_atomic(
            self.path, self.serialize(), files.SECRET_MODE, owner=files.inherited_owner(self.path)
        )


def read_file(path: Path) -> tuple[str | None, dict[str, Sealed], bytes]:
    """Parse a store file: (key id, entries, mac); (None, {}, b"") when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, {}, b""
    except PermissionError:
        raise SealedStoreError(
            f"{path}: {access.denied_message(str(path), 'read')}", access.fix_read(str(path))
        ) from None
    except OSError as exc:
        raise SealedStoreError(f"{path}: {exc.strerror}", f"check {path}") from None
    bad = SealedStoreError(
        f"{path}: not a mailward sealed store (malformed)",
        "restore it from a backup, or remove it and set the secrets again",
    )
    try:
        doc: Any = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise bad
        if doc.get("version") != VERSION:
            raise SealedStoreError(
                f"{path}: sealed store version {doc.get('version')!r} is not supported",
                "use the mailward version that wrote it",
            )
        stored_id = doc["key_id"]
        mac = base64.b64decode(doc["mac"], validate=True)
        entries: dict[str, Sealed] = {}
        raw_secrets = doc["secrets"]
        if not isinstance(stored_id, str) or not isinstance(raw_secrets, dict):
            raise bad
        for name, item in raw_secrets.items():
            nonce = base64.b64decode(item["nonce"], validate=True)
            ciphertext = base64.b64decode(item["ciphertext"], validate=True)
            if len(nonce) != NONCE_BYTES:
                raise bad
            entries[name] = Sealed(nonce, ciphertext)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad from None
    return stored_id, entries, mac


@contextlib.contextmanager
def locked(store_path: Path) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of the store (``<store>.lock``)."""
    files.make_dir(store_path.parent, 0o700)
    lock = store_path.with_name(store_path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, files.SECRET_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
