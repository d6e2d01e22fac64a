"""POP3 replies as named constants, with their RFC 2449/3206 response codes.

Code and tests use these names, so a reply's wording lives in one place. A reply is
``+OK`` or ``-ERR``, optionally followed by a response code in brackets (RFC 2449 8:
``resp-code``), then text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    ok: bool
    text: str
    code: str = ""  # RFC 2449 8 resp-code: "IN-USE", "LOGIN-DELAY", "SYS/TEMP", "AUTH" ...

    def with_text(self, text: str) -> Reply:
        return Reply(self.ok, text, self.code)

    def render(self) -> bytes:
        status = "+OK" if self.ok else "-ERR"
        code = f" [{self.code}]" if self.code else ""
        text = f" {self.text}" if self.text else ""
        return f"{status}{code}{text}\r\n".encode()


def ok(text: str) -> Reply:
    return Reply(True, text)


# +OK
GREETING = Reply(True, "POP3 server ready")
BYE = Reply(True, "Bye")
BYE_NOTHING_DELETED = Reply(True, "Bye (nothing deleted)")
USER_OK = Reply(True, "Send your password")
LOGGED_IN = Reply(True, "Logged in")
CAPA = Reply(True, "Capability list follows")
STLS_GO = Reply(True, "Begin TLS negotiation")
UTF8_OK = Reply(True, "UTF8 enabled")
NOOP = Reply(True, "")
DELETED = Reply(True, "Message deleted")
LIST_FOLLOWS = Reply(True, "Scan list follows")
UIDL_FOLLOWS = Reply(True, "Unique-id listing follows")
MECHANISMS_FOLLOW = Reply(True, "Mechanisms follow")

# -ERR: the client sent nonsense (RFC 1939 3: a negative reply, the session goes on)
UNKNOWN_COMMAND = Reply(False, "Unknown command")
WRONG_STATE = Reply(False, "Command not valid in this state")
SYNTAX = Reply(False, "Syntax error in arguments")
LINE_TOO_LONG = Reply(False, "Line too long")
NO_SUCH_MESSAGE = Reply(False, "No such message")
MESSAGE_DELETED = Reply(False, "Message already deleted")
NEED_USER = Reply(False, "Send USER first")
TLS_ACTIVE = Reply(False, "TLS is active already")
TLS_UNAVAILABLE = Reply(False, "TLS is not available")
TOO_MANY_ERRORS = Reply(False, "Too many errors, closing connection", "SYS/PERM")
TOO_MANY_COMMANDS = Reply(False, "Too many commands, closing connection", "SYS/PERM")
APOP_NOT_OFFERED = Reply(False, "APOP is not offered: use STLS and AUTH or USER/PASS")

# -ERR: refused (RFC 3206 4: AUTH is a problem with the credentials or their use)
AUTH_FAILED = Reply(False, "Authentication failed", "AUTH")
AUTH_MALFORMED = Reply(False, "Malformed authentication exchange", "AUTH")
AUTH_CANCELLED = Reply(False, "Authentication cancelled", "AUTH")
UNKNOWN_MECHANISM = Reply(False, "Unknown or unavailable mechanism", "AUTH")
# RFC 2595 2.1 and RFC 3206: a plaintext login is refused until TLS is active
PLAINTEXT_REFUSED = Reply(False, "Plaintext logins need TLS: use STLS first", "AUTH")
IN_USE = Reply(False, "Maildrop is in use by another session", "IN-USE")  # RFC 2449 8.1.1
LOGIN_DELAY = Reply(False, "Logged in too recently, try later", "LOGIN-DELAY")  # RFC 2449 8.1.2

# -ERR: try again later (RFC 3206 5: SYS/TEMP)
TEMPORARY = Reply(False, "Temporary failure, try again later", "SYS/TEMP")
THROTTLED = Reply(False, "Too many failed logins, try again later", "SYS/TEMP")
UPDATE_FAILED = Reply(False, "Could not remove the deleted messages, none were removed", "SYS/TEMP")
TIMEOUT = Reply(False, "Idle too long, closing connection", "SYS/TEMP")
SHUTTING_DOWN = Reply(False, "Server shutting down", "SYS/TEMP")
TOO_MANY_CONNECTIONS = Reply(False, "Too many connections, try again later", "SYS/TEMP")
LOCAL_ERROR_CLOSING = Reply(False, "Local error, closing connection", "SYS/TEMP")
PASSWORD_DISABLED = Reply(False, "Password logins are not offered here: use AUTH", "AUTH")


def message_follows(size: int) -> Reply:
    """RETR's and TOP's positive reply; the message follows it (RFC 1939 7)."""
    return Reply(True, f"{size} octets")


def maildrop_status(count: int, size: int) -> Reply:
    """After a login and RSET (RFC 1939 7 examples): what the maildrop holds now."""
    return Reply(True, f"Maildrop has {count} messages ({size} octets)")


TOP_FOLLOWS = Reply(True, "Top of message follows")
MESSAGE_GONE = Reply(False, "Message was removed by another session")
