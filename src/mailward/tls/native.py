"""Two OpenSSL settings Python's ``ssl`` module does not expose (as of 3.13).

* TLS 1.3 cipher suites: ``SSLContext.set_ciphers()`` only sets TLS 1.2 and
  below; OpenSSL's ``SSL_CTX_set_ciphersuites()`` has no Python binding.
* Key-exchange groups: ``SSLContext.set_ecdh_curve()`` takes one curve (and no
  X25519); OpenSSL's ``SSL_CTX_set1_groups_list()`` takes an ordered list.

Mozilla's profiles ask for groups X25519, P-256 and P-384 only (OpenSSL's
default adds X448, P-521 and the ffdhe groups), so we call those two functions
through ``ctypes`` on the ``SSL_CTX`` behind an ``SSLContext``. That pointer is
the first field after the object header of CPython's ``PySSLContext`` (true
from 3.6 to 3.13). Before any call we check that the pointer really is the
context: ``SSL_CTX_get_options()`` through it must equal ``ctx.options``, after
we set a distinctive option bit through Python. When anything does not match
(another interpreter, a statically linked ``_ssl``, a future layout),
:func:`available` is False and callers fall back to what the stdlib can do.
"""

from __future__ import annotations

import ctypes
import functools
import ssl
import sys
from typing import Any

_SSL_CTRL_SET_GROUPS_LIST = 92  # openssl/ssl.h


@functools.cache
def _lib() -> Any | None:
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return None
    try:
        import _ssl  # noqa: PLC0415 - the extension module links libssl

        lib = ctypes.CDLL(_ssl.__file__)
        get_options = lib.SSL_CTX_get_options
        ctrl = lib.SSL_CTX_ctrl
        set_suites = lib.SSL_CTX_set_ciphersuites
    except (OSError, AttributeError, ImportError):
        return None
    get_options.restype = ctypes.c_uint64
    get_options.argtypes = [ctypes.c_void_p]
    ctrl.restype = ctypes.c_long
    ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    set_suites.restype = ctypes.c_int
    set_suites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


def _ssl_ctx(ctx: ssl.SSLContext) -> int | None:
    lib = _lib()
    if lib is None or not isinstance(ctx, ssl.SSLContext):
        return None
    pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not pointer:
        return None
    # verify: flip a harmless option through Python and read it back through C
    probe = ssl.OP_NO_TICKET
    before = ctx.options
    try:
        ctx.options |= probe
        seen_on = int(lib.SSL_CTX_get_options(pointer)) == int(ctx.options)
        ctx.options &= ~probe
        seen_off = int(lib.SSL_CTX_get_options(pointer)) == int(ctx.options)
    finally:
        ctx.options = before
    return int(pointer) if seen_on and seen_off else None


def available() -> bool:
    """Whether groups and TLS 1.3 suites can be set on this interpreter."""
    return _ssl_ctx(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)) is not None


def set_groups(ctx: ssl.SSLContext, groups: tuple[str, ...]) -> bool:
    """``SSL_CTX_set1_groups_list``; False when unavailable or OpenSSL refuses."""
    pointer = _ssl_ctx(ctx)
    lib = _lib()
    if pointer is None or lib is None:
        return False
    return int(lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, ":".join(groups).encode())) == 1


def set_ciphersuites(ctx: ssl.SSLContext, suites: tuple[str, ...]) -> bool:
    """``SSL_CTX_set_ciphersuites``; False when unavailable or OpenSSL refuses."""
    pointer = _ssl_ctx(ctx)
    lib = _lib()
    if pointer is None or lib is None:
        return False
    return int(lib.SSL_CTX_set_ciphersuites(pointer, ":".join(suites).encode())) == 1
