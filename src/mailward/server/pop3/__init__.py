"""POP3 listeners (RFC 1939 with 2449, 2595, 3206, 5034, 6856): 110 with STLS, 995 implicit TLS.

:data:`SPEC` plugs the session (:mod:`.session`) into the listener framework;
:mod:`mailward.server.builtin` registers it.
"""

from __future__ import annotations

from mailward.config.model import ProtocolRules
from mailward.protocols.pop3 import replies as R
from mailward.server import registry
from mailward.server.connection import Connection
from mailward.server.pop3.session import Pop3Session
from mailward.server.registry import ListenerTemplate, ProtocolSpec
from mailward.server.services import Services

NAME = "pop3"
ROLES = ("pop3",)


async def _serve(conn: Connection, services: Services) -> None:
    await Pop3Session(conn, services).run()


SPEC = ProtocolSpec(
    name=NAME,
    rules=ProtocolRules(roles=ROLES, starttls=True, settings="pop3"),
    handler=registry.session_handler("POP3", _serve),
    templates=(
        # RFC 1939 (110, upgraded with STLS, RFC 2595) and RFC 8314 (995, implicit TLS)
        ListenerTemplate("pop3", "pop3", 110, 2110, "starttls"),
        ListenerTemplate("pop3s", "pop3", 995, 2995, "implicit"),
    ),
    # RFC 2449 8.1: -ERR with a response code before the server closes on its own
    busy_reply=R.TOO_MANY_CONNECTIONS.render(),
    timeout_reply=R.TIMEOUT.render(),
    shutdown_reply=R.SHUTTING_DOWN.render(),
    error_reply=R.LOCAL_ERROR_CLOSING.render(),
)


def register() -> None:
    registry.register(SPEC)
