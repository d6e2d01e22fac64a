"""FETCH ENVELOPE, BODY and BODYSTRUCTURE from a message's stored MIME structure
(RFC 9051 7.5.2), rendered once into protocol syntax (the encoder's ``Raw``).

Multipart bodies are written as the grammar has them, the parts side by side with no
space between (``body-type-mpart = 1*body SP media-subtype``), which is why this is not
a plain nested list for the encoder.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from mailward.mime import Address, Envelope, Part
from mailward.protocols.imap.response import Encoder

Params = tuple[tuple[str, str], ...]


RENDERED_CACHE = 4096  # rendered ENVELOPEs and BODYSTRUCTUREs kept per process
_RENDERED: collections.OrderedDict[tuple[int, bool, int], tuple[object, bytes]] = collections.OrderedDict()


def _cached(source: object, utf8: bool, kind: int, render: Callable[[], bytes]) -> bytes:
    """``render()``, kept for ``source`` (a structure the store keeps decoded, so the same
    object comes back for the same message): the entry holds the object, so its id
    cannot be taken by another while the entry lives."""
    key = (id(source), utf8, kind)
    hit = _RENDERED.get(key)
    if hit is not None and hit[0] is source:
        _RENDERED.move_to_end(key)
        return hit[1]
    data = render()
    _RENDERED[key] = (source, data)
    if len(_RENDERED) > RENDERED_CACHE:
        _RENDERED.popitem(last=False)
    return data


def envelope(env: Envelope, enc: Encoder) -> bytes:
    """``ENVELOPE`` (RFC 9051 7.5.2), kept once rendered (see :func:`_cached`)."""
    return _cached(env, enc.utf8, 0, lambda: _envelope(env, enc))


def body_structure(part: Part, enc: Encoder, *, extended: bool = True) -> bytes:
    """``BODYSTRUCTURE`` (``extended``) or ``BODY`` of ``part``, kept once rendered."""
    return _cached(part, enc.utf8, 1 + extended, lambda: _body_structure(part, enc, extended=extended))


def _envelope(env: Envelope, enc: Encoder) -> bytes:
    """``ENVELOPE`` (RFC 9051 7.5.2): date, subject, from, sender, reply-to, to, cc, bcc,
    in-reply-to, message-id; the header values as the message has them."""
    return b"(" + b" ".join((
        _nstring(env.date, enc), _nstring(env.subject, enc),
        _addresses(env.from_, enc), _addresses(env.sender, enc), _addresses(env.reply_to, enc),
        _addresses(env.to, enc), _addresses(env.cc, enc), _addresses(env.bcc, enc),
        _nstring(env.in_reply_to, enc), _nstring(env.message_id, enc),
    )) + b")"


def _body_structure(part: Part, enc: Encoder, *, extended: bool = True) -> bytes:
    """``BODYSTRUCTURE`` (``extended``) or ``BODY`` of ``part`` and the parts within."""
    if part.is_multipart:
        inner = b"".join(_body_structure(child, enc, extended=extended) for child in part.children)
        out = inner + b" " + enc.string(part.media_subtype.upper())
        if extended:  # body-ext-mpart
            out += b" " + b" ".join((_params(part.params, enc), *_tail(part, enc)))
        return b"(" + out + b")"
    fields = [enc.string(part.media_type.upper()), enc.string(part.media_subtype.upper()),
              _params(_with_charset(part), enc), _nstring(part.content_id, enc),
              _nstring(part.description, enc), enc.string(part.encoding.upper()),
              str(part.body_size).encode()]
    if part.is_message and part.envelope is not None:  # body-type-msg
        fields += [_envelope(part.envelope, enc), _body_structure(part.children[0], enc, extended=extended),
                   str(part.body_lines).encode()]
    elif part.media_type == "text":  # body-type-text
        fields.append(str(part.body_lines).encode())
    if extended:  # body-ext-1part
        fields += [_nstring(part.md5, enc), *_tail(part, enc)]
    return b"(" + b" ".join(fields) + b")"


def _tail(part: Part, enc: Encoder) -> tuple[bytes, bytes, bytes]:
    """body-fld-dsp, body-fld-lang, body-fld-loc."""
    if part.disposition is None:
        disposition = b"NIL"
    else:
        disposition = b"(" + enc.string(part.disposition.upper()) + b" " + _params(
            part.disposition_params, enc) + b")"
    if not part.language:
        language = b"NIL"
    elif len(part.language) == 1:
        language = enc.string(part.language[0])
    else:
        language = b"(" + b" ".join(enc.string(tag) for tag in part.language) + b")"
    return disposition, language, _nstring(part.location, enc)


def _with_charset(part: Part) -> Params:
    """A text part without a charset parameter is US-ASCII (RFC 2045 5.2); say so."""
    if part.media_type == "text" and not any(name == "charset" for name, _ in part.params):
        return (("charset", "us-ascii"), *part.params)
    return part.params


def _params(params: Params, enc: Encoder) -> bytes:
    """body-fld-param: NIL, or ("NAME" "value" ...) with the names in upper case."""
    if not params:
        return b"NIL"
    return b"(" + b" ".join(enc.string(name.upper()) + b" " + enc.string(value)
                            for name, value in params) + b")"


def _addresses(addresses: tuple[Address, ...], enc: Encoder) -> bytes:
    if not addresses:
        return b"NIL"
    return b"(" + b"".join(
        b"(" + b" ".join(_nstring(v, enc) for v in (a.name, a.adl, a.mailbox, a.host)) + b")"
        for a in addresses) + b")"


def _nstring(value: str | None, enc: Encoder) -> bytes:
    return b"NIL" if value is None else enc.string(_surrogates_back(value))


def _surrogates_back(value: str) -> bytes:
    """The header's own octets (8-bit bytes the parser kept as escaped surrogates)."""
    return value.encode("utf-8", "surrogateescape")
