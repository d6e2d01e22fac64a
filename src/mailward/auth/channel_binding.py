"""The ``tls-exporter`` channel binding (RFC 9266) of a TLS 1.3 connection.

RFC 9266 2: 32 bytes from the TLS exporter (RFC 8446 7.5) with the label
"EXPORTER-Channel-Binding" and an empty context. Python's ``ssl`` module offers
only "tls-unique" through ``get_channel_binding``: ``ssl.CHANNEL_BINDING_TYPES``
is ``['tls-unique']`` on CPython 3.11.7, 3.12.1 and 3.13.0 (checked), and
tls-unique is not defined for TLS 1.3 (RFC 8446 C.5, RFC 9266 1), which is what
mailward negotiates by preference. A maintained binding cannot help on the
stdlib's objects: pyOpenSSL's ``Connection.export_keying_material`` works on
pyOpenSSL's own connections only, over the OpenSSL that the ``cryptography``
wheel links statically, not the libssl behind ``_ssl`` (see
:mod:`mailward.tls.native`).

So, where ``ssl`` does not offer "tls-exporter", this module calls OpenSSL's
``SSL_export_keying_material`` through ctypes, on the very ``SSL *`` that CPython's
``_ssl`` module holds: it is the field right after ``PyObject_HEAD`` and the socket
weakref in ``PySSLSocket`` (``Modules/_ssl.c``; the same field sslkeylog and sabctools
read the same way). That is done only where the layout is known (CPython 3.11 to
3.13, not free-threaded, on the libssl ``_ssl`` is linked against), after sanity
checks, and only once the start-up probe (:mod:`mailward.tls.native_probe`) has
made those calls in a forked child, on a real in-memory TLS 1.3 handshake, and
seen them work: a wrong guess crashes that child, not a worker. Anywhere else
:func:`tls_exporter` returns ``None`` and SCRAM-SHA-256-PLUS is not offered
(SCRAM-SHA-256 still is); the configuration check says so, and refuses
``scram_plus = "advertised"``. Only TLS 1.3 connections get a binding: RFC 9266 3
allows TLS 1.2 only with extended master secret, which ``ssl`` cannot tell us.
"""

from __future__ import annotations

import ctypes
import functools
import ssl
import sys
import sysconfig
from typing import Any

LABEL = b"EXPORTER-Channel-Binding"
LENGTH = 32
TLS1_3_VERSION = 0x0304
TLS_EXPORTER = "tls-exporter"


def stdlib_has_exporter() -> bool:
    """Whether the running ``ssl`` offers "tls-exporter" itself (a future version)."""
    return TLS_EXPORTER in ssl.CHANNEL_BINDING_TYPES


@functools.cache
def _libssl() -> tuple[Any | None, str]:
    """OpenSSL's libssl as ``_ssl`` uses it, with the two functions typed; or None and why."""
    # the same CPython range as tls/native.py: the struct layouts were checked there
    version = ".".join(map(str, sys.version_info[:2]))
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return None, (
            f"{sys.implementation.name} {version} is not one of the interpreters whose PySSLSocket "
            "layout is known (CPython 3.11 to 3.13)"
        )
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None, "the object header differs in free-threaded builds"
    import _ssl  # noqa: PLC0415 - the C module whose structure we rely on

    try:
        lib = ctypes.CDLL(getattr(_ssl, "__file__", None))  # dlsym also searches its libssl
        export = lib.SSL_export_keying_material
        version_of = lib.SSL_version
    except (OSError, AttributeError):
        return None, "the libssl functions are not reachable through _ssl (a statically linked _ssl?)"
    export.restype = ctypes.c_int
    export.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                       ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    version_of.restype = ctypes.c_int
    version_of.argtypes = [ctypes.c_void_p]
    return lib, ""


def unusable_reason() -> str:
    """Why the ctypes call cannot even be tried here, or "" when it can (the probe decides)."""
    return _libssl()[1]


def _ssl_pointer(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> int | None:
    inner = getattr(ssl_object, "_sslobj", None)
    if inner is None or type(inner).__module__ != "_ssl" or type(inner).__name__ != "_SSLSocket":
        return None
    pointer_size = ctypes.sizeof(ctypes.c_void_p)
    offset = object.__basicsize__ + pointer_size  # PyObject_HEAD, then PyObject *Socket
    if type(inner).__basicsize__ < offset + pointer_size:
        return None
    return ctypes.c_void_p.from_address(id(inner) + offset).value


def tls_exporter(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes | None:
    """The RFC 9266 channel binding of a handshaken TLS 1.3 connection, or ``None``.

    Call it after the handshake, from the thread that owns the connection.
    """
    if ssl_object.version() != "TLSv1.3":
        return None
    if not stdlib_has_exporter():
        from mailward.tls.native_probe import features  # noqa: PLC0415 - it imports this module

        if not features().works(TLS_EXPORTER):
            return None
    return unprobed_tls_exporter(ssl_object)


def unprobed_tls_exporter(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes | None:
    """:func:`tls_exporter` without asking the probe: only the probe's child calls this directly."""
    if ssl_object.version() != "TLSv1.3":
        return None
    if stdlib_has_exporter():
        return ssl_object.get_channel_binding(TLS_EXPORTER)
    lib, _ = _libssl()
    if lib is None:
        return None
    pointer = _ssl_pointer(ssl_object)
    if not pointer:
        return None
    if lib.SSL_version(pointer) != TLS1_3_VERSION:  # sanity: the pointer is this connection
        return None
    out = ctypes.create_string_buffer(LENGTH)
    # RFC 9266 2: label "EXPORTER-Channel-Binding", zero-length context, 32 bytes
    ok = lib.SSL_export_keying_material(pointer, out, LENGTH, LABEL, len(LABEL), b"", 0, 1)
    if ok != 1:
        return None
    return out.raw
