"""What protocol handlers are given besides their listener settings: the services of one server.

``mailward serve`` opens the store and builds these once (:func:`open_services`);
tests build them around a store of their own. Handlers get them through their
:data:`~mailward.server.registry.HandlerFactory`, never from a global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailward.auth.accounts import AuthServices, build_auth
from mailward.config import Config
from mailward.delivery.recipients import Resolver
from mailward.secrets import LazySecrets, SecretError, SecretPaths
from mailward.store.factory import PeerFeed, no_secrets, open_store
from mailward.store.interface import Store, StoreError


@dataclass(frozen=True)
class Services:
    config: Config
    store: Store
    resolver: Resolver
    auth: AuthServices


class StartupError(Exception):
    """The services cannot be built; the message says why and what to do (for the admin)."""


def services_for(config: Config, store: Store, salt_key: bytes) -> Services:
    """Services around an open store (the caller closes it); ``salt_key``: see
    :func:`mailward.auth.accounts.server_salt_key`."""
    return Services(config, store, Resolver(store), build_auth(store, config, salt_key))


async def open_services(
    config: Config, salt_key: bytes, resolve_secret: Callable[[str], str] = no_secrets, *,
    exclusive: bool = True, peers: PeerFeed | None = None, migrate: bool = True,
) -> Services:
    """Open the store the config names and build the services; :class:`StartupError` if it cannot.

    ``exclusive=False``: the caller holds the embedded store's lock already (the
    supervisor of several workers does, for all of them). ``peers``: the embedded
    store's change feed to the other workers. ``migrate=False``: the supervisor migrated
    it before the workers started."""
    store = await open_service_store(config, resolve_secret, exclusive=exclusive, peers=peers,
                                     migrate=migrate)
    try:
        return services_for(config, store, salt_key)
    except BaseException:
        await store.close()
        raise


async def open_service_store(
    config: Config, resolve_secret: Callable[[str], str] = no_secrets, *, exclusive: bool = True,
    peers: PeerFeed | None = None, migrate: bool = True,
) -> Store:
    """Open (and migrate) the store the config names; :class:`StartupError` says why not."""
    try:
        return await open_store(config.store, config.data_dir, resolve_secret, exclusive=exclusive,
                                peers=peers, migrate=migrate)
    except StoreError as exc:
        raise StartupError(f"store: cannot open the {config.store.backend} store: {exc}") from None
    except OSError as exc:
        what = exc.strerror or str(exc)
        raise StartupError(f"store: cannot open the {config.store.backend} store: {what}") from None


def secret_resolver(config: Config) -> Callable[[str], str]:
    """Resolve the NAME of a ``secret:NAME`` from the sealed store, opened only when asked."""
    secrets = LazySecrets(SecretPaths.of(config.secrets, config.data_dir))

    def resolve(name: str) -> str:
        try:
            return secrets.get(name)
        except SecretError as exc:
            raise StoreError(f"store.postgres.password: {exc}") from None

    return resolve
