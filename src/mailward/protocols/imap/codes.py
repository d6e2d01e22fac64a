"""Response codes (RFC 9051 7.1, RFC 5530 3, and the extensions'), as named constants.

Codes without arguments are constants (``codes.PRIVACYREQUIRED``); those with arguments
are built by a function (``codes.uidnext(4392)``). ``bytes(code)`` is ``[NAME args]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailward.protocols.imap.seqset import SequenceSet


@dataclass(frozen=True)
class ResponseCode:
    name: str
    arguments: str = ""  # already in protocol syntax

    def __bytes__(self) -> bytes:
        inner = self.name + (" " + self.arguments if self.arguments else "")
        return b"[" + inner.encode("utf-8") + b"]"


# RFC 9051 7.1 (most of them first defined by RFC 5530 3)
ALERT = ResponseCode("ALERT")
ALREADYEXISTS = ResponseCode("ALREADYEXISTS")
AUTHENTICATIONFAILED = ResponseCode("AUTHENTICATIONFAILED")
AUTHORIZATIONFAILED = ResponseCode("AUTHORIZATIONFAILED")
BADCHARSET = ResponseCode("BADCHARSET")
CANNOT = ResponseCode("CANNOT")
CLIENTBUG = ResponseCode("CLIENTBUG")
CLOSED = ResponseCode("CLOSED")  # RFC 7162 3.2.11, RFC 9051 7.1
CONTACTADMIN = ResponseCode("CONTACTADMIN")
CORRUPTION = ResponseCode("CORRUPTION")
EXPIRED = ResponseCode("EXPIRED")
EXPUNGEISSUED = ResponseCode("EXPUNGEISSUED")
HASCHILDREN = ResponseCode("HASCHILDREN")
INUSE = ResponseCode("INUSE")
LIMIT = ResponseCode("LIMIT")
NONEXISTENT = ResponseCode("NONEXISTENT")
NOPERM = ResponseCode("NOPERM")
OVERQUOTA = ResponseCode("OVERQUOTA")
PARSE = ResponseCode("PARSE")
PRIVACYREQUIRED = ResponseCode("PRIVACYREQUIRED")
READ_ONLY = ResponseCode("READ-ONLY")
READ_WRITE = ResponseCode("READ-WRITE")
SERVERBUG = ResponseCode("SERVERBUG")
TRYCREATE = ResponseCode("TRYCREATE")
UIDNOTSTICKY = ResponseCode("UIDNOTSTICKY")  # RFC 4315 3
UNAVAILABLE = ResponseCode("UNAVAILABLE")
UNKNOWN_CTE = ResponseCode("UNKNOWN-CTE")  # RFC 3516 4.3
# extensions
TOOBIG = ResponseCode("TOOBIG")  # RFC 4469 5, RFC 7888 4, RFC 7889 4
NOMODSEQ = ResponseCode("NOMODSEQ")  # RFC 7162 3.1.2
NOTSAVED = ResponseCode("NOTSAVED")  # RFC 5182 2.1
USEATTR = ResponseCode("USEATTR")  # RFC 6154 6


def _numbers(value: int) -> str:
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"not a number for a response code: {value!r}")
    return str(value)


def uidnext(uid: int) -> ResponseCode:
    return ResponseCode("UIDNEXT", _numbers(uid))


def uidvalidity(value: int) -> ResponseCode:
    return ResponseCode("UIDVALIDITY", _numbers(value))


def unseen(number: int) -> ResponseCode:
    """RFC 3501 7.1: the first unseen message (IMAP4rev1 SELECT only)."""
    return ResponseCode("UNSEEN", _numbers(number))


def highestmodseq(modseq: int) -> ResponseCode:
    """RFC 7162 3.1.2.1."""
    return ResponseCode("HIGHESTMODSEQ", _numbers(modseq))


def appenduid(uid_validity: int, uids: SequenceSet) -> ResponseCode:
    """RFC 4315 3: ``APPENDUID uidvalidity uid-set`` (a set for MULTIAPPEND)."""
    return ResponseCode("APPENDUID", f"{_numbers(uid_validity)} {uids}")


def copyuid(uid_validity: int, source: SequenceSet, destination: SequenceSet) -> ResponseCode:
    """RFC 4315 3: ``COPYUID uidvalidity source-uids destination-uids``."""
    return ResponseCode("COPYUID", f"{_numbers(uid_validity)} {source} {destination}")


def _atoms(names: Iterable[str]) -> str:
    words = list(names)
    for word in words:
        if not word or any(c in ' (){"\r\n' or not 0x21 <= ord(c) <= 0x7E for c in word):
            raise ValueError(f"not an atom: {word!r}")
    return " ".join(words)


def permanentflags(flags: Iterable[str]) -> ResponseCode:
    """RFC 9051 7.1: ``PERMANENTFLAGS (\\Seen ... \\*)``."""
    return ResponseCode("PERMANENTFLAGS", "(" + _atoms(flags) + ")")


def capability(capabilities: Iterable[str]) -> ResponseCode:
    return ResponseCode("CAPABILITY", _atoms(capabilities))


def badcharset(charsets: Iterable[str]) -> ResponseCode:
    """RFC 9051 7.1: ``BADCHARSET (UTF-8)``, the charsets the server supports."""
    return ResponseCode("BADCHARSET", "(" + _atoms(charsets) + ")")


def modified(uids: SequenceSet) -> ResponseCode:
    """RFC 7162 3.1.3: the messages STORE ... UNCHANGEDSINCE did not change."""
    return ResponseCode("MODIFIED", str(uids))
