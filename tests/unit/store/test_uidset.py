"""UID sets: parsing IMAP sequence-sets, merging, SQL fragments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.store.uidset import UID_MAX, UidSet


def test_parse_sequence_set() -> None:
    s = UidSet.parse("1:3,7,10:*,2", uid_max=12)
    assert s.ranges == ((1, 3), (7, 7), (10, 12))
    assert list(s) == [1, 2, 3, 7, 10, 11, 12] and len(s) == 7
    assert str(s) == "1:3,7,10:12"
    assert 7 in s and 8 not in s


def test_star_and_reversed_ranges() -> None:
    # RFC 9051 9: "*" is the largest UID in use; 4:2 means 2:4.
    assert UidSet.parse("*", uid_max=9).ranges == ((9, 9),)
    assert UidSet.parse("4:2", uid_max=9).ranges == ((2, 4),)


@pytest.mark.parametrize("bad", ["", "0", "a", "1:", "1,,2", "-1"])
def test_parse_rejects_nonsense(bad: str) -> None:
    with pytest.raises(ValueError):
        UidSet.parse(bad, uid_max=5)


def test_empty_and_all() -> None:
    assert not UidSet() and list(UidSet.of([])) == []
    assert UidSet.all().ranges == ((1, UID_MAX),)
    assert UidSet.span(5, 4) == UidSet()


def test_sql_fragment() -> None:
    where, params = UidSet.of([1, 2, 3, 9]).sql("uid", "?")
    assert where == "(uid BETWEEN ? AND ? OR uid BETWEEN ? AND ?)" and params == [1, 3, 9, 9]
    assert UidSet().sql("uid", "?") == ("FALSE", [])


@given(st.lists(st.integers(min_value=1, max_value=200)))
def test_of_round_trips(uids: list[int]) -> None:
    s = UidSet.of(uids)
    assert list(s) == sorted(set(uids))
    assert UidSet.parse(str(s), uid_max=200) == s if uids else True
    for (_, hi), (lo, _) in zip(s.ranges, s.ranges[1:], strict=False):
        assert lo > hi + 1  # disjoint and not adjacent


@given(st.lists(st.tuples(st.integers(1, 100), st.integers(1, 100))))
def test_from_ranges_equals_union(ranges: list[tuple[int, int]]) -> None:
    expected = {u for a, b in ranges for u in range(min(a, b), max(a, b) + 1)}
    assert set(UidSet.from_ranges(ranges)) == expected
