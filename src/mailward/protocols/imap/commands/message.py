"""STORE, COPY, MOVE, EXPUNGE and their UID forms, CHECK, CLOSE, UNSELECT
(RFC 9051 6.4.1-6.4.9, MOVE RFC 6851, UIDPLUS RFC 4315 2.1, UNSELECT RFC 3691,
STORE modifiers RFC 4466 2.5).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailward.protocols.imap.commands.base import (
    Command,
    Context,
    Param,
    ext_params,
    flag,
    flag_list,
    mailbox,
)
from mailward.protocols.imap.reader import Reader, Syntax
from mailward.protocols.imap.seqset import SequenceSet


class StoreAction(enum.Enum):
    REPLACE = "FLAGS"
    ADD = "+FLAGS"
    REMOVE = "-FLAGS"


@dataclass(frozen=True)
class Store(Command):
    """``STORE SP sequence-set [store-modifiers] SP store-att-flags`` (UNCHANGEDSINCE in ``modifiers``)."""

    name = "STORE"
    uid: bool
    sequence_set: SequenceSet
    action: StoreAction
    silent: bool
    flags: tuple[str, ...]
    modifiers: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Copy(Command):
    name = "COPY"
    uid: bool
    sequence_set: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class Move(Command):
    name = "MOVE"
    uid: bool
    sequence_set: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE with the UIDs it may remove (RFC 4315 2.1)."""

    name = "EXPUNGE"
    uid: bool = False
    sequence_set: SequenceSet | None = None


@dataclass(frozen=True)
class Check(Command):
    """CHECK (RFC 3501 6.4.1; RFC 9051 drops it, treated as NOOP)."""

    name = "CHECK"


@dataclass(frozen=True)
class Close(Command):
    name = "CLOSE"


@dataclass(frozen=True)
class Unselect(Command):
    name = "UNSELECT"


def parse_store(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    sequence_set = reader.sequence_set()
    reader.sp()
    modifiers: tuple[Param, ...] = ()
    if reader.at(b"("):
        modifiers = ext_params(reader)
        reader.sp()
    action = StoreAction.REPLACE
    if reader.accept(b"+"):
        action = StoreAction.ADD
    elif reader.accept(b"-"):
        action = StoreAction.REMOVE
    word = reader.name_token()
    if word not in ("FLAGS", "FLAGS.SILENT"):
        raise Syntax("expected FLAGS or FLAGS.SILENT")
    reader.sp()
    if reader.at(b"("):
        flags = flag_list(reader)
    else:
        found = [flag(reader)]
        while reader.at_sp():
            reader.sp()
            found.append(flag(reader))
        flags = tuple(dict.fromkeys(found))
    reader.end()
    return Store(tag, uid, sequence_set, action, word.endswith(".SILENT"), flags, modifiers)


def _set_and_mailbox(reader: Reader, context: Context) -> tuple[SequenceSet, str]:
    reader.sp()
    sequence_set = reader.sequence_set()
    reader.sp()
    name = mailbox(reader, context)
    reader.end()
    return sequence_set, name


def parse_copy(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    return Copy(tag, uid, *_set_and_mailbox(reader, context))


def parse_move(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    return Move(tag, uid, *_set_and_mailbox(reader, context))


def parse_expunge(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    if not uid:
        reader.end()
        return Expunge(tag)
    reader.sp()
    sequence_set = reader.sequence_set()  # RFC 4315 3: uid-set
    reader.end()
    return Expunge(tag, True, sequence_set)


def parse_check(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.end()
    return Check(tag)


def parse_close(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.end()
    return Close(tag)


def parse_unselect(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.end()
    return Unselect(tag)
