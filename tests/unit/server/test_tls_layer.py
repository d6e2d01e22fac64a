"""The TLS layer, sans-IO: a client SSLObject over memory BIOs talks to it, and the bytes
between them are delivered whole, byte by byte, split at every offset, and as hypothesis
likes."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.server.tls import TlsLayer
from support.pki import Issued, TestCA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestCA, Issued]:
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    return ca, ca.issue("localhost", ("localhost",))


def server_context(issued: Issued, *, maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = maximum
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(issued.cert_path, issued.key_path)
    return context


class Client:
    """The client's side: an SSLObject and what the server sent that it has not read yet."""

    def __init__(self, ca: TestCA, *, maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> None:
        context = ssl.create_default_context(cafile=str(ca.cert_path))
        context.maximum_version = maximum
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def handshake_step(self) -> bool:
        try:
            self.ssl.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def take(self) -> bytes:
        return self.outgoing.read()

    def read_all(self) -> bytes:
        """The plaintext the server sent; ``closed`` says whether its close_notify came."""
        data = b""
        while True:
            try:
                chunk = self.ssl.read(65536)
            except ssl.SSLWantReadError:
                return data
            if not chunk:  # SSLObject.read gives b"" for close_notify
                self.closed = True
                return data
            data += chunk

    closed = False


class Wire:
    """The server's ``send``: what the layer wrote to the socket."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.sent.append(data)

    def take(self) -> bytes:
        data, self.sent = b"".join(self.sent), []
        return data


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))):
        yield data[start:cut]
        start = cut
    yield data[start:]


Split = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def connect(
    pki: tuple[TestCA, Issued], split: Split = whole, *, maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
) -> tuple[Client, TlsLayer, Wire]:
    """A finished handshake, each flight from the client delivered in ``split(flight)``."""
    ca, issued = pki
    client, wire = Client(ca, maximum=maximum), Wire()
    layer = TlsLayer(server_context(issued, maximum=maximum), wire)
    for _ in range(10):  # a handshake has two or three flights each way
        done = client.handshake_step()
        for piece in split(client.take()):
            assert layer.receive(piece) == []
        client.incoming.write(wire.take())
        if done and layer.handshake_done:
            break
    assert client.handshake_step() and layer.handshake_done and layer.failure is None
    return client, layer, wire


def send(client: Client, layer: TlsLayer, data: bytes, split: Split = whole) -> bytes:
    client.ssl.write(data)
    out = b""
    for piece in split(client.take()):
        out += b"".join(layer.receive(piece))
    return out


MESSAGE = b"EHLO client.example\r\n" + b"x" * 40_000 + b"\r\n"


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_handshake_and_data_whole(pki: tuple[TestCA, Issued], maximum: ssl.TLSVersion) -> None:
    client, layer, wire = connect(pki, maximum=maximum)
    assert layer.ssl_object.version() == maximum.name.replace("_", ".")
    assert send(client, layer, MESSAGE) == MESSAGE
    layer.write(b"250 ok\r\n")
    client.incoming.write(wire.take())
    assert client.read_all() == b"250 ok\r\n"


def test_every_byte_on_its_own(pki: tuple[TestCA, Issued]) -> None:
    def byte_by_byte(data: bytes) -> list[bytes]:
        return [data[i:i + 1] for i in range(len(data))]

    client, layer, _ = connect(pki, byte_by_byte)
    assert send(client, layer, MESSAGE[:3000], byte_by_byte) == MESSAGE[:3000]


def test_the_client_hello_and_a_record_split_at_every_offset(pki: tuple[TestCA, Issued]) -> None:
    ca, issued = pki
    hello = Client(ca)
    hello.handshake_step()
    client_hello = hello.take()
    for cut in range(1, len(client_hello)):
        wire = Wire()
        layer = TlsLayer(server_context(issued), wire)
        assert layer.receive(client_hello[:cut]) == []
        assert wire.sent == [] and not layer.settled  # waits for the rest
        assert layer.receive(client_hello[cut:]) == []
        assert wire.take()  # the server's flight went out at once
    client, layer, _ = connect(pki)
    client.ssl.write(b"NOOP\r\n")
    record = client.take()
    assert not client.closed
    for cut in range(1, len(record)):
        client, layer, _ = connect(pki)
        client.ssl.write(b"NOOP\r\n")
        record = client.take()
        assert layer.receive(record[:cut]) == []
        assert layer.receive(record[cut:]) == [b"NOOP\r\n"]


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=60_000), max_size=30))
def test_any_split(pki: tuple[TestCA, Issued], cuts: list[int]) -> None:
    client, layer, _ = connect(pki, lambda data: list(pieces(data, cuts)))
    assert send(client, layer, MESSAGE, lambda data: list(pieces(data, cuts))) == MESSAGE


def test_tls13_session_tickets_are_sent_with_the_handshake(pki: tuple[TestCA, Issued]) -> None:
    client, _, _ = connect(pki)
    client.read_all()  # the client takes in what the server sent after its Finished
    assert client.ssl.session is not None and client.ssl.session.has_ticket


def test_close_notify_from_the_client_is_the_end(pki: tuple[TestCA, Issued]) -> None:
    client, layer, _ = connect(pki)
    client.ssl.write(b"QUIT\r\n")
    with pytest.raises(ssl.SSLWantReadError):
        client.ssl.unwrap()  # sends close_notify, would wait for the server's
    assert layer.receive(client.take()) == [b"QUIT\r\n"]
    assert layer.peer_closed and layer.failure is None
    assert layer.receive(b"anything after it") == []


def test_close_sends_close_notify_once(pki: tuple[TestCA, Issued]) -> None:
    client, layer, wire = connect(pki)
    client.read_all()
    layer.write(b"221 bye\r\n")
    layer.close()
    layer.close()
    layer.write(b"after the close")  # dropped
    client.incoming.write(wire.take())
    assert client.read_all() == b"221 bye\r\n"
    assert client.closed  # the server's close_notify


def test_a_broken_handshake_is_a_failure_with_an_alert(pki: tuple[TestCA, Issued]) -> None:
    _, issued = pki
    wire = Wire()
    layer = TlsLayer(server_context(issued), wire)
    assert layer.receive(b"\x16\x03\x01\x00\x05hello") == []
    assert layer.failure and layer.settled and not layer.handshake_done
    assert wire.take()[:1] == b"\x15"  # an alert record
    assert layer.receive(b"more") == []


def test_plaintext_instead_of_a_client_hello(pki: tuple[TestCA, Issued]) -> None:
    _, issued = pki
    layer = TlsLayer(server_context(issued), Wire())
    layer.receive(b"EHLO client.example\r\n")
    assert layer.failure is not None and not layer.handshake_done


def test_a_corrupt_record_after_the_handshake_ends_the_session(pki: tuple[TestCA, Issued]) -> None:
    client, layer, _ = connect(pki)
    client.ssl.write(b"NOOP\r\n")
    record = bytearray(client.take())
    record[-1] ^= 0xFF  # the tag no longer verifies
    assert layer.receive(bytes(record)) == []
    assert layer.failure is not None


def test_writes_before_the_handshake_are_not_sent_in_the_clear(pki: tuple[TestCA, Issued]) -> None:
    _, issued = pki
    wire = Wire()
    layer = TlsLayer(server_context(issued), wire)
    layer.write(b"secret")
    assert wire.sent == []
