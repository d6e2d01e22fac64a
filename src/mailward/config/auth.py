"""The ``[auth]`` section: login throttling.

Failed logins are counted per client address (IPv6 addresses per /64, see
``ipv6_prefix``) and per account, across every protocol. While a count is at or
above ``delay_after``, each further attempt is answered only after a delay that
starts at ``initial_delay`` and grows by ``delay_factor`` up to ``max_delay``; at
``ip_block_after`` (address) or ``account_block_after`` (account) failures the
address or account is refused outright for ``block_duration`` seconds.
An address that logged in to an account before (``known_address_ttl``) is not
held back by that account's count. `mailward auth blocked` lists blocks;
`mailward auth unblock IP|USER` lifts one.
The logic is :mod:`mailward.auth.throttle`; this module only declares the shape.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailward.config.schema import positive, setting


def _at_least_one(value: int) -> tuple[str, str] | None:
    if value < 1:
        return (f"must be at least 1, got {value}", "use 1 or more")
    return None


def _factor(value: float) -> tuple[str, str] | None:
    if value < 1:
        return (f"must be at least 1 (delays never shrink), got {value}", "use 1 or more, e.g. 2")
    return None


def _not_negative(value: float) -> tuple[str, str] | None:
    if value < 0:
        return (f"must not be negative, got {value}", "use 0 (off) or a number of seconds")
    return None


def _prefix(value: int) -> tuple[str, str] | None:
    if not 32 <= value <= 128:
        return (f"must be between 32 and 128, got {value}", "use 64 (one IPv6 subnet per site)")
    return None


def _networks(value: tuple[str, ...]) -> tuple[str, str] | None:
    for text in value:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return (f'"{text}" is not a network', 'write an address or CIDR, like "192.0.2.0/24" or "::1"')
    return None


@dataclass(frozen=True)
class AuthSettings:
    delay_after: int = setting(
        3,
        "Failed logins (per address and per account) answered without delay; from this "
        "count on, each attempt waits before it is answered.",
        check=_at_least_one,
    )
    initial_delay: float = setting(1.0, "Seconds of the first delay.", check=positive)
    delay_factor: float = setting(
        2.0, "Each further failure multiplies the delay by this.", check=_factor
    )
    max_delay: float = setting(30.0, "The delay never grows beyond this many seconds.", check=positive)
    ip_block_after: int = setting(
        10,
        "Failed logins from one address (within ip_window) after which it is refused "
        "for block_duration.",
        check=_at_least_one,
    )
    account_block_after: int = setting(
        30,
        "Failed logins to one account (within account_window) after which it is refused "
        "for block_duration, from every address not in the allowlist. Higher than "
        "ip_block_after because a blocked account also shuts out its owner.",
        check=_at_least_one,
    )
    block_duration: float = setting(900.0, "Seconds a block lasts.", check=positive)
    ip_window: float = setting(
        900.0,
        "Seconds without a failure after which an address's count is forgotten.",
        check=positive,
    )
    account_window: float = setting(
        3600.0,
        "Seconds without a failure after which an account's count is forgotten.",
        check=positive,
    )
    ipv6_prefix: int = setting(
        64,
        "IPv6 clients are counted per network of this prefix length: one host "
        "usually holds a whole /64.",
        check=_prefix,
    )
    known_address_ttl: float = setting(
        30 * 86400.0,
        "Seconds an address that logged in to an account stays known to that account: "
        "its attempts at that account skip the account's delay and block (the address's "
        "own count still applies), so guesses from elsewhere never keep the owner out. "
        "0: no address is known.",
        check=_not_negative,
    )
    clean_address_max_wait: float = setting(
        3.0,
        "Seconds at most an attempt at an account waits for the account's count when it "
        "comes from an address with no failures of its own and not known to the account "
        "(the owner on a new network): it is never refused for the account's block either, "
        "so guesses from elsewhere cannot keep the owner out. An address's first failure "
        "ends this: from then on the account's delay and block apply to it in full.",
        check=_not_negative,
    )
    allowlist: tuple[str, ...] = setting(
        (),
        "Networks never throttled or blocked, and whose failures are not counted. Empty "
        "by default, loopback included: a proxy or webmail on this host would otherwise "
        "pass on any number of guesses. Add a webmail host only if it limits its own "
        'users\' attempts, e.g. allowlist = ["127.0.0.1/32"] or ["192.0.2.10/32"]; never '
        "add networks you do not control.",
        check=_networks,
    )
