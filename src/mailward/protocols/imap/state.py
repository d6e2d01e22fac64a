"""Connection states (RFC 9051 3) and the one table of which commands each accepts.

The session holds the state value and asks :func:`allowed` before it executes a
command; a command refused here gets ``tag BAD`` (RFC 9051 6: "a command in the wrong
state"). The facts of the connection (TLS, login policy) stay with the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.protocols.imap.commands import (
    Append,
    Authenticate,
    Capability,
    Check,
    Close,
    Command,
    Copy,
    Create,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    Rename,
    Search,
    Select,
    StartTls,
    Status,
    Store,
    Subscribe,
    Unselect,
    Unsubscribe,
)


@dataclass(frozen=True)
class NotAuthenticated:
    """RFC 9051 3.1: before LOGIN/AUTHENTICATE."""


@dataclass(frozen=True)
class Authenticated:
    """RFC 9051 3.2: logged in, no mailbox selected."""


@dataclass(frozen=True)
class Selected:
    """RFC 9051 3.3: a mailbox is selected, by EXAMINE if ``read_only``."""

    mailbox: str
    read_only: bool = False


@dataclass(frozen=True)
class LoggedOut:
    """RFC 9051 3.4: after LOGOUT or BYE; nothing more is read."""


State = NotAuthenticated | Authenticated | Selected | LoggedOut

# RFC 9051 6.1: any state; ID (RFC 2971 3.1) too
_ANY: frozenset[type[Command]] = frozenset({Capability, Noop, Logout, Id})
# RFC 9051 6.3, with LSUB (RFC 3501 6.3.9), QUOTA (RFC 9208 4.2, 4.3)
_AUTHENTICATED: frozenset[type[Command]] = frozenset(
    {
        Select, Examine, Create, Delete, Rename, Subscribe, Unsubscribe, List, Lsub, Namespace, Status,
        Append, Idle, GetQuota, GetQuotaRoot,
    }
)

COMMANDS_BY_STATE: dict[type[State], frozenset[type[Command]]] = {
    # RFC 9051 6.2
    NotAuthenticated: _ANY | {StartTls, Authenticate, Login},
    # RFC 9051 6.3.1 / RFC 5161 3.1: ENABLE only before a mailbox is selected
    Authenticated: _ANY | _AUTHENTICATED | {Enable},
    # RFC 9051 6.4 (and 6.3 stays valid), CHECK (RFC 3501 6.4.1), UNSELECT (RFC 3691)
    Selected: _ANY | _AUTHENTICATED | {Check, Close, Unselect, Expunge, Search, Fetch, Store, Copy, Move},
    LoggedOut: frozenset(),
}
"""The one table: which commands each state accepts."""


def allowed(state: State, command: Command) -> bool:
    """May ``command`` run in ``state``? (The UID forms are the same classes.)"""
    return type(command) in COMMANDS_BY_STATE[type(state)]


_WRITES = (Store, Expunge, Move)


def needs_write_access(command: Command) -> bool:
    """STORE, EXPUNGE, UID EXPUNGE and MOVE change the selected mailbox: under EXAMINE
    they get ``NO [READ-ONLY]`` (RFC 9051 6.3.3). CLOSE expunges only if read-write."""
    return isinstance(command, _WRITES)


def uses_sequence_numbers(command: Command) -> bool:
    """The command names messages by sequence number (RFC 9051 5.5, 7.5.1).

    FETCH, STORE, COPY, MOVE without UID, and any SEARCH with a message-number set among
    its criteria. While one of these is in progress or pipelined, the session must not
    send EXPUNGE: the numbers would shift under the client.
    """
    if isinstance(command, Fetch | Store | Copy | Move):
        return not command.uid
    if isinstance(command, Search):
        return not command.uid or command.uses_sequence_numbers
    return False


def may_send_expunge(command: Command) -> bool:
    """May untagged EXPUNGE be sent while answering ``command``? (RFC 9051 7.5.1: not
    while responding to FETCH, STORE or SEARCH; the UID forms may, and so may the rest
    -- MOVE reports the messages it moved that way, RFC 6851 3.3.)

    Whether to send EXPUNGEs held back for other sessions' changes before a pipelined
    command that uses sequence numbers is the session's call (see
    :func:`uses_sequence_numbers`).
    """
    if isinstance(command, Fetch | Store | Search):
        return command.uid
    return True
