"""The wire over real sockets: pipelining, BDAT, SMTPUTF8, size limits, smuggling, STARTTLS
injection, shutdown, and what the transcript may show."""

from __future__ import annotations

import logging
import socket

import pytest

from .conftest import MAX_SIZE, PASSWORDS, SmtpEnv

TOO_BIG = "552 5.3.4 Message size exceeds the fixed maximum message size"


def greet(raw: object, helo: str = "EHLO client.example") -> None:
    raw.reply()  # type: ignore[attr-defined]
    raw.command(helo)  # type: ignore[attr-defined]


def test_pipelined_transaction_replies_in_order(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        raw.send(
            b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n"
            b"RCPT TO:<bob@example.org>\r\nDATA\r\n"
        )
        assert [raw.last() for _ in range(5)] == [
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "550 5.1.1 Mailbox unavailable",
            "250 2.1.5 Recipient OK",
            "354 End data with <CR><LF>.<CR><LF>",
        ]
        raw.send(b"Subject: p\r\n\r\npipelined\r\n.\r\nMAIL FROM:<b@remote.example>\r\nRCPT TO:<bob@example.org>\r\n"
                 b"DATA\r\nSubject: q\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
        assert [raw.last() for _ in range(6)] == [
            "250 2.0.0 Message accepted",
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Message accepted",
            "221 2.0.0 Bye",
        ]
        assert raw.closed()
    assert len(env.inbox("alice@example.org")) == 1
    assert len(env.inbox("bob@example.org")) == 2


def test_swaks_pipelining(env: SmtpEnv) -> None:
    result = env.swaks("--pipeline", "--from", "a@remote.example", "--to", "alice@example.org,bob@example.org")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Message accepted" in result.stdout
    assert len(env.inbox("alice@example.org")) == len(env.inbox("bob@example.org")) == 1


def test_bdat(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        raw.send(b"MAIL FROM:<a@remote.example> BODY=8BITMIME\r\nRCPT TO:<alice@example.org>\r\n")
        assert [raw.last(), raw.last()] == ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK"]
        part1 = b"Subject: chunks\r\n\r\n.a dot stays\r\n"
        part2 = "caf\u00e9 8bit\r\n".encode()
        raw.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
        assert raw.last() == f"250 2.0.0 {len(part1)} octets received"
        assert raw.last() == "250 2.0.0 Message accepted"
        # a message whose last chunk does not end a line is stored with CRLF at the end
        raw.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\nBDAT 7 LAST\r\nno eol!")
        assert [raw.last() for _ in range(3)][-1] == "250 2.0.0 Message accepted"
    [stored] = env.inbox("alice@example.org")
    assert stored.endswith(part1 + part2)  # as sent: no dot-unstuffing in BDAT
    [short] = env.inbox("bob@example.org")
    assert short.endswith(b"\r\nno eol!\r\n")  # right after the Received field


def test_rcpt_after_a_bdat_chunk_is_refused(env: SmtpEnv) -> None:
    # a recipient named once the chunks began would be promised a message it never got
    with env.raw() as raw:
        greet(raw)
        raw.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 6\r\nhell\r\n")
        assert [raw.last(), raw.last(), raw.last()][-1] == "250 2.0.0 6 octets received"
        assert raw.command("RCPT TO:<bob@example.org>") == "503 5.5.1 RCPT cannot follow BDAT in one transaction"
        raw.send(b"BDAT 7 LAST\r\nworld\r\n")
        assert raw.last() == "250 2.0.0 Message accepted"
    assert len(env.inbox("alice@example.org")) == 1 and env.inbox("bob@example.org") == []


def test_non_ascii_digits_are_a_syntax_error(env: SmtpEnv) -> None:
    # str.isdigit() takes "²" and "٣": int() refused the first (a traceback), took the second
    with env.raw() as raw:
        greet(raw)
        assert raw.command("MAIL FROM:<a@remote.example> SIZE=\u00b2") == "501 5.5.4 Syntax error in parameters"
        raw.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
        assert [raw.last(), raw.last()] == ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK"]
        assert raw.command("BDAT \u0663") == "501 5.5.4 Syntax: BDAT size [LAST]"
        assert raw.command("NOOP") == "250 2.0.0 OK"  # the session goes on


def test_smtputf8_addresses(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        assert raw.command("MAIL FROM:<jörg@remote.example>") == (
            "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"
        )
        assert raw.command("MAIL FROM:<jörg@remote.example> SMTPUTF8") == "250 2.1.0 Sender OK"
        assert raw.command("RCPT TO:<Δοκιμή@example.org>") == "250 2.1.5 Recipient OK"  # folded
        assert raw.command("DATA").startswith("354")
        raw.send("Subject: ünïcode\r\n\r\n\u03b3\u03b5\u03b9\u03b1\r\n.\r\n".encode())
        assert raw.last() == "250 2.0.0 Message accepted"
    [stored] = env.inbox("δοκιμή@example.org")
    assert "Return-Path: <jörg@remote.example>\r\n".encode() in stored
    assert b" with UTF8SMTP\r\n" in stored
    assert stored.endswith("Subject: ünïcode\r\n\r\n\u03b3\u03b5\u03b9\u03b1\r\n".encode())


def test_oversize_declared_and_streamed(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        assert raw.command(f"MAIL FROM:<a@remote.example> SIZE={MAX_SIZE + 1}") == TOO_BIG
        assert raw.command("MAIL FROM:<a@remote.example> SIZE=100") == "250 2.1.0 Sender OK"
        raw.command("RCPT TO:<alice@example.org>")
        assert raw.command("DATA").startswith("354")
        line = b"x" * 998 + b"\r\n"
        for _ in range(MAX_SIZE // len(line) + 2):  # read on and refused at the end (RFC 1870)
            raw.send(line)
        raw.send(b".\r\n")
        assert raw.last() == TOO_BIG
        assert raw.command("NOOP") == "250 2.0.0 OK"  # the session goes on
    assert env.inbox("alice@example.org") == []
    env.wait_for_log(r"message id=\w+ from=<a@remote\.example> to=<alice@example\.org> size=- "
                     r"result=refused 552 5\.3\.4 \(message too big\)")


SMUGGLING = [b"\n.\r\n", b"\n.\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r"]


@pytest.mark.parametrize("form", SMUGGLING, ids=[repr(f) for f in SMUGGLING])
def test_smuggling_attempts(env: SmtpEnv, form: bytes) -> None:
    smuggled = b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: fake\r\n\r\nsmuggled\r\n.\r\n"
    with env.raw() as raw:
        greet(raw)
        raw.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        assert [raw.last() for _ in range(3)][-1].startswith("354")
        raw.send(b"Subject: real\r\n\r\nhello" + form + smuggled + b"more\r\n.\r\n")
        assert raw.reply() == [
            "521 5.5.2 Bare CR or LF in message data; lines must end with CRLF. Closing the connection"
        ]
        assert raw.closed()
    assert env.total_messages() == 0


@pytest.mark.parametrize("form", [*SMUGGLING, b"\r.\r"], ids=[repr(f) for f in [*SMUGGLING, b"\r.\r"]])
def test_smuggling_attempts_over_bdat(env: SmtpEnv, form: bytes) -> None:
    body = b"X-R: 2\r\n\r\nx" + form + b"MAIL FROM:<ceo@example.org>\r\nDATA\r\nz\r\n"
    with env.raw() as raw:
        greet(raw)
        raw.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
        raw.send(b"BDAT %d LAST\r\n" % len(body) + body + b"NOOP\r\n")
        assert [raw.last() for _ in range(4)] == [
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "550 5.5.2 Bare CR or LF in message data; lines must end with CRLF. Message refused",
            "250 2.0.0 OK",
        ]
    assert env.total_messages() == 0


def test_ehlo_with_a_nul_is_refused(env: SmtpEnv) -> None:
    with env.raw() as raw:
        raw.reply()
        assert raw.command("EHLO client\x00.example") == "501 5.5.4 Syntax: EHLO hostname"
        assert raw.command("MAIL FROM:<a@remote.example>") == "503 5.5.1 Send EHLO or HELO first"


def test_starttls_injection_is_not_executed(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        # everything after STARTTLS in the same packet must be thrown away (CVE-2011-0411)
        raw.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
        assert raw.last() == "220 2.0.0 Ready to start TLS"
        raw.starttls(env.tls_context())
        assert raw.command("MAIL FROM:<a@remote.example>") == "503 5.5.1 Send EHLO or HELO first"
        assert raw.command("RCPT TO:<alice@example.org>") == "503 5.5.1 Send MAIL first"
        raw.command("EHLO client.example")
        assert raw.command("STARTTLS") == "503 5.5.1 TLS is active already"
    env.wait_for_log(r"STARTTLS: TLSv1\.3/")
    assert "evil@remote.example" not in env.records.text()


def test_graceful_shutdown_mid_session(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        assert raw.command("MAIL FROM:<a@remote.example>") == "250 2.1.0 Sender OK"
        raw.command("RCPT TO:<alice@example.org>")
        assert raw.command("DATA").startswith("354")
        raw.send(b"Subject: in flight\r\n\r\n")
        env.loop.call_soon_threadsafe(lambda: env.loop.create_task(env.server.stop(grace=5)))
        env.wait_for_log("stopping: 1 open connections")
        raw.send(b"finished within the grace period\r\n.\r\n")
        assert raw.last() == "250 2.0.0 Message accepted"  # a message in flight may finish
        assert raw.reply() == ["421 4.3.2 Service shutting down, try again later"]
        assert raw.closed()
    assert len(env.inbox("alice@example.org")) == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", env.port("mx")), timeout=2).close()


def test_idle_client_gets_421(env: SmtpEnv) -> None:
    import dataclasses

    listener = env.server.listeners["mx"]
    listener.settings = dataclasses.replace(
        listener.settings, limits=dataclasses.replace(listener.settings.limits, idle_timeout=0.3)
    )
    with env.raw() as raw:
        assert raw.reply()[0].startswith("220 mx.example.org ESMTP")
        assert raw.reply() == ["421 4.4.2 Timeout, closing the connection"]
        assert raw.closed()


def test_transcript_masks_auth(env: SmtpEnv) -> None:
    logging.getLogger("mailward").setLevel(5)
    secret = PASSWORDS["alice@example.org"]
    with env.smtp("submission") as client:
        client.starttls(context=env.tls_context())
        client.login("alice@example.org", secret)
        client.sendmail("alice@example.org", ["bob@example.org"], b"Subject: private\r\n\r\nconfidential words\r\n")
    env.wait_for_log(r"TRACE mailward\.smtp: conn=\w+ C: AUTH PLAIN \*\*\*")
    env.wait_for_log(r"TRACE mailward\.smtp: conn=\w+ S: 235 2\.7\.0")
    env.wait_for_log(r"(?i)C: RCPT TO:<bob@example\.org>")
    text = env.records.text()
    assert secret not in text
    assert "confidential words" not in text
    import base64

    assert base64.b64encode(b"\0alice@example.org\0" + secret.encode()).decode() not in text


def test_bad_tls_handshake_is_logged_and_closed(env: SmtpEnv) -> None:
    with env.raw() as raw:
        greet(raw)
        assert raw.command("STARTTLS") == "220 2.0.0 Ready to start TLS"
        raw.send(b"this is not a ClientHello\r\n")
        assert raw.closed()
    env.wait_for_log(r"outcome=TLS handshake failed")


def test_a_reload_applies_a_listeners_own_smtp_settings(env: SmtpEnv) -> None:
    report = env.reload("[listener.smtp]\nmax_message_size = 4096\n")  # the last listener's
    assert "listener open-submission: smtp settings" in report.applied
    with env.smtp("open-submission") as client:
        assert client.ehlo()[0] == 250 and client.esmtp_features["size"] == "4096"
    with env.smtp("mx") as client:
        assert client.ehlo()[0] == 250 and client.esmtp_features["size"] == str(MAX_SIZE)
