"""The start-up probe of the ctypes reaches into OpenSSL: real forks, real crashes."""

from __future__ import annotations

import ctypes
import os
import signal
import time

import pytest

from mailward.tls import native_probe
from mailward.tls.native_probe import FEATURES, FeatureCache, NativeFeatures, probe

ALL = "native OpenSSL features: tls13-ciphersuites, groups, tls-exporter"


def segfault(feature: str) -> None:
    if feature == "groups":
        ctypes.string_at(0)  # a real SIGSEGV in the child, as a wrong struct offset would give


def test_the_real_probe_finds_every_feature_on_this_machine() -> None:
    found = probe()
    assert found.missing == {}
    assert found.summary() == ALL
    assert native_probe.features().summary() == ALL  # what this process cached, and uses


def test_a_child_killed_by_sigsegv_leaves_every_feature_unavailable() -> None:
    found = probe(before_feature=segfault)
    # the crash came at the second feature, but the first one's verdict is not trusted either
    assert found.active == ()
    assert {found.why(f) for f in FEATURES} == {"the probe crashed: killed by SIGSEGV"}
    assert found.summary() == (
        "native OpenSSL features: none; unavailable: tls13-ciphersuites, groups, tls-exporter "
        "(the probe crashed: killed by SIGSEGV)"
    )


def test_other_deaths_of_the_child() -> None:
    killed = probe(before_feature=lambda feature: os.kill(os.getpid(), signal.SIGKILL))
    assert killed.why("tls-exporter") == "the probe crashed: killed by SIGKILL"
    failed = probe(before_feature=lambda feature: 1 / 0)
    assert failed.why("groups") == "the probe failed: exit status 1"
    started = time.monotonic()
    hung = probe(before_feature=lambda feature: time.sleep(60), timeout=0.5)
    assert hung.why("tls13-ciphersuites") == "the probe did not answer within 0.5 s"
    assert time.monotonic() - started < 10  # the hung child was killed, not waited for


def test_the_result_is_cached_for_the_process() -> None:
    runs: list[NativeFeatures] = []

    def crashing_probe() -> NativeFeatures:
        runs.append(probe(before_feature=segfault))
        return runs[-1]

    cache = FeatureCache(crashing_probe)
    first = cache.get()
    assert not first.works("tls-exporter")
    assert cache.get() is first and len(runs) == 1  # asked again: no second fork


def test_the_crash_hook_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native_probe.CRASH_ENV, "tls-exporter")
    assert native_probe.probe_from_env().why("groups") == "the probe crashed: killed by SIGSEGV"
    monkeypatch.delenv(native_probe.CRASH_ENV)
    assert native_probe.probe_from_env().summary() == ALL


def test_the_native_calls_follow_what_the_probe_found(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    from mailward.auth.channel_binding import tls_exporter
    from mailward.tls import native

    missing = NativeFeatures(dict.fromkeys(FEATURES, "the probe crashed: killed by SIGSEGV"))
    monkeypatch.setattr(native_probe, "_CACHE", FeatureCache(lambda: missing))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert not native.available()
    assert not native.set_groups(ctx, ("X25519",))
    assert not native.set_ciphersuites(ctx, ("TLS_AES_256_GCM_SHA384",))

    class Tls13:  # no _sslobj: reaching for the pointer would fail the test, not return None
        def version(self) -> str:
            return "TLSv1.3"

        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"tls_exporter looked at {name} despite the probe")

    assert tls_exporter(Tls13()) is None  # type: ignore[arg-type]


def test_a_probe_that_cannot_fork_trusts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    found = probe()
    assert found.active == ()
    assert found.why("groups") == "the probe could not run: [Errno 11] Resource temporarily unavailable"
