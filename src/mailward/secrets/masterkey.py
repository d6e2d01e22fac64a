"""The 256-bit master key: where it comes from, and how ``mailward init`` creates it.

Sources, first found wins (the order is also documented in ``[secrets]``):

1. ``$MAILWARD_MASTER_KEY``: the key in base64;
2. the systemd credential ``$CREDENTIALS_DIRECTORY/mailward-master-key``: 32 raw
   bytes or base64 text (``LoadCredential=``/``LoadCredentialEncrypted=``);
3. the key file (``[secrets] master_key_file``): base64 text, mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailward import files
from mailward.config import access
from mailward.secrets.errors import MasterKeyError

KEY_BYTES = 32
ENV_VAR = "MAILWARD_MASTER_KEY"
CREDENTIAL_NAME = "mailward-master-key"


@dataclass(frozen=True)
class MasterKey:
    """A master key and where it came from (``source`` names it in errors, never the key)."""

    key: bytes = field(repr=False)
    source: str
    path: Path | None = None  # the key file, when the key came from one

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise MasterKeyError(
                f"{self.source}: the master key must be {KEY_BYTES} bytes, got {len(self.key)}",
                "create a new one with `mailward init`, or `head -c32 /dev/urandom | base64`",
            )


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> bytes:
    """The key file's content: base64 and a newline."""
    return base64.b64encode(key) + b"\n"


def decode_key(text: bytes, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(
            f"{source}: not a base64 master key", f"it must hold {KEY_BYTES} bytes in base64"
        ) from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"{source}: the master key must be {KEY_BYTES} bytes, got {len(key)}",
            "create one with `head -c32 /dev/urandom | base64`",
        )
    return key


def create_master_key(path: str | os.PathLike[str], *, dir_mode: int = 0o700) -> MasterKey:
    """Create a new key file at ``path``: mode 0600 whatever the umask, never overwriting.

    Missing parent directories are created with ``dir_mode`` (0700; pass 0o750 to
    let a group traverse). Raises :class:`MasterKeyError` if the file exists.
    """
    target = Path(path)
    files.make_dir(target.parent, dir_mode)
    key = new_key()
    try:
        files.write_new(target, encode_key(key), owner=files.inherited_owner(target))
    except FileExistsError:
        raise MasterKeyError(
            f"{target}: a master key file already exists",
            "keep it (the sealed store needs it), or use `mailward secret rotate-key`",
        ) from None
    files.fsync_dir(target.parent)
    return MasterKey(key, f"key file {target}", target)


def read_key_file(path: Path) -> MasterKey:
    source = f"key file {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise MasterKeyError(
            f"no master key: ${ENV_VAR} is not set, no systemd credential {CREDENTIAL_NAME}, "
            f"and {path} does not exist",
            "create one with `mailward init`, or set one of those",
        ) from None
    except PermissionError:
        raise MasterKeyError(
            f"{source}: {access.denied_message(str(path), 'read')}", access.fix_read(str(path))
        ) from None
    except OSError as exc:
        raise MasterKeyError(f"{source}: {exc.strerror}", f"check {path}") from None
    try:
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise MasterKeyError(
                f"{source}: readable by others (mode {stat.S_IMODE(st.st_mode):04o})",
                f"run chmod 600 {path}",
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(4096)
    finally:
        os.close(fd)
    return MasterKey(decode_key(data, source), source, path)


def load_master_key(key_file: Path, environ: Mapping[str, str] | None = None) -> MasterKey:
    """The master key from the first source that has one (see the module doc)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        source = f"${ENV_VAR}"
        return MasterKey(decode_key(env[ENV_VAR].encode("ascii", "replace"), source), source)
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        cred = Path(cred_dir) / CREDENTIAL_NAME
        try:
            data = cred.read_bytes()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise MasterKeyError(
                f"systemd credential {cred}: {exc.strerror}", "check LoadCredential= in the unit"
            ) from None
        else:
            source = f"systemd credential {cred}"
            if len(data) == KEY_BYTES:
                return MasterKey(data, source)
            return MasterKey(decode_key(data, source), source)
    return read_key_file(key_file)
