"""The server side of TLS on one connection: an ``ssl.SSLObject`` over two ``MemoryBIO``s.

asyncio's ``loop.start_tls`` wraps every connection in an ``SSLProtocol`` that holds a
256 KiB buffer for as long as the connection lives: 297 KB per idle TLS session was
measured, against 13 KB for a plain one. This layer holds no buffer of its own: the
ciphertext that arrives goes into the incoming BIO (which keeps only an unfinished
record), the plaintext it completes is read out at once, sized to what arrived, and
whatever OpenSSL wants to send (handshake flights, TLS 1.3 session tickets, alerts,
close_notify) is written to the socket after every step.

It is sans-IO apart from the ``send`` callable it is given: :meth:`receive` takes
ciphertext and returns plaintext, :meth:`write` takes plaintext and sends ciphertext.
The connection (:mod:`mailward.server.connection`) decides when to wait.

What OpenSSL itself keeps per connection: the ``SSL`` object and its session, and, while
a record is being read or written, a read or write buffer of up to one record (about
16 KiB each). CPython sets ``SSL_MODE_RELEASE_BUFFERS`` on every context, so OpenSSL
frees those buffers whenever a record is complete: an idle session holds none of them.
Renegotiation is refused by the context (``OP_NO_RENEGOTIATION``, :mod:`mailward.tls.context`).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable

# The largest plaintext read at a time; a TLS record holds at most 16 KiB of it.
_MAX_READ = 120 * 1024
_MIN_READ = 16 * 1024 + 256


class TlsLayer:
    """One connection's TLS state.

    ``handshake_done`` becomes true once the handshake succeeded; ``failure`` says why
    the handshake or the session failed (for the log only); ``peer_closed`` is set when
    the client ended TLS with close_notify, which the connection takes as EOF.
    """

    def __init__(self, context: ssl.SSLContext, send: Callable[[bytes], None]) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._send = send
        self.handshake_done = False
        self.failure: str | None = None
        self.peer_closed = False
        self._closing = False

    @property
    def settled(self) -> bool:
        """The handshake is over, one way or the other."""
        return self.handshake_done or self.failure is not None

    def receive(self, data: bytes | memoryview) -> list[bytes]:
        """Take ciphertext from the socket; the plaintext it completes (maybe none)."""
        if self.failure is not None or self.peer_closed:
            return []  # nothing more is read once TLS has ended
        self._incoming.write(data)
        if not self.handshake_done and not self._handshake():
            return []
        plaintext: list[bytes] = []
        while True:
            try:
                chunk = self.ssl_object.read(min(_MAX_READ, max(_MIN_READ, self._incoming.pending)))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the peer's close_notify
                self.peer_closed = True
                break
            except ssl.SSLError as exc:  # a bad record, a renegotiation attempt: the end
                self.failure = _reason(exc)
                break
            if not chunk:
                self.peer_closed = True
                break
            plaintext.append(chunk)
        self._flush()  # a KeyUpdate's answer, an alert
        return plaintext

    def _handshake(self) -> bool:
        try:
            self.ssl_object.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except (ssl.SSLError, ValueError) as exc:  # ValueError: a callback refused the name
            self.failure = _reason(exc)
            self._flush()  # the alert that says why, if OpenSSL made one
            return False
        self.handshake_done = True
        self._flush()  # the last flight and, in TLS 1.3, the session tickets
        return True

    def write(self, data: bytes) -> None:
        """Encrypt ``data`` and send it."""
        if not self.handshake_done or self.failure is not None or self._closing:
            return
        try:
            self.ssl_object.write(data)
        except ssl.SSLError as exc:
            self.failure = _reason(exc)
            return
        self._flush()

    def close(self) -> None:
        """Send close_notify (once); the peer's answer is not waited for (RFC 8446 6.1
        lets the closing side close its socket without it)."""
        if self._closing or not self.handshake_done or self.failure is not None:
            return
        self._closing = True
        # sends ours; the peer's close_notify would be read next, and is not needed
        with contextlib.suppress(ssl.SSLError, ValueError):  # SSLWantReadError among them
            self.ssl_object.unwrap()
        self._flush()

    def _flush(self) -> None:
        if self._outgoing.pending:
            self._send(self._outgoing.read())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.__class__.__name__
    return str(exc) or exc.__class__.__name__
