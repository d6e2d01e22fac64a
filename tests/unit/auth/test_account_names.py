"""The one spelling of domains, addresses and fingerprints."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.auth.accounts import names


@pytest.mark.parametrize(("given_", "stored"), [
    ("Example.ORG", "example.org"),
    ("example.org.", "example.org"),
    ("Bücher.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("mail-1.example.co.uk", "mail-1.example.co.uk"),
])
def test_domains_are_lowercase_a_labels(given_: str, stored: str) -> None:
    assert names.domain(given_) == stored


@pytest.mark.parametrize("bad", ["", "localhost", "-a.example", "a..example", "a_b.example", "exa mple.org",
                                 "a" * 64 + ".example", "[192.0.2.1]"])
def test_bad_domains_are_refused(bad: str) -> None:
    with pytest.raises(names.InvalidName):
        names.domain(bad)


@pytest.mark.parametrize(("given_", "stored"), [
    ("Alice@Example.org", "alice@example.org"),
    ("first.last+tag@example.org", "first.last+tag@example.org"),
    ("ÖSTEN@bücher.example", "östen@xn--bcher-kva.example"),
    ("STRASSE@example.org", "strasse@example.org"),
])
def test_addresses_fold_case(given_: str, stored: str) -> None:
    assert names.address(given_) == stored


@pytest.mark.parametrize("bad", ["alice", "@example.org", "alice@", "a%b@example.org", "a!b@example.org",
                                 '"a b"@example.org', "a..b@example.org", ".a@example.org",
                                 "x" * 65 + "@example.org"])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(names.InvalidName):
        names.address(bad)


def test_lookup_never_raises_and_refuses_routing() -> None:
    assert names.lookup_address("Bob", "EXAMPLE.org") == "bob@example.org"
    assert names.lookup_address("bob%remote.example", "example.org") is None
    assert names.lookup_address("remote!bob", "example.org") is None
    assert names.lookup_address('"bob"', "example.org") is None


def test_catch_all_alias_source() -> None:
    assert names.alias_address("@Example.org") == "@example.org"
    assert names.alias_address("Info@Example.org") == "info@example.org"


def test_fingerprint_spellings() -> None:
    digest = hashlib.sha256(b"cert").hexdigest()
    canonical = names.fingerprint(digest)
    assert canonical.count(":") == 31 and canonical == canonical.upper()
    assert names.fingerprint(canonical.lower()) == canonical
    assert names.fingerprint(f"  {canonical}\n") == canonical
    for bad in ("", digest[:-1], digest + "00", "zz" * 32):
        with pytest.raises(names.InvalidName):
            names.fingerprint(bad)


@given(st.text(max_size=80))
def test_address_is_idempotent_or_refuses(text: str) -> None:
    try:
        stored = names.address(text)
    except names.InvalidName:
        return
    assert names.address(stored) == stored
