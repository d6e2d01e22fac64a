"""The change feed's in-process hub: fan events out to a mailbox's subscribers.

SQLite publishes into it after each commit; PostgreSQL feeds it from LISTEN/NOTIFY,
so events from every node reach every subscriber (DESIGN.md "Beyond one machine").
Payload helpers encode events for NOTIFY (8000-byte limit: UIDs dropped when long).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import TracebackType

from mailward.store.interface import ChangeEvent, ChangeKind
from mailward.store.uidset import UidSet

_MAX_QUEUED = 1000  # a subscriber that falls this far behind gets an empty catch-up event
_MAX_PAYLOAD = 7000


class FeedHub:
    def __init__(self) -> None:
        self._subs: dict[int, set[asyncio.Queue[ChangeEvent]]] = {}

    def publish(self, event: ChangeEvent) -> None:
        for queue in tuple(self._subs.get(event.mailbox_id, ())):
            if queue.qsize() >= _MAX_QUEUED:
                # Too slow a reader: collapse to "something changed"; it re-reads by MODSEQ.
                while not queue.empty():
                    queue.get_nowait()
                event = ChangeEvent(event.mailbox_id, event.kind, event.modseq)
            queue.put_nowait(event)

    def mailbox_ids(self) -> list[int]:
        return list(self._subs)

    def publish_reread(self) -> None:
        """Events may have been missed (a lost connection or datagram): every subscriber
        re-reads its mailbox and its changes since its MODSEQ."""
        for mailbox_id in self.mailbox_ids():
            self.publish(ChangeEvent(mailbox_id, ChangeKind.MAILBOX, 0))

    def subscription(self, mailbox_id: int) -> HubSubscription:
        return HubSubscription(self, mailbox_id)

    def _add(self, mailbox_id: int, queue: asyncio.Queue[ChangeEvent]) -> None:
        self._subs.setdefault(mailbox_id, set()).add(queue)

    def _remove(self, mailbox_id: int, queue: asyncio.Queue[ChangeEvent]) -> None:
        subs = self._subs.get(mailbox_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subs[mailbox_id]


class HubSubscription:
    """Implements :class:`mailward.store.interface.Subscription`."""

    def __init__(self, hub: FeedHub, mailbox_id: int) -> None:
        self._hub = hub
        self._mailbox_id = mailbox_id
        self._queue: asyncio.Queue[ChangeEvent] = asyncio.Queue()

    async def __aenter__(self) -> HubSubscription:
        self._hub._add(self._mailbox_id, self._queue)
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
