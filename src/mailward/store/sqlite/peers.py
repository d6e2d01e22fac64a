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
datagrams) misses one. As soon as its queue has room again, it is sent
:data:`MISSED`, and it tells every session it has to re-read its mailbox by MODSEQ,
as after a LISTEN reconnect on PostgreSQL. A worker that starts sends the others
:data:`MISSED` too: the one it replaces may have died between a commit and its
datagram.
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
_RECEIVE = MAX_DATAGRAM + 1


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
        self._behind: set[int] = set()  # peers that missed a datagram and have not been told
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, hub: FeedHub) -> None:
        """Publish what the other workers send into ``hub`` (call it on the event loop).

        A worker that starts in place of one that died tells the others that they may
        have missed events: its predecessor may have committed and died before it sent
        them, or have been unable to tell a peer that it had missed some."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._inbox.fileno(), self._receive, hub)
        for i in range(len(self._peers)):
            self._missed(i)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._inbox.fileno())
            for i in self._behind:
                self._loop.remove_writer(self._peers[i].fileno())
            self._loop = None

    def send(self, events: Sequence[ChangeEvent]) -> None:
        """Tell the other workers about ``events`` (never waits)."""
        if not events:
            return
        data = encode(events, missed=False)
        for i, peer in enumerate(self._peers):
            if i in self._behind:
                continue  # it will be told to re-read everything once it can take it
            try:
                peer.send(data)
            except OSError:  # its queue is full: a worker far behind, or being replaced
                log.warning("change feed: another worker is behind; its sessions will re-read")
                self._missed(i)

    def _missed(self, i: int) -> None:
        """Tell peer ``i`` that it missed events: now, or as soon as its queue has room."""
        if i in self._behind or self._loop is None:
            return
        self._behind.add(i)
        self._loop.add_writer(self._peers[i].fileno(), self._tell_missed, i)
        self._tell_missed(i)

    def _tell_missed(self, i: int) -> None:
        try:
            self._peers[i].send(MISSED)
        except OSError:
            return  # still full: the loop calls again when it has room
        self._behind.discard(i)
        if self._loop is not None:
            self._loop.remove_writer(self._peers[i].fileno())

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
                # only the server's own workers write here: treat it as news lost
                log.error("change feed: a malformed message from another worker; sessions will re-read")
                missed, events = True, []
            if missed:
                hub.publish_reread()
            for event in events:
                hub.publish(event)


def encode(events: Sequence[ChangeEvent], *, missed: bool) -> bytes:
    """One datagram (at most :data:`MAX_DATAGRAM` bytes): the events (see
    :func:`mailward.store.feed.encode`) and whether the receiver missed some. If that
    is too long, each mailbox and kind keeps only its last event, without UIDs
    ("re-read from your MODSEQ"); if even that is, it says only "re-read everything"."""
    data = _pack([feed.encode(e) for e in events], missed)
    if len(data) <= MAX_DATAGRAM:
        return data
    last: dict[tuple[int, ChangeKind], ChangeEvent] = {}
    for e in events:
        last[e.mailbox_id, e.kind] = ChangeEvent(e.mailbox_id, e.kind, e.modseq)
    data = _pack([feed.encode(e) for e in last.values()], missed)
    return data if len(data) <= MAX_DATAGRAM else MISSED


def _pack(encoded: list[str], missed: bool) -> bytes:
    return json.dumps({"missed": missed, "events": encoded}, separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[bool, list[ChangeEvent]]:
    message = json.loads(data)
    return bool(message["missed"]), [feed.decode(text) for text in message["events"]]



MISSED = _pack([], True)
"""The datagram that says only: you missed events; have every session re-read."""
