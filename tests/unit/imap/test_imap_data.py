"""Untagged data responses, exact bytes (the RFC 9051 / 3501 / 4731 / 5258 / 9208 examples' forms)."""

from __future__ import annotations

from mailward.protocols.imap import data
from mailward.protocols.imap.response import Encoder
from mailward.protocols.imap.seqset import SequenceSet

ENC, UTF8 = Encoder(), Encoder(utf8=True)


def test_mailbox_size_and_flags() -> None:
    assert bytes(data.exists(ENC, 23)) == b"* 23 EXISTS\r\n"
    assert bytes(data.recent(ENC, 5)) == b"* 5 RECENT\r\n"
    assert bytes(data.expunge(ENC, 44)) == b"* 44 EXPUNGE\r\n"
    assert bytes(data.flags(ENC, ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"])) == (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    )
    assert bytes(data.vanished(ENC, SequenceSet.parse("41,43:116"), earlier=True)) == b"* VANISHED (EARLIER) 41,43:116\r\n"
    assert bytes(data.vanished(ENC, SequenceSet.parse("405"))) == b"* VANISHED 405\r\n"


def test_capability_and_enabled() -> None:
    assert bytes(data.capability(ENC, ["IMAP4rev2", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"])) == (
        b"* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
    )
    assert bytes(data.enabled(ENC, [])) == b"* ENABLED\r\n"
    assert bytes(data.enabled(ENC, ["CONDSTORE"])) == b"* ENABLED CONDSTORE\r\n"


def test_list_and_lsub() -> None:
    assert bytes(data.list_item(ENC, ["\\Noselect"], "/", "~/Mail/foo")) == b'* LIST (\\Noselect) "/" ~/Mail/foo\r\n'
    assert bytes(data.list_item(ENC, [], None, "")) == b'* LIST () NIL ""\r\n'
    assert bytes(data.list_item(ENC, ["\\HasNoChildren", "\\Sent"], "/", "Gesendete Objekte")) == (
        b'* LIST (\\HasNoChildren \\Sent) "/" "Gesendete Objekte"\r\n'
    )
    assert bytes(data.list_item(ENC, [], "/", "Entwürfe")) == b'* LIST () "/" Entw&APw-rfe\r\n'
    assert bytes(data.list_item(UTF8, [], "/", "Entwürfe")) == '* LIST () "/" "Entwürfe"\r\n'.encode()
    # RFC 5258 5 example 6
    assert bytes(data.list_item(ENC, [], "/", "Foo", extended=[("CHILDINFO", ("SUBSCRIBED",))])) == (
        b'* LIST () "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n'
    )
    assert bytes(data.list_item(ENC, [], "/", "x", command="LSUB")) == b'* LSUB () "/" x\r\n'


def test_status_search_esearch() -> None:
    assert bytes(data.status(ENC, "blurdybloop", [("MESSAGES", 231), ("UIDNEXT", 44292)])) == (
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    )
    assert bytes(data.search(ENC, [2, 84, 882])) == b"* SEARCH 2 84 882\r\n"
    assert bytes(data.search(ENC, [])) == b"* SEARCH\r\n"
    assert bytes(data.search(ENC, [2, 5], modseq=917162500)) == b"* SEARCH 2 5 (MODSEQ 917162500)\r\n"
    assert bytes(data.esearch(ENC, "A282", False, minimum=2, count=3)) == b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n'
    assert bytes(data.esearch(ENC, "A283", True, all_=SequenceSet.parse("2,10:11"))) == (
        b'* ESEARCH (TAG "A283") UID ALL 2,10:11\r\n'
    )
    assert bytes(data.esearch(ENC, "a", False, all_=SequenceSet(), count=0)) == b'* ESEARCH (TAG "a") COUNT 0\r\n'
    assert bytes(data.esearch(ENC, None, False)) == b"* ESEARCH\r\n"


def test_namespace_id_quota() -> None:
    assert bytes(data.namespace(ENC, [("", "/")], None, None)) == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    assert bytes(data.namespace(ENC, [("", "/")], [("Other Users/", "/")], [("Shared/", "/")])) == (
        b'* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared/" "/"))\r\n'
    )
    assert bytes(data.id_response(ENC, None)) == b"* ID NIL\r\n"
    assert bytes(data.id_response(ENC, [("name", "mailward"), ("support-url", None)])) == (
        b'* ID ("name" "mailward" "support-url" NIL)\r\n'
    )
    assert bytes(data.quota(ENC, "", [("STORAGE", 10, 512)])) == b'* QUOTA "" (STORAGE 10 512)\r\n'
    assert bytes(data.quotaroot(ENC, "INBOX", [""])) == b'* QUOTAROOT INBOX ""\r\n'
    assert bytes(data.quotaroot(ENC, "comp.mail.mime", [])) == b"* QUOTAROOT comp.mail.mime\r\n"
