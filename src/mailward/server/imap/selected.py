"""Selecting a mailbox and leaving it (RFC 9051 6.3.2, 6.3.3, 6.4.1, 6.4.2, RFC 3691),
EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, RFC 4315 2.1), CHECK (RFC 3501 6.4.1), and
IDLE (RFC 9051 6.3.13, RFC 2177).
"""

from __future__ import annotations

import asyncio
import contextlib

from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import Check, Close, Examine, Expunge, Idle, Select, Unselect, is_done
from mailward.protocols.imap.parser import ParseError
from mailward.protocols.imap.response import Status
from mailward.protocols.imap.state import Selected
from mailward.server.imap.mailboxes import find
from mailward.server.imap.session import READ_SIZE, CloseSession, CommandFailed, ImapSession
from mailward.server.imap.view import MailboxView
from mailward.store.interface import Changes
from mailward.store.uidset import UidSet


async def select(session: ImapSession, command: Select) -> None:
    if command.params:
        raise CommandFailed("SELECT parameters are not supported", status=Status.BAD)
    read_only = isinstance(command, Examine)
    if isinstance(session.state, Selected):
        await session.deselect()
        session.untagged("Previous mailbox closed", codes.CLOSED)  # RFC 9051 7.1 CLOSED
    box = await find(session, command.mailbox)
    view = await session.select(box.id, box.name, read_only)
    await announce(session, view)
    verb = "EXAMINE" if read_only else "SELECT"
    session.tagged(command.tag, f"{verb} completed", codes.READ_ONLY if read_only else codes.READ_WRITE)


async def announce(session: ImapSession, view: MailboxView) -> None:
    """The untagged responses of SELECT and EXAMINE (RFC 9051 6.3.2; RFC 3501 6.3.1)."""
    box = view.mailbox
    session.write(b"* %d EXISTS\r\n" % len(view))
    if not session.rev2:
        session.write(b"* 0 RECENT\r\n")
        unseen = next((n for n in range(1, len(view) + 1) if "\\Seen" not in view.flags_of(n)), None)
        if unseen is not None:
            session.untagged(f"Message {unseen} is the first unseen", codes.unseen(unseen))
    await session.tell_flags(view)
    session.untagged("UIDs valid", codes.uidvalidity(box.uid_validity))
    session.untagged("Predicted next UID", codes.uidnext(box.uid_next))


async def close(session: ImapSession, command: Close) -> None:
    """RFC 9051 6.4.1: expunge silently (read-write only), then leave the mailbox."""
    view = session.view
    assert view is not None
    if not view.read_only:
        await session.store.expunge(view.mailbox.id)
    await session.deselect()
    session.tagged(command.tag, "CLOSE completed")


async def unselect(session: ImapSession, command: Unselect) -> None:
    await session.deselect()
    session.tagged(command.tag, "UNSELECT completed")


async def expunge(session: ImapSession, command: Expunge) -> None:
    view = session.view
    assert view is not None
    uids = None
    if command.uid:  # RFC 4315 2.1: only these, and only if \Deleted
        assert command.sequence_set is not None
        uids = session.message_set(command.sequence_set, uid=True)
        if not uids:
            await session.updates(command)
            session.tagged(command.tag, "UID EXPUNGE completed")
            return
    result = await session.store.expunge(view.mailbox.id, uids)
    view.absorb(Changes((), UidSet.of(result.uids), result.modseq))
    await session.updates(command)
    session.tagged(command.tag, "EXPUNGE completed")


async def check(session: ImapSession, command: Check) -> None:
    await session.updates(None)
    session.tagged(command.tag, "CHECK completed")


async def idle(session: ImapSession, command: Idle) -> None:
    """RFC 9051 6.3.13: say what changes as it happens, until DONE; the session's
    timeout (at least 30 minutes) is the IDLE timeout."""
    await session.updates(None)
    session.write(session.encoder.continuation("idling"))
    while True:
        await session.flush()
        line = session.parser.next_line()
        if isinstance(line, bytes):
            break
        if isinstance(line, ParseError):
            session.fatal(line)
        waiter = asyncio.ensure_future(session.changed.wait())
        reader = asyncio.ensure_future(session.conn.read(READ_SIZE, timeout=session.timeout()))
        try:
            done, _ = await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, reader):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if reader in done:
            data = reader.result()
            if not data:
                raise CloseSession
            session.parser.receive(data)
        if session.changed.is_set():
            await session.updates(None)
    if not is_done(line):
        raise CommandFailed("Expected DONE", status=Status.BAD)
    session.tagged(command.tag, "IDLE terminated")

