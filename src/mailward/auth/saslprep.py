"""SASLprep (RFC 4013), the stringprep profile for user names and passwords.

RFC 5802 2.2 (Normalize) requires it of SCRAM passwords, and RFC 4616 2 lets a
PLAIN server apply it; mailward applies it wherever a password is set or checked,
so that PLAIN, LOGIN and SCRAM agree on what the password is.
"""

from __future__ import annotations

import stringprep
import unicodedata

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII space characters (RFC 4013 2.3)
    stringprep.in_table_c21,  # ASCII control characters
    stringprep.in_table_c22,  # non-ASCII control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogate codes
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties or deprecated
    stringprep.in_table_c9,  # tagging characters
)


class SaslPrepError(ValueError):
    """The string has a character SASLprep prohibits (the message says which rule)."""


def saslprep(text: str, *, allow_unassigned: bool = False) -> str:
    """Prepare ``text`` per RFC 4013; raise :class:`SaslPrepError` if it is prohibited.

    Passwords are "stored strings" (RFC 3454 7): unassigned code points are refused.
    """
    # RFC 4013 2.1: non-ASCII space -> SPACE; commonly mapped to nothing -> removed
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    # RFC 4013 2.2: Unicode normalization form KC
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared:
        return prepared
    for c in prepared:
        if any(table(c) for table in _PROHIBITED):  # RFC 4013 2.3
            raise SaslPrepError(f"prohibited character U+{ord(c):04X}")
        if not allow_unassigned and stringprep.in_table_a1(c):  # RFC 4013 2.5
            raise SaslPrepError(f"unassigned code point U+{ord(c):04X}")
    # RFC 4013 2.4 / RFC 3454 6: bidirectional characters
    has_ral = any(stringprep.in_table_d1(c) for c in prepared)
    if has_ral:
        if any(stringprep.in_table_d2(c) for c in prepared):
            raise SaslPrepError("mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise SaslPrepError("right-to-left text must start and end with a right-to-left character")
    return prepared
