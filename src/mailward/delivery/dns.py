"""DNS for the relay: where a domain's mail goes (MX, RFC 5321 5.1; null MX, RFC 7505)
and the reverse name of a client for the Received: line, with dnspython.

Every lookup is asynchronous and bounded by a real timeout. Failures are typed by
what the queue does with them: :class:`TemporaryDnsError` (SERVFAIL, timeout,
unreachable servers: retry later) and :class:`PermanentDnsError` (NXDOMAIN, no MX and
no address, null MX: bounce). Names go on the wire as A-labels (RFC 5890), so IDN
domains work whichever form the caller holds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

__all__ = [
    "DnsError",
    "MxHost",
    "NullMx",
    "PermanentDnsError",
    "Resolver",
    "ResolverSettings",
    "TemporaryDnsError",
    "to_a_label",
]


class DnsError(Exception):
    """A lookup gave no usable answer; ``temporary`` says whether to retry."""

    temporary = True


class TemporaryDnsError(DnsError):
    """SERVFAIL, a timeout or no server answering: try again later."""


class PermanentDnsError(DnsError):
    """The name does not exist or has nowhere to send mail: bounce."""

    temporary = False


class NullMx(PermanentDnsError):
    """RFC 7505 3: the domain says it accepts no mail (a single "0 ." MX)."""


@dataclass(frozen=True)
class ResolverSettings:
    """How the relay asks DNS.

    ``nameservers`` empty means the system's (``/etc/resolv.conf``); tests give
    127.0.0.1 and an ephemeral ``port``. ``timeout`` bounds each lookup as a whole,
    ``ptr_timeout`` the reverse lookup of a connecting client (kept short: the
    client waits for our greeting meanwhile).
    """

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 10.0
    ptr_timeout: float = 2.0
    prefer_ipv6: bool = False


@dataclass(frozen=True)
class MxHost:
    """One host to try: ``name`` as an A-label without the final dot.

    ``implicit`` is true for the domain itself when it has no MX (RFC 5321 5.1:
    an implicit MX of preference 0).
    """

    name: str
    preference: int
    implicit: bool = False


def to_a_label(domain: str) -> str:
    """The domain in A-labels, lower case, without the final dot (RFC 5890 2.3.2.1)."""
    try:
        name = dns.name.from_text(domain.rstrip("."))
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise PermanentDnsError(f"not a domain name: {domain!r}") from exc
    return name.to_text(omit_final_dot=True).lower()


class Resolver:
    """Asynchronous lookups with the settings' servers and timeouts.

    ``rng`` shuffles MX hosts of equal preference (RFC 5321 5.1); tests seed it.
    """

    def __init__(self, settings: ResolverSettings | None = None, *, rng: random.Random | None = None) -> None:
        self.settings = settings or ResolverSettings()
        self._rng = rng or random.Random()  # noqa: S311 - spreading load, not a secret
        if self.settings.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = list(self.settings.nameservers)
            resolver.port = self.settings.port
        else:
            resolver = dns.asyncresolver.Resolver()
        resolver.lifetime = self.settings.timeout
        resolver.timeout = min(2.0, self.settings.timeout)  # per try, before the next server
        resolver.use_edns(0, 0, 1232)  # RFC 6891; 1232 avoids fragmentation (DNS flag day 2020)
        self._resolver = resolver

    async def mx_hosts(self, domain: str) -> list[MxHost]:
        """The hosts to try for ``domain``, in order: lowest preference first, ties shuffled.

        No MX: the domain itself when it has an address (RFC 5321 5.1). Raises
        :class:`NullMx`, :class:`PermanentDnsError` or :class:`TemporaryDnsError`.
        """
        name = to_a_label(domain)
        try:
            answer = await self._query(name, dns.rdatatype.MX)
        except _NoData:
            # RFC 5321 5.1: no MX, so the domain itself is the host, if it has an address
            if not await self.addresses(name):
                raise PermanentDnsError(f"{name}: no MX and no address records") from None
            return [MxHost(name, 0, implicit=True)]
        records = [(r.preference, r.exchange.to_text(omit_final_dot=True).lower()) for r in answer]
        real = [(pref, host) for pref, host in records if host not in ("", ".")]
        if not real:
            # RFC 7505 3: a single MX with an empty exchange (".") means no mail at all
            raise NullMx(f"{name} accepts no mail (null MX, RFC 7505)")
        groups: dict[int, list[str]] = {}
        for pref, host in real:
            if host not in groups.setdefault(pref, []):
                groups[pref].append(host)
        hosts: list[MxHost] = []
        for pref in sorted(groups):
            same = groups[pref]
            self._rng.shuffle(same)  # RFC 5321 5.1: spread the load over equal preferences
            hosts.extend(MxHost(host, pref) for host in same)
        return hosts

    async def addresses(self, host: str) -> list[str]:
        """The IPv4 and IPv6 addresses of ``host`` (A and AAAA looked up together).

        An empty list when the name has none or does not exist; a temporary error
        when neither lookup could be answered.
        """
        if _is_ip(host):
            return [host]
        name = to_a_label(host)
        results = await asyncio.gather(
            self._addresses(name, dns.rdatatype.A),
            self._addresses(name, dns.rdatatype.AAAA),
            return_exceptions=True,
        )
        v4, v6 = results
        if isinstance(v4, BaseException) and isinstance(v6, BaseException):
            if isinstance(v4, TemporaryDnsError):
                raise v4
            if isinstance(v6, TemporaryDnsError):
                raise v6
            raise v4
        found4 = [] if isinstance(v4, BaseException) else v4
        found6 = [] if isinstance(v6, BaseException) else v6
        return found6 + found4 if self.settings.prefer_ipv6 else found4 + found6

    async def reverse_name(self, ip: str) -> str | None:
        """The PTR name of ``ip`` for the Received: line, or None (no name, error or timeout)."""
        try:
            query = dns.reversename.from_address(ip)
            answer = await self._resolver.resolve(
                query, dns.rdatatype.PTR, lifetime=self.settings.ptr_timeout, search=False
            )
        except (dns.exception.DNSException, ValueError):
            return None
        for record in answer:
            return str(record.target.to_text(omit_final_dot=True))
        return None

    async def _addresses(self, name: str, rdtype: dns.rdatatype.RdataType) -> list[str]:
        try:
            answer = await self._query(name, rdtype)
        except _NoData:
            return []
        except PermanentDnsError:
            return []
        return [str(record.address) for record in answer]

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.resolver.Answer:
        """One lookup, its failures typed; CNAME chains are followed by dnspython."""
        try:
            return await self._resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN as exc:
            raise PermanentDnsError(f"{name}: no such domain (NXDOMAIN)") from exc
        except dns.resolver.NoAnswer as exc:
            raise _NoData(name) from exc
        except dns.resolver.LifetimeTimeout as exc:
            raise TemporaryDnsError(f"{name}: DNS timeout after {self.settings.timeout:g}s") from exc
        except dns.resolver.NoNameservers as exc:
            raise TemporaryDnsError(f"{name}: no DNS server answered (SERVFAIL or refused)") from exc
        except dns.exception.DNSException as exc:
            raise TemporaryDnsError(f"{name}: DNS error: {exc}") from exc


class _NoData(Exception):
    """The name exists but has no record of the type asked (NOERROR, empty answer)."""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
