"""Try the ctypes reaches into OpenSSL once, in a forked child, before trusting them.

:mod:`mailward.tls.native` (TLS 1.3 suites, groups) and
:mod:`mailward.auth.channel_binding` (tls-exporter) read pointers out of CPython's
private ``_ssl`` structures. Their sanity checks catch most wrong guesses, but a
guess wrong enough crashes the process, and in a worker every connection on it.
So :func:`probe` forks a child that makes every one of those calls on throwaway
objects: suites and groups on fresh contexts (checked to take effect, by what the
context lists and by handshakes that must fail or succeed), the exporter on both
ends of a real TLS 1.3 handshake between two ``SSLObject`` over ``MemoryBIO``
(both ends must agree, and two connections must differ). The child reports over a
pipe and exits 0; when it is killed by a signal (SIGSEGV), exits otherwise or
does not answer in time, every feature it was to try is marked unavailable.

``serve`` runs it before the workers fork (its start-up check does, through
:func:`features`, which caches the result for the process, so the workers inherit
it) and logs one line (:func:`log_features`); ``mailward config check`` prints
that line. The code that uses a feature asks :func:`features` first, and the
configuration checks refuse a setting that needs a feature found missing.

A feature the running ``ssl`` module offers itself (a later CPython) needs no
ctypes and is not probed.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import logging
import os
import resource
import select
import signal
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from mailward.auth import channel_binding
from mailward.tls import certs, native

log = logging.getLogger(__name__)

TLS13_CIPHERSUITES = native.TLS13_CIPHERSUITES
GROUPS = native.GROUPS
TLS_EXPORTER = channel_binding.TLS_EXPORTER
FEATURES: tuple[str, ...] = (TLS13_CIPHERSUITES, GROUPS, TLS_EXPORTER)

TIMEOUT_SECONDS = 10.0
# For tests only: the name of a feature; the probe's child crashes (a real SIGSEGV) just
# before it tries that one, as a wrong struct layout would make it crash.
CRASH_ENV = "MAILWARD_TEST_NATIVE_PROBE_CRASH"

Hook = Callable[[str], object]
"""Called in the child with each feature's name before it is tried (tests only)."""


@dataclass(frozen=True)
class NativeFeatures:
    """What the probe found: ``missing`` maps each unavailable feature to why."""

    missing: Mapping[str, str] = field(default_factory=dict)

    def works(self, feature: str) -> bool:
        return feature not in self.missing

    def why(self, feature: str) -> str:
        return self.missing.get(feature, "")

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(f for f in FEATURES if self.works(f))

    def summary(self) -> str:
        """One line: ``native OpenSSL features: tls13-ciphersuites, groups, tls-exporter``,
        and what is missing and why."""
        line = f"native OpenSSL features: {', '.join(self.active) or 'none'}"
        by_reason: dict[str, list[str]] = {}
        for feature in FEATURES:
            if not self.works(feature):
                by_reason.setdefault(self.why(feature), []).append(feature)
        missing = "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())
        return f"{line}; unavailable: {missing}" if missing else line


def _stdlib_has(feature: str) -> bool:
    return channel_binding.stdlib_has_exporter() if feature == TLS_EXPORTER else native.stdlib_has(feature)


def probe(*, before_feature: Hook | None = None, timeout: float = TIMEOUT_SECONDS) -> NativeFeatures:
    """Fork a child that tries every ctypes feature; what works, never cached (see :func:`features`)."""
    tried = tuple(f for f in FEATURES if not _stdlib_has(f))
    if not tried:
        return NativeFeatures()
    try:
        with tempfile.TemporaryDirectory(prefix="mailward-probe-") as directory:
            certfile, keyfile = _throwaway_pair(Path(directory))
            reasons, failure = _run_child(tried, certfile, keyfile, before_feature, timeout)
    except OSError as exc:  # no temporary directory, no fork: nothing was tried, nothing is trusted
        reasons, failure = {}, f"the probe could not run: {exc}"
    if failure:
        return NativeFeatures({f: failure for f in tried})
    missing = {f: reasons.get(f) or "the probe did not report it" for f in tried if reasons.get(f) != ""}
    return NativeFeatures(missing)


def probe_from_env() -> NativeFeatures:
    """:func:`probe`, with the crash that :data:`CRASH_ENV` asks for (tests only)."""
    crash_at = os.environ.get(CRASH_ENV, "")

    def crash(feature: str) -> None:
        if feature == crash_at:
            ctypes.string_at(0)  # reads address 0: SIGSEGV

    return probe(before_feature=crash if crash_at else None)


class FeatureCache:
    """The result of one probe, kept for the process (and the workers it forks)."""

    def __init__(self, run: Callable[[], NativeFeatures] = probe_from_env) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._result: NativeFeatures | None = None

    def get(self) -> NativeFeatures:
        with self._lock:
            if self._result is None:
                self._result = self._run()
            return self._result


_CACHE = FeatureCache()


def features() -> NativeFeatures:
    """What works here: probed on the first call, the same answer after."""
    return _CACHE.get()


def log_features() -> NativeFeatures:
    """Log the one line that says which native features are active (serve, at start)."""
    found = features()
    (log.info if not found.missing else log.warning)("%s", found.summary())
    return found


# --- the parent's side ---------------------------------------------------------------


def _throwaway_pair(directory: Path) -> tuple[str, str]:
    key = certs.new_key("ecdsa-p256")
    cert = certs.self_signed(key, ["probe.invalid"], 1)
    certfile, keyfile = directory / "probe.crt", directory / "probe.key"
    certfile.write_bytes(certs.cert_pem(cert))
    keyfile.write_bytes(certs.key_pem(key))
    keyfile.chmod(0o600)
    return str(certfile), str(keyfile)


def _run_child(
    tried: tuple[str, ...], certfile: str, keyfile: str, hook: Hook | None, timeout: float
) -> tuple[dict[str, str], str]:
    """The child's report (feature -> "" or why not), or ``({}, why the child failed)``."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # 3.12+ warns on fork in a threaded process; the child only runs the probe and
        # exits, and the deadline below covers a lock left held by another thread
        warnings.filterwarnings("ignore", r".*fork\(\) may lead to deadlocks", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its verdict is what the tests check
        os.close(read_end)
        _child(write_end, tried, certfile, keyfile, hook)
    os.close(write_end)
    try:
        data, timed_out = _read_all(read_end, timeout)
    finally:
        os.close(read_end)
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return {}, f"the probe did not answer within {timeout:g} s"
    if os.WIFSIGNALED(status):
        return {}, f"the probe crashed: killed by {signal.Signals(os.WTERMSIG(status)).name}"
    if os.WEXITSTATUS(status) != 0:
        return {}, f"the probe failed: exit status {os.WEXITSTATUS(status)}"
    try:
        report = json.loads(data)
    except ValueError:
        return {}, "the probe's report was unreadable"
    if not isinstance(report, dict) or not all(isinstance(v, str) for v in report.values()):
        return {}, "the probe's report was unreadable"
    return {str(k): v for k, v in report.items()}, ""


def _read_all(fd: int, timeout: float) -> tuple[bytes, bool]:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


# --- the child's side ----------------------------------------------------------------


def _child(
    write_end: int, tried: tuple[str, ...], certfile: str, keyfile: str, hook: Hook | None
) -> NoReturn:  # pragma: no cover - runs in the forked child
    code = 1
    try:
        faulthandler.disable()  # a crash here is an answer, not a bug report
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)  # never poke the parent's event loop
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file for a crash
        report = {}
        for feature in tried:
            if hook is not None:
                hook(feature)
            try:
                report[feature] = _CHECKS[feature](certfile, keyfile)
            except Exception as exc:
                report[feature] = f"the probe raised {type(exc).__name__}: {exc}"
        data = json.dumps(report).encode()
        while data:
            data = data[os.write(write_end, data):]
        code = 0
    finally:
        os._exit(code)


def _server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def _client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a throwaway certificate: nothing to verify
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def _handshake(sctx: ssl.SSLContext, cctx: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """A TLS 1.3 handshake in memory; raises ssl.SSLError when the two ends cannot agree."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = sctx.wrap_bio(s_in, s_out, server_side=True)
    client = cctx.wrap_bio(c_in, c_out, server_hostname="probe.invalid")
    done: set[ssl.SSLObject] = set()
    for _ in range(10):
        for side in (client, server):
            if side not in done:
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
                    done.add(side)
        c_in.write(s_out.read())
        s_in.write(c_out.read())
        if len(done) == 2:
            return server, client
    raise ssl.SSLError("the handshake did not finish")


def _check_suites(certfile: str, keyfile: str) -> str:
    reason = native.unusable_reason()
    if reason:
        return reason
    ctx = _server_context(certfile, keyfile)
    wanted = "TLS_AES_256_GCM_SHA384"
    if not native.unprobed_set_ciphersuites(ctx, (wanted,)):
        return "SSL_CTX_set_ciphersuites failed (or the SSL_CTX pointer did not check out)"
    if native.unprobed_set_ciphersuites(ctx, ("NO_SUCH_SUITE",)):
        return "SSL_CTX_set_ciphersuites accepted a suite that does not exist"
    listed = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"}
    if listed != {wanted}:
        return f"SSL_CTX_set_ciphersuites did not take effect (the context lists {sorted(listed)})"
    server, _ = _handshake(ctx, _client_context())
    cipher = server.cipher()
    if cipher is None or cipher[0] != wanted:
        return f"a handshake negotiated {cipher[0] if cipher else 'nothing'}, not {wanted}"
    return ""


def _check_groups(certfile: str, keyfile: str) -> str:
    reason = native.unusable_reason()
    if reason:
        return reason
    sctx, cctx = _server_context(certfile, keyfile), _client_context()
    if not (native.unprobed_set_groups(sctx, ("P-384",)) and native.unprobed_set_groups(cctx, ("X25519",))):
        return "SSL_CTX_set1_groups_list failed (or the SSL_CTX pointer did not check out)"
    if native.unprobed_set_groups(sctx, ("no-such-group",)):
        return "SSL_CTX_set1_groups_list accepted a group that does not exist"
    try:
        _handshake(sctx, cctx)
    except ssl.SSLError:
        pass  # no group in common: right
    else:
        return "a handshake succeeded without a group in common: the groups did not take effect"
    cctx = _client_context()
    native.unprobed_set_groups(cctx, ("P-384",))
    _handshake(sctx, cctx)  # a group in common: must succeed
    return ""


def _check_exporter(certfile: str, keyfile: str) -> str:
    reason = channel_binding.unusable_reason()
    if reason:
        return reason
    sctx, cctx = _server_context(certfile, keyfile), _client_context()
    server, client = _handshake(sctx, cctx)
    ours = channel_binding.unprobed_tls_exporter(server)
    theirs = channel_binding.unprobed_tls_exporter(client)
    if ours is None or len(ours) != channel_binding.LENGTH:
        return "SSL_export_keying_material gave nothing (or the SSL pointer did not check out)"
    if ours != theirs:
        return "the two ends of one connection exported different bindings"
    other, _ = _handshake(sctx, cctx)
    if channel_binding.unprobed_tls_exporter(other) == ours:
        return "two connections exported the same binding"
    return ""


_CHECKS: dict[str, Callable[[str, str], str]] = {
    TLS13_CIPHERSUITES: _check_suites,
    GROUPS: _check_groups,
    TLS_EXPORTER: _check_exporter,
}
