"""The text SEARCH reads (RFC 9051 6.4.4 TEXT, BODY, header criteria): decoded header
fields and the text of text/* parts, transfer encodings and charsets undone."""

from __future__ import annotations

import binascii
import codecs
import html
import re
from dataclasses import dataclass

from mailward.mime.charsets import incremental_decoder
from mailward.mime.content import Content
from mailward.mime.encoded_words import decode_header_value
from mailward.mime.parser import MimeParser

_NOT_BASE64 = bytes(b for b in range(256) if not (chr(b).isalnum() and b < 128) and b not in b"+/")
_QP_HOLD = 1024  # longest quoted-printable line held back for a soft break (RFC 2045 6.7: 76)


@dataclass(frozen=True)
class SearchText:
    headers: tuple[tuple[str, str], ...]  # top-level header fields: (name lower case, decoded value)
    body: str  # the text parts, decoded, joined with newlines, cut at max_chars


class _Base64:
    """RFC 2045 6.8, streaming: characters outside the alphabet are ignored."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data.translate(None, _NOT_BASE64 + b"=")
        cut = len(data) - len(data) % 4
        self._rest = data[cut:]
        return _a2b_base64(data[:cut])

    def close(self) -> bytes:
        rest, self._rest = self._rest, b""
        return _a2b_base64(rest + b"=" * (-len(rest) % 4)) if len(rest) > 1 else b""


def _a2b_base64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""


class _QuotedPrintable:
    """RFC 2045 6.7, streaming: whole lines are decoded, so soft breaks join."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > _QP_HOLD:
            # a line that long: decode it but a trailing "=" or "=X" (RFC 2045 6.7 (1), (5))
            equals = data.rfind(b"=", len(data) - 2)
            cut = equals if equals >= 0 else len(data)
        self._rest = data[cut:]
        return binascii.a2b_qp(data[:cut])

    def close(self) -> bytes:
        rest, self._rest = self._rest, b""
        return binascii.a2b_qp(rest)


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def close(self) -> bytes:
        return b""


_TAG_NAME = re.compile(r"/?([a-zA-Z][a-zA-Z0-9]*)")
_SKIPPED = frozenset({"script", "style", "head", "title"})
_BLOCK = frozenset({"p", "br", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"})
_HOLD_LIMIT = 65536  # an unclosed tag or comment longer than this is dropped


class _HtmlText:
    """Text of HTML, streaming: tags and comments dropped (script and style with
    their content), entities decoded, block ends as newlines."""

    def __init__(self) -> None:
        self._rest = ""
        self._skip: str | None = None
        self._in_long_tag = False

    def feed(self, text: str) -> str:
        if self._in_long_tag:
            end = text.find(">")
            if end < 0:
                return ""
            text, self._in_long_tag = text[end + 1:], False
        text = self._rest + text
        self._rest = ""
        out: list[str] = []
        pos = 0
        while True:
            opening = text.find("<", pos)
            if opening < 0:
                break
            self._text(out, text[pos:opening])
            comment = text.startswith("<!--", opening)
            closing = text.find("-->" if comment else ">", opening + 1)
            if closing < 0:
                if len(text) - opening <= _HOLD_LIMIT:
                    self._rest = text[opening:]
                else:
                    self._in_long_tag = True  # dropped up to its ">"
                pos = len(text)
                break
            pos = closing + (3 if comment else 1)
            if not comment:
                self._tag(out, text[opening + 1:closing])
        tail = text[pos:]
        amp = tail.rfind("&")
        if amp >= 0 and len(tail) - amp < 12 and ";" not in tail[amp:]:
            self._rest, tail = tail[amp:], tail[:amp]  # an entity may be cut
        self._text(out, tail)
        return html.unescape("".join(out))

    def _text(self, out: list[str], text: str) -> None:
        if self._skip is None:
            out.append(text)

    def _tag(self, out: list[str], inside: str) -> None:
        match = _TAG_NAME.match(inside)
        if match is None:
            return
        name, closing = match.group(1).lower(), inside.startswith("/")
        if closing and name == self._skip:
            self._skip = None
        elif not closing and self._skip is None and name in _SKIPPED:
            self._skip = name
        if name in _BLOCK and self._skip is None:
            out.append("\n")

    def close(self) -> str:
        rest, self._rest = self._rest, ""
        return "" if self._skip is not None or rest.startswith("<") else html.unescape(rest)


class TextExtractor:
    """Feed a message's bytes in any split; close() gives the text SEARCH matches.

    Memory stays bounded: the parser's (header sizes) plus at most max_chars of text.
    Text parts beyond max_chars are parsed but not decoded.
    """

    def __init__(self, *, max_chars: int = 1_000_000) -> None:
        self._max_chars = max(0, max_chars)
        self._parser = MimeParser()
        self._parser.listener = self
        self._headers: tuple[tuple[str, str], ...] = ()
        self._chunks: list[list[str]] = []
        self._size = 0
        self._transfer: _Base64 | _QuotedPrintable | _Identity | None = None
        self._charset: codecs.IncrementalDecoder | None = None
        self._html: _HtmlText | None = None

    def feed(self, data: bytes) -> None:
        self._parser.feed(data)

    def close(self) -> SearchText:
        self._parser.close()
        # one text per part, line breaks as LF, the break before a boundary dropped
        texts = ("".join(chunk).replace("\r\n", "\n").strip("\n") for chunk in self._chunks)
        body = "\n".join(texts)[:self._max_chars]
        return SearchText(self._headers, body)

    # the parser's Listener

    def top_header(self, fields: list[tuple[str, str]]) -> None:
        self._headers = tuple((name, decode_header_value(value)) for name, value in fields)

    def leaf_begin(self, content: Content, media: tuple[str, str]) -> None:
        self._transfer = None
        if media[0] != "text" or self._size >= self._max_chars:
            return
        encoding = content.encoding
        self._transfer = (_Base64() if encoding == "base64" else
                          _QuotedPrintable() if encoding == "quoted-printable" else _Identity())
        self._charset = incremental_decoder(content.param("charset"))
        self._html = _HtmlText() if media[1] == "html" else None
        self._size += 1 if self._chunks else 0  # the newline that will join it
        self._chunks.append([])

    def leaf_body(self, data: bytes) -> None:
        if self._transfer is not None:
            self._text(self._transfer.feed(data), final=False)

    def leaf_end(self) -> None:
        if self._transfer is not None:
            self._text(self._transfer.close(), final=True)
            self._transfer = None

    def _text(self, data: bytes, *, final: bool) -> None:
        assert self._charset is not None
        text = self._charset.decode(data, final)
        if self._html is not None:
            text = self._html.feed(text) + (self._html.close() if final else "")
        if not text:
            return
        room = self._max_chars - self._size
        if room <= 0:
            self._transfer = None
            return
        text = text[:room]
        self._chunks[-1].append(text)
        self._size += len(text)
