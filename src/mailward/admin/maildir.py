"""Maildir names and files as Dovecot keeps them: pure functions, no file system.

- Folder names: Maildir++ keeps ``Sub/Folder`` in the directory ``.Sub.Folder`` at
  the top of the Maildir (INBOX is the top itself), each level in modified UTF-7
  (RFC 3501 5.1.3); Dovecot's ``LAYOUT=fs`` nests directories instead.
- File names: ``time.unique.host,S=size,W=vsize:2,FLAGS``: ``S`` is the file's size,
  ``W`` its size with CRLF line ends (RFC822.SIZE); the letters after ``:2,`` are the
  flags in ASCII order, the system ones (maildir(5): D F P R S T) then Dovecot's
  keywords ``a``-``z``, each the keyword on that line of ``dovecot-keywords``.
- ``subscriptions``: Dovecot's version 2 file (``V\\t2`` then a blank line, one name a
  line, levels separated by tabs), or the old one (one name a line, ``.`` between levels).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence

INFO_SEPARATOR = ":2,"
KEYWORDS_FILE = "dovecot-keywords"
UIDLIST_FILE = "dovecot-uidlist"
SUBSCRIPTIONS_FILE = "subscriptions"
MAX_KEYWORDS = 26  # Dovecot's letters a..z

# maildir(5) flag letters and the IMAP system flags they are (RFC 9051 2.3.2).
# P ("passed": resent or bounced) has no IMAP flag; Dovecot shows none for it either.
FLAG_LETTERS: Mapping[str, str] = {
    "D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted",
}
LETTER_OF_FLAG: Mapping[str, str] = {flag: letter for letter, flag in FLAG_LETTERS.items()}


class MaildirNameError(ValueError):
    """A mailbox name that has no Maildir++ directory name (or the reverse)."""


# --- modified UTF-7 (RFC 3501 5.1.3) ---------------------------------------------

_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")


def decode_mutf7(text: str) -> str:
    """Modified UTF-7 to Unicode; :class:`MaildirNameError` when it is not valid."""
    def shifted(match: re.Match[str]) -> str:
        run = match.group(1)
        if not run:
            return "&"  # "&-" is "&"
        padded = run.replace(",", "/") + "=" * (-len(run) % 4)
        try:
            raw = base64.b64decode(padded, validate=True)
            return raw.decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            raise MaildirNameError(f"{text!r}: bad modified UTF-7 {match.group(0)!r}") from None

    decoded = _SHIFTED.sub(shifted, text)
    if "&" in _SHIFTED.sub("", text):
        raise MaildirNameError(f"{text!r}: '&' that starts no modified UTF-7 run")
    return decoded


def encode_mutf7(text: str) -> str:
    """Unicode to modified UTF-7: printable US-ASCII as itself, ``&`` as ``&-``, the
    rest as base64 of UTF-16 with ``,`` for ``/``, between ``&`` and ``-``."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


# --- folder names -----------------------------------------------------------------

def folder_name(dirname: str) -> str | None:
    """The mailbox name of a Maildir++ folder directory (``.Sub.Folder`` ->
    ``Sub/Folder``); None for a directory that is no folder (``cur``, ``tmp``, ``..``)."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    levels = dirname[1:].split(".")
    if any(not level for level in levels):
        return None
    try:
        name = "/".join(decode_mutf7(level) for level in levels)
    except MaildirNameError:
        return None
    return "INBOX" if name.upper() == "INBOX" else name


def fs_folder_name(levels: Sequence[str]) -> str | None:
    """The mailbox name of a ``LAYOUT=fs`` folder at ``levels`` below the top."""
    try:
        return "/".join(decode_mutf7(level) for level in levels)
    except MaildirNameError:
        return None


def folder_dirname(name: str) -> str:
    """The Maildir++ directory of mailbox ``name`` (``Sub/Folder`` -> ``.Sub.Folder``);
    "" for INBOX (the top of the Maildir)."""
    if name.upper() == "INBOX":
        return ""
    levels = name.split("/")
    for level in levels:
        if not level or "." in level:
            raise MaildirNameError(
                f"mailbox {name!r}: Maildir++ separates levels with '.', so a level cannot "
                "hold one or be empty; rename the mailbox or export it alone with --mailbox")
    return "." + ".".join(encode_mutf7(level) for level in levels)


# --- file names -------------------------------------------------------------------

def split_filename(filename: str) -> tuple[str, dict[str, str], str]:
    """A message file name's base (up to the first ``,``), its ``,KEY=value`` fields
    and its info letters (after ``:2,``; "" when there is no info)."""
    head, sep, letters = filename.partition(INFO_SEPARATOR)
    if not sep:
        head, letters = filename.split(":", 1)[0], ""
    base, *parts = head.split(",")
    fields = {}
    for part in parts:
        key, eq, value = part.partition("=")
        if eq:
            fields[key] = value
    return base, fields, letters


def parse_letters(letters: str, keywords: Mapping[int, str]) -> tuple[frozenset[str], str]:
    """The flags and keywords of info letters, and the letters not understood (a keyword
    letter with no line in ``dovecot-keywords``, or an unknown system letter)."""
    flags: set[str] = set()
    unknown = []
    for letter in letters:
        if letter in FLAG_LETTERS:
            flags.add(FLAG_LETTERS[letter])
        elif "a" <= letter <= "z" and (ord(letter) - ord("a")) in keywords:
            flags.add(keywords[ord(letter) - ord("a")])
        elif letter != "P":
            unknown.append(letter)
    return frozenset(flags), "".join(unknown)


def render_letters(flags: Iterable[str], keyword_index: Mapping[str, int]) -> str:
    """Info letters for ``flags`` in ASCII order, as Dovecot writes them; keywords not
    in ``keyword_index`` are left out (the caller adds them to the index first)."""
    letters = {LETTER_OF_FLAG[f] for f in flags if f in LETTER_OF_FLAG}
    letters |= {chr(ord("a") + keyword_index[f]) for f in flags if f in keyword_index}
    return "".join(sorted(letters))


def message_filename(base: str, size: int, vsize: int, flags: Iterable[str],
                     keyword_index: Mapping[str, int]) -> str:
    """``base,S=size,W=vsize:2,LETTERS``: Dovecot's file name for a message."""
    return f"{base},S={size},W={vsize}{INFO_SEPARATOR}{render_letters(flags, keyword_index)}"


# --- dovecot-keywords, dovecot-uidlist, subscriptions -------------------------------

def parse_keywords(text: str) -> dict[int, str]:
    """``dovecot-keywords``: ``N name`` lines, N from 0 (letter ``a``) to 25 (``z``)."""
    found: dict[int, str] = {}
    for line in text.splitlines():
        number, _, name = line.partition(" ")
        if number.isdigit() and int(number) < MAX_KEYWORDS and name.strip():
            found[int(number)] = name.strip()
    return found


def render_keywords(keywords: Sequence[str]) -> str:
    return "".join(f"{i} {name}\n" for i, name in enumerate(keywords))


def parse_uidlist(text: str) -> list[str]:
    """The message file bases of a ``dovecot-uidlist`` in UID order (the first line is
    the header; each other ``UID [fields] :filename``)."""
    entries: list[tuple[int, str]] = []
    for line in text.splitlines()[1:]:
        uid, _, rest = line.partition(" ")
        _, colon, filename = rest.partition(":")
        if uid.isdigit() and colon and filename:
            entries.append((int(uid), filename.split(":", 1)[0].split(",", 1)[0]))
    return [base for _, base in sorted(entries)]


_V2_HEADER = "V\t2\n\n"
_TAB_ESCAPES = {"1": "\x01", "t": "\t", "r": "\r", "n": "\n"}


def _tab_unescape(text: str) -> str:
    return re.sub("\x01(.)", lambda m: _TAB_ESCAPES.get(m.group(1), m.group(1)), text)


def _tab_escape(text: str) -> str:
    for raw, esc in (("\x01", "\x011"), ("\t", "\x01t"), ("\r", "\x01r"), ("\n", "\x01n")):
        text = text.replace(raw, esc)
    return text


def parse_subscriptions(text: str) -> list[str]:
    """The mailbox names a ``subscriptions`` file lists, with ``/`` between levels."""
    if text.startswith(_V2_HEADER):
        lines = [[_tab_unescape(level) for level in line.split("\t")]
                 for line in text[len(_V2_HEADER):].splitlines()]
    else:
        lines = [line.split(".") for line in text.splitlines()]
    names = []
    for levels in lines:
        if levels and all(levels):
            name = fs_folder_name(levels)
            if name is not None:
                names.append("INBOX" if name.upper() == "INBOX" else name)
    return names


def render_subscriptions(names: Iterable[str]) -> str:
    """A version 2 ``subscriptions`` file (levels in modified UTF-7, as the folders)."""
    lines = ("\t".join(_tab_escape(encode_mutf7(level)) for level in name.split("/")) for name in names)
    return _V2_HEADER + "".join(f"{line}\n" for line in lines)


# --- line ends --------------------------------------------------------------------

def lf_to_crlf(data: bytes, after_cr: bool = False) -> tuple[bytes, bool]:
    """Every bare LF of ``data`` made CRLF (RFC 5322 2.3: lines end in CRLF); a chunk
    after one that ended in CR says so with ``after_cr``. Returns the bytes and
    whether they end in CR (for the next chunk)."""
    if not data:
        return data, after_cr
    out = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if after_cr and data.startswith(b"\n"):
        out = out[1:]  # the CR came in the chunk before
    return out, data.endswith(b"\r")


def crlf_to_lf(data: bytes, after_cr: bool = False) -> tuple[bytes, bool]:
    """Every CRLF of ``data`` made LF, as Dovecot keeps Maildir files; a CR at the end
    of a chunk is held back until the next chunk shows whether LF follows. Returns the
    bytes to write and whether a CR is held (write it if no chunk follows)."""
    if after_cr:
        data = b"\r" + data
    held = data.endswith(b"\r")
    if held:
        data = data[:-1]
    return data.replace(b"\r\n", b"\n"), held
