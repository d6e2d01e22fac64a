"""The one spelling of domains and addresses the account store keeps and is asked for.

Domains are case-insensitive (RFC 5321 2.4) and kept lower-case, internationalised
ones as A-labels (RFC 5890), so ``Bücher.example`` and ``xn--bcher-kva.example`` are
one domain. Local parts are case-sensitive in principle (RFC 5321 2.4) but no mail
system an admin would run today treats ``Alice`` and ``alice`` as two people:
mailward folds them (``str.casefold`` after NFC, so SMTPUTF8 local parts fold too),
as Dovecot, mox and Stalwart do.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1
MAX_DOMAIN = 253  # RFC 1035 2.3.4, without the trailing dot

# RFC 5322 3.2.3 atext, plus UTF-8 (RFC 6531 3.3); a dot-atom, never quoted
_ATOM = r"[A-Za-z0-9!#$&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_A_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")

# Characters that route mail when an old MTA sees them in a local part: the
# percent hack (user%other@us) and UUCP bang paths (other!user@us). Never part of
# an account or alias name, so mail carrying them can never be relayed by mistake.
ROUTING_CHARACTERS = frozenset("%!")


class InvalidName(ValueError):
    """Not a usable domain or address; the message says why, for the admin."""


def domain(text: str) -> str:
    """The stored form of a domain: lower-case, IDNs as A-labels, no trailing dot."""
    name = text.strip().rstrip(".")
    if not name:
        raise InvalidName("the domain is empty")
    if not name.isascii():
        try:
            name = unicodedata.normalize("NFC", name).encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidName(f"{text!r} is not a valid internationalised domain: {exc}") from None
    name = name.lower()
    if len(name) > MAX_DOMAIN:
        raise InvalidName(f"{text!r} is longer than {MAX_DOMAIN} characters")
    labels = name.split(".")
    if len(labels) < 2 or not all(_A_LABEL.fullmatch(label) for label in labels):
        raise InvalidName(f"{text!r} is not a domain name (e.g. example.org)")
    return name


def local_part(text: str) -> str:
    """The stored form of a local part; refuses quoting and routing characters."""
    folded = unicodedata.normalize("NFC", text).casefold()
    if not folded:
        raise InvalidName("the local part (before @) is empty")
    if ROUTING_CHARACTERS & set(folded):
        raise InvalidName(f"{text!r}: % and ! route mail on old systems and are not allowed")
    if len(folded.encode("utf-8")) > MAX_LOCAL_PART:
        raise InvalidName(f"{text!r} is longer than {MAX_LOCAL_PART} octets")
    if not _LOCAL.fullmatch(folded):
        raise InvalidName(f"{text!r} is not a plain local part (letters, digits, dots, - _ + ...)")
    return folded


def split(address: str) -> tuple[str, str]:
    """``(local part, domain)`` as given, split at the last ``@``."""
    local, at, dom = address.strip().rpartition("@")
    if not at or not local:
        raise InvalidName(f"{address!r} is not an address (expected user@domain)")
    return local, dom


def address(text: str) -> str:
    """The stored form of ``local@domain``."""
    local, dom = split(text)
    return f"{local_part(local)}@{domain(dom)}"


def alias_address(text: str) -> str:
    """An alias source: an address, or ``@domain`` for the domain's catch-all."""
    if text.strip().startswith("@"):
        return "@" + domain(text.strip()[1:])
    return address(text)


def lookup_address(local: str, dom: str) -> str | None:
    """The stored form of an envelope address to look up, or ``None`` when it can match
    no account or alias (routing characters, quoted or otherwise odd local parts)."""
    try:
        return f"{local_part(local)}@{domain(dom)}"
    except InvalidName:
        return None


def fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint in the form mail clients show and the store
    keeps: uppercase hex pairs joined by colons. Accepts any case, with or without
    colons (as ``openssl x509 -fingerprint -sha256`` or ``sha256sum`` print it)."""
    digits = text.strip().replace(":", "").upper()
    if len(digits) != 64 or any(c not in "0123456789ABCDEF" for c in digits):
        raise InvalidName(f"{text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))
