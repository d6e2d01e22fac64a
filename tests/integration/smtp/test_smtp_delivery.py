"""Inbound mail on the mx listener into the store: smtplib and swaks, plain, STARTTLS, implicit TLS."""

from __future__ import annotations

import re
import smtplib

import pytest

from .conftest import DAVE_QUOTA, HOSTNAME, PASSWORDS, SmtpEnv

BODY = b"From: someone@remote.example\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nHello Alice.\r\n"


def split_trace(stored: bytes) -> tuple[list[bytes], bytes]:
    """The Return-Path and Received fields mailward put first, and the message as sent."""
    lines = stored.split(b"\r\n")
    assert lines[0].startswith(b"Return-Path: ") and lines[1].startswith(b"Received: ")
    end = 2
    while lines[end].startswith(b"\t"):
        end += 1
    return [lines[0], b"\r\n".join(lines[1:end])], b"\r\n".join(lines[end:])


def test_plain_delivery_with_smtplib(env: SmtpEnv) -> None:
    with env.smtp() as client:
        code, lines = client.ehlo()
        assert code == 250
        assert set(lines.decode().split("\n")[1:]) == {
            "PIPELINING", "SIZE 200000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS",
        }  # mx: no AUTH, ever
        refused = client.sendmail("someone@remote.example", ["alice@example.org"], BODY)
        assert refused == {}
    [stored] = env.inbox("alice@example.org")
    trace, body = split_trace(stored)
    assert body == BODY
    assert trace[0] == b"Return-Path: <someone@remote.example>"
    received = trace[1].decode()
    assert re.fullmatch(
        rf"Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby {re.escape(HOSTNAME)} \(mailward\) "
        r"with ESMTP\r\n\tid [0-9A-F]{16} for <alice@example\.org>;\r\n\t.+ [+-]\d{4}",
        received,
    ), received
    env.wait_for_log(r"message id=[0-9A-F]{16} from=<someone@remote\.example> to=<alice@example\.org> "
                     rf"size={len(BODY)} result=accepted \(delivered to 1 mailbox\(es\)\)")


def test_delivery_with_swaks_and_starttls(env: SmtpEnv) -> None:
    result = env.swaks("--to", "bob@example.org", "--from", "x@remote.example", "--tls",
                       "--header", "Subject: swaks test", "--body", "over TLS")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<~  250 2.0.0 Message accepted" in result.stdout
    [stored] = env.inbox("bob@example.org")
    assert b"Subject: swaks test" in stored
    assert b"over TLS\r\n" in stored
    assert stored.endswith(b"\r\n")
    assert re.search(rb"with ESMTPS \(TLS1\.[23] [A-Z0-9_-]+ \d+ bits\)", stored), stored[:400]


def test_starttls_with_smtplib(env: SmtpEnv) -> None:
    with env.smtp() as client:
        client.starttls(context=env.tls_context())
        _, lines = client.ehlo()
        assert b"STARTTLS" not in lines
        client.sendmail("", ["alice@example.org"], BODY)  # a bounce: the null sender
    [stored] = env.inbox("alice@example.org")
    assert stored.startswith(b"Return-Path: <>\r\n")
    assert re.search(rb"with ESMTPS \(TLS1\.3 TLS_[A-Z0-9_]+ \d+ bits\)", stored)


def test_implicit_tls_listener(env: SmtpEnv) -> None:
    with env.smtps() as client:
        code, banner = client.ehlo()
        assert code == 250 and b"STARTTLS" not in banner
        assert b"AUTH SCRAM-SHA-256" in banner
        client.login("alice@example.org", PASSWORDS["alice@example.org"])
        client.sendmail("alice@example.org", ["bob@example.org"], BODY)
    [stored] = env.inbox("bob@example.org")
    assert b"(authenticated as alice@example.org)" in stored
    assert b"with ESMTPSA (TLS1.3 " in stored


def test_several_recipients_one_blob(env: SmtpEnv) -> None:
    with env.smtp() as client:
        refused = client.sendmail("x@remote.example", ["alice@example.org", "bob@example.org", "ALICE@Example.ORG"],
                                  BODY)
        assert refused == {}
    [for_alice] = env.inbox("alice@example.org")  # once, though named twice
    [for_bob] = env.inbox("bob@example.org")
    assert for_alice == for_bob
    assert b" for <" not in for_alice  # only for a single recipient (RFC 5321 4.4)


def test_unknown_and_disabled_recipients(env: SmtpEnv) -> None:
    with env.smtp() as client:
        client.ehlo()
        client.mail("x@remote.example")
        assert client.rcpt("nobody@example.org") == (550, b"5.1.1 Mailbox unavailable")
        assert client.rcpt("carol@example.org") == (550, b"5.2.1 Mailbox disabled, not accepting messages")
        assert client.rcpt("bob@example.org")[0] == 250
        assert client.data(BODY)[0] == 250
    assert len(env.inbox("bob@example.org")) == 1
    assert env.inbox("carol@example.org") == []


def test_alias_catch_all_and_postmaster(env: SmtpEnv) -> None:
    with env.raw() as raw:
        raw.reply()
        raw.command("EHLO client.example")
        assert raw.command("MAIL FROM:<x@remote.example>") == "250 2.1.0 Sender OK"
        assert raw.command("RCPT TO:<sales@example.org>") == "250 2.1.5 Recipient OK"
        assert raw.command("RCPT TO:<anything@example.net>") == "250 2.1.5 Recipient OK"  # catch-all
        assert raw.command("RCPT TO:<Postmaster>") == "250 2.1.5 Recipient OK"  # RFC 5321 4.5.1
        assert raw.command("DATA").startswith("354")
        raw.send(BODY + b".\r\n")
        assert raw.last() == "250 2.0.0 Message accepted"
    assert len(env.inbox("alice@example.org")) == 1  # sales and postmaster: one copy
    assert len(env.inbox("bob@example.org")) == 1  # sales and the catch-all: one copy


def test_forwarding_alias_and_alias_loop_are_temporary_failures(env: SmtpEnv) -> None:
    with env.smtp() as client:
        client.ehlo()
        client.mail("x@remote.example")
        code, text = client.rcpt("fwd@example.org")
        assert (code, text[:5]) == (451, b"4.3.0")
        code, text = client.rcpt("chain0@example.org")
        assert (code, text) == (451, b"4.3.0 Recipient cannot be resolved (alias loop), try again later")
    env.wait_for_log(r"ERROR mailward\.smtp: conn=\w+ RCPT <chain0@example\.org>: the aliases loop")
    assert env.total_messages() == 0


def send_without_size(client: smtplib.SMTP, recipients: list[str], body: bytes) -> tuple[int, bytes]:
    """MAIL without SIZE= (smtplib's sendmail declares it), so the store decides at the end."""
    client.ehlo_or_helo_if_needed()
    assert client.mail("x@remote.example")[0] == 250
    for rcpt in recipients:
        assert client.rcpt(rcpt)[0] == 250
    return client.data(body)


def test_over_quota(env: SmtpEnv) -> None:
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * (DAVE_QUOTA // 80 + 5)
    with env.smtp() as client:
        client.ehlo()
        # the declared size already does not fit: refused at RCPT
        client.mail("x@remote.example", [f"SIZE={DAVE_QUOTA + 1}"])
        assert client.rcpt("dave@example.org") == (552, b"5.2.2 Mailbox full")
        client.rset()
        # undeclared: refused at the end of data, when the store says so; nothing written
        assert send_without_size(client, ["dave@example.org"], big) == (552, b"5.2.2 Mailbox full")
        # bob could take it, dave cannot: try again later, and nobody gets it now
        code, text = send_without_size(client, ["bob@example.org", "dave@example.org"], big)
        assert (code, text[:6]) == (452, b"4.2.2 ")
    assert env.inbox("bob@example.org") == []
    assert env.inbox("dave@example.org") == []
    # an account already full (the admin lowered its quota) is refused at RCPT, without SIZE too
    with env.smtp() as client:
        assert send_without_size(client, ["dave@example.org"], b"Subject: s\r\n\r\n" + b"z" * 500)[0] == 250
        env.run(env.accounts.set_quota("dave@example.org", 600))
        client.mail("x@remote.example")
        assert client.rcpt("dave@example.org") == (552, b"5.2.2 Mailbox full")
    assert len(env.inbox("dave@example.org")) == 1


def test_a_full_store_is_452_and_one_log_line(env: SmtpEnv) -> None:
    # SQLite's own "database or disk is full" (SQLITE_FULL), reached by capping the file
    writer = env.store._writer  # type: ignore[attr-defined]

    def cap(pages: str) -> None:
        async def run() -> None:
            writer.execute(f"PRAGMA max_page_count = {pages}")

        env.run(run())

    [(pages,)] = writer.execute("PRAGMA page_count").fetchall()
    cap(str(pages))
    body = b"Subject: big\r\n\r\n" + b"x" * 76 + b"\r\n"
    for _ in range(10):
        with env.smtp() as client:
            client.ehlo()
            with pytest.raises(smtplib.SMTPDataError) as caught:
                client.sendmail("a@remote.example", ["alice@example.org"], body * 2000)
            assert (caught.value.smtp_code, caught.value.smtp_error) == (452, b"4.3.1 Mail system full, try again later")
    text = env.records.text()
    assert "Traceback" not in text and "delivery failed" not in text
    assert text.count("the store is full") == 1  # once, not once per message
    assert env.total_messages() == 0
    cap("1073741823")  # room again: mail is taken at once
    with env.smtp() as client:
        assert client.sendmail("a@remote.example", ["alice@example.org"], body) == {}
    assert len(env.inbox("alice@example.org")) == 1
