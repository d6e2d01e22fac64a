"""An in-process server running the test line protocol on ephemeral ports."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailward.config import ListenerSettings
from mailward.server.app import Server
from mailward.tls.context import ServerContextSource
from mailward.tls.source import source_for_listener
from support import lineproto
from support.lineserver import Client, StartServer, load_text
from support.pki import TestCA


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    ca = TestCA(tmp_path / "certs")  # the server pair lands where [tls] looks by default
    ca.issue("server", ("localhost", "127.0.0.1"))
    return ca


@pytest.fixture
def client_tls(ca: TestCA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.cert_path))


@pytest.fixture
async def start_server(tmp_path: Path, ca: TestCA) -> AsyncIterator[StartServer]:
    servers: list[Server] = []

    def tls_factory(settings: ListenerSettings) -> ServerContextSource:
        return source_for_listener(settings, hostname="localhost")

    async def start(text: str) -> Server:
        server = Server(load_text(tmp_path, text), {"line": lineproto.SPEC}, tls_factory)
        await server.start()
        servers.append(server)
        return server

    yield start
    await Client.close_all()
    for server in servers:
        await server.stop(grace=1)
