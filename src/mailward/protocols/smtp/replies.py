"""SMTP replies as named constants, each with its enhanced status code (RFC 3463, RFC 5248).

Code and tests use these names, so a reply's wording lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    code: int
    status: str  # enhanced status code, "" for the greeting and EHLO (RFC 2034 section 3)
    text: str

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def closes(self) -> bool:
        """Replies after which the server closes the connection (RFC 5321 3.8, 4.2.5)."""
        return self.code in (221, 421)

    def with_text(self, text: str) -> Reply:
        return Reply(self.code, self.status, text)

    def render(self) -> bytes:
        lines = self.text.split("\n")
        out = []
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            prefix = f"{self.status} " if self.status else ""
            out.append(f"{self.code}{sep}{prefix}{line}\r\n")
        return "".join(out).encode("utf-8")


def multiline(code: int, lines: list[str]) -> Reply:
    """A reply of several lines without enhanced codes (EHLO)."""
    return Reply(code, "", "\n".join(lines))


# 2xx
OK = Reply(250, "2.0.0", "OK")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
RESET_OK = Reply(250, "2.0.0", "Reset")
MESSAGE_ACCEPTED = Reply(250, "2.0.0", "Message accepted")
VRFY_CANNOT = Reply(252, "2.5.2", "Cannot VRFY user, but will accept the message and attempt delivery")
HELP = Reply(
    214,
    "2.0.0",
    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
)
BYE = Reply(221, "2.0.0", "Bye")
READY_FOR_TLS = Reply(220, "2.0.0", "Ready to start TLS")
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
START_INPUT = Reply(354, "", "End data with <CR><LF>.<CR><LF>")

# 4xx: try again later
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, try again later")
TIMEOUT = Reply(421, "4.4.2", "Timeout, closing the connection")
# RFC 3463 4.3.2: the system is not accepting network messages (full, for now)
TOO_MANY_CONNECTIONS = Reply(421, "4.3.2", "Too many connections, try again later")
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing the connection")
TOO_MANY_COMMANDS = Reply(421, "4.7.0", "Too many commands without a message, closing the connection")
LOCAL_ERROR = Reply(451, "4.3.0", "Local error in processing, try again later")
STORE_FULL = Reply(452, "4.3.1", "Mail system full, try again later")  # RFC 3463 3.5
# RFC 5321 3.8: a server that must close the connection says 421 first
LOCAL_ERROR_CLOSING = Reply(421, "4.3.0", "Local error in processing, closing the connection")
RELAY_NOT_AVAILABLE = Reply(451, "4.3.0", "Relay to other servers is not available yet, try again later")
FORWARD_NOT_AVAILABLE = Reply(
    451, "4.3.0", "This address forwards to other servers, which is not available yet; try again later"
)
RECIPIENT_LOOP = Reply(451, "4.3.0", "Recipient cannot be resolved (alias loop), try again later")
MAILBOX_FULL_SOME = Reply(452, "4.2.2", "Mailbox full for some recipients, try again later")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
AUTH_TEMPORARY = Reply(454, "4.7.0", "Temporary authentication failure")

# 5xx: the client sent something wrong
UNRECOGNIZED = Reply(500, "5.5.1", "Command unrecognized")
LINE_TOO_LONG = Reply(500, "5.5.6", "Line too long")
BARE_LINE_ENDING = Reply(500, "5.5.2", "Bare CR or LF in command; lines end with CRLF")
SYNTAX = Reply(501, "5.5.4", "Syntax error in parameters or arguments")
SYNTAX_MAIL = Reply(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]")
SYNTAX_RCPT = Reply(501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]")
SYNTAX_BDAT = Reply(501, "5.5.4", "Syntax: BDAT size [LAST]")
SYNTAX_HELO = Reply(501, "5.5.4", "Syntax: EHLO hostname")
SYNTAX_PARAMETERS = Reply(501, "5.5.4", "Syntax error in parameters")
BAD_ADDRESS = Reply(501, "5.1.3", "Bad address syntax")
BAD_SENDER_ADDRESS = Reply(501, "5.1.7", "Bad sender address syntax")
AUTH_CANCELLED = Reply(501, "5.0.0", "Authentication cancelled")
AUTH_BAD_BASE64 = Reply(501, "5.5.2", "Cannot decode the response (base64)")
AUTH_MALFORMED = Reply(501, "5.5.2", "Malformed authentication exchange")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")
BAD_SEQUENCE = Reply(503, "5.5.1", "Bad sequence of commands")
NEED_HELO = Reply(503, "5.5.1", "Send EHLO or HELO first")
NESTED_MAIL = Reply(503, "5.5.1", "Sender already specified")
NEED_MAIL = Reply(503, "5.5.1", "Send MAIL first")
NEED_RCPT = Reply(503, "5.5.1", "Send RCPT first")
ALREADY_AUTHENTICATED = Reply(503, "5.5.1", "Already authenticated")
AUTH_IN_TRANSACTION = Reply(503, "5.5.1", "AUTH is not allowed during a mail transaction")
TLS_ACTIVE = Reply(503, "5.5.1", "TLS is active already")
DATA_AFTER_BDAT = Reply(503, "5.5.1", "DATA cannot follow BDAT in one transaction")
RCPT_AFTER_BDAT = Reply(503, "5.5.1", "RCPT cannot follow BDAT in one transaction")
UNKNOWN_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication mechanism")
PARAMETER_UNSUPPORTED = Reply(555, "5.5.4", "Parameter not recognized or not implemented")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
STARTTLS_REQUIRED = Reply(530, "5.7.0", "Must issue a STARTTLS command first")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
AUTH_LINE_TOO_LONG = Reply(500, "5.5.6", "Authentication exchange line is too long")
MAILBOX_UNAVAILABLE = Reply(550, "5.1.1", "Mailbox unavailable")
MAILBOX_DISABLED = Reply(550, "5.2.1", "Mailbox disabled, not accepting messages")
ROUTING_REFUSED = Reply(550, "5.7.1", "Routing addresses (% or ! in the local part) are not accepted")
RELAY_DENIED = Reply(554, "5.7.1", "Relay access denied")
SENDER_NOT_OWNED = Reply(553, "5.7.1", "Sender address not owned by the authenticated user")
NEED_SMTPUTF8 = Reply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter")
MAILBOX_FULL = Reply(552, "5.2.2", "Mailbox full")
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Message size exceeds the fixed maximum message size")
BARE_LINE_ENDING_IN_BDAT = Reply(
    550, "5.5.2", "Bare CR or LF in message data; lines must end with CRLF. Message refused"
)
BARE_LINE_ENDING_IN_DATA = Reply(
    521, "5.5.2", "Bare CR or LF in message data; lines must end with CRLF. Closing the connection"
)
