"""Mailbox commands of the authenticated state (RFC 9051 6.3.2-6.3.8, 6.3.10, 6.3.11),
with CREATE-SPECIAL-USE (RFC 6154 3), STATUS=SIZE (RFC 8438), QUOTA (RFC 9208 4.2-4.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.protocols.imap.commands.base import (
    Command,
    Context,
    Param,
    decode_utf8,
    ext_params,
    flag,
    mailbox,
)
from mailward.protocols.imap.reader import Reader, Syntax


@dataclass(frozen=True)
class Select(Command):
    """``SELECT SP mailbox [SP "(" select-param *(SP select-param) ")"]`` (RFC 4466 2.2).

    ``params`` holds CONDSTORE, QRESYNC (...) and any other as :class:`Param`.
    """

    name = "SELECT"
    mailbox: str
    params: tuple[Param, ...] = ()

    @property
    def read_only(self) -> bool:
        return False


@dataclass(frozen=True)
class Examine(Select):
    """EXAMINE: a Select that is ``read_only`` (so ``isinstance(c, Select)`` holds for both;
    match Examine first where they differ)."""

    name = "EXAMINE"

    @property
    def read_only(self) -> bool:
        return True


@dataclass(frozen=True)
class Create(Command):
    """``CREATE SP mailbox [SP "(" create-param ")"]``; ``special_use`` from ``USE (...)``."""

    name = "CREATE"
    mailbox: str
    special_use: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Delete(Command):
    name = "DELETE"
    mailbox: str


@dataclass(frozen=True)
class Rename(Command):
    name = "RENAME"
    mailbox: str
    new_name: str


@dataclass(frozen=True)
class Subscribe(Command):
    name = "SUBSCRIBE"
    mailbox: str


@dataclass(frozen=True)
class Unsubscribe(Command):
    name = "UNSUBSCRIBE"
    mailbox: str


@dataclass(frozen=True)
class Namespace(Command):
    name = "NAMESPACE"


# RFC 9051 6.3.11 and 9 status-att, RFC 3501 6.3.10 (RECENT), RFC 8438 (SIZE),
# RFC 7162 3.1.6 (HIGHESTMODSEQ), RFC 7889 (APPENDLIMIT)
STATUS_ITEMS = frozenset(
    {
        "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ",
        "APPENDLIMIT",
    }
)


@dataclass(frozen=True)
class Status(Command):
    """``STATUS SP mailbox SP "(" status-att *(SP status-att) ")"``, items upper-cased."""

    name = "STATUS"
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class GetQuota(Command):
    """``GETQUOTA SP quota-root`` (RFC 9208 4.2)."""

    name = "GETQUOTA"
    root: str


@dataclass(frozen=True)
class GetQuotaRoot(Command):
    """``GETQUOTAROOT SP mailbox`` (RFC 9208 4.3)."""

    name = "GETQUOTAROOT"
    mailbox: str


def _mailbox_only(reader: Reader, context: Context) -> str:
    reader.sp()
    name = mailbox(reader, context)
    reader.end()
    return name


def parse_select(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    name = mailbox(reader, context)
    params: tuple[Param, ...] = ()
    if reader.at_sp():
        reader.sp()
        params = ext_params(reader)
    reader.end()
    return Select(tag, name, params)


def parse_examine(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    select = parse_select(reader, tag, context, uid)
    assert isinstance(select, Select)
    return Examine(tag, select.mailbox, select.params)


def parse_create(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    name = mailbox(reader, context)
    uses: list[str] = []
    params: list[Param] = []
    if reader.at_sp():
        reader.sp()
        reader.parenthesised("CREATE parameters")
        count = 0
        while not reader.accept(b")"):
            if count:
                reader.sp()
            count += 1
            if reader.accept(b"USE "):
                # RFC 6154 3: create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"
                uses.extend(_use_attributes(reader))
            else:
                params.extend(ext_params(reader, already_open=True))
                break
    reader.end()
    return Create(tag, name, tuple(uses), tuple(params))


def _use_attributes(reader: Reader) -> list[str]:
    reader.parenthesised("special-use attributes")
    uses: list[str] = []
    while not reader.accept(b")"):
        if uses:
            reader.sp()
        uses.append(flag(reader))
    return uses


def parse_delete(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    return Delete(tag, _mailbox_only(reader, context))


def parse_rename(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    old = mailbox(reader, context)
    reader.sp()
    new = mailbox(reader, context)
    reader.end()
    return Rename(tag, old, new)


def parse_subscribe(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    return Subscribe(tag, _mailbox_only(reader, context))


def parse_unsubscribe(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    return Unsubscribe(tag, _mailbox_only(reader, context))


def parse_namespace(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.end()
    return Namespace(tag)


def status_items(reader: Reader) -> tuple[str, ...]:
    """``"(" status-att *(SP status-att) ")"``, also used by LIST RETURN (STATUS ...)."""
    reader.parenthesised("status items")
    items: list[str] = []
    while not reader.accept(b")"):
        if items:
            reader.sp()
        item = reader.keyword("a status item")
        if item not in STATUS_ITEMS:
            raise Syntax(f"unknown status item {item}")
        items.append(item)
    if not items:
        raise Syntax("no status items")
    return tuple(dict.fromkeys(items))


def parse_status(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    name = mailbox(reader, context)
    reader.sp()
    items = status_items(reader)
    reader.end()
    return Status(tag, name, items)


def parse_getquota(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    reader.sp()
    root = decode_utf8(reader.astring(), "quota root")
    reader.end()
    return GetQuota(tag, root)


def parse_getquotaroot(reader: Reader, tag: str, context: Context, uid: bool) -> Command:
    return GetQuotaRoot(tag, _mailbox_only(reader, context))
