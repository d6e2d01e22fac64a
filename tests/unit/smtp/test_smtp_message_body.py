"""MessageBody: small messages handed over whole, big ones streamed; both end with CRLF, and
an aborted stream writes nothing."""

from __future__ import annotations

import asyncio

import pytest

from mailward.server.smtp.message import HOLD, MessageAborted, MessageBody
from mailward.store.interface import MessageSource

HEADER = b"Return-Path: <a@b.example>\r\n"


class Recorder:
    """A deliver() that collects what it is given, as the store would."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.received = b""
        self.aborted = False

    async def deliver(self, content: MessageSource) -> int:
        if isinstance(content, bytes):
            self.calls.append("whole")
            self.received = content
            return len(content)
        self.calls.append("stream")
        parts = []
        try:
            async for chunk in content:
                parts.append(chunk)
        except MessageAborted:
            self.aborted = True
            raise
        self.received = b"".join(parts)
        return len(self.received)


@pytest.mark.parametrize("size", [10, HOLD - len(HEADER) - 2])
async def test_a_small_message_is_delivered_whole(size: int) -> None:
    recorder = Recorder()
    body = MessageBody(recorder.deliver, HEADER)
    data = b"x" * (size - 2) + b"\r\n"
    await body.write(data)
    assert await body.finish() == len(HEADER) + len(data)
    assert recorder.calls == ["whole"]
    assert recorder.received == HEADER + data


async def test_a_big_message_streams_and_arrives_whole() -> None:
    recorder = Recorder()
    body = MessageBody(recorder.deliver, HEADER)
    line = b"y" * 998 + b"\r\n"
    pieces = [line * 64 for _ in range(10)]  # 640 KB, more than HOLD
    for piece in pieces:
        await body.write(piece)
    assert await body.finish() == len(HEADER) + sum(map(len, pieces))
    assert recorder.calls == ["stream"]
    assert recorder.received == HEADER + b"".join(pieces)


@pytest.mark.parametrize("size", [100, 2 * HOLD])
async def test_a_body_without_a_final_crlf_gets_one(size: int) -> None:
    recorder = Recorder()
    body = MessageBody(recorder.deliver, HEADER)
    await body.write(b"z" * size)  # BDAT may end anywhere
    await body.finish()
    assert recorder.received == HEADER + b"z" * size + b"\r\n"


async def test_an_aborted_big_message_is_never_completed() -> None:
    recorder = Recorder()
    body = MessageBody(recorder.deliver, HEADER)
    await body.write(b"w" * (HOLD + 1))
    await asyncio.sleep(0)  # the delivery task has started reading
    await body.abort()
    assert recorder.calls == ["stream"]
    assert recorder.received == b""  # it never saw the end of the message


async def test_an_aborted_small_message_calls_nothing() -> None:
    recorder = Recorder()
    body = MessageBody(recorder.deliver, HEADER)
    await body.write(b"short\r\n")
    await body.abort()
    assert recorder.calls == []
