"""SCRAM-SHA-256-PLUS settings against what the native probe found: refused, not dropped."""

from __future__ import annotations

from mailward.config.model import Config, ListenerSettings
from mailward.config.problems import Severity
from mailward.server.preflight import scram_plus_problems
from mailward.tls.native_probe import NativeFeatures


def tls_listener(**kw: object) -> ListenerSettings:
    values: dict[str, object] = {"name": "submission", "protocol": "smtp", "role": "submission",
                                 "address": "127.0.0.1:0", "tls": "starttls", **kw}
    return ListenerSettings(**values)  # type: ignore[arg-type]


def test_scram_plus_needs_the_exporter() -> None:
    missing = NativeFeatures({"tls-exporter": "the probe crashed: killed by SIGSEGV"})
    advertised = Config(scram_plus="advertised", listener=(tls_listener(scram_plus="advertised"),))
    [problem] = scram_plus_problems(advertised, missing)
    assert problem.severity is Severity.ERROR
    assert str(problem) == (
        'scram_plus: is "advertised", but SCRAM-SHA-256-PLUS cannot be offered: its tls-exporter channel '
        "binding needs SSL_export_keying_material (ssl offers only tls-unique), and the probe crashed: killed "
        'by SIGSEGV: set scram_plus = "on-request" (SCRAM-SHA-256 stays on offer), or run mailward on '
        "CPython 3.11 to 3.13 with the shared libssl its _ssl module links"
    )
    # a listener's own setting is named as that listener's
    one = Config(listener=(tls_listener(), tls_listener(name="other", scram_plus="advertised")))
    problems = scram_plus_problems(one, missing)
    assert [(p.key, p.severity) for p in problems] == [
        ("scram_plus", Severity.WARNING), ("listener[1].scram_plus", Severity.ERROR)]
    assert "clients that ask for it get SCRAM-SHA-256 only" in problems[0].message
    # nothing to say without TLS listeners, or with the exporter working
    assert scram_plus_problems(Config(listener=(tls_listener(tls="none", scram_plus="advertised"),)), missing) == []
    assert scram_plus_problems(advertised, NativeFeatures()) == []
