"""The SMTP client's reply reader and EHLO capability parsing (RFC 5321 4.2, RFC 2034)."""

from __future__ import annotations

import pytest

from mailward.protocols.smtp.client_replies import (
    MAX_REPLY_LINE,
    Capabilities,
    ReplyReader,
    SmtpClientProtocolError,
    parse_capabilities,
)
from mailward.protocols.smtp.replies import Reply


def read_all(data: bytes) -> list[Reply]:
    reader = ReplyReader()
    reader.feed(data)
    out = []
    while (reply := reader.next_reply()) is not None:
        out.append(reply)
    return out


def read_bytewise(data: bytes) -> list[Reply]:
    reader = ReplyReader()
    out = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        while (reply := reader.next_reply()) is not None:
            out.append(reply)
    return out


STREAM = (
    b"220 mx.y.example ESMTP\r\n"
    b"250-mx.y.example hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"
    b"250 2.1.0 Sender OK\r\n"
    b"550-5.1.1 No such user\r\n550-5.1.1 here, really\r\n550 5.1.1 none\r\n"
    b"354 go ahead\r\n"
    b"250\r\n"
    b"451 4.3.0\r\n"
    b"250 Ok queued as 12\n"
    + "250 2.0.0 Unicode \u00e9t\u00e9\r\n".encode()
)
EXPECTED = [
    Reply(220, "", "mx.y.example ESMTP"),
    Reply(250, "", "mx.y.example hello\nPIPELINING\nSIZE 1000\n8BITMIME"),
    Reply(250, "2.1.0", "Sender OK"),
    Reply(550, "5.1.1", "No such user\nhere, really\nnone"),
    Reply(354, "", "go ahead"),
    Reply(250, "", ""),
    Reply(451, "4.3.0", ""),
    Reply(250, "", "Ok queued as 12"),
    Reply(250, "2.0.0", "Unicode \u00e9t\u00e9"),
]


def test_stream_whole_bytewise_and_split_everywhere() -> None:
    assert read_all(STREAM) == EXPECTED
    assert read_bytewise(STREAM) == EXPECTED
    for i in range(len(STREAM) + 1):
        reader = ReplyReader()
        out = []
        for piece in (STREAM[:i], STREAM[i:]):
            reader.feed(piece)
            while (reply := reader.next_reply()) is not None:
                out.append(reply)
        assert out == EXPECTED, i


def test_enhanced_code_must_match_the_reply_class() -> None:
    # RFC 3463 2: the class digit equals the reply's first digit; otherwise it is text
    assert read_all(b"250 5.1.1 odd\r\n") == [Reply(250, "", "5.1.1 odd")]
    assert read_all(b"550 5.7.1234 x\r\n") == [Reply(550, "", "5.7.1234 x")]


def test_partial_reply_waits() -> None:
    reader = ReplyReader()
    reader.feed(b"250-first\r\n250")
    assert reader.next_reply() is None
    assert reader.pending
    reader.feed(b" last\r\n")
    assert reader.next_reply() == Reply(250, "", "first\nlast")
    assert not reader.pending


@pytest.mark.parametrize(
    "data",
    [
        b"hello\r\n",
        b"25 short\r\n",
        b"650 bad class\r\n",
        b"260 bad second digit\r\n",
        b"250x no separator\r\n",
        b"250-one\r\n251 two\r\n",
        b"\r\n",
        b"x" * (MAX_REPLY_LINE + 2),
        b"2" * (MAX_REPLY_LINE + 10) + b"\r\n",
        b"250-x\r\n" * 300,
    ],
)
def test_not_a_reply_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(SmtpClientProtocolError):
        read_all(data)


def test_discard_forgets_buffered_bytes() -> None:
    reader = ReplyReader()
    reader.feed(b"250-half\r\n250 inj")
    assert reader.next_reply() is None
    assert reader.discard() == b"250 inj"
    reader.feed(b"220 fresh\r\n")
    assert reader.next_reply() == Reply(220, "", "fresh")


def test_capabilities_parsed() -> None:
    reply = Reply(
        250,
        "",
        "mx.y.example greets relay\nSIZE 35882577\nPIPELINING\n8BITMIME\nSMTPUTF8\nCHUNKING\n"
        "STARTTLS\nAUTH PLAIN login CRAM-MD5\nENHANCEDSTATUSCODES\nDSN\nX-FOO bar",
    )
    assert parse_capabilities(reply) == Capabilities(
        size=35882577,
        pipelining=True,
        eightbitmime=True,
        smtputf8=True,
        chunking=True,
        starttls=True,
        auth=frozenset({"PLAIN", "LOGIN", "CRAM-MD5"}),
        enhanced_status_codes=True,
        dsn=True,
        keywords=frozenset(
            {"SIZE", "PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "STARTTLS", "AUTH",
             "ENHANCEDSTATUSCODES", "DSN", "X-FOO"}
        ),
    )


def test_capabilities_odd_forms() -> None:
    caps = parse_capabilities(Reply(250, "", "mx\nAUTH=PLAIN LOGIN\nSIZE\nsize\n\n8bitmime"))
    assert caps.auth == frozenset({"PLAIN", "LOGIN"})
    assert caps.size == 0  # RFC 1870 4: offered without a fixed maximum
    assert caps.eightbitmime
    assert parse_capabilities(Reply(250, "", "mx.y.example")) == Capabilities()
    assert parse_capabilities(Reply(250, "", "mx\nSIZE -5")).size == 0
