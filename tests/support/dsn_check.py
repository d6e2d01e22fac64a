"""A strict checker of delivery status notifications (RFC 3464, RFC 6522, RFC 6533).

Independent of the composer: it reads the DSN with Python's email package
(policy=default) for the structure, and parses the delivery-status body itself, field
by field, against the RFC's grammar. It returns the parsed fields for the test to check.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from dataclasses import dataclass
from email.message import EmailMessage

STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")  # RFC 3464 2.3.4, RFC 3463 2
TYPED = re.compile(r"^[A-Za-z0-9-]+;\s*\S.*$")  # address-type ";" generic-address, mta-name-type ";" mta-name
FIELD = re.compile(r"^([!-9;-~]+):[ \t]*(.*)$")  # RFC 5322 2.2 field-name
ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
PER_MESSAGE = {"original-envelope-id", "reporting-mta", "dsn-gateway", "received-from-mta", "arrival-date"}
PER_RECIPIENT = {
    "original-recipient", "final-recipient", "action", "status", "remote-mta", "diagnostic-code",
    "last-attempt-date", "final-log-id", "will-retry-until",
}
DATES = {"arrival-date", "last-attempt-date", "will-retry-until"}


class DsnError(AssertionError):
    pass


@dataclass
class ParsedDsn:
    message: EmailMessage
    per_message: dict[str, str]
    recipients: list[dict[str, str]]
    human: str
    returned: EmailMessage | None
    returned_type: str | None


def fields_of(block: str) -> dict[str, str]:
    """One block of header-style fields, unfolded; repeated or unknown-syntax fields are errors."""
    out: dict[str, str] = {}
    name = None
    for line in block.split("\n"):
        if line[:1] in (" ", "\t"):
            if name is None:
                raise DsnError(f"continuation without a field: {line!r}")
            out[name] += " " + line.strip()
            continue
        match = FIELD.match(line)
        if match is None:
            raise DsnError(f"not a field: {line!r}")
        name = match.group(1).lower()
        if name in out:
            raise DsnError(f"field {name} twice in one block")
        out[name] = match.group(2).strip()
    return out


def check_dsn(data: bytes) -> ParsedDsn:
    if b"\n" in data.replace(b"\r\n", b""):
        raise DsnError("bare LF in the DSN")
    if any(len(line) > 998 for line in data.split(b"\r\n")):
        raise DsnError("line over 998 octets")
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if message.defects:
        raise DsnError(f"defects: {message.defects}")
    if message.get_content_type() != "multipart/report":
        raise DsnError("not multipart/report (RFC 6522 3)")
    if message.get_param("report-type") != "delivery-status":
        raise DsnError("report-type is not delivery-status (RFC 3464 2)")
    for name in ("From", "Date", "Message-ID", "MIME-Version"):
        if message[name] is None:
            raise DsnError(f"no {name} header")
    parts = list(message.iter_parts())
    if len(parts) not in (2, 3):
        raise DsnError(f"{len(parts)} parts; RFC 6522 3 wants 2 or 3")
    human, status = parts[0], parts[1]
    if human.get_content_maintype() != "text" and human.get_content_type() != "multipart/alternative":
        raise DsnError("first part is not human-readable text (RFC 6522 3)")
    if status.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
        raise DsnError(f"second part is {status.get_content_type()}")
    # The email package reads delivery-status into header blocks of its own; the
    # checker reads the part's raw bytes instead, to judge the syntax itself.
    raw = _raw_body(_raw_parts(data, message.get_boundary())[1])
    # and the email package's reading must agree on the number of blocks
    # (it knows message/delivery-status, not RFC 6533's global form)
    blocks_seen = status.get_payload()
    if status.get_content_type() == "message/delivery-status" and not raw.isascii():
        raise DsnError("message/delivery-status must be US-ASCII (RFC 3464 2.1.1)")
    text = raw.decode("utf-8").replace("\r\n", "\n").strip("\n")
    blocks = re.split(r"\n\s*\n", text)
    known = status.get_content_type() == "message/delivery-status"
    if known and isinstance(blocks_seen, list) and len(blocks) != len(blocks_seen):
        raise DsnError(f"{len(blocks)} blocks, the email package reads {len(blocks_seen)}")
    per_message = fields_of(blocks[0])
    recipients = [fields_of(block) for block in blocks[1:]]
    _check_per_message(per_message)
    if not recipients:
        raise DsnError("no per-recipient block (RFC 3464 2.1)")
    for fields in recipients:
        _check_recipient(fields)
    returned, returned_type = _returned(parts, _raw_parts(data, message.get_boundary()))
    body = human.get_content()
    assert isinstance(body, str)
    return ParsedDsn(message, per_message, recipients, body, returned, returned_type)


def _raw_parts(data: bytes, boundary: str | None) -> list[bytes]:
    """The multipart's parts as raw bytes (RFC 2046 5.1.1), preamble and epilogue dropped."""
    if not boundary:
        raise DsnError("multipart without a boundary")
    delimiter = b"\r\n--" + boundary.encode()
    body = data[data.index(b"\r\n\r\n") + 2 :]
    pieces = body.split(delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise DsnError("multipart without its close delimiter")
    return [piece.split(b"\r\n", 1)[1] for piece in pieces[1:-1]]


def _raw_body(part: bytes) -> bytes:
    at = part.find(b"\r\n\r\n")
    if at < 0:
        raise DsnError("part without a body")
    return part[at + 4 :]


def _check_per_message(fields: dict[str, str]) -> None:
    unknown = set(fields) - PER_MESSAGE
    if unknown and not all(n.startswith("x-") for n in unknown):
        raise DsnError(f"unknown per-message fields {unknown}")
    if "reporting-mta" not in fields:
        raise DsnError("Reporting-MTA is required (RFC 3464 2.2.2)")
    _check_typed(fields, ("reporting-mta", "received-from-mta", "dsn-gateway"))
    _check_dates(fields)


def _check_recipient(fields: dict[str, str]) -> None:
    unknown = set(fields) - PER_RECIPIENT
    if unknown and not all(n.startswith("x-") for n in unknown):
        raise DsnError(f"unknown per-recipient fields {unknown}")
    for required in ("final-recipient", "action", "status"):  # RFC 3464 2.3
        if required not in fields:
            raise DsnError(f"{required} is required (RFC 3464 2.3)")
    if fields["action"] not in ACTIONS:
        raise DsnError(f"Action {fields['action']!r} (RFC 3464 2.3.3)")
    if not STATUS.match(fields["status"]):
        raise DsnError(f"Status {fields['status']!r} (RFC 3464 2.3.4)")
    wanted_class = {"delayed": "4", "delivered": "2", "relayed": "2", "expanded": "2"}.get(fields["action"])
    if wanted_class and fields["status"][0] != wanted_class:
        raise DsnError(f"Action {fields['action']} with Status {fields['status']}")
    if "will-retry-until" in fields and fields["action"] != "delayed":
        raise DsnError("Will-Retry-Until only for delayed (RFC 3464 2.3.8)")
    _check_typed(fields, ("final-recipient", "original-recipient", "remote-mta", "diagnostic-code"))
    diagnostic = fields.get("diagnostic-code", "")
    if diagnostic.lower().startswith("smtp;") and not re.match(r"^smtp;\s*[2-5]\d\d(\s|$)", diagnostic, re.I):
        raise DsnError(f"smtp Diagnostic-Code without a reply code: {fields['diagnostic-code']!r}")
    _check_dates(fields)


def _check_typed(fields: dict[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if name in fields and not TYPED.match(fields[name]):
            raise DsnError(f"{name}: {fields[name]!r} is not type;value")


def _check_dates(fields: dict[str, str]) -> None:
    for name in DATES & set(fields):
        try:
            when = email.utils.parsedate_to_datetime(fields[name])
        except (TypeError, ValueError) as exc:
            raise DsnError(f"{name}: {fields[name]!r} is not an RFC 5322 date") from exc
        if when.tzinfo is None:
            raise DsnError(f"{name} has no zone")


def _returned(parts: list[EmailMessage], raw_parts: list[bytes]) -> tuple[EmailMessage | None, str | None]:
    if len(parts) < 3:
        return None, None
    kind = parts[2].get_content_type()
    if kind not in ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"):
        raise DsnError(f"third part is {kind}")
    if kind == "message/rfc822":
        inner = parts[2].get_content()
        assert isinstance(inner, EmailMessage)
        return inner, kind
    # the email package does not know RFC 6533's types: read the part's bytes
    raw = _raw_body(raw_parts[2])
    if kind != "message/global":
        raw += b"\r\n"  # a header section alone
    returned = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(returned, EmailMessage)
    return returned, kind
