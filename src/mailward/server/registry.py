"""The protocols this build serves, and what the listener framework needs of each.

A protocol plugs into the framework with a :class:`ProtocolSpec`: the rules the
config loader checks listeners against (its roles, STARTTLS, and the section of the
configuration that holds its own settings, which its listeners carry and a reload
replaces: a handler reads them from ``conn.listener`` for each connection), a handler
run once per connection, the
replies the framework sends on its behalf when it must turn a client away, and
the listeners ``mailward init`` writes for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailward.config.model import ListenerSettings, ProtocolRules, TlsMode

if TYPE_CHECKING:
    from mailward.server.connection import Connection
    from mailward.server.services import Services

Handler = Callable[["Connection"], Awaitable[None]]
HandlerFactory = Callable[[ListenerSettings, "Services | None"], Handler]
"""Builds a listener's handler from its settings and the server's services (``None``
only in tests of the listener framework, whose protocols need none)."""


def session_handler(protocol: str,
                    serve: Callable[[Connection, Services], Awaitable[None]]) -> HandlerFactory:
    """The handler factory of a protocol whose sessions need the server's services (the
    store, accounts): each connection runs ``serve(conn, services)``, and reads its
    listener's settings from ``conn.listener`` (live on reload)."""

    def factory(settings: ListenerSettings, services: Services | None) -> Handler:
        if services is None:
            raise RuntimeError(f"{protocol} listeners need the server's services (store, accounts): "
                               "pass services=")
        ready = services

        async def handle(conn: Connection) -> None:
            await serve(conn, ready)

        return handle

    return factory


@dataclass(frozen=True)
class ListenerTemplate:
    """A listener ``mailward init`` writes for a protocol (e.g. submission on 587)."""

    name: str
    role: str
    port: int
    dev_port: int
    tls: TlsMode


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    rules: ProtocolRules
    handler: HandlerFactory
    templates: tuple[ListenerTemplate, ...] = ()
    busy_reply: bytes = b""
    """Sent before closing a connection over a listener's limits."""
    timeout_reply: bytes = b""
    """Sent before closing a connection that was idle too long or lasted too long."""
    shutdown_reply: bytes = b""
    """Sent before closing a connection when the server stops."""
    error_reply: bytes = b""
    """Sent before closing a connection whose handler failed unexpectedly."""


_PROTOCOLS: dict[str, ProtocolSpec] = {}


def register(spec: ProtocolSpec) -> None:
    """Make ``spec`` available to listeners; its name must be new."""
    if spec.name in _PROTOCOLS and _PROTOCOLS[spec.name] is not spec:
        raise ValueError(f"protocol {spec.name!r} is registered already")
    _PROTOCOLS[spec.name] = spec


def _builtin() -> None:
    """Register the protocols this build serves (a late import: they import this module)."""
    from mailward.server import builtin  # noqa: PLC0415

    builtin.register_all()


def protocols() -> dict[str, ProtocolSpec]:
    """Every protocol a listener may name: the built-in ones and any registered besides."""
    _builtin()
    return dict(_PROTOCOLS)


def protocol_rules() -> dict[str, ProtocolRules]:
    return {name: spec.rules for name, spec in protocols().items()}
