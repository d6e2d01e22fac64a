"""The configuration model: global settings and ``[[listener]]`` bindings."""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from mailward.config.auth import AuthSettings
from mailward.config.imap import ImapSettings
from mailward.config.limits import LimitsSettings
from mailward.config.pop3 import Pop3Settings
from mailward.config.schema import PathStr, positive, setting
from mailward.config.secrets import SecretsSettings
from mailward.config.smtp import SmtpSettings
from mailward.config.store import StoreSettings
from mailward.config.tls import TlsSettings

TlsMode = Literal["none", "starttls", "starttls-required", "implicit"]
PlaintextLogin = Literal["tls-only", "allow"]
ScramPlus = Literal["on-request", "advertised"]
LogLevel = Literal["trace", "debug", "info", "warning", "error"]
EventLoop = Literal["asyncio", "uvloop"]

T = TypeVar("T")


def _check_log_file(value: str) -> tuple[str, str] | None:
    if value and not value.startswith("/"):
        return (f'"{value}" is not an absolute path',
                'write the whole path, e.g. "/var/log/mailward/mailward.log"')
    return None


@dataclass(frozen=True)
class ProtocolRules:
    """What a protocol accepts in a listener; given to the loader by the server.

    ``roles`` lists the listener roles (the first is the default);
    ``starttls`` says whether the protocol can upgrade a plain connection;
    ``settings`` names the protocol's own section of :class:`Config` (``"smtp"``): its
    listeners carry that section, with their ``[listener.NAME]`` overrides, as
    :attr:`ListenerSettings.protocol_settings`. Empty: the protocol has no settings.
    """

    roles: tuple[str, ...]
    starttls: bool
    settings: str = ""


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


def parse_address(text: str) -> Address | tuple[str, str]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6); a (message, fix) pair on error."""
    fix = 'write an IP address and a port, like "0.0.0.0:25" or "[::]:25"'
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        return (f'"{text}" has no port', fix)
    port = int(port_text)
    if not 0 <= port < 65536:
        return (f'"{text}": port {port} is out of range 0-65535', fix)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return (f'"{text}": {host} is not an IPv6 address', fix)
        return Address(host, port)
    if host == "localhost":
        return Address("127.0.0.1", port)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if ":" in host:
            return (f'"{text}": put an IPv6 address in brackets', f'write "[{host}]:{port}"')
        return (f'"{text}": {host or "(empty)"} is not an IP address', fix)
    return Address(host, port)


def _check_address(text: str) -> tuple[str, str] | None:
    result = parse_address(text)
    return result if isinstance(result, tuple) else None


def _check_name(text: str) -> tuple[str, str] | None:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        return (f'"{text}" is not a usable name', "use letters, digits, - and _ only")
    return None


@dataclass(frozen=True)
class ListenerSettings:
    """One ``[[listener]]`` binding: an address, a protocol, and its policy.

    ``tls_options``, ``limits`` and ``protocol_settings`` are the effective values:
    the global sections with this listener's overrides applied.
    """

    name: str = setting(
        "", "A unique name; it appears in logs and in `mailward` commands.", check=_check_name
    )
    protocol: str = setting("", "The protocol spoken on this listener.")
    role: str = setting("", "What the listener is for, among the roles its protocol knows.")
    address: str = setting(
        "", 'Where to listen: "IP:PORT", or "[IPv6]:PORT"; port 0 picks a free port.', check=_check_address
    )
    tls: TlsMode = setting(
        "starttls",
        "none | starttls (offered) | starttls-required (nothing but STARTTLS before TLS) "
        "| implicit (TLS from the first byte).",
    )
    plaintext_login: PlaintextLogin = setting(
        "tls-only", "Overrides the global plaintext_login for this listener."
    )
    scram_plus: ScramPlus = setting("on-request", "Overrides the global scram_plus for this listener.")
    tls_options: TlsSettings = setting(TlsSettings(), "Overrides of [tls] for this listener.")
    limits: LimitsSettings = setting(LimitsSettings(), "Overrides of [limits] for this listener.")
    protocol_settings: object = field(
        default=None, metadata={"internal": True, "doc": "The protocol's own section (ProtocolRules."
                                "settings) with this listener's overrides; None if it has none."})

    @property
    def bind(self) -> Address:
        parsed = parse_address(self.address)
        assert isinstance(parsed, Address), "validated at load"
        return parsed

    def settings_of(self, kind: type[T]) -> T:
        """:attr:`protocol_settings`, as the type its protocol declares (``SmtpSettings``)."""
        if not isinstance(self.protocol_settings, kind):
            raise TypeError(f"listener {self.name!r} ({self.protocol}) has no {kind.__name__}")
        return self.protocol_settings


MAX_WORKERS = 64


@functools.lru_cache(maxsize=1)
def _machine_fqdn() -> str:
    """Looked up once per process: getfqdn() asks the resolver, and server_name is read for
    every connection (in the greeting and the Received: field)."""
    return socket.getfqdn()


def _check_workers(value: int) -> tuple[str, str] | None:
    if not 0 <= value <= MAX_WORKERS:
        return (f"must be between 0 and {MAX_WORKERS}, got {value}",
                "use 0 (one per CPU core) or the number of processes you want")
    return None


@dataclass(frozen=True)
class Config:
    """A loaded, validated configuration. Build it with :func:`mailward.config.load`."""

    hostname: str = setting(
        "",
        "The server's fully qualified name, used in greetings and certificates. "
        "Empty means the machine's FQDN.",
    )
    data_dir: PathStr = setting(
        "/var/lib/mailward",
        "Where mailward keeps its state. Relative paths start at this file's directory; "
        "other relative paths in this file start at data_dir.",
    )
    user: str = setting(
        "",
        "The unprivileged user to run as. When started as root, mailward binds its ports, "
        "then switches to this user. Empty: run as the user that starts it.",
    )
    log_level: LogLevel = setting(
        "info",
        "trace | debug | info | warning | error. trace adds protocol transcripts (AUTH data "
        "masked, message contents left out).",
    )
    log_file: str = setting(
        "",
        "A file to log to instead of stderr, created 0640 for the server's user; reopened "
        "when logrotate moves it and on SIGHUP (its directory must be writable by that user "
        "for the new file). Empty: stderr, which systemd's journal takes.",
        check=_check_log_file,
    )
    syslog: bool = setting(
        False, "Also log to syslog (facility mail, through /dev/log, which journald reads too)."
    )
    event_loop: EventLoop = setting(
        "asyncio",
        "asyncio | uvloop: the event loop the workers run (uvloop needs the mailward[uvloop] "
        "extra). Changing it needs a restart.",
    )
    workers: int = setting(
        0,
        "Worker processes that serve connections, side by side on the same ports; 0: one per "
        "CPU core. Connection limits are counted across them. Changing it needs a restart.",
        check=_check_workers,
    )
    shutdown_grace: float = setting(
        30.0,
        "Seconds open connections get to finish after SIGTERM before they are closed.",
        check=positive,
    )
    plaintext_login: PlaintextLogin = setting(
        "tls-only",
        "tls-only: logins that reveal a password are refused until TLS is active. "
        "allow: also on plain connections (not recommended).",
    )
    scram_plus: ScramPlus = setting(
        "on-request",
        "on-request: SCRAM-SHA-256-PLUS (channel binding) is accepted from clients that ask "
        "for it, but not advertised: a client whose SASL library cannot bind to TLS "
        "(Debian's mutt, through Cyrus SASL) picks an advertised -PLUS and gives up. "
        "advertised: listed too, for sites whose clients all support tls-exporter.",
    )
    tls: TlsSettings = setting(TlsSettings(), "TLS policy shared by every listener.")
    limits: LimitsSettings = setting(LimitsSettings(), "Limits shared by every listener.")
    store: StoreSettings = setting(StoreSettings(), "Where mail, accounts and the queue are kept.")
    secrets: SecretsSettings = setting(
        SecretsSettings(), "The sealed secret store that `secret:NAME` values come from."
    )
    auth: AuthSettings = setting(AuthSettings(), "Login throttling, shared by every protocol.")
    smtp: SmtpSettings = setting(
        SmtpSettings(), "Message and session limits of every SMTP listener (mx and submission)."
    )
    imap: ImapSettings = setting(ImapSettings(), "Limits and timeouts of every IMAP listener.")
    pop3: Pop3Settings = setting(Pop3Settings(), "Session limits and policy of every POP3 listener.")
    listener: tuple[ListenerSettings, ...] = setting((), "The listeners.", sample=False)
    listener_index: tuple[int, ...] = field(
        default=(), metadata={"internal": True, "doc": "Where each listener is among the file's "
                              "[[listener]] tables, when some did not validate; empty: in order."})

    def numbered_listeners(self) -> list[tuple[int, ListenerSettings]]:
        """Each listener with its index among the file's ``[[listener]]`` tables, which
        problems name (``listener[2].address``): in the partial configuration of a file
        with errors, the listeners that did not validate are missing."""
        return list(zip(self.listener_index or range(len(self.listener)), self.listener, strict=True))

    @property
    def server_name(self) -> str:
        return self.hostname or _machine_fqdn()

    @property
    def worker_count(self) -> int:
        """``workers``, with 0 made one per CPU core this process may run on."""
        if self.workers:
            return self.workers
        try:
            return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))
        except (AttributeError, OSError):
            return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
