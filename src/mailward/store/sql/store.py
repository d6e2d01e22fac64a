"""The :class:`~mailward.store.interface.Store` methods, shared by both SQL backends.

A backend supplies how an operation runs (:meth:`SqlStore._write`,
:meth:`SqlStore._read`) and the change feed; everything else is here.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from typing import IO, TypeVar

from mailward.mime import MessageStructure, MimeParser, TextExtractor
from mailward.store.feed import FeedHub
from mailward.store.interface import (
    Account,
    Alias,
    Appended,
    AppPassword,
    BlobRef,
    ChangeEvent,
    ChangeKind,
    Changes,
    ClientCertificate,
    CopyResult,
    CounterUpdate,
    Domain,
    Envelope,
    ExpungeResult,
    FlagOp,
    FlagsResult,
    ImportKey,
    LeaseOutcome,
    LoginCounter,
    Mailbox,
    MailboxStatus,
    MessageInfo,
    MessageSource,
    NewMessage,
    NotFound,
    QueueEntry,
    QueueStatus,
    QuotaUsage,
    Snapshot,
    StoreError,
    Subscription,
)
from mailward.store.search import Criterion, SearchResult, needs_text
from mailward.store.sql import directory as d
from mailward.store.sql import imported as imp
from mailward.store.sql import leases as lease_ops
from mailward.store.sql import mailboxes as mb
from mailward.store.sql import messages as msg
from mailward.store.sql import queue as q
from mailward.store.sql import schema, text
from mailward.store.sql import search as find
from mailward.store.sql.base import CHUNK, BlobData, Ctx, Op, Row, read_chunk, write_blob
from mailward.store.uidset import UidSet

T = TypeVar("T")
log = logging.getLogger(__name__)
_SPOOL_MEMORY = 1 << 20  # streamed messages above this are staged in a temporary file
_INLINE_WRITE = 1 << 20  # message bytes above this are written off the event loop
SMALL_READ = 100  # rows a read may return and still count as small (no thread hop on SQLite)
_SMALL_READ = 16 * 1024  # ranged reads up to this are point lookups (SqlStore._read's large=False)


class Staged:
    """Message bytes gathered from a source before the write transaction starts, and
    (for mailbox messages) their MIME structure, parsed as the bytes went by."""

    def __init__(self, *, parse: bool) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.file: IO[bytes] | None = None
        self.parser = MimeParser() if parse else None
        self.structure: bytes | None = None

    @property
    def on_disk(self) -> bool:
        return self.file is not None

    def data(self) -> BlobData:
        return BlobData(self.size, self._chunks())

    def _chunks(self) -> Iterator[bytes]:
        if self.file is None:
            whole = b"".join(self.parts)
            for i in range(0, max(len(whole), 1), CHUNK):
                yield whole[i:i + CHUNK]
            return
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk
        if self.size == 0:
            yield b""

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def stage(source: MessageSource, *, parse: bool = True) -> Staged:
    """Gather ``source``; ``parse``: a mailbox message, whose structure is kept with it."""
    staged = Staged(parse=parse)
    if isinstance(source, (bytes, bytearray, memoryview)):
        staged.parts.append(bytes(source))
        staged.size = len(source)
        if staged.parser is not None:
            staged.parser.feed(staged.parts[0])
    else:
        try:
            await _stage_stream(staged, source)
        except BaseException:
            staged.close()
            raise
    if staged.parser is not None:
        staged.structure = staged.parser.close().to_bytes()
        staged.parser = None
    return staged


async def _stage_stream(staged: Staged, source: AsyncIterable[bytes]) -> None:
    async for chunk in source:
        staged.size += len(chunk)
        if staged.parser is not None:
            staged.parser.feed(chunk)
        if staged.file is not None:
            await asyncio.to_thread(staged.file.write, chunk)
            continue
        staged.parts.append(bytes(chunk))
        if staged.size > _SPOOL_MEMORY:
            staged.file = await asyncio.to_thread(tempfile.TemporaryFile)
            pending, staged.parts = b"".join(staged.parts), []
            await asyncio.to_thread(staged.file.write, pending)


class SqlStore(abc.ABC):
    backend = "sql"
    # Expunged UIDs remembered per mailbox for VANISHED (RFC 7162 3.2.5.2); see sql.messages.
    expunged_keep = msg.EXPUNGED_KEEP

    @abc.abstractmethod
    async def _write(self, make: Callable[[Ctx], Op[T]], *, offload: bool = False, bulk: bool = False) -> T:
        """Run a write operation in its own transaction; return when it is durable.

        ``offload``: stepping the operation itself takes long (it reads a big staged
        message): keep it off the event loop. ``bulk``: the statements may change
        many rows, which matters where the database runs in-process (SQLite)."""

    @abc.abstractmethod
    async def _read(self, make: Callable[[], Op[T]], *, large: bool = False) -> T:
        """Run a read operation against one consistent snapshot.

        ``large``: the result grows with the data (a mailbox's messages, a dump), so
        the read may take long; a point lookup leaves it false."""

    @abc.abstractmethod
    async def migrate(self, upto: int = schema.LATEST) -> list[int]:
        """Apply pending schema migrations (up to version ``upto``); the versions applied."""

    _hub: FeedHub  # the backend's: fed after its own commits and from other processes or nodes

    def subscribe(self, mailbox_id: int, modseq: int = 0) -> Subscription:
        return self._hub.subscription(mailbox_id, modseq)

    async def check_feed(self) -> int:
        ids = self._hub.mailbox_ids()
        if not ids:
            return 0
        current = await self._read(lambda: mb.highest_modseqs(ids), large=True)
        behind = 0
        for mailbox_id in ids:
            modseq = current.get(mailbox_id)
            if modseq is None:  # deleted, and its event lost
                self._hub.publish(ChangeEvent(mailbox_id, ChangeKind.MAILBOX, 0))
                behind += 1
            elif modseq > self._hub.newest(mailbox_id):
                self._hub.publish_reread([mailbox_id], modseq)
                behind += 1
        return behind

    @abc.abstractmethod
    async def close(self) -> None: ...

    # --- accounts ----------------------------------------------------------------

    async def create_account(self, name: str, *, quota_bytes: int = 0, display_name: str = "",
                             credentials: str = "") -> Account:
        return await self._write(lambda ctx: mb.create_account(name, quota_bytes, display_name, credentials))

    async def find_account(self, name: str) -> Account | None:
        return await self._read(lambda: mb.find_account(name))

    async def account(self, account_id: int) -> Account:
        return await self._read(lambda: mb.get_account(account_id))

    async def list_accounts(self) -> list[Account]:
        return await self._read(mb.list_accounts, large=True)

    async def update_account(self, account_id: int, *, display_name: str | None = None,
                             enabled: bool | None = None, credentials: str | None = None) -> Account:
        return await self._write(
            lambda ctx: mb.update_account(account_id, display_name, enabled, credentials))

    async def account_credentials(self, account_id: int) -> str:
        return await self._read(lambda: mb.account_credentials(account_id))

    async def set_quota(self, account_id: int, quota_bytes: int) -> None:
        await self._write(lambda ctx: mb.set_quota(account_id, quota_bytes))

    async def delete_account(self, account_id: int) -> None:
        await self._write(lambda ctx: mb.delete_account(ctx, account_id), bulk=True)

    async def quota(self, account_id: int) -> QuotaUsage:
        return await self._read(lambda: mb.quota(account_id))

    # --- domains, aliases --------------------------------------------------------

    async def add_domain(self, name: str) -> Domain:
        return await self._write(lambda ctx: d.add_domain(ctx, name))

    async def find_domain(self, name: str) -> Domain | None:
        return await self._read(lambda: d.find_domain(name))

    async def list_domains(self) -> list[Domain]:
        return await self._read(d.list_domains)

    async def remove_domain(self, name: str) -> None:
        await self._write(lambda ctx: d.remove_domain(name), bulk=True)

    async def add_alias(self, address: str, target: str) -> Alias:
        return await self._write(lambda ctx: d.add_alias(address, target))

    async def alias_targets(self, address: str) -> list[str]:
        return await self._read(lambda: d.alias_targets(address))

    async def aliases_to(self, target: str) -> list[str]:
        return await self._read(lambda: d.aliases_to(target))

    async def list_aliases(self) -> list[Alias]:
        return await self._read(d.list_aliases, large=True)

    async def remove_alias(self, address: str, target: str | None = None) -> int:
        return await self._write(lambda ctx: d.remove_alias(address, target))

    # --- app passwords, client certificates --------------------------------------

    async def add_app_password(self, account_id: int, label: str, credentials: str) -> AppPassword:
        return await self._write(lambda ctx: d.add_app_password(ctx, account_id, label, credentials))

    async def app_passwords(self, account_id: int) -> list[AppPassword]:
        return await self._read(lambda: d.app_passwords(account_id))

    async def revoke_app_password(self, account_id: int, label: str) -> None:
        await self._write(lambda ctx: d.revoke_app_password(account_id, label))

    async def add_client_certificate(self, account_id: int, fingerprint: str,
                                     label: str = "") -> ClientCertificate:
        return await self._write(lambda ctx: d.add_client_certificate(ctx, account_id, fingerprint, label))

    async def client_certificates(self, account_id: int) -> list[ClientCertificate]:
        return await self._read(lambda: d.client_certificates(account_id))

    async def remove_client_certificate(self, fingerprint: str) -> None:
        await self._write(lambda ctx: d.remove_client_certificate(fingerprint))

    async def account_for_certificate(self, fingerprint: str) -> Account | None:
        return await self._read(lambda: d.account_for_certificate(fingerprint))

    # --- login counters ----------------------------------------------------------

    async def login_counter(self, key: str) -> LoginCounter | None:
        return await self._read(lambda: d.login_counter(key))

    async def update_login_counter(self, key: str, fn: CounterUpdate) -> LoginCounter | None:
        return await self._write(lambda ctx: d.update_login_counter(key, fn))

    async def delete_login_counter(self, key: str) -> bool:
        return await self._write(lambda ctx: d.delete_login_counter(key))

    async def login_counters(self) -> list[tuple[str, LoginCounter]]:
        return await self._read(d.login_counters, large=True)

    # --- mailboxes ---------------------------------------------------------------

    async def create_mailbox(self, account_id: int, name: str, *, special_use: frozenset[str] = frozenset(),
                             subscribed: bool = True) -> Mailbox:
        return await self._write(lambda ctx: mb.create_mailbox(account_id, name, special_use, subscribed))

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        return await self._read(lambda: mb.find_mailbox(account_id, name))

    async def mailbox(self, mailbox_id: int) -> Mailbox:
        return await self._read(lambda: mb.get_mailbox(mailbox_id))

    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        return await self._read(lambda: mb.list_mailboxes(account_id))

    async def rename_mailbox(self, mailbox_id: int, new_name: str) -> Mailbox:
        return await self._write(lambda ctx: mb.rename_mailbox(ctx, mailbox_id, new_name))

    async def delete_mailbox(self, mailbox_id: int) -> None:
        await self._write(lambda ctx: mb.delete_mailbox(ctx, mailbox_id), bulk=True)

    async def set_subscribed(self, mailbox_id: int, subscribed: bool) -> None:
        await self._write(lambda ctx: mb.set_subscribed(mailbox_id, subscribed))

    async def set_special_use(self, mailbox_id: int, special_use: frozenset[str]) -> None:
        await self._write(lambda ctx: mb.set_special_use(mailbox_id, special_use))

    async def status(self, mailbox_id: int) -> MailboxStatus:
        return await self._read(lambda: mb.status(mailbox_id))

    # --- messages ----------------------------------------------------------------

    async def append(self, mailbox_id: int, messages: Sequence[NewMessage]) -> list[Appended]:
        return await self._insert([(mailbox_id,)] * len(messages), messages)

    async def deliver(self, mailbox_ids: Sequence[int], message: NewMessage) -> list[Appended]:
        if not mailbox_ids:
            return []
        return await self._insert([tuple(mailbox_ids)], [message])

    async def _insert(
        self, targets: Sequence[tuple[int, ...]], messages: Sequence[NewMessage]
    ) -> list[Appended]:
        now = time.time()
        staged: list[Staged] = []
        try:
            for m in messages:
                staged.append(await stage(m.content))

            def op(ctx: Ctx) -> Op[list[Appended]]:
                entries = []
                for boxes, m, s in zip(targets, messages, staged, strict=True):
                    blob = yield from write_blob(s.data(), refs=len(boxes), structure=s.structure)
                    date = now if m.internal_date is None else m.internal_date
                    entries += [msg.Entry(b, blob, m.flags, date) for b in boxes]
                return (yield from msg.insert_entries(ctx, entries))

            return await self._write(op, offload=sum(s.size for s in staged) > _INLINE_WRITE)
        finally:
            for s in staged:
                s.close()

    async def imported(self, mailbox_id: int) -> frozenset[ImportKey]:
        return await self._read(lambda: imp.imported_keys(mailbox_id), large=True)

    async def import_messages(
        self, mailbox_id: int, messages: Sequence[tuple[ImportKey, NewMessage]]
    ) -> list[Appended | None]:
        now = time.time()
        staged: list[Staged] = []
        try:
            for _, m in messages:
                staged.append(await stage(m.content))

            def op(ctx: Ctx) -> Op[list[Appended | None]]:
                # the mailbox row first: two imports into one mailbox at once take turns,
                # and the second sees what the first recorded
                yield from mb.get_mailbox(mailbox_id, lock=True)
                seen = yield from imp.present(mailbox_id, [key for key, _ in messages])
                entries, positions, keys = [], [], []
                for i, ((key, m), s) in enumerate(zip(messages, staged, strict=True)):
                    if key in seen:
                        continue
                    seen.add(key)
                    blob = yield from write_blob(s.data(), refs=1, structure=s.structure)
                    date = now if m.internal_date is None else m.internal_date
                    entries.append(msg.Entry(mailbox_id, blob, m.flags, date))
                    positions.append(i)
                    keys.append(key)
                out: list[Appended | None] = [None] * len(messages)
                if entries:
                    appended = yield from msg.insert_entries(ctx, entries)
                    yield from imp.record(mailbox_id, keys)
                    for i, a in zip(positions, appended, strict=True):
                        out[i] = a
                return out

            return await self._write(op, offload=sum(s.size for s in staged) > _INLINE_WRITE, bulk=True)
        finally:
            for s in staged:
                s.close()

    async def messages(self, mailbox_id: int, uids: UidSet | None = None) -> list[MessageInfo]:
        # a few named messages (a FETCH of a screenful) are a small read: no thread hop
        small = uids is not None and len(uids) <= SMALL_READ
        return await self._read(lambda: msg.select_messages(mailbox_id, uids), large=not small)

    async def search(self, mailbox_id: int, criterion: Criterion) -> SearchResult:
        if needs_text(criterion):  # a message the indexer has not reached yet is still found
            await self.index_text(mailbox_id=mailbox_id)
        return await self._read(lambda: find.search(mailbox_id, criterion), large=True)

    # --- structure and searchable text (see sql.text) ---------------------------

    async def structures(self, blobs: Sequence[BlobRef]) -> dict[int, MessageStructure]:
        ids = [b.id for b in blobs]
        stored = await self._read(lambda: text.structures(ids), large=len(ids) > SMALL_READ)
        out: dict[int, MessageStructure] = {}
        fill: list[tuple[int, bytes]] = []
        for blob in blobs:
            if blob.id in out:
                continue
            data = stored.get(blob.id)
            if data is not None:
                with contextlib.suppress(ValueError):  # another version's form: parse anew
                    out[blob.id] = text.decoded(data)
                    continue
            elif blob.id not in stored:
                continue  # gone: expunged everywhere
            try:
                structure = await self._parse(blob)
            except NotFound:
                continue
            out[blob.id] = structure
            fill.append((blob.id, structure.to_bytes()))
        if fill:
            await self._write(lambda ctx: text.set_structures(fill))
        return out

    async def _parse(self, blob: BlobRef) -> MessageStructure:
        parser = MimeParser()
        async for chunk in self.read(blob):
            parser.feed(chunk)
        return parser.close()

    async def fill_structures(self, *, batch: int = 200,
                              progress: Callable[[int], None] | None = None) -> int:
        """Parse and keep the structure of every message stored without one (before
        migration 4); how many. ``store migrate`` runs it."""
        done, after = 0, 0
        while blobs := await self._read(functools.partial(text.missing_structures, batch, after)):
            items = []
            for blob in blobs:
                with contextlib.suppress(NotFound):  # expunged meanwhile
                    items.append((blob.id, (await self._parse(blob)).to_bytes()))
            await self._write(functools.partial(_set_structures, items), bulk=True)
            done += len(items)
            after = blobs[-1].id
            if progress is not None:
                progress(done)
        return done

    async def index_text(self, *, limit: int = 100, mailbox_id: int | None = None) -> int:
        """Index the text of up to ``limit`` messages the indexer has not done yet (of one
        mailbox: all of its pending ones); how many. The background indexer calls it."""
        done = 0
        while True:
            blobs = await self._read(functools.partial(text.pending, limit, mailbox_id),
                                     large=mailbox_id is not None)
            rows = []
            for blob in blobs:
                with contextlib.suppress(NotFound):  # expunged meanwhile
                    rows.append(await self._text_row(blob))
            if rows:
                done += await self._write(functools.partial(_save_text, rows), bulk=True)
            if mailbox_id is None or len(blobs) < limit:
                return done

    async def _text_row(self, blob: BlobRef) -> text.TextRow:
        extractor = TextExtractor()
        try:
            async for chunk in self.read(blob):
                extractor.feed(chunk)
            return text.text_row(blob.id, extractor.close())
        except NotFound:
            raise
        except Exception:  # a defect of ours: index what there is, never retry for ever
            log.exception("text of message bytes %d could not be extracted; indexed as empty", blob.id)
            return text.TextRow(blob.id, "", "")

    async def snapshot(self, mailbox_id: int) -> Snapshot:
        return await self._read(lambda: msg.snapshot(mailbox_id), large=True)

    async def read(self, blob: BlobRef, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The message bytes, one chunk (at most 256 KiB) at a time; see MailStore.read."""
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"no byte range at offset {offset}, length {length}")
        end = blob.size if length is None else min(blob.size, offset + length)
        if offset >= end:  # nothing to send, but say so if the bytes are gone
            if await self._read(functools.partial(read_chunk, blob.id, 0, 0, 0)) is None:
                raise NotFound(f"message bytes {blob.id} are gone")
            return
        pos = offset
        while pos < end:
            seq, start = divmod(pos, CHUNK)
            want = min(CHUNK - start, end - pos)
            # a small piece is a point lookup (a POP3 RETR of a short message): no thread hop
            chunk = await self._read(functools.partial(read_chunk, blob.id, seq, start, want),
                                     large=want > _SMALL_READ)
            if chunk is None or len(chunk) != want:
                # Gone (expunged everywhere) before or while being read: never hand
                # out a truncated message as if it were whole.
                raise NotFound(f"message bytes {blob.id} are gone")
            yield chunk
            pos += want

    async def store_flags(self, mailbox_id: int, uids: UidSet, op: FlagOp, flags: frozenset[str], *,
                          unchanged_since: int | None = None) -> FlagsResult:
        for flag in flags:
            if not flag or any(c in flag for c in ' (){%*"]') or any(ord(c) < 0x21 for c in flag):
                raise StoreError(f"invalid flag {flag!r}")  # RFC 9051 9: flag-keyword is an atom
        return await self._write(
            lambda ctx: msg.store_flags(ctx, mailbox_id, uids, op, flags, unchanged_since), bulk=True)

    async def copy(self, mailbox_id: int, uids: UidSet, dest_mailbox_id: int) -> CopyResult:
        return await self._write(lambda ctx: msg.copy(ctx, mailbox_id, uids, dest_mailbox_id), bulk=True)

    async def move(self, mailbox_id: int, uids: UidSet, dest_mailbox_id: int) -> CopyResult:
        keep = self.expunged_keep
        return await self._write(lambda ctx: msg.move(ctx, mailbox_id, uids, dest_mailbox_id, keep=keep),
                                 bulk=True)

    async def expunge(self, mailbox_id: int, uids: UidSet | None = None, *,
                      deleted_only: bool = True) -> ExpungeResult:
        keep = self.expunged_keep
        return await self._write(lambda ctx: msg.expunge(ctx, mailbox_id, uids, deleted_only, keep=keep),
                                 bulk=True)

    async def prune_expunged(self, mailbox_id: int | None = None, *, keep: int | None = None) -> int:
        """Forget all but the ``keep`` (default ``expunged_keep``) newest expunged UIDs of
        one mailbox, or of every mailbox; how many went. Expunge does this as it goes:
        this is for an admin lowering the limit, and for tests."""
        limit = self.expunged_keep if keep is None else keep
        if mailbox_id is None:
            return await self._write(lambda ctx: msg.prune_all_expunged(limit), bulk=True)
        return await self._write(lambda ctx: msg.prune_expunged(mailbox_id, limit), bulk=True)

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        return await self._read(lambda: msg.changes_since(mailbox_id, modseq), large=True)

    # --- leases (POP3 maildrop locks) ------------------------------------------------

    async def acquire_lease(self, mailbox_id: int, holder: str, seconds: float, *,
                            not_within: float = 0.0) -> LeaseOutcome:
        return await self._write(lambda ctx: lease_ops.acquire(ctx, mailbox_id, holder, seconds, not_within))

    async def renew_lease(self, mailbox_id: int, holder: str, seconds: float) -> bool:
        return await self._write(lambda ctx: lease_ops.renew(ctx, mailbox_id, holder, seconds))

    async def release_lease(self, mailbox_id: int, holder: str) -> bool:
        return await self._write(lambda ctx: lease_ops.release(mailbox_id, holder))

    # --- copying between stores (mailward store copy) -------------------------------

    async def schema_version(self) -> int:
        return await self._read(schema.current_version)

    async def is_empty(self) -> bool:
        return await self._read(schema.is_empty)

    async def count(self, table: str) -> int:
        return await self._read(lambda: schema.count_rows(table), large=True)

    async def dump(self, table: str, after: Row | None, limit: int) -> list[Row]:
        return await self._read(lambda: schema.dump_rows(table, after, limit), large=True)

    async def load(self, table: str, rows: list[Row]) -> None:
        """Insert rows as they are (ids, UIDs and MODSEQs kept) into an empty store."""
        await self._write(lambda ctx: schema.load_rows(table, rows), bulk=True)

    @abc.abstractmethod
    async def load_done(self) -> None:
        """After loading: let generated ids continue after the largest loaded one."""

    # --- queue -------------------------------------------------------------------

    async def enqueue(self, envelope: Envelope, content: MessageSource) -> QueueEntry:
        staged = await stage(content, parse=False)
        try:
            return await self._write(lambda ctx: q.enqueue(ctx, envelope, staged.data()),
                                     offload=staged.size > _INLINE_WRITE)
        finally:
            staged.close()

    async def claim(self, worker: str, *, limit: int = 10, lease_seconds: float = 300.0) -> list[QueueEntry]:
        return await self._write(lambda ctx: q.claim(ctx, worker, limit, lease_seconds))

    async def retry_later(self, entry_id: int, worker: str, next_attempt: float, error: str) -> None:
        await self._write(lambda ctx: q.retry_later(entry_id, worker, next_attempt, error))

    async def give_up(self, entry_id: int, worker: str, error: str) -> None:
        await self._write(lambda ctx: q.give_up(entry_id, worker, error))

    async def finish(self, entry_id: int, worker: str) -> None:
        await self._write(lambda ctx: q.finish(entry_id, worker))

    async def queue_entries(self, status: QueueStatus | None = None) -> list[QueueEntry]:
        return await self._read(lambda: q.entries(status), large=True)


def _set_structures(items: list[tuple[int, bytes]], ctx: Ctx) -> Op[None]:
    return text.set_structures(items)


def _save_text(rows: list[text.TextRow], ctx: Ctx) -> Op[int]:
    return text.save_text(rows)
