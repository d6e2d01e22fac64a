"""Decoded structures are kept by their stored bytes, a bounded number of them."""

from __future__ import annotations

import pytest

from mailward.mime import parse
from mailward.store.sql import text


def test_the_same_bytes_decode_once_and_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "STRUCTURE_CACHE", 3)
    monkeypatch.setattr(text, "_DECODED", type(text._DECODED)())
    stored = [parse(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)).to_bytes() for i in range(5)]
    first = text.decoded(stored[0])
    assert text.decoded(bytes(stored[0])) is first  # equal bytes: the same object
    assert first == parse(b"Subject: m0\r\n\r\nbody 0\r\n")
    for data in stored[1:]:
        text.decoded(data)
    assert len(text._DECODED) == 3 and stored[0] not in text._DECODED  # the oldest went
    with pytest.raises(ValueError):
        text.decoded(b"not a structure")
    assert b"not a structure" not in text._DECODED
