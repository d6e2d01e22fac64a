"""Helpers for tests that run the listener framework with the test line protocol."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from mailward.config import LoadedConfig, load
from mailward.server.app import Server
from support import lineproto

StartServer = Callable[[str], Awaitable[Server]]


def listener_toml(name: str, tls: str = "none", extra: str = "") -> str:
    return (
        f'[[listener]]\nname = "{name}"\nprotocol = "line"\naddress = "127.0.0.1:0"\ntls = "{tls}"\n{extra}\n'
    )


def load_text(tmp_path: Path, text: str) -> LoadedConfig:
    path = tmp_path / "mailward.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n' + text)
    return load(path, {"line": lineproto.SPEC.rules})


class Client:
    """A line client over asyncio streams; :meth:`close_all` closes every one still open."""

    opened: list[Client] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, server: Server, listener: str, tls: ssl.SSLContext | None = None) -> Client:
        host, port = server.listeners[listener].sockname
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname="localhost" if tls else None
        )
        client = cls(reader, writer)
        cls.opened.append(client)
        return client

    @classmethod
    async def close_all(cls) -> None:
        while cls.opened:
            await cls.opened.pop().close()

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), 10)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, text: str) -> bytes:
        await self.send(text.encode() + b"\r\n")
        return await self.line()

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await self.writer.wait_closed()
