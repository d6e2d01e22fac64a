"""The response encoder: values, status responses, codes, continuations, streamed literals."""

from __future__ import annotations

import pytest

from mailward.protocols.imap import codes
from mailward.protocols.imap.response import (
    AString,
    Atom,
    Encoder,
    LiteralData,
    Mailbox,
    Raw,
    Response,
    Status,
    Stream,
)
from mailward.protocols.imap.seqset import SequenceSet

ENC = Encoder()
UTF8 = Encoder(utf8=True)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("", b'""'),
        ("hello", b'"hello"'),
        ("a b", b'"a b"'),
        ('say "hi" \\o/', b'"say \\"hi\\" \\\\o/"'),
        ("tab\there", b'"tab\there"'),
        ("NIL", b'"NIL"'),
        ("line\r\nbreak", b"{11}\r\nline\r\nbreak"),
        ("nul\x00", b"{4}\r\nnul\x00"),
        ("été", b"{5}\r\n\xc3\xa9t\xc3\xa9"),
        (b"\xff", b"{1}\r\n\xff"),
    ],
)
def test_strings_pick_quoted_or_literal(value: str | bytes, wire: bytes) -> None:
    assert ENC.string(value) == wire


def test_utf8_goes_quoted_once_enabled_but_not_broken_utf8_or_crlf() -> None:
    assert UTF8.string("été") == '"été"'.encode()
    assert UTF8.string(b"\xff") == b"{1}\r\n\xff"
    assert UTF8.string("é\r\n") == b"{4}\r\n\xc3\xa9\r\n"


@pytest.mark.parametrize(
    ("value", "wire"),
    [("INBOX", b"INBOX"), ("a]b", b"a]b"), ("", b'""'), ("nil", b'"nil"'), ("a b", b'"a b"'),
     ("a%b", b'"a%b"'), ("a*", b'"a*"'), ("x(", b'"x("')],
)
def test_astrings(value: str, wire: bytes) -> None:
    assert ENC.astring(value) == wire


def test_mailbox_names_in_modified_utf7_or_utf8() -> None:
    assert bytes(ENC.value(Mailbox("Entwürfe"))) == b"Entw&APw-rfe"
    assert bytes(ENC.value(Mailbox("A & B"))) == b'"A &- B"'
    assert bytes(UTF8.value(Mailbox("Entwürfe"))) == '"Entwürfe"'.encode()
    assert bytes(UTF8.value(Mailbox("INBOX"))) == b"INBOX"


def test_values() -> None:
    assert bytes(ENC.value(None)) == b"NIL"
    assert bytes(ENC.value(0)) == b"0"
    assert bytes(ENC.value([Atom("\\Seen"), Atom("$Junk")])) == b"(\\Seen $Junk)"
    assert bytes(ENC.value(())) == b"()"
    assert bytes(ENC.value([1, [None, "x"], AString("y")])) == b'(1 (NIL "x") y)'
    assert bytes(ENC.value(Raw(b'("TEXT" "PLAIN")'))) == b'("TEXT" "PLAIN")'
    assert bytes(ENC.value(LiteralData(b"hi"))) == b"{2}\r\nhi"
    assert bytes(ENC.value(LiteralData(b"\x00", binary=True))) == b"~{1}\r\n\x00"
    with pytest.raises(TypeError):
        ENC.value(True)
    with pytest.raises(TypeError):
        ENC.value(-1)
    with pytest.raises(ValueError):
        Atom("two words")


def test_rfc_style_untagged_data() -> None:
    assert bytes(ENC.untagged(172, Atom("EXISTS"))) == b"* 172 EXISTS\r\n"
    flags = [Atom(f) for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")]
    assert bytes(ENC.untagged(Atom("FLAGS"), flags)) == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    assert bytes(ENC.untagged(Atom("LIST"), [Atom("\\Noselect")], "/", Mailbox("~/Mail/foo"))) == (
        b'* LIST (\\Noselect) "/" ~/Mail/foo\r\n'
    )
    assert bytes(ENC.untagged(Atom("SEARCH"), 2, 3, 6)) == b"* SEARCH 2 3 6\r\n"
    assert bytes(ENC.untagged(Atom("STATUS"), Mailbox("blurdybloop"), [Atom("MESSAGES"), 231, Atom("UIDNEXT"), 44292])) == (
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    )
    assert bytes(ENC.untagged(Atom("ID"), ["name", "mailward", "version", None])) == (
        b'* ID ("name" "mailward" "version" NIL)\r\n'
    )
    assert bytes(ENC.untagged(Atom("NAMESPACE"), [["", "/"]], None, None)) == b'* NAMESPACE (("" "/")) NIL NIL\r\n'


def test_status_responses_and_codes() -> None:
    assert ENC.tagged("A142", Status.OK, "SELECT completed", codes.READ_WRITE) == b"A142 OK [READ-WRITE] SELECT completed\r\n"
    assert ENC.tagged("a", Status.NO, "Plaintext login is disabled", codes.PRIVACYREQUIRED) == (
        b"a NO [PRIVACYREQUIRED] Plaintext login is disabled\r\n"
    )
    assert ENC.untagged_status(Status.OK, "Predicted next UID", codes.uidnext(4392)) == b"* OK [UIDNEXT 4392] Predicted next UID\r\n"
    assert ENC.untagged_status(Status.BYE, "Too big", codes.TOOBIG) == b"* BYE [TOOBIG] Too big\r\n"
    assert ENC.untagged_status(Status.PREAUTH, "welcome") == b"* PREAUTH welcome\r\n"
    with pytest.raises(ValueError):
        ENC.tagged("a", Status.BYE, "no")


def test_text_is_made_safe() -> None:
    assert ENC.tagged("a", Status.BAD, "x\r\n* OK injected") == b"a BAD x  * OK injected\r\n"
    assert ENC.tagged("a", Status.BAD, "") == b"a BAD done\r\n"
    assert ENC.tagged("a", Status.BAD, "[not a code]") == b"a BAD (not a code]\r\n"
    assert ENC.tagged("a", Status.NO, "café") == b"a NO caf?\r\n"
    assert UTF8.tagged("a", Status.NO, "café") == "a NO café\r\n".encode()


def test_codes_with_arguments() -> None:
    assert bytes(codes.appenduid(38505, SequenceSet.parse("3955"))) == b"[APPENDUID 38505 3955]"
    assert bytes(codes.copyuid(38505, SequenceSet.parse("304,319:320"), SequenceSet.parse("3956:3958"))) == (
        b"[COPYUID 38505 304,319:320 3956:3958]"
    )
    assert bytes(codes.permanentflags(["\\Deleted", "\\Seen", "\\*"])) == b"[PERMANENTFLAGS (\\Deleted \\Seen \\*)]"
    assert bytes(codes.uidvalidity(3857529045)) == b"[UIDVALIDITY 3857529045]"
    assert bytes(codes.highestmodseq(715194045007)) == b"[HIGHESTMODSEQ 715194045007]"
    assert bytes(codes.badcharset(["UTF-8"])) == b"[BADCHARSET (UTF-8)]"
    assert bytes(codes.capability(["IMAP4rev2", "IMAP4rev1"])) == b"[CAPABILITY IMAP4rev2 IMAP4rev1]"
    assert bytes(codes.unseen(12)) == b"[UNSEEN 12]"
    assert bytes(codes.modified(SequenceSet.parse("7,9"))) == b"[MODIFIED 7,9]"
    assert bytes(codes.CLOSED) == b"[CLOSED]" and bytes(codes.LIMIT) == b"[LIMIT]"
    with pytest.raises(ValueError):
        codes.permanentflags(["bad flag"])
    with pytest.raises(ValueError):
        codes.uidnext(-1)


def test_continuations() -> None:
    assert ENC.continuation() == b"+ Ready\r\n"
    assert ENC.continuation("idling") == b"+ idling\r\n"
    assert Encoder.continuation_data(b"") == b"+ \r\n"
    assert Encoder.continuation_data(b"\x00challenge") == b"+ AGNoYWxsZW5nZQ==\r\n"


def test_fetch_with_a_streamed_literal_is_pieces_not_one_buffer() -> None:
    body = Stream(1234, source="blob-17")
    response = ENC.fetch(12, [("UID", 5), ("FLAGS", [Atom("\\Seen")]), ("BODY[]", body)])
    assert response == Response((b"* 12 FETCH (UID 5 FLAGS (\\Seen) BODY[] {1234}\r\n", body, b")\r\n"))
    with pytest.raises(ValueError):
        bytes(response)
    binary = Stream(3, source=None, binary=True)
    two = ENC.fetch(1, [("BINARY[1]", binary), ("BODY[TEXT]<0>", Stream(0))])
    assert list(two) == [b"* 1 FETCH (BINARY[1] ~{3}\r\n", binary, b" BODY[TEXT]<0> {0}\r\n", Stream(0), b")\r\n"]


def test_fetch_with_small_values_is_bytes() -> None:
    response = ENC.fetch(1, [("RFC822.SIZE", 44827), ("INTERNALDATE", "17-Jul-1996 02:44:25 -0700")])
    assert bytes(response) == b'* 1 FETCH (RFC822.SIZE 44827 INTERNALDATE "17-Jul-1996 02:44:25 -0700")\r\n'
