"""The SMTP client core in whole conversations: exact bytes sent, events, per-recipient outcomes.

Every conversation is also fed byte by byte and split at every offset, and must give
the same events and the same bytes.
"""

from __future__ import annotations

import pytest

from mailward.protocols.smtp.client import (
    NEED_DATA,
    NEEDS_8BITMIME,
    NEEDS_SMTPUTF8,
    TOO_BIG_FOR_PEER,
    Authenticated,
    ClientStateError,
    Closed,
    Delivery,
    Greeting,
    MessageOutcome,
    Ready,
    Refused,
    SmtpClient,
    SmtpClientProtocolError,
    TlsReady,
)
from mailward.protocols.smtp.client_commands import Envelope, MessageFormatError, Notify, Recipient, Ret
from mailward.protocols.smtp.replies import Reply
from support.smtp_client_driver import MESSAGE, Caller, Run, run, splits

GREETING = b"220 mx.y.example ESMTP\r\n"
EHLO_FULL = (
    b"250-mx.y.example\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 AUTH PLAIN LOGIN\r\n"
)
EHLO_BARE = b"250 mx.y.example\r\n"
STUFFED = b"Subject: hi\r\n\r\nline one\r\n..dot line\r\nlast\r\n.\r\n"
MAIL = b"MAIL FROM:<a@x.example>"
B, C = Recipient("b@y.example"), Recipient("c@y.example")


def same_everywhere(server: bytes, *, chunk_size: int = 1 << 20, **kw: object) -> Run:
    """Run whole, byte by byte and split at every offset; all must agree."""
    whole = run([server], Caller(**kw), chunk_size=chunk_size)  # type: ignore[arg-type]
    bytewise = run([server[i : i + 1] for i in range(len(server))], Caller(**kw), chunk_size=chunk_size)  # type: ignore[arg-type]
    assert (bytewise.events, bytewise.sent) == (whole.events, whole.sent)
    for pieces in splits(server):
        split = run(pieces, Caller(**kw), chunk_size=chunk_size)  # type: ignore[arg-type]
        assert (split.events, split.sent) == (whole.events, whole.sent)
    return whole


def outcome(result: Run) -> MessageOutcome:
    found = [e for e in result.events if isinstance(e, MessageOutcome)]
    assert len(found) == 1
    return found[0]


def test_pipelined_transaction_one_recipient_refused() -> None:
    server = (
        GREETING + EHLO_FULL
        + b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 <c@y.example> unknown\r\n354 go\r\n"
        + b"250 2.0.0 queued as X\r\n221 2.0.0 bye\r\n"
    )
    result = same_everywhere(server)
    assert result.sent == (
        b"EHLO relay.example\r\n"
        + MAIL + b" SIZE=42\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\n"
        + STUFFED
        + b"QUIT\r\n"
    )
    got = outcome(result)
    assert [(o.recipient, o.delivery, o.reply) for o in got.recipients] == [
        (B, Delivery.ACCEPTED, Reply(250, "2.0.0", "queued as X")),
        (C, Delivery.PERMANENT, Reply(550, "5.1.1", "<c@y.example> unknown")),
    ]
    assert got.reply == Reply(250, "2.0.0", "queued as X")
    assert got.accepted == (B,)
    assert got.dsn_passed and not got.local
    assert isinstance(result.events[0], Greeting)
    ready = result.events[1]
    assert isinstance(ready, Ready) and ready.esmtp and ready.capabilities.size == 10000
    assert result.events[-1] == Closed(Reply(221, "2.0.0", "bye"))


def test_without_pipelining_each_command_waits_for_its_reply() -> None:
    server = (
        GREETING + EHLO_BARE + b"250 ok\r\n250 ok\r\n451 4.2.1 later\r\n354 go\r\n"
        + b"250 done\r\n221 bye\r\n"
    )
    result = same_everywhere(server)
    assert result.sent == (
        b"EHLO relay.example\r\n" + MAIL + b"\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"
        + b"DATA\r\n" + STUFFED + b"QUIT\r\n"
    )
    got = outcome(result)
    assert [o.delivery for o in got.recipients] == [Delivery.ACCEPTED, Delivery.TEMPORARY]
    assert not got.dsn_passed


def test_every_recipient_refused_resets_without_data() -> None:
    server = GREETING + EHLO_BARE + b"250 ok\r\n550 no\r\n452 full\r\n250 reset\r\n221 bye\r\n"
    result = same_everywhere(server)
    assert result.sent.endswith(b"RCPT TO:<c@y.example>\r\nRSET\r\nQUIT\r\n")
    assert b"DATA" not in result.sent
    got = outcome(result)
    assert [o.delivery for o in got.recipients] == [Delivery.PERMANENT, Delivery.TEMPORARY]
    assert got.reply == Reply(452, "", "full")


def test_pipelined_all_refused_and_data_354_sends_only_the_dot() -> None:
    # RFC 2920 3.1: a server that says 354 with no valid recipient gets a lone dot
    server = GREETING + EHLO_FULL + b"250 ok\r\n550 no\r\n550 no\r\n354 go\r\n554 no rcpt\r\n221 bye\r\n"
    result = same_everywhere(server)
    assert result.sent.endswith(b"DATA\r\n.\r\nQUIT\r\n")
    got = outcome(result)
    assert [o.delivery for o in got.recipients] == [Delivery.PERMANENT, Delivery.PERMANENT]
    assert got.reply == Reply(550, "", "no")


def test_mail_refused_pipelined_every_recipient_gets_the_mail_reply() -> None:
    server = (
        GREETING + EHLO_FULL
        + b"553 5.7.1 sender refused\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n554 5.5.1 no\r\n221 bye\r\n"
    )
    result = same_everywhere(server)
    got = outcome(result)
    refused = Reply(553, "5.7.1", "sender refused")
    assert got.reply == refused
    assert [(o.delivery, o.reply) for o in got.recipients] == [(Delivery.PERMANENT, refused)] * 2
    assert b"RSET" not in result.sent


def test_mail_refused_without_pipelining_sends_no_rcpt() -> None:
    server = GREETING + EHLO_BARE + b"451 4.3.0 try later\r\n221 bye\r\n"
    result = same_everywhere(server)
    assert result.sent == b"EHLO relay.example\r\n" + MAIL + b"\r\nQUIT\r\n"
    assert [o.delivery for o in outcome(result).recipients] == [Delivery.TEMPORARY] * 2


def test_data_refused_after_dot_fails_every_accepted_recipient() -> None:
    server = GREETING + EHLO_FULL + b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 spam\r\n221 bye\r\n"
    got = outcome(same_everywhere(server))
    assert [o.reply for o in got.recipients] == [Reply(554, "5.7.1", "spam")] * 2


def test_data_command_refused_resets() -> None:
    server = GREETING + EHLO_BARE + b"250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 no\r\n250 ok\r\n221 bye\r\n"
    result = same_everywhere(server)
    assert result.sent.endswith(b"DATA\r\nRSET\r\nQUIT\r\n")
    assert [o.delivery for o in outcome(result).recipients] == [Delivery.TEMPORARY] * 2


def test_helo_when_ehlo_is_not_known() -> None:
    # RFC 5321 4.1.1.1: 500 or 502 to EHLO means an old server; HELO then
    server = GREETING + b"502 what\r\n250 mx.y.example\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"
    result = same_everywhere(server)
    assert result.sent.startswith(b"EHLO relay.example\r\nHELO relay.example\r\n" + MAIL + b"\r\n")
    ready = [e for e in result.events if isinstance(e, Ready)]
    assert len(ready) == 1 and not ready[0].esmtp


def test_ehlo_and_helo_refused() -> None:
    server = GREETING + b"500 no\r\n550 go away\r\n221 bye\r\n"
    result = same_everywhere(server)
    assert Refused("HELO", Reply(550, "", "go away")) in result.events
    assert result.sent == b"EHLO relay.example\r\nHELO relay.example\r\nQUIT\r\n"
    server = GREETING + b"554 5.7.1 no\r\n221 bye\r\n"
    assert Refused("EHLO", Reply(554, "5.7.1", "no")) in same_everywhere(server).events


def test_greeting_refused_quits() -> None:
    result = same_everywhere(b"554 no service\r\n221 bye\r\n")
    assert result.sent == b"QUIT\r\n"
    assert result.events == [Greeting(Reply(554, "", "no service")), Closed(Reply(221, "", "bye"))]


def test_421_mid_pipeline_fails_everything_in_flight_temporarily() -> None:
    server = GREETING + EHLO_FULL + b"250 ok\r\n421 4.3.2 shutting down\r\n"
    result = same_everywhere(server)
    closing = Reply(421, "4.3.2", "shutting down")
    got = outcome(result)
    assert [(o.delivery, o.reply) for o in got.recipients] == [(Delivery.TEMPORARY, closing)] * 2
    assert result.events[-1] == Closed(closing)
    assert not result.sent.endswith(b"QUIT\r\n")


def test_421_without_pipelining_after_first_rcpt() -> None:
    server = GREETING + EHLO_BARE + b"250 ok\r\n250 ok\r\n421 bye now\r\n"
    result = same_everywhere(server)
    got = outcome(result)
    assert [o.delivery for o in got.recipients] == [Delivery.TEMPORARY] * 2
    assert result.sent.endswith(b"RCPT TO:<c@y.example>\r\n")  # nothing after the 421


def test_dsn_parameters_exact() -> None:
    envelope = Envelope(
        "a@x.example",
        (
            Recipient("b@y.example", frozenset({Notify.FAILURE, Notify.SUCCESS}), "B+1=x@y.example"),
            Recipient("c@y.example", frozenset(), None),
        ),
        eight_bit=True,
        ret=Ret.HDRS,
        envid="id 1+2",
    )
    server = GREETING + EHLO_FULL + b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"
    result = same_everywhere(server, envelope=envelope)
    assert result.sent.split(b"\r\n")[1:4] == [
        MAIL + b" SIZE=42 BODY=8BITMIME RET=HDRS ENVID=id+201+2B2",
        b"RCPT TO:<b@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2B1+3Dx@y.example",
        b"RCPT TO:<c@y.example> NOTIFY=NEVER",
    ]


def test_smtputf8_address() -> None:
    envelope = Envelope("\u00e4@x.example", (Recipient("b@\u00fc.example"),))
    server = GREETING + EHLO_FULL + b"250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"
    result = same_everywhere(server, envelope=envelope)
    assert "MAIL FROM:<\u00e4@x.example> SIZE=42 SMTPUTF8\r\nRCPT TO:<b@\u00fc.example>\r\n".encode() in result.sent


@pytest.mark.parametrize(
    ("ehlo", "envelope", "message", "refusal"),
    [
        (EHLO_FULL, Envelope("a@x.example", (B,)), b"x\r\n" * 5000, TOO_BIG_FOR_PEER),
        (EHLO_BARE, Envelope("\u00e4@x.example", (B,)), MESSAGE, NEEDS_SMTPUTF8),
        (EHLO_BARE, Envelope("a@x.example", (B,), eight_bit=True), MESSAGE, NEEDS_8BITMIME),
    ],
)
def test_refused_locally_without_sending(ehlo: bytes, envelope: Envelope, message: bytes, refusal: Reply) -> None:
    result = same_everywhere(GREETING + ehlo + b"221 bye\r\n", envelope=envelope, message=message)
    assert result.sent == b"EHLO relay.example\r\nQUIT\r\n"
    got = outcome(result)
    assert got.local and got.reply == refusal
    assert all(o.reply == refusal and o.delivery is Delivery.PERMANENT for o in got.recipients)


def test_chunking_with_pipelining() -> None:
    ehlo = b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    message = b"0123456789\r\n.abc\r\n"
    server = GREETING + ehlo + b"250 ok\r\n250 ok\r\n250 ok\r\n250 c1\r\n250 c2\r\n250 2.0.0 all\r\n221 bye\r\n"
    result = same_everywhere(server, message=message, chunk_size=8)
    assert result.sent == (
        b"EHLO relay.example\r\n" + MAIL + b"\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"
        b"BDAT 8\r\n01234567BDAT 8\r\n89\r\n.abcBDAT 2 LAST\r\n\r\nQUIT\r\n"
    )
    got = outcome(result)
    assert got.reply == Reply(250, "2.0.0", "all")
    assert [o.delivery for o in got.recipients] == [Delivery.ACCEPTED] * 2


def test_chunking_without_pipelining_stops_after_a_failed_chunk() -> None:
    # RFC 3030 2: after a failed BDAT no further chunk is sent; the transaction is reset
    message = b"0123456789\r\n"
    server = GREETING + b"250-mx\r\n250 CHUNKING\r\n" + b"250 ok\r\n250 ok\r\n250 ok\r\n552 5.3.4 big\r\n250 ok\r\n221 bye\r\n"
    result = same_everywhere(server, message=message)
    assert result.sent.endswith(b"BDAT 12 LAST\r\n0123456789\r\nRSET\r\nQUIT\r\n")
    assert outcome(result).reply == Reply(552, "5.3.4", "big")
    server = GREETING + b"250-mx\r\n250 CHUNKING\r\n" + b"250 ok\r\n250 ok\r\n250 ok\r\n250 c1\r\n552 5.3.4 big\r\n250 ok\r\n221 bye\r\n"
    chunked = same_everywhere(server, message=message, chunk_size=5)
    assert chunked.sent.endswith(b"BDAT 5\r\n01234BDAT 5\r\n56789RSET\r\nQUIT\r\n")
    assert [o.reply for o in outcome(chunked).recipients] == [Reply(552, "5.3.4", "big")] * 2


def test_chunking_pipelined_failure_skips_the_chunks_in_flight() -> None:
    ehlo = b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    server = GREETING + ehlo + b"250 ok\r\n250 ok\r\n250 ok\r\n452 4.3.1 full\r\n503 no\r\n250 ok\r\n221 bye\r\n"
    result = same_everywhere(server, message=b"0123456789\r\n", chunk_size=8)
    got = outcome(result)
    assert got.reply == Reply(452, "4.3.1", "full")
    assert result.sent.endswith(b"RSET\r\nQUIT\r\n")


def test_auth_plain_with_initial_response() -> None:
    server = GREETING + EHLO_FULL + b"235 2.7.0 ok\r\n221 bye\r\n"
    result = same_everywhere(server, auth=("PLAIN", "user", "p\u00e4ss"), messages=0)
    # RFC 4616 2: authzid NUL authcid NUL passwd, UTF-8, base64
    assert result.sent == b"EHLO relay.example\r\nAUTH PLAIN AHVzZXIAcMOkc3M=\r\nQUIT\r\n"
    assert Authenticated(Reply(235, "2.7.0", "ok")) in result.events


def test_auth_login_answers_the_prompts_in_turn() -> None:
    server = GREETING + EHLO_FULL + b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 bad\r\n221 bye\r\n"
    result = same_everywhere(server, auth=("LOGIN", "user", "pw"), messages=0)
    assert result.sent == b"EHLO relay.example\r\nAUTH LOGIN\r\ndXNlcg==\r\ncHc=\r\nQUIT\r\n"
    assert Refused("AUTH", Reply(535, "5.7.8", "bad")) in result.events


def test_auth_login_initial_response_and_extra_challenge_cancels() -> None:
    client = ready_client(EHLO_FULL)
    client.auth_login("user", "", initial_response=True)
    assert client.data_to_send() == b"AUTH LOGIN dXNlcg==\r\n"
    client.receive_data(b"334 UGFzc3dvcmQ6\r\n334 more?\r\n501 cancelled\r\n")
    assert client.next_event() == Refused("AUTH", Reply(501, "", "cancelled"))
    assert client.data_to_send() == b"=\r\n*\r\n"  # RFC 4954 4: "=" empty, "*" cancels


def ready_client(ehlo: bytes) -> SmtpClient:
    client = SmtpClient("relay.example")
    client.receive_data(GREETING)
    assert isinstance(client.next_event(), Greeting)
    client.hello()
    client.receive_data(ehlo)
    assert isinstance(client.next_event(), Ready)
    client.data_to_send()
    return client


def test_starttls_forgets_what_it_knew_and_ehlos_again() -> None:
    client = ready_client(b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    client.starttls()
    assert client.data_to_send() == b"STARTTLS\r\n"
    # bytes after the 220 in plaintext are an injection: never read as replies
    client.receive_data(b"220 2.0.0 go\r\n250 injected\r\n")
    assert client.next_event() == TlsReady(Reply(220, "2.0.0", "go"))
    assert client.next_event() is NEED_DATA
    with pytest.raises(ClientStateError):
        client.hello()
    client.tls_established()
    assert client.capabilities.pipelining is False
    assert client.data_to_send() == b"EHLO relay.example\r\n"
    client.receive_data(b"250-mx\r\n250 AUTH PLAIN\r\n")
    ready = client.next_event()
    assert isinstance(ready, Ready) and ready.capabilities.auth == frozenset({"PLAIN"})
    assert not ready.capabilities.starttls
    with pytest.raises(ClientStateError):
        client.starttls()


def test_starttls_refused() -> None:
    client = ready_client(b"250-mx\r\n250 STARTTLS\r\n")
    client.starttls()
    client.receive_data(b"454 4.7.0 not now\r\n")
    assert client.next_event() == Refused("STARTTLS", Reply(454, "4.7.0", "not now"))
    with pytest.raises(ClientStateError):
        client.tls_established()


def test_connection_lost_mid_transaction_is_temporary() -> None:
    client = ready_client(EHLO_FULL)
    client.send_mail(Envelope("a@x.example", (B, C)), MESSAGE)
    client.receive_data(b"250 ok\r\n550 5.1.1 no\r\n")
    assert client.next_event() is NEED_DATA
    client.connection_lost()
    got = client.next_event()
    assert isinstance(got, MessageOutcome) and got.local
    assert [o.delivery for o in got.recipients] == [Delivery.PERMANENT, Delivery.TEMPORARY]
    assert client.next_event() is NEED_DATA and client.closed


@pytest.mark.parametrize(
    "server",
    [
        GREETING + EHLO_BARE + b"354 to MAIL?\r\n",  # an intermediate reply to MAIL
        GREETING + EHLO_BARE + b"250 ok\r\n250 ok\r\n250 ok\r\n250 not 354\r\n",  # 250 to DATA
        b"220-one\r\n230 two\r\n",
        b"garbage\r\n",
    ],
)
def test_protocol_errors_are_typed(server: bytes) -> None:
    with pytest.raises(SmtpClientProtocolError):
        run([server])


def test_a_reply_nobody_asked_for() -> None:
    client = SmtpClient("relay.example")
    client.receive_data(GREETING + b"250 unasked\r\n")
    assert isinstance(client.next_event(), Greeting)
    with pytest.raises(SmtpClientProtocolError):
        client.next_event()


def test_api_misuse_is_a_state_error() -> None:
    client = SmtpClient("relay.example")
    with pytest.raises(ClientStateError):
        client.hello()  # no greeting yet
    client = ready_client(EHLO_BARE)
    with pytest.raises(ClientStateError):
        client.auth_plain("u", "p")  # AUTH not offered
    with pytest.raises(ValueError, match="recipient"):
        client.send_mail(Envelope("a@x.example", ()), MESSAGE)
    with pytest.raises(ValueError, match="address"):
        client.send_mail(Envelope("a@x.example>", (B,)), MESSAGE)
    client = ready_client(EHLO_BARE)
    with pytest.raises(MessageFormatError):
        client.send_mail(Envelope("a@x.example", (B,)), b"x" * 999 + b"\r\n")
    client = ready_client(EHLO_BARE)
    with pytest.raises(MessageFormatError):
        client.send_mail(Envelope("a@x.example", (B,)), b"bare\nline\r\n")
    client.send_mail(Envelope("a@x.example", (B,)), b"x" * 998)
    with pytest.raises(ClientStateError):
        client.quit()  # the MAIL's reply is awaited
    with pytest.raises(ValueError):
        SmtpClient("bad name")


def test_orcpt_forms() -> None:
    from mailward.protocols.smtp.client_commands import orcpt_param, xtext

    assert orcpt_param("B+1=x@y.example") == "rfc822;B+2B1+3Dx@y.example"
    assert orcpt_param("rfc822; Bob@Y.example") == "rfc822;Bob@Y.example"
    # RFC 6533 3: utf-8-addr-xtext
    assert orcpt_param("utf-8;m\u00fcller+x@y.example") == "utf-8;m\\x{FC}ller\\x{2B}x@y.example"
    assert xtext("a b\u00e9") == "a+20b+C3+A9"  # RFC 3461 4: octets of the UTF-8
