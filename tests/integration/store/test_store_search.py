"""Store search (both backends): each criterion on its own, then random trees of them
against a model evaluated in Python."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from mailward.store.interface import INBOX, FlagOp, NewMessage
from mailward.store.search import (
    All,
    AnyOf,
    Criterion,
    Everything,
    HasFlag,
    InternalDate,
    ModSeqAtLeast,
    Not,
    Size,
    Uids,
)
from mailward.store.sql.store import SqlStore
from mailward.store.uidset import UidSet

DAY = 86400.0
BASE = 1_700_000_000.0
FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Junk", "my_tag", "Work")


@dataclass(frozen=True)
class Model:
    uid: int
    modseq: int
    flags: frozenset[str]
    date: float
    size: int


async def mailbox_with(store: SqlStore, count: int, seed: int) -> tuple[int, list[Model]]:
    rng = random.Random(seed)
    account = await store.create_account(f"u{seed}@example.org")
    box = await store.get_mailbox(account.id, INBOX)
    assert box is not None
    new = [NewMessage(b"x" * rng.randrange(1, 400), flags=frozenset(rng.sample(FLAGS, rng.randrange(0, 4))),
                      internal_date=BASE + rng.randrange(0, 10) * DAY + rng.random() * DAY)
           for _ in range(count)]
    await store.append(box.id, new)
    # some flag changes, so that MODSEQs differ from message to message
    for uid in rng.sample(range(1, count + 1), count // 3):
        await store.store_flags(box.id, UidSet.of([uid]), FlagOp.ADD, frozenset({"$Later"}))
    await store.expunge(box.id, UidSet.of(rng.sample(range(1, count + 1), count // 10)), deleted_only=False)
    models = [Model(m.uid, m.modseq, m.flags, m.internal_date, m.size) for m in await store.messages(box.id)]
    return box.id, models


def matches(c: Criterion, m: Model) -> bool:
    match c:
        case Everything():
            return True
        case HasFlag(flag, present):
            return (flag.lower() in {f.lower() for f in m.flags}) == present
        case InternalDate(since, before):
            return (since is None or m.date >= since) and (before is None or m.date < before)
        case Size(larger, smaller):
            return (larger is None or m.size > larger) and (smaller is None or m.size < smaller)
        case Uids(uids):
            return m.uid in uids
        case ModSeqAtLeast(modseq):
            return m.modseq >= modseq
        case All(parts):
            return all(matches(p, m) for p in parts)
        case AnyOf(parts):
            return any(matches(p, m) for p in parts)
        case Not(part):
            return not matches(part, m)
    raise AssertionError(c)


def random_criterion(rng: random.Random, models: list[Model], depth: int = 0) -> Criterion:
    kinds = ["flag", "date", "size", "uids", "modseq", "all"] + (["and", "or", "not"] * 2 if depth < 3 else [])
    kind = rng.choice(kinds)
    top_uid = max(m.uid for m in models) + 2
    if kind == "flag":
        flag = rng.choice((*FLAGS, "$Later", "\\SEEN", "work", "absent"))
        return HasFlag(flag, rng.random() < 0.7)
    if kind == "date":
        day = BASE + rng.randrange(-1, 11) * DAY
        return rng.choice((InternalDate(since=day), InternalDate(before=day), InternalDate(day, day + DAY)))
    if kind == "size":
        return Size(rng.choice((None, rng.randrange(0, 400))), rng.choice((None, rng.randrange(0, 400))))
    if kind == "uids":
        many = rng.random() < 0.3  # past the ranges written inline: one JSON parameter
        picks = rng.sample(range(1, top_uid), min(top_uid - 1, 80 if many else 5))
        return Uids(UidSet.of(picks) if many else UidSet.from_ranges((u, u + rng.randrange(0, 9)) for u in picks))
    if kind == "modseq":
        return ModSeqAtLeast(rng.choice([m.modseq for m in models]))
    if kind == "all":
        return Everything()
    parts = tuple(random_criterion(rng, models, depth + 1) for _ in range(rng.randrange(0, 4)))
    if kind == "and":
        return All(parts)
    if kind == "or":
        return AnyOf(parts)
    return Not(random_criterion(rng, models, depth + 1))


async def check(store: SqlStore, box: int, models: list[Model], c: Criterion) -> None:
    expected = [m for m in models if matches(c, m)]
    result = await store.search(box, c)
    assert list(result.uids) == [m.uid for m in expected], c
    assert result.highest_modseq == max((m.modseq for m in expected), default=0), c


@pytest.mark.parametrize("criterion", [
    Everything(), HasFlag("\\Seen"), HasFlag("\\Seen", present=False), HasFlag("$junk"),
    HasFlag("my_tag"), HasFlag("my%tag"), HasFlag("Wor"),  # a whole flag, never part of one
    InternalDate(since=BASE + 3 * DAY), InternalDate(before=BASE + 3 * DAY),
    InternalDate(BASE + 3 * DAY, BASE + 4 * DAY), Size(larger=200), Size(smaller=50), Size(10, 20),
    Uids(UidSet.span(5, 12)), Uids(UidSet()), Uids(UidSet.of(range(1, 120, 2))), ModSeqAtLeast(60),
    All(()), AnyOf(()), Not(Everything()),
], ids=repr)
async def test_each_criterion(store: SqlStore, criterion: Criterion) -> None:
    box, models = await mailbox_with(store, 120, seed=1)
    await check(store, box, models, criterion)


async def test_random_criteria_match_the_model(store: SqlStore) -> None:
    box, models = await mailbox_with(store, 150, seed=2)
    rng = random.Random(3)
    for _ in range(150):
        await check(store, box, models, random_criterion(rng, models))


async def test_search_sees_only_its_mailbox(store: SqlStore) -> None:
    box_a, models_a = await mailbox_with(store, 20, seed=4)
    box_b, _ = await mailbox_with(store, 30, seed=5)
    result = await store.search(box_a, Everything())
    assert list(result.uids) == [m.uid for m in models_a]
    assert len((await store.search(box_b, Everything())).uids) == 27
