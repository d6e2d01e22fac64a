"""Accounts in the store: the service layer the CLI and console call, and the lookups
the protocols' logins use.

- :mod:`.names`: the one spelling of domains, addresses and fingerprints;
- :mod:`.service`: :class:`AccountService`, every change to accounts;
- :mod:`.lookup`: :class:`StoreCredentials` (SASL) and :class:`StoreCounters` (throttle).

:func:`build_auth` puts together what a server's sessions need to log users in.
The interface (:class:`~mailward.auth.sasl.exchange.CredentialLookup`) leaves room
for other account backends (LDAP) later.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from mailward.auth.accounts.lookup import StoreCounters, StoreCredentials
from mailward.auth.accounts.service import AccountService, ServiceError, fake_salt_key
from mailward.auth.throttle import Throttle
from mailward.config import Config
from mailward.secrets import SecretError, SecretPaths
from mailward.secrets.masterkey import load_master_key
from mailward.store.interface import Store

log = logging.getLogger("mailward.auth")

__all__ = ["AccountService", "AuthServices", "ServiceError", "StoreCounters", "StoreCredentials",
           "build_auth", "fake_salt_key", "master_key_bytes", "server_salt_key"]


@dataclass(frozen=True)
class AuthServices:
    """What sessions need to log users in."""

    lookup: StoreCredentials
    throttle: Throttle
    fake_salt_key: bytes


def master_key_bytes(config: Config) -> bytes | None:
    """The master key, or ``None`` (logged) when there is none to read."""
    paths = SecretPaths.of(config.secrets, config.data_dir)
    try:
        return load_master_key(paths.key_file).key
    except SecretError as exc:
        log.warning("no master key (%s): SCRAM salts of unknown users change at each start, "
                    "which lets a patient attacker tell which accounts exist; run `mailward init`", exc)
        return None


def server_salt_key(config: Config) -> bytes:
    """The key for unknown users' SCRAM salts: derived from the master key, else (logged)
    random for this run. ``serve`` makes it once, before its workers fork, so that they
    all hand out the same salts: one that changed with the worker a connection reached
    would tell unknown names from real ones."""
    master_key = master_key_bytes(config)
    return fake_salt_key(master_key) if master_key is not None else os.urandom(32)


def build_auth(store: Store, config: Config, salt_key: bytes) -> AuthServices:
    """``salt_key``: see :func:`server_salt_key`."""
    return AuthServices(StoreCredentials(store), Throttle(config.auth, StoreCounters(store)), salt_key)
