"""Fetch any server's certificate (implicit TLS or STARTTLS) and pin it on first use.

Used by `mailward cert fingerprint`. The STARTTLS dialogues are the smallest
client side of each protocol: enough to reach the TLS handshake, nothing more.
The certificate is *not* verified here: the point is to show it and compare it
with the one recorded before (trust on first use), the way Pegasus Mail spots
a changed server certificate. What is recorded is the SHA-256 of the public key
(SubjectPublicKeyInfo, as RFC 7469 pins and DANE ``3 1 1`` records hash it), so
that a renewal keeping the key (``mailward cert renew`` without ``--new-key``)
does not raise the alarm and a new key does.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509

from mailward import files
from mailward.tls import certs

StartTls = Literal["smtp", "imap", "pop3"]
MAX_LINE = 4096  # longer than any greeting or reply line we wait for
MAX_LINES = 100  # bound on multi-line replies


class ProbeError(Exception):
    """The server could not be reached or did not offer TLS; the message says why."""


@dataclass(frozen=True)
class Probed:
    der: bytes
    version: str
    cipher: str


def split_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``; ValueError with a readable message."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'"{text}" is not HOST:PORT (like mail.example.org:993)')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError(f'"{text}" has no host')
    return host, int(port)


class _Lines:
    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb")

    def line(self) -> bytes:
        data = self._file.readline(MAX_LINE)
        if not data:
            raise ProbeError("the server closed the connection")
        return data.rstrip(b"\r\n")

    def close(self) -> None:
        self._file.close()


def _smtp(sock: socket.socket, lines: _Lines) -> None:
    # RFC 5321 4.2: multi-line replies are "250-..." until "250 ..."; RFC 3207 STARTTLS
    def reply() -> bytes:
        for _ in range(MAX_LINES):
            line = lines.line()
            if len(line) < 4 or line[3:4] != b"-":
                return line
        raise ProbeError("the server's reply is too long")

    if not reply().startswith(b"220"):
        raise ProbeError("no SMTP greeting (220)")
    sock.sendall(b"EHLO mailward-probe.invalid\r\n")
    if not reply().startswith(b"250"):
        raise ProbeError("EHLO was refused")
    sock.sendall(b"STARTTLS\r\n")
    if not reply().startswith(b"220"):
        raise ProbeError("the server refused STARTTLS")


def _imap(sock: socket.socket, lines: _Lines) -> None:
    # RFC 9051 6.2.1 / RFC 3501 6.2.1 STARTTLS
    if not lines.line().startswith(b"* OK"):
        raise ProbeError("no IMAP greeting (* OK)")
    sock.sendall(b"a1 STARTTLS\r\n")
    for _ in range(MAX_LINES):
        line = lines.line()
        if line.startswith(b"a1 "):
            if not line.startswith(b"a1 OK"):
                raise ProbeError("the server refused STARTTLS")
            return
    raise ProbeError("no reply to STARTTLS")


def _pop3(sock: socket.socket, lines: _Lines) -> None:
    # RFC 2595 4: STLS
    if not lines.line().startswith(b"+OK"):
        raise ProbeError("no POP3 greeting (+OK)")
    sock.sendall(b"STLS\r\n")
    if not lines.line().startswith(b"+OK"):
        raise ProbeError("the server refused STLS")


_DIALOGUES: dict[str, Callable[[socket.socket, _Lines], None]] = {"smtp": _smtp, "imap": _imap, "pop3": _pop3}


def fetch_certificate(
    host: str, port: int, starttls: StartTls | None = None, timeout: float = 15.0
) -> Probed:
    """Connect, optionally speak STARTTLS, handshake, and return the server's leaf certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we show and compare the certificate; we do not trust it
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if starttls:
                lines = _Lines(sock)
                try:
                    _DIALOGUES[starttls](sock, lines)
                finally:
                    lines.close()
            sni = None if _is_ip(host) else host
            with ctx.wrap_socket(sock, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
                if not der:
                    raise ProbeError("the server sent no certificate")
                cipher = tls.cipher()
                return Probed(der, tls.version() or "", cipher[0] if cipher else "")
    except ssl.SSLError as exc:
        raise ProbeError(f"TLS handshake failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise ProbeError(f"no answer from {host}:{port} within {timeout:g} s") from None
    except OSError as exc:
        raise ProbeError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


# --- trust on first use ----------------------------------------------------------


PinKind = Literal["spki", "certificate"]
_SPKI_PREFIX = "pin-sha256="


@dataclass(frozen=True)
class PinResult:
    state: Literal["first-use", "match", "mismatch"]
    recorded: str  # the record before, as written in the file (empty on first use)
    kind: PinKind  # what the record pins: the public key, or (older records) the certificate
    upgraded: bool = False  # a matching certificate record was replaced by the key's pin


def spki_record(pin_sha256: str) -> str:
    """How an SPKI pin is written: RFC 7469 section 2.4's ``pin-sha256="BASE64"``."""
    return f'{_SPKI_PREFIX}"{pin_sha256}"'


def check_pin(
    pin_file: Path, host: str, port: int, *, spki: str, certificate: str, record: PinKind = "spki"
) -> PinResult:
    """Compare the server's key (``spki``, base64 SHA-256 of its SubjectPublicKeyInfo) or
    certificate (``certificate``, colon-hex SHA-256) with the record for ``host:port``.

    The file has one ``HOST:PORT VALUE`` line per server (``#`` comments allowed) and is
    rewritten atomically, mode 0600. ``VALUE`` is ``pin-sha256="BASE64"`` (the public key:
    a renewal that keeps the key keeps matching) or, as older versions wrote and
    ``record="certificate"`` still does, the certificate's colon-hex fingerprint (every
    renewal changes it). On first use ``record`` says which to write; a certificate record
    that matches is replaced by the key's pin, unless ``record="certificate"``.
    """
    target = f"{host.lower()}:{port}"
    records: list[tuple[str, str]] = []
    try:
        text = pin_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where, _, value = line.partition(" ")
        records.append((where, value.strip()))
    for i, (where, value) in enumerate(records):
        if where != target:
            continue
        if value.startswith(_SPKI_PREFIX):
            return PinResult("match" if value == spki_record(spki) else "mismatch", value, "spki")
        if value.upper() != certificate.upper():
            return PinResult("mismatch", value, "certificate")
        if record == "certificate":
            return PinResult("match", value, "certificate")
        records[i] = (target, spki_record(spki))
        _write_pins(pin_file, records)
        return PinResult("match", value, "certificate", upgraded=True)
    records.append((target, spki_record(spki) if record == "spki" else certificate))
    _write_pins(pin_file, records)
    return PinResult("first-use", "", record)


def _write_pins(pin_file: Path, records: list[tuple[str, str]]) -> None:
    body = (
        "# mailward cert fingerprint --pin, recorded on first use: HOST:PORT and the SHA-256 of\n"
        '# the public key as pin-sha256="BASE64" (RFC 7469), or of the whole certificate (AB:CD:..)\n'
    )
    body += "".join(f"{where} {value}\n" for where, value in records)
    files.write_atomic(pin_file, body.encode(), 0o600)


def describe_der(der: bytes) -> certs.CertInfo:
    return certs.describe(x509.load_der_x509_certificate(der))
