"""DSNs composed per RFC 3464, read back by Python's email package and a strict checker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailward.delivery.dsn import (
    Action,
    MessageReport,
    RecipientReport,
    compose_dsn,
    dsn_allowed,
    notify_requests,
)
from mailward.protocols.smtp.client_commands import Notify, Ret
from mailward.protocols.smtp.replies import Reply
from support.dsn_check import DsnError, check_dsn, fields_of

NOW = datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC)
ARRIVED = NOW - timedelta(days=5)
ORIGINAL = (
    b"From: Alice <alice@x.example>\r\nTo: bob@y.example\r\nSubject: lunch?\r\n"
    b"Message-ID: <m1@x.example>\r\n\r\nShall we?\r\n.\r\n"
)


def failed(**kw: object) -> RecipientReport:
    values: dict[str, object] = {
        "final_recipient": "bob@y.example",
        "action": Action.FAILED,
        "status": "5.1.1",
        "original_recipient": "rfc822;Bob@Y.example",
        "remote_mta": "mx.y.example",
        "reply": Reply(550, "5.1.1", "<bob@y.example>: Recipient address rejected:\nUser unknown"),
        "last_attempt": NOW,
    }
    values.update(kw)
    return RecipientReport(**values)  # type: ignore[arg-type]


def report(*recipients: RecipientReport, **kw: object) -> MessageReport:
    values: dict[str, object] = {
        "envelope_sender": "alice@x.example",
        "original": ORIGINAL,
        "recipients": recipients or (failed(),),
        "arrival_date": ARRIVED,
        "envid": "QQ 314159+",
        "ret": None,
        "received_from_mta": "client.x.example",
    }
    values.update(kw)
    return MessageReport(**values)  # type: ignore[arg-type]


def compose(r: MessageReport, **kw: object) -> bytes:
    return compose_dsn(r, hostname="relay.example", now=NOW, message_id="<dsn1@relay.example>", **kw)  # type: ignore[arg-type]


def test_bounce_every_field() -> None:
    data = compose(report())
    dsn = check_dsn(data)
    m = dsn.message
    assert m["From"] == "Mail Delivery System <MAILER-DAEMON@relay.example>"
    assert m["From"].addresses[0].addr_spec == "MAILER-DAEMON@relay.example"
    assert m["To"] == "<alice@x.example>" or m["To"].addresses[0].addr_spec == "alice@x.example"
    assert m["Subject"] == "Undelivered Mail Returned to Sender"
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["Message-ID"] == "<dsn1@relay.example>"
    assert m["Date"].datetime == NOW
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    assert [p.get_content_type() for p in m.iter_parts()] == [
        "text/plain", "message/delivery-status", "message/rfc822",
    ]
    assert dsn.per_message == {
        "reporting-mta": "dns; relay.example",
        "original-envelope-id": "QQ+20314159+2B",
        "received-from-mta": "dns; client.x.example",
        "arrival-date": "Thu, 03 Dec 2026 01:02:03 +0000",
    }
    assert dsn.recipients == [
        {
            "original-recipient": "rfc822; Bob@Y.example",
            "final-recipient": "rfc822; bob@y.example",
            "action": "failed",
            "status": "5.1.1",
            "remote-mta": "dns; mx.y.example",
            "diagnostic-code": "smtp; 550 5.1.1 <bob@y.example>: Recipient address rejected: User unknown",
            "last-attempt-date": "Tue, 08 Dec 2026 01:02:03 +0000",
        }
    ]
    assert dsn.returned is not None and dsn.returned_type == "message/rfc822"
    assert dsn.returned["Subject"] == "lunch?"
    assert dsn.returned.get_content() == "Shall we?\r\n.\r\n"
    assert ORIGINAL in data  # RET=FULL: the original as it was
    assert "bob@y.example" in dsn.human and "mx.y.example said: 550 5.1.1" in dsn.human


def test_delay_notice_with_will_retry_until() -> None:
    until = NOW + timedelta(days=4)
    delayed = failed(action=Action.DELAYED, status="4.4.1", reply=Reply(451, "4.4.1", "try later"),
                     will_retry_until=until)
    dsn = check_dsn(compose(report(delayed, ret=Ret.HDRS)))
    assert dsn.message["Subject"] == "Delayed Mail (still being retried)"
    rcpt = dsn.recipients[0]
    assert rcpt["action"] == "delayed" and rcpt["status"] == "4.4.1"
    assert rcpt["will-retry-until"] == "Sat, 12 Dec 2026 01:02:03 +0000"
    assert dsn.returned_type == "text/rfc822-headers"
    assert dsn.returned is not None and dsn.returned["Message-ID"] == "<m1@x.example>"
    assert b"Shall we?" not in compose(report(delayed, ret=Ret.HDRS))


def test_several_recipients_and_success_actions() -> None:
    recipients = (
        failed(),
        RecipientReport("carol@z.example", Action.RELAYED, "2.0.0", remote_mta="old.z.example"),
        RecipientReport("dave@x.example", Action.DELIVERED, "2.0.0"),
        RecipientReport("list@x.example", Action.EXPANDED, "2.0.0"),
    )
    dsn = check_dsn(compose(report(*recipients, envid=None, arrival_date=None, received_from_mta=None)))
    assert dsn.per_message == {"reporting-mta": "dns; relay.example"}
    assert [r["action"] for r in dsn.recipients] == ["failed", "relayed", "delivered", "expanded"]
    assert dsn.recipients[1] == {
        "final-recipient": "rfc822; carol@z.example", "action": "relayed", "status": "2.0.0",
        "remote-mta": "dns; old.z.example",
    }
    ok = check_dsn(compose(report(*recipients[1:])))
    assert ok.message["Subject"] == "Successful Mail Delivery Report"


def test_large_original_returns_headers_by_default() -> None:
    big = ORIGINAL + b"x" * 200 + b"\r\n"
    assert check_dsn(compose(report(original=big), full_limit=100)).returned_type == "text/rfc822-headers"
    assert check_dsn(compose(report(original=big, ret=Ret.FULL), full_limit=100)).returned_type == "message/rfc822"
    assert check_dsn(compose(report(original=big))).returned_type == "message/rfc822"


def test_smtputf8_original_uses_the_global_forms() -> None:
    original = "From: J\u00f6rg <j\u00f6rg@x.example>\r\nSubject: gr\u00fc\u00dfe\r\n\r\nHall\u00f6\r\n".encode()
    rcpt = failed(final_recipient="m\u00fcller@y.example", original_recipient="utf-8;m\u00fcller@y.example",
                  reply=Reply(550, "5.1.1", "Unbekannt: m\u00fcller"))
    data = compose(report(rcpt, envelope_sender="j\u00f6rg@x.example", original=original, smtputf8=True))
    dsn = check_dsn(data)
    assert [p.get_content_type() for p in dsn.message.iter_parts()] == [
        "text/plain", "message/global-delivery-status", "message/global",
    ]
    assert dsn.recipients[0]["final-recipient"] == "utf-8; m\u00fcller@y.example"
    assert dsn.recipients[0]["original-recipient"] == "utf-8; m\u00fcller@y.example"
    assert dsn.recipients[0]["diagnostic-code"] == "smtp; 550 5.1.1 Unbekannt: m\u00fcller"
    assert original in data
    assert dsn.returned is not None and dsn.returned["Subject"] == "gr\u00fc\u00dfe"
    assert "\r\nTo: <j\u00f6rg@x.example>\r\n".encode() in data  # RFC 6532: UTF-8 as it is
    hdrs = check_dsn(compose(report(rcpt, envelope_sender="j\u00f6rg@x.example", original=original,
                                    smtputf8=True, ret=Ret.HDRS)))
    assert hdrs.returned_type == "message/global-headers"


def test_ascii_report_never_carries_utf8_in_delivery_status() -> None:
    rcpt = failed(reply=Reply(550, "", "caf\u00e9 says no"))
    dsn = check_dsn(compose(report(rcpt)))
    assert dsn.recipients[0]["diagnostic-code"] == "smtp; 550 caf? says no"


def test_long_diagnostic_is_folded_and_bounded() -> None:
    rcpt = failed(reply=Reply(554, "5.7.1", " ".join(["word"] * 400)))
    data = compose(report(rcpt))
    dsn = check_dsn(data)
    assert dsn.recipients[0]["diagnostic-code"].startswith("smtp; 554 5.7.1 word word")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_no_dsn_for_the_null_sender() -> None:
    assert not dsn_allowed("") and not dsn_allowed("<>")
    assert dsn_allowed("alice@x.example")
    with pytest.raises(ValueError, match="null"):
        compose(report(envelope_sender=""))
    with pytest.raises(ValueError, match="recipient"):
        compose(MessageReport("alice@x.example", ORIGINAL, ()))


def test_notify_rules() -> None:
    # RFC 3461 4.1: no NOTIFY means failures (and, our choice, delays); NEVER means none
    assert notify_requests(None, Action.FAILED) and notify_requests(None, Action.DELAYED)
    assert not notify_requests(None, Action.DELIVERED) and not notify_requests(None, Action.RELAYED)
    assert not any(notify_requests(frozenset(), a) for a in Action)
    success = frozenset({Notify.SUCCESS})
    assert notify_requests(success, Action.DELIVERED) and notify_requests(success, Action.RELAYED)
    assert notify_requests(success, Action.EXPANDED) and not notify_requests(success, Action.FAILED)
    assert notify_requests(frozenset({Notify.DELAY}), Action.DELAYED)


def test_the_checker_catches_bad_reports() -> None:
    good = compose(report())
    for bad, why in [
        (good.replace(b"Status: 5.1.1", b"Status: 5.1"), "Status"),
        (good.replace(b"Action: failed", b"Action: bounced"), "Action"),
        (good.replace(b"Reporting-MTA: dns; relay.example\r\n", b""), "Reporting-MTA"),
        (good.replace(b"Final-Recipient: rfc822; bob@y.example\r\n", b""), "final-recipient"),
        (good.replace(b"report-type=delivery-status", b"report-type=disposition-notification"), "report-type"),
        (good.replace(b"Arrival-Date: Thu, 03 Dec 2026", b"Arrival-Date: yesterday"), "date"),
        (good.replace(b"Diagnostic-Code: smtp; 550", b"Diagnostic-Code: smtp; no"), "reply code"),
    ]:
        with pytest.raises(DsnError, match=why):
            check_dsn(bad)
    with pytest.raises(DsnError, match="twice"):
        fields_of("Status: 5.0.0\nStatus: 5.0.0")
