"""What every command shares: the base class, the parse context, names, flags, parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from mailward.protocols.imap.mutf7 import MUtf7Error, decode_mutf7
from mailward.protocols.imap.reader import Reader, Syntax
from mailward.protocols.imap.seqset import SequenceSet, SequenceSetError

INBOX = "INBOX"


@dataclass(frozen=True)
class Context:
    """What the parser needs to know of the connection to read names.

    ``utf8``: UTF8=ACCEPT (RFC 6855 3) or IMAP4rev2 (RFC 9051 5.1) is enabled, so mailbox
    names are UTF-8 as sent, not modified UTF-7.
    """

    utf8: bool = False
    delimiter: str = "/"


@dataclass(frozen=True)
class Command:
    """A parsed command; ``name`` is the command as RFC 9051 names it."""

    name: ClassVar[str] = ""
    tag: str


def decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Syntax(f"{what} is not UTF-8") from None


def decode_name(raw: bytes, context: Context) -> str:
    """A mailbox name or pattern as sent -> text (RFC 3501 5.1.3 / RFC 6855 3)."""
    if context.utf8:
        return decode_utf8(raw, "mailbox name")
    try:
        return decode_mutf7(raw)
    except MUtf7Error as exc:
        raise Syntax(f"mailbox name: {exc}") from None


def normalise_mailbox(name: str, delimiter: str = "/") -> str:
    """RFC 9051 5.1: INBOX is case-insensitive, and so is it as the top of a hierarchy."""
    head, sep, rest = name.partition(delimiter)
    if head.upper() == INBOX:
        return INBOX + sep + rest
    return name


def mailbox(reader: Reader, context: Context) -> str:
    """``mailbox = "INBOX" / astring``, decoded and with INBOX normalised."""
    return normalise_mailbox(decode_name(reader.astring(), context), context.delimiter)


# --- flags (RFC 9051 9: flag, flag-list) -----------------------------------------------

SYSTEM_FLAGS = {
    f.upper(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")
}


def flag(reader: Reader) -> str:
    """``flag = "\\Answered" / ... / keyword / flag-extension``; system flags canonical."""
    if reader.accept(b"\\"):
        word = "\\" + reader.atom("a flag")
        return SYSTEM_FLAGS.get(word.upper(), word)
    return reader.atom("a flag")


def flag_list(reader: Reader) -> tuple[str, ...]:
    """``flag-list = "(" [flag *(SP flag)] ")"``."""
    reader.parenthesised("a flag list")
    flags: list[str] = []
    while not reader.accept(b")"):
        if flags:
            reader.sp()
        flags.append(flag(reader))
    return tuple(dict.fromkeys(flags))


# --- generic extension parameters (RFC 4466 2.1: tagged-ext) -----------------------------

ExtItem: TypeAlias = "str | int | tuple[ExtItem, ...]"
ExtValue: TypeAlias = "int | SequenceSet | tuple[ExtItem, ...]"


@dataclass(frozen=True)
class Param:
    """One ``tagged-ext`` parameter: a name (upper-cased) and its optional value.

    Used by SELECT/EXAMINE parameters (CONDSTORE, QRESYNC), FETCH and STORE modifiers
    (CHANGEDSINCE, VANISHED, UNCHANGEDSINCE), and LIST options: the session decides
    which names it supports.
    """

    name: str
    value: ExtValue | None = None


def _ext_comp(reader: Reader, depth: int = 0) -> tuple[ExtItem, ...]:
    # tagged-ext-comp = astring / tagged-ext-comp *(SP tagged-ext-comp) / "(" tagged-ext-comp ")"
    if depth > 8:
        raise Syntax("parameter lists nested too deep")
    items: list[ExtItem] = []
    while not reader.accept(b")"):
        if items:
            reader.sp()
        if reader.accept(b"("):
            items.append(_ext_comp(reader, depth + 1))
        else:
            word = decode_utf8(reader.astring(), "parameter")
            items.append(int(word) if word.isascii() and word.isdigit() and len(word) < 20 else word)
    return tuple(items)


def ext_value(reader: Reader) -> ExtValue:
    """``tagged-ext-val = tagged-ext-simple / "(" [tagged-ext-comp] ")"``."""
    if reader.accept(b"("):
        return _ext_comp(reader)
    token = reader.seq_token()
    if token.isdigit():
        # number64 (RFC 9051 9): MODSEQs are 63-bit, and zero is allowed (RFC 7162 7)
        if len(token) > 20 or int(token) > 0x7FFFFFFFFFFFFFFF:
            raise Syntax("number out of range")
        return int(token)
    try:
        return SequenceSet.parse(token.decode("ascii"))
    except SequenceSetError as exc:
        raise Syntax(str(exc)) from None


def ext_params(reader: Reader, *, already_open: bool = False) -> tuple[Param, ...]:
    """``"(" param *(SP param) ")"``, each ``name [SP tagged-ext-val]`` (RFC 4466 2.1).

    A value follows a name only if it is unambiguous: a number, sequence set or list.
    """
    if not already_open:
        reader.parenthesised("a parameter list")
    params: list[Param] = []
    while not reader.accept(b")"):
        if params:
            reader.sp()
        name = reader.keyword("a parameter name")
        value: ExtValue | None = None
        if reader.at_sp() and reader.text[reader.pos + 1 : reader.pos + 2] in (
            b"(", b"$", b"*", *(bytes([d]) for d in b"0123456789")
        ):
            reader.sp()
            value = ext_value(reader)
        params.append(Param(name, value))
    return tuple(params)
