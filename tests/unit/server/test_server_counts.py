"""Connection counts: the shared table agrees with the one-process counts, and holds
across processes."""

from __future__ import annotations

import ctypes
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.config.limits import LimitsSettings
from mailward.server.counts import LocalCounts, SharedCounts

LIMITS = LimitsSettings(max_connections=6, max_connections_per_ip=2)
# on listener 0 these land in slots 15, 0, 14 and 15 of a 16-slot table (and 12, 3, 13,
# 12 on listener 1): probe runs that collide and wrap around the end
IPS = ["10.0.0.1", "10.0.0.4", "10.0.0.14", "10.0.0.24"]
LISTENERS = 2

# admit (True) or release (False) on a listener for an address
steps = st.lists(st.tuples(st.booleans(), st.integers(0, LISTENERS - 1), st.sampled_from(IPS)), max_size=150)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_shared_counts_agree_with_local_counts(ops: list[tuple[bool, int, str]]) -> None:
    # a table just big enough for every key: 16 slots
    with SharedCounts(LISTENERS, capacity=len(IPS) * LISTENERS) as shared:
        check(shared, ops)


def check(shared: SharedCounts, ops: list[tuple[bool, int, str]]) -> None:
    local = LocalCounts()
    open_: dict[tuple[int, str], int] = {}
    for admit, listener, ip in ops:
        if admit:
            refused = local.admit(listener, ip, LIMITS)
            assert shared.admit(listener, ip, LIMITS) == refused
            if not refused:
                open_[listener, ip] = open_.get((listener, ip), 0) + 1
        elif open_.get((listener, ip)):
            local.release(listener, ip)
            shared.release(listener, ip)
            open_[listener, ip] -= 1
        for index in range(LISTENERS):
            assert shared.total(index) == sum(n for (lst, _), n in open_.items() if lst == index)
        # one slot per key, holding the key's count
        assert sorted(n for _, n in shared.snapshot()) == sorted(n for n in open_.values() if n)


def test_a_full_table_refuses_new_addresses_only() -> None:
    with SharedCounts(1, capacity=2) as counts:
        full_table(counts)


def full_table(counts: SharedCounts) -> None:
    limits = LimitsSettings(max_connections=100, max_connections_per_ip=10)
    assert counts.admit(0, "10.0.0.1", limits) == ""
    assert counts.admit(0, "10.0.0.2", limits) == ""
    assert "client addresses connected" in counts.admit(0, "10.0.0.3", limits)
    assert counts.admit(0, "10.0.0.1", limits) == ""  # a known address still gets in
    counts.release(0, "10.0.0.2")
    assert counts.admit(0, "10.0.0.3", limits) == ""


def test_counts_are_shared_by_forked_processes() -> None:
    with SharedCounts(1, capacity=64) as counts:
        forked(counts)


def forked(counts: SharedCounts) -> None:
    limits = LimitsSettings(max_connections=10_000, max_connections_per_ip=10_000)
    rounds, children = 300, 4
    pids = []
    for child in range(children):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for i in range(rounds):
                    ip = f"10.0.{child}.{i % 7}"
                    if counts.admit(0, ip, limits):
                        code = 3
                    if i % 3:
                        counts.release(0, ip)
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    kept = children * sum(1 for i in range(rounds) if not i % 3)
    assert counts.total(0) == kept
    assert sum(n for _, n in counts.snapshot()) == kept


def test_limits_add_up_the_workers_and_a_dead_workers_share_is_forgotten() -> None:
    limits = LimitsSettings(max_connections=5, max_connections_per_ip=3)
    with SharedCounts(1, capacity=16, workers=2) as counts:
        counts.for_worker(0)
        assert [counts.admit(0, ip, limits) for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2")] == [""] * 3
        counts.for_worker(1)
        assert counts.admit(0, "10.0.0.1", limits) == ""
        assert counts.admit(0, "10.0.0.1", limits) == "refused: 3 connections from 10.0.0.1 already"
        assert counts.total(0) == 4
        assert counts.forget_worker(0) == 3
        assert counts.total(0) == 1
        assert sorted(n for _, n in counts.snapshot()) == [1]
        assert counts.admit(0, "10.0.0.1", limits) == ""
        counts.release(0, "10.0.0.1")
        counts.release(0, "10.0.0.1")
        assert counts.total(0) == 0 and counts.snapshot() == []


users = st.lists(st.tuples(st.booleans(), st.sampled_from(["alice@example.org", "bob@example.org", "δ@example.org"])),
                 max_size=100)


@settings(max_examples=200, deadline=None)
@given(users)
def test_sessions_per_user_agree_across_workers_with_local_counts(ops: list[tuple[bool, str]]) -> None:
    """A user's sessions count in whichever worker they are, against one limit."""
    local = LocalCounts()
    with SharedCounts(1, capacity=64, workers=2) as shared:
        open_: dict[tuple[int, str], int] = {}
        for i, (admit, user) in enumerate(ops):
            worker = i % 2
            shared.for_worker(worker)
            if admit:
                allowed = local.admit_user(user, 3)
                assert shared.admit_user(user, 3) is allowed
                if allowed:
                    open_[worker, user] = open_.get((worker, user), 0) + 1
            elif open_.get((worker, user)):
                local.release_user(user)
                shared.release_user(user)
                open_[worker, user] -= 1
        assert sorted(n for _, n in shared.snapshot()) == sorted(n for n in open_.values() if n)
        assert shared.forget_worker(0) == 0  # no connections on listeners: user entries go too
        assert sorted(n for _, n in shared.snapshot()) == sorted(n for (w, _), n in open_.items() if n and w == 1)


def resident_kib(counts: SharedCounts) -> int:
    """The table's resident memory in this process (its mapping in /proc/self/smaps)."""
    view = ctypes.c_char.from_buffer(counts._table)
    start = ctypes.addressof(view)
    del view  # an exported buffer would keep the mapping from closing
    with open("/proc/self/smaps") as smaps:
        lines = iter(smaps)
        for line in lines:
            if line.split("-", 1)[0] == f"{start:x}" or line.split("-", 1)[0] == f"{start:012x}":
                for field in lines:
                    if field.startswith("Rss:"):
                        return int(field.split()[1])
    raise AssertionError("the table's mapping is not in /proc/self/smaps")


def test_an_empty_table_gives_its_pages_back() -> None:
    # a flood from many addresses writes slots all over the table; once the last
    # connection is gone every page it touched is handed back
    limits = LimitsSettings(max_connections=10_000, max_connections_per_ip=10)
    ips = [f"10.{i // 250}.{i % 250}.1" for i in range(2_000)]
    with SharedCounts(1, capacity=10_000) as counts:  # 32,768 slots, 704 KiB
        for ip in ips:
            assert counts.admit(0, ip, limits) == ""
        assert resident_kib(counts) > 400
        for ip in ips[:-1]:
            counts.release(0, ip)
        assert not counts.release_pages()
        assert resident_kib(counts) > 0  # one address still open: kept
        counts.release(0, ips[-1])
        assert counts.release_pages()
        assert resident_kib(counts) == 0
        assert counts.admit(0, ips[0], limits) == ""  # and it works on as before
        assert counts.snapshot() == [(counts.snapshot()[0][0], 1)] and counts.total(0) == 1
