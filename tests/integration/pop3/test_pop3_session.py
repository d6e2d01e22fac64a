"""POP3 over real sockets and real TLS with Python's poplib (STLS on 110's listener, implicit
TLS on 995's), against mail delivered by SMTP: what RETR gives is what SMTP stored."""

from __future__ import annotations

import base64
import poplib
import socket
import ssl

import pytest
from scramp import ScramClient

from mailward.store.interface import INBOX
from mailward.store.uidset import UidSet

from .conftest import PASSWORDS, Pop3Env, make_message

ALICE = "alice@example.org"
BOB = "bob@example.org"


def login(client: poplib.POP3, user: str = ALICE) -> None:
    client.user(user)
    client.pass_(PASSWORDS[user])


def retrieved(client: poplib.POP3, number: int) -> bytes:
    """The message as a client holds it: poplib unstuffs lines and drops their CRLF."""
    _, lines, _ = client.retr(number)
    return b"".join(line + b"\r\n" for line in lines)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("how", ["stls", "implicit"])
def test_download_is_byte_identical_to_what_smtp_stored(env: Pop3Env, how: str) -> None:
    env.deliver(ALICE, [make_message(i, size) for i, size in enumerate((300, 1024, 100 * 1024, 300 * 1024))])
    stored = env.inbox(ALICE)
    assert len(stored) == 4
    with env.pop3_stls() if how == "stls" else env.pop3s() as client:
        login(client)
        assert client.stat() == (4, sum(len(m) for m in stored))
        _, listing, _ = client.list()
        assert listing == [f"{i + 1} {len(m)}".encode() for i, m in enumerate(stored)]
        for i, message in enumerate(stored):
            assert retrieved(client, i + 1) == message
        _, uidl, _ = client.uidl()
        validity = env.uid_validity(ALICE)
        assert uidl == [f"{i + 1} {validity}.{i + 1}".encode() for i in range(4)]
        _, top, _ = client.top(2, 1)
        header_end = stored[1].index(b"\r\n\r\n")
        assert b"\r\n".join(top) == stored[1][:header_end] + b"\r\n\r\nline 1"
        client.quit()
    assert env.inbox(ALICE) == stored  # keep mode: nothing deleted


def test_capa_before_and_after_stls(env: Pop3Env) -> None:
    with env.pop3() as client:
        before = [c for c in client.capa()]
        assert "STLS" in before and "USER" not in before and "SASL" not in before
        assert {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "UTF8", "IMPLEMENTATION"} <= set(before)
        client.stls(context=env.tls_context())
        after = client.capa()
        assert "STLS" not in after and after["USER"] == [] and after["SASL"] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
        assert after["UTF8"] == ["USER"]


@pytest.mark.parametrize("command", ["USER alice@example.org", "PASS alice-secret-1",
                                     "AUTH PLAIN " + b64(b"\0alice@example.org\0alice-secret-1"),
                                     "AUTH PLAIN", "AUTH LOGIN", "AUTH SCRAM-SHA-256"])
def test_plaintext_logins_refused_before_stls(env: Pop3Env, command: str) -> None:
    with env.pop3() as client:
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Plaintext logins need TLS: use STLS first"):
            client._shortcmd(command)
        # and the connection goes on: STLS, then the same login works
        client.stls(context=env.tls_context())
        login(client)
        assert client.stat() == (0, 0)


def test_user_pass_refused_on_a_listener_without_tls(env: Pop3Env) -> None:
    with env.pop3("pop3-plain") as client:
        capa = client.capa()
        assert "STLS" not in capa and "USER" not in capa and "SASL" not in capa
        for command in ("USER alice@example.org", "PASS x"):
            with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Password logins are not offered"):
                client._shortcmd(command)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Unknown or unavailable mechanism"):
            client._shortcmd("AUTH PLAIN " + b64(b"\0alice@example.org\0alice-secret-1"))
        with pytest.raises(poplib.error_proto, match="-ERR TLS is not available"):
            client._shortcmd("STLS")


def test_plaintext_allowed_where_configured(env: Pop3Env) -> None:
    with env.pop3("pop3-allow") as client:
        assert "USER" in client.capa()
        login(client)
        assert client.stat() == (0, 0)


def test_commands_pipelined_after_stls_are_discarded(env: Pop3Env) -> None:
    with socket.create_connection(("127.0.0.1", env.port("pop3")), timeout=10) as sock:
        file = sock.makefile("rb")
        assert file.readline().startswith(b"+OK")
        sock.sendall(b"STLS\r\nUSER alice@example.org\r\nPASS alice-secret-1\r\n")
        assert file.readline() == b"+OK Begin TLS negotiation\r\n"
        file.close()
        with env.tls_context().wrap_socket(sock, server_hostname="localhost") as tls:
            tls_file = tls.makefile("rb")
            tls.sendall(b"STAT\r\n")  # had USER/PASS been kept, this would be +OK 0 0
            assert tls_file.readline() == b"-ERR Command not valid in this state\r\n"
            tls_file.close()


def test_auth_plain_and_scram(env: Pop3Env) -> None:
    env.deliver(ALICE, [make_message(1)])
    with env.pop3s() as client:
        resp = client._shortcmd("AUTH PLAIN " + b64(b"\0alice@example.org\0alice-secret-1"))
        assert resp == b"+OK Maildrop has 1 messages (%d octets)" % len(env.inbox(ALICE)[0])
    with env.pop3s() as client:
        scram = ScramClient(["SCRAM-SHA-256"], ALICE, PASSWORDS[ALICE])
        challenge = client._shortcmd("AUTH SCRAM-SHA-256 " + b64(scram.get_client_first().encode()))
        assert challenge.startswith(b"+ ")
        scram.set_server_first(base64.b64decode(challenge[2:]).decode())
        final = client._shortcmd(b64(scram.get_client_final().encode()))
        scram.set_server_final(base64.b64decode(final[2:]).decode())  # checks the server's signature
        assert client._shortcmd("").startswith(b"+OK Maildrop has 1 messages")
        assert client.stat()[0] == 1


def test_wrong_password_then_closed_after_too_many(env: Pop3Env) -> None:
    with env.pop3s() as client:
        client.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Authentication failed"):
            client.pass_("wrong")
        login(client)
    with env.pop3("pop3-allow") as client:  # max_auth_failures = 2 there
        for _ in range(2):
            client.user(ALICE)
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
                client.pass_("wrong")
        assert client.file.readline() == b""  # closed
    env.wait_for_log(r"login .*pop3.*alice@example.org.*(fail|bad)")


def test_dele_applies_at_quit_only(env: Pop3Env) -> None:
    env.deliver(ALICE, [make_message(i) for i in range(4)])
    stored = env.inbox(ALICE)
    with env.pop3s() as client:  # deleted, then the connection drops: nothing goes
        login(client)
        client.dele(1)
        client.dele(2)
        assert client.stat() == (2, len(stored[2]) + len(stored[3]))
        client.sock.shutdown(socket.SHUT_RDWR)
    assert_eventually(lambda: env.inbox(ALICE) == stored)
    with env.pop3s() as client:  # RSET unmarks
        login(client)  # the lock was released when the dropped connection ended
        client.dele(1)
        client.rset()
        client.dele(3)
        with pytest.raises(poplib.error_proto, match="-ERR Message already deleted"):
            client.retr(3)
        assert client.quit() == b"+OK Bye"
    assert env.inbox(ALICE) == [stored[0], stored[1], stored[3]]
    with env.pop3s() as client:  # numbers start from 1 again, UIDL keeps naming the same messages
        login(client)
        validity = env.uid_validity(ALICE)
        assert client.uidl()[1] == [f"1 {validity}.1".encode(), f"2 {validity}.2".encode(),
                                    f"3 {validity}.4".encode()]
        assert retrieved(client, 3) == stored[3]
        assert client.quit() == b"+OK Bye (nothing deleted)"


def test_one_session_per_maildrop(env: Pop3Env) -> None:
    with env.pop3s() as first, env.pop3s() as second:
        login(first)
        second.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\] Maildrop is in use by another session"):
            second.pass_(PASSWORDS[ALICE])
        login(second, BOB)  # other maildrops are free
        first.quit()
        with env.pop3s() as third:
            login(third, ALICE)


def test_session_keeps_its_view_while_imap_changes_the_mailbox(env: Pop3Env) -> None:
    env.deliver(ALICE, [make_message(i) for i in range(3)])
    stored = env.inbox(ALICE)
    with env.pop3s() as client:
        login(client)
        env.deliver(ALICE, [make_message(9)])  # new mail: not in this session
        env.run(expunge(env, ALICE, 2))  # an IMAP client expunges message 2
        assert client.stat() == (3, sum(len(m) for m in stored))
        with pytest.raises(poplib.error_proto, match="-ERR Message was removed by another session"):
            client.retr(2)
        assert retrieved(client, 3) == stored[2]
        client.dele(1)
        client.dele(2)  # already gone: the expunge at QUIT takes what is left
        assert client.quit() == b"+OK Bye"
    left = env.inbox(ALICE)
    assert left[0] == stored[2] and len(left) == 2


async def expunge(env: Pop3Env, address: str, uid: int) -> None:
    account = await env.accounts.user(address)
    box = await env.store.get_mailbox(account.id, INBOX)
    assert box is not None
    await env.store.expunge(box.id, UidSet.of([uid]), deleted_only=False)


def test_utf8_user_name(env: Pop3Env) -> None:
    with env.pop3s() as client:
        assert client.utf8() == b"+OK UTF8 enabled"
        login(client, "δοκιμή@example.org")
        assert client.stat() == (0, 0)


def test_bad_input_gets_errors_not_tracebacks(env: Pop3Env) -> None:
    with env.pop3s() as client:
        for command, reply in (("XYZZY", "-ERR Unknown command"), ("STAT", "-ERR Command not valid in this state"),
                               ("APOP a b", "-ERR APOP is not offered")):
            with pytest.raises(poplib.error_proto, match=reply):
                client._shortcmd(command)
        client._putline(b"NOOP " + b"x" * 400)
        assert client._getline()[0] == b"-ERR Line too long"
        login(client)
        for command in ("RETR 0", "RETR x", "TOP 1", "DELE 99"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                client._shortcmd(command)
        assert client.noop() == b"+OK"
    assert "Traceback" not in env.records.text()


def test_tls_handshake_is_real(env: Pop3Env) -> None:
    with env.pop3s() as client:
        sock = client.sock
        assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")


def assert_eventually(check: object, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_store_failures_are_temporary_errors_without_their_text(env: Pop3Env) -> None:
    env.deliver(ALICE, [make_message(1), make_message(2)])
    with env.pop3s() as client:
        login(client)
        client.dele(2)
        env.run(env.store.close())  # every store call fails from now on
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[SYS/TEMP\] Temporary failure, try again later'$"):
            client.retr(1)
        assert client.noop() == b"+OK"  # the session goes on
        with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/TEMP\] Could not remove the deleted messages"):
            client.quit()
    with env.pop3s() as client:
        client.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[SYS/TEMP\] Temporary failure, try again later'$"):
            client.pass_(PASSWORDS[ALICE])
    log = env.records.text()
    assert "POP3: reading message 1 failed" in log and "POP3: removing 1 deleted message(s) failed" in log


def test_the_lock_is_renewed_while_the_session_lives(env: Pop3Env) -> None:
    """A 10 s lease, renewed every third of it: 15 s on, a session that sent nothing
    since its login still holds it, and QUIT still deletes."""
    import time

    env.deliver(ALICE, [make_message(1)])

    async def mailbox_id() -> int:
        account = await env.accounts.user(ALICE)
        box = await env.store.get_mailbox(account.id, INBOX)
        assert box is not None
        return box.id

    box = env.run(mailbox_id())
    with env.pop3s("pop3-short-lease") as client:
        login(client)
        client.dele(1)
        started = time.monotonic()
        while time.monotonic() - started < 15:  # past the first lease's end, polled
            outcome = env.run(env.store.acquire_lease(box, "another-node", 10))
            assert outcome.name == "HELD", f"lost after {time.monotonic() - started:.1f} s"
            time.sleep(0.5)
        assert client.quit() == b"+OK Bye"
    assert env.inbox(ALICE) == []
    assert env.run(env.store.acquire_lease(box, "another-node", 10)).name == "ACQUIRED"  # released at QUIT


def test_a_lost_lock_ends_the_session_and_deletes_nothing(env: Pop3Env) -> None:
    """Another node took the maildrop (the session's lease was given away behind its back,
    as when its own expired while it was stalled): the next renewal finds it gone, the
    connection closes, and the session's deletions are not applied."""
    import sqlite3
    import time

    env.deliver(ALICE, [make_message(1)])
    stored = env.inbox(ALICE)

    async def mailbox_id() -> int:
        account = await env.accounts.user(ALICE)
        box = await env.store.get_mailbox(account.id, INBOX)
        assert box is not None
        return box.id

    box = env.run(mailbox_id())
    with env.pop3s("pop3-short-lease") as client:
        login(client)
        client.dele(1)
        with sqlite3.connect(f"file:{env.tmp / 'store' / 'store.sqlite3'}?mode=ro", uri=True) as db:
            (holder,) = db.execute("SELECT holder FROM mailbox_leases WHERE mailbox_id = ?", (box,)).fetchone()
        assert env.run(env.store.release_lease(box, holder))
        assert env.run(env.store.acquire_lease(box, "another-node", 60)).name == "ACQUIRED"
        env.wait_for_log(r"POP3: the maildrop lock was lost; closing the connection")
        deadline = time.monotonic() + 10
        with pytest.raises((poplib.error_proto, OSError)):
            while time.monotonic() < deadline:  # the close reaches the client
                client.noop()
                time.sleep(0.05)
    assert env.inbox(ALICE) == stored
