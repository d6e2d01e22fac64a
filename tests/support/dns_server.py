"""A small authoritative DNS server for tests: real DNS over UDP and TCP on 127.0.0.1.

Zones are master-file text parsed by dnspython (``dns.zone.from_text``); queries and
answers are real DNS messages (``dns.message``). It answers authoritatively, follows
CNAMEs inside its zones, says NXDOMAIN (with the SOA) for names that do not exist,
truncates UDP answers that do not fit (RFC 1035 4.2.1, RFC 6891 payload size) so the
client must retry over TCP, and can be told to answer SERVFAIL for some names or to
truncate some names' UDP answers always. ``DnsServer.silent()`` binds a UDP port that
never answers, for timeouts.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone

MAX_CNAME_CHAIN = 8


@dataclass
class Behaviour:
    servfail: set[str] = field(default_factory=set)  # names (with final dot) answered SERVFAIL
    truncate: set[str] = field(default_factory=set)  # names whose UDP answer is always truncated
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (transport, name, type)


class DnsServer:
    """Serves ``zones`` (master-file texts) on 127.0.0.1, one ephemeral port for UDP and TCP."""

    def __init__(self, zones: list[str]) -> None:
        self.zones = [dns.zone.from_text(text, relativize=False) for text in zones]
        self.behaviour = Behaviour()
        self._udp, self._tcp = _bind_pair(self)
        self.port = self._udp.server_address[1]
        self._threads = [
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for srv in (self._udp, self._tcp)
        ]

    def __enter__(self) -> DnsServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for srv in (self._udp, self._tcp):
            srv.shutdown()
            srv.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        self.behaviour.log.append((transport, qname.to_text(), dns.rdatatype.to_text(qtype)))
        if qname.to_text() in self.behaviour.servfail:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        self._resolve(response, qname, qtype)
        limit = 65535 if transport == "tcp" else max(512, query.payload if query.edns >= 0 else 512)
        try:
            wire_out = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            wire_out = b""  # RFC 1035 4.2.1: too long for UDP, so truncated
        if transport == "udp" and (not wire_out or qname.to_text() in self.behaviour.truncate):
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC  # RFC 2181 9: retry over TCP
            return truncated.to_wire()
        return wire_out

    def _resolve(self, response: dns.message.Message, qname: dns.name.Name, qtype: int) -> None:
        for _ in range(MAX_CNAME_CHAIN):
            zone = self._zone_for(qname)
            if zone is None:
                response.set_rcode(dns.rcode.REFUSED)
                response.flags &= ~dns.flags.AA
                return
            node = zone.get_node(qname)
            if node is None:
                if not any(name.is_subdomain(qname) for name in zone.nodes):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._soa(response, zone)
                return
            rdataset = node.get_rdataset(zone.rdclass, qtype)
            if rdataset is not None:
                response.answer.append(dns.rrset.from_rdata_list(qname, rdataset.ttl, list(rdataset)))
                return
            cname = node.get_rdataset(zone.rdclass, dns.rdatatype.CNAME)
            if cname is None or qtype == dns.rdatatype.CNAME:
                self._soa(response, zone)  # NODATA (RFC 2308 2.2)
                return
            response.answer.append(dns.rrset.from_rdata_list(qname, cname.ttl, list(cname)))
            qname = next(iter(cname)).target

    def _zone_for(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        found = [zone for zone in self.zones if zone.origin is not None and qname.is_subdomain(zone.origin)]
        return max(found, key=lambda z: len(z.origin or ()), default=None)

    @staticmethod
    def _soa(response: dns.message.Message, zone: dns.zone.Zone) -> None:
        assert zone.origin is not None
        soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
        if soa is not None:
            response.authority.append(dns.rrset.from_rdata_list(zone.origin, soa.ttl, list(soa)))

    @staticmethod
    def silent() -> socket.socket:
        """A bound UDP socket nobody reads: queries to it time out. Close it after the test."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        return sock


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.answer(data, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(5)
        for _ in range(100):  # RFC 7766: several queries on one connection
            header = _read_exact(conn, 2)
            if header is None:
                return
            wire = _read_exact(conn, struct.unpack("!H", header)[0])
            if wire is None:
                return
            reply = self.server.dns.answer(wire, "tcp")
            if reply is None:
                return
            conn.sendall(struct.pack("!H", len(reply)) + reply)


def _read_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    dns: DnsServer


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    dns: DnsServer


def _bind_pair(server: DnsServer) -> tuple[_UdpServer, _TcpServer]:
    """UDP on an ephemeral port, then TCP on the same one (tried a bounded number of times)."""
    last: OSError | None = None
    for _ in range(20):
        udp = _UdpServer(("127.0.0.1", 0), _UdpHandler)
        try:
            tcp = _TcpServer(("127.0.0.1", udp.server_address[1]), _TcpHandler)
        except OSError as exc:
            udp.server_close()
            last = exc
            continue
        udp.dns = tcp.dns = server
        return udp, tcp
    raise RuntimeError(f"no port free for both UDP and TCP: {last}")
