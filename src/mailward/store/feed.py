"""The change feed's in-process hub: fan events out to a mailbox's subscribers.

SQLite publishes into it after each commit; PostgreSQL feeds it from LISTEN/NOTIFY,
so events from every node reach every subscriber (DESIGN.md "Beyond one machine").
Payload helpers encode events for NOTIFY (8000-byte limit: UIDs dropped when long).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from mailward.store.interface import ChangeEvent, ChangeKind
from mailward.store.uidset import UidSet

_MAX_QUEUED = 1000  # a subscriber that falls this far behind gets an empty catch-up event
_MAX_PAYLOAD = 7000


class FeedHub:
    def __init__(self) -> None:
        self._subs: dict[int, set[asyncio.Queue[ChangeEvent]]] = {}
        self._newest: dict[int, int] = {}  # per subscribed mailbox: the highest MODSEQ published

    def publish(self, event: ChangeEvent) -> None:
        subs = self._subs.get(event.mailbox_id)
        if not subs:
            return
        if event.modseq > self._newest.get(event.mailbox_id, 0):
            self._newest[event.mailbox_id] = event.modseq
        for queue in tuple(subs):
            if queue.qsize() >= _MAX_QUEUED:
                # Too slow a reader: what it missed collapses into one "re-read from your
                # MODSEQ" in its own queue; the others get the event as it is.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(ChangeEvent(event.mailbox_id, ChangeKind.REREAD, event.modseq))
            else:
                queue.put_nowait(event)

    def mailbox_ids(self) -> list[int]:
        return list(self._subs)

    def newest(self, mailbox_id: int) -> int:
        """The highest MODSEQ published for a subscribed mailbox (0: none yet)."""
        return self._newest.get(mailbox_id, 0)

    def publish_reread(self, mailbox_ids: Iterable[int] | None = None, modseq: int = 0) -> None:
        """Events may have been missed (a lost connection, datagram or notification):
        subscribers of ``mailbox_ids`` (None: of every mailbox) re-read their changes
        since their MODSEQ; ``modseq``, when known, is the mailbox's newest."""
        for mailbox_id in self.mailbox_ids() if mailbox_ids is None else mailbox_ids:
            self.publish(ChangeEvent(mailbox_id, ChangeKind.REREAD, modseq))

    def subscription(self, mailbox_id: int, modseq: int = 0) -> HubSubscription:
        return HubSubscription(self, mailbox_id, modseq)

    def _add(self, mailbox_id: int, queue: asyncio.Queue[ChangeEvent], modseq: int) -> None:
        self._subs.setdefault(mailbox_id, set()).add(queue)
        self._newest[mailbox_id] = max(self._newest.get(mailbox_id, 0), modseq)

    def _remove(self, mailbox_id: int, queue: asyncio.Queue[ChangeEvent]) -> None:
        subs = self._subs.get(mailbox_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subs[mailbox_id]
                self._newest.pop(mailbox_id, None)


class HubSubscription:
    """Implements :class:`mailward.store.interface.Subscription`."""

    def __init__(self, hub: FeedHub, mailbox_id: int, modseq: int = 0) -> None:
        self._hub = hub
        self._mailbox_id = mailbox_id
        self._modseq = modseq
        self._queue: asyncio.Queue[ChangeEvent] = asyncio.Queue()

    async def __aenter__(self) -> HubSubscription:
        self._hub._add(self._mailbox_id, self._queue, self._modseq)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hub._remove(self._mailbox_id, self._queue)

    def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        return self

    async def __anext__(self) -> ChangeEvent:
        return await self._queue.get()


def encode(event: ChangeEvent) -> str:
    data = {"m": event.mailbox_id, "k": event.kind.value, "s": event.modseq, "u": event.uids.ranges}
    text = json.dumps(data, separators=(",", ":"))
    if len(text) > _MAX_PAYLOAD:
        data["u"] = ()
        text = json.dumps(data, separators=(",", ":"))
    return text


def decode(payload: str) -> ChangeEvent:
    data = json.loads(payload)
    uids = UidSet(tuple((int(lo), int(hi)) for lo, hi in data["u"]))
    return ChangeEvent(int(data["m"]), ChangeKind(data["k"]), int(data["s"]), uids)
