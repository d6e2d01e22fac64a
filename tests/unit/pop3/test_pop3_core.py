"""The POP3 core fed whole, byte by byte and split at every offset; exact replies."""

from __future__ import annotations

import base64

import pytest

from mailward.protocols.pop3.core import MAX_COMMAND_LINE, Limits
from mailward.protocols.pop3.events import AuthCancelled, PasswordLogin, Update
from support.pop3_driver import MESSAGES, TLS_FACTS, UID_VALIDITY, run, run_all_splits

GREETING = "+OK POP3 server ready"
LOGIN = b"USER alice\r\nPASS secret\r\n"
LOGGED_IN = ["+OK Send your password", "+OK Maildrop has 3 messages (121 octets)"]


def tls(script: bytes) -> list[str]:
    return run_all_splits(script, facts=TLS_FACTS).lines


def test_sizes_of_the_maildrop() -> None:
    assert sum(len(m) for m in MESSAGES) == 121


def test_capa_before_tls_hides_user_and_password_mechanisms() -> None:
    assert run_all_splits(b"CAPA\r\n").lines == [
        GREETING, "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
        "PIPELINING", "SASL SCRAM-SHA-256", "STLS", "UTF8", "IMPLEMENTATION mailward", ".",
    ]


def test_capa_with_tls() -> None:
    assert tls(b"CAPA\r\n") == [
        GREETING, "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
        "PIPELINING", "USER", "SASL PLAIN SCRAM-SHA-256", "UTF8 USER", "IMPLEMENTATION mailward", ".",
    ]


def test_capa_expire_and_login_delay_when_configured() -> None:
    import dataclasses

    facts = dataclasses.replace(TLS_FACTS, expire="NEVER", login_delay=900)
    lines = run([b"CAPA\r\n"], facts=facts).lines
    assert "EXPIRE NEVER" in lines and "LOGIN-DELAY 900" in lines


@pytest.mark.parametrize("script", [b"USER alice\r\n", b"PASS secret\r\n", b"AUTH PLAIN\r\n",
                                    b"AUTH PLAIN " + base64.b64encode(b"\0alice\0secret") + b"\r\n",
                                    b"AUTH LOGIN\r\n"])
def test_plaintext_logins_refused_before_tls(script: bytes) -> None:
    result = run_all_splits(script)
    assert result.lines == [GREETING, "-ERR [AUTH] Plaintext logins need TLS: use STLS first"]
    assert not any(isinstance(e, PasswordLogin) for e in result.events)


def test_user_then_pass_refused_before_tls_even_with_user_accepted_nowhere() -> None:
    assert run_all_splits(LOGIN).lines == [GREETING] + ["-ERR [AUTH] Plaintext logins need TLS: use STLS first"] * 2


def test_stls_discards_pipelined_commands_and_forgets_user() -> None:
    result = run([b"USER x\r\nSTLS\r\nUSER alice\r\nPASS secret\r\n", b"STAT\r\n"])
    assert result.lines == [GREETING, "-ERR [AUTH] Plaintext logins need TLS: use STLS first",
                            "+OK Begin TLS negotiation", "-ERR Command not valid in this state"]
    assert result.kinds() == ["StartTls"]


def test_stls_then_login() -> None:
    result = run([b"STLS\r\n", b"CAPA\r\n", b"STLS\r\n", LOGIN + b"STAT\r\n"])
    assert result.lines[1] == "+OK Begin TLS negotiation"
    assert "STLS" not in result.lines
    assert result.lines[-4:] == ["-ERR TLS is active already", *LOGGED_IN, "+OK 3 121"]


def test_stls_unavailable_and_in_transaction() -> None:
    assert run_all_splits(b"STLS\r\n", facts=TLS_FACTS.__class__()).lines[1] == "-ERR TLS is not available"
    assert tls(LOGIN + b"STLS\r\n")[-1] == "-ERR Command not valid in this state"


def test_login_stat_list_uidl() -> None:
    lines = tls(LOGIN + b"STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 3\r\n")
    assert lines == [GREETING, *LOGGED_IN, "+OK 3 121",
                     "+OK Scan list follows", "1 28", "2 59", "3 34", ".",
                     "+OK 2 59",
                     "+OK Unique-id listing follows", f"1 {UID_VALIDITY}.3", f"2 {UID_VALIDITY}.7",
                     f"3 {UID_VALIDITY}.9", ".",
                     f"+OK 3 {UID_VALIDITY}.9"]


def test_wrong_password_starts_over() -> None:
    lines = tls(b"USER alice\r\nPASS nope\r\nPASS secret\r\nUSER alice\r\nPASS secret\r\n")
    assert lines == [GREETING, "+OK Send your password", "-ERR [AUTH] Authentication failed",
                     "-ERR Send USER first", *LOGGED_IN]


def test_pass_keeps_spaces() -> None:
    result = run_all_splits(b"USER alice\r\nPASS two words \r\n", facts=TLS_FACTS)
    assert result.events[0] == PasswordLogin("alice", "two words ")


def test_too_many_failed_logins_close() -> None:
    result = tls(b"USER a\r\nPASS x\r\nUSER a\r\nPASS x\r\nUSER a\r\nPASS x\r\nNOOP\r\n")
    assert result[-1] == "-ERR [AUTH] Authentication failed"
    assert result.count("-ERR [AUTH] Authentication failed") == 3


def test_auth_plain_initial_response_and_challenge() -> None:
    good = base64.b64encode(b"\0alice\0secret")
    lines = tls(b"AUTH PLAIN " + good + b"\r\nSTAT\r\n")
    assert lines[1:] == ["+OK Maildrop has 3 messages (121 octets)", "+OK 3 121"]
    lines = tls(b"AUTH plain\r\n" + good + b"\r\nSTAT\r\n")
    assert lines[1:] == ["+ ", "+OK Maildrop has 3 messages (121 octets)", "+OK 3 121"]


def test_auth_cancel_and_malformed() -> None:
    result = run_all_splits(b"AUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n!!\r\nAUTH PLAIN !!\r\nNOOP\r\n", facts=TLS_FACTS,
                            limits=Limits(max_auth_failures=5))
    assert result.lines == [GREETING, "+ ", "-ERR [AUTH] Authentication cancelled", "+ ",
                            "-ERR [AUTH] Malformed authentication exchange",
                            "-ERR [AUTH] Malformed authentication exchange",
                            "-ERR Command not valid in this state"]
    assert [type(e) for e in result.events if isinstance(e, AuthCancelled)] == [AuthCancelled] * 2


def test_auth_unknown_mechanism_and_listing() -> None:
    assert tls(b"AUTH CRAM-MD5\r\nAUTH\r\n")[1:] == [
        "-ERR [AUTH] Unknown or unavailable mechanism", "+OK Mechanisms follow", "PLAIN", "SCRAM-SHA-256", "."]


def test_retr_stuffs_and_terminates() -> None:
    lines = tls(LOGIN + b"RETR 2\r\nRETR 3\r\n")
    assert lines[3:] == ["+OK 59 octets", "Subject: two", "X: y", "", "..dotted", "line 2", "...two dots",
                         "line 4", ".",
                         "+OK 34 octets", "Subject: three", "", "no final newline", "."]


def test_top() -> None:
    lines = tls(LOGIN + b"TOP 2 0\r\nTOP 2 2\r\nTOP 1 10\r\n")
    assert lines[3:] == ["+OK 59 octets", "Subject: two", "X: y", "", ".",
                         "+OK 59 octets", "Subject: two", "X: y", "", "..dotted", "line 2", ".",
                         "+OK 28 octets", "Subject: one", "", "first body", "."]


def test_dele_rset_and_quit_updates() -> None:
    result = run_all_splits(LOGIN + b"DELE 1\r\nDELE 1\r\nRETR 1\r\nSTAT\r\nLIST\r\nRSET\r\nDELE 3\r\nQUIT\r\n",
                            facts=TLS_FACTS)
    assert result.lines[3:] == ["+OK Message deleted", "-ERR Message already deleted",
                                "-ERR Message already deleted", "+OK 2 93",
                                "+OK Scan list follows", "2 59", "3 34", ".",
                                "+OK Maildrop has 3 messages (121 octets)", "+OK Message deleted", "+OK Bye"]
    assert result.events[-2:] == [Update((9,)), result.events[-1]]
    assert result.kinds()[-1] == "Close"


def test_failed_update_says_so() -> None:
    lines = run([LOGIN + b"DELE 2\r\nQUIT\r\n"], facts=TLS_FACTS, update_fails=True).lines
    assert lines[-1] == "-ERR [SYS/TEMP] Could not remove the deleted messages, none were removed"


def test_quit_before_login_touches_nothing() -> None:
    result = run_all_splits(b"QUIT\r\nNOOP\r\n")
    assert result.lines == [GREETING, "+OK Bye"]
    assert result.kinds() == ["Close"]


@pytest.mark.parametrize(("command", "reply"), [
    (b"RETR 0", "-ERR No such message"), (b"RETR 4", "-ERR No such message"),
    (b"RETR", "-ERR Syntax error in arguments"), (b"RETR x", "-ERR Syntax error in arguments"),
    (b"RETR +1", "-ERR Syntax error in arguments"), (b"TOP 1", "-ERR Syntax error in arguments"),
    (b"TOP 1 -1", "-ERR Syntax error in arguments"), (b"LIST 99999999999", "-ERR Syntax error in arguments"),
    (b"DELE \xd9\xa3", "-ERR Syntax error in arguments"), (b"USER a", "-ERR Command not valid in this state"),
    (b"XYZZY", "-ERR Unknown command"), (b"\xff", "-ERR Syntax error in arguments"),
    (b"APOP a b", "-ERR Command not valid in this state"),
])
def test_bad_commands_in_transaction(command: bytes, reply: str) -> None:
    assert tls(LOGIN + command + b"\r\nNOOP\r\n")[3:] == [reply, "+OK"]


def test_apop_is_not_offered() -> None:
    assert run_all_splits(b"APOP alice 0123456789abcdef\r\n").lines[1] == (
        "-ERR APOP is not offered: use STLS and AUTH or USER/PASS")


def test_transaction_commands_before_login() -> None:
    assert run_all_splits(b"STAT\r\nNOOP\r\n").lines[1:] == ["-ERR Command not valid in this state"] * 2


def test_utf8_and_utf8_user() -> None:
    result = run_all_splits("UTF8\r\nUSER jörg\r\nPASS pässword\r\n".encode(), facts=TLS_FACTS)
    assert result.lines[1] == "+OK UTF8 enabled"
    assert result.events == [PasswordLogin("jörg", "pässword")]


def test_line_too_long_is_refused_and_skipped() -> None:
    long = b"NOOP " + b"x" * MAX_COMMAND_LINE + b"\r\n"
    assert tls(long + b"CAPA\r\n")[1:3] == ["-ERR Line too long", "+OK Capability list follows"]
    exact = b"USER " + b"x" * (MAX_COMMAND_LINE - 7) + b"\r\n"
    assert tls(exact)[1] == "+OK Send your password"


def test_lf_alone_ends_a_line() -> None:
    assert tls(b"USER a\nPASS secret\nSTAT\n")[-1] == "+OK 3 121"


def test_too_many_errors_close() -> None:
    result = run_all_splits(b"X\r\n" * 5, limits=Limits(max_errors=3))
    assert result.lines == [GREETING, "-ERR Unknown command", "-ERR Unknown command",
                            "-ERR [SYS/PERM] Too many errors, closing connection"]
    assert result.kinds() == ["Close"]


def test_too_many_commands_close() -> None:
    result = run_all_splits(LOGIN + b"NOOP\r\n" * 4, facts=TLS_FACTS, limits=Limits(max_commands=4))
    assert result.lines[-1] == "-ERR [SYS/PERM] Too many commands, closing connection"
    assert result.lines.count("+OK") == 2


def test_empty_maildrop() -> None:
    lines = run([LOGIN + b"STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\n"], facts=TLS_FACTS, messages=()).lines
    assert lines[2:] == ["+OK Maildrop has 0 messages (0 octets)", "+OK 0 0", "+OK Scan list follows", ".",
                         "+OK Unique-id listing follows", ".", "-ERR No such message"]

