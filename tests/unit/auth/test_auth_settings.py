"""The [auth] section: defaults and checks through the schema engine."""

from __future__ import annotations

from pathlib import Path

from mailward.config.auth import AuthSettings
from mailward.config.problems import Problem
from mailward.config.schema import BuildContext, build
from mailward.config.secrets import SecretsSettings


def _build(cls: type, data: dict) -> tuple[object, list[Problem]]:  # type: ignore[type-arg]
    problems: list[Problem] = []
    return build(cls, data, "auth", BuildContext(Path("/data")), problems), problems


def test_defaults() -> None:
    s = AuthSettings()
    assert (s.delay_after, s.ip_block_after, s.account_block_after, s.block_duration) == (3, 10, 30, 900.0)
    assert s.allowlist == ()  # loopback too is throttled: a local proxy would forward any guesses
    assert s.known_address_ttl == 30 * 86400


def test_values_and_problems() -> None:
    built, problems = _build(AuthSettings, {"delay_after": 5, "allowlist": ["10.0.0.0/8", "2001:db8::/32"]})
    assert problems == [] and isinstance(built, AuthSettings) and built.delay_after == 5
    built, problems = _build(
        AuthSettings,
        {"delay_after": 0, "delay_factor": 0.5, "allowlist": ["not a net"], "ipv6_prefix": 8, "blok": 1},
    )
    assert built is None
    assert sorted(p.key for p in problems) == [
        "auth.allowlist", "auth.blok", "auth.delay_after", "auth.delay_factor", "auth.ipv6_prefix"
    ]
    assert all(p.fix for p in problems)


def test_secrets_paths_resolve_against_data_dir() -> None:
    problems: list[Problem] = []
    built = build(SecretsSettings, {"master_key_file": "keys/mk"}, "secrets", BuildContext(Path("/data")),
                  problems)
    assert isinstance(built, SecretsSettings) and built.master_key_file == "/data/keys/mk"
    assert SecretsSettings().store_file == "secrets/sealed.json"
