"""The change feed between the worker processes of one server, on the embedded store.

A worker's store publishes the events of its commits to its own sessions (the
:class:`~mailward.store.feed.FeedHub`); a session in another worker (IMAP IDLE
on a mailbox this one delivered to) hears of them through here. PostgreSQL
needs none of this: LISTEN/NOTIFY reaches every process.

Before the workers fork, the server makes one Unix datagram socket pair per worker
(:class:`PeerLinks`). Each worker reads the pair meant for it and sends the events
of each commit, as one datagram, to the others' (:class:`PeerFeed`). Sending never
waits: the supervisor holds every pair open, so a worker being replaced only
queues datagrams, and a worker far behind (the kernel queues a few hundred
datagrams) misses one. The next datagram that gets through then says so, and the
receiver tells every session it has to re-read its mailbox by MODSEQ, as after a
LISTEN reconnect on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Sequence

from mailward.store import feed
from mailward.store.feed import FeedHub
from mailward.store.interface import ChangeEvent, ChangeKind

log = logging.getLogger(__name__)

MAX_DATAGRAM = 64 * 1024  # a commit's events beyond this go without their UIDs
_RECEIVE = MAX_DATAGRAM + 1024


class PeerLinks:
    """The socket pairs of ``count`` workers, made before they fork; the supervisor
    keeps them open for the workers it may start again."""

    def __init__(self, count: int) -> None:
        self._pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(count)]
        for inbox, outlet in self._pairs:
            inbox.setblocking(False)
            outlet.setblocking(False)

    def for_worker(self, index: int) -> PeerFeed:
        """What worker ``index`` reads and where it sends (call it in that worker)."""
        peers = [outlet for i, (_, outlet) in enumerate(self._pairs) if i != index]
        return PeerFeed(self._pairs[index][0], peers)

    def close(self) -> None:
        for pair in self._pairs:
            for sock in pair:
                sock.close()


class PeerFeed:
    def __init__(self, inbox: socket.socket, peers: Sequence[socket.socket]) -> None:
        self._inbox = inbox
        self._peers = list(peers)
        self._behind: set[int] = set()  # peers that missed a datagram since the last one they got
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, hub: FeedHub) -> None:
        """Publish what the other workers send into ``hub`` (call it on the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._inbox.fileno(), self._receive, hub)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._inbox.fileno())
            self._loop = None

    def send(self, events: Sequence[ChangeEvent]) -> None:
        """Tell the other workers about ``events`` (never waits)."""
        if not events or not self._peers:
            return
        data = encode(events, missed=False)
        after_gap: bytes | None = None  # the same, telling a peer that it missed some before
        for i, peer in enumerate(self._peers):
            if i in self._behind and after_gap is None:
                after_gap = encode(events, missed=True)
            try:
                peer.send(after_gap if i in self._behind and after_gap is not None else data)
            except OSError:  # its queue is full: a worker far behind, or being replaced
                if i not in self._behind:
                    log.warning("change feed: another worker is behind; its sessions will re-read")
                self._behind.add(i)
            else:
                self._behind.discard(i)

    def _receive(self, hub: FeedHub) -> None:
        for _ in range(64):  # then let the loop run other work; the reader is called again
            try:
                data = self._inbox.recv(_RECEIVE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("change feed: reading from the other workers failed: %s", exc)
                return
            try:
                missed, events = decode(data)
            except (ValueError, KeyError, TypeError):
                log.warning("change feed: ignored a malformed message from another worker")
                continue
            if missed:
                for mailbox_id in hub.mailbox_ids():
                    hub.publish(ChangeEvent(mailbox_id, ChangeKind.MAILBOX, 0))
            for event in events:
                hub.publish(event)


def encode(events: Sequence[ChangeEvent], *, missed: bool) -> bytes:
    """One datagram: the events (see :func:`mailward.store.feed.encode`) and whether
    the receiver missed some before them. If that is too long, each mailbox and kind
    keeps only its last event, without UIDs ("re-read from your MODSEQ")."""
    data = _pack([feed.encode(e) for e in events], missed)
    if len(data) <= MAX_DATAGRAM:
        return data
    last: dict[tuple[int, ChangeKind], ChangeEvent] = {}
    for e in events:
        last[e.mailbox_id, e.kind] = ChangeEvent(e.mailbox_id, e.kind, e.modseq)
    return _pack([feed.encode(e) for e in last.values()], missed)


def _pack(encoded: list[str], missed: bool) -> bytes:
    return json.dumps({"missed": missed, "events": encoded}, separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[bool, list[ChangeEvent]]:
    message = json.loads(data)
    return bool(message["missed"]), [feed.decode(text) for text in message["events"]]

