"""The storage interface: what IMAP, POP3, SMTP delivery and the queue may ask of a store.

Backends (``store/sqlite``, ``store/postgres``) implement :class:`Store`; nothing
but :func:`mailward.store.factory.open_store` imports a backend.

Terms follow the RFCs: ``uid_validity``, ``uid_next`` (RFC 9051 2.3.1.1),
``modseq`` / ``highest_modseq`` (RFC 7162 3.1). Every successful write that
returns has been made durable (DESIGN.md "Storage contract").
"""

from __future__ import annotations

import bisect
import enum
from array import array
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from mailward.store.search import Criterion, SearchResult
from mailward.store.uidset import UidSet

if TYPE_CHECKING:
    from mailward.mime import MessageStructure

# The hierarchy delimiter of mailbox names (RFC 9051 5.1).
DELIMITER = "/"
INBOX = "INBOX"

# RFC 6154 special-use attributes the store accepts.
SPECIAL_USES = frozenset({"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"})

MessageSource = bytes | AsyncIterable[bytes]
"""Message bytes: whole (small messages) or a stream of chunks (never whole in memory)."""


class StoreError(Exception):
    """A request the store refuses; the message is safe to log, not to show a client."""


class NotFound(StoreError):
    """The account, mailbox, message, queue entry or directory entry (domain, app
    password, client certificate) does not exist (any more)."""


class AlreadyExists(StoreError):
    """A mailbox, account, domain, alias, app password or client certificate of that
    name exists already."""


class QuotaExceeded(StoreError):
    """The write would take an account over its quota (RFC 9208 OVERQUOTA)."""

    def __init__(self, account_ids: Sequence[int]) -> None:
        self.account_ids = tuple(account_ids)
        super().__init__(f"over quota: account(s) {', '.join(map(str, self.account_ids))}")


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened (a 4xx / try-again-later condition)."""


class StoreUnreachable(StoreUnavailable):
    """Connecting to the store's server failed: ``reason`` says why, ``key`` names the
    setting to look at and ``fix`` what to do (``config check`` reports them as a
    problem; ``serve`` logs the whole line)."""

    def __init__(self, key: str, reason: str, fix: str) -> None:
        self.key = key
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason}; fix: {fix}" if fix else reason)


class StoreFull(StoreUnavailable):
    """The store's disk or database has no room left: a known condition, said in one
    line rather than with a traceback, and answered "mail system full" (RFC 3463 4.3.1)."""


class FlagOp(enum.Enum):
    """RFC 9051 6.4.6 STORE: FLAGS (set), +FLAGS (add), -FLAGS (remove)."""

    SET = "set"
    ADD = "add"
    REMOVE = "remove"


class LeaseOutcome(enum.Enum):
    """What :meth:`MailStore.acquire_lease` did."""

    ACQUIRED = "acquired"  # the caller holds the lease now
    HELD = "held"  # another holder has it and it has not expired
    TOO_SOON = "too soon"  # free, but taken less than ``not_within`` seconds ago


class ChangeKind(enum.Enum):
    NEW = "new"
    FLAGS = "flags"
    EXPUNGE = "expunge"
    # Renamed or deleted: re-read the mailbox itself.
    MAILBOX = "mailbox"
    # Events may have been missed (the subscriber fell behind, the feed reconnected, a
    # notification was lost): re-read the changes since the session's MODSEQ. ``modseq``
    # is the newest the feed knows of, or 0 when it knows none; ``uids`` is empty.
    REREAD = "reread"


@dataclass(frozen=True)
class Account:
    """An owner of mailboxes: for users, ``name`` is the address (lowercase)."""

    id: int
    name: str
    quota_bytes: int  # 0 means unlimited
    display_name: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Domain:
    """A domain this server receives mail for (lowercase; IDNs as A-labels)."""

    id: int
    name: str
    created: float


@dataclass(frozen=True)
class Alias:
    """One alias row: mail to ``address`` also goes to ``target`` (an address, local or
    not). ``address`` ``@example.org`` is the catch-all of example.org."""

    address: str
    target: str


@dataclass(frozen=True)
class AppPassword:
    """A password of its own for one client of an account; ``credentials`` is opaque
    text made by the auth layer (hashes, never the password)."""

    id: int
    account_id: int
    label: str
    credentials: str = field(repr=False)
    created: float


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate registered to an account for SASL EXTERNAL."""

    fingerprint: str  # SHA-256, uppercase hex with colons (as mail clients show it)
    account_id: int
    label: str
    created: float


@dataclass(frozen=True)
class LoginCounter:
    """Failed-login state of one client address or account (see auth.throttle)."""

    failures: int
    streak: int
    last_failure: float
    blocked_until: float = 0.0
    next_slot: float = 0.0  # an account's: when the next guess at it may be checked


CounterUpdate = Callable[[LoginCounter | None], LoginCounter | None]


@dataclass(frozen=True)
class QuotaUsage:
    account_id: int
    used_bytes: int
    limit_bytes: int  # 0 means unlimited
    messages: int


@dataclass(frozen=True)
class Mailbox:
    id: int
    account_id: int
    name: str
    uid_validity: int
    uid_next: int
    highest_modseq: int
    special_use: frozenset[str] = frozenset()
    subscribed: bool = False


@dataclass(frozen=True)
class MailboxStatus:
    """RFC 9051 6.3.11 STATUS items, all from one consistent read."""

    mailbox: Mailbox
    messages: int
    unseen: int
    deleted: int
    size: int


@dataclass(frozen=True)
class Snapshot:
    """A mailbox as one read saw it, for a session that selects it (RFC 9051 6.3.1).

    The messages are kept column by column, in UID order (message ``i`` has sequence
    number ``i + 1``): ``uids``, ``modseqs``, and ``flag_ids`` indexing ``flag_sets``,
    the distinct flag sets of the mailbox (a mailbox has few), so that a session on a
    100,000-message mailbox holds 1.6 MB, not an object per message. ``mailbox`` is
    the mailbox row of the same read (UIDNEXT, HIGHESTMODSEQ agree with the arrays).
    """

    mailbox: Mailbox
    uids: array[int]  # "I": IMAP UIDs are 32-bit (RFC 9051 2.3.1.1)
    modseqs: array[int]  # "Q": 63-bit (RFC 7162 3.1)
    flag_ids: array[int]  # "I"
    flag_sets: tuple[frozenset[str], ...]

    def __len__(self) -> int:
        return len(self.uids)

    def flags(self, index: int) -> frozenset[str]:
        return self.flag_sets[self.flag_ids[index]]

    def index_of(self, uid: int) -> int | None:
        """The position of ``uid`` (its sequence number less one), or None if absent."""
        i = bisect.bisect_left(self.uids, uid)
        return i if i < len(self.uids) and self.uids[i] == uid else None

    @property
    def keywords(self) -> frozenset[str]:
        """The keywords set on some message (for FLAGS and PERMANENTFLAGS)."""
        return frozenset(f for flags in self.flag_sets for f in flags if not f.startswith("\\"))

    @property
    def nbytes(self) -> int:
        """Bytes the per-message arrays hold."""
        return sum(a.itemsize * len(a) for a in (self.uids, self.modseqs, self.flag_ids))


@dataclass(frozen=True)
class BlobRef:
    """A stable reference to stored message bytes; shared by copies of one message."""

    id: int
    size: int


@dataclass(frozen=True)
class MessageInfo:
    uid: int
    modseq: int
    flags: frozenset[str]  # system flags ("\\Seen") and keywords together
    internal_date: float  # seconds since the epoch, UTC
    size: int
    blob: BlobRef


@dataclass(frozen=True)
class NewMessage:
    content: MessageSource
    flags: frozenset[str] = frozenset()
    internal_date: float | None = None  # None: now


ImportKey = tuple[str, int]
"""An imported message: the SHA-256 (lowercase hex) of its bytes as stored, and which
copy of those bytes in its source folder it is (0, 1, ...)."""


@dataclass(frozen=True)
class Appended:
    mailbox_id: int
    uid_validity: int
    uid: int
    modseq: int
    blob: BlobRef


@dataclass(frozen=True)
class FlagsResult:
    """RFC 7162 3.1.3: ``updated`` were changed; ``failed`` failed UNCHANGEDSINCE."""

    updated: tuple[MessageInfo, ...]
    failed: UidSet
    highest_modseq: int


@dataclass(frozen=True)
class CopyResult:
    """RFC 4315 COPYUID: source UIDs map position by position onto destination UIDs."""

    uid_validity: int
    source_uids: tuple[int, ...]
    dest_uids: tuple[int, ...]


@dataclass(frozen=True)
class ExpungeResult:
    uids: tuple[int, ...]
    modseq: int


@dataclass(frozen=True)
class Changes:
    """RFC 7162 3.1.4.1 / 3.2.5.2: what changed after a MODSEQ, and what vanished."""

    changed: tuple[MessageInfo, ...]
    vanished: UidSet
    highest_modseq: int


@dataclass(frozen=True)
class ChangeEvent:
    mailbox_id: int
    kind: ChangeKind
    modseq: int
    uids: UidSet = field(default_factory=UidSet)  # may be empty when too long to carry


class Subscription(Protocol):
    """Events of one mailbox, from any session on any node; ``async with`` then iterate."""

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[ChangeEvent]: ...

    async def __anext__(self) -> ChangeEvent: ...


class QueueStatus(enum.Enum):
    READY = "ready"  # waiting for next_attempt
    CLAIMED = "claimed"  # a worker holds it until lease_until
    FAILED = "failed"  # given up; kept for the bounce and the admin


@dataclass(frozen=True)
class Envelope:
    mail_from: str  # "" for the null reverse-path (RFC 5321 4.5.5)
    rcpt_to: tuple[str, ...]


@dataclass(frozen=True)
class QueueEntry:
    id: int
    envelope: Envelope
    blob: BlobRef
    status: QueueStatus
    attempts: int
    next_attempt: float
    created: float
    last_error: str = ""
    worker: str = ""
    lease_until: float = 0.0


class MailStore(Protocol):
    async def create_mailbox(
        self, account_id: int, name: str, *, special_use: frozenset[str] = frozenset(),
        subscribed: bool = True,
    ) -> Mailbox: ...

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None: ...

    async def mailbox(self, mailbox_id: int) -> Mailbox: ...

    async def list_mailboxes(self, account_id: int) -> list[Mailbox]: ...

    async def rename_mailbox(self, mailbox_id: int, new_name: str) -> Mailbox: ...

    async def delete_mailbox(self, mailbox_id: int) -> None: ...

    async def set_subscribed(self, mailbox_id: int, subscribed: bool) -> None: ...

    async def set_special_use(self, mailbox_id: int, special_use: frozenset[str]) -> None: ...

    async def status(self, mailbox_id: int) -> MailboxStatus: ...

    async def append(self, mailbox_id: int, messages: Sequence[NewMessage]) -> list[Appended]: ...

    async def deliver(self, mailbox_ids: Sequence[int], message: NewMessage) -> list[Appended]:
        """One message into several mailboxes as one durable operation (one blob)."""
        ...

    async def imported(self, mailbox_id: int) -> frozenset[ImportKey]:
        """The keys :meth:`import_messages` recorded for the mailbox."""
        ...

    async def import_messages(
        self, mailbox_id: int, messages: Sequence[tuple[ImportKey, NewMessage]]
    ) -> list[Appended | None]:
        """Append, as one durable write, each message whose key the mailbox has not
        recorded yet, and record it; ``None`` in place of each one skipped."""
        ...

    async def messages(self, mailbox_id: int, uids: UidSet | None = None) -> list[MessageInfo]: ...

    async def search(self, mailbox_id: int, criterion: Criterion) -> SearchResult:
        """The mailbox's messages that match, from one read (see :mod:`mailward.store.search`)."""
        ...

    async def snapshot(self, mailbox_id: int) -> Snapshot:
        """The mailbox and its messages' UIDs, MODSEQs and flags, from one read;
        :class:`NotFound` when there is no such mailbox."""
        ...

    def read(self, blob: BlobRef, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The message bytes from ``offset``, ``length`` of them (``None``: to the end),
        in chunks of at most 256 KiB; only the chunks holding the range are read (IMAP
        ``BODY[]<offset.length>``, one part's bytes). A range past the end is cut at the
        end. :class:`NotFound` when the bytes are gone (expunged everywhere) before or
        while they are read: a message is never handed out cut short."""
        ...

    async def structures(self, blobs: Sequence[BlobRef]) -> dict[int, MessageStructure]:
        """The MIME structure of each message, by blob id, as kept when it was stored
        (IMAP BODYSTRUCTURE, ENVELOPE, section offsets); one read for many. A message
        stored before structures were kept is parsed now, and its structure kept. Blobs
        that are gone (expunged everywhere) are left out."""
        ...

    async def fill_structures(self, *, batch: int = 200,
                              progress: Callable[[int], None] | None = None) -> int:
        """Keep the structure of every message stored without one; how many (``store
        migrate``)."""
        ...

    async def index_text(self, *, limit: int = 100, mailbox_id: int | None = None) -> int:
        """Index the searchable text of up to ``limit`` messages not yet indexed (of one
        mailbox: all of them); how many. A background job runs it; :meth:`search` does it
        for the mailbox it searches, so that nothing pending is missed."""
        ...

    async def store_flags(
        self, mailbox_id: int, uids: UidSet, op: FlagOp, flags: frozenset[str], *,
        unchanged_since: int | None = None,
    ) -> FlagsResult: ...

    async def copy(self, mailbox_id: int, uids: UidSet, dest_mailbox_id: int) -> CopyResult: ...

    async def move(self, mailbox_id: int, uids: UidSet, dest_mailbox_id: int) -> CopyResult: ...

    async def expunge(
        self, mailbox_id: int, uids: UidSet | None = None, *, deleted_only: bool = True
    ) -> ExpungeResult: ...

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes: ...

    async def acquire_lease(
        self, mailbox_id: int, holder: str, seconds: float, *, not_within: float = 0.0
    ) -> LeaseOutcome:
        """Take the mailbox's lease for ``seconds`` (POP3's maildrop lock): one holder at a
        time across every process and node; an expired lease is free. ``not_within``: refuse
        with TOO_SOON if it was last taken less than this long ago (RFC 2449 LOGIN-DELAY).
        The holder taking it again renews it. :class:`NotFound` when there is no such mailbox."""
        ...

    async def renew_lease(self, mailbox_id: int, holder: str, seconds: float) -> bool:
        """Extend the lease to ``seconds`` from now; False when ``holder`` lost it."""
        ...

    async def release_lease(self, mailbox_id: int, holder: str) -> bool:
        """Give the lease up; False when ``holder`` no longer had it."""
        ...

    def subscribe(self, mailbox_id: int, modseq: int = 0) -> Subscription:
        """The mailbox's change events from when the subscription is entered. ``modseq``:
        the newest change the subscriber knows of (the feed's backstop re-reads past it).
        Subscribe before taking the snapshot, so that nothing falls between the two."""
        ...

    async def check_feed(self) -> int:
        """The change feed's backstop, run on an interval: a mailbox that has subscribers
        in this process and whose HIGHESTMODSEQ is above the newest event they were given
        (its notification was lost) gets a REREAD event. How many did."""
        ...


class AccountStore(Protocol):
    """Accounts, domains, aliases and what logging in needs.

    The store keeps names as it is given them: lower-casing and IDNA are the
    account service's job (``mailward.auth.accounts``). ``credentials`` are opaque
    text made by ``mailward.auth``; the store never sees a password.
    """

    async def create_account(
        self, name: str, *, quota_bytes: int = 0, display_name: str = "", credentials: str = "",
    ) -> Account: ...

    async def find_account(self, name: str) -> Account | None: ...

    async def account(self, account_id: int) -> Account:
        """The account; :class:`NotFound` when there is none."""
        ...

    async def list_accounts(self) -> list[Account]: ...

    async def update_account(
        self, account_id: int, *, display_name: str | None = None, enabled: bool | None = None,
        credentials: str | None = None,
    ) -> Account:
        """Change what is given (``None``: keep); :class:`NotFound` when no such account."""
        ...

    async def account_credentials(self, account_id: int) -> str:
        """The account's credentials text ("" when it has no password)."""
        ...

    async def set_quota(self, account_id: int, quota_bytes: int) -> None: ...

    async def delete_account(self, account_id: int) -> None:
        """Delete the account with its mailboxes, messages, app passwords and certificates."""
        ...

    async def quota(self, account_id: int) -> QuotaUsage: ...

    # --- domains ---
    async def add_domain(self, name: str) -> Domain:
        """:class:`AlreadyExists` when it is there already."""
        ...

    async def find_domain(self, name: str) -> Domain | None: ...

    async def list_domains(self) -> list[Domain]: ...

    async def remove_domain(self, name: str) -> None:
        """:class:`NotFound` when there is no such domain (accounts are not touched)."""
        ...

    # --- aliases ---
    async def add_alias(self, address: str, target: str) -> Alias:
        """:class:`AlreadyExists` when that address already goes to that target."""
        ...

    async def alias_targets(self, address: str) -> list[str]:
        """Targets of ``address`` (exact match, sorted); [] when it is no alias."""
        ...

    async def aliases_to(self, target: str) -> list[str]:
        """Alias addresses with ``target`` among their targets (sorted)."""
        ...

    async def list_aliases(self) -> list[Alias]:
        """Every alias row, sorted by address then target."""
        ...

    async def remove_alias(self, address: str, target: str | None = None) -> int:
        """Remove one row (``target`` given) or every row of ``address``; how many went."""
        ...

    # --- app passwords ---
    async def add_app_password(self, account_id: int, label: str, credentials: str) -> AppPassword:
        """:class:`AlreadyExists` when the account has one with that label."""
        ...

    async def app_passwords(self, account_id: int) -> list[AppPassword]:
        """The account's app passwords, oldest first."""
        ...

    async def revoke_app_password(self, account_id: int, label: str) -> None:
        """:class:`NotFound` when the account has none with that label."""
        ...

    # --- client certificates (SASL EXTERNAL) ---
    async def add_client_certificate(
        self, account_id: int, fingerprint: str, label: str = "",
    ) -> ClientCertificate:
        """:class:`AlreadyExists` when the fingerprint is registered (to any account)."""
        ...

    async def client_certificates(self, account_id: int) -> list[ClientCertificate]: ...

    async def remove_client_certificate(self, fingerprint: str) -> None:
        """:class:`NotFound` when it is not registered."""
        ...

    async def account_for_certificate(self, fingerprint: str) -> Account | None: ...


class CounterStore(Protocol):
    """Login-throttle counters, shared by every node using the store."""

    async def login_counter(self, key: str) -> LoginCounter | None: ...

    async def update_login_counter(self, key: str, fn: CounterUpdate) -> LoginCounter | None:
        """Replace the counter with ``fn(old)`` (``None`` deletes it) atomically: the row
        stays locked from read to write, so nodes counting at once lose no failure."""
        ...

    async def delete_login_counter(self, key: str) -> bool:
        """Whether there was a counter to delete."""
        ...

    async def login_counters(self) -> list[tuple[str, LoginCounter]]:
        """Every counter, sorted by key."""
        ...


class QueueStore(Protocol):
    async def enqueue(self, envelope: Envelope, content: MessageSource) -> QueueEntry: ...

    async def claim(self, worker: str, *, limit: int = 10, lease_seconds: float = 300.0) -> list[QueueEntry]:
        """Due entries for ``worker``; each is claimed by one worker on any node at a time."""
        ...

    async def retry_later(self, entry_id: int, worker: str, next_attempt: float, error: str) -> None: ...

    async def give_up(self, entry_id: int, worker: str, error: str) -> None: ...

    async def finish(self, entry_id: int, worker: str) -> None: ...

    async def queue_entries(self, status: QueueStatus | None = None) -> list[QueueEntry]: ...


class Store(MailStore, AccountStore, CounterStore, QueueStore, Protocol):
    backend: str

    async def close(self) -> None: ...
