"""Envelope addresses and MAIL/RCPT parameters (RFC 5321 4.1.2, RFC 6531 3.3)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Non-ASCII as RFC 6531 3.3 allows it (UTF8-non-ascii), less the C1 controls (U+0080-U+009F,
# NEL among them) and the line and paragraph separators (U+2028, U+2029): RFC 5198 keeps
# them out of network text, and a sender's address goes into header fields (Return-Path:)
# whose readers may take them for line ends.
_UTF8 = "\u00a0-\u2027\u202a-\U0010ffff"
# RFC 5321 4.1.2 / RFC 5322 3.2.3: atext, with UTF-8
_ATEXT = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_UTF8}]"
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# qtextSMTP and quoted-pairSMTP (RFC 5321 4.1.2), UTF-8 allowed by RFC 6531
_QUOTED_STRING = re.compile(rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_UTF8}]|\\[\x20-\x7e])*"')
_LABEL = re.compile(
    rf"[A-Za-z0-9{_UTF8}](?:[A-Za-z0-9\-{_UTF8}]{{0,61}}[A-Za-z0-9{_UTF8}])?"
)
_ESMTP_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_ESMTP_VALUE = re.compile(rf"[\x21-\x3c\x3e-\x7e{_UTF8}]+")  # RFC 6531 3.3 esmtp-value

MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1
MAX_DOMAIN = 255  # RFC 5321 4.5.3.1.2
MAX_PATH = 256  # RFC 5321 4.5.3.1.3


class AddressError(ValueError):
    """The text is not an address; the message says why (for logs and replies)."""


@dataclass(frozen=True)
class Address:
    """A mailbox ``local_part@domain``; the domain is kept as written (case-insensitive)."""

    local_part: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def ascii(self) -> bool:
        return str(self).isascii()

    @property
    def is_address_literal(self) -> bool:
        return self.domain.startswith("[")


def parse_domain(text: str) -> str:
    """A domain or an address literal (RFC 5321 4.1.3); raises :class:`AddressError`."""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        try:
            if inner[:5].lower() == "ipv6:":
                ipaddress.IPv6Address(inner[5:])
            else:
                ipaddress.IPv4Address(inner)
        except ValueError:
            raise AddressError(f"bad address literal {text}") from None
        return text
    if not text or len(text) > MAX_DOMAIN:
        raise AddressError("bad domain length")
    labels = text.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise AddressError(f"bad domain {text!r}")
    return text


def parse_mailbox(text: str) -> Address:
    """``local-part@domain`` (RFC 5321 Mailbox); raises :class:`AddressError`."""
    at = text.rfind("@")
    if at <= 0:
        raise AddressError("no @domain")
    local, domain = text[:at], text[at + 1 :]
    if not (_DOT_STRING.fullmatch(local) or _QUOTED_STRING.fullmatch(local)):
        raise AddressError(f"bad local part {local!r}")
    if len(local.encode()) > MAX_LOCAL_PART:
        raise AddressError("local part longer than 64 octets")
    return Address(local, parse_domain(domain))


def parse_path(text: str, *, allow_null: bool) -> tuple[Address | None, str]:
    """Split ``<path> params`` into an address (None for ``<>``) and the parameter text.

    A source route (``<@a,@b:user@c>``) is accepted and dropped, as RFC 5321
    4.1.1.3 and appendix C ask; the mailbox after it is what counts.
    """
    text = text.lstrip(" ")  # a space after the colon is common, if not RFC 5321
    if not text.startswith("<"):
        raise AddressError("the address must be in angle brackets")
    end = _closing_bracket(text)
    path, rest = text[1:end], text[end + 1 :]
    if rest and not rest.startswith(" "):
        raise AddressError("junk after the address")
    if len(path.encode()) + 2 > MAX_PATH:  # the angle brackets count (RFC 5321 4.5.3.1.3)
        raise AddressError("path longer than 256 octets")
    if path == "":
        if not allow_null:
            raise AddressError("empty address")
        return None, rest.strip(" ")
    if path.startswith("@"):
        route, colon, path = path.partition(":")
        if not colon:
            raise AddressError("bad source route")
        for hop in route.split(","):
            if not hop.startswith("@"):
                raise AddressError("bad source route")
            parse_domain(hop[1:])
    return parse_mailbox(path), rest.strip(" ")


def _closing_bracket(text: str) -> int:
    """The index of the ``>`` closing the path, skipping quoted local parts."""
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return i
    raise AddressError("no closing >")


def parse_parameters(text: str) -> dict[str, str | None]:
    """``KEY=value KEY`` (RFC 5321 4.1.2 Mail-parameters); keys upper-cased."""
    params: dict[str, str | None] = {}
    for item in text.split(" "):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not _ESMTP_KEYWORD.fullmatch(key):
            raise AddressError(f"bad parameter {item!r}")
        if eq and not _ESMTP_VALUE.fullmatch(value):
            raise AddressError(f"bad value in {item!r}")
        key = key.upper()
        if key in params:
            raise AddressError(f"parameter {key} given twice")
        params[key] = value if eq else None
    return params
