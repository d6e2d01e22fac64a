"""The ``[limits]`` section: per-listener connection limits and timeouts.

Listeners inherit these and may override any of them in ``[listener.limits]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.config.schema import positive, setting


@dataclass(frozen=True)
class LimitsSettings:
    max_connections: int = setting(
        1000, "Open connections a listener accepts at once; more are refused.", check=positive
    )
    max_connections_per_ip: int = setting(
        50, "Open connections one client address may hold on a listener.", check=positive
    )
    idle_timeout: float = setting(
        300.0,
        "Seconds a client may stay silent before the connection is closed "
        "(RFC 5321 4.5.3.2.7 asks for at least 5 minutes).",
        check=positive,
    )
    session_timeout: float = setting(
        3600.0, "Seconds a connection may last in all, however busy.", check=positive
    )
