"""Client-side helpers for the TLS tests: contexts, handshakes, refusals."""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from mailward.config.tls import TlsSettings
from support.pki import Issued

TIMEOUT = 10.0


def settings_for(issued: Issued, **overrides: object) -> TlsSettings:
    values: dict[str, object] = {
        "certificate": str(issued.cert_path),
        "key": str(issued.key_path),
        **overrides,
    }
    return TlsSettings(**values)  # type: ignore[arg-type]


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


def handshake(port: int, ctx: ssl.SSLContext, server_name: str = "localhost") -> tuple[str, ssl.SSLSocket]:
    """Connect and handshake; returns the server's first line and the open socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise
    line = read_line(tls)
    return line, tls


def read_line(tls: ssl.SSLSocket) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        chunk = tls.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def refused(port: int, ctx: ssl.SSLContext, server_name: str = "localhost") -> bool:
    """True when the handshake (or the first read after it) fails."""
    try:
        line, tls = handshake(port, ctx, server_name)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    with tls:
        return not line.startswith("OK")


def eventually(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
