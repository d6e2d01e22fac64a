"""Interop: the IMAP server with the independent `imapclient` library over real TLS, and
the MIME corpus sent with APPEND and read back with FETCH (issue 21, "Done when")."""

from __future__ import annotations

import base64
import datetime
import imaplib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.response_types import Address, BodyData, Envelope

from mailward.mime import Part, parse
from mailward.protocols.imap.response import Encoder
from mailward.server.imap.structure import body_structure
from support.imap import PASSWORDS, ImapEnv, message
from support.mime_checks import body, header
from support.mime_corpus import all_messages

ALICE = "alice@example.org"


@pytest.fixture
def client(env: ImapEnv) -> Iterator[IMAPClient]:
    imap = IMAPClient("localhost", env.port("imaps"), ssl=True, ssl_context=env.tls_context(), timeout=10)
    imap.login(ALICE, PASSWORDS[ALICE])
    try:
        yield imap
    finally:
        imap.logout()


def ok(result: tuple[str, list[Any]]) -> list[Any]:
    status, data = result
    assert status == "OK", (status, data)
    return data


def stored(env: ImapEnv, mailbox: str = "INBOX") -> dict[int, bytes]:
    """The messages of alice's ``mailbox`` as the store holds them, by UID."""
    return {uid: data for uid, (_, data) in env.mailboxes(ALICE)[mailbox].items()}


# --- imapclient ------------------------------------------------------------------------


def test_imapclient_logs_in_lists_and_reads_what_was_delivered(env: ImapEnv, client: IMAPClient) -> None:
    sent = [message("alpha", "The quick brown fox."), message("beta", "Lazy dogs sleep.")]
    for data in sent:
        env.deliver(ALICE, data)
    assert client.has_capability("IMAP4REV2") and client.has_capability("IDLE")
    folders = {name: flags for flags, delimiter, name in client.list_folders()}
    assert {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"} <= set(folders)
    assert b"\\Sent" in folders["Sent"]
    assert client.find_special_folder(b"\\Trash") == "Trash"
    selected = client.select_folder("INBOX")
    assert selected[b"EXISTS"] == 2 and selected[b"UIDNEXT"] == 3 and b"\\Seen" in selected[b"FLAGS"]

    data = client.fetch([1, 2], ["BODY.PEEK[]", "RFC822.SIZE", "FLAGS", "INTERNALDATE", "ENVELOPE",
                                "BODYSTRUCTURE"])
    server = stored(env)
    assert sorted(data) == [1, 2]
    for uid, original in zip((1, 2), sent, strict=True):
        item = data[uid]
        assert item[b"BODY[]"] == server[uid]
        assert server[uid].endswith(original)  # delivery only adds trace fields on top
        assert item[b"RFC822.SIZE"] == len(server[uid])
        assert item[b"FLAGS"] == ()
        assert isinstance(item[b"INTERNALDATE"], datetime.datetime)
        assert abs(item[b"INTERNALDATE"].timestamp() - time.time()) < 300
        envelope = item[b"ENVELOPE"]
        assert isinstance(envelope, Envelope)
        assert envelope.subject == (b"alpha" if uid == 1 else b"beta")
        assert envelope.from_ == (Address(None, None, b"someone", b"example.net"),)
        assert envelope.to == (Address(None, None, b"alice", b"example.org"),)
        structure = item[b"BODYSTRUCTURE"]
        assert isinstance(structure, BodyData) and not structure.is_multipart
        assert structure[:2] == (b"TEXT", b"PLAIN") and structure[5] == b"7BIT"

    # text criteria, flags criteria, and a UTF-8 charset (RFC 9051 6.4.4)
    assert client.search(["TEXT", "fox"]) == [1]
    assert client.search(["BODY", "dogs"]) == [2]
    assert client.search(["SUBJECT", "beta"]) == [2]
    assert client.search(["FROM", "someone@example.net"]) == [1, 2]
    assert client.search("UNSEEN") == [1, 2]
    assert client.search(["TEXT", "quick"], charset="UTF-8") == [1]
    assert client.search(["SINCE", datetime.date(2020, 1, 1), "NOT", "DELETED"]) == [1, 2]
    assert client.search(["LARGER", 10_000]) == []


def test_imapclient_flags_copy_move_append_expunge(env: ImapEnv, client: IMAPClient) -> None:
    for n in range(1, 5):
        env.deliver(ALICE, message(f"note {n}", f"body {n}"))
    client.select_folder("INBOX")
    assert client.set_flags([1, 2], [b"\\Seen", b"$Work"]) == {1: (b"$Work", b"\\Seen"),
                                                                2: (b"$Work", b"\\Seen")}
    assert client.add_flags([2], [b"\\Flagged"])[2] == (b"$Work", b"\\Flagged", b"\\Seen")
    assert client.remove_flags([1], [b"$Work"])[1] == (b"\\Seen",)
    assert client.get_flags([1, 2, 3]) == {1: (b"\\Seen",), 2: (b"$Work", b"\\Flagged", b"\\Seen"), 3: ()}
    assert client.search(["KEYWORD", "$Work"]) == [2]

    server = stored(env)
    client.copy([1, 2], "Archive")  # imapclient returns no tagged text for COPY; the store tells
    client.move([3], "Trash")  # MOVE (RFC 6851)
    assert client.search("ALL") == [1, 2, 4]

    client.delete_messages([4])
    assert client.expunge() is not None
    assert client.search("ALL") == [1, 2]
    assert sorted(stored(env)) == [1, 2]

    archive = stored(env, "Archive")
    assert sorted(archive.values()) == sorted([server[1], server[2]])
    assert list(stored(env, "Trash").values()) == [server[3]]
    client.select_folder("Archive", readonly=True)
    flags = client.get_flags(client.search("ALL"))
    assert sorted(flags.values()) == [(b"$Work", b"\\Flagged", b"\\Seen"), (b"\\Seen",)]  # flags come along

    draft = message("a draft", "Not sent yet.\r\nTwo lines.")
    when = datetime.datetime(2026, 12, 1, 8, 30, tzinfo=datetime.UTC)
    appended = client.append("Drafts", draft, flags=[b"\\Draft"], msg_time=when)
    assert b"APPENDUID" in appended
    client.select_folder("Drafts")
    uid = client.search(["DRAFT"])[0]
    got = client.fetch([uid], ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])[uid]
    assert got[b"BODY[]"] == draft and stored(env, "Drafts")[uid] == draft
    assert got[b"FLAGS"] == (b"\\Draft",)
    assert got[b"INTERNALDATE"].replace(tzinfo=None) == when.astimezone().replace(tzinfo=None)

    # UID EXPUNGE (RFC 4315) removes only the UIDs named
    client.add_flags([uid], [b"\\Deleted"])
    client.uid_expunge([uid])
    assert client.search("ALL") == []


def test_imapclient_idle_hears_of_delivered_mail(env: ImapEnv, client: IMAPClient) -> None:
    env.deliver(ALICE, message("before"))
    client.select_folder("INBOX")
    client.idle()
    try:
        env.deliver(ALICE, message("during idle"))
        deadline = time.monotonic() + 5
        heard: list[tuple[object, ...]] = []
        while time.monotonic() < deadline and (2, b"EXISTS") not in heard:
            heard += client.idle_check(timeout=1)
    finally:
        done = client.idle_done()
    assert (2, b"EXISTS") in heard, heard
    assert done[0].startswith(b"IDLE")
    fetched = client.fetch([2], ["BODY.PEEK[]"])[2][b"BODY[]"]
    assert fetched == stored(env)[2] and fetched.endswith(message("during idle"))


def test_imapclient_folders_and_status(env: ImapEnv, client: IMAPClient) -> None:
    env.deliver(ALICE, message("counted", "some text"))
    status = client.folder_status("INBOX", [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN", b"SIZE"])
    assert status[b"MESSAGES"] == 1 and status[b"UIDNEXT"] == 2 and status[b"UNSEEN"] == 1
    assert status[b"SIZE"] == len(stored(env)[1])
    client.create_folder("Projects/2027")
    assert client.folder_exists("Projects") and client.folder_exists("Projects/2027")
    assert client.list_sub_folders("Projects") != []
    client.subscribe_folder("Projects/2027")
    client.rename_folder("Projects", "Work")
    names = [name for _, _, name in client.list_folders()]
    assert "Work/2027" in names and "Projects" not in names and "Projects/2027" not in names
    client.delete_folder("Work/2027")
    client.delete_folder("Work")
    assert not client.folder_exists("Work")
    # a name outside ASCII travels in modified UTF-7 (RFC 3501 5.1.3), which imapclient writes
    client.create_folder("Reçus")
    assert "Reçus" in [name for _, _, name in client.list_folders()]
    client.select_folder("Reçus")
    client.unselect_folder()
    client.delete_folder("Reçus")
    namespace = client.namespace()
    assert namespace.personal == (("", "/"),)
    (ident,) = client.id_()
    assert dict(zip(ident[::2], ident[1::2], strict=True))[b"name"] == b"mailward"


# --- APPEND then FETCH: the MIME corpus -----------------------------------------------


def fetched(client: imaplib.IMAP4, uid: int, item: str) -> bytes:
    """The FETCH response for one message and one item as it came on the wire (imaplib
    splits it at literals; the pieces are put back together with the literals' CRLF)."""
    data = ok(client.uid("FETCH", str(uid), f"({item})"))
    raw = b"".join(piece[0] + b"\r\n" + piece[1] if isinstance(piece, tuple) else piece
                   for piece in data if piece is not None)
    match = re.fullmatch(rb"\d+ \(UID %d (.*)\)" % uid, raw, re.DOTALL)
    assert match is not None, raw
    return match.group(1)


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n%s" % (len(data), data)


def sections(part: Part, prefix: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Part]]:
    """Every part below ``part`` with its IMAP section number (RFC 9051 6.4.5): the
    parts of a multipart numbered from 1, those of an encapsulated message as if it
    stood alone (its body part 1 when it is not multipart)."""
    if part.is_message:
        inner = part.children[0]
        if inner.is_multipart:
            yield from sections(inner, prefix)
        else:
            yield (*prefix, 1), inner
        return
    for number, child in enumerate(part.children, 1):
        yield (*prefix, number), child
        if child.is_multipart or child.is_message:
            yield from sections(child, (*prefix, number))


def test_append_then_fetch_the_mime_corpus(env: ImapEnv) -> None:
    corpus = all_messages()
    client = env.login()
    try:
        uids = {}
        for name, data in corpus.items():
            typ, reply = client.append("INBOX", None, None, data)
            assert typ == "OK", (name, reply)
            uids[name] = int(re.search(rb"APPENDUID \d+ (\d+)", reply[0]).group(1))  # type: ignore[union-attr]
        ok(client.select("INBOX", readonly=True))
        enc = Encoder()
        checked = 0
        for name, data in corpus.items():
            uid = uids[name]
            structure = parse(data)
            assert fetched(client, uid, "BODY.PEEK[]") == b"BODY[] " + literal(data), name
            assert fetched(client, uid, "RFC822.SIZE") == b"RFC822.SIZE %d" % len(data)
            assert fetched(client, uid, "BODYSTRUCTURE") == b"BODYSTRUCTURE " + body_structure(structure.root, enc)
            assert fetched(client, uid, "BODY") == b"BODY " + body_structure(structure.root, enc, extended=False)
            assert fetched(client, uid, "BODY.PEEK[HEADER]") == b"BODY[HEADER] " + literal(header(data, structure.root))
            assert fetched(client, uid, "BODY.PEEK[TEXT]") == b"BODY[TEXT] " + literal(body(data, structure.root))
            if not structure.root.is_multipart:
                assert fetched(client, uid, "BODY.PEEK[1]") == b"BODY[1] " + literal(body(data, structure.root))
            for number, part in sections(structure.root):
                at = ".".join(map(str, number))
                assert fetched(client, uid, f"BODY.PEEK[{at}]") == f"BODY[{at}] ".encode() + literal(body(data, part))
                assert fetched(client, uid, f"BODY.PEEK[{at}.MIME]") == (f"BODY[{at}.MIME] ".encode()
                                                                         + literal(header(data, part)))
                checked += 1
                if part.is_message:
                    inner = part.children[0]
                    assert fetched(client, uid, f"BODY.PEEK[{at}.HEADER]") == (f"BODY[{at}.HEADER] ".encode()
                                                                               + literal(header(data, inner)))
                    assert fetched(client, uid, f"BODY.PEEK[{at}.TEXT]") == (f"BODY[{at}.TEXT] ".encode()
                                                                             + literal(body(data, inner)))
        assert checked >= 25
        for name, expected in hand_written(corpus).items():
            assert fetched(client, uids[name], "BODYSTRUCTURE") == b"BODYSTRUCTURE " + expected, name
        rfc2231 = fetched(client, uids["rfc2231"], "BODYSTRUCTURE")
        assert (b'"<rates@example.org>" NIL "BASE64" 4 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" '
                in rfc2231)  # body-fld-id, -desc, -enc, -octets, body-fld-md5, body-fld-dsp
        assert rfc2231.endswith(b' "SIZE" "3")) ("en-GB" "fr") "https://example.org/rates.pdf") "MIXED" '
                                b'("BOUNDARY" "b2231") NIL NIL NIL)')  # body-fld-lang: the comment gone
        # BINARY (RFC 3516): the transfer encoding undone
        tnef = fetched(client, uids["tnef"], "BINARY.PEEK[2]")
        blob = base64.b64decode(span(corpus["tnef"], b"eJ8+", b"\r\n--_002_TNEF_--"))
        assert tnef == b"BINARY[2] ~" + literal(blob)
        assert fetched(client, uids["tnef"], "BINARY.SIZE[2]") == b"BINARY.SIZE[2] %d" % len(blob)
        latin = fetched(client, uids["legacy_charsets"], "BINARY.PEEK[1]")
        assert latin == b"BINARY[1] " + literal("Grüße aus Köln, café.".encode("iso-8859-1"))
    finally:
        client.logout()


def span(data: bytes, start: bytes, end: bytes) -> bytes:
    """From the first ``start`` up to the ``end`` after it (a boundary's CRLF first)."""
    first = data.index(start)
    return data[first:data.index(end, first)]


def lines(data: bytes) -> int:
    return data.count(b"\n") + (not data.endswith(b"\n"))


def hand_written(corpus: dict[str, bytes]) -> dict[str, bytes]:
    """BODYSTRUCTURE of some of the corpus written out by hand from RFC 9051 7.5.2 (the
    sizes of the larger parts measured between their boundaries)."""
    tnef = span(corpus["tnef"], b"eJ8+", b"\r\n--_002_TNEF_--")
    signature = span(corpus["smime_signed"], b"MIIF", b"\r\n------sig-boundary--")
    plans = span(corpus["forwarded"], b"From: Grace", b"\r\n--fwd-outer--")
    carol = span(corpus["digest"], b"From: Carol", b"\r\n--===============digest==")
    dave = span(corpus["digest"], b"From: Dave", b"\r\n--===============digest==")
    grace = b'("Grace" NIL "grace" "example.com")'
    return {
        "simple": b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 1 NIL NIL NIL NIL)',
        "tnef": b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "QUOTED-PRINTABLE" 31 1 NIL NIL NIL NIL)'
                b'("APPLICATION" "MS-TNEF" ("NAME" "winmail.dat") NIL NIL "BASE64" %d NIL '
                b'("ATTACHMENT" ("FILENAME" "winmail.dat")) NIL NIL) '
                b'"MIXED" ("BOUNDARY" "_002_TNEF_") NIL NIL NIL)' % len(tnef),
        "smime_signed": b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL)'
                        b'("APPLICATION" "PKCS7-SIGNATURE" ("NAME" "smime.p7s") NIL '
                        b'"S/MIME Cryptographic Signature" "BASE64" %d NIL '
                        b'("ATTACHMENT" ("FILENAME" "smime.p7s")) NIL NIL) "SIGNED" '
                        b'("PROTOCOL" "application/pkcs7-signature" "MICALG" "sha-256" '
                        b'"BOUNDARY" "----sig-boundary") NIL NIL NIL)' % len(signature),
        "forwarded": b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 22 1 NIL NIL NIL NIL)'
                     b'("MESSAGE" "RFC822" ("NAME" "plans.eml") NIL NIL "7BIT" %d '
                     b'("Sun, 6 Dec 2026 09:30:00 +0100" "plans" (%s) (%s) (%s) '
                     b'(("Erin" NIL "erin" "example.org")) '
                     b'((NIL NIL "team" NIL)(NIL NIL "heidi" "example.com")(NIL NIL "ivan" "example.com")'
                     b'(NIL NIL NIL NIL)) NIL "<older@example.com>" "<orig1@example.com>") '
                     b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL)'
                     b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 18 1 NIL NIL NIL NIL) '
                     b'"ALTERNATIVE" ("BOUNDARY" "inner-alt") NIL NIL NIL) %d '
                     b'NIL ("ATTACHMENT" ("FILENAME" "plans.eml")) NIL NIL) '
                     b'"MIXED" ("BOUNDARY" "fwd-outer") NIL NIL NIL)'
                     % (len(plans), grace, grace, grace, lines(plans)),
        "digest": b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL "Example-list Digest, Vol 12, Issue 3" '
                  b'"7BIT" 56 3 NIL NIL NIL NIL)'
                  b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d (NIL "first topic" %s %s %s NIL NIL NIL NIL '
                  b'"<d1@example.com>") ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 28 1 '
                  b'NIL NIL NIL NIL) %d NIL NIL NIL NIL)'
                  b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d (NIL "second topic" %s %s %s NIL NIL NIL NIL '
                  b'"<d2@example.com>") ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 29 1 '
                  b'NIL NIL NIL NIL) %d NIL NIL NIL NIL) '
                  b'"DIGEST" ("BOUNDARY" "===============digest==") NIL NIL NIL)'
                  b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 19 1 NIL ("INLINE" NIL) NIL NIL) '
                  b'"MIXED" ("BOUNDARY" "===============outer==") NIL NIL NIL)'
                  % (len(carol), *[b'(("Carol" NIL "carol" "example.com"))'] * 3, lines(carol),
                     len(dave), *[b'(("Dave" NIL "dave" "example.com"))'] * 3, lines(dave)),
    }


def test_imapclient_over_starttls_with_utf8_names_and_search(env: ImapEnv) -> None:
    env.deliver(ALICE, message("greetings", "Grüße aus Köln"))
    client = IMAPClient("localhost", env.port("imap"), ssl=False, timeout=10)
    try:
        assert client.has_capability("STARTTLS") and client.has_capability("LOGINDISABLED")
        client.starttls(env.tls_context())
        client.login(ALICE, PASSWORDS[ALICE])
        assert client.enable("UTF8=ACCEPT") == [b"UTF8=ACCEPT"]  # RFC 6855: names in UTF-8 now
        client.create_folder("Reçus/Été")
        assert ((b"\\HasNoChildren",), b"/", "Reçus/Été") in client.list_folders()
        client.select_folder("INBOX")
        assert client.search(["TEXT", "Köln"], charset="UTF-8") == [1]  # a literal in UTF-8
        assert client.search(["BODY", "KÖLN"], charset="UTF-8") == [1]  # any case
        assert client.search(["BODY", "Grüße aus Berlin"], charset="UTF-8") == []
        client.move([1], "Reçus/Été")
        assert client.folder_status("Reçus/Été", [b"MESSAGES"]) == {b"MESSAGES": 1}
        selected = client.select_folder("Reçus/Été", readonly=True)
        assert selected[b"EXISTS"] == 1 and selected[b"READ-ONLY"] == [b""]
        body = client.fetch([1], ["BODY.PEEK[TEXT]"])[1][b"BODY[TEXT]"]
        assert body == "Grüße aus Köln\r\n".encode()
    finally:
        client.logout()
