"""The part tree of a message, and its compact serialization for the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mailward.mime.address import Address
from mailward.mime.envelope import Envelope

Params = tuple[tuple[str, str], ...]
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Part:
    """One MIME part. Offsets count from the first byte of the message.

    header bytes: message[header_offset:header_offset + header_size] (the blank line
    that ends the header included); body bytes: message[body_offset:body_offset +
    body_size], the line break before a boundary excluded (RFC 2046 5.1.1).
    body_lines counts the lines of the body, a last line without a line break too.
    A part's bytes never reach into the line break before the boundary that ends
    it: when the empty line after a header is that line break, the header ends
    without it and the body is empty.

    A multipart part has at least one child; a message/rfc822 or message/global part
    has one child (the encapsulated message's root) and an envelope, unless its body
    is transfer-encoded or ended before its header did, when it is a leaf.
    """

    header_offset: int
    header_size: int
    body_offset: int
    body_size: int
    body_lines: int
    media_type: str
    media_subtype: str
    params: Params
    content_id: str | None
    description: str | None
    encoding: str
    md5: str | None
    disposition: str | None
    disposition_params: Params
    language: tuple[str, ...] | None
    location: str | None
    children: tuple[Part, ...] = ()
    envelope: Envelope | None = None

    @property
    def is_multipart(self) -> bool:
        return self.media_type == "multipart"

    @property
    def is_message(self) -> bool:
        """An encapsulated message that was parsed (RFC 2046 5.2.1, RFC 6532 3.7)."""
        return self.media_type == "message" and bool(self.children)

    @property
    def size(self) -> int:
        """The part's whole bytes, header and body."""
        return self.body_offset + self.body_size - self.header_offset

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


@dataclass(frozen=True)
class MessageStructure:
    root: Part
    envelope: Envelope
    size: int
    defects: tuple[str, ...]

    def part(self, section: tuple[int, ...]) -> Part | None:
        """The part at an IMAP section number (RFC 9051 6.4.5), or None.

        () is the whole message. Part 1 of a message that is not multipart is its
        body; the parts of a message/rfc822 part are numbered as those of the
        encapsulated message.
        """
        current = self.root
        in_message = True  # current is a message's root: "1" may name its body
        for number in section:
            if current.is_message and not in_message:
                current, in_message = current.children[0], True
            if current.is_multipart:
                if not 1 <= number <= len(current.children):
                    return None
                current, in_message = current.children[number - 1], False
            elif in_message and number == 1:
                in_message = False
            else:
                return None
        return current

    def walk(self) -> list[Part]:
        """Every part, depth first, the root first."""
        out: list[Part] = []
        stack = [self.root]
        while stack:
            part = stack.pop()
            out.append(part)
            stack.extend(reversed(part.children))
        return out

    def to_bytes(self) -> bytes:
        """Versioned JSON; 8-bit header bytes survive as escaped surrogates."""
        data = {"v": FORMAT_VERSION, "size": self.size, "defects": list(self.defects),
                "envelope": _envelope_out(self.envelope), "root": _part_out(self.root)}
        return json.dumps(data, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> MessageStructure:
        """The structure to_bytes wrote; ValueError for another version or bad data."""
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"not a message structure: {exc}") from None
        if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION:
            version = obj.get("v") if isinstance(obj, dict) else None
            raise ValueError(f"message structure version {version!r}, expected {FORMAT_VERSION}")
        try:
            return cls(_part_in(obj["root"]), _envelope_in(obj["envelope"]), _int(obj["size"]),
                       tuple(_str(d) for d in obj["defects"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed message structure: {exc!r}") from None


def _address_out(addresses: tuple[Address, ...]) -> list[list[str | None]]:
    return [[a.name, a.adl, a.mailbox, a.host] for a in addresses]


def _envelope_out(e: Envelope) -> list[Any]:
    return [e.date, e.subject, _address_out(e.from_), _address_out(e.sender),
            _address_out(e.reply_to), _address_out(e.to), _address_out(e.cc),
            _address_out(e.bcc), e.in_reply_to, e.message_id]


def _params_out(params: Params) -> list[list[str]]:
    return [[k, v] for k, v in params]


def _part_out(p: Part) -> list[Any]:
    return [p.header_offset, p.header_size, p.body_offset, p.body_size, p.body_lines,
            p.media_type, p.media_subtype, _params_out(p.params), p.content_id, p.description,
            p.encoding, p.md5, p.disposition, _params_out(p.disposition_params),
            None if p.language is None else list(p.language), p.location,
            [_part_out(c) for c in p.children],
            None if p.envelope is None else _envelope_out(p.envelope)]


_NSTR = (str, type(None))


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _opt(value: Any) -> str | None:
    if not isinstance(value, _NSTR):
        raise ValueError(f"expected a string or null, got {value!r}")
    return value


def _addresses_in(value: Any, seen: dict[tuple[Any, ...], tuple[Address, ...]]) -> tuple[Address, ...]:
    # Sender and Reply-To are most often From again: one tuple of Addresses for all three
    if not value:
        return ()
    key = tuple(tuple(item) for item in value)
    found = seen.get(key)
    if found is not None:
        return found
    out = []
    for name, adl, mailbox, host in key:
        if not (isinstance(name, _NSTR) and isinstance(adl, _NSTR) and isinstance(mailbox, _NSTR)
                and isinstance(host, _NSTR)):
            raise ValueError("an address part that is not a string")
        out.append(Address(name, adl, mailbox, host))
    seen[key] = result = tuple(out)
    return result


def _envelope_in(v: Any) -> Envelope:
    if not isinstance(v, list) or len(v) != 10:
        raise ValueError("envelope")
    seen: dict[tuple[Any, ...], tuple[Address, ...]] = {}
    return Envelope(_opt(v[0]), _opt(v[1]), _addresses_in(v[2], seen), _addresses_in(v[3], seen),
                    _addresses_in(v[4], seen), _addresses_in(v[5], seen), _addresses_in(v[6], seen),
                    _addresses_in(v[7], seen), _opt(v[8]), _opt(v[9]))


def _params_in(value: Any) -> Params:
    if not value:
        return ()
    out = tuple((k, v) for k, v in value)
    if not all(type(k) is str and type(v) is str for k, v in out):
        raise ValueError("a parameter that is not a string")
    return out


def _part_in(v: Any) -> Part:
    if not isinstance(v, list) or len(v) != 18:
        raise ValueError("part")
    (header_offset, header_size, body_offset, body_size, body_lines, media_type, media_subtype, params,
     content_id, description, encoding, md5, disposition, disposition_params, language, location,
     children, envelope) = v
    if not (type(header_offset) is int and type(header_size) is int and type(body_offset) is int
            and type(body_size) is int and type(body_lines) is int and type(media_type) is str
            and type(media_subtype) is str and type(encoding) is str):
        raise ValueError("part: a field of the wrong type")
    return Part(
        header_offset, header_size, body_offset, body_size, body_lines, media_type, media_subtype,
        _params_in(params), _opt(content_id), _opt(description), encoding, _opt(md5), _opt(disposition),
        _params_in(disposition_params), None if language is None else tuple(_str(x) for x in language),
        _opt(location), tuple(_part_in(c) for c in children) if children else (),
        None if envelope is None else _envelope_in(envelope),
    )
