"""RFC 5322 3.4 address lists, split the way IMAP's ENVELOPE wants them
(RFC 9051 7.5.2 / RFC 3501 7.4.2: name, adl, mailbox, host; groups as markers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailward.mime.encoded_words import decode_header_value

# What UW-IMAP and Dovecot send for an address without a domain or a local part:
# a NIL host would read as a group marker.
MISSING_HOST = ".MISSING-HOST-NAME."
MISSING_MAILBOX = "MISSING_MAILBOX"
_SPECIALS = frozenset("<>@,;:[]")
# The shapes most mail has, read without the tokenizer (the same result, faster):
# local@domain, and Name <local@domain> / "Name" <local@domain>
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_DOMAIN = r"[A-Za-z0-9.-]+"
_SIMPLE_ADDR = re.compile(rf"[ \t]*({_ATEXT})@({_DOMAIN})[ \t]*")
_PLAIN_NAME = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~. \t-]*?"
_SIMPLE_NAME_ADDR = re.compile(
    rf'[ \t]*(?:"([^"\\\r\n]*)"|({_PLAIN_NAME}))[ \t]*<({_ATEXT})@({_DOMAIN})>[ \t]*')


@dataclass(frozen=True)
class Address:
    """One element of an IMAP address list.

    Start of a group: host None and mailbox the group's name. End of a group:
    mailbox None and host None. The mailbox is the local part as written (a quoted
    local part keeps its quotes); the name is the display name (quotes removed,
    RFC 2047 words kept), or the address's comment when there is no display name.
    """

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None

    @property
    def is_group_start(self) -> bool:
        return self.host is None and self.mailbox is not None

    @property
    def is_group_end(self) -> bool:
        return self.host is None and self.mailbox is None

    def decoded_name(self) -> str | None:
        """The name with RFC 2047 encoded words decoded (for display and SEARCH)."""
        return None if self.name is None else decode_header_value(self.name)


# token kinds
_ATOM, _QUOTED, _LITERAL, _COMMENT, _SPECIAL = range(5)
_Token = tuple[int, str]


def _scan_delimited(text: str, i: int, close: str) -> tuple[str, int]:
    """From the char after an opening quote/bracket to the closing one (escapes kept)."""
    start = i
    while i < len(text) and text[i] != close:
        i += 2 if text[i] == "\\" else 1
    return text[start:min(i, len(text))], i + 1


def _scan_comment(text: str, i: int) -> tuple[str, int]:
    start, depth = i, 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if not depth:
                return text[start:i], i + 1
        i += 1
    return text[start:], i


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in " \t\r\n":
            i += 1
        elif char == '"':
            body, i = _scan_delimited(text, i + 1, '"')
            tokens.append((_QUOTED, body))
        elif char == "(":
            body, i = _scan_comment(text, i + 1)
            tokens.append((_COMMENT, body))
        elif char == "[":
            body, i = _scan_delimited(text, i + 1, "]")
            tokens.append((_LITERAL, "[" + body + "]"))
        elif char in _SPECIALS:
            tokens.append((_SPECIAL, char))
            i += 1
        elif char == ")":
            i += 1  # a comment's end without its start: dropped
        else:
            start = i
            while i < len(text) and text[i] not in _SPECIALS and text[i] not in ' \t\r\n"()':
                i += 1
            tokens.append((_ATOM, text[start:i]))
    return tokens


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def _phrase(tokens: list[_Token]) -> str | None:
    words = [_unescape(v) if k == _QUOTED else v for k, v in tokens if k in (_ATOM, _QUOTED)]
    return " ".join(words) or None


def _comment(tokens: list[_Token]) -> str | None:
    comments = [_unescape(v).strip() for k, v in tokens if k == _COMMENT]
    return next((c for c in reversed(comments) if c), None)


def _addr_spec(tokens: list[_Token], name: str | None, adl: str | None) -> Address | None:
    """local-part "@" domain (RFC 5322 3.4.1), CFWS dropped."""
    words = [(k, v) for k, v in tokens if k != _COMMENT]
    at = max((i for i, (k, v) in enumerate(words) if (k, v) == (_SPECIAL, "@")), default=-1)
    local_tokens = words if at < 0 else words[:at]
    local = "".join('"' + v + '"' if k == _QUOTED else v for k, v in local_tokens if k != _SPECIAL)
    host = "".join(v for k, v in words[at + 1:] if k != _SPECIAL) if at >= 0 else ""
    if not local and not host and name is None:
        return None
    return Address(name, adl, local or MISSING_MAILBOX, host or MISSING_HOST)


def _angle(tokens: list[_Token], name: str | None) -> Address | None:
    """angle-addr with an obs-route (RFC 5322 4.4): <@a,@b:local@host>."""
    adl = None
    colon = next((i for i, t in enumerate(tokens) if t == (_SPECIAL, ":")), -1)
    if colon >= 0 and tokens[:1] == [(_SPECIAL, "@")]:
        route = [v for k, v in tokens[:colon] if k != _COMMENT]
        adl = "".join(route) or None
        tokens = tokens[colon + 1:]
    return _addr_spec(tokens, name, adl)


def _mailbox(tokens: list[_Token]) -> Address | None:
    """name-addr or addr-spec (RFC 5322 3.4)."""
    opening = next((i for i, t in enumerate(tokens) if t == (_SPECIAL, "<")), -1)
    if opening < 0:
        return _addr_spec(tokens, _comment(tokens), None)
    closing = next((i for i in range(opening, len(tokens)) if tokens[i] == (_SPECIAL, ">")), len(tokens))
    name = _phrase(tokens[:opening]) or _comment(tokens[closing:])
    return _angle(tokens[opening + 1:closing], name)


def _split(tokens: list[_Token], stops: str) -> tuple[list[_Token], int]:
    """Tokens up to the first special in stops outside <...>."""
    angle = False
    for i, (kind, value) in enumerate(tokens):
        if kind == _SPECIAL:
            if value == "<":
                angle = True
            elif value == ">":
                angle = False
            elif value in stops and not angle:
                return tokens[:i], i
    return tokens, len(tokens)


def parse_address_list(value: str | None) -> tuple[Address, ...]:
    """An address list (RFC 5322 3.4 address-list, with the obs- forms of 4.4).

    Never raises: unterminated quotes, comments and brackets end at the end of the
    value, empty members are skipped, a member without '@' gets MISSING_HOST.
    """
    if not value:
        return ()
    simple = _SIMPLE_ADDR.fullmatch(value)
    if simple is not None:
        return (Address(None, None, simple.group(1), simple.group(2)),)
    named = _SIMPLE_NAME_ADDR.fullmatch(value)
    if named is not None:
        quoted, plain, mailbox, host = named.groups()
        name = quoted if quoted is not None else " ".join(plain.split())
        return (Address(name or None, None, mailbox, host),)
    return _parse_tokens(value)


def _parse_tokens(value: str) -> tuple[Address, ...]:
    tokens = _tokens(value)
    result: list[Address] = []
    while tokens:
        member, stop = _split(tokens, ",:;")
        separator = tokens[stop][1] if stop < len(tokens) else ","
        tokens = tokens[stop + 1:]
        if separator == ":":
            # group (RFC 5322 3.4): display-name ":" [group-list] ";"
            result.append(Address(None, None, _phrase(member) or "", None))
            inner, end = _split(tokens, ";")
            tokens = tokens[end + 1:]
            while inner:
                one, comma = _split(inner, ",:")
                inner = inner[comma + 1:]
                address = _mailbox(one)
                if address is not None:
                    result.append(address)
            result.append(Address(None, None, None, None))
            continue
        address = _mailbox(member)
        if address is not None:
            result.append(address)
    return tuple(result)
