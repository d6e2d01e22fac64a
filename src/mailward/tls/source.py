"""What the listener framework calls: one reloadable context source per listener."""

from __future__ import annotations

from mailward.config.model import ListenerSettings
from mailward.tls.checks import SecretResolver
from mailward.tls.context import ServerContextSource, TlsFacts, tls_facts


def source_for_listener(
    settings: ListenerSettings,
    *,
    key_prefix: str | None = None,
    hostname: str = "",
    resolve_secret: SecretResolver | None = None,
) -> ServerContextSource:
    """The context source of a listener; raises ConfigError when its TLS material is broken.

    ``key_prefix`` is the key path problems name, ``listener[INDEX].tls_options``
    when the caller knows the index (default: ``listener.NAME.tls_options``).
    ``hostname`` (the listener's or the server's name) enables the warning for a
    certificate that does not carry it.
    """
    prefix = key_prefix or f"listener.{settings.name}.tls_options"
    return ServerContextSource(
        settings.tls_options, key_prefix=prefix, hostname=hostname, resolve_secret=resolve_secret
    )


__all__ = ["ServerContextSource", "TlsFacts", "source_for_listener", "tls_facts"]
