"""The ENVELOPE of one message header (RFC 9051 7.5.2, RFC 3501 7.4.2)."""

from __future__ import annotations

from dataclasses import dataclass

from mailward.mime.address import Address, parse_address_list
from mailward.mime.encoded_words import decode_header_value
from mailward.mime.headers import first


@dataclass(frozen=True)
class Envelope:
    """ENVELOPE fields; strings are the raw unfolded header values (None if absent).

    sender and reply_to are from_ when their field is absent or empty (RFC 9051
    7.5.2). Raw 8-bit bytes are kept as surrogate escapes (see headers.raw_text).
    """

    date: str | None
    subject: str | None
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    in_reply_to: str | None
    message_id: str | None

    def decoded_subject(self) -> str | None:
        """The subject with RFC 2047 encoded words decoded (for SEARCH and display)."""
        return None if self.subject is None else decode_header_value(self.subject)

    def decoded(self) -> Envelope:
        """A copy with the subject and every address name decoded (RFC 2047)."""
        def names(addresses: tuple[Address, ...]) -> tuple[Address, ...]:
            return tuple(Address(a.decoded_name(), a.adl, a.mailbox, a.host) for a in addresses)
        return Envelope(self.date, self.decoded_subject(), names(self.from_), names(self.sender),
                        names(self.reply_to), names(self.to), names(self.cc), names(self.bcc),
                        self.in_reply_to, self.message_id)


EMPTY_ENVELOPE = Envelope(None, None, (), (), (), (), (), (), None, None)


def build_envelope(fields: list[tuple[str, str]]) -> Envelope:
    """The envelope of a header's fields (the first field of each name counts)."""
    from_ = parse_address_list(first(fields, "from"))
    sender = parse_address_list(first(fields, "sender")) or from_
    reply_to = parse_address_list(first(fields, "reply-to")) or from_
    return Envelope(
        date=first(fields, "date"),
        subject=first(fields, "subject"),
        from_=from_,
        sender=sender,
        reply_to=reply_to,
        to=parse_address_list(first(fields, "to")),
        cc=parse_address_list(first(fields, "cc")),
        bcc=parse_address_list(first(fields, "bcc")),
        in_reply_to=first(fields, "in-reply-to"),
        message_id=first(fields, "message-id"),
    )
