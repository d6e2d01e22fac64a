"""Delivery status notifications (bounces, delay notices), composed per RFC 3464.

:func:`compose_dsn` turns what the queue knows (:class:`MessageReport` with a
:class:`RecipientReport` per recipient) into a whole message: multipart/report with
report-type=delivery-status (RFC 6522), a human-readable part, the
message/delivery-status part with the per-message and per-recipient fields, and the
original message (RET=FULL, message/rfc822) or its header (RET=HDRS,
text/rfc822-headers). When the original needed SMTPUTF8 the internationalized forms
of RFC 6533 are used (message/global-delivery-status, message/global,
message/global-headers, utf-8 address types).

Who gets one is the caller's rule, with two predicates here: :func:`dsn_allowed`
(never to the null reverse-path, RFC 3461 6.2 / RFC 5321 6.1) and
:func:`notify_requests` (the recipient's NOTIFY, RFC 3461 4.1).
Pure: bytes and dates in, bytes out.
"""

from __future__ import annotations

import email.utils
import enum
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mailward.protocols.smtp.client_commands import Notify, Ret, xtext
from mailward.protocols.smtp.replies import Reply

# RET absent: the full message up to this size, else its header only (RFC 3461 4.3
# leaves it to us; a large bounce is a burden on the sender's mailbox).
DEFAULT_FULL_LIMIT = 256 * 1024
MAX_FIELD_LINE = 78  # RFC 5322 2.1.1: SHOULD fold at 78
MAX_DIAGNOSTIC = 800  # characters of the remote reply kept in Diagnostic-Code


class Action(enum.Enum):
    """RFC 3464 2.3.3 action-field values."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True)
class RecipientReport:
    """What happened to one recipient (RFC 3464 2.3).

    ``final_recipient`` is the address tried; ``original_recipient`` the ORCPT as
    received, "addr-type;address" decoded (RFC 3461 4.2), or None. ``status`` is the
    enhanced status code (RFC 3463); ``reply`` the remote server's reply, written as
    the Diagnostic-Code; ``remote_mta`` the host that gave it.
    """

    final_recipient: str
    action: Action
    status: str
    original_recipient: str | None = None
    remote_mta: str | None = None
    reply: Reply | None = None
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None  # RFC 3464 2.3.7: for "delayed" only


@dataclass(frozen=True)
class MessageReport:
    """The message the report is about.

    ``envelope_sender`` is the original MAIL FROM (the report goes to it);
    ``envid`` the ENVID as received, decoded (RFC 3461 4.4); ``ret`` the RET asked,
    None for our default; ``smtputf8`` whether the original needed SMTPUTF8.
    """

    envelope_sender: str
    original: bytes
    recipients: tuple[RecipientReport, ...]
    arrival_date: datetime | None = None
    envid: str | None = None
    ret: Ret | None = None
    smtputf8: bool = False
    received_from_mta: str | None = None  # the client's name, RFC 3464 2.2.4


def dsn_allowed(envelope_sender: str) -> bool:
    """Never a report to the null reverse-path (RFC 5321 6.1, RFC 3461 6.2): loops."""
    return envelope_sender.strip("<>") != ""


def notify_requests(notify: frozenset[Notify] | None, action: Action) -> bool:
    """Does the recipient's NOTIFY ask for a report of ``action`` (RFC 3461 4.1)?

    None (no NOTIFY given) means FAILURE and DELAY, our choice among the defaults
    RFC 3461 4.1 allows; an empty set is NOTIFY=NEVER.
    """
    if notify is None:
        return action in (Action.FAILED, Action.DELAYED)
    wanted = {
        Action.FAILED: Notify.FAILURE,
        Action.DELAYED: Notify.DELAY,
        Action.DELIVERED: Notify.SUCCESS,
        Action.RELAYED: Notify.SUCCESS,
        Action.EXPANDED: Notify.SUCCESS,
    }[action]
    return wanted in notify


def compose_dsn(
    report: MessageReport,
    *,
    hostname: str,
    now: datetime,
    message_id: str | None = None,
    full_limit: int = DEFAULT_FULL_LIMIT,
) -> bytes:
    """The whole DSN message, CRLF line endings, from MAILER-DAEMON@``hostname``."""
    if not report.recipients:
        raise ValueError("a DSN reports on at least one recipient")
    if not dsn_allowed(report.envelope_sender):
        raise ValueError("no DSN to the null reverse-path")
    utf8 = report.smtputf8
    boundary = _boundary(report.original)
    parts = [
        _part("text/plain; charset=utf-8", _human_text(report, hostname).encode("utf-8")),
        _part(
            "message/global-delivery-status" if utf8 else "message/delivery-status",
            _delivery_status(report, hostname, utf8=utf8),
        ),
        _original_part(report, utf8=utf8, full_limit=full_limit),
    ]
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    body = b"This is a MIME-encapsulated delivery status notification.\r\n\r\n" + body
    body += b"--" + boundary + b"--\r\n"
    actions = {r.action for r in report.recipients}
    subject = (
        "Undelivered Mail Returned to Sender" if Action.FAILED in actions
        else "Delayed Mail (still being retried)" if Action.DELAYED in actions
        else "Successful Mail Delivery Report"
    )
    head = [
        ("From", f"Mail Delivery System <MAILER-DAEMON@{hostname}>"),
        ("To", f"<{report.envelope_sender}>"),
        ("Subject", subject),
        ("Date", email.utils.format_datetime(now)),
        ("Message-ID", message_id or f"<{secrets.token_hex(12)}.dsn@{hostname}>"),
        ("Auto-Submitted", "auto-replied"),  # RFC 3834 5: no auto-reply to this
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/report; report-type=delivery-status; boundary="{boundary.decode()}"'),
    ]
    if _has_8bit(body):
        head.append(("Content-Transfer-Encoding", "8bit"))
    return _fields(head).encode("utf-8") + b"\r\n" + body


def _boundary(original: bytes) -> bytes:
    for _ in range(10):  # RFC 2046 5.1.1: the boundary must not occur in the parts
        boundary = f"=_dsn_{secrets.token_hex(12)}".encode("ascii")
        if boundary not in original:
            return boundary
    raise RuntimeError("could not pick a MIME boundary")  # pragma: no cover - 10 random 96-bit values


def _part(content_type: str, content: bytes) -> bytes:
    cte = "8bit" if _has_8bit(content) else "7bit"
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    return f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + content


def _original_part(report: MessageReport, *, utf8: bool, full_limit: int) -> bytes:
    ret = report.ret or (Ret.FULL if len(report.original) <= full_limit else Ret.HDRS)
    if ret is Ret.FULL:
        # RFC 3464 2.1 / RFC 2046 5.2.1: the message as it was, never re-encoded
        return _part("message/global" if utf8 else "message/rfc822", report.original)
    at = report.original.find(b"\r\n\r\n")
    header = report.original if at < 0 else report.original[: at + 2]
    if report.original.startswith(b"\r\n"):
        header = b""
    return _part("message/global-headers" if utf8 else "text/rfc822-headers", header)


def _delivery_status(report: MessageReport, hostname: str, *, utf8: bool) -> bytes:
    """RFC 3464 2.1: per-message fields, then a block per recipient, blank lines between."""
    per_message = [("Reporting-MTA", f"dns; {hostname}")]  # RFC 3464 2.2.2
    if report.envid is not None:
        per_message.append(("Original-Envelope-Id", xtext(report.envid)))  # RFC 3464 2.2.1
    if report.received_from_mta:
        per_message.append(("Received-From-MTA", f"dns; {report.received_from_mta}"))
    if report.arrival_date is not None:
        per_message.append(("Arrival-Date", email.utils.format_datetime(report.arrival_date)))
    blocks = [_fields(per_message)]
    for rcpt in report.recipients:
        blocks.append(_fields(_recipient_fields(rcpt, utf8=utf8)))
    text = "\r\n".join(blocks)
    return text.encode("utf-8") if utf8 else _ascii(text).encode("ascii")


def _recipient_fields(rcpt: RecipientReport, *, utf8: bool) -> list[tuple[str, str]]:
    fields = []
    if rcpt.original_recipient is not None:  # RFC 3464 2.3.1
        fields.append(("Original-Recipient", _typed_address(rcpt.original_recipient)))
    address_type = "utf-8" if utf8 and not rcpt.final_recipient.isascii() else "rfc822"  # RFC 6533 3
    fields.append(("Final-Recipient", f"{address_type}; {rcpt.final_recipient}"))  # RFC 3464 2.3.2
    fields.append(("Action", rcpt.action.value))  # 2.3.3
    fields.append(("Status", rcpt.status))  # 2.3.4
    if rcpt.remote_mta:
        fields.append(("Remote-MTA", f"dns; {rcpt.remote_mta}"))  # 2.3.5
    if rcpt.reply is not None:
        fields.append(("Diagnostic-Code", f"smtp; {_reply_text(rcpt.reply)}"))  # 2.3.6
    if rcpt.last_attempt is not None:
        fields.append(("Last-Attempt-Date", email.utils.format_datetime(rcpt.last_attempt)))  # 2.3.7
    if rcpt.will_retry_until is not None and rcpt.action is Action.DELAYED:
        fields.append(("Will-Retry-Until", email.utils.format_datetime(rcpt.will_retry_until)))  # 2.3.8
    return fields


def _typed_address(value: str) -> str:
    """RFC 3464 2.3.1: address-type ";" generic-address ("rfc822" when no type is given)."""
    kind, sep, address = value.partition(";")
    if not sep:
        kind, address = "rfc822", value
    return f"{kind.strip()}; {address.strip()}"


def _reply_text(reply: Reply) -> str:
    status = f" {reply.status}" if reply.status else ""
    text = " ".join(line.strip() for line in reply.text.split("\n") if line.strip())
    text = text[:MAX_DIAGNOSTIC]  # whatever the server wrote, the field stays bounded
    return f"{reply.code}{status} {text}".rstrip()


def _human_text(report: MessageReport, hostname: str) -> str:
    lines = [f"This is the mail system at host {hostname}.", ""]
    failed = [r for r in report.recipients if r.action is Action.FAILED]
    delayed = [r for r in report.recipients if r.action is Action.DELAYED]
    if failed:
        lines += ["Your message could not be delivered to the recipients below.", ""]
    if delayed:
        lines += ["Delivery of your message to the recipients below is delayed;",
                  "it is still being retried. You need not send it again.", ""]
    if not failed and not delayed:
        lines += ["Your message was delivered or passed on as reported below.", ""]
    for rcpt in report.recipients:
        if rcpt.reply is None:
            said = f": status {rcpt.status}"
        elif rcpt.remote_mta:
            said = f": {rcpt.remote_mta} said: {_reply_text(rcpt.reply)}"
        else:
            said = f": {_reply_text(rcpt.reply)}"
        lines.append(f"<{rcpt.final_recipient}> ({rcpt.action.value}){said}")
        if rcpt.will_retry_until is not None and rcpt.action is Action.DELAYED:
            lines.append(f"    retried until {email.utils.format_datetime(rcpt.will_retry_until)}")
    return "\r\n".join(lines) + "\r\n"


def _fields(fields: Iterable[tuple[str, str]]) -> str:
    """Header-style fields, folded at white space near 78 octets (RFC 5322 2.2.3)."""
    out = []
    for name, raw in fields:
        value = re.sub(r"[\r\n\t]+", " ", raw)
        line = f"{name}: "
        for word in value.split(" "):
            if len(line) + len(word) > MAX_FIELD_LINE and line.strip() and not line.endswith(": "):
                out.append(line.rstrip(" ") + "\r\n")
                line = " "
            line += word + " "
        out.append(line.rstrip(" ") + "\r\n")
    return "".join(out)


def _ascii(text: str) -> str:
    """RFC 3464 2.1.1: message/delivery-status is US-ASCII; anything else becomes "?"."""
    return text.encode("ascii", "replace").decode("ascii")


def _has_8bit(data: bytes) -> bool:
    return not data.isascii()
