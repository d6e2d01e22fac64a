"""Maildir names and files as Dovecot keeps them (pure functions of admin.maildir)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.admin import maildir as md


@pytest.mark.parametrize(("encoded", "decoded"), [
    ("INBOX", "INBOX"),
    ("Entw&APw-rfe", "Entwürfe"),
    ("&U,BTFw-", "台北"),  # RFC 3501 5.1.3's example
    ("&ZeVnLIqe-", "日本語"),
    ("Tom &- Jerry", "Tom & Jerry"),
    ("&AOQA9gD8-", "äöü"),
])
def test_modified_utf7_both_ways(encoded: str, decoded: str) -> None:
    assert md.decode_mutf7(encoded) == decoded
    assert md.encode_mutf7(decoded) == encoded


@pytest.mark.parametrize("bad", ["a&b", "&", "&Jjo", "&!!-", "&AA-"])
def test_bad_modified_utf7_is_refused(bad: str) -> None:
    with pytest.raises(md.MaildirNameError):
        md.decode_mutf7(bad)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_modified_utf7_round_trips(text: str) -> None:
    encoded = md.encode_mutf7(text)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert md.decode_mutf7(encoded) == text


@pytest.mark.parametrize(("dirname", "name"), [
    (".Sent", "Sent"),
    (".Archive.2024", "Archive/2024"),
    (".Lists.&U,BTFw-", "Lists/台北"),
    (".inbox", "INBOX"),
    ("cur", None), (".", None), ("..", None), (".a..b", None), (".Trash.", None), (".bad&", None),
])
def test_maildirpp_folder_names(dirname: str, name: str | None) -> None:
    assert md.folder_name(dirname) == name
    if name not in (None, "INBOX"):
        assert md.folder_dirname(name) == dirname


def test_names_maildirpp_cannot_hold() -> None:
    assert md.folder_dirname("INBOX") == ""
    with pytest.raises(md.MaildirNameError, match="rename the mailbox"):
        md.folder_dirname("v1.2")


def test_file_names_and_flags() -> None:
    name = "1600000000.M20P1Q3.mail.example.org,S=1000,W=1030:2,FRSac"
    base, fields, letters = md.split_filename(name)
    assert (base, fields, letters) == ("1600000000.M20P1Q3.mail.example.org", {"S": "1000", "W": "1030"}, "FRSac")
    flags, unknown = md.parse_letters(letters + "Pz", {0: "$Forwarded", 2: "Junk"})
    assert flags == {"\\Flagged", "\\Answered", "\\Seen", "$Forwarded", "Junk"}
    assert unknown == "z"  # no line for it in dovecot-keywords; P has no IMAP flag
    assert md.split_filename("1600000000.123.host") == ("1600000000.123.host", {}, "")
    index = {"$Forwarded": 0, "Junk": 2}
    flags = frozenset({"\\Seen", "\\Draft", "\\Deleted", "Junk", "$Forwarded", "Other"})
    assert md.message_filename("b", 10, 12, flags, index) == "b,S=10,W=12:2,DSTac"


def test_keywords_uidlist_and_subscriptions() -> None:
    assert md.parse_keywords("0 $Forwarded\n1 Junk\n30 TooFar\nnonsense\n3 \n") == {0: "$Forwarded", 1: "Junk"}
    assert md.render_keywords(["$Forwarded", "Junk"]) == "0 $Forwarded\n1 Junk\n"
    uidlist = "3 V1 N4 G0\n2 W10 :b,S=8:2,S\n1 :a,S=3\n3 G1 W2 :c\n"
    assert md.parse_uidlist(uidlist) == ["a", "b", "c"]
    v2 = "V\t2\n\nINBOX\nArchive\t2024\nLists\t&U,BTFw-\nodd\x01tname\n"
    assert md.parse_subscriptions(v2) == ["INBOX", "Archive/2024", "Lists/台北", "odd\tname"]
    assert md.parse_subscriptions("INBOX\nArchive.2024\n") == ["INBOX", "Archive/2024"]
    names = ["INBOX", "Archive/2024", "Lists/台北"]
    assert md.render_subscriptions(names) == "V\t2\n\nINBOX\nArchive\t2024\nLists\t&U,BTFw-\n"
    assert md.parse_subscriptions(md.render_subscriptions(names)) == names


def convert(pieces: list[bytes], fn: object) -> bytes:
    out, state = b"", False
    for piece in pieces:
        data, state = fn(piece, state)  # type: ignore[operator]
        out += data
    if fn is md.crlf_to_lf and state:
        out += b"\r"
    return out


SAMPLE = b"a\nb\r\nc\rd\n\n\r\r\ne\r"


@pytest.mark.parametrize("cut", range(len(SAMPLE) + 1))
def test_line_ends_split_at_every_offset(cut: int) -> None:
    pieces = [SAMPLE[:cut], SAMPLE[cut:]]
    assert convert(pieces, md.lf_to_crlf) == convert([SAMPLE], md.lf_to_crlf) == b"a\r\nb\r\nc\rd\r\n\r\n\r\r\ne\r"
    assert convert(pieces, md.crlf_to_lf) == convert([SAMPLE], md.crlf_to_lf) == b"a\nb\nc\rd\n\n\r\ne\r"
    assert convert(list(map(bytes, zip(SAMPLE))), md.crlf_to_lf) == b"a\nb\nc\rd\n\n\r\ne\r"  # byte by byte


@given(st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"")), st.data())
def test_a_file_without_cr_survives_the_round_trip(data: bytes, draw: st.DataObject) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=4)))
    pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=False)]
    stored = convert(pieces, md.lf_to_crlf)
    assert b"\n" not in stored.replace(b"\r\n", b"")
    assert convert([stored[i:i + 3] for i in range(0, len(stored), 3)], md.crlf_to_lf) == data
