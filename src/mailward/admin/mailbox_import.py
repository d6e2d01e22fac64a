"""``mailward mailbox import``: a Maildir tree (Dovecot's conventions) or an mbox file
into an account, keeping flags, keywords, internal dates, folders and subscriptions.

Idempotent: each mailbox records the SHA-256 of every message imported into it (the
bytes as stored, CRLF) with which copy of those bytes in its source folder it was, so
a second run adds nothing and a folder that holds one message twice gets it twice.

Messages go in in batches (one durable write, one fsync, per batch); a message bigger
than :data:`MEMORY_LIMIT` is spooled to a temporary file and streamed into the store.
Files are read on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from mailward.admin import maildir as md
from mailward.admin import mbox
from mailward.auth.accounts import AccountService
from mailward.store.interface import DELIMITER, INBOX, MessageSource, NewMessage, QuotaExceeded, Store

CHUNK = 256 * 1024
MEMORY_LIMIT = 1 << 20  # bigger messages are spooled to a temporary file
BATCH_MESSAGES = 500  # messages per durable write
BATCH_BYTES = 8 << 20  # ... or fewer, when they are big
MAX_HEADER = 1 << 20  # an mbox header longer than this is kept as it is
MAX_DEPTH = 64  # LAYOUT=fs folder levels
_ATOM = re.compile(r'[^\x00-\x20\x7f(){%*"\\\]]+')  # RFC 9051 9: flag-keyword = atom


class TransferError(Exception):
    """A source or destination the import or export cannot use; says what to do."""


class Progress(Protocol):
    """What an import or export reports as it goes (the command line draws it)."""

    def start(self, total: int, unit: str) -> None:
        """``total`` messages (``unit`` "messages") or bytes of a file ("bytes")."""

    def update(self, done: int, mailbox: str) -> None: ...


class NoProgress:
    def start(self, total: int, unit: str) -> None:
        pass

    def update(self, done: int, mailbox: str) -> None:
        pass


@dataclass
class ImportReport:
    mailboxes: list[str] = field(default_factory=list)
    created: int = 0  # mailboxes created
    added: int = 0  # messages added
    skipped: int = 0  # messages found imported before
    problems: list[str] = field(default_factory=list)


# --- one message's bytes, as they will be stored ----------------------------------

class Sink:
    """Collects a message's bytes as stored, hashing them; spools big ones to a file."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.parts: list[bytes] = []
        self.size = 0
        self.file: IO[bytes] | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.sha256.update(data)
        self.size += len(data)
        if self.file is not None:
            self.file.write(data)
            return
        self.parts.append(data)
        if self.size > MEMORY_LIMIT:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Prepared.close
            self.file.write(b"".join(self.parts))
            self.parts = []

    def done(self, flags: frozenset[str], internal_date: float | None) -> Prepared:
        data = b"".join(self.parts) if self.file is None else None
        return Prepared(self.sha256.hexdigest(), self.size, flags, internal_date, data, self.file)


@dataclass
class Prepared:
    """One source message read: its SHA-256, size, flags, date and bytes (CRLF)."""

    digest: str
    size: int
    flags: frozenset[str]
    internal_date: float | None
    data: bytes | None
    spool: IO[bytes] | None

    def content(self) -> MessageSource:
        if self.data is not None:
            return self.data
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        spool = self.spool
        assert spool is not None
        await asyncio.to_thread(spool.seek, 0)
        while chunk := await asyncio.to_thread(spool.read, CHUNK):
            yield chunk

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


# --- feeding a folder's messages into a mailbox -----------------------------------

@dataclass
class _Batch:
    items: list[tuple[tuple[str, int], Prepared]] = field(default_factory=list)
    size: int = 0

    def full(self) -> bool:
        return len(self.items) >= BATCH_MESSAGES or self.size >= BATCH_BYTES


async def _target(store: Store, account_id: int, name: str, subscribed: bool,
                  report: ImportReport) -> int:
    box = await store.get_mailbox(account_id, name)
    if box is None:
        box = await store.create_mailbox(account_id, name, subscribed=subscribed)
        report.created += 1
    elif subscribed and not box.subscribed:
        await store.set_subscribed(box.id, True)
    report.mailboxes.append(box.name)
    return box.id


def clean_flags(flags: frozenset[str], where: str, report: ImportReport) -> frozenset[str]:
    bad = sorted(f for f in flags if not f.startswith("\\") and not _ATOM.fullmatch(f))
    if bad:
        report.problems.append(f"{where}: keyword(s) {', '.join(map(repr, bad))} are no IMAP atoms: left out")
    return flags.difference(bad)


async def feed_mailbox(store: Store, mailbox_id: int, messages: AsyncIterator[Prepared],
                       report: ImportReport, on_message: Callable[[], None]) -> None:
    """Append ``messages`` not imported into the mailbox before, in batches."""
    known = await store.imported(mailbox_id)
    copies: dict[str, int] = {}
    batch = _Batch()

    async def flush() -> None:
        nonlocal batch
        if not batch.items:
            return
        pending, batch = batch, _Batch()
        try:
            done = await store.import_messages(mailbox_id, [
                (key, NewMessage(p.content(), p.flags, p.internal_date)) for key, p in pending.items])
        except QuotaExceeded:
            raise TransferError(f"over the account's quota after {report.added} message(s): raise it "
                                "(`mailward user quota`) and run the import again, it goes on where "
                                "it stopped") from None
        finally:
            for _, p in pending.items:
                p.close()
        added = sum(a is not None for a in done)
        report.added += added
        report.skipped += len(done) - added

    async for prepared in messages:
        copy = copies.get(prepared.digest, 0)
        copies[prepared.digest] = copy + 1
        key = (prepared.digest, copy)
        if key in known:
            prepared.close()
            report.skipped += 1
        else:
            batch.items.append((key, prepared))
            batch.size += prepared.size
            if batch.full():
                await flush()
        on_message()
    await flush()


def target_name(into: str | None, name: str) -> str:
    """Where a source folder goes: ``into`` for the source's INBOX, below it for others."""
    if not into:
        return name
    into = into.strip(DELIMITER)
    return into if name == INBOX else f"{into}{DELIMITER}{name}"


# --- Maildir ----------------------------------------------------------------------

@dataclass(frozen=True)
class MaildirMessage:
    path: Path
    letters: str


@dataclass
class MaildirFolder:
    name: str
    path: Path
    keywords: dict[int, str]
    messages: list[MaildirMessage]
    subscribed: bool = True


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def _folder(name: str, path: Path) -> MaildirFolder:
    keywords_file = path / md.KEYWORDS_FILE
    keywords: dict[int, str] = {}
    if keywords_file.is_file():
        keywords = md.parse_keywords(keywords_file.read_text("utf-8", "replace"))
    uidlist_file = path / md.UIDLIST_FILE
    order: dict[str, int] = {}
    if uidlist_file.is_file():
        bases = md.parse_uidlist(uidlist_file.read_text("utf-8", "replace"))
        order = {base: i for i, base in enumerate(bases)}
    found: list[tuple[int, str, MaildirMessage]] = []
    for sub in ("cur", "new"):
        directory = path / sub
        if not directory.is_dir():
            continue
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                base, _, letters = md.split_filename(entry.name)
                found.append((order.get(base, len(order)), entry.name,
                              MaildirMessage(Path(entry.path), letters if sub == "cur" else "")))
    found.sort(key=lambda t: (t[0], t[1]))  # Dovecot's UID order, then by name (time first)
    return MaildirFolder(name, path, keywords, [m for _, _, m in found])


def _fs_folders(root: Path, levels: tuple[str, ...], out: list[MaildirFolder]) -> None:
    if len(levels) >= MAX_DEPTH:
        return
    here = root.joinpath(*levels)
    for entry in sorted(os.scandir(here), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name in ("cur", "new", "tmp"):
            continue
        if not entry.is_dir(follow_symlinks=False):  # no loops through links
            continue
        path = Path(entry.path)
        sub = (*levels, entry.name)
        name = md.fs_folder_name(sub)
        if name is not None and _is_maildir(path):
            out.append(_folder(name, path))
        _fs_folders(root, sub, out)


def scan_maildir(root: Path) -> list[MaildirFolder]:
    """The folders of the Maildir at ``root``: INBOX (the top), Maildir++ ``.Sub.Folder``
    directories and ``LAYOUT=fs`` subdirectories; subscribed as the ``subscriptions``
    file says (every folder when there is none)."""
    if not root.is_dir():
        raise TransferError(f"{root}: no such directory")
    if not _is_maildir(root):
        raise TransferError(f"{root}: not a Maildir (it has no cur/ or new/ directory)")
    folders = [_folder(INBOX, root)]
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        name = md.folder_name(entry.name)
        if name is not None and name != INBOX and entry.is_dir() and _is_maildir(Path(entry.path)):
            folders.append(_folder(name, Path(entry.path)))
    _fs_folders(root, (), folders)
    subscriptions = root / md.SUBSCRIPTIONS_FILE
    if subscriptions.is_file():
        subscribed = set(md.parse_subscriptions(subscriptions.read_text("utf-8", "replace")))
        for folder in folders:
            folder.subscribed = folder.name in subscribed
    return folders


def read_maildir_message(path: Path, flags: frozenset[str]) -> Prepared:
    """A Maildir file's bytes with LF made CRLF, its flags, and its mtime as the
    internal date (as Dovecot takes it)."""
    with open(path, "rb") as f:
        sink = Sink()
        after_cr = False
        while chunk := f.read(CHUNK):
            out, after_cr = md.lf_to_crlf(chunk, after_cr)
            sink.write(out)
        return sink.done(flags, os.fstat(f.fileno()).st_mtime)


async def _maildir_messages(folder: MaildirFolder, report: ImportReport) -> AsyncIterator[Prepared]:
    for message in folder.messages:
        flags, unknown = md.parse_letters(message.letters, folder.keywords)
        if unknown:
            report.problems.append(f"{message.path}: flag letter(s) {unknown!r} unknown "
                                   f"(no line in {md.KEYWORDS_FILE}): left out")
        flags = clean_flags(flags, str(message.path), report)
        try:
            yield await asyncio.to_thread(read_maildir_message, message.path, flags)
        except FileNotFoundError:
            report.problems.append(f"{message.path}: gone while importing (moved by a mail client?)")


async def import_maildir(service: AccountService, address: str, root: Path, *, into: str | None = None,
                         progress: Progress | None = None) -> ImportReport:
    """Import the Maildir tree at ``root`` into the account of ``address``."""
    account = await service.user(address)
    store = service.store
    try:
        folders = await asyncio.to_thread(scan_maildir, root)
    except OSError as exc:
        raise TransferError(f"{root}: {exc.strerror or exc}") from None
    progress = progress or NoProgress()
    progress.start(sum(len(f.messages) for f in folders), "messages")
    report = ImportReport()
    done = 0
    for folder in folders:
        name = target_name(into, folder.name)
        mailbox_id = await _target(store, account.id, name, folder.subscribed, report)

        def step(name: str = name) -> None:
            nonlocal done
            done += 1
            progress.update(done, name)

        try:
            await feed_mailbox(store, mailbox_id, _maildir_messages(folder, report), report, step)
        except PermissionError as exc:
            raise TransferError(f"{exc.filename}: not readable by this user ({exc.strerror}): "
                                "make the Maildir readable by the server's user") from None
    return report


# --- mbox -------------------------------------------------------------------------

class MboxReader:
    """Reads an mbox file one message at a time (called on a worker thread)."""

    def __init__(self, file: IO[bytes], report: ImportReport, where: str) -> None:
        self.file = file
        self.report = report
        self.where = where
        self.splitter = mbox.MboxSplitter()
        self._events = self._lines()
        self._pending: deque[mbox.Event] = deque()

    def _lines(self) -> Iterator[list[mbox.Event]]:
        partial = False  # the piece before was cut at CHUNK bytes, not at LF
        while line := self.file.readline(CHUNK):
            yield [mbox.Line(line)] if partial else self.splitter.feed(line)
            partial = not line.endswith(b"\n")
        yield self.splitter.end()

    def next_message(self) -> Prepared | None:
        """The next message, or None at the end of the file."""
        message: _MboxMessage | None = None
        while True:
            if not self._pending:
                events = next(self._events, None)
                if events is None:
                    break
                self._pending.extend(events)
                continue
            event = self._pending.popleft()
            if isinstance(event, mbox.Start):
                message = _MboxMessage(event)
            elif isinstance(event, mbox.Line) and message is not None:
                message.line(event.data)
            elif isinstance(event, mbox.End) and message is not None:
                return message.done()
        if self.splitter.skipped:
            self.report.problems.append(f"{self.where}: {self.splitter.skipped} line(s) before the first "
                                        "From line are no message: skipped")
            self.splitter.skipped = 0
        return None

    def position(self) -> int:
        return self.file.tell()


class _MboxMessage:
    """One mbox message being read: its header gathered to take the flags out of."""

    def __init__(self, start: mbox.Start) -> None:
        self.date = start.from_line.date
        self.header: list[bytes] | None = []
        self.header_size = 0
        self.flags: frozenset[str] = frozenset()
        self.sink = Sink()

    def line(self, data: bytes) -> None:
        if self.header is None:
            self.sink.write(_crlf(data))
            return
        if data in (b"\n", b"\r\n") or self.header_size + len(data) > MAX_HEADER:
            self._end_header()
            self.sink.write(_crlf(data))
            return
        self.header.append(data)
        self.header_size += len(data)

    def _end_header(self) -> None:
        if self.header is not None:
            self.flags, kept = mbox.header_flags(self.header)
            for line in kept:
                self.sink.write(_crlf(line))
            self.header = None

    def done(self) -> Prepared:
        self._end_header()
        return self.sink.done(self.flags, self.date)


def _crlf(line: bytes) -> bytes:
    """RFC 5322 2.3: a line ends in CRLF."""
    if line.endswith(b"\n") and not line.endswith(b"\r\n"):
        return line[:-1] + b"\r\n"
    return line


async def _mbox_messages(reader: MboxReader, report: ImportReport) -> AsyncIterator[Prepared]:
    while (prepared := await asyncio.to_thread(reader.next_message)) is not None:
        prepared.flags = clean_flags(prepared.flags, reader.where, report)
        yield prepared


async def import_mbox(service: AccountService, address: str, path: Path, *, into: str | None = None,
                      progress: Progress | None = None) -> ImportReport:
    """Import the mbox file at ``path`` into ``into`` (default INBOX) of ``address``."""
    account = await service.user(address)
    store = service.store
    try:
        file = await asyncio.to_thread(open, path, "rb")
    except OSError as exc:
        raise TransferError(f"{path}: {exc.strerror or exc}") from None
    progress = progress or NoProgress()
    report = ImportReport()
    with file:
        progress.start(os.fstat(file.fileno()).st_size, "bytes")
        name = into.strip(DELIMITER) if into else INBOX
        mailbox_id = await _target(store, account.id, name, True, report)
        reader = MboxReader(file, report, str(path))
        await feed_mailbox(store, mailbox_id, _mbox_messages(reader, report), report,
                           lambda: progress.update(reader.position(), name))
    return report
