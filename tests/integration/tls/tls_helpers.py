"""Client-side helpers for the TLS tests: contexts, handshakes with a session, refusals."""

from __future__ import annotations

import socket
import ssl
import warnings
from pathlib import Path
from types import TracebackType

TIMEOUT = 10.0
GREETING = "+OK ready"  # the line protocol's


def client_context(
    cafile: Path | None = None,
    *,
    version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    seclevel0: bool = False,
) -> ssl.SSLContext:
    """A client context; with ``seclevel0`` it will try what the server refuses."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile=str(cafile))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 on purpose
        if version is not None:
            ctx.minimum_version = version
            ctx.maximum_version = version
    if seclevel0:
        ctx.set_ciphers((ciphers or "ALL") + ":@SECLEVEL=0")
    elif ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class Session:
    """A line-protocol session over TLS, and what the server's session says of its TLS layer."""

    def __init__(self, tls: ssl.SSLSocket, greeting: str) -> None:
        self.tls = tls
        self.greeting = greeting
        # TLS? answers "VERSION/CIPHER": the facts the session got from the listener
        self.version, _, self.cipher = self.command("TLS?").partition("/")

    def command(self, text: str) -> str:
        self.tls.sendall(text.encode() + b"\r\n")
        return read_line(self.tls)

    def cert(self, fact: str = "") -> str:
        """The session's client certificate fact (SHA-256 by default), or "none"."""
        return self.command(f"CERT? {fact}".rstrip())

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.tls.close()


def handshake(
    port: int, ctx: ssl.SSLContext, server_name: str = "localhost", *, starttls: bool = False
) -> Session:
    """Connect (with ``starttls``: STARTTLS first), handshake, and open a session.

    Raises ConnectionError when the server closes without greeting (it refused
    the client's certificate after a TLS 1.3 handshake, for instance).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        if starttls:
            greeting = read_line(sock)
            sock.sendall(b"STARTTLS\r\n")
            if read_line(sock) != "+OK go ahead":
                raise ConnectionError("STARTTLS refused")
        tls = ctx.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise
    try:
        if not starttls:
            greeting = read_line(tls)
        if not greeting:
            raise ConnectionError("closed without a greeting")
        return Session(tls, greeting)
    except BaseException:
        tls.close()
        raise


def read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def refused(
    port: int, ctx: ssl.SSLContext, server_name: str = "localhost", *, starttls: bool = False
) -> bool:
    """True when the handshake (or the session's first exchange after it) fails."""
    try:
        session = handshake(port, ctx, server_name, starttls=starttls)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    with session:
        return session.greeting != GREETING or not session.version.startswith("TLSv")
