"""FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; BINARY RFC 3516; modifiers RFC 4466 2.4)."""

from __future__ import annotations

from dataclasses import dataclass

from mailward.protocols.imap.commands.base import Command, Context, Param, ext_params
from mailward.protocols.imap.reader import Reader, Syntax
from mailward.protocols.imap.seqset import SequenceSet

# RFC 9051 6.4.5: fetch-att without a section
SIMPLE_ATTRIBUTES = frozenset(
    {
        "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "RFC822.SIZE",
        "BODY", "BODYSTRUCTURE", "UID",
        "MODSEQ",  # RFC 7162 3.1.4.1: for CONDSTORE, later
    }
)
# RFC 9051 6.4.5: the macros (RFC 9051 keeps them, "for compatibility")
MACROS = {
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SECTION_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})
MAX_SECTION_DEPTH = 64


@dataclass(frozen=True)
class Section:
    """``section-spec``: part numbers (``1.2.3``) and an optional text specifier."""

    part: tuple[int, ...] = ()
    text: str | None = None  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()  # HEADER.FIELDS[.NOT]'s header-list

    def __str__(self) -> str:
        words = [".".join(map(str, self.part))] if self.part else []
        if self.text:
            words.append(self.text)
        spec = ".".join(words)
        if self.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True)
class Partial:
    """``<offset.length>`` (RFC 9051 6.4.5); the reply names only ``<offset>``."""

    offset: int
    length: int


@dataclass(frozen=True)
class FetchAttribute:
    """A fetch item without a section (FLAGS, UID, ENVELOPE, BODYSTRUCTURE, RFC822, ...)."""

    name: str


@dataclass(frozen=True)
class BodySection:
    """``BODY[section]<partial>``, ``BODY.PEEK[...]``, ``BINARY[...]``, ``BINARY.PEEK[...]``."""

    section: Section
    partial: Partial | None = None
    peek: bool = False
    binary: bool = False

    @property
    def response_name(self) -> str:
        """The item's name in the FETCH response (RFC 9051 7.5.2: no .PEEK, origin only)."""
        name = ("BINARY[" if self.binary else "BODY[") + str(self.section) + "]"
        return name + (f"<{self.partial.offset}>" if self.partial else "")


@dataclass(frozen=True)
class BinarySize:
    """``BINARY.SIZE[part]`` (RFC 3516 4.2)."""

    part: tuple[int, ...]

    @property
    def response_name(self) -> str:
        return "BINARY.SIZE[" + ".".join(map(str, self.part)) + "]"


FetchItem = FetchAttribute | BodySection | BinarySize


@dataclass(frozen=True)
class Fetch(Command):
    """FETCH / UID FETCH; macros are expanded into ``items``, kept in ``macro`` too."""

    name = "FETCH"
    uid: bool
    sequence_set: SequenceSet
    items: tuple[FetchItem, ...]
    modifiers: tuple[Param, ...] = ()
    macro: str | None = None

    @property
    def sets_seen(self) -> bool:
        """RFC 9051 6.4.5: BODY[...] and BINARY[...] (not .PEEK), RFC822 and RFC822.TEXT set \\Seen."""
        return any(
            (isinstance(i, BodySection) and not i.peek)
            or (isinstance(i, FetchAttribute) and i.name in ("RFC822", "RFC822.TEXT"))
            for i in self.items
        )


def _part(reader: Reader) -> tuple[list[int], bool]:
    """``section-part`` -> (numbers, a "." follows that starts a text specifier)."""
    numbers: list[int] = []
    while reader.peek() is not None and 0x30 <= (reader.peek() or 0) <= 0x39:
        numbers.append(reader.number(nonzero=True))
        if len(numbers) > MAX_SECTION_DEPTH:
            raise Syntax("section part nested too deep")
        if not reader.accept(b"."):
            return numbers, False
        if (reader.peek() or 0) not in range(0x30, 0x3A):
            return numbers, True
    return numbers, False


def _header_list(reader: Reader) -> tuple[str, ...]:
    reader.sp()
    reader.parenthesised("a header list")
    fields: list[str] = []
    while not reader.accept(b")"):
        if fields:
            reader.sp()
        raw = reader.astring()
        if not raw.isascii() or b":" in raw or not raw:
            raise Syntax("bad header field name")
        fields.append(raw.decode("ascii"))
    if not fields:
        raise Syntax("an empty header list")
    return tuple(fields)


def section(reader: Reader, binary: bool = False) -> Section:
    """``section = "[" [section-spec] "]"`` or ``section-binary = "[" [section-part] "]"``."""
    reader.expect(b"[")
    numbers, dotted = _part(reader)
    text: str | None = None
    fields: tuple[str, ...] = ()
    if not reader.at(b"]") and (dotted or not numbers):
        if binary:
            raise Syntax("BINARY takes part numbers only")
        text = reader.name_token()
        if text not in SECTION_TEXTS or (text == "MIME" and not numbers):
            raise Syntax(f"bad section text {text}")
        if text.startswith("HEADER.FIELDS"):
            fields = _header_list(reader)
    elif dotted:
        raise Syntax("section ends with '.'")
    reader.expect(b"]")
    return Section(tuple(numbers), text, fields)


def _partial(reader: Reader) -> Partial | None:
    if not reader.accept(b"<"):
        return None
    offset = reader.number(limit=0x7FFFFFFFFFFFFFFF)  # RFC 9051 9: number64
    reader.expect(b".")
    length = reader.number(nonzero=True, limit=0x7FFFFFFFFFFFFFFF)
    reader.expect(b">")
    return Partial(offset, length)


def fetch_item(reader: Reader) -> FetchItem:
    word = reader.name_token()
    if word in ("BODY", "BODY.PEEK") and reader.at(b"["):
        return BodySection(section(reader), _partial(reader), peek=word == "BODY.PEEK")
    if word in ("BINARY", "BINARY.PEEK"):
        peek = word == "BINARY.PEEK"
        return BodySection(section(reader, binary=True), _partial(reader), peek=peek, binary=True)
    if word == "BINARY.SIZE":
        return BinarySize(section(reader, binary=True).part)
    if word in SIMPLE_ATTRIBUTES:
        return FetchAttribute(word)
    raise Syntax(f"unknown FETCH item {word}")


def parse_fetch(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    sequence_set = reader.sequence_set()
    reader.sp()
    macro: str | None = None
    items: list[FetchItem] = []
    if reader.accept(b"("):
        while not reader.accept(b")"):
            if items:
                reader.sp()
            items.append(fetch_item(reader))
        if not items:
            raise Syntax("an empty list of FETCH items")
    else:
        start = reader.pos
        word = reader.name_token()
        if word in MACROS:
            macro = word
            items.extend(FetchAttribute(name) for name in MACROS[word])
        else:
            reader.pos = start
            items.append(fetch_item(reader))
    modifiers: tuple[Param, ...] = ()
    if reader.at_sp():
        reader.sp()
        modifiers = ext_params(reader)
    reader.end()
    return Fetch(tag, uid, sequence_set, tuple(dict.fromkeys(items)), modifiers, macro)
