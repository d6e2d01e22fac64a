"""The maildrop of a POP3 session: the INBOX, locked, listed, streamed and updated.

The lock is a lease in the store (:meth:`~mailward.store.interface.MailStore.acquire_lease`),
so that one POP3 session at a time has a maildrop across every worker and node
(RFC 1939 8); the session renews it in a task beside it while it lives, and a node
that dies lets go when its leases expire. The message list is read once, when the
lock is taken (RFC 1939 5: numbers and sizes hold for the session); the bytes are
read from the store as they are sent, never held whole. Deletions are applied at
QUIT only, by one expunge (RFC 1939 6): a dropped connection deletes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from array import array
from collections.abc import AsyncIterator, Sequence

from mailward.protocols.pop3 import replies as R
from mailward.protocols.pop3.maildrop import Maildrop
from mailward.protocols.pop3.replies import Reply
from mailward.protocols.pop3.stuffing import MessageWriter
from mailward.server.connection import Connection
from mailward.store.interface import INBOX, Account, LeaseOutcome, MessageInfo, NotFound, Store
from mailward.store.uidset import UidSet


class MaildropLock:
    """One session's hold on its account's INBOX."""

    def __init__(
        self, store: Store, mailbox_id: int, holder: str, messages: Sequence[MessageInfo], uid_validity: int,
        lease_seconds: float, log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.store = store
        self.mailbox_id = mailbox_id
        self.holder = holder
        self.messages = messages
        self.lease_seconds = lease_seconds
        self.log = log
        self.held = True
        self.maildrop = Maildrop(uid_validity, array("I", (m.uid for m in messages)),
                                 array("Q", (m.size for m in messages)))

    @classmethod
    async def open(
        cls, store: Store, account: Account, conn: Connection, lease_seconds: float, login_delay: int,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> MaildropLock | Reply:
        """Lock and list the maildrop; a refusal (``-ERR [IN-USE]``, ``[LOGIN-DELAY]``) otherwise.
        Store errors propagate, with the lock given back."""
        box = await store.get_mailbox(account.id, INBOX)
        if box is None:
            log.error("POP3: account %s has no %s", account.name, INBOX)
            return R.TEMPORARY
        holder = f"pop3 {socket.gethostname()} pid={os.getpid()} conn={conn.id} {secrets.token_hex(6)}"
        outcome = await store.acquire_lease(box.id, holder, lease_seconds, not_within=float(login_delay))
        if outcome is LeaseOutcome.HELD:
            return R.IN_USE  # RFC 2449 8.1.1
        if outcome is LeaseOutcome.TOO_SOON:
            return R.LOGIN_DELAY  # RFC 2449 8.1.2
        try:
            messages = await store.messages(box.id)
        except BaseException:
            with contextlib.suppress(Exception):
                await store.release_lease(box.id, holder)
            raise
        return cls(store, box.id, holder, messages, box.uid_validity, lease_seconds, log)

    async def keep(self, conn: Connection) -> None:
        """Renew the lease every third of its length while the session lives. A store that
        cannot answer is tried again; a lease lost (it expired and another session took it)
        ends the connection, with nothing deleted."""
        interval = self.lease_seconds / 3
        while self.held:
            await asyncio.sleep(interval)
            try:
                renewed = await self.store.renew_lease(self.mailbox_id, self.holder, self.lease_seconds)
            except Exception:
                self.log.exception("POP3: renewing the maildrop lock failed; trying again")
                continue
            if not renewed:
                self.held = False
                self.log.warning("POP3: the maildrop lock was lost; closing the connection")
                conn.close()

    async def retrieve(self, index: int, lines: int | None) -> AsyncIterator[bytes | Reply]:
        """RETR or TOP: the reply first, then the bytes to send (RFC 1939 7). The first chunk
        is read before the reply, so that a message expunged meanwhile (through IMAP) gets
        ``-ERR``; a failure after the reply raises (the response cannot be ended cleanly)."""
        info = self.messages[index]
        writer = MessageWriter(lines)
        chunks = self.store.read(info.blob)
        try:
            try:
                first = await anext(chunks, b"")
            except NotFound:
                yield R.MESSAGE_GONE
                return
            yield R.message_follows(info.size) if lines is None else R.TOP_FOLLOWS
            yield writer.feed(first)
            async for chunk in chunks:
                if writer.done:  # TOP has what it needs: read no further
                    break
                yield writer.feed(chunk)
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        yield writer.end()

    async def update(self, uids: tuple[int, ...]) -> Reply:
        """QUIT in the TRANSACTION state: remove the messages marked deleted, all or none
        (RFC 1939 6), only while the lock is still ours."""
        if not await self.store.renew_lease(self.mailbox_id, self.holder, self.lease_seconds):
            self.held = False
            self.log.warning("POP3: the maildrop lock was lost before QUIT; nothing deleted")
            return R.UPDATE_FAILED
        if uids:
            await self.store.expunge(self.mailbox_id, UidSet.of(uids), deleted_only=False)
        return R.BYE if uids else R.BYE_NOTHING_DELETED

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            await self.store.release_lease(self.mailbox_id, self.holder)
        except Exception:  # it expires on its own
            self.log.exception("POP3: releasing the maildrop lock failed; it expires in %.0f s",
                               self.lease_seconds)
