"""The ``tls-exporter`` channel binding (RFC 9266) of a TLS 1.3 connection.

RFC 9266 2: 32 bytes from the TLS exporter (RFC 8446 7.5) with the label
"EXPORTER-Channel-Binding" and an empty context. Python's ``ssl`` module offers
only "tls-unique" through ``get_channel_binding`` (3.11 to 3.14 at least: see
``ssl.CHANNEL_BINDING_TYPES``), and tls-unique is not defined for TLS 1.3
(RFC 8446 C.5, RFC 9266 1), which is what mailward negotiates by preference.

So, where ``ssl`` does not offer "tls-exporter", this module calls OpenSSL's
``SSL_export_keying_material`` through ctypes, on the very ``SSL *`` that CPython's
``_ssl`` module holds: it is the field right after ``PyObject_HEAD`` and the socket
weakref in ``PySSLSocket`` (``Modules/_ssl.c``; the same field sslkeylog and sabctools
read the same way). That is
done only where the layout is known: CPython 3.11 to 3.14, not free-threaded, on
the libssl ``_ssl`` is linked against, after sanity checks. Anywhere else
:func:`tls_exporter` returns ``None`` and SCRAM-SHA-256-PLUS is simply not offered
(SCRAM-SHA-256 still is). Only TLS 1.3 connections get a binding: RFC 9266 3 allows
TLS 1.2 only with extended master secret, which ``ssl`` cannot tell us.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
import sys
import sysconfig
from typing import Any

log = logging.getLogger(__name__)

LABEL = b"EXPORTER-Channel-Binding"
LENGTH = 32
TLS1_3_VERSION = 0x0304

_lib: Any = None
_lib_loaded = False


def _libssl() -> Any:
    """OpenSSL's libssl as ``_ssl`` uses it, with the two functions typed; None if unusable."""
    global _lib, _lib_loaded  # noqa: PLW0603 - loaded once, lazily
    if _lib_loaded:
        return _lib
    _lib_loaded = True
    # the same CPython range as tls/native.py: the struct layouts were checked there
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return None
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None  # the object header differs in free-threaded builds
    import _ssl  # noqa: PLC0415 - the C module whose structure we rely on

    try:
        lib = ctypes.CDLL(getattr(_ssl, "__file__", None))  # dlsym also searches its libssl
        export = lib.SSL_export_keying_material
        version = lib.SSL_version
    except (OSError, AttributeError):
        log.info("tls-exporter unavailable: libssl symbols not found; no SCRAM-SHA-256-PLUS")
        return None
    export.restype = ctypes.c_int
    export.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                       ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    version.restype = ctypes.c_int
    version.argtypes = [ctypes.c_void_p]
    _lib = lib
    return lib


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
    if "tls-exporter" in ssl.CHANNEL_BINDING_TYPES:  # a future ssl module that has it
        return ssl_object.get_channel_binding("tls-exporter")
    lib = _libssl()
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
