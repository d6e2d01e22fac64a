"""The server: every configured listener in one asyncio process, stopped and reloaded as one."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailward.config import Config, ConfigError, ListenerSettings, LoadedConfig, Problem, Severity
from mailward.server.connection import ReloadableContextSource
from mailward.server.counts import Counts, LocalCounts
from mailward.server.listener import Listener
from mailward.server.registry import ProtocolSpec
from mailward.server.sockets import bind
from mailward.server.trace import TRACE  # noqa: F401 - registers the level name for log_level

if TYPE_CHECKING:
    from mailward.server.services import Services

log = logging.getLogger("mailward.server")

# global settings a reload applies without a restart; the inherited sections
# (tls, limits, plaintext_login) reach the listeners through their own settings
_LIVE_GLOBALS = frozenset({"log_level", "shutdown_grace", "tls", "limits", "plaintext_login", "smtp", "auth",
                           "pop3"})
_LIVE_LISTENER_FIELDS = frozenset({"limits", "plaintext_login", "tls_options", "protocol_settings"})


TlsFactory = Callable[[ListenerSettings], ReloadableContextSource]
"""Builds a listener's TLS context source; raises ConfigError when it cannot."""


@dataclass(frozen=True)
class ReloadReport:
    applied: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()  # errors: what they concern was not applied
    warnings: tuple[Problem, ...] = ()  # applied, but worth a look (e.g. a certificate expiring)


def _reread_certificates(
    listener: Listener, applied: list[str], problems: list[Problem], warnings: list[Problem]
) -> None:
    """Reload a listener's TLS files; errors keep the old context, warnings do not."""
    assert listener.tls_source is not None
    found = listener.tls_source.reload()
    errors = [p for p in found if p.severity is Severity.ERROR]
    problems.extend(errors)
    warnings.extend(p for p in found if p.severity is not Severity.ERROR)
    if not errors:
        applied.append(f"listener {listener.name}: certificates re-read")


class Server:
    """Every listener of a configuration; ``services`` (store, resolver, auth) are handed
    to each protocol's handler factory. Handlers read their listener's settings from
    each connection, so a reload reaches connections accepted after it."""

    def __init__(
        self,
        loaded: LoadedConfig,
        protocols: Mapping[str, ProtocolSpec],
        tls_factory: TlsFactory,
        services: Services | None = None,
        counts: Counts | None = None,
    ) -> None:
        """``counts``: the open-connection counts, when they are shared with other worker
        processes (:class:`~mailward.server.counts.SharedCounts`); this process's own otherwise."""
        self.loaded = loaded
        self.counts: Counts = counts if counts is not None else LocalCounts()
        self.protocols = dict(protocols)
        self.tls_factory = tls_factory
        self.services = services
        self.listeners: dict[str, Listener] = {}

    @property
    def config(self) -> Config:
        return self.loaded.config

    async def start(
        self, sockets: Mapping[str, socket.socket] | None = None, *, announce: bool = True
    ) -> None:
        """Start every listener, on ``sockets`` bound beforehand (by name) or binding now;
        log each at INFO when ``announce`` (at DEBUG otherwise)."""
        sockets = dict(sockets or {})
        for index, settings in enumerate(self.config.listener):
            spec = self.protocols[settings.protocol]
            source = self.tls_factory(settings) if settings.tls != "none" else None
            listener = Listener(settings, spec, spec.handler(settings, self.services), source,
                                self.counts, index)
            sock = sockets.pop(settings.name, None) or bind(settings.bind, f"listener[{index}].address")
            await listener.start(sock)
            self.listeners[settings.name] = listener
            host, port = listener.sockname
            log.log(
                logging.INFO if announce else logging.DEBUG,
                "listening: %s %s (%s, tls %s) on %s:%d",
                settings.name,
                settings.protocol,
                settings.role,
                settings.tls,
                host,
                port,
            )
        if not self.listeners and announce:
            log.warning("no [[listener]] configured: accepting no connections")

    async def stop(self, grace: float | None = None) -> None:
        grace = self.config.shutdown_grace if grace is None else grace
        log.info("stopping: %d open connections get %.0fs to finish", self.open_connections, grace)
        await asyncio.gather(*(listener.stop(grace) for listener in self.listeners.values()))
        log.info("stopped")

    def hurry(self) -> None:
        """Close every open connection now, without waiting out the grace period."""
        for listener in self.listeners.values():
            listener.hurry()

    @property
    def open_connections(self) -> int:
        return sum(listener.open_connections for listener in self.listeners.values())

    def reload(self, new: LoadedConfig) -> ReloadReport:
        """Apply what ``new`` changes that can change live; report what needs a restart."""
        old = self.config
        applied: list[str] = []
        restart: list[str] = []
        problems: list[Problem] = []
        warnings: list[Problem] = []
        for f in dataclasses.fields(Config):
            if f.name == "listener" or getattr(old, f.name) == getattr(new.config, f.name):
                continue
            (applied if f.name in _LIVE_GLOBALS else restart).append(f.name)
        if new.config.log_level != old.log_level:
            logging.getLogger("mailward").setLevel(new.config.log_level.upper())
        if new.config.auth != old.auth and self.services is not None:
            self.services.auth.throttle.apply(new.config.auth)  # login limits and allowlist

        new_listeners = {listener.name: listener for listener in new.config.listener}
        for name in self.listeners.keys() - new_listeners.keys():
            restart.append(f"listener {name} removed")
        for name in new_listeners.keys() - self.listeners.keys():
            restart.append(f"listener {name} added")
        for name, listener in self.listeners.items():
            if name in new_listeners:
                self._reload_listener(listener, new_listeners[name], applied, restart, problems, warnings)
        self.loaded = dataclasses.replace(new, config=dataclasses.replace(new.config, listener=old.listener))
        return ReloadReport(tuple(dict.fromkeys(applied)), tuple(restart), tuple(problems), tuple(warnings))

    def _reload_listener(
        self,
        listener: Listener,
        new: ListenerSettings,
        applied: list[str],
        restart: list[str],
        problems: list[Problem],
        warnings: list[Problem],
    ) -> None:
        old = listener.settings
        changed = [
            f.name
            for f in dataclasses.fields(ListenerSettings)
            if getattr(old, f.name) != getattr(new, f.name)
        ]
        fixed = [name for name in changed if name not in _LIVE_LISTENER_FIELDS]
        if fixed:
            restart.append(f"listener {old.name}: {', '.join(fixed)}")
            new = dataclasses.replace(
                old, **{n: getattr(new, n) for n in changed if n in _LIVE_LISTENER_FIELDS}
            )
        if new.tls == "none":
            pass
        elif new.tls_options != old.tls_options or listener.tls_source is None:
            try:
                listener.tls_source = self.tls_factory(new)
            except ConfigError as exc:
                problems.extend(exc.problems)
                return  # keep the old settings and context whole
        else:
            _reread_certificates(listener, applied, problems, warnings)
        listener.settings = new
        live = [name for name in changed if name in _LIVE_LISTENER_FIELDS]
        if live:
            labels = (f"{old.protocol} settings" if n == "protocol_settings" else n for n in live)
            applied.append(f"listener {old.name}: {', '.join(labels)}")

    def poll_certificates(self) -> ReloadReport:
        """Reload the TLS contexts whose files changed on disk."""
        applied: list[str] = []
        problems: list[Problem] = []
        warnings: list[Problem] = []
        for listener in self.listeners.values():
            if listener.tls_source is not None and listener.tls_source.changed_on_disk():
                _reread_certificates(listener, applied, problems, warnings)
        return ReloadReport(tuple(applied), (), tuple(problems), tuple(warnings))
