"""RCPT TO:<Postmaster> without a domain (RFC 5321 4.5.1), fed whole, byte by byte and split."""

from __future__ import annotations

from mailward.protocols.smtp.events import RcptTo
from support.smtp_driver import run_all_splits

START = b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\n"


def rcpts(result: object) -> list[RcptTo]:
    return [e for e in result.events if isinstance(e, RcptTo)]  # type: ignore[attr-defined]


def accept_postmaster(event: object) -> object:
    from mailward.protocols.smtp import replies as R
    from support.smtp_driver import accept_all

    if isinstance(event, RcptTo) and event.postmaster:
        return R.RECIPIENT_OK
    return accept_all(event)


def test_postmaster_without_domain_is_a_recipient_event() -> None:
    script = START + b"RCPT TO:<Postmaster>\r\nRCPT TO:<POSTMASTER>\r\nRCPT TO:<postmaster> \r\n"
    result = run_all_splits(script, decide=accept_postmaster)
    assert result.lines[-3:] == ["250 2.1.5 Recipient OK"] * 3
    events = rcpts(result)
    assert [e.postmaster for e in events] == [True, True, True]
    assert [(e.recipient.local_part, e.recipient.domain) for e in events] == [
        ("Postmaster", ""),
        ("POSTMASTER", ""),
        ("postmaster", ""),
    ]


def test_postmaster_with_a_domain_is_an_ordinary_address() -> None:
    result = run_all_splits(START + b"RCPT TO:<postmaster@example.org>\r\n")
    [event] = rcpts(result)
    assert not event.postmaster
    assert str(event.recipient) == "postmaster@example.org"


def test_other_local_parts_without_domain_stay_errors() -> None:
    script = START + b"RCPT TO:<postmasters>\r\nRCPT TO:<Postmaster>x\r\nRCPT TO:<abuse>\r\nRCPT TO:Postmaster\r\n"
    result = run_all_splits(script)
    assert result.lines[-4:] == [
        "501 5.1.3 Bad address syntax",
        "501 5.1.3 Bad address syntax",
        "501 5.1.3 Bad address syntax",
        "501 5.5.4 Syntax: RCPT TO:<address> [parameters]",
    ]
    assert rcpts(result) == []


def test_postmaster_parameters_are_checked_like_any_rcpt() -> None:
    result = run_all_splits(START + b"RCPT TO:<Postmaster> NOTIFY=NEVER\r\n", decide=accept_postmaster)
    assert result.lines[-1] == "555 5.5.4 Parameter not recognized or not implemented"
    assert rcpts(result) == []


def test_postmaster_needs_mail_first() -> None:
    result = run_all_splits(b"EHLO c\r\nRCPT TO:<Postmaster>\r\n")
    assert result.lines[-1] == "503 5.5.1 Send MAIL first"
