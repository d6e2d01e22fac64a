"""What the connection's facts allow: the CAPABILITY list and plaintext-login refusals.

The session knows the facts (TLS on, the listener's ``plaintext_login`` setting, the
SASL mechanisms it can run, the user's APPENDLIMIT) and passes them in; these rules say
what follows from them (RFC 9051 6.1.1, 6.2.3, 7.2.2; RFC 3501 6.2.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailward.protocols.imap import codes
from mailward.protocols.imap.codes import ResponseCode
from mailward.protocols.imap.commands import Authenticate, Command, Login
from mailward.protocols.imap.state import NotAuthenticated, State

# SASL mechanisms that carry the password itself (RFC 4616 PLAIN, draft LOGIN)
PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})

# The extensions whose syntax this core reads and writes (the session may offer fewer).
EXTENSIONS = (
    "ENABLE",  # RFC 5161
    "IDLE",  # RFC 2177
    "NAMESPACE",  # RFC 2342
    "ID",  # RFC 2971
    "UIDPLUS",  # RFC 4315
    "MOVE",  # RFC 6851
    "UNSELECT",  # RFC 3691
    "CHILDREN",  # RFC 3348
    "LIST-EXTENDED",  # RFC 5258
    "LIST-STATUS",  # RFC 5819
    "SPECIAL-USE",  # RFC 6154
    "CREATE-SPECIAL-USE",  # RFC 6154
    "STATUS=SIZE",  # RFC 8438
    "MULTIAPPEND",  # RFC 3502
    "BINARY",  # RFC 3516
    "UTF8=ACCEPT",  # RFC 6855
    "ESEARCH",  # RFC 4731
    "SEARCHRES",  # RFC 5182
    "QUOTA",  # RFC 9208
    "QUOTA=RES-STORAGE",  # RFC 9208 5.1
)


@dataclass(frozen=True)
class Facts:
    """The connection as the session knows it."""

    tls_active: bool = False
    starttls_available: bool = False  # the listener offers STARTTLS and TLS is not on yet
    plaintext_needs_tls: bool = True  # plaintext_login = "tls-only"
    mechanisms: tuple[str, ...] = ()  # SASL mechanisms the session can run here
    literal_minus: bool = False  # offer LITERAL- (RFC 7888) instead of LITERAL+
    append_limit: int | None = None  # APPENDLIMIT=n (RFC 7889), once known

    @property
    def plaintext_allowed(self) -> bool:
        return self.tls_active or not self.plaintext_needs_tls


def capabilities(facts: Facts, state: State, extensions: Sequence[str] = EXTENSIONS) -> tuple[str, ...]:
    """The CAPABILITY list for ``state`` (RFC 9051 7.2.2).

    Before login: STARTTLS while it can be used, LOGINDISABLED and no plaintext
    mechanism while plaintext logins are refused (RFC 9051 6.2.3, 11.1), AUTH= and
    SASL-IR (RFC 4959). After login neither STARTTLS nor AUTH= is listed.
    """
    caps = ["IMAP4rev2", "IMAP4rev1"]
    if isinstance(state, NotAuthenticated):
        if facts.starttls_available and not facts.tls_active:
            caps.append("STARTTLS")
        if not facts.plaintext_allowed:
            caps.append("LOGINDISABLED")
        usable = [m for m in facts.mechanisms if facts.plaintext_allowed or m not in PLAINTEXT_MECHANISMS]
        caps += [f"AUTH={m}" for m in usable]
        caps.append("SASL-IR")
    caps.append("LITERAL-" if facts.literal_minus else "LITERAL+")
    caps += extensions
    if facts.append_limit is not None:
        caps.append(f"APPENDLIMIT={facts.append_limit}")
    return tuple(dict.fromkeys(caps))


def login_refusal(facts: Facts, command: Command) -> ResponseCode | None:
    """``NO [PRIVACYREQUIRED]`` for a plaintext login the facts do not allow (RFC 9051
    6.2.3, RFC 5530 3), ``NO [CANNOT]`` for a mechanism the session cannot run here;
    None when the login may go ahead."""
    if isinstance(command, Login):
        return None if facts.plaintext_allowed else codes.PRIVACYREQUIRED
    if isinstance(command, Authenticate):
        if command.mechanism in PLAINTEXT_MECHANISMS and not facts.plaintext_allowed:
            return codes.PRIVACYREQUIRED
        if command.mechanism not in facts.mechanisms:
            return codes.CANNOT
    return None
