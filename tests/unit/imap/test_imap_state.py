"""Connection states and the command table (RFC 9051 3, 6), sequence-number rules (5.5, 7.5.1)."""

from __future__ import annotations

import pytest

from mailward.protocols.imap.commands import Command
from mailward.protocols.imap.state import (
    COMMANDS_BY_STATE,
    Authenticated,
    LoggedOut,
    NotAuthenticated,
    Selected,
    State,
    allowed,
    may_send_expunge,
    needs_write_access,
    uses_sequence_numbers,
)
from support.imap_feed import command

NOT_AUTH, AUTH, SELECTED, EXAMINED = NotAuthenticated(), Authenticated(), Selected("INBOX"), Selected("INBOX", True)
LINES = {
    "CAPABILITY": b"a CAPABILITY", "NOOP": b"a NOOP", "LOGOUT": b"a LOGOUT", "ID": b"a ID NIL",
    "STARTTLS": b"a STARTTLS", "AUTHENTICATE": b"a AUTHENTICATE PLAIN", "LOGIN": b"a LOGIN u p",
    "ENABLE": b"a ENABLE IMAP4rev2", "SELECT": b"a SELECT INBOX", "EXAMINE": b"a EXAMINE INBOX",
    "CREATE": b"a CREATE x", "DELETE": b"a DELETE x", "RENAME": b"a RENAME x y", "SUBSCRIBE": b"a SUBSCRIBE x",
    "UNSUBSCRIBE": b"a UNSUBSCRIBE x", "LIST": b'a LIST "" *', "LSUB": b'a LSUB "" *', "NAMESPACE": b"a NAMESPACE",
    "STATUS": b"a STATUS x (MESSAGES)", "APPEND": b"a APPEND x {1+}\r\nm", "IDLE": b"a IDLE",
    "GETQUOTA": b'a GETQUOTA ""', "GETQUOTAROOT": b"a GETQUOTAROOT INBOX", "CHECK": b"a CHECK",
    "CLOSE": b"a CLOSE", "UNSELECT": b"a UNSELECT", "EXPUNGE": b"a EXPUNGE", "UID EXPUNGE": b"a UID EXPUNGE 1",
    "SEARCH": b"a SEARCH ALL", "UID SEARCH": b"a UID SEARCH ALL", "FETCH": b"a FETCH 1 FLAGS",
    "UID FETCH": b"a UID FETCH 1 FLAGS", "STORE": b"a STORE 1 FLAGS ()", "UID STORE": b"a UID STORE 1 FLAGS ()",
    "COPY": b"a COPY 1 x", "UID COPY": b"a UID COPY 1 x", "MOVE": b"a MOVE 1 x", "UID MOVE": b"a UID MOVE 1 x",
}


def parsed(name: str) -> Command:
    return command(LINES[name] + b"\r\n")


ANY = {"CAPABILITY", "NOOP", "LOGOUT", "ID"}
AUTHENTICATED = ANY | {
    "ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB",
    "NAMESPACE", "STATUS", "APPEND", "IDLE", "GETQUOTA", "GETQUOTAROOT",
}
EXPECTED: list[tuple[State, set[str]]] = [
    (NOT_AUTH, ANY | {"STARTTLS", "AUTHENTICATE", "LOGIN"}),
    (AUTH, AUTHENTICATED),
    (SELECTED, (AUTHENTICATED - {"ENABLE"}) | {
        "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "UID EXPUNGE", "SEARCH", "UID SEARCH", "FETCH", "UID FETCH",
        "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE"}),
    (LoggedOut(), set()),
]


@pytest.mark.parametrize(("state", "names"), EXPECTED)
def test_each_state_accepts_exactly_its_commands(state: State, names: set[str]) -> None:
    assert {name for name in LINES if allowed(state, parsed(name))} == names


def test_read_only_selection_accepts_the_same_commands() -> None:
    assert all(allowed(EXAMINED, parsed(n)) == allowed(SELECTED, parsed(n)) for n in LINES)
    assert {n for n in LINES if needs_write_access(parsed(n))} == {"STORE", "UID STORE", "EXPUNGE", "UID EXPUNGE", "MOVE", "UID MOVE"}


def test_the_table_covers_every_state() -> None:
    assert set(COMMANDS_BY_STATE) == {NotAuthenticated, Authenticated, Selected, LoggedOut}


def test_sequence_number_commands() -> None:
    using = {n for n in LINES if uses_sequence_numbers(parsed(n))}
    assert using == {"FETCH", "STORE", "COPY", "MOVE", "SEARCH"}
    assert uses_sequence_numbers(command(b"a UID SEARCH 1:3\r\n"))


def test_expunge_responses_are_held_during_fetch_store_search() -> None:
    held = {n for n in LINES if not may_send_expunge(parsed(n))}
    assert held == {"FETCH", "STORE", "SEARCH"}
