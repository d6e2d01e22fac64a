"""Login throttling: failed logins per client address and per account, across protocols.

Pure logic over a pluggable counter backend and an injectable clock. Each address
(IPv6: its /``ipv6_prefix`` network) and each account has a :class:`Counter`:

* ``failures`` counts failures within the window (forgotten ``*_window`` seconds
  after the last one) and leads to a block at ``ip_block_after`` /
  ``account_block_after``: then every attempt is refused for ``block_duration``;
* ``streak`` counts failures since the last success and drives the delay: at
  ``streak >= delay_after`` the next attempt waits
  ``min(initial_delay * delay_factor ** (streak - delay_after), max_delay)``.

A success deletes the account's counter (unless it is blocked: a known address may
log in during an account's block, which still holds for everyone else) and ends the
address's streak, but not its failures: an attacker holding one valid account cannot
log in to it now and then to keep guessing others from the same address. Addresses in the allowlist are never
delayed, refused or counted.

A success also makes the address *known* to the account for ``known_address_ttl``
seconds (a ``known:`` record, kept with the counters): attempts from a known address
skip the account's counter, so guesses at the account from elsewhere neither delay
nor block its owner there (OWASP's known-device exemption). The address's own
counter still applies to it.

Guesses at one account are checked one after another: an attempt takes the account's
next *slot* (``next_slot``, one delay after the slot before), so that many addresses
guessing at once get no more guesses checked per minute than one. An attempt from an
address that is neither known nor has failures of its own (a *clean* address: the
owner on a new network) waits at most ``clean_address_max_wait`` for its slot and is
not refused for the account's block; its first failure makes the address count as an
attacker's, whose attempts wait for their slot in full (refused when that is more
than ``max_delay`` away) and are refused during the block.

Times are wall-clock seconds (``time.time``), because counters are shared between
nodes through the store, where monotonic clocks mean nothing.

:class:`mailward.auth.sasl.SaslExchange` applies it (given ``throttle=`` and the peer):
it calls :meth:`Throttle.check` as soon as the user name is known and before any
password or proof is checked (refuse, or sleep ``verdict.delay``), then
:meth:`record_failure` or :meth:`record_success`.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from mailward.config.auth import AuthSettings
from mailward.store.interface import LoginCounter

Clock = Callable[[], float]
Kind = Literal["ip", "user", "known"]


# The state of one address or account; the store keeps the same record for nodes
# that share it (``mailward.auth.accounts.lookup.StoreCounters``).
Counter = LoginCounter


Update = Callable[[Counter | None], Counter | None]


class CounterBackend(Protocol):
    """Where counters live: in memory for one node, in the store for several.

    ``update`` must apply ``fn`` atomically (a transaction with the row locked, in
    the store), so that nodes counting at once lose no failure.
    """

    async def get(self, key: str) -> Counter | None: ...

    async def update(self, key: str, fn: Update) -> Counter | None:
        """Replace the counter with ``fn(old)`` (``None`` deletes it); return the new one."""
        ...

    async def delete(self, key: str) -> bool: ...

    async def items(self) -> list[tuple[str, Counter]]: ...


class MemoryBackend:
    """Counters in a dict: one process, forgotten on restart."""

    def __init__(self) -> None:
        self._counters: dict[str, Counter] = {}

    async def get(self, key: str) -> Counter | None:
        return self._counters.get(key)

    async def update(self, key: str, fn: Update) -> Counter | None:
        new = fn(self._counters.get(key))  # no await in between: atomic on one loop
        if new is None:
            self._counters.pop(key, None)
        else:
            self._counters[key] = new
        return new

    async def delete(self, key: str) -> bool:
        return self._counters.pop(key, None) is not None

    async def items(self) -> list[tuple[str, Counter]]:
        return sorted(self._counters.items())


@dataclass(frozen=True)
class Verdict:
    """What to do with a login attempt: ``allow`` (after ``delay`` seconds) or ``refuse``.

    On ``refuse``, answer with a temporary failure without checking the password;
    ``retry_at`` is when the block ends, ``subject`` what is blocked (for the log).
    """

    action: Literal["allow", "refuse"]
    delay: float = 0.0
    retry_at: float | None = None
    subject: str = ""

    @property
    def refused(self) -> bool:
        return self.action == "refuse"


ALLOW = Verdict("allow")


@dataclass(frozen=True)
class Blocked:
    """One entry of ``mailward auth blocked``."""

    kind: Kind
    subject: str
    failures: int
    until: float


class Throttle:
    def __init__(
        self, settings: AuthSettings, backend: CounterBackend, clock: Clock = time.time
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.apply(settings)

    def apply(self, settings: AuthSettings) -> None:
        """Use ``settings`` from now on (SIGHUP). The counters kept so far stay; a new
        ``ipv6_prefix`` files IPv6 clients under new keys, so their counts start again."""
        self.settings = settings
        self._allow = [ipaddress.ip_network(n, strict=False) for n in settings.allowlist]

    # --- keys ----------------------------------------------------------------

    def ip_key(self, peer_ip: str) -> str | None:
        """The counter key of an address; ``None`` when it is allowlisted."""
        try:
            address = ipaddress.ip_address(peer_ip)
        except ValueError:
            return f"ip:{peer_ip}"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
        if any(address in net for net in self._allow):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            net = ipaddress.ip_network(f"{address}/{self.settings.ipv6_prefix}", strict=False)
            return f"ip:{net}"
        return f"ip:{address}"

    @staticmethod
    def user_key(username: str) -> str:
        return f"user:{username.casefold()}"

    @staticmethod
    def known_key(ip_key: str, username: str) -> str:
        """The record that ``ip_key`` logged in to ``username`` (``known:IP>USER``)."""
        return f"known:{ip_key.removeprefix('ip:')}>{username.casefold()}"

    def _keys(self, peer_ip: str, username: str | None) -> list[tuple[str, Kind]]:
        ip = self.ip_key(peer_ip)
        if ip is None:
            return []  # allowlisted: neither the address nor the account is throttled
        keys: list[tuple[str, Kind]] = [(ip, "ip")]
        if username:
            keys.append((self.user_key(username), "user"))
        return keys

    async def _known(self, ip_key: str, username: str, now: float) -> bool:
        """Has this address logged in to this account within ``known_address_ttl``?"""
        if not self.settings.known_address_ttl:
            return False
        record = await self.backend.get(self.known_key(ip_key, username))
        return self._live(record, "known", now) is not None

    # --- decisions -------------------------------------------------------------

    def _window(self, kind: Kind) -> float:
        if kind == "known":
            return self.settings.known_address_ttl  # counted from the last login
        return self.settings.ip_window if kind == "ip" else self.settings.account_window

    def _block_after(self, kind: Kind) -> int:
        return self.settings.ip_block_after if kind == "ip" else self.settings.account_block_after

    def _live(self, counter: Counter | None, kind: Kind, now: float) -> Counter | None:
        """``counter`` unless its block is over or its window has passed."""
        if counter is None:
            return None
        if counter.blocked_until:
            return counter if now < counter.blocked_until else None
        if now - counter.last_failure >= self._window(kind):
            return None
        return counter

    def delay_for(self, streak: int) -> float:
        s = self.settings
        if streak < s.delay_after:
            return 0.0
        return float(min(s.initial_delay * s.delay_factor ** (streak - s.delay_after), s.max_delay))

    async def check(self, peer_ip: str, username: str | None = None, *, take_slot: bool = True) -> Verdict:
        """Whether (and after what delay) to check an attempt from ``peer_ip`` for ``username``.

        An attempt that is allowed takes the account's next slot (``take_slot=False``:
        only look, for a verdict about the next attempt)."""
        now = self.clock()
        keys = self._keys(peer_ip, username)
        if not keys:
            return ALLOW
        ip_key = keys[0][0]
        ip = self._live(await self.backend.get(ip_key), "ip", now)
        if ip is not None and ip.blocked_until:
            return Verdict("refuse", retry_at=ip.blocked_until, subject=ip_key)
        delay = self.delay_for(ip.streak) if ip is not None else 0.0
        if not username or await self._known(ip_key, username, now):
            return Verdict("allow", delay=delay)  # the owner's own address: not held back
        account = await self._account_verdict(self.user_key(username), ip is None or ip.failures == 0, now,
                                              take_slot)
        if account.refused:
            return account
        return Verdict("allow", delay=max(delay, account.delay))

    async def _account_verdict(self, key: str, clean: bool, now: float, take_slot: bool) -> Verdict:
        live = self._live(await self.backend.get(key), "user", now)
        if live is None or not (live.blocked_until or self.delay_for(live.streak)):
            return ALLOW  # nothing holds the attempt back, and there is no slot to take
        if not take_slot:
            return self._slot(live, key, clean, now)[0]
        verdicts: list[Verdict] = []

        def fn(old: Counter | None) -> Counter | None:
            current = self._live(old, "user", now)
            if current is None:
                verdicts.append(ALLOW)
                return old
            verdict, taken = self._slot(current, key, clean, now)
            verdicts.append(verdict)
            return taken

        await self.backend.update(key, fn)  # atomic: two attempts never take the same slot
        return verdicts[-1]

    def _slot(self, live: Counter, key: str, clean: bool, now: float) -> tuple[Verdict, Counter]:
        """The verdict on an attempt at an account with counter ``live``, and the counter
        with the slot taken."""
        cap = self.settings.clean_address_max_wait
        if live.blocked_until:
            if clean:  # perhaps the owner, on a new network: checked, after a short wait
                return Verdict("allow", delay=cap), live
            return Verdict("refuse", retry_at=live.blocked_until, subject=key), live
        slot = max(now, live.next_slot) + self.delay_for(live.streak)
        wait = slot - now
        if clean:
            return Verdict("allow", delay=min(wait, cap)), replace(live, next_slot=slot)
        if wait > self.settings.max_delay:  # too many attempts queued at it: come back later
            return Verdict("refuse", retry_at=live.next_slot, subject=key), live
        return Verdict("allow", delay=wait), replace(live, next_slot=slot)

    async def record_failure(self, peer_ip: str, username: str | None = None) -> Verdict:
        """Count a failed attempt; return the verdict the next one would get now."""
        now = self.clock()
        for key, kind in self._keys(peer_ip, username):
            await self.backend.update(key, self._failed(kind, now))
        return await self.check(peer_ip, username, take_slot=False)

    def _failed(self, kind: Kind, now: float) -> Update:
        def fn(old: Counter | None) -> Counter:
            live = self._live(old, kind, now)
            if live is not None and live.blocked_until:
                return live  # attempts during a block are refused, not counted
            failures = (live.failures if live else 0) + 1
            streak = (live.streak if live else 0) + 1
            blocked = now + self.settings.block_duration if failures >= self._block_after(kind) else 0.0
            return Counter(failures, streak, now, blocked, live.next_slot if live else 0.0)

        return fn

    async def record_success(self, peer_ip: str, username: str) -> None:
        """A login succeeded: forget the account's failures, end the address's streak,
        and remember the address as known to the account."""
        keys = self._keys(peer_ip, username)
        now = self.clock()
        for key, kind in keys:
            if kind == "user":
                await self.backend.update(key, self._owner_succeeded(now))
            else:
                await self.backend.update(key, self._succeeded(kind, now))
                if self.settings.known_address_ttl:
                    await self.backend.update(self.known_key(key, username), self._seen(now))

    def _owner_succeeded(self, now: float) -> Update:
        def fn(old: Counter | None) -> Counter | None:
            live = self._live(old, "user", now)
            # a block stands: the owner got in from a known address, the guessers are still out
            return live if live is not None and live.blocked_until else None

        return fn

    @staticmethod
    def _seen(now: float) -> Update:
        def fn(old: Counter | None) -> Counter:
            return Counter(failures=0, streak=0, last_failure=now)  # last_failure: the last login

        return fn

    def _succeeded(self, kind: Kind, now: float) -> Update:
        def fn(old: Counter | None) -> Counter | None:
            live = self._live(old, kind, now)
            if live is None:
                return None
            return replace(live, streak=0)

        return fn

    # --- administration ------------------------------------------------------------

    async def blocked(self) -> list[Blocked]:
        """Addresses and accounts refused now (``mailward auth blocked``)."""
        now = self.clock()
        out: list[Blocked] = []
        for key, counter in await self.backend.items():
            if counter.blocked_until > now:
                subject = key.partition(":")[2]
                out.append(Blocked(_kind(key), subject, counter.failures, counter.blocked_until))
        return out

    async def prune(self) -> int:
        """Delete counters whose window or block is over; return how many. Run it now and
        then (a minute is plenty): otherwise one-off failures from many addresses pile up."""
        now = self.clock()
        dead = 0
        for key, counter in await self.backend.items():
            kind = _kind(key)
            if self._live(counter, kind, now) is None:
                await self.backend.update(key, self._expire(kind, now))  # atomic: may have changed
                dead += 1
        return dead

    def _expire(self, kind: Kind, now: float) -> Update:
        def fn(old: Counter | None) -> Counter | None:
            return self._live(old, kind, now)

        return fn

    async def unblock(self, ip_or_user: str) -> bool:
        """Forget the counter of an address (or its IPv6 network) or of an account.

        Anything that parses as an IP address (or network) is an address, the rest
        an account. Returns whether there was anything to forget.
        """
        try:
            ipaddress.ip_network(ip_or_user, strict=False)
        except ValueError:
            return await self.backend.delete(self.user_key(ip_or_user))
        if "/" in ip_or_user:
            return await self.backend.delete(f"ip:{ipaddress.ip_network(ip_or_user, strict=False)}")
        key = self.ip_key(ip_or_user)
        return key is not None and await self.backend.delete(key)


def _kind(key: str) -> Kind:
    if key.startswith("ip:"):
        return "ip"
    return "known" if key.startswith("known:") else "user"


def format_time(timestamp: float) -> str:
    """A counter's time as admins read it in logs and `auth blocked`."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
