"""IMAP listeners (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1; 143 with STARTTLS, 993
with implicit TLS, RFC 8314): sessions on the listener framework, over the sans-IO core
in :mod:`mailward.protocols.imap` and the store.

:data:`SPEC` plugs the session (:mod:`.session`, with the handlers of :mod:`.handlers`)
into the listener framework; :mod:`mailward.server.builtin` registers it.
"""

from __future__ import annotations

from mailward.config.model import ProtocolRules
from mailward.server import registry
from mailward.server.connection import Connection
from mailward.server.registry import ListenerTemplate, ProtocolSpec
from mailward.server.services import Services

NAME = "imap"
ROLES = ("imap",)


async def _serve(conn: Connection, services: Services) -> None:
    from mailward.server.imap.handlers import HANDLERS  # noqa: PLC0415 (they import this package)
    from mailward.server.imap.session import ImapSession  # noqa: PLC0415

    await ImapSession(conn, services, HANDLERS).run()


SPEC = ProtocolSpec(
    name=NAME,
    rules=ProtocolRules(roles=ROLES, starttls=True, settings="imap"),
    handler=registry.session_handler("IMAP", _serve),
    templates=(
        ListenerTemplate("imap", "imap", 143, 2143, "starttls"),
        ListenerTemplate("imaps", "imap", 993, 2993, "implicit"),
    ),
    # RFC 9051 7.1.5: BYE before the server closes the connection
    busy_reply=b"* BYE [UNAVAILABLE] Too many connections; try again later\r\n",
    timeout_reply=b"* BYE Autologout; idle for too long\r\n",
    shutdown_reply=b"* BYE [UNAVAILABLE] Server shutting down\r\n",
    error_reply=b"* BYE [UNAVAILABLE] Internal error; try again later\r\n",
)


def register() -> None:
    registry.register(SPEC)
