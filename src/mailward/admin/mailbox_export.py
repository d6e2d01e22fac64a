"""``mailward mailbox export``: an account's mailboxes as a Maildir tree in Dovecot's
conventions, or one mailbox as an mbox file (mboxrd).

Maildir: each mailbox's messages go to ``cur/`` (written in ``tmp/`` first, then
renamed), named ``time.MusecPpidQuid.host,S=size,W=vsize:2,FLAGS``, with LF line ends
(as Dovecot keeps them: ``S`` is the file's size, ``W`` the size with CRLF), the mtime
set to the internal date, keywords as letters through the folder's
``dovecot-keywords``; folders are Maildir++ ``.Sub.Folder`` directories and the
subscribed ones are listed in ``subscriptions``. One sync at the end makes it durable.

mbox: a ``From`` line with the ``Return-Path`` address and the internal date, the
message with LF line ends, ``Status``/``X-Status``/``X-Keywords`` for its flags at
the end of its header, mboxrd quoting, and an empty line after it (RFC 4155: a message
ends with a line end, so one stored without a final line end gets one).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mailward.admin import maildir as md
from mailward.admin import mbox
from mailward.admin.mailbox_import import CHUNK, NoProgress, Progress, TransferError
from mailward.auth.accounts import AccountService
from mailward.store.interface import INBOX, Mailbox, MessageInfo, Store


@dataclass
class ExportReport:
    mailboxes: list[str] = field(default_factory=list)
    messages: int = 0
    problems: list[str] = field(default_factory=list)


def _host() -> str:
    # Dovecot's file names escape '/' and ':' in the host name
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"


def _check_empty(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise TransferError(f"{path}: exists and is not an empty directory; export into a new one")


async def _mailboxes(store: Store, account_id: int, only: str | None) -> list[Mailbox]:
    if only is None:
        return sorted(await store.list_mailboxes(account_id), key=lambda b: (b.name != INBOX, b.name))
    box = await store.get_mailbox(account_id, only)
    if box is None:
        raise TransferError(f"there is no mailbox {only!r} (see the account's mailboxes)")
    return [box]


async def _lines(store: Store, info: MessageInfo) -> AsyncIterator[bytes]:
    """The stored message's lines (with their line ends; the last may have none); a
    line longer than a chunk comes in pieces of at most one chunk (memory stays bounded)."""
    rest = b""
    async for chunk in store.read(info.blob):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line + b"\n"
        if len(rest) >= len(chunk):
            yield rest
            rest = b""
    if rest:
        yield rest


# --- Maildir ----------------------------------------------------------------------

async def _write_maildir_message(store: Store, info: MessageInfo, folder: Path, base: str,
                                 index: dict[str, int]) -> None:
    """Write the message with LF line ends to ``tmp/base``, then settle it in ``cur/``
    under its Dovecot name with the internal date as its mtime. A message of one chunk
    takes one call on the worker thread; a bigger one is written chunk by chunk."""
    tmp = folder / "tmp" / base
    if info.size <= CHUNK:
        data = b"".join([chunk async for chunk in store.read(info.blob)])
        await asyncio.to_thread(_write_small, tmp, data, folder, base, info, index)
        return
    file = await asyncio.to_thread(open, tmp, "xb")
    size = 0
    try:
        held = False
        async for chunk in store.read(info.blob):
            out, held = md.crlf_to_lf(chunk, held)
            size += len(out)
            await asyncio.to_thread(file.write, out)
        if held:
            await asyncio.to_thread(file.write, b"\r")
            size += 1
    finally:
        await asyncio.to_thread(file.close)
    await asyncio.to_thread(_settle, tmp, folder, base, size, info, index)


def _write_small(tmp: Path, data: bytes, folder: Path, base: str, info: MessageInfo,
                 index: dict[str, int]) -> None:
    out, held = md.crlf_to_lf(data)
    if held:
        out += b"\r"
    with open(tmp, "xb") as file:
        file.write(out)
    _settle(tmp, folder, base, len(out), info, index)


def _settle(tmp: Path, folder: Path, base: str, size: int, info: MessageInfo, index: dict[str, int]) -> None:
    os.utime(tmp, (info.internal_date, info.internal_date))  # Dovecot's internal date is the mtime
    os.rename(tmp, folder / "cur" / md.message_filename(base, size, info.size, info.flags, index))


def _keyword_index(messages: list[MessageInfo], where: str, report: ExportReport) -> list[str]:
    keywords: list[str] = []
    for info in messages:
        for flag in sorted(info.flags):
            if not flag.startswith("\\") and flag not in keywords:
                keywords.append(flag)
    if len(keywords) > md.MAX_KEYWORDS:
        report.problems.append(f"{where}: {len(keywords)} keywords, Maildir has letters for "
                               f"{md.MAX_KEYWORDS}: left out {', '.join(keywords[md.MAX_KEYWORDS:])}")
        keywords = keywords[:md.MAX_KEYWORDS]
    return keywords


async def _export_folder(store: Store, box: Mailbox, path: Path, report: ExportReport,
                         step: Progress, done: list[int]) -> None:
    for sub in ("cur", "new", "tmp"):
        await asyncio.to_thread((path / sub).mkdir, mode=0o700, parents=True, exist_ok=True)
    messages = await store.messages(box.id)
    keywords = _keyword_index(messages, box.name, report)
    if keywords:
        await asyncio.to_thread((path / md.KEYWORDS_FILE).write_text, md.render_keywords(keywords))
    index = {name: i for i, name in enumerate(keywords)}
    host, pid = _host(), os.getpid()
    for info in messages:
        whole, usec = divmod(round(info.internal_date * 1_000_000), 1_000_000)
        base = f"{whole}.M{usec}P{pid}Q{info.uid}.{host}"
        await _write_maildir_message(store, info, path, base, index)
        report.messages += 1
        done[0] += 1
        step.update(done[0], box.name)


async def export_maildir(service: AccountService, address: str, root: Path, *, mailbox: str | None = None,
                         progress: Progress | None = None) -> ExportReport:
    """Write the account's mailboxes (or only ``mailbox``, at the top) as a Maildir."""
    account = await service.user(address)
    store = service.store
    boxes = await _mailboxes(store, account.id, mailbox)
    try:
        dirs = {box.name: "" if mailbox is not None else md.folder_dirname(box.name) for box in boxes}
    except md.MaildirNameError as exc:
        raise TransferError(str(exc)) from None
    try:
        await asyncio.to_thread(_check_empty, root)
        await asyncio.to_thread(root.mkdir, mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise TransferError(f"{root}: {exc.strerror or exc}") from None
    progress = progress or NoProgress()
    progress.start(sum([(await store.status(b.id)).messages for b in boxes]), "messages")
    report = ExportReport()
    done = [0]
    for box in boxes:
        await _export_folder(store, box, root / dirs[box.name], report, progress, done)
        report.mailboxes.append(box.name)
    if mailbox is None:
        subscriptions = md.render_subscriptions(b.name for b in boxes if b.subscribed)
        await asyncio.to_thread((root / md.SUBSCRIPTIONS_FILE).write_text, subscriptions)
    await asyncio.to_thread(os.sync)
    return report


# --- mbox -------------------------------------------------------------------------

async def _return_path(store: Store, info: MessageInfo) -> str:
    async for line in _lines(store, info):
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"return-path":
            address = value.decode("utf-8", "replace").strip().strip("<>").strip()
            return address if address and " " not in address else "MAILER-DAEMON"
    return "MAILER-DAEMON"


async def _write_mbox_message(store: Store, info: MessageInfo, file: IO[bytes]) -> None:
    out = [mbox.render_from_line(await _return_path(store, info), info.internal_date)]
    in_header = True
    ended = True  # the piece before ended a line: this one starts one
    async for piece in _lines(store, info):
        line = piece[:-2] + b"\n" if piece.endswith(b"\r\n") else piece
        if in_header and line == b"\n":
            out.append(mbox.flag_headers(info.flags))
            in_header = False
        out.append(mbox.quote(line) if ended else line)
        ended = line.endswith(b"\n")
        if len(out) >= 256:
            await asyncio.to_thread(file.writelines, out)
            out = []
    if in_header:  # a message that is all header: flags after it, as a header
        out.append(b"" if ended else b"\n")
        out.append(mbox.flag_headers(info.flags))
        ended = True
    out.append(b"\n" if ended else b"\n\n")  # RFC 4155: an empty line ends each message
    await asyncio.to_thread(file.writelines, out)


async def export_mbox(service: AccountService, address: str, path: Path, *, mailbox: str | None = None,
                      progress: Progress | None = None) -> ExportReport:
    """Write one mailbox (default INBOX) of the account as an mbox file at ``path``."""
    account = await service.user(address)
    store = service.store
    (box,) = await _mailboxes(store, account.id, mailbox or INBOX)
    try:
        file = await asyncio.to_thread(open, path, "xb")
    except FileExistsError:
        raise TransferError(f"{path}: exists already; export into a new file") from None
    except OSError as exc:
        raise TransferError(f"{path}: {exc.strerror or exc}") from None
    progress = progress or NoProgress()
    report = ExportReport([box.name])
    with file:
        messages = await store.messages(box.id)
        progress.start(len(messages), "messages")
        for info in messages:
            await _write_mbox_message(store, info, file)
            report.messages += 1
            progress.update(report.messages, box.name)
        await asyncio.to_thread(file.flush)
        await asyncio.to_thread(os.fsync, file.fileno())
    return report
