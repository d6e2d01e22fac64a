"""The IMAP server with Python's imaplib over real sockets and real TLS."""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import socket
import time
from pathlib import Path

import pytest

from support.imap import ImapEnv, message

ALICE = "alice@example.org"


def ok(result: tuple[str, list[object]]) -> list[object]:
    status, data = result
    assert status == "OK", (status, data)
    return data


# --- logging in ---------------------------------------------------------------------


def test_a_plain_connection_offers_starttls_and_refuses_passwords(env: ImapEnv) -> None:
    client = env.plain()
    try:
        caps = client.capabilities
        assert "STARTTLS" in caps and "LOGINDISABLED" in caps and "IMAP4REV2" in caps
        assert not any(c.startswith("AUTH=PLAIN") for c in caps)
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            client.login(ALICE, "alice-secret-1")
        typ, data = client._simple_command("AUTHENTICATE", "PLAIN", base64.b64encode(b"\0alice@example.org\0x").decode())
        assert typ == "NO" and b"PRIVACYREQUIRED" in data[0]
    finally:
        client.shutdown()


def test_starttls_then_login(env: ImapEnv) -> None:
    client = env.plain()
    ok(client.starttls(env.tls_context()))
    caps = ok(client.capability())[0]
    assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps and b"AUTH=PLAIN" in caps
    ok(client.login(ALICE, "alice-secret-1"))
    assert client.logout()[0] == "BYE"


def test_what_is_pipelined_after_starttls_is_discarded(env: ImapEnv) -> None:
    """RFC 9051 6.2.1 / the STARTTLS command injection class (CVE-2011-0411)."""
    sock = socket.create_connection(("127.0.0.1", env.port("imap")), timeout=10)
    stream = sock.makefile("rb")
    assert stream.readline().startswith(b"* OK")
    sock.sendall(b"a STARTTLS\r\nb LOGOUT\r\n")
    assert stream.readline() == b"a OK Begin TLS negotiation now\r\n"
    tls = env.tls_context().wrap_socket(sock, server_hostname="localhost")
    tls.sendall(b"c NOOP\r\n")
    reply = tls.recv(4096)
    assert reply == b"c OK NOOP completed\r\n"  # nothing answered for "b LOGOUT"
    tls.close()


def test_wrong_passwords_fail_and_the_third_closes(env: ImapEnv) -> None:
    client = env.imaps()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(ALICE, "wrong")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(ALICE, "wrong")
    with pytest.raises((imaplib.IMAP4.error, imaplib.IMAP4.abort)):
        client.login(ALICE, "wrong")
    client.shutdown()


def test_authenticate_plain_with_an_initial_response(env: ImapEnv) -> None:
    client = env.imaps()
    ok(client.authenticate("PLAIN", lambda _: b"\0alice@example.org\0alice-secret-1"))
    ok(client.select("INBOX"))
    client.logout()


def test_nonsense_gets_bad_and_too_much_of_it_bye(env: ImapEnv) -> None:
    sock = socket.create_connection(("127.0.0.1", env.port("imap")), timeout=10)
    stream = sock.makefile("rb")
    stream.readline()
    sock.sendall(b"a FROB\r\n")
    assert stream.readline().startswith(b"a BAD ")
    sock.sendall(b"b SELECT INBOX\r\n")  # not logged in
    assert stream.readline().startswith(b"b BAD ")
    sock.sendall(b"x FROB\r\n" * 30)
    lines = stream.read().splitlines()
    assert lines[-1].startswith(b"* BYE"), lines[-3:]
    sock.close()


# --- mailboxes and messages -----------------------------------------------------------


def test_list_create_rename_delete(env: ImapEnv) -> None:
    client = env.login()
    try:
        names = [line.decode() for line in ok(client.list())]
        assert any(n.endswith('"/" INBOX') for n in names)
        assert any("\\Sent" in n and n.endswith("Sent") for n in names)
        ok(client.create("Work/Projects"))
        listed = " ".join(line.decode() for line in ok(client.list('""', "Work*")))
        assert "Work/Projects" in listed and "\\HasChildren" in listed
        ok(client.rename("Work", "Job"))
        listed = " ".join(line.decode() for line in ok(client.list('""', "*")))
        assert "Job/Projects" in listed and "Work" not in listed
        typ, data = client.delete("Job")
        assert typ == "NO" and b"HASCHILDREN" in data[0]
        ok(client.delete("Job/Projects"))
        ok(client.delete("Job"))
        typ, data = client.select("Nope")
        assert typ == "NO" and b"NONEXISTENT" in data[0]
        status = ok(client.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)"))[0]
        assert re.match(rb'"?INBOX"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 SIZE 0\)', status), status
    finally:
        client.logout()


def test_delivered_mail_is_fetched_byte_for_byte(env: ImapEnv) -> None:
    env.deliver(ALICE, message("first", "one"))
    env.deliver(ALICE, message("second", "two"))
    client = env.login()
    try:
        assert ok(client.select("INBOX")) == [b"2"]
        whole = ok(client.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])"))
        bodies = [part[1] for part in whole if isinstance(part, tuple)]
        assert [b.split(b"\r\n\r\n", 1)[1] for b in bodies] == [b"one\r\n", b"two\r\n"]
        stored = env.run(_stored(env))
        assert bodies == stored
        sizes = [int(m.group(1)) for part in whole if isinstance(part, tuple)
                 if (m := re.search(rb"RFC822.SIZE (\d+)", part[0]))]
        assert sizes == [len(b) for b in stored]
        # not seen yet (PEEK); a non-PEEK fetch sets \Seen and says so
        flags = ok(client.fetch("1", "(FLAGS)"))[0]
        assert b"\\Seen" not in flags
        data = ok(client.fetch("1", "(BODY[TEXT])"))
        assert data[0][1] == b"one\r\n" and b"FLAGS (\\Seen)" in data[1]  # after the literal
        header = ok(client.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"))[0][1]
        assert header == b"From: someone@example.net\r\nSubject: second\r\n\r\n"
        part = ok(client.fetch("2", "(BODY.PEEK[]<0.4>)"))[0]
        assert part[1] == b"Retu" and b"BODY[]<0>" in part[0]
        structure = ok(client.fetch("1", "(BODYSTRUCTURE ENVELOPE)"))[0]
        assert b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 5 1' in structure
        assert b'"first"' in structure
        date = ok(client.fetch("1", "(INTERNALDATE)"))[0]
        assert imaplib.Internaldate2tuple(date) is not None
    finally:
        client.logout()


async def _stored(env: ImapEnv) -> list[bytes]:
    account = await env.accounts.user(ALICE)
    box = await env.store.get_mailbox(account.id, "INBOX")
    assert box is not None
    return [b"".join([c async for c in env.store.read(m.blob)]) for m in await env.store.messages(box.id)]


def test_store_search_copy_move_expunge_append(env: ImapEnv) -> None:
    for n in range(1, 6):
        env.deliver(ALICE, message(f"note {n}", f"body {n} {'zebra' if n % 2 else 'lion'}"))
    client = env.login()
    try:
        ok(client.select("INBOX"))
        assert ok(client.search(None, "BODY", "zebra")) == [b"1 3 5"]
        assert ok(client.uid("SEARCH", "SUBJECT", '"note 4"')) == [b"4"]
        assert ok(client.search(None, "NOT", "BODY", "zebra", "SINCE", "1-Jan-2020")) == [b"2 4"]
        stored = ok(client.store("1:2", "+FLAGS", "(\\Flagged $Work)"))
        assert len(stored) == 2 and b"\\Flagged" in stored[0] and b"$Work" in stored[0]
        assert ok(client.search(None, "FLAGGED")) == [b"1 2"]
        assert ok(client.search(None, "KEYWORD", "$Work")) == [b"1 2"]
        typ, data = client.copy("3", "Archive")
        assert typ == "OK" and b"COPYUID" in data[0]
        typ, data = client._simple_command("MOVE", "4", "Trash")
        assert typ == "OK"
        assert client.untagged_responses.pop("EXPUNGE") == [b"4"]  # RFC 6851 3.3
        ok(client.store("1", "+FLAGS", "(\\Deleted)"))
        assert ok(client.expunge()) == [b"1"]
        assert ok(client.search(None, "ALL")) == [b"1 2 3"]
        typ, data = client.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(time.time()),
                                  message("draft", "not sent"))
        assert typ == "OK" and b"APPENDUID" in data[0]
        ok(client.select("Drafts"))
        assert ok(client.search(None, "DRAFT")) == [b"1"]
        ok(client.select("Trash", readonly=True))
        typ, data = client.store("1", "+FLAGS", "(\\Seen)")
        assert typ == "NO" and b"READ-ONLY" in data[0]
    finally:
        client.logout()


def test_an_expunge_by_another_session_waits_for_a_command_that_allows_it(env: ImapEnv) -> None:
    for n in range(3):
        env.deliver(ALICE, message(f"m{n}"))
    one, two = env.login(), env.login()
    try:
        ok(one.select("INBOX"))
        ok(two.select("INBOX"))
        ok(two.store("2", "+FLAGS", "(\\Deleted)"))
        ok(two.expunge())
        # during FETCH by number: no EXPUNGE; message 2 is still number 2 for this client
        data = ok(one.fetch("1:3", "(UID)"))
        assert "EXPUNGE" not in one.untagged_responses
        assert [re.search(rb"UID (\d+)", d).group(1) for d in data if d] == [b"1", b"3"]  # type: ignore[union-attr]
        ok(one.noop())
        assert one.untagged_responses.pop("EXPUNGE") == [b"2"]
        assert ok(one.fetch("2", "(UID)"))[0] == b"2 (UID 3)"
    finally:
        one.logout()
        two.logout()


def test_idle_hears_of_new_mail_within_a_second(env: ImapEnv) -> None:
    client = env.login()
    try:
        ok(client.select("INBOX"))
        sock = client.socket()
        tag = client._new_tag().decode()
        sock.sendall(f"{tag} IDLE\r\n".encode())
        assert client.readline().startswith(b"+ ")
        started = time.monotonic()
        env.deliver(ALICE, message("while idling"))
        line = client.readline()
        assert line == b"* 1 EXISTS\r\n", line
        assert time.monotonic() - started < 1.5
        sock.sendall(b"DONE\r\n")
        while not (line := client.readline()).startswith(tag.encode()):
            pass
        assert b"OK" in line
    finally:
        client.logout()


def test_namespace_id_enable_and_quota(env: ImapEnv) -> None:
    client = env.login()
    try:
        typ, _ = client._simple_command("NAMESPACE")
        assert typ == "OK"
        assert client.untagged_responses["NAMESPACE"] == [b'(("" "/")) NIL NIL']
        typ, _ = client.xatom("ID", "NIL")
        assert typ == "OK" and b'"name" "mailward"' in client.untagged_responses["ID"][0]
        typ, _ = client._simple_command("ENABLE", "IMAP4rev2")
        assert typ == "OK" and client.untagged_responses["ENABLED"] == [b"IMAP4rev2"]
        typ, _ = client.getquotaroot("INBOX")
        assert typ == "OK"
    finally:
        client.logout()


def test_message_numbers_past_the_end(env: ImapEnv) -> None:
    client = env.login()
    try:
        ok(client.select("INBOX"))
        assert ok(client.fetch("1:*", "(UID)")) == [None]  # an empty mailbox: nothing, not an error
        for n in range(3):
            env.deliver(ALICE, message(f"n{n}"))
        ok(client.noop())
        assert ok(client.fetch("5:*", "(UID)")) == [b"3 (UID 3)"]  # RFC 9051 9: 5:* is 3:5 here
        with pytest.raises(imaplib.IMAP4.error, match="No such message"):
            client.fetch("5", "(UID)")
        assert ok(client.uid("FETCH", "5:9", "(FLAGS)")) == [None]  # UIDs that do not exist: nothing
    finally:
        client.logout()


def test_sessions_per_user_are_limited(tmp_path: Path) -> None:
    limited = ImapEnv(tmp_path, extra="[imap]\nmax_connections_per_user = 2\n")
    limited.start()
    try:
        first, second = limited.login(), limited.login()
        third = limited.imaps()
        with pytest.raises(imaplib.IMAP4.error, match=r"\[LIMIT\]"):
            third.login(ALICE, "alice-secret-1")
        ok(third.login("bob@example.org", "bob-secret-2"))  # another user is not counted with alice
        first.logout()
        deadline = time.monotonic() + 5
        while True:  # the count drops as the first session ends
            fourth = limited.imaps()
            try:
                ok(fourth.login(ALICE, "alice-secret-1"))
                break
            except imaplib.IMAP4.error:
                fourth.shutdown()
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for client in (second, third, fourth):
            client.logout()
    finally:
        limited.stop()


def _raw(env: ImapEnv) -> tuple[socket.socket, object]:
    sock = socket.create_connection(("127.0.0.1", env.port("imap")), timeout=10)
    stream = sock.makefile("rb")
    assert stream.readline().startswith(b"* OK")
    return sock, stream


def test_commands_that_get_nowhere_end_the_session(env: ImapEnv) -> None:
    sock, stream = _raw(env)
    sock.sendall(b"".join(b"c%d CAPABILITY\r\n" % i for i in range(40)))  # never logging in
    lines = stream.read().splitlines()  # type: ignore[attr-defined]
    assert lines[-1] == b"* BYE Too many commands without logging in"
    assert sum(line.startswith(b"* CAPABILITY") for line in lines) == 30
    sock.close()
    client = env.login()
    sock = client.socket()
    sock.sendall(b"".join(b"s%d SELECT Nowhere%d\r\n" % (i, i) for i in range(60)))
    replies = []
    while not (line := client.readline()).startswith(b"* BYE"):
        replies.append(line)
    assert line == b"* BYE Too many failed commands\r\n"
    assert sum(b"NONEXISTENT" in r for r in replies) == 50
    client.shutdown()


def test_a_server_stopping_says_bye_to_an_idle_session(tmp_path: Path) -> None:
    own = ImapEnv(tmp_path)
    own.start()
    try:
        client = own.login()
        ok(client.select("INBOX"))
        tag = client._new_tag()
        client.send(tag + b" IDLE\r\n")
        assert client.readline().startswith(b"+ ")
        own.run(own.server.stop(grace=1))
        own.stopped = True
        assert client.readline() == b"* BYE [UNAVAILABLE] Server shutting down\r\n"
        assert not [r for r in own.records if r.levelno >= logging.ERROR]  # no traceback
        client.shutdown()
    finally:
        own.stop()


def test_a_fetch_modifier_not_offered_is_refused_not_ignored(env: ImapEnv) -> None:
    """RFC 4466 2.4: CHANGEDSINCE belongs to CONDSTORE, which is not offered; answering
    as if it had not been sent would hand the client flags it did not ask for."""
    env.deliver(ALICE, message("one"))
    client = env.login()
    try:
        ok(client.select("INBOX"))
        with pytest.raises(imaplib.IMAP4.error, match="CHANGEDSINCE"):
            client._simple_command("FETCH", "1", "(FLAGS)", "(CHANGEDSINCE 1)")
        assert ok(client.fetch("1", "(UID)")) == [b"1 (UID 1)"]  # the session goes on
    finally:
        client.logout()


def test_move_into_the_selected_mailbox_gives_new_uids(env: ImapEnv) -> None:
    env.deliver(ALICE, message("again"))
    client = env.login()
    try:
        ok(client.select("INBOX"))
        typ, _ = client.uid("MOVE", "1", "INBOX")
        assert typ == "OK"
        assert client.untagged_responses.pop("EXPUNGE") == [b"1"]
        assert client.untagged_responses.pop("EXISTS")[-1] == b"1"
        assert ok(client.fetch("1", "(UID)")) == [b"1 (UID 2)"]
        (stored,) = env.run(_stored(env))  # one message, its bytes as they were
        assert b"Subject: again\r\n" in stored and stored.endswith(b"\r\n\r\nHello.\r\n")
    finally:
        client.logout()


def test_a_big_append_is_spooled_not_held_in_memory(env: ImapEnv) -> None:
    """A 20 MiB APPEND streams from the socket into the store: the server never holds it."""
    import tracemalloc

    line = b"x" * 1022 + b"\r\n"
    head = b"Subject: big\r\n\r\n"
    count = 20 * 1024
    size = len(head) + count * len(line)
    client = env.login()
    sock = client.socket()
    try:
        tracemalloc.start()
        tracemalloc.reset_peak()
        sock.sendall(b"a1 APPEND INBOX {%d}\r\n" % size)
        assert client.readline().startswith(b"+ ")
        sock.sendall(head)
        for _ in range(count // 1024):
            sock.sendall(line * 1024)  # 1 MiB at a time
        sock.sendall(b"\r\n")
        reply = client.readline()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert reply.startswith(b"a1 OK [APPENDUID "), reply
        assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while appending {size}"
        ok(client.select("INBOX"))
        assert ok(client.fetch("1", "(RFC822.SIZE)")) == [b"1 (RFC822.SIZE %d)" % size]
        data = ok(client.fetch("1", f"(BODY.PEEK[]<0.16> BODY.PEEK[]<{size - 1024}.1024>)"))
        assert data[0][1] == head and data[1][1] == line
    finally:
        client.logout()


def test_a_new_keyword_is_announced_with_flags_and_permanentflags(env: ImapEnv) -> None:
    env.deliver(ALICE, message("kw"))
    one, two = env.login(), env.login()
    try:
        ok(one.select("INBOX"))
        ok(two.select("INBOX"))
        assert one.untagged_responses.pop("FLAGS") == [b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"]
        ok(two.store("1", "+FLAGS", "($Project)"))
        assert two.untagged_responses.pop("FLAGS")[-1] == b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Project)"
        ok(one.noop())  # RFC 9051 7.3.5: the other session hears of the new keyword too
        assert one.untagged_responses.pop("FLAGS")[-1] == b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Project)"
        ok(one.noop())
        assert "FLAGS" not in one.untagged_responses  # said once
    finally:
        one.logout()
        two.logout()
