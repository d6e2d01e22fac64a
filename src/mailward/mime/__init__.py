"""Message parsing shared by the protocols: the streaming MIME parser (part tree,
offsets, envelope), header decoding, and the text SEARCH reads."""

from mailward.mime.address import MISSING_HOST, MISSING_MAILBOX, Address, parse_address_list
from mailward.mime.encoded_words import decode_header_value
from mailward.mime.envelope import Envelope, build_envelope
from mailward.mime.headers import header_fields
from mailward.mime.parser import MimeParser, parse
from mailward.mime.structure import FORMAT_VERSION, MessageStructure, Part
from mailward.mime.text import SearchText, TextExtractor

__all__ = [
    "FORMAT_VERSION",
    "MISSING_HOST",
    "MISSING_MAILBOX",
    "Address",
    "Envelope",
    "MessageStructure",
    "MimeParser",
    "Part",
    "SearchText",
    "TextExtractor",
    "build_envelope",
    "decode_header_value",
    "header_fields",
    "parse",
    "parse_address_list",
]
