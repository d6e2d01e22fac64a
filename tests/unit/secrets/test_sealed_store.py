"""The sealed store: round trips, nothing in the clear, wrong keys and tampering detected."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mailward.secrets import (
    MasterKey,
    MasterKeyError,
    SealedStore,
    SealedStoreError,
    SecretError,
    SecretNotFoundError,
    resolve,
    resolve_all,
)
from mailward.secrets.masterkey import new_key

SECRET = "correct horse battery staple \u00e9\u4e2d"


def master(source: str = "test key") -> MasterKey:
    return MasterKey(new_key(), source)


def b64_variants(data: bytes) -> list[bytes]:
    """Base64 of ``data`` at every alignment (a substring would show in a longer encoding)."""
    out = []
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + data)
        skip = (shift * 4 + 2) // 3 + 1  # characters touched by the padding prefix
        out.append(encoded[skip:-4])
    return out


@pytest.fixture
def key() -> MasterKey:
    return master()


def saved(tmp_path: Path, key: MasterKey, **values: str) -> Path:
    path = tmp_path / "sealed.json"
    store = SealedStore(path, key)
    for name, value in values.items():
        store.set(name, value)
    store.save()
    return path


def test_round_trip(tmp_path: Path, key: MasterKey) -> None:
    path = saved(tmp_path, key, smarthost=SECRET, db="pw")
    store = SealedStore.open(path, key)
    assert store.names() == ["db", "smarthost"]
    assert store.get("smarthost") == SECRET
    assert store.get("db") == "pw"


def test_missing_file_is_an_empty_store(tmp_path: Path, key: MasterKey) -> None:
    assert SealedStore.open(tmp_path / "none.json", key).names() == []


def test_file_holds_no_secret_bytes(tmp_path: Path, key: MasterKey) -> None:
    value = SECRET.encode()
    path = saved(tmp_path, key, a=SECRET, b=SECRET)
    data = path.read_bytes()
    assert value not in data
    assert value.hex().encode() not in data
    for variant in b64_variants(value):
        assert len(variant) > 8
        assert variant not in data
    assert key.key not in data
    for variant in b64_variants(key.key):
        assert variant not in data


def test_same_value_seals_differently(tmp_path: Path, key: MasterKey) -> None:
    doc = json.loads(saved(tmp_path, key, a="x", b="x").read_text())
    assert doc["secrets"]["a"]["nonce"] != doc["secrets"]["b"]["nonce"]
    assert doc["secrets"]["a"]["ciphertext"] != doc["secrets"]["b"]["ciphertext"]


def test_wrong_master_key(tmp_path: Path, key: MasterKey) -> None:
    path = saved(tmp_path, key, a="x")
    with pytest.raises(MasterKeyError, match=r"is not the key .* was sealed with") as err:
        SealedStore.open(path, master("$MAILWARD_MASTER_KEY"))
    assert "$MAILWARD_MASTER_KEY" in str(err.value)


def _edit(path: Path, change: object) -> None:
    doc = json.loads(path.read_text())
    change(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))


def test_flipped_ciphertext_byte_is_detected(tmp_path: Path, key: MasterKey) -> None:
    path = saved(tmp_path, key, a=SECRET)

    def flip(doc: dict) -> None:  # type: ignore[type-arg]
        raw = bytearray(base64.b64decode(doc["secrets"]["a"]["ciphertext"]))
        raw[3] ^= 0x01
        doc["secrets"]["a"]["ciphertext"] = base64.b64encode(raw).decode()

    _edit(path, flip)
    with pytest.raises(SealedStoreError, match="integrity check failed"):
        SealedStore.open(path, key)


def test_swapped_entries_are_detected(tmp_path: Path, key: MasterKey) -> None:
    path = saved(tmp_path, key, a="alpha", b="beta")

    def swap(doc: dict) -> None:  # type: ignore[type-arg]
        s = doc["secrets"]
        s["a"], s["b"] = s["b"], s["a"]

    _edit(path, swap)
    with pytest.raises(SealedStoreError, match="modified outside mailward"):
        SealedStore.open(path, key)


@pytest.mark.parametrize("change", ["remove", "add", "key_id", "mac"])
def test_other_edits_are_detected(tmp_path: Path, key: MasterKey, change: str) -> None:
    path = saved(tmp_path, key, a="alpha", b="beta")

    def edit(doc: dict) -> None:  # type: ignore[type-arg]
        if change == "remove":
            del doc["secrets"]["b"]
        elif change == "add":
            doc["secrets"]["c"] = doc["secrets"]["a"]
        elif change == "key_id":
            doc["key_id"] = "00" * 8
        else:
            doc["mac"] = base64.b64encode(b"\x00" * 32).decode()

    _edit(path, edit)
    with pytest.raises((SealedStoreError, MasterKeyError)):
        SealedStore.open(path, key)


def test_name_is_bound_as_associated_data(tmp_path: Path, key: MasterKey) -> None:
    """Even past the file MAC (an attacker with the MAC key), a moved value fails its tag."""
    store = SealedStore(tmp_path / "s.json", key)
    store.set("a", "alpha")
    store.set("b", "beta")
    entries = store._entries
    entries["a"], entries["b"] = entries["b"], entries["a"]
    with pytest.raises(SealedStoreError, match='secret "a" fails its integrity check'):
        store.get("a")


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b'{"format": "x"}', b'{"format": "mailward-sealed-secrets", "version": 1}']
)
def test_malformed_files(tmp_path: Path, key: MasterKey, content: bytes) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(SealedStoreError, match="malformed"):
        SealedStore.open(path, key)


def test_unsupported_version(tmp_path: Path, key: MasterKey) -> None:
    path = saved(tmp_path, key, a="x")
    _edit(path, lambda doc: doc.update(version=2))
    with pytest.raises(SealedStoreError, match="version 2 is not supported"):
        SealedStore.open(path, key)


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 129, "é"])
def test_bad_names(tmp_path: Path, key: MasterKey, name: str) -> None:
    with pytest.raises(SecretError, match="not a usable secret name"):
        SealedStore(tmp_path / "s.json", key).set(name, "v")


def test_remove_and_reseal(tmp_path: Path, key: MasterKey) -> None:
    store = SealedStore(tmp_path / "s.json", key)
    store.set("a", "1")
    store.set("b", "2")
    assert store.remove("a") and not store.remove("a")
    other = store.resealed(master())
    assert other.names() == ["b"] and other.get("b") == "2"


def test_resolve(tmp_path: Path, key: MasterKey) -> None:
    store = SealedStore.open(saved(tmp_path, key, db=SECRET), key)
    assert resolve("plain text", store) == "plain text"
    assert resolve("plain text", None) == "plain text"
    assert resolve("secret:db", store, "store.password") == SECRET
    with pytest.raises(SecretNotFoundError) as err:
        resolve("secret:smarthost", store, "relay.password")
    assert err.value.key == "relay.password" and err.value.name == "smarthost"
    assert str(err.value) == (
        'relay.password: secret "smarthost" is not in the sealed store: '
        "add it with `mailward secret set smarthost`"
    )
    problem = err.value.problem()
    assert problem.key == "relay.password" and "smarthost" in problem.message
    with pytest.raises(SecretError, match="secret store is not available"):
        resolve("secret:db", None, "store.password")


def test_resolve_all_collects_every_problem(tmp_path: Path, key: MasterKey) -> None:
    store = SealedStore.open(saved(tmp_path, key, db="pw"), key)
    values, problems = resolve_all(
        {"a": "secret:db", "b": "secret:x", "c": "literal", "d": "secret:y"}, store
    )
    assert values == {"a": "pw", "c": "literal"}
    assert [p.key for p in problems] == ["b", "d"]


def test_store_resolve_method(tmp_path: Path, key: MasterKey) -> None:
    store = SealedStore.open(saved(tmp_path, key, db="pw"), key)
    assert store.resolve("secret:db") == "pw"
    assert store.resolve("literal") == "literal"
    with pytest.raises(SecretNotFoundError, match=r'tls\.key_passphrase: secret "nope"'):
        store.resolve("secret:nope", "tls.key_passphrase")
