"""The selected mailbox's view: numbers, and what the client may be told when."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from mailward.server.imap.view import Exists, Expunged, FlagsChanged, MailboxView, Vanished
from mailward.store.interface import BlobRef, Changes, Mailbox, MessageInfo, Snapshot
from mailward.store.uidset import UidSet

SEEN = frozenset({"\\Seen"})
NONE: frozenset[str] = frozenset()


def snapshot(uids: list[int], *, uid_next: int | None = None, modseq: int = 10) -> Snapshot:
    box = Mailbox(1, 1, "INBOX", 77, uid_next or (max(uids, default=0) + 1), modseq)
    return Snapshot(box, array("I", uids), array("Q", [1] * len(uids)), array("I", [0] * len(uids)), (NONE,))


def info(uid: int, flags: frozenset[str] = NONE, modseq: int = 11) -> MessageInfo:
    return MessageInfo(uid, modseq, flags, 0.0, 10, BlobRef(uid, 10))


def changes(changed: list[MessageInfo] = (), vanished: list[int] = (), modseq: int = 11) -> Changes:  # type: ignore[assignment]
    return Changes(tuple(changed), UidSet.of(vanished), modseq)


def test_numbers_follow_uids() -> None:
    view = MailboxView(snapshot([3, 5, 9]))
    assert len(view) == 3
    assert [view.uid_of(n) for n in (1, 2, 3)] == [3, 5, 9]
    assert view.seq_of(5) == 2
    assert view.seq_of(4) is None
    assert view.uids_of_seqs([(2, 3)]) == UidSet.of([5, 9])
    assert view.uids_of_seqs([(3, 2)]) == UidSet.of([5, 9])  # 3:2 is 2:3
    assert view.uids_of_seqs([(4, 7)]) == UidSet()
    assert view.known_uids(UidSet.span(4, 9)) == UidSet.of([5, 9])


def test_an_expunge_waits_until_it_is_allowed_and_new_mail_is_told_meanwhile() -> None:
    view = MailboxView(snapshot([1, 2, 3, 4]))
    view.absorb(changes([info(5)], vanished=[2]))
    # during FETCH/STORE/SEARCH by number: no EXPUNGE, but EXISTS may grow
    assert view.updates(expunges=False) == [Exists(5)]
    assert view.seq_of(2) == 2 and view.expunged(2)
    assert view.updates(expunges=False) == []
    # at NOOP: the expunge, then nothing more
    assert view.updates(expunges=True) == [Expunged(2, 2)]
    assert [view.uid_of(n) for n in range(1, len(view) + 1)] == [1, 3, 4, 5]
    assert view.updates(expunges=True) == []


def test_several_expunges_go_highest_number_first() -> None:
    view = MailboxView(snapshot([10, 20, 30, 40, 50]))
    view.absorb(changes(vanished=[20, 40, 50]))
    assert view.updates(expunges=True) == [Expunged(5, 50), Expunged(4, 40), Expunged(2, 20)]
    assert list(view.uids) == [10, 30]


def test_vanished_under_qresync() -> None:
    view = MailboxView(snapshot([1, 2, 3]))
    view.absorb(changes(vanished=[1, 3, 99]))
    assert view.updates(expunges=True, vanished=True) == [Vanished(UidSet.of([1, 3]))]
    assert list(view.uids) == [2]


def test_flag_changes_by_others_are_told_with_their_modseq() -> None:
    view = MailboxView(snapshot([1, 2]))
    view.absorb(changes([info(2, SEEN, modseq=12)], modseq=12))
    assert view.updates(expunges=False) == [FlagsChanged(2, 2, SEEN, 12)]
    assert view.flags_of(2) == SEEN
    assert view.modseq_of(2) == 12
    assert view.highest_modseq == 12


def test_a_message_that_came_and_went_unseen_is_never_told() -> None:
    view = MailboxView(snapshot([1]))
    view.absorb(changes([info(2)]))
    view.absorb(changes(vanished=[2], modseq=12))
    assert view.updates(expunges=True) == []
    assert len(view) == 1


def test_flag_changes_of_an_expunged_message_are_dropped() -> None:
    view = MailboxView(snapshot([1, 2]))
    view.absorb(changes([info(2, SEEN)]))
    view.absorb(changes(vanished=[2], modseq=12))
    assert view.updates(expunges=True) == [Expunged(2, 2)]


def test_own_store_leaves_nothing_pending() -> None:
    view = MailboxView(snapshot([1, 2]))
    view.set_flags(1, SEEN, 11)
    view.absorb(changes([info(1, SEEN, modseq=11)]))
    assert view.updates(expunges=True) == []
    assert view.keywords == frozenset()
    view.set_flags(2, frozenset({"$Work"}), 12)
    assert view.keywords == {"$Work"}


def test_old_uids_below_uid_next_that_were_never_known_are_not_new() -> None:
    view = MailboxView(snapshot([1, 5], uid_next=8))
    view.absorb(changes([info(3), info(8)]))
    assert view.updates(expunges=True) == [Exists(3)]
    assert list(view.uids) == [1, 5, 8]
    assert view.uid_next == 9


events = st.lists(st.one_of(
    st.tuples(st.just("new"), st.integers(1, 3)),
    st.tuples(st.just("expunge"), st.integers(0, 40)),
    st.tuples(st.just("flag"), st.integers(0, 40)),
    st.tuples(st.just("tell"), st.booleans()),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(events)
def test_the_view_converges_on_the_mailbox(script: list[tuple[str, object]]) -> None:
    """Against a model mailbox: whatever happened, once told everything with expunges
    allowed, the client's numbering is the mailbox's, and EXISTS never shrinks."""
    mailbox: dict[int, frozenset[str]] = {1: NONE, 2: NONE, 3: NONE}
    uid_next, modseq = 4, 10
    view = MailboxView(snapshot([1, 2, 3], modseq=modseq))
    client = [1, 2, 3]  # what the client believes, replayed from the updates
    for kind, arg in script:
        modseq += 1
        if kind == "new":
            added = list(range(uid_next, uid_next + int(arg)))  # type: ignore[call-overload]
            uid_next += len(added)
            mailbox.update(dict.fromkeys(added, NONE))
            view.absorb(changes([info(u, NONE, modseq) for u in added], modseq=modseq))
        elif kind == "expunge" and mailbox:
            uid = sorted(mailbox)[int(arg) % len(mailbox)]  # type: ignore[call-overload]
            del mailbox[uid]
            view.absorb(changes(vanished=[uid], modseq=modseq))
        elif kind == "flag" and mailbox:
            uid = sorted(mailbox)[int(arg) % len(mailbox)]  # type: ignore[call-overload]
            mailbox[uid] = SEEN - mailbox[uid] if mailbox[uid] else SEEN
            view.absorb(changes([info(uid, mailbox[uid], modseq)], modseq=modseq))
        elif kind == "tell":
            for update in view.updates(expunges=bool(arg)):
                match update:
                    case Expunged(seq, uid):
                        assert client[seq - 1] == uid
                        del client[seq - 1]
                    case Exists(count):
                        assert count >= len(client)  # EXISTS never shrinks the mailbox
                        client += [view.uid_of(n) for n in range(len(client) + 1, count + 1)]
                    case FlagsChanged(seq, uid, _, _):
                        assert client[seq - 1] == uid
            assert client == list(view.uids)
    for update in view.updates(expunges=True):
        match update:
            case Expunged(seq, uid):
                del client[seq - 1]
            case Exists(count):
                client += [view.uid_of(n) for n in range(len(client) + 1, count + 1)]
    assert client == sorted(mailbox) == list(view.uids)
    assert all(view.flags_of(n) == mailbox[view.uid_of(n)] for n in range(1, len(view) + 1))
