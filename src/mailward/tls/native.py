"""Two OpenSSL settings Python's ``ssl`` module does not expose in 3.11 to 3.13.

* TLS 1.3 cipher suites: ``SSLContext.set_ciphers()`` only sets TLS 1.2 and
  below; OpenSSL's ``SSL_CTX_set_ciphersuites()`` has no Python binding.
* Key-exchange groups: ``SSLContext.set_ecdh_curve()`` takes one curve (and no
  X25519); OpenSSL's ``SSL_CTX_set1_groups_list()`` takes an ordered list.

Supported APIs first. Checked on CPython 3.11.7, 3.12.1 and 3.13.0: none has
``SSLContext.set_ciphersuites`` or ``set_groups`` (``set_ecdh_curve`` only).
CPython added both later (python/cpython gh-137197 and gh-136306, merged in
July 2025, so 3.15); where the running ``ssl`` has them they are used and
nothing below is reached. A maintained binding cannot stand in on the stdlib's
objects: pyOpenSSL's ``OpenSSL.SSL.Context`` makes its own ``SSL_CTX`` and has
no way to adopt an ``ssl.SSLContext`` (nor a pointer), and it calls the OpenSSL
that the ``cryptography`` wheel links statically (here OpenSSL 3.5.6 inside
``_rust.abi3.so``, which links no libssl), while ``_ssl`` uses the system's
``libssl.so.3`` (3.0.19): an ``SSL_CTX`` of one library handed to the other
would be one struct read by two different OpenSSL builds. ``cryptography``
itself has no TLS API. So the server stays on the stdlib's ``ssl`` and these
two calls go through ``ctypes``.

Mozilla's profiles (intermediate and modern alike) ask for groups X25519, P-256
and P-384 only (OpenSSL's default adds X448, P-521 and the ffdhe groups), so we
call those two functions on the ``SSL_CTX`` behind an ``SSLContext``. That
pointer is the first field after the object header of CPython's
``PySSLContext`` (true from 3.6 to 3.13). Before any call we check that the
pointer really is the context: ``SSL_CTX_get_options()`` through it must equal
``ctx.options``, after we set a distinctive option bit through Python.

A wrong guess would crash the process, and with it every connection of a
worker, so the calls are first made in a forked child at start-up
(:mod:`mailward.tls.native_probe`); :func:`set_groups`,
:func:`set_ciphersuites` and :func:`available` use only what that probe found
working, and the configuration checks refuse settings that need what it did
not find (``tls.curves``, ``tls.ciphersuites``).
"""

from __future__ import annotations

import ctypes
import functools
import ssl
import sys
from collections.abc import Callable
from typing import Any

_SSL_CTRL_SET_GROUPS_LIST = 92  # openssl/ssl.h
KNOWN_LAYOUTS = ((3, 11), (3, 13))  # the CPython versions whose PySSLContext layout we know

TLS13_CIPHERSUITES = "tls13-ciphersuites"
GROUPS = "groups"


def stdlib_has(feature: str) -> bool:
    """Whether the running ``ssl`` module offers ``feature`` itself (no ctypes needed)."""
    name = {TLS13_CIPHERSUITES: "set_ciphersuites", GROUPS: "set_groups"}[feature]
    return hasattr(ssl.SSLContext, name)


@functools.cache
def _lib() -> tuple[Any | None, str]:
    """libssl as ``_ssl`` links it, with the functions typed, or None and why not."""
    low, high = KNOWN_LAYOUTS
    version = ".".join(map(str, sys.version_info[:2]))
    if sys.implementation.name != "cpython" or not low <= sys.version_info[:2] <= high:
        return None, (
            f"{sys.implementation.name} {version} is not one of the interpreters whose PySSLContext "
            "layout is known (CPython 3.11 to 3.13)"
        )
    try:
        import _ssl  # noqa: PLC0415 - the extension module links libssl

        lib = ctypes.CDLL(_ssl.__file__)
        get_options = lib.SSL_CTX_get_options
        ctrl = lib.SSL_CTX_ctrl
        set_suites = lib.SSL_CTX_set_ciphersuites
    except (OSError, AttributeError, ImportError):
        return None, "the libssl functions are not reachable through _ssl (a statically linked _ssl?)"
    get_options.restype = ctypes.c_uint64
    get_options.argtypes = [ctypes.c_void_p]
    ctrl.restype = ctypes.c_long
    ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    set_suites.restype = ctypes.c_int
    set_suites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib, ""


def unusable_reason() -> str:
    """Why the ctypes calls cannot even be tried here, or "" when they can (the probe decides)."""
    return _lib()[1]


def _ssl_ctx(ctx: ssl.SSLContext) -> int | None:
    lib, _ = _lib()
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


def _probed(feature: str) -> bool:
    from mailward.tls.native_probe import features  # noqa: PLC0415 - it imports this module

    return features().works(feature)


def available() -> bool:
    """Whether groups and TLS 1.3 suites can be set here (the start-up probe found both working)."""
    return _probed(TLS13_CIPHERSUITES) and _probed(GROUPS)


def set_groups(ctx: ssl.SSLContext, groups: tuple[str, ...]) -> bool:
    """The groups of ``ctx``, most preferred first; False when unavailable or OpenSSL refuses."""
    if stdlib_has(GROUPS) or _probed(GROUPS):
        return unprobed_set_groups(ctx, groups)
    return False


def set_ciphersuites(ctx: ssl.SSLContext, suites: tuple[str, ...]) -> bool:
    """The TLS 1.3 suites of ``ctx``; False when unavailable or OpenSSL refuses."""
    if stdlib_has(TLS13_CIPHERSUITES) or _probed(TLS13_CIPHERSUITES):
        return unprobed_set_ciphersuites(ctx, suites)
    return False


def unprobed_set_groups(ctx: ssl.SSLContext, groups: tuple[str, ...]) -> bool:
    """``SSLContext.set_groups`` or ``SSL_CTX_set1_groups_list``, without asking the probe:
    only the probe's child calls this directly."""
    return _set_list(ctx, groups, GROUPS, "set_groups",
                     lambda lib, pointer, text: lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, text))


def unprobed_set_ciphersuites(ctx: ssl.SSLContext, suites: tuple[str, ...]) -> bool:
    """``SSLContext.set_ciphersuites`` or ``SSL_CTX_set_ciphersuites``, without asking the
    probe: only the probe's child calls this directly."""
    return _set_list(ctx, suites, TLS13_CIPHERSUITES, "set_ciphersuites",
                     lambda lib, pointer, text: lib.SSL_CTX_set_ciphersuites(pointer, text))


def _set_list(ctx: ssl.SSLContext, items: tuple[str, ...], feature: str, method: str,
              native: Callable[[Any, Any, bytes], Any]) -> bool:
    """Set a colon-separated OpenSSL list: through the stdlib's ``method`` where this
    Python has it (CPython 3.15), else through ``native`` on the context's ``SSL_CTX``."""
    text = ":".join(items)
    if stdlib_has(feature):
        try:
            getattr(ctx, method)(text)
        except ssl.SSLError:
            return False
        return True
    pointer = _ssl_ctx(ctx)
    lib, _ = _lib()
    if pointer is None or lib is None:
        return False
    return int(native(lib, pointer, text.encode())) == 1
