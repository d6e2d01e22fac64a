"""MX resolution against a real DNS server on 127.0.0.1 (UDP and TCP), no internet."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from mailward.delivery.dns import (
    MxHost,
    NullMx,
    PermanentDnsError,
    Resolver,
    ResolverSettings,
    TemporaryDnsError,
    to_a_label,
)
from support.dns_server import DnsServer

ZONE = """
$ORIGIN test.
$TTL 300
@       SOA  ns.test. hostmaster.test. 1 3600 600 86400 300
@       NS   ns.test.
ns      A    127.0.0.1
multi   MX   20 mx2.multi.test.
multi   MX   10 mx1a.multi.test.
multi   MX   10 mx1b.multi.test.
multi   MX   10 mx1c.multi.test.
multi   MX   5  mx0.multi.test.
mx0.multi  A 127.0.0.10
nomx    A    127.0.0.20
nomx    AAAA ::1
v6only  AAAA ::2
nullmx  MX   0 .
noaddr  TXT  "exists, no MX, no address"
alias   CNAME multi.test.
alias2  CNAME alias.test.
broken  MX   10 mx.broken.test.
xn--bcher-kva MX 10 mx.xn--bcher-kva.test.
mx.xn--bcher-kva A 127.0.0.30
wide    MX   10 mx.wide.test.
mx.wide A 127.0.0.40
sub.empty A 127.0.0.50
"""
# Enough MX records that the answer exceeds any UDP payload: TCP is the only way.
BIG = "\n".join(f"big MX {i} mx{i:03}.a-rather-long-host-name-to-fill-the-answer.big.test." for i in range(60))
REVERSE = """
$ORIGIN 127.in-addr.arpa.
$TTL 300
@        SOA ns.test. hostmaster.test. 1 3600 600 86400 300
@        NS  ns.test.
20.0.0   PTR nomx.test.
"""


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer([ZONE + BIG, REVERSE]) as dns_server:
        yield dns_server


def resolver(server: DnsServer, seed: int = 1, **kw: object) -> Resolver:
    settings = ResolverSettings(nameservers=("127.0.0.1",), port=server.port, timeout=5.0, **kw)  # type: ignore[arg-type]
    return Resolver(settings, rng=random.Random(seed))


async def test_mx_in_preference_order_with_ties_shuffled(server: DnsServer) -> None:
    orders = set()
    for seed in range(12):
        hosts = await resolver(server, seed).mx_hosts("multi.test")
        assert [h.preference for h in hosts] == [5, 10, 10, 10, 20]
        assert hosts[0] == MxHost("mx0.multi.test", 5)
        assert hosts[-1] == MxHost("mx2.multi.test", 20)
        ties = tuple(h.name for h in hosts[1:4])
        assert sorted(ties) == ["mx1a.multi.test", "mx1b.multi.test", "mx1c.multi.test"]
        orders.add(ties)
    assert len(orders) > 1  # RFC 5321 5.1: equal preferences are not always in one order


async def test_no_mx_falls_back_to_the_domain_itself(server: DnsServer) -> None:
    r = resolver(server)
    assert await r.mx_hosts("nomx.test") == [MxHost("nomx.test", 0, implicit=True)]
    assert await r.mx_hosts("v6only.test.") == [MxHost("v6only.test", 0, implicit=True)]
    assert await r.addresses("nomx.test") == ["127.0.0.20", "::1"]
    v6_first = resolver(server, prefer_ipv6=True)
    assert await v6_first.addresses("nomx.test") == ["::1", "127.0.0.20"]


async def test_null_mx_is_permanent(server: DnsServer) -> None:
    with pytest.raises(NullMx) as caught:
        await resolver(server).mx_hosts("nullmx.test")
    assert not caught.value.temporary


async def test_nxdomain_and_no_address_are_permanent(server: DnsServer) -> None:
    r = resolver(server)
    with pytest.raises(PermanentDnsError, match="NXDOMAIN"):
        await r.mx_hosts("nowhere.test")
    with pytest.raises(PermanentDnsError, match="no MX and no address"):
        await r.mx_hosts("noaddr.test")
    assert await r.addresses("nowhere.test") == []
    assert await r.addresses("mx.broken.test") == []  # an MX host that does not exist


async def test_empty_non_terminal_is_not_nxdomain(server: DnsServer) -> None:
    # empty.test has no records but a name below it: NOERROR, no data (RFC 8020 is not NXDOMAIN)
    with pytest.raises(PermanentDnsError, match="no MX and no address"):
        await resolver(server).mx_hosts("empty.test")


async def test_servfail_is_temporary(server: DnsServer) -> None:
    server.behaviour.servfail.add("multi.test.")
    try:
        with pytest.raises(TemporaryDnsError) as caught:
            await resolver(server).mx_hosts("multi.test")
        assert caught.value.temporary
        server.behaviour.servfail.add("nomx.test.")
        with pytest.raises(TemporaryDnsError):
            await resolver(server).addresses("nomx.test")
    finally:
        server.behaviour.servfail.clear()


async def test_cname_chain_followed(server: DnsServer) -> None:
    hosts = await resolver(server).mx_hosts("alias2.test")
    assert [h.preference for h in hosts] == [5, 10, 10, 10, 20]


async def test_idn_domain_asked_as_a_label(server: DnsServer) -> None:
    assert to_a_label("B\u00fccher.test.") == "xn--bcher-kva.test"
    server.behaviour.log.clear()
    hosts = await resolver(server).mx_hosts("b\u00fccher.test")
    assert hosts == [MxHost("mx.xn--bcher-kva.test", 10)]
    assert ("udp", "xn--bcher-kva.test.", "MX") in server.behaviour.log
    assert await resolver(server).addresses(hosts[0].name) == ["127.0.0.30"]


async def test_truncated_udp_answer_is_retried_over_tcp(server: DnsServer) -> None:
    server.behaviour.log.clear()
    hosts = await resolver(server).mx_hosts("big.test")
    assert [h.preference for h in hosts] == list(range(60))
    assert [t for t, name, _ in server.behaviour.log if name == "big.test."] == ["udp", "tcp"]
    # and a small answer the server chooses to truncate
    server.behaviour.truncate.add("wide.test.")
    try:
        server.behaviour.log.clear()
        assert await resolver(server).mx_hosts("wide.test") == [MxHost("mx.wide.test", 10)]
        assert [t for t, name, _ in server.behaviour.log if name == "wide.test."] == ["udp", "tcp"]
    finally:
        server.behaviour.truncate.clear()


async def test_a_server_that_never_answers_times_out_bounded() -> None:
    silent = DnsServer.silent()
    try:
        port = silent.getsockname()[1]
        r = Resolver(ResolverSettings(nameservers=("127.0.0.1",), port=port, timeout=0.6, ptr_timeout=0.3))
        started = time.monotonic()
        with pytest.raises(TemporaryDnsError, match="timeout"):
            await r.mx_hosts("multi.test")
        assert time.monotonic() - started < 3.0
        started = time.monotonic()
        assert await r.reverse_name("127.0.0.20") is None
        assert time.monotonic() - started < 2.0
    finally:
        silent.close()


async def test_reverse_name(server: DnsServer) -> None:
    r = resolver(server, ptr_timeout=1.0)
    assert await r.reverse_name("127.0.0.20") == "nomx.test"
    assert await r.reverse_name("127.0.0.99") is None  # NXDOMAIN
    assert await r.reverse_name("not an ip") is None
    assert await r.reverse_name("::1") is None  # REFUSED: not our zone


async def test_ip_literal_and_bad_names(server: DnsServer) -> None:
    r = resolver(server)
    assert await r.addresses("192.0.2.1") == ["192.0.2.1"]
    with pytest.raises(PermanentDnsError):
        await r.mx_hosts("bad..name")
