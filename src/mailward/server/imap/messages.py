"""STORE, COPY and MOVE, by number and by UID (RFC 9051 6.4.6-6.4.9; UIDPLUS RFC 4315;
MOVE RFC 6851; UNCHANGEDSINCE RFC 7162 3.1.3), and APPEND (RFC 9051 6.3.12, MULTIAPPEND
RFC 3502, APPENDLIMIT RFC 7889)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import IO

from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import Append, Copy, Move, Store, StoreAction
from mailward.protocols.imap.response import Status
from mailward.protocols.imap.seqset import SequenceSet
from mailward.server.imap.session import CommandFailed, ImapSession, flag_atoms
from mailward.store.interface import Changes, FlagOp, Mailbox, MessageSource, NewMessage, QuotaExceeded
from mailward.store.uidset import UidSet

_OPS = {StoreAction.REPLACE: FlagOp.SET, StoreAction.ADD: FlagOp.ADD, StoreAction.REMOVE: FlagOp.REMOVE}


def uid_set(uids: tuple[int, ...] | list[int]) -> SequenceSet:
    """UIDs in ascending order as a compact set (COPYUID's two sets correspond in order)."""
    return SequenceSet.parse(str(UidSet.of(uids)))


async def store(session: ImapSession, command: Store) -> None:
    view = session.view
    assert view is not None
    uids = session.message_set(command.sequence_set, uid=command.uid)
    unchanged_since = None
    for modifier in command.modifiers:
        if modifier.name == "UNCHANGEDSINCE" and isinstance(modifier.value, int):
            unchanged_since = modifier.value
        else:
            raise CommandFailed(f"STORE modifier {modifier.name} is not supported", status=Status.BAD)
    flags = frozenset(command.flags) - {"\\Recent"}
    result = await session.store.store_flags(view.mailbox.id, uids, _OPS[command.action], flags,
                                             unchanged_since=unchanged_since)
    for info in result.updated:
        view.set_flags(info.uid, info.flags, info.modseq)
    if not command.silent:  # RFC 9051 6.4.6: the flags of each message named, as they are now
        failed = set(result.failed)
        for uid in uids:
            seq = view.seq_of(uid)
            if seq is None or uid in failed or view.expunged(uid):
                continue
            items: list[tuple[str, object]] = [("FLAGS", flag_atoms(view.flags_of(seq)))]
            if command.uid:
                items.insert(0, ("UID", uid))
            await session.send(session.encoder.fetch(seq, items))  # type: ignore[arg-type]
    await session.updates(command)
    if result.failed:  # RFC 7162 3.1.3
        session.tagged(command.tag, "Some messages were changed meanwhile",
                       codes.modified(uid_set(list(result.failed))))
    else:
        session.tagged(command.tag, "STORE completed")


async def _destination(session: ImapSession, name: str) -> Mailbox:
    box = await session.store.get_mailbox(session.account.id, name)
    if box is None:  # RFC 9051 6.4.7: the client may CREATE it and try again
        raise CommandFailed("No such mailbox", codes.TRYCREATE)
    return box


async def copy(session: ImapSession, command: Copy) -> None:
    view = session.view
    assert view is not None
    uids = session.message_set(command.sequence_set, uid=command.uid)
    dest = await _destination(session, command.mailbox)
    try:
        result = await session.store.copy(view.mailbox.id, uids, dest.id)
    except QuotaExceeded:
        raise CommandFailed("Over quota", codes.OVERQUOTA) from None
    await session.updates(command)
    code = codes.copyuid(result.uid_validity, uid_set(result.source_uids), uid_set(result.dest_uids)) \
        if result.source_uids else None
    session.tagged(command.tag, "COPY completed", code)


async def move(session: ImapSession, command: Move) -> None:
    view = session.view
    assert view is not None
    uids = session.message_set(command.sequence_set, uid=command.uid)
    dest = await _destination(session, command.mailbox)
    if dest.id == view.mailbox.id:  # RFC 6851 allows it: new UIDs, the old ones expunged
        session.changed.set()
    try:
        result = await session.store.move(view.mailbox.id, uids, dest.id)
    except QuotaExceeded:
        raise CommandFailed("Over quota", codes.OVERQUOTA) from None
    if result.source_uids:  # RFC 6851 4.3: COPYUID untagged, before the expunges
        session.untagged("Moved", codes.copyuid(result.uid_validity, uid_set(result.source_uids),
                                                uid_set(result.dest_uids)))
    view.absorb(Changes((), UidSet.of(result.source_uids), view.highest_modseq))
    await session.updates(command)
    session.tagged(command.tag, "MOVE completed")


async def _spooled(spool: IO[bytes]) -> AsyncIterator[bytes]:
    """A message spooled as it arrived, read back in chunks for the store."""
    spool.seek(0)
    while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
        yield chunk


async def append(session: ImapSession, command: Append) -> None:
    box = await session.store.get_mailbox(session.account.id, command.mailbox)
    if box is None:
        raise CommandFailed("No such mailbox", codes.TRYCREATE)
    messages = []
    spools = iter(session.spools)
    for m in command.messages:
        if not m.size:
            raise CommandFailed("An empty message", status=Status.BAD)
        flags = frozenset(m.flags or ()) - {"\\Recent"}
        date = m.internal_date.timestamp() if isinstance(m.internal_date, datetime) else None
        content: MessageSource = _spooled(next(spools)) if m.streamed else m.data
        messages.append(NewMessage(content, flags=flags, internal_date=date))
    try:  # RFC 3502: all or none, one transaction
        added = await session.store.append(box.id, messages)
    except QuotaExceeded:
        raise CommandFailed("Over quota", codes.OVERQUOTA) from None
    if session.view is not None:
        session.changed.set()  # into the selected mailbox: tell EXISTS now
        await session.updates(command)
    session.tagged(command.tag, "APPEND completed",
                   codes.appenduid(added[0].uid_validity, uid_set([a.uid for a in added])))



