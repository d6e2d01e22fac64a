"""The protocols grammar and the rest of the policy, value by value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.config.problems import Severity
from mailward.config.tls import TlsSettings
from mailward.tls.policy import (
    INTERMEDIATE_DHE,
    INTERMEDIATE_ECDHE,
    TLS13_SUITES,
    VERSIONS,
    parse_protocols,
    resolve_policy,
)

KEY = "tls.protocols"


def versions(text: str, *, legacy: bool = False) -> tuple[str, ...]:
    parsed, problems = parse_protocols(text, KEY, allow_legacy=legacy)
    assert parsed is not None, problems
    assert all(p.severity is Severity.WARNING for p in problems)
    return parsed.names


def error(text: str, *, legacy: bool = False) -> str:
    parsed, problems = parse_protocols(text, KEY, allow_legacy=legacy)
    assert parsed is None
    assert problems and all(p.key == KEY and p.fix for p in problems)
    return " | ".join(p.message for p in problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1", ("TLSv1.2", "TLSv1.3")),  # the default
        ("+ALL:-SSLv3:-TLSv1.0:-TLSv1.1:-TLSv1.2", ("TLSv1.3",)),  # the TLS 1.3 example
        ("+ALL:-TLSv1.0:-TLSv1.1", ("TLSv1.2", "TLSv1.3")),
        ("+TLSv1.2", ("TLSv1.2",)),
        ("+TLSv1.3", ("TLSv1.3",)),
        ("+TLSv1.2:+TLSv1.3", ("TLSv1.2", "TLSv1.3")),
        ("+TLSv1.3:+TLSv1.2", ("TLSv1.2", "TLSv1.3")),
        ("+ALL:-TLSv1.3:-TLSv1.0:-TLSv1.1", ("TLSv1.2",)),
        ("-ALL:+TLSv1.2", ("TLSv1.2",)),
        ("+ALL:-ALL:+TLSv1.3", ("TLSv1.3",)),
        ("+TLSv1.2:-TLSv1.2:+TLSv1.3", ("TLSv1.3",)),  # left to right
        ("-SSLv2:-SSLv3:+TLSv1.2:+TLSv1.3", ("TLSv1.2", "TLSv1.3")),
        (" +all : -tlsv1.0 : -TLSV1.1 ", ("TLSv1.2", "TLSv1.3")),  # case and spaces
    ],
)
def test_protocol_lists(text: str, expected: tuple[str, ...]) -> None:
    assert versions(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+ALL", ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")),
        ("+ALL:-SSLv2:-SSLv3", ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")),
        ("+TLSv1.0:+TLSv1.1:+TLSv1.2", ("TLSv1.0", "TLSv1.1", "TLSv1.2")),
        ("+TLSv1:+TLSv1.1:+TLSv1.2", ("TLSv1.0", "TLSv1.1", "TLSv1.2")),  # alias
        ("+TLSv1.1:+TLSv1.2:+TLSv1.3", ("TLSv1.1", "TLSv1.2", "TLSv1.3")),
        ("+TLSv1.0", ("TLSv1.0",)),
        ("+TLSv1.1", ("TLSv1.1",)),
    ],
)
def test_legacy_versions_with_opt_in_warn(text: str, expected: tuple[str, ...]) -> None:
    assert versions(text, legacy=True) == expected
    _, problems = parse_protocols(text, KEY, allow_legacy=True)
    assert [p.severity for p in problems] == [Severity.WARNING]
    assert "RFC 8996" in problems[0].message


@pytest.mark.parametrize(
    "text", ["+ALL", "+TLSv1.0:+TLSv1.1:+TLSv1.2:+TLSv1.3", "+TLSv1:+TLSv1.1:+TLSv1.2", "+TLSv1.1"]
)
def test_legacy_versions_without_opt_in_are_errors(text: str) -> None:
    message = error(text)
    assert "RFC 8996" in message
    _, problems = parse_protocols(text, KEY)
    assert "allow_legacy_tls = true" in problems[0].fix


@pytest.mark.parametrize("token", ["+SSLv2", "+SSLv3", "+sslv3"])
def test_ssl_versions_are_refused_as_broken(token: str) -> None:
    message = error(f"{token}:+TLSv1.2", legacy=True)
    assert "broken" in message
    assert "POODLE" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("-ALL", "leaves no protocol"),
        ("+TLSv1.2:-TLSv1.2", "leaves no protocol"),
        ("-SSLv2:-SSLv3", "leaves no protocol"),
        ("+TLSv1.0:+TLSv1.3", "unbroken range"),
        ("+ALL:-TLSv1.1:-TLSv1.2", "unbroken range"),
        ("+TLSv1.0:+TLSv1.2", "unbroken range"),
        ("+TLSv1.4", "unknown protocol"),
        ("+TLS1.2", "unknown protocol"),
        ("TLSv1.2", "no + or -"),
        ("+ALL::-TLSv1.0", "empty item"),
        ("+ALL:-TLSv1.0:-TLSv1.1:", "empty item"),
    ],
)
def test_protocol_errors(text: str, words: str) -> None:
    assert words in error(text, legacy=True)


def test_hole_error_names_the_value_and_the_gap() -> None:
    _, problems = parse_protocols("+TLSv1.0:+TLSv1.3", KEY, allow_legacy=True)
    assert '"+TLSv1.0:+TLSv1.3"' in problems[0].message
    assert "TLSv1.1, TLSv1.2" in problems[0].message
    assert "TLSv1.1, TLSv1.2" in problems[0].fix


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("TLSv1.2+TLSv1.3", 'write "+TLSv1.2:+TLSv1.3"'),
        ("+TLSv1.2+TLSv1.3", 'write "+TLSv1.2:+TLSv1.3"'),
        ("+ALL-TLSv1.0-TLSv1.1", 'write "+ALL:-TLSv1.0:-TLSv1.1"'),
    ],
)
def test_items_without_colons_get_the_list_with_colons(text: str, fix: str) -> None:
    _, problems = parse_protocols(text, KEY)
    assert [p.fix for p in problems] == [fix]
    assert parse_protocols(fix.split('"')[1], KEY)[1] == []  # and what it suggests parses


def test_typo_gets_a_suggestion() -> None:
    _, problems = parse_protocols("+ALL:-TLSv1.O", KEY)
    assert problems[0].fix.startswith('did you mean "-TLSv1.')


@given(
    st.lists(
        st.sampled_from(["+", "-"]).flatmap(
            lambda s: st.sampled_from([s + t for t in ("ALL", "SSLv2", "SSLv3", "TLSv1", *VERSIONS)])
        ),
        max_size=8,
    )
)
def test_any_list_is_a_range_or_an_error(tokens: list[str]) -> None:
    parsed, problems = parse_protocols(":".join(tokens), KEY, allow_legacy=True)
    if parsed is None:
        assert any(p.severity is Severity.ERROR for p in problems)
    else:
        names = parsed.names
        assert names and list(names) == list(
            VERSIONS[VERSIONS.index(names[0]) : VERSIONS.index(names[-1]) + 1]
        )


# --- the rest of the policy ------------------------------------------------------------


def test_default_policy_is_mozilla_intermediate() -> None:
    policy, problems = resolve_policy(TlsSettings(), "tls")
    assert problems == []
    assert policy is not None
    assert policy.versions.names == ("TLSv1.2", "TLSv1.3")
    assert policy.ciphers.startswith(INTERMEDIATE_ECDHE + ":")
    assert "!kDHE" in policy.ciphers
    assert policy.ciphersuites == TLS13_SUITES
    assert policy.groups == ("X25519", "P-256", "P-384")
    assert not policy.dhe


def test_dhe_adds_the_dhe_rsa_suites() -> None:
    policy, _ = resolve_policy(TlsSettings(dhe=True), "tls")
    assert policy is not None and policy.dhe
    assert INTERMEDIATE_DHE in policy.ciphers
    assert "!kDHE" not in policy.ciphers


def test_modern_profile_is_tls13_only() -> None:
    policy, problems = resolve_policy(TlsSettings(profile="modern"), "tls")
    assert problems == [] and policy is not None
    assert policy.versions.names == ("TLSv1.3",)
    assert policy.modern


def test_modern_profile_without_tls13_is_an_error() -> None:
    _, problems = resolve_policy(
        TlsSettings(profile="modern", protocols="+TLSv1.2"), "listener[0].tls_options"
    )
    assert problems[0].key == "listener[0].tls_options.protocols"
    assert "TLS 1.3 only" in problems[0].message


def test_legacy_opt_in_lowers_the_security_level_and_adds_cbc_suites() -> None:
    policy, problems = resolve_policy(TlsSettings(protocols="+ALL", allow_legacy_tls=True), "tls")
    assert policy is not None
    assert [p.severity for p in problems] == [Severity.WARNING]
    assert policy.ciphers.endswith("@SECLEVEL=0")
    assert "ECDHE-RSA-AES128-SHA" in policy.ciphers


@pytest.mark.parametrize(
    ("ciphers", "words"),
    [
        ("NOSUCHCIPHER", "selects no usable cipher"),
        ("aNULL", "selects no usable cipher"),
        ("HIGH:@SECLEVEL=0", "@SECLEVEL"),
    ],
)
def test_bad_cipher_lists(ciphers: str, words: str) -> None:
    _, problems = resolve_policy(TlsSettings(ciphers=ciphers), "tls")
    assert problems[0].key == "tls.ciphers"
    assert words in problems[0].message


def test_cipher_list_without_forward_secrecy_warns() -> None:
    policy, problems = resolve_policy(
        TlsSettings(ciphers="AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"), "tls"
    )
    assert policy is not None
    assert problems[0].severity is Severity.WARNING
    assert "AES128-GCM-SHA256" in problems[0].message


def test_dhe_suites_need_dhe() -> None:
    policy, _ = resolve_policy(
        TlsSettings(ciphers="DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"), "tls"
    )
    assert policy is not None and policy.ciphers.endswith("!kDHE")


def test_ciphersuites() -> None:
    policy, _ = resolve_policy(
        TlsSettings(ciphersuites="TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"), "tls"
    )
    assert policy is not None
    assert policy.ciphersuites == ("TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256")
    _, problems = resolve_policy(TlsSettings(ciphersuites="TLS_AES_128_CCM_8_SHA256"), "tls")
    assert problems[0].key == "tls.ciphersuites"


@pytest.mark.parametrize(
    ("curves", "groups"),
    [
        ("X25519:prime256v1:secp384r1", ("X25519", "P-256", "P-384")),
        ("secp256r1", ("P-256",)),
        ("P-384:x25519:P-384", ("P-384", "X25519")),
    ],
)
def test_curves(curves: str, groups: tuple[str, ...]) -> None:
    policy, _ = resolve_policy(TlsSettings(curves=curves), "tls")
    assert policy is not None and policy.groups == groups


@pytest.mark.parametrize("curves", ["", "brainpoolP256r1", "X25519:nope"])
def test_bad_curves(curves: str) -> None:
    _, problems = resolve_policy(TlsSettings(curves=curves), "tls")
    assert problems[0].key == "tls.curves"
