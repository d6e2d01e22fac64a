"""Commands on mailboxes as names (RFC 9051 6.3): CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, LIST (LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154,
CHILDREN RFC 3348), LSUB (RFC 3501), NAMESPACE (RFC 2342), STATUS (STATUS=SIZE RFC 8438,
APPENDLIMIT RFC 7889), GETQUOTA and GETQUOTAROOT (RFC 9208, from the account's quota).

The hierarchy delimiter is ``/``; INBOX is case-insensitive (the parser normalises it).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import Any

from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import (
    INBOX,
    Create,
    Delete,
    GetQuota,
    GetQuotaRoot,
    List,
    Lsub,
    Namespace,
    Rename,
    Status,
    Subscribe,
    Unsubscribe,
    normalise_mailbox,
)
from mailward.protocols.imap.response import Atom
from mailward.protocols.imap.response import Mailbox as MailboxName
from mailward.server.imap.session import CommandFailed, ImapSession
from mailward.store.interface import DELIMITER, SPECIAL_USES, AlreadyExists, Mailbox
from mailward.store.uidset import UidSet

MAX_NAME = 1000  # octets of a mailbox name
MAX_DEPTH = 32  # levels of hierarchy


def check_name(name: str) -> str:
    """A name a client may create: no empty level, no wildcard or control character."""
    name = name.rstrip(DELIMITER)  # RFC 9051 6.3.4: a trailing delimiter is ignored
    levels = name.split(DELIMITER)
    if (not name or len(name.encode()) > MAX_NAME or len(levels) > MAX_DEPTH or any(not lv for lv in levels)
            or any(c in "*%" or ord(c) < 0x20 or ord(c) == 0x7F for c in name)):
        raise CommandFailed("That is not a valid mailbox name", codes.CANNOT)
    return name


async def find(session: ImapSession, name: str) -> Mailbox:
    """The account's mailbox ``name``, or ``NO [NONEXISTENT]`` (RFC 5530)."""
    box = await session.store.get_mailbox(session.account.id, name)
    if box is None:
        raise CommandFailed("No such mailbox", codes.NONEXISTENT)
    return box


async def create(session: ImapSession, command: Create) -> None:
    name = check_name(command.mailbox)
    uses = frozenset(command.special_use)
    if not uses <= SPECIAL_USES:  # RFC 6154 3
        raise CommandFailed("Unknown special-use attribute", codes.USEATTR)
    store, account_id = session.store, session.account.id
    if name.upper() == INBOX or await store.get_mailbox(account_id, name) is not None:
        raise CommandFailed("The mailbox exists already", codes.ALREADYEXISTS)
    await _create_parents(session, name)
    try:
        await store.create_mailbox(account_id, name, special_use=uses)
    except AlreadyExists:  # another session was quicker
        raise CommandFailed("The mailbox exists already", codes.ALREADYEXISTS) from None
    session.tagged(command.tag, "CREATE completed")


async def _create_parents(session: ImapSession, name: str) -> None:
    """RFC 9051 6.3.4: superior names that are needed are created too."""
    levels = name.split(DELIMITER)
    for depth in range(1, len(levels)):
        parent = DELIMITER.join(levels[:depth])
        if await session.store.get_mailbox(session.account.id, parent) is None:
            with contextlib.suppress(AlreadyExists):  # another session was quicker
                await session.store.create_mailbox(session.account.id, parent)


async def delete(session: ImapSession, command: Delete) -> None:
    if command.mailbox == INBOX:
        raise CommandFailed("INBOX cannot be deleted", codes.CANNOT)
    box = await find(session, command.mailbox)
    boxes = await session.store.list_mailboxes(session.account.id)
    if any(b.name.startswith(box.name + DELIMITER) for b in boxes):
        raise CommandFailed("Delete the mailboxes inside it first", codes.HASCHILDREN)
    if session.view is not None and session.view.mailbox.id == box.id:
        await session.deselect()
        session.untagged("The selected mailbox was deleted", codes.CLOSED)
    await session.store.delete_mailbox(box.id)
    session.tagged(command.tag, "DELETE completed")


async def rename(session: ImapSession, command: Rename) -> None:
    new = check_name(command.new_name)
    store, account_id = session.store, session.account.id
    box = await find(session, command.mailbox)
    if new.upper() == INBOX or await store.get_mailbox(account_id, new) is not None:
        raise CommandFailed("A mailbox of that name exists already", codes.ALREADYEXISTS)
    if new.startswith(box.name + DELIMITER):
        raise CommandFailed("A mailbox cannot move inside itself", codes.CANNOT)
    await _create_parents(session, new)
    if box.name == INBOX:
        # RFC 9051 6.3.6: INBOX's messages move to the new name; INBOX stays, empty
        target = await store.create_mailbox(account_id, new)
        await store.move(box.id, UidSet.all(), target.id)
    else:  # the inferior names follow (RFC 9051 6.3.6), in the same transaction
        await store.rename_mailbox(box.id, new)
    session.tagged(command.tag, "RENAME completed")


async def subscribe(session: ImapSession, command: Subscribe) -> None:
    await session.store.set_subscribed((await find(session, command.mailbox)).id, True)
    session.tagged(command.tag, "SUBSCRIBE completed")


async def unsubscribe(session: ImapSession, command: Unsubscribe) -> None:
    await session.store.set_subscribed((await find(session, command.mailbox)).id, False)
    session.tagged(command.tag, "UNSUBSCRIBE completed")


async def namespace(session: ImapSession, command: Namespace) -> None:
    await session.send(session.encoder.untagged(Atom("NAMESPACE"), [["", DELIMITER]], None, None))
    session.tagged(command.tag, "NAMESPACE completed")


# --- LIST and LSUB ------------------------------------------------------------------


def pattern_regex(reference: str, pattern: str) -> re.Pattern[str]:
    """RFC 9051 6.3.9: the reference then the pattern; ``*`` matches anything, ``%``
    anything but the delimiter; an INBOX at the start in any case is INBOX (5.1)."""
    text = normalise_mailbox(reference + pattern, DELIMITER)
    regex = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in text)
    return re.compile(regex, re.DOTALL)


def _names_with_parents(boxes: Iterable[Mailbox]) -> dict[str, Mailbox | None]:
    """Every mailbox by name, and the superior names that exist only as parents (None)."""
    out: dict[str, Mailbox | None] = {b.name: b for b in boxes}
    for name in list(out):
        levels = name.split(DELIMITER)
        for depth in range(1, len(levels)):
            out.setdefault(DELIMITER.join(levels[:depth]), None)
    return out


async def list_(session: ImapSession, command: List) -> None:
    if command.patterns == ("",) and not command.extended:  # RFC 9051 6.3.9: the delimiter
        await session.send(session.encoder.untagged(
            Atom("LIST"), [Atom("\\Noselect")], DELIMITER, ""))
        session.tagged(command.tag, "LIST completed")
        return
    boxes = await session.store.list_mailboxes(session.account.id)
    names = _names_with_parents(boxes)
    regexes = [pattern_regex(command.reference, p) for p in command.patterns]
    subscribed_only = "SUBSCRIBED" in command.selection
    special_only = "SPECIAL-USE" in command.selection
    want_subscribed = subscribed_only or "SUBSCRIBED" in command.return_options
    for name in sorted(names, key=lambda n: (n != INBOX, n)):
        if not any(r.fullmatch(name) for r in regexes):
            continue
        box = names[name]
        if (subscribed_only and (box is None or not box.subscribed)) or (
                special_only and (box is None or not box.special_use)):
            continue
        attributes = _attributes(session, name, box, names, want_subscribed)
        await session.send(session.encoder.untagged(Atom("LIST"), attributes, DELIMITER, MailboxName(name)))
        if command.return_status and box is not None:
            await _status_line(session, box, command.return_status)
    session.tagged(command.tag, "LIST completed")


def _attributes(session: ImapSession, name: str, box: Mailbox | None, names: dict[str, Mailbox | None],
                want_subscribed: bool) -> list[Any]:
    children = any(other.startswith(name + DELIMITER) for other in names)
    attributes = ["\\HasChildren" if children else "\\HasNoChildren"]
    if box is None:
        attributes.insert(0, "\\NonExistent" if session.rev2 else "\\Noselect")
    else:
        attributes += sorted(box.special_use)
        if want_subscribed and box.subscribed:
            attributes.append("\\Subscribed")
    return [Atom(a) for a in attributes]


async def lsub(session: ImapSession, command: Lsub) -> None:
    regex = pattern_regex(command.reference, command.pattern)
    boxes = await session.store.list_mailboxes(session.account.id)
    for box in sorted(boxes, key=lambda b: (b.name != INBOX, b.name)):
        if box.subscribed and regex.fullmatch(box.name):
            await session.send(session.encoder.untagged(Atom("LSUB"), [], DELIMITER, MailboxName(box.name)))
    session.tagged(command.tag, "LSUB completed")


# --- STATUS and QUOTA ------------------------------------------------------------------


async def status(session: ImapSession, command: Status) -> None:
    box = await find(session, command.mailbox)
    await _status_line(session, box, command.items)
    session.tagged(command.tag, "STATUS completed")


async def _status_line(session: ImapSession, box: Mailbox, items: Iterable[str]) -> None:
    st = await session.store.status(box.id)
    values = {
        "MESSAGES": st.messages, "UNSEEN": st.unseen, "DELETED": st.deleted, "SIZE": st.size,
        "UIDNEXT": st.mailbox.uid_next, "UIDVALIDITY": st.mailbox.uid_validity, "RECENT": 0,
        "HIGHESTMODSEQ": st.mailbox.highest_modseq, "APPENDLIMIT": session.settings.append_limit,
    }
    out: list[Any] = []
    for item in dict.fromkeys(i.upper() for i in items):
        if item in values:
            out += [Atom(item), values[item]]
    await session.send(session.encoder.untagged(Atom("STATUS"), MailboxName(box.name), out))


QUOTA_ROOT = ""  # one root per account: its storage quota (RFC 9208 3.2)


async def getquotaroot(session: ImapSession, command: GetQuotaRoot) -> None:
    await find(session, command.mailbox)
    usage = await session.store.quota(session.account.id)
    roots = [QUOTA_ROOT] if usage.limit_bytes else []
    await session.send(session.encoder.untagged(Atom("QUOTAROOT"), MailboxName(command.mailbox), *roots))
    if usage.limit_bytes:
        await _quota_line(session, usage.used_bytes, usage.limit_bytes)
    session.tagged(command.tag, "GETQUOTAROOT completed")


async def getquota(session: ImapSession, command: GetQuota) -> None:
    usage = await session.store.quota(session.account.id)
    if command.root != QUOTA_ROOT or not usage.limit_bytes:
        raise CommandFailed("No such quota root", codes.NONEXISTENT)
    await _quota_line(session, usage.used_bytes, usage.limit_bytes)
    session.tagged(command.tag, "GETQUOTA completed")


async def _quota_line(session: ImapSession, used: int, limit: int) -> None:
    # RFC 9208 5.1: STORAGE in units of 1024 octets
    await session.send(session.encoder.untagged(
        Atom("QUOTA"), QUOTA_ROOT, [Atom("STORAGE"), (used + 1023) // 1024, limit // 1024]))
