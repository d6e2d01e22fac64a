"""The SMTP client's writing half, pure functions: commands and message data as bytes.

The envelope (:class:`Envelope`, :class:`Recipient`) is what the relay hands the
client core; the renderers here turn it into the exact command lines, with only
the parameters the server offered (:class:`Capabilities`).
"""

from __future__ import annotations

import base64
import enum
import re
from dataclasses import dataclass

from mailward.protocols.smtp.client_replies import Capabilities

MAX_LINE = 998  # RFC 5321 4.5.3.1.6: text line, without the CRLF


class MessageFormatError(ValueError):
    """The caller handed the client a message it must not send as it is (API misuse)."""


class Notify(enum.Enum):
    """RFC 3461 4.1 NOTIFY values."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


class Ret(enum.Enum):
    """RFC 3461 4.3 RET: return the full message or its headers only."""

    FULL = "FULL"
    HDRS = "HDRS"


@dataclass(frozen=True)
class Recipient:
    """One ``RCPT TO``: the address as RFC 5321 writes it (``local@domain``).

    ``notify`` None sends no NOTIFY; an empty frozenset means NOTIFY=NEVER
    (RFC 3461 4.1). ``orcpt`` is the original recipient, "addr-type;address" decoded
    (a bare address is of type rfc822), sent in xtext (RFC 3461 4.2, RFC 6533 3).
    """

    address: str
    notify: frozenset[Notify] | None = None
    orcpt: str | None = None


@dataclass(frozen=True)
class Envelope:
    """One transaction: ``mail_from`` "" is the null reverse-path ``<>``.

    ``eight_bit``: the body has 8-bit octets (RFC 6152 BODY=8BITMIME);
    ``smtputf8``: the message needs SMTPUTF8 (RFC 6531), also implied by a
    non-ASCII address; ``ret``/``envid``: RFC 3461 4.3 and 4.4.
    """

    mail_from: str
    recipients: tuple[Recipient, ...]
    eight_bit: bool = False
    smtputf8: bool = False
    ret: Ret | None = None
    envid: str | None = None

    @property
    def needs_smtputf8(self) -> bool:
        addresses = [self.mail_from, *(r.address for r in self.recipients)]
        return self.smtputf8 or not all(a.isascii() for a in addresses)


def xtext(text: str) -> str:
    """RFC 3461 4: xtext, every octet outside "!".."~" and "+", "=" as +HH."""
    out = []
    for octet in text.encode("utf-8"):
        if 33 <= octet <= 126 and octet not in (0x2B, 0x3D):
            out.append(chr(octet))
        else:
            out.append(f"+{octet:02X}")
    return "".join(out)


def utf8_addr_xtext(text: str) -> str:
    """RFC 6533 3: utf-8-addr-xtext, every character outside "!".."~" and "+", "=", "\\" as \\x{HEX}."""
    return "".join(
        c if 33 <= ord(c) <= 126 and c not in "+=\\" else f"\\x{{{ord(c):X}}}" for c in text
    )


def orcpt_param(orcpt: str) -> str:
    """The ORCPT value (RFC 3461 4.2): "addr-type;address" as given, a bare address as rfc822.

    The utf-8 type (RFC 6533 3) takes utf-8-addr-xtext, the others xtext.
    """
    kind, sep, address = orcpt.partition(";")
    if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", kind.strip()):
        kind, address = "rfc822", orcpt
    kind = kind.strip()
    if kind.lower() == "utf-8":
        return f"{kind};{utf8_addr_xtext(address.strip())}"
    return f"{kind};{xtext(address.strip())}"


def _check_path(address: str) -> None:
    if any(c in address for c in "<>\r\n\0 \t"):
        raise ValueError(f"not an address for a path: {address!r}")


def render_ehlo(name: str) -> bytes:
    return f"EHLO {name}\r\n".encode("ascii")


def render_helo(name: str) -> bytes:
    return f"HELO {name}\r\n".encode("ascii")


def render_mail(envelope: Envelope, size: int, caps: Capabilities) -> bytes:
    """``MAIL FROM:<path>`` with SIZE, BODY, SMTPUTF8, RET, ENVID where offered."""
    _check_path(envelope.mail_from)
    params = []
    if caps.size is not None:
        params.append(f"SIZE={size}")  # RFC 1870 6
    if envelope.eight_bit and caps.eightbitmime:
        params.append("BODY=8BITMIME")  # RFC 6152 3
    if envelope.needs_smtputf8 and caps.smtputf8:
        params.append("SMTPUTF8")  # RFC 6531 3.4
    if caps.dsn:  # RFC 3461 4: only to a server that offers DSN
        if envelope.ret is not None:
            params.append(f"RET={envelope.ret.value}")
        if envelope.envid is not None:
            params.append(f"ENVID={xtext(envelope.envid)}")
    tail = "".join(" " + p for p in params)
    return f"MAIL FROM:<{envelope.mail_from}>{tail}\r\n".encode()


def render_rcpt(recipient: Recipient, caps: Capabilities) -> bytes:
    """``RCPT TO:<path>`` with NOTIFY and ORCPT when the server offers DSN (RFC 3461 4.1, 4.2)."""
    _check_path(recipient.address)
    params = []
    if caps.dsn and recipient.notify is not None:
        order = [n for n in Notify if n in recipient.notify]
        params.append("NOTIFY=" + (",".join(n.value for n in order) or "NEVER"))
    if caps.dsn and recipient.orcpt is not None:
        params.append(f"ORCPT={orcpt_param(recipient.orcpt)}")
    tail = "".join(" " + p for p in params)
    return f"RCPT TO:<{recipient.address}>{tail}\r\n".encode()


def render_auth_plain(authcid: str, password: str, authzid: str = "") -> bytes:
    """RFC 4954 4 with the initial response; RFC 4616 2: [authzid] NUL authcid NUL passwd."""
    message = f"{authzid}\0{authcid}\0{password}".encode()
    return b"AUTH PLAIN " + base64.b64encode(message) + b"\r\n"


def render_auth_response(data: bytes) -> bytes:
    """A response to a 334 challenge (RFC 4954 4): base64, "=" for an empty one."""
    return (base64.b64encode(data) or b"=") + b"\r\n"


def check_message(message: bytes) -> bytes:
    """The message as it will be sent: with its final CRLF, every line at most 998 octets.

    Raises :class:`MessageFormatError` for a bare CR or LF (RFC 5321 2.3.8) or a
    longer line (RFC 5321 4.5.3.1.6): the caller re-encodes first
    (``mailward.delivery.longlines``).
    """
    if not message.endswith(b"\r\n"):
        message += b"\r\n"  # RFC 5321 4.1.1.4: the data ends with CRLF before the dot
    if message.count(b"\r") != message.count(b"\n") or message.count(b"\r\n") != message.count(b"\n"):
        raise MessageFormatError("bare CR or LF in the message")
    start = 0
    while start < len(message):
        end = message.index(b"\r\n", start)
        if end - start > MAX_LINE:
            raise MessageFormatError(f"line of {end - start} octets, over {MAX_LINE}")
        start = end + 2
    return message


def dot_stuff(message: bytes) -> bytes:
    """DATA's payload: RFC 5321 4.5.2 transparency, then the end of data ``.CRLF``.

    ``message`` is the output of :func:`check_message` (it ends with CRLF).
    """
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


def bdat_chunks(message: bytes, chunk_size: int) -> list[bytes]:
    """BDAT commands with their chunks (RFC 3030 2), the last one marked LAST."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    pieces = [message[i : i + chunk_size] for i in range(0, len(message), chunk_size)] or [b""]
    out = []
    for i, piece in enumerate(pieces):
        last = " LAST" if i == len(pieces) - 1 else ""
        out.append(f"BDAT {len(piece)}{last}\r\n".encode("ascii") + piece)
    return out
