"""LIST (RFC 9051 6.3.9 with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE
RFC 6154) and LSUB (RFC 3501 6.3.9, for IMAP4rev1 clients).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.protocols.imap.commands.base import Command, Context, decode_name
from mailward.protocols.imap.commands.mailbox import status_items
from mailward.protocols.imap.reader import Reader, Syntax

# RFC 5258 3.1 list-select-base-opt / -independent-opt / -mod-opt, RFC 6154 5.1
SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
# RFC 5258 3.2, RFC 6154 5.1; STATUS (RFC 5819) is kept apart with its items
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"})


@dataclass(frozen=True)
class List(Command):
    """LIST, basic or extended.

    ``reference`` and ``patterns`` are decoded text (wildcards ``%`` and ``*`` kept);
    ``extended`` is True when selection or return options were given or several
    patterns (RFC 5258 3: the server then answers in the extended form, CHILDINFO
    included). ``return_status`` lists the STATUS items of ``RETURN (STATUS (...))``.
    """

    name = "LIST"
    reference: str
    patterns: tuple[str, ...]
    selection: frozenset[str] = frozenset()
    return_options: frozenset[str] = frozenset()
    return_status: tuple[str, ...] = ()
    extended: bool = False


@dataclass(frozen=True)
class Lsub(Command):
    """``LSUB SP mailbox SP list-mailbox`` (RFC 3501 6.3.9)."""

    name = "LSUB"
    reference: str
    pattern: str


def _selection(reader: Reader) -> frozenset[str]:
    reader.parenthesised("selection options")
    options: list[str] = []
    while not reader.accept(b")"):
        if options:
            reader.sp()
        option = reader.keyword("a selection option")
        if option not in SELECT_OPTIONS:
            raise Syntax(f"unknown LIST selection option {option}")
        options.append(option)
    chosen = frozenset(options)
    # RFC 5258 3.1: RECURSIVEMATCH needs another selection option to modify
    if "RECURSIVEMATCH" in chosen and not chosen & {"SUBSCRIBED", "SPECIAL-USE"}:
        raise Syntax("RECURSIVEMATCH without a selection option it modifies")
    return chosen


def _patterns(reader: Reader, context: Context) -> tuple[str, ...]:
    if not reader.accept(b"("):
        return (decode_name(reader.list_mailbox(), context),)
    patterns: list[str] = []
    while not reader.accept(b")"):
        if patterns:
            reader.sp()
        patterns.append(decode_name(reader.list_mailbox(), context))
    if not patterns:
        raise Syntax("an empty list of patterns")
    return tuple(patterns)


def _return_options(reader: Reader) -> tuple[frozenset[str], tuple[str, ...]]:
    reader.expect(b"RETURN ")
    reader.parenthesised("return options")
    options: list[str] = []
    status: tuple[str, ...] = ()
    while not reader.accept(b")"):
        if options or status:
            reader.sp()
        option = reader.keyword("a return option")
        if option == "STATUS":
            reader.sp()
            status = status_items(reader)  # RFC 5819 2
        elif option in RETURN_OPTIONS:
            options.append(option)
        else:
            raise Syntax(f"unknown LIST return option {option}")
    return frozenset(options), status


def parse_list(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    selection: frozenset[str] = frozenset()
    extended = False
    if reader.at(b"("):
        selection, extended = _selection(reader), True
        reader.sp()
    reference = decode_name(reader.astring(), context)
    reader.sp()
    several = reader.at(b"(")
    patterns = _patterns(reader, context)
    options: frozenset[str] = frozenset()
    status: tuple[str, ...] = ()
    if reader.at_sp():
        reader.sp()
        options, status = _return_options(reader)
        extended = True
    reader.end()
    return List(tag, reference, patterns, selection, options, status, extended or several)


def parse_lsub(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    reference = decode_name(reader.astring(), context)
    reader.sp()
    pattern = decode_name(reader.list_mailbox(), context)
    reader.end()
    return Lsub(tag, reference, pattern)
