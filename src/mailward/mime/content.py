"""What a part's header says about its content (RFC 2045, RFC 2046, RFC 2183)."""

from __future__ import annotations

from dataclasses import dataclass

from mailward.mime import params
from mailward.mime.charsets import codec_name
from mailward.mime.headers import first

Params = tuple[tuple[str, str], ...]
# RFC 2045 5.2: the default is text/plain; charset=us-ascii
DEFAULT_PARAMS: Params = (("charset", "us-ascii"),)
IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
MESSAGE_SUBTYPES = frozenset({"rfc822", "global"})


@dataclass(frozen=True)
class Content:
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

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


def _strip(value: str | None) -> str | None:
    return None if value is None else value.strip()


def analyse(fields: list[tuple[str, str]], *, in_digest: bool, defects: list[str]) -> Content:
    """The content fields of one part. Defaults: RFC 2045 5.2 (text/plain;
    charset=us-ascii), RFC 2046 5.1.5 (message/rfc822 in multipart/digest),
    RFC 2045 6.1 (7bit)."""
    media: tuple[str, str, Params] | None = None
    raw_type = first(fields, "content-type")
    if raw_type is not None:
        media = params.content_type(raw_type)
        if media is None:
            defects.append(f"invalid Content-Type {raw_type[:60]!r} read as text/plain")
    if media is None:
        digest = in_digest and raw_type is None
        media = ("message", "rfc822", ()) if digest else ("text", "plain", DEFAULT_PARAMS)
    kind, sub, ps = media
    charset = next((v for k, v in ps if k == "charset"), None)
    if charset is not None and codec_name(charset) is None:
        defects.append(f"unknown charset {charset[:40]!r} (text is read as UTF-8)")
    encoding = (first(fields, "content-transfer-encoding") or "7bit").strip().lower() or "7bit"
    disposition: str | None = None
    disposition_params: Params = ()
    raw_disposition = first(fields, "content-disposition")
    if raw_disposition is not None:
        disposition, disposition_params = params.disposition(raw_disposition)
    raw_language = first(fields, "content-language")
    location = first(fields, "content-location")
    return Content(
        media_type=kind,
        media_subtype=sub,
        params=ps,
        content_id=_strip(first(fields, "content-id")),
        description=_strip(first(fields, "content-description")),
        encoding=encoding,
        md5=_strip(first(fields, "content-md5")),
        disposition=disposition,
        disposition_params=disposition_params,
        language=None if raw_language is None else params.languages(raw_language),
        # RFC 2557 4.4.1: folding white space is removed from a folded URI
        location=None if location is None else "".join(location.split()),
    )
