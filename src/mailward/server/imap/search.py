"""SEARCH and UID SEARCH (RFC 9051 6.4.4; ESEARCH replies RFC 4731 / RFC 9051 7.3.4;
SEARCHRES RFC 5182; the MODSEQ criterion RFC 7162 3.1.5).

The criteria become one store criterion (:mod:`mailward.store.search`), evaluated by
the store in one statement; what the store cannot know is resolved here first: message
numbers and ``$`` become UID sets, days become ranges of seconds (RFC 9051 6.4.4:
"disregarding time and timezone", taken as UTC days), \\Recent matches nothing (it is
not kept, RFC 9051 removed it), and SENTBEFORE/SENTON/SENTSINCE read the Date: fields
from the stored structures.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, date, datetime
from typing import Any

from mailward.protocols.imap import codes
from mailward.protocols.imap.commands import Search
from mailward.protocols.imap.commands.search import (
    All,
    And,
    DateCriterion,
    FlagCriterion,
    HeaderCriterion,
    ModSeqCriterion,
    Not,
    Or,
    SearchKey,
    SetCriterion,
    SizeCriterion,
    TextCriterion,
)
from mailward.protocols.imap.response import Atom, Raw, Status
from mailward.server.imap.messages import uid_set
from mailward.server.imap.session import CommandFailed, ImapSession
from mailward.store import search as s
from mailward.store.uidset import UidSet

CHARSETS = ("US-ASCII", "UTF-8")


def _day(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class _Translate:
    def __init__(self, session: ImapSession) -> None:
        self.session = session
        self.sent_dates: dict[int, date] | None = None  # UID -> the Date: field's day, when needed
        self.modseq = False

    async def criterion(self, key: SearchKey) -> s.Criterion:
        view = self.session.view
        assert view is not None
        match key:
            case All():
                return s.Everything()
            case FlagCriterion("\\Recent", present):
                return s.Not(s.Everything()) if present else s.Everything()
            case FlagCriterion(flag, present):
                return s.HasFlag(flag, present)
            case HeaderCriterion(field, value):
                return s.HeaderContains(field.lower(), value)
            case TextCriterion(where, value):
                return s.BodyContains(value) if where == "BODY" else s.TextContains(value)
            case DateCriterion(relation, day, False):
                start = _day(day)
                if relation == "BEFORE":
                    return s.InternalDate(before=start)
                if relation == "ON":
                    return s.InternalDate(since=start, before=start + 86400)
                return s.InternalDate(since=start)
            case DateCriterion(relation, day, True):
                return s.Uids(await self._sent(relation, day))
            case SizeCriterion(larger, size):
                return s.Size(larger=size) if larger else s.Size(smaller=size)
            case SetCriterion(numbers, uid):
                return s.Uids(self.session.message_set(numbers, uid=uid, strict=False))
            case ModSeqCriterion(modseq, _):
                self.modseq = True
                return s.ModSeqAtLeast(modseq)
            case Not(inner):
                return s.Not(await self.criterion(inner))
            case Or(left, right):
                return s.AnyOf((await self.criterion(left), await self.criterion(right)))
            case And(keys):
                return s.All(tuple([await self.criterion(k) for k in keys]))
        raise CommandFailed("Unknown search key", status=Status.BAD)

    async def _sent(self, relation: str, day: date) -> UidSet:
        if self.sent_dates is None:
            self.sent_dates = await self._read_sent_dates()
        match relation:
            case "BEFORE":
                return UidSet.of(u for u, d in self.sent_dates.items() if d < day)
            case "ON":
                return UidSet.of(u for u, d in self.sent_dates.items() if d == day)
        return UidSet.of(u for u, d in self.sent_dates.items() if d >= day)

    async def _read_sent_dates(self) -> dict[int, date]:
        view = self.session.view
        assert view is not None
        store = self.session.store
        infos = await store.messages(view.mailbox.id, view.known_uids(UidSet.all()))
        structures = await store.structures([m.blob for m in infos])
        out = {}
        for m in infos:
            structure = structures.get(m.blob.id)
            if structure is None or not structure.envelope.date:
                continue
            try:  # RFC 9051 6.4.4: the date of the Date: field, in its own time zone
                out[m.uid] = email.utils.parsedate_to_datetime(structure.envelope.date).date()
            except (TypeError, ValueError, IndexError):
                continue
        return out


async def search(session: ImapSession, command: Search) -> None:
    view = session.view
    assert view is not None
    if command.charset is not None and command.charset not in CHARSETS:
        raise CommandFailed("Unsupported charset", codes.badcharset(CHARSETS))
    translate = _Translate(session)
    criterion = await translate.criterion(command.criteria)
    result = await session.store.search(view.mailbox.id, criterion)
    uids = [u for u in result.uids if view.seq_of(u) is not None]
    numbers = uids if command.uid else [view.seq_of(u) or 0 for u in uids]
    options = command.return_options
    if options is not None and "SAVE" in options:  # RFC 5182 2.4
        session.saved_result = UidSet.of(uids)
    if options is None and not session.rev2:  # RFC 3501 7.2.5
        line: list[Any] = [Atom("SEARCH"), *numbers]
        if translate.modseq and uids:  # RFC 7162 3.1.5
            line.append([Atom("MODSEQ"), result.highest_modseq])
        await session.send(session.encoder.untagged(*line))
    elif options != ("SAVE",):
        modseq = result.highest_modseq if translate.modseq else 0
        await session.send(session.encoder.untagged(*esearch(command, numbers, options or ("ALL",), modseq)))
    await session.updates(command)
    session.tagged(command.tag, "SEARCH completed")


def esearch(command: Search, numbers: list[int], options: tuple[str, ...], modseq: int) -> list[Any]:
    """RFC 4731 3.1 / RFC 9051 7.3.4: ``* ESEARCH (TAG "t") [UID] MIN n MAX n COUNT n ALL set``."""
    out: list[Any] = [Atom("ESEARCH"), [Atom("TAG"), command.tag]]
    if command.uid:
        out.append(Atom("UID"))
    if numbers:
        if "MIN" in options:
            out += [Atom("MIN"), min(numbers)]
        if "MAX" in options:
            out += [Atom("MAX"), max(numbers)]
    if "COUNT" in options:
        out += [Atom("COUNT"), len(numbers)]
    if numbers and "ALL" in options:
        out += [Atom("ALL"), Raw(str(uid_set(numbers)).encode())]
    if modseq and numbers:
        out += [Atom("MODSEQ"), modseq]
    return out

