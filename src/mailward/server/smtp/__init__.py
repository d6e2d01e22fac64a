"""SMTP listeners: inbound MX and message submission (RFC 5321, 6409, 8314), local delivery.

:data:`SPEC` plugs the session (:mod:`.session`) into the listener framework;
:mod:`mailward.server.builtin` registers it.
"""

from __future__ import annotations

from mailward.config.model import ProtocolRules
from mailward.protocols.smtp import replies as R
from mailward.server import registry
from mailward.server.connection import Connection
from mailward.server.registry import ListenerTemplate, ProtocolSpec
from mailward.server.services import Services
from mailward.server.smtp.envelope import ROLES
from mailward.server.smtp.session import SmtpSession

NAME = "smtp"


async def _serve(conn: Connection, services: Services) -> None:
    await SmtpSession(conn, services).run()


SPEC = ProtocolSpec(
    name=NAME,
    rules=ProtocolRules(roles=ROLES, starttls=True, settings="smtp"),
    handler=registry.session_handler("SMTP", _serve),
    templates=(
        ListenerTemplate("mx", "mx", 25, 2525, "starttls"),
        # RFC 6409 (587, STARTTLS required here) and RFC 8314 (465, implicit TLS)
        ListenerTemplate("submission", "submission", 587, 2587, "starttls-required"),
        ListenerTemplate("submissions", "submission", 465, 2465, "implicit"),
    ),
    # RFC 5321 3.8: a server that closes the connection on its own says 421 first
    busy_reply=R.TOO_MANY_CONNECTIONS.render(),
    timeout_reply=R.TIMEOUT.render(),
    shutdown_reply=R.SHUTTING_DOWN.render(),
    error_reply=R.LOCAL_ERROR_CLOSING.render(),
)


def register() -> None:
    registry.register(SPEC)
