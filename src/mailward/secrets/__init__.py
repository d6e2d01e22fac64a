"""The sealed secret store and ``secret:NAME`` resolution.

The CLI calls :func:`open_store` / :func:`rotate_key` with :class:`SecretPaths`
(``SecretPaths.of(config.secrets, config.data_dir)``); ``mailward init`` calls
:func:`create_master_key`; start-up and reload call :func:`resolve` or
:func:`resolve_all` on every setting that takes a password.
"""

from mailward.secrets.errors import MasterKeyError, SealedStoreError, SecretError, SecretNotFoundError
from mailward.secrets.masterkey import ENV_VAR, MasterKey, create_master_key, load_master_key
from mailward.secrets.resolve import PREFIX, SecretSource, is_reference, resolve, resolve_all
from mailward.secrets.store import SealedStore, check_name, locked
from mailward.secrets.vault import LazySecrets, SecretPaths, open_locked, open_store, rotate_key

__all__ = [
    "ENV_VAR",
    "PREFIX",
    "LazySecrets",
    "MasterKey",
    "MasterKeyError",
    "SealedStore",
    "SealedStoreError",
    "SecretError",
    "SecretNotFoundError",
    "SecretPaths",
    "SecretSource",
    "check_name",
    "create_master_key",
    "is_reference",
    "load_master_key",
    "locked",
    "open_locked",
    "open_store",
    "resolve",
    "resolve_all",
    "rotate_key",
]
