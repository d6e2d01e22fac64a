"""One IMAP connection: the sans-IO core (:mod:`mailward.protocols.imap`) driven over a
:class:`~mailward.server.connection.Connection`.

The loop reads, feeds the parser and runs each command it returns, in order (a
pipelined batch is answered in order; responses go out when the parser needs more
input). Each command is run by a handler of the module for its group (:mod:`.auth`,
:mod:`.mailboxes`, :mod:`.selected`, :mod:`.messages`, ...); the table at the end of
:mod:`.handlers` maps command types to handlers, and :mod:`mailward.protocols.imap.state`
says which commands each state accepts.

Errors: the client's nonsense gets ``BAD`` (too many close the session with BYE);
a store that cannot answer gets ``NO [UNAVAILABLE]``; anything unexpected is logged
with its traceback and answered ``NO [SERVERBUG]``: exception text never reaches the
client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable
from typing import IO, Any

from mailward.config.imap import ImapSettings
from mailward.protocols.imap import codes
from mailward.protocols.imap.codes import ResponseCode
from mailward.protocols.imap.commands import Command, Context
from mailward.protocols.imap.parser import (
    NEED_MORE_DATA,
    CommandParser,
    Limits,
    LiteralChunk,
    NeedLiteral,
    ParseError,
)
from mailward.protocols.imap.policy import Facts, capabilities
from mailward.protocols.imap.response import Atom, Encoder, Response, Status, Stream
from mailward.protocols.imap.seqset import SequenceSet
from mailward.protocols.imap.state import (
    Authenticated,
    LoggedOut,
    NotAuthenticated,
    Selected,
    State,
    allowed,
    may_send_expunge,
    needs_write_access,
)
from mailward.server.connection import (
    Connection,
    ConnectionLog,
    IdleTimeout,
    ServerStopping,
    TlsHandshakeFailed,
)
from mailward.server.imap.view import Exists, Expunged, FlagsChanged, MailboxView, Update, Vanished
from mailward.server.login import SessionLogin
from mailward.server.services import Services
from mailward.store.interface import (
    Account,
    ChangeEvent,
    NotFound,
    StoreFull,
    StoreUnavailable,
    Subscription,
)
from mailward.store.uidset import UidSet

log = logging.getLogger("mailward.imap")

READ_SIZE = 64 * 1024
WRITE_BATCH = 64 * 1024  # buffered response octets handed to the connection at once
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")  # RFC 9051 2.3.2
SPOOL_MEMORY = 1 << 20  # an APPEND message above this goes to a temporary file as it arrives
IMPLEMENTATION = "mailward"


class CommandFailed(Exception):
    """A handler refuses the command: ``tag NO [code] text`` (``text`` is ours)."""

    def __init__(self, text: str, code: ResponseCode | None = None, status: Status = Status.NO) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.status = status


class CloseSession(Exception):
    """End the session (after LOGOUT's BYE, or a fatal protocol error's)."""


Handler = Callable[["ImapSession", Any], Awaitable[None]]


class ImapSession:
    """The facts and state of one IMAP connection, and the loop that serves it."""

    def __init__(self, conn: Connection, services: Services, handlers: dict[type[Command], Handler]) -> None:
        self.conn = conn
        self.services = services
        self.store = services.store
        self.settings = conn.listener.settings_of(ImapSettings)
        self.log = ConnectionLog(log, {"conn": conn.id})
        self.login = SessionLogin(conn, services.auth, self.log, "imap")
        self.encoder = Encoder()
        self.parser = CommandParser(self._limits(), Context())
        self.state: State = NotAuthenticated()
        self.enabled: set[str] = set()
        self.view: MailboxView | None = None
        self._handlers = handlers
        self._errors = 0
        self.login_failures = 0
        self._counted: str | None = None  # the user this session is counted for
        self._failed = 0  # commands refused (NO, BAD) since the last OK
        self._out = bytearray()  # responses not yet handed to the connection
        self.spools: list[IO[bytes]] = []  # APPEND messages of the command being received
        self._before_login = 0  # commands while not logged in
        self._feed: Subscription | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()  # the selected mailbox changed (set by the feed)
        self.saved_result = UidSet()  # SEARCH ... RETURN (SAVE), "$" (RFC 5182)

    def _limits(self) -> Limits:
        s = self.settings
        return Limits(max_line=s.max_line, max_literal=s.max_literal, max_append_literal=s.append_limit,
                      max_append_total=2 * s.append_limit)

    # --- facts -------------------------------------------------------------------------

    @property
    def account(self) -> Account:
        account = self.login.account
        if account is None:
            raise RuntimeError("no account before login")
        return account

    @property
    def rev2(self) -> bool:
        """IMAP4rev2 is enabled (RFC 9051 6.3.1): no \\Recent, ESEARCH replies, ..."""
        return "IMAP4REV2" in self.enabled

    @property
    def utf8(self) -> bool:
        return "UTF8=ACCEPT" in self.enabled or self.rev2

    def capabilities(self) -> list[str]:
        """What this connection offers now (RFC 9051 7.2.2), by the core's rules."""
        logged_in = not isinstance(self.state, NotAuthenticated)
        advertised = () if logged_in else self.login.mechanisms()[0]
        facts = Facts(
            tls_active=self.conn.tls is not None,
            starttls_available=self.conn.tls_available,
            plaintext_needs_tls=self.conn.listener.plaintext_login == "tls-only",
            mechanisms=advertised,
            append_limit=self.settings.append_limit,
        )
        return list(capabilities(facts, self.state))

    # --- writing -----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Buffer ``data``: a command's responses go out together (one send, one TLS
        record) when the session waits for the client, or every WRITE_BATCH octets."""
        self._out += data
        if len(self._out) >= WRITE_BATCH:
            self.push()

    def push(self) -> None:
        """Hand what is buffered to the connection now (before STARTTLS's handshake, and
        before the connection ends)."""
        if self._out:
            self.conn.write(bytes(self._out))
            self._out.clear()

    async def send(self, response: Response) -> None:
        """Write a response; its streamed literals are copied from their sources (async
        iterators of chunks), waiting for the client to read as they go."""
        for piece in response:
            if isinstance(piece, bytes):
                self.write(piece)
                continue
            await self._stream(piece)

    async def _stream(self, stream: Stream) -> None:
        """Copy a literal's octets. Its size went out already: if the bytes cannot all be
        read now (expunged everywhere meanwhile, the store gone), the framing cannot be
        kept, so the session ends (the client reconnects and sees the mailbox as it is)."""
        source = stream.source
        assert hasattr(source, "__aiter__"), "a Stream's source is an async iterator of chunks"
        sent = 0
        try:
            async for chunk in source:
                self.write(chunk)
                sent += len(chunk)
                if not self._out:  # pushed: let the client read before more is read
                    await self.conn.drain()
        except (NotFound, StoreUnavailable) as exc:
            self.log.warning("closing: a literal's octets could not be read (%s)", exc)
            raise CloseSession from None
        if sent != stream.size:  # never: the size came from the same store; never lie on the wire
            self.log.error("closing: streamed %d octets of a %d-octet literal", sent, stream.size)
            raise CloseSession

    def untagged(self, text: str, code: ResponseCode | None = None, status: Status = Status.OK) -> None:
        self.write(self.encoder.untagged_status(status, text, code))

    def tagged(self, tag: str, text: str, code: ResponseCode | None = None,
               status: Status = Status.OK) -> None:
        self.write(self.encoder.tagged(tag, status, text, code))
        self._failed = 0 if status is Status.OK else self._failed + 1

    async def flush(self) -> None:
        self.push()
        await self.conn.drain()

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if self.conn.tls is not None:  # implicit TLS
                await self.login.identify_certificate()
            self.untagged("mailward IMAP ready", codes.capability(self.capabilities()))
            await self._loop()
        except CloseSession:
            pass
        finally:
            self.drop_spools()
            self.push()  # the last replies (a BYE) before the listener closes
            await self.deselect()
            self.state = LoggedOut()
            if self._counted is not None:
                self.conn.counts.release_user(self._counted)

    def drop_spools(self) -> None:
        """Forget the APPEND messages spooled for the command just run (or refused)."""
        for spool in self.spools:
            spool.close()
        self.spools.clear()

    def claim_user(self) -> bool:
        """Count this session for its user, within ``max_connections_per_user`` across the
        workers; False (and logged out again) when that many are open."""
        name = self.account.name
        if self.conn.counts.admit_user(name, self.settings.max_connections_per_user):
            self._counted = name
            return True
        self.log.info("login refused: %d sessions of %s open already", self.settings.max_connections_per_user,
                      name)
        self.login.account = None
        return False

    def timeout(self) -> float:
        """RFC 9051 5.4: after login, at least 30 minutes; before it, the listener's own."""
        if isinstance(self.state, NotAuthenticated):
            return float(self.conn.listener.limits.idle_timeout)
        return float(self.settings.idle_timeout)

    async def read_more(self) -> None:
        """Wait for the client's next bytes; :class:`CloseSession` once it has closed."""
        await self.flush()
        data = await self.conn.read(READ_SIZE, timeout=self.timeout())
        if not data:
            raise CloseSession
        self.parser.receive(data)

    async def read_line(self) -> bytes:
        """A raw line (AUTHENTICATE responses, IDLE's DONE)."""
        while True:
            line = self.parser.next_line()
            if isinstance(line, bytes):
                return line
            if isinstance(line, ParseError):
                self.fatal(line)
            await self.read_more()

    async def _loop(self) -> None:
        while True:
            item = self.parser.next_command()
            if item is NEED_MORE_DATA:
                await self.read_more()
            elif isinstance(item, NeedLiteral):
                if item.command == "APPEND" and item.size > self.settings.max_literal:
                    # a message (a mailbox name that long was refused already): spooled
                    # as it arrives, never whole in memory
                    self.parser.stream_literal()
                    self.spools.append(tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY))  # noqa: SIM115 - closed after the command
                if item.synchronizing:  # RFC 9051 7.5: go ahead
                    self.write(self.encoder.continuation())
            elif isinstance(item, LiteralChunk):
                self.spools[-1].write(item.data)  # memory, then a temporary file: no sync
            elif isinstance(item, ParseError):
                self.drop_spools()
                self._parse_error(item)
            else:
                assert isinstance(item, Command)
                try:
                    await self.execute(item)
                finally:
                    self.drop_spools()

    def _parse_error(self, error: ParseError) -> None:
        if error.close:
            self.fatal(error)
        code = ResponseCode(error.code) if error.code else None
        status = Status.NO if error.status == "NO" else Status.BAD
        if error.tag is None:
            self.untagged(error.text, code, Status.BAD)
        else:
            self.tagged(error.tag, error.text, code, status)
        if status is Status.BAD:
            self.count_error()

    def fatal(self, error: ParseError) -> None:
        code = ResponseCode(error.code) if error.code else None
        self.untagged(error.text, code, Status.BYE)
        self.log.info("closing: %s", error.text)
        raise CloseSession

    def count_error(self) -> None:
        self._errors += 1
        if self._errors >= self.settings.max_errors:
            self.untagged("Too many errors", status=Status.BYE)
            self.log.info("closing: %d errors", self._errors)
            raise CloseSession

    async def execute(self, command: Command) -> None:
        self._check_progress()
        await self._execute(command)

    def _check_progress(self) -> None:
        """Commands that get nowhere end the session (issue 21 "without progress"): before
        a login, more than ``max_commands_before_login``; after, ``max_failed_commands``
        refusals (NO or BAD) in a row."""
        if isinstance(self.state, NotAuthenticated):
            self._before_login += 1
            if self._before_login > self.settings.max_commands_before_login:
                self.untagged("Too many commands without logging in", status=Status.BYE)
                self.log.info("closing: %d commands before a login", self._before_login - 1)
                raise CloseSession
        elif self._failed >= self.settings.max_failed_commands:
            self.untagged("Too many failed commands", status=Status.BYE)
            self.log.info("closing: %d failed commands in a row", self._failed)
            raise CloseSession

    async def _execute(self, command: Command) -> None:
        if not allowed(self.state, command):
            self.tagged(command.tag, f"{command.name} is not allowed now", status=Status.BAD)
            self.count_error()
            return
        if needs_write_access(command) and isinstance(self.state, Selected) and self.state.read_only:
            self.tagged(command.tag, "The mailbox is read-only (EXAMINE)", codes.READ_ONLY, Status.NO)
            return
        handler = self._handlers.get(type(command))
        if handler is None:  # the core parses it, nothing here runs it
            self.tagged(command.tag, f"{command.name} is not supported", codes.CANNOT, Status.NO)
            return
        try:
            await handler(self, command)
        except CommandFailed as failed:
            self.tagged(command.tag, failed.text, failed.code, failed.status)
            if failed.status is Status.BAD:
                self.count_error()
        except (CloseSession, IdleTimeout, ServerStopping, TlsHandshakeFailed, ConnectionError):
            raise  # the connection's end, not the command's: the listener says goodbye
        except StoreFull:
            self.tagged(command.tag, "The mail store is full", codes.OVERQUOTA, Status.NO)
        except StoreUnavailable:
            self.log.warning("%s: the store is unavailable", command.name)
            self.tagged(command.tag, "Try again later", codes.UNAVAILABLE, Status.NO)
        except Exception:
            self.log.exception("%s failed", command.name)
            self.tagged(command.tag, "Internal error; try again later", codes.SERVERBUG, Status.NO)

    # --- the selected mailbox ------------------------------------------------------------

    def message_set(self, numbers: SequenceSet, *, uid: bool, strict: bool = True) -> UidSet:
        """The UIDs of the messages a command names, of those the client knows: by UID
        (``*`` is the largest UID, RFC 9051 6.4.9), by message number (``*`` the last;
        a number past the end is BAD when ``strict``, else names nothing: a SEARCH key),
        or ``$``, the saved search result (RFC 5182)."""
        view = self.view
        assert view is not None
        if numbers.saved:
            return view.known_uids(self.saved_result)
        if uid:
            return view.known_uids(UidSet.from_ranges(numbers.resolve(view.uids[-1] if len(view) else 0)))
        # a number past the end is BAD, but a range with "*" is fine ("1:*" of an empty
        # mailbox names nothing; "5:*" of three messages is 3:5, RFC 9051 9)
        count = len(view)
        for r in numbers.ranges if strict else ():
            if isinstance(r.first, int) and isinstance(r.last, int) and max(r.first, r.last) > count:
                raise CommandFailed("No such message", status=Status.BAD)
        return view.uids_of_seqs(numbers.resolve(count))

    async def select(self, mailbox_id: int, name: str, read_only: bool) -> MailboxView:
        """Follow ``mailbox_id``'s changes, then take its snapshot (nothing falls between)."""
        await self.deselect()
        self.saved_result = UidSet()
        feed = self.store.subscribe(mailbox_id)
        await feed.__aenter__()
        self._feed = feed
        try:
            view = MailboxView(await self.store.snapshot(mailbox_id), read_only=read_only)
        except BaseException:
            await self.deselect()
            raise
        self.view = view
        self.state = Selected(name, read_only)
        self.changed.clear()
        self._feed_task = asyncio.get_running_loop().create_task(self._follow(feed), name="imap-feed")
        return view

    async def _follow(self, feed: Subscription) -> None:
        async for event in feed:
            self._on_event(event)

    def _on_event(self, event: ChangeEvent) -> None:
        # any kind: new mail, flags, expunges, a re-read, the mailbox renamed or deleted
        # (refresh finds out which)
        self.changed.set()

    async def deselect(self) -> None:
        """Stop following the selected mailbox (CLOSE, UNSELECT, SELECT of another, the end)."""
        task, self._feed_task = self._feed_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        feed, self._feed = self._feed, None
        if feed is not None:
            with contextlib.suppress(Exception):
                await feed.__aexit__(None, None, None)
        self.view = None
        if isinstance(self.state, Selected):
            self.state = Authenticated()

    async def refresh(self) -> None:
        """Take in what changed in the selected mailbox since the view's MODSEQ."""
        view = self.view
        if view is None or not self.changed.is_set():
            return
        self.changed.clear()
        try:
            changes = await self.store.changes_since(view.mailbox.id, view.highest_modseq)
        except NotFound:  # deleted under us: RFC 9051 has no word for it; say BYE
            self.untagged("The selected mailbox was deleted", status=Status.BYE)
            raise CloseSession from None
        view.absorb(changes)

    async def updates(self, command: Command | None) -> None:
        """Before the tagged reply: what others changed, as far as ``command`` allows
        (RFC 9051 7.5.1; ``None``: NOOP, IDLE, CHECK and the like allow everything)."""
        if self.view is None:
            return
        await self.refresh()
        expunges = True if command is None else may_send_expunge(command)
        await self.tell(self.view.updates(expunges=expunges, vanished="QRESYNC" in self.enabled))
        if not self.view.keywords <= self.view.announced_keywords:
            await self.tell_flags(self.view)  # RFC 9051 7.3.5: the defined flags changed

    async def tell_flags(self, view: MailboxView) -> None:
        """FLAGS and PERMANENTFLAGS: the system flags and the keywords in use (SELECT,
        and whenever a keyword appears in the mailbox)."""
        view.announced_keywords = view.keywords
        flags = [*SYSTEM_FLAGS, *sorted(view.announced_keywords)]
        await self.send(self.encoder.untagged(Atom("FLAGS"), [Atom(f) for f in flags]))
        permanent = [] if view.read_only else [*flags, "\\*"]
        self.untagged("Flags permitted" if permanent else "No permanent flags permitted",
                      codes.permanentflags(permanent))

    async def tell(self, updates: list[Update]) -> None:
        enc = self.encoder
        for update in updates:
            match update:
                case Expunged(seq, _):
                    self.write(b"* %d EXPUNGE\r\n" % seq)
                case Vanished(uids):
                    self.write(b"* VANISHED " + str(uids).encode() + b"\r\n")
                case Exists(count):
                    self.write(b"* %d EXISTS\r\n" % count)
                    if not self.rev2:
                        self.write(b"* 0 RECENT\r\n")  # RFC 3501 7.3.2: \Recent is not kept
                case FlagsChanged(seq, uid, flags, _):
                    await self.send(enc.fetch(seq, [("UID", uid), ("FLAGS", flag_atoms(flags))]))


def flag_atoms(flags: frozenset[str]) -> list[Any]:
    """A flag list as FETCH FLAGS and FLAGS write it (atoms, sorted)."""
    return [Atom(f) for f in sorted(flags)]
