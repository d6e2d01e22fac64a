"""FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9, 7.5.2; BINARY RFC 3516).

Metadata comes from the store's index rows, structure items (ENVELOPE, BODY,
BODYSTRUCTURE) from the structure kept at delivery, and body sections are streamed
from the store's ranged reads: only the bytes of the section asked for are read, and
never a whole message held in memory (BINARY, which must decode, reads one part).
"""

from __future__ import annotations

import binascii
import time
from typing import Any

from mailward.mime import MessageStructure, Part
from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import (
    BinarySize,
    BodySection,
    Fetch,
    FetchAttribute,
    FetchItem,
    Section,
)
from mailward.protocols.imap.response import LiteralData, Raw, Status, Stream, Value
from mailward.server.imap.session import CommandFailed, ImapSession, flag_atoms
from mailward.server.imap.structure import body_structure, envelope
from mailward.store.interface import BlobRef, FlagOp, MessageInfo
from mailward.store.uidset import UidSet

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STRUCTURE_ITEMS = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822.HEADER", "RFC822.TEXT"})
BATCH = 500  # messages whose index rows and structures are read at once
INLINE_SECTION = 16 * 1024  # sections up to this size are read whole, larger ones streamed


def internal_date(seconds: float) -> str:
    """RFC 9051 9 ``date-time``: "17-Jul-1996 09:44:25 +0000" (UTC; English month names)."""
    t = time.gmtime(seconds)
    day = f"{t.tm_mday:02d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year:04d}"
    return f"{day} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


async def fetch(session: ImapSession, command: Fetch) -> None:
    view = session.view
    assert view is not None
    if command.modifiers:  # RFC 4466 2.4: none is offered yet (CHANGEDSINCE comes with CONDSTORE)
        raise CommandFailed(f"FETCH modifier {command.modifiers[0].name} is not supported", status=Status.BAD)
    uids = session.message_set(command.sequence_set, uid=command.uid)
    items = list(command.items)
    if command.uid and FetchAttribute("UID") not in items:  # RFC 9051 6.4.9
        items.insert(0, FetchAttribute("UID"))
    seen_now: set[int] = set()
    if command.sets_seen and not view.read_only and uids:
        seen_now = await _mark_seen(session, uids)
    if seen_now and FetchAttribute("FLAGS") not in items:  # RFC 9051 6.4.5: tell the new flags
        items.append(FetchAttribute("FLAGS"))
    missing = 0
    every = list(uids) if len(uids) > BATCH else []
    for first in range(0, len(uids), BATCH):
        batch = UidSet.of(every[first:first + BATCH]) if every else uids
        infos = await session.store.messages(view.mailbox.id, batch)
        structures = await _structures(session, infos, items)
        missing += len(batch) - len(infos)
        for info in infos:
            seq = view.seq_of(info.uid)
            if seq is None:
                continue
            flags = view.flags_of(seq) if info.uid not in seen_now else info.flags
            values = [await _item(session, item, info, flags, structures.get(info.blob.id)) for item in items]
            await session.send(session.encoder.fetch(seq, values))
    await session.updates(command)
    if missing:  # expunged by another session since the client last heard (RFC 5530 EXPUNGEISSUED)
        session.tagged(command.tag, "Some messages were expunged meanwhile", codes.EXPUNGEISSUED)
    else:
        session.tagged(command.tag, "FETCH completed")


async def _mark_seen(session: ImapSession, uids: UidSet) -> set[int]:
    view = session.view
    assert view is not None
    unseen = [u for u in uids if (seq := view.seq_of(u)) is not None and "\\Seen" not in view.flags_of(seq)]
    if not unseen:
        return set()
    result = await session.store.store_flags(view.mailbox.id, UidSet.of(unseen), FlagOp.ADD,
                                             frozenset({"\\Seen"}))
    for info in result.updated:
        view.set_flags(info.uid, info.flags, info.modseq)
    return {info.uid for info in result.updated}


async def _structures(session: ImapSession, infos: list[MessageInfo],
                      items: list[FetchItem]) -> dict[int, MessageStructure]:
    needed = any(
        (isinstance(i, FetchAttribute) and i.name in _STRUCTURE_ITEMS)
        or (isinstance(i, BodySection) and (i.section.part or i.section.text))
        or isinstance(i, BinarySize)
        for i in items)
    return await session.store.structures([m.blob for m in infos]) if needed and infos else {}


async def _item(session: ImapSession, item: FetchItem, info: MessageInfo, flags: frozenset[str],
                structure: MessageStructure | None) -> tuple[str, Value]:
    enc = session.encoder
    match item:
        case FetchAttribute("UID"):
            return "UID", info.uid
        case FetchAttribute("FLAGS"):
            return "FLAGS", flag_atoms(flags)
        case FetchAttribute("INTERNALDATE"):
            return "INTERNALDATE", internal_date(info.internal_date)
        case FetchAttribute("RFC822.SIZE"):
            return "RFC822.SIZE", info.size
        case FetchAttribute("MODSEQ"):
            return "MODSEQ", [info.modseq]
        case FetchAttribute("ENVELOPE"):
            return "ENVELOPE", Raw(envelope(_need(structure).envelope, enc))
        case FetchAttribute("BODYSTRUCTURE"):
            return "BODYSTRUCTURE", Raw(body_structure(_need(structure).root, enc))
        case FetchAttribute("BODY"):
            return "BODY", Raw(body_structure(_need(structure).root, enc, extended=False))
        case FetchAttribute("RFC822"):
            return "RFC822", await _section(session, info, structure, Section())
        case FetchAttribute("RFC822.HEADER"):
            return "RFC822.HEADER", await _section(session, info, structure, Section(text="HEADER"))
        case FetchAttribute("RFC822.TEXT"):
            return "RFC822.TEXT", await _section(session, info, structure, Section(text="TEXT"))
        case BodySection(section, partial, _, binary):
            if binary:
                data = await _binary(session, info, _need(structure), section)
                data = data if partial is None else data[partial.offset:partial.offset + partial.length]
                return item.response_name, LiteralData(data, binary=b"\x00" in data)
            value = await _section(session, info, structure, section, partial)
            return item.response_name, value
        case BinarySize(part):
            return item.response_name, len(await _binary(session, info, _need(structure), Section(part)))
    raise CommandFailed("FETCH item not supported", status=Status.BAD)


def _need(structure: MessageStructure | None) -> MessageStructure:
    if structure is None:
        raise RuntimeError("the message's structure was not read")
    return structure


def _stream(session: ImapSession, blob: BlobRef, offset: int, length: int) -> Stream:
    return Stream(length, session.store.read(blob, offset, length))


def section_range(structure: MessageStructure | None, size: int, section: Section) -> tuple[int, int] | None:
    """(offset, length) of a section without HEADER.FIELDS, or None when there is no
    such part (RFC 9051 6.4.5)."""
    if not section.part:
        if section.text is None:
            return 0, size
        assert structure is not None
        return _text_range(structure.root, section.text)
    assert structure is not None
    part = structure.part(section.part)
    if part is None:
        return None
    if section.text is None:
        return part.body_offset, part.body_size
    if section.text == "MIME":
        return part.header_offset, part.header_size
    if not part.is_message:  # HEADER / TEXT of a part that is not a message
        return None
    return _text_range(part.children[0], section.text)


def _text_range(root: Part, text: str) -> tuple[int, int] | None:
    if text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return root.header_offset, root.header_size
    if text == "TEXT":
        return root.body_offset, root.body_size
    return None


async def _section(session: ImapSession, info: MessageInfo, structure: MessageStructure | None,
                   section: Section, partial: Any = None) -> Value:
    where = section_range(structure, info.size, section)
    if where is None:
        return ""
    offset, length = where
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        header = await _read(session, info.blob, offset, length)
        data = header_fields(header, section.fields, keep=section.text == "HEADER.FIELDS")
        if partial is not None:
            data = data[partial.offset:partial.offset + partial.length]
        return LiteralData(data)
    if partial is not None:
        start = min(partial.offset, length)
        offset, length = offset + start, min(partial.length, length - start)
    if length == 0:
        return ""
    if length <= INLINE_SECTION:  # a header, a small part: read at once, sent with the rest
        return LiteralData(await _read(session, info.blob, offset, length))
    return _stream(session, info.blob, offset, length)


async def _read(session: ImapSession, blob: BlobRef, offset: int, length: int) -> bytes:
    return b"".join([chunk async for chunk in session.store.read(blob, offset, length)])


def header_fields(header: bytes, names: tuple[str, ...], *, keep: bool) -> bytes:
    """The fields of a header block named in ``names`` (``keep``) or not named (RFC 9051
    6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT), as they are, and the blank line."""
    wanted = {n.lower().encode("ascii", "replace") for n in names}
    out: list[bytes] = []
    taking = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):  # a continuation line belongs to the field before
            if taking:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        taking = (name in wanted) == keep
        if taking:
            out.append(line)
    return b"".join(out) + b"\r\n"


async def _binary(session: ImapSession, info: MessageInfo, structure: MessageStructure,
                  section: Section) -> bytes:
    """BINARY[part]: the part's content with its transfer encoding undone (RFC 3516)."""
    if section.text is not None:
        raise CommandFailed("BINARY takes part numbers only", status=Status.BAD)
    part = structure.part(section.part) if section.part else structure.root
    if part is None:
        raise CommandFailed("No such part", codes.NONEXISTENT)
    data = await _read(session, info.blob, part.body_offset, part.body_size)
    if part.encoding in ("7bit", "8bit", "binary"):
        return data
    try:
        if part.encoding == "base64":
            return binascii.a2b_base64(data)
        if part.encoding == "quoted-printable":
            return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        raise CommandFailed("The part's content cannot be decoded", codes.UNKNOWN_CTE) from None
    raise CommandFailed(f"Unknown transfer encoding {part.encoding}", codes.UNKNOWN_CTE)

