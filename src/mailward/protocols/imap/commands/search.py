"""SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4), ESEARCH result options
(RFC 4731 3.1), SEARCHRES ``$`` and SAVE (RFC 5182), the MODSEQ criterion (RFC 7162 3.1.5).

The criteria come out as a tree of frozen values; a list of keys is an :class:`And`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeAlias

from mailward.protocols.imap.commands.base import SYSTEM_FLAGS, Command, Context, decode_utf8
from mailward.protocols.imap.reader import Reader, Syntax
from mailward.protocols.imap.seqset import SequenceSet

RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})  # RFC 4731 3.1, RFC 5182 2.1
MAX_DEPTH = 32  # NOT NOT NOT ... and nested parentheses


@dataclass(frozen=True)
class All:
    pass


@dataclass(frozen=True)
class FlagCriterion:
    """ANSWERED, DELETED, ..., KEYWORD k (``present``) and UN... (not ``present``)."""

    flag: str
    present: bool = True


@dataclass(frozen=True)
class HeaderCriterion:
    """BCC, CC, FROM, SUBJECT, TO and HEADER name value: ``field`` as the RFC names it."""

    field: str
    value: str


@dataclass(frozen=True)
class TextCriterion:
    """BODY (the body only) or TEXT (header and body)."""

    where: Literal["BODY", "TEXT"]
    value: str


@dataclass(frozen=True)
class DateCriterion:
    """BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date: header)."""

    relation: Literal["BEFORE", "ON", "SINCE"]
    date: date
    sent: bool = False


@dataclass(frozen=True)
class SizeCriterion:
    """LARGER n (``larger``) or SMALLER n, on RFC822.SIZE."""

    larger: bool
    size: int


@dataclass(frozen=True)
class SetCriterion:
    """A sequence set (message numbers), or UID set (``uid``); may be ``$``."""

    sequence_set: SequenceSet
    uid: bool = False


@dataclass(frozen=True)
class ModSeqCriterion:
    """MODSEQ [entry-name entry-type] n (RFC 7162 3.1.5)."""

    modseq: int
    entry: tuple[str, str] | None = None


@dataclass(frozen=True)
class Not:
    criterion: SearchKey


@dataclass(frozen=True)
class Or:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class And:
    criteria: tuple[SearchKey, ...]


SearchKey: TypeAlias = (
    All | FlagCriterion | HeaderCriterion | TextCriterion | DateCriterion | SizeCriterion
    | SetCriterion | ModSeqCriterion | Not | Or | And
)


@dataclass(frozen=True)
class Search(Command):
    """SEARCH / UID SEARCH.

    ``return_options`` is None without RETURN (RFC 3501 SEARCH reply, unless IMAP4rev2 is
    enabled), else the options (``RETURN ()`` means ALL: RFC 4731 3.1). ``charset`` is
    upper-cased; for charsets other than US-ASCII and UTF-8 the strings are decoded as
    ISO-8859-1 and the session answers ``NO [BADCHARSET (UTF-8)]`` (RFC 9051 6.4.4).
    """

    name = "SEARCH"
    uid: bool
    criteria: SearchKey
    charset: str | None = None
    return_options: tuple[str, ...] | None = None

    @property
    def uses_sequence_numbers(self) -> bool:
        """A message sequence set appears among the criteria (RFC 9051 5.5)."""
        return _has_msn(self.criteria)


def _has_msn(key: SearchKey) -> bool:
    if isinstance(key, SetCriterion):
        return not key.uid
    if isinstance(key, Not):
        return _has_msn(key.criterion)
    if isinstance(key, Or):
        return _has_msn(key.left) or _has_msn(key.right)
    if isinstance(key, And):
        return any(_has_msn(k) for k in key.criteria)
    return False


_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "DELETED": ("\\Deleted", True), "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True), "SEEN": ("\\Seen", True), "RECENT": ("\\Recent", True),
    "UNANSWERED": ("\\Answered", False), "UNDELETED": ("\\Deleted", False), "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False), "UNSEEN": ("\\Seen", False), "OLD": ("\\Recent", False),
}
_HEADER_KEYS = frozenset({"BCC", "CC", "FROM", "SUBJECT", "TO"})
_DATE_KEYS = {
    "BEFORE": ("BEFORE", False), "ON": ("ON", False), "SINCE": ("SINCE", False),
    "SENTBEFORE": ("BEFORE", True), "SENTON": ("ON", True), "SENTSINCE": ("SINCE", True),
}
_KEYS_WITH_ARGUMENTS = frozenset(
    {*_HEADER_KEYS, *_DATE_KEYS, "BODY", "TEXT", "LARGER", "SMALLER", "KEYWORD", "UNKEYWORD", "HEADER", "UID",
     "NOT", "OR", "MODSEQ"}
)
_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})  # RFC 7162 3.1.5 entry-type-req


class _Program:
    """The reader and the string decoding one SEARCH uses."""

    def __init__(self, reader: Reader, charset: str | None) -> None:
        self.reader = reader
        self.utf8 = charset in (None, "UTF-8", "US-ASCII")

    def string(self) -> str:
        raw = self.reader.astring()
        return decode_utf8(raw, "search string") if self.utf8 else raw.decode("latin-1")

    def key(self, depth: int = 0) -> SearchKey:
        if depth > MAX_DEPTH:
            raise Syntax("search criteria nested too deep")
        reader = self.reader
        if reader.accept(b"("):
            keys = [self.key(depth + 1)]
            while not reader.accept(b")"):
                reader.sp()
                keys.append(self.key(depth + 1))
            return keys[0] if len(keys) == 1 else And(tuple(keys))
        if (reader.peek() or 0) in b"0123456789*$":
            return SetCriterion(reader.sequence_set())
        return self._keyword(reader.name_token(), depth)

    def _keyword(self, word: str, depth: int) -> SearchKey:
        reader = self.reader
        if word == "ALL":
            return All()
        if word in _FLAG_KEYS:
            return FlagCriterion(*_FLAG_KEYS[word])
        if word == "NEW":  # RFC 3501 6.4.4: RECENT UNSEEN
            return And((FlagCriterion("\\Recent"), FlagCriterion("\\Seen", False)))
        if word not in _KEYS_WITH_ARGUMENTS:
            raise Syntax(f"unknown search key {word}")
        reader.sp()
        if word in _HEADER_KEYS:
            return HeaderCriterion(word, self.string())
        if word in ("BODY", "TEXT"):
            return TextCriterion("BODY" if word == "BODY" else "TEXT", self.string())
        if word in _DATE_KEYS:
            relation, sent = _DATE_KEYS[word]
            return DateCriterion(relation, reader.date(), sent)  # type: ignore[arg-type]
        if word in ("LARGER", "SMALLER"):
            return SizeCriterion(word == "LARGER", reader.number(limit=0x7FFFFFFFFFFFFFFF))
        if word in ("KEYWORD", "UNKEYWORD"):
            keyword = reader.atom("a keyword")
            return FlagCriterion(SYSTEM_FLAGS.get(keyword.upper(), keyword), word == "KEYWORD")
        return self._with_arguments(word, depth)

    def _with_arguments(self, word: str, depth: int) -> SearchKey:
        reader = self.reader
        if word == "HEADER":
            field = reader.astring()
            if not field.isascii() or not field or b":" in field:
                raise Syntax("bad header field name")
            reader.sp()
            return HeaderCriterion(field.decode("ascii").upper(), self.string())
        if word == "UID":
            return SetCriterion(reader.sequence_set(), uid=True)
        if word == "NOT":
            return Not(self.key(depth + 1))
        if word == "OR":
            left = self.key(depth + 1)
            reader.sp()
            return Or(left, self.key(depth + 1))
        if word == "MODSEQ":
            return self._modseq()
        raise Syntax(f"unknown search key {word}")

    def _modseq(self) -> SearchKey:
        reader = self.reader
        entry: tuple[str, str] | None = None
        if reader.at(b'"'):
            name = decode_utf8(reader.quoted(), "entry name")
            reader.sp()
            kind = reader.keyword("an entry type")
            if kind not in _ENTRY_TYPES or not name.lower().startswith("/flags/"):
                raise Syntax("bad MODSEQ entry")
            entry = (name, kind.lower())
            reader.sp()
        return ModSeqCriterion(reader.number(limit=0x7FFFFFFFFFFFFFFF), entry)


def _return_options(reader: Reader) -> tuple[str, ...]:
    reader.expect(b"RETURN ")
    reader.parenthesised("search return options")
    options: list[str] = []
    while not reader.accept(b")"):
        if options:
            reader.sp()
        option = reader.keyword("a return option")
        if option not in RETURN_OPTIONS:
            raise Syntax(f"unknown search return option {option}")
        options.append(option)
    return tuple(dict.fromkeys(options))


def parse_search(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    return_options: tuple[str, ...] | None = None
    if reader.startswith(b"RETURN "):
        return_options = _return_options(reader)
        reader.sp()
    charset: str | None = None
    if reader.accept(b"CHARSET "):
        raw = reader.astring()
        if not raw.isascii():
            raise Syntax("bad charset name")
        charset = raw.decode("ascii").upper()
        reader.sp()
    program = _Program(reader, charset)
    keys = [program.key()]
    while reader.at_sp():
        reader.sp()
        keys.append(program.key())
    reader.end()
    criteria = keys[0] if len(keys) == 1 else And(tuple(keys))
    return Search(tag, uid, criteria, charset, return_options)
